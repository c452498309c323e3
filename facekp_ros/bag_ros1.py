"""ROS 1 bags (.bag, what many public datasets ship), copied with rosbags' rosbag1 reader and
writer: connections with their definitions, md5sums, caller ids and latching, messages in
time order with their bytes, chunks compressed as the input's were (none, bz2 or lz4).
"""
import collections
import pathlib

from rosbags.rosbag1 import Reader, ReaderError, Writer
from rosbags.rosbag1.reader import decompressors

from facekp_ros.bag_io import BagReadError, Codec, Connection, Tally, check_counts, typestore_for

COMPRESSIONS = {'bz2': Writer.CompressionFormat.BZ2, 'lz4': Writer.CompressionFormat.LZ4}


def _reader(path) -> Reader:
    reader = Reader(path)
    try:
        reader.open()
    except (ReaderError, OSError, ValueError, KeyError) as error:
        raise BagReadError(f'{pathlib.Path(path).name} is not a readable ROS 1 bag '
                           f'({type(error).__name__}: {error})') from error
    return reader


class Ros1Bag:
    """One ROS 1 bag file, opened for a copy."""

    distro = 'noetic'

    def __init__(self, path, ros_distro: str = ''):  # noqa: ARG002 - every ROS 1 bag: Noetic
        self.path = pathlib.Path(path)
        reader = _reader(self.path)
        try:
            self.message_count = reader.message_count
            definitions = {c.msgtype: ('ros1msg', c.msgdef.data) for c in reader.connections}
            self.connections = [Connection(c.id, c.topic, c.msgtype) for c in reader.connections]
            self.compression = next((name for name, function in decompressors.items()
                                     for chunk in reader.chunks.values()
                                     if chunk.decompressor is function), 'none')
        finally:
            reader.close()
        self.codec = Codec(typestore_for('', definitions, ros1=True), ros1=True)

    @property
    def typestore(self):
        return self.codec.typestore

    def copy(self, target: pathlib.Path, wants, transform, progress=None) -> dict:
        """Writes the copy as the bag file target; {topic: counts} (check_counts)."""
        tally = Tally(wants, transform, progress)
        reader = _reader(self.path)
        try:
            expected = collections.Counter()
            for connection in reader.connections:
                expected[connection.topic] += connection.msgcount
            writer = Writer(target)
            if self.compression in COMPRESSIONS:
                writer.set_compression(COMPRESSIONS[self.compression])
            writer.open()
            try:
                out = self._connections(reader, writer)
                for connection, stamp, raw in reader.messages():
                    data = tally.message(Connection(connection.id, connection.topic,
                                                    connection.msgtype), stamp, bytes(raw))
                    if data is not None:
                        writer.write(out[connection.id], stamp, data)
            finally:
                writer.close()
        except ReaderError as error:
            raise BagReadError(f'{self.path.name}: {error}') from error
        finally:
            reader.close()
        return check_counts(self.path, {'index': dict(expected)}, tally, _count(target))

    @staticmethod
    def _connections(reader, writer) -> dict:
        """{input connection id: output connection}; identical input connections share one."""
        out, made = {}, {}
        for c in reader.connections:
            key = (c.topic, c.msgtype, c.msgdef.data, c.digest, c.ext.callerid, c.ext.latching)
            if key not in made:
                made[key] = writer.add_connection(c.topic, c.msgtype, msgdef=c.msgdef.data,
                                                  md5sum=c.digest, callerid=c.ext.callerid,
                                                  latching=c.ext.latching)
            out[c.id] = made[key]
        return out


def _count(path) -> dict:
    """{topic: messages} counted by reading the whole bag."""
    reader = _reader(path)
    try:
        return dict(collections.Counter(c.topic for c, _, _ in reader.messages()))
    finally:
        reader.close()
