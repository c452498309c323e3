"""Images in ROS bags: no ROS install needed.

The reader of one image topic the camera source uses (open_reader, image_connections,
decode_message, rosbags); images go through core.image_codec like every other image
(bag_images writes them back). What `facekp bag` needs to copy whole bags of any storage
(bag_rosbag2, bag_ros1) is here too: a Connection, a Codec with the type store of the bag's
distro, a Tally that counts and transforms each message.
"""
import collections
import dataclasses
import pathlib

from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from facekp_ros.bag_distros import DEFAULT_DISTRO, DISTROS
from facekp_ros.core.image_codec import decode

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'
IMAGE_TYPES = (IMAGE, COMPRESSED)


def open_reader(path) -> AnyReader:
    """An open AnyReader on the bag at path; ValueError saying what is wrong."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f'bag {path} does not exist')
    try:
        reader = AnyReader([path])
        reader.open()
    except Exception as error:  # noqa: BLE001 - rosbags raises many types for a bad bag
        raise ValueError(f'cannot read bag {path}: {error} (is it a complete rosbag2 '
                         'folder or .mcap/.db3 file?)') from error
    return reader


def image_connections(reader, topic: str = '') -> list:
    """The bag's connections of one image topic: topic, or the first image topic found."""
    images = [c for c in reader.connections if c.msgtype in IMAGE_TYPES]
    if topic:
        images = [c for c in images if c.topic == topic]
    if not images:
        topics = ', '.join(sorted({f'{c.topic} ({c.msgtype})' for c in reader.connections}))
        wanted = f'topic {topic!r}' if topic else 'Image or CompressedImage topic'
        raise ValueError(f'bag has no {wanted}; its topics: {topics or "none"}')
    return [c for c in images if c.topic == images[0].topic]


class BagReadError(ValueError):
    """A bag file that cannot be read (not a bag, truncated, corrupt)."""


class LostMessagesError(ValueError):
    """A copy that holds another number of messages of a topic than its input."""


@dataclasses.dataclass(frozen=True)
class Connection:
    """A topic's channel in a bag file (a bag may hold several per topic)."""
    id: int
    topic: str
    msgtype: str


def typestore_for(distro: str, definitions: dict, ros1: bool = False):
    """The type store of distro (ROS 1: Noetic's) with the definitions a bag carries
    ({type: (encoding, text)}) added where they parse; a type neither knows stays unknown
    (its messages are copied as bytes, never read)."""
    if ros1:
        store = get_typestore(Stores.ROS1_NOETIC)
    else:
        name = distro if distro in DISTROS else DEFAULT_DISTRO
        store = get_typestore(Stores.LATEST if name == 'rolling'
                              else Stores[f'ROS2_{name.upper()}'])
    for msgtype, (encoding, text) in definitions.items():
        if msgtype in store.types or encoding not in ('ros2msg', 'ros1msg', ''):
            continue
        try:
            types = get_types_from_msg(text, msgtype)
            store.register({k: v for k, v in types.items() if k not in store.types})
        except Exception:  # noqa: BLE001, S112 - a definition rosbags cannot parse is
            continue       # only needed to read that type, which is then copied as bytes
    return store


class Codec:
    """Deserializes and serializes the messages of one bag (CDR, or ROS 1's format)."""

    def __init__(self, typestore, ros1: bool = False):
        self.typestore, self.ros1 = typestore, ros1

    def deserialize(self, raw: bytes, msgtype: str):
        if self.ros1:
            return self.typestore.deserialize_ros1(raw, msgtype)
        return self.typestore.deserialize_cdr(raw, msgtype)

    def serialize(self, msg, msgtype: str) -> bytes:
        if self.ros1:
            return bytes(self.typestore.serialize_ros1(msg, msgtype))
        return bytes(self.typestore.serialize_cdr(msg, msgtype))


class Tally:
    """Every message of a copy goes through message(): counted per topic as read; the ones
    wants(connection) selects are transformed (None: left out, counted), the others copied
    as their bytes. compress/decompress wrap the data of bags compressed per message."""

    def __init__(self, wants, transform, progress=None, compress=None, decompress=None):
        self.wants, self.transform, self.progress = wants, transform, progress
        self.compress, self.decompress = compress, decompress
        self.read, self.left_out = collections.Counter(), collections.Counter()

    def message(self, connection: Connection, stamp: int, raw: bytes) -> bytes | None:
        self.read[connection.topic] += 1
        if self.progress:
            self.progress()
        if not self.wants(connection):
            return raw
        data = self.transform(connection, stamp,
                              self.decompress(raw) if self.decompress else raw)
        if data is None:
            self.left_out[connection.topic] += 1
            return None
        return self.compress(data) if self.compress else data

    def skip(self, connection: Connection, n: int) -> None:
        """n messages counted as read and copied without being looked at."""
        self.read[connection.topic] += n
        if self.progress:
            for _ in range(n):
                self.progress()


def check_counts(bag, expected: dict, tally: Tally, written: dict) -> dict:
    """{topic: counts} of a finished copy: in the input's own records (expected: {source:
    {topic: n}}, e.g. metadata.yaml, the mcap summary), read, left out and counted again in
    the output. LostMessagesError, one line naming the topic and both counts, where a
    message is missing or extra."""
    topics = set(tally.read) | set(written)
    for counts in expected.values():
        topics |= set(counts)
    result = {}
    for topic in sorted(topics):
        read, left_out = tally.read.get(topic, 0), tally.left_out.get(topic, 0)
        entry = {f'in_{source}': counts.get(topic, 0) for source, counts in expected.items()}
        entry.update(read=read, left_out=left_out, written=written.get(topic, 0))
        for source, counts in expected.items():
            if counts.get(topic, 0) != read:
                raise LostMessagesError(f'{bag}: topic {topic}: {counts.get(topic, 0)} '
                                        f'messages in its {source}, {read} read')
        if entry['written'] != read - left_out:
            raise LostMessagesError(f'{bag}: topic {topic}: {read - left_out} messages to '
                                    f'write ({read} read, {left_out} left out), '
                                    f'{entry["written"]} in the output')
        result[topic] = entry
    return result


class UndeserializableMessageError(ValueError):
    """A message whose bytes are not a valid message of its type (truncated, corrupt)."""


def deserialize(reader, connection, raw: bytes):
    """reader: a rosbags reader or a Codec."""
    try:
        return reader.deserialize(raw, connection.msgtype)
    except Exception as error:  # noqa: BLE001 - rosbags raises several types for bad CDR
        raise UndeserializableMessageError(f'{type(error).__name__}: {error}') from error


def decode_message(reader, connection, raw: bytes) -> tuple:
    """(message, CameraImage) of one image message; UndeserializableMessageError for bad bytes,
    ImageCodecError (a ValueError) for an image that cannot be decoded."""
    msg = deserialize(reader, connection, raw)
    return msg, decode(msg)
