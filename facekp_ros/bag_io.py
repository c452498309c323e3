"""Images in ROS 2 bags (sqlite3 or mcap) with rosbags: no ROS install needed.

The one bag reader (open_reader, image_connections, decode_message) of the package: the
camera source, `facekp bag` and the tests use it, and images go through core.image_codec like
every other image (bag_images writes them back).
"""
import pathlib

from rosbags.highlevel import AnyReader

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


class UndeserializableMessageError(ValueError):
    """A message whose bytes are not a valid message of its type (truncated, corrupt)."""


def deserialize(reader, connection, raw: bytes):
    try:
        return reader.deserialize(raw, connection.msgtype)
    except Exception as error:  # noqa: BLE001 - rosbags raises several types for bad CDR
        raise UndeserializableMessageError(f'{type(error).__name__}: {error}') from error


def decode_message(reader, connection, raw: bytes) -> tuple:
    """(message, CameraImage) of one image message; UndeserializableMessageError for bad bytes,
    ImageCodecError (a ValueError) for an image that cannot be decoded."""
    msg = deserialize(reader, connection, raw)
    return msg, decode(msg)
