"""mcap files, read and written with the reference implementation (the `mcap` package).

rosbags 0.11.9's mcap reader yields no message of a file whose chunks are zstd-compressed
(rosbag2's own talker.mcap test bag: 20 in its summary, 0 read); `mcap` reads every variant
rosbag2 and other recorders write: chunks uncompressed, lz4 or zstd, no chunks, no summary,
messages out of time order. A copy keeps every record the file had in its order: schemas,
channels (with their QoS metadata), messages with their log and publish times and sequence
numbers, metadata and attachments; only the messages a Tally transforms change.
"""
import collections
import pathlib
import struct

from mcap.exceptions import McapError
from mcap.records import (
    Attachment,
    Channel,
    Chunk,
    DataEnd,
    Header,
    Message,
    Metadata,
    Schema,
)
from mcap.stream_reader import StreamReader, breakup_chunk
from mcap.writer import CompressionType, Writer

from facekp_ros.bag_io import BagReadError, Connection

COMPRESSION = {'': CompressionType.NONE, 'lz4': CompressionType.LZ4,
               'zstd': CompressionType.ZSTD}
DEFAULT_CHUNK_BYTES = 768 * 1024  # rosbag2's mcap default, for a file whose chunks are unknown


def _records(path):
    """The data section's records in file order, chunks opened; BagReadError for a bad file."""
    try:
        with open(path, 'rb') as stream:
            for record in StreamReader(stream, emit_chunks=True, record_size_limit=None).records:
                if isinstance(record, DataEnd):
                    return  # the summary repeats schemas and channels: not copied twice
                yield record
    except (McapError, ValueError, EOFError, KeyError, UnicodeDecodeError, struct.error) \
            as error:
        raise BagReadError(f'{pathlib.Path(path).name} is not a readable mcap file '
                           f'({type(error).__name__}: {error})') from error


def _flat(path):
    for record in _records(path):
        if isinstance(record, Chunk):
            yield record
            yield from breakup_chunk(record)
        else:
            yield record


def definitions(path) -> dict:
    """{type name: (encoding, text)} of the file's schemas (from its summary, else read)."""
    summary = _summary(path)
    schemas = summary.schemas.values() if summary else \
        (r for r in _flat(path) if isinstance(r, Schema))
    return {s.name: (s.encoding, s.data.decode(errors='replace')) for s in schemas if s.data}


def _summary(path):
    """The file's summary section; None without one (or a damaged one)."""
    from mcap.reader import make_reader

    try:
        with open(path, 'rb') as stream:
            return make_reader(stream).get_summary()
    except (McapError, ValueError, EOFError, KeyError, UnicodeDecodeError, struct.error,
            OSError):  # a seek before the start of a short file: read it linearly instead
        return None


def topic_rows(path) -> list:
    """Each channel as a rosbag2 topics row: name, type, serialization_format, QoS."""
    schemas, rows = {}, []
    for record in _flat(path):
        if isinstance(record, Schema):
            schemas[record.id] = record.name
        elif isinstance(record, Channel):
            rows.append({'name': record.topic, 'type': schemas.get(record.schema_id, ''),
                         'serialization_format': record.message_encoding,
                         'offered_qos_profiles': record.metadata.get('offered_qos_profiles',
                                                                     '')})
    return rows


def summary_counts(path) -> dict | None:
    """{topic: messages} from the file's summary statistics; None without them."""
    summary = _summary(path)
    if summary is None or summary.statistics is None:
        return None
    counts = collections.Counter()
    for channel_id, count in summary.statistics.channel_message_counts.items():
        channel = summary.channels.get(channel_id)
        counts[channel.topic if channel else f'channel {channel_id}'] += count
    return dict(counts)


def count(path) -> dict:
    """{topic: messages} counted by reading the whole file."""
    topic_of, counts = {}, collections.Counter()
    for record in _flat(path):
        if isinstance(record, Channel):
            topic_of[record.id] = record.topic
        elif isinstance(record, Message):
            counts[topic_of.get(record.channel_id, f'channel {record.channel_id}')] += 1
    return dict(counts)


def time_range(path) -> tuple:
    """(first, last) message log time in ns; (0, 0) without messages."""
    first = last = None
    for record in _flat(path):
        if isinstance(record, Message):
            first = record.log_time if first is None else min(first, record.log_time)
            last = record.log_time if last is None else max(last, record.log_time)
    return (first or 0, last or 0)


def rewrite(source, target, tally) -> None:
    """Copies the mcap file source to target, every message through tally.message."""
    with open(target, 'wb') as out:
        copier = _Copier(out, tally)
        for record in _records(source):
            copier.add(record)
        copier.finish()


class _Copier:
    """Writes the records of one file; the writer is made at the first chunk or message, when
    the input's chunking and compression are known."""

    def __init__(self, out, tally):
        self.out, self.tally = out, tally
        self.writer, self.header, self.pending = None, Header('', ''), []
        self.schema_ids, self.schema_names, self.channels = {0: 0}, {}, {}

    def add(self, record) -> None:
        if isinstance(record, Header):
            self.header = record
        elif self.writer is None and not isinstance(record, (Chunk, Message)):
            self.pending.append(record)  # rosbag2 writes a metadata record before any chunk
        elif isinstance(record, Chunk):
            self._start(record)
            for inner in breakup_chunk(record):
                self._write(inner)
        else:
            self._start(None)
            self._write(record)

    def _start(self, chunk) -> None:
        if self.writer is not None:
            return
        size = chunk.uncompressed_size if chunk else DEFAULT_CHUNK_BYTES
        compression = COMPRESSION.get(chunk.compression if chunk else '', CompressionType.ZSTD)
        self.writer = Writer(self.out, chunk_size=max(size, 1024), compression=compression,
                             use_chunking=chunk is not None)
        self.writer.start(self.header.profile, self.header.library)
        for record in self.pending:
            self._write(record)

    def _write(self, record) -> None:
        writer = self.writer
        if isinstance(record, Schema) and record.id not in self.schema_ids:
            self.schema_ids[record.id] = writer.register_schema(record.name, record.encoding,
                                                                record.data)
            self.schema_names[record.id] = record.name
        elif isinstance(record, Channel) and record.id not in self.channels:
            out_id = writer.register_channel(record.topic, record.message_encoding,
                                             self.schema_ids.get(record.schema_id, 0),
                                             record.metadata)
            name = self.schema_names.get(record.schema_id, '')
            self.channels[record.id] = (out_id, Connection(record.id, record.topic, name))
        elif isinstance(record, Message):
            if record.channel_id not in self.channels:
                raise BagReadError(f'a message on channel {record.channel_id}, which the file '
                                   'never defines')
            out_id, connection = self.channels[record.channel_id]
            data = self.tally.message(connection, record.log_time, record.data)
            if data is not None:
                writer.add_message(out_id, record.log_time, data, record.publish_time,
                                   record.sequence)
        elif isinstance(record, Attachment):
            writer.add_attachment(record.create_time, record.log_time, record.name,
                                  record.media_type, record.data)
        elif isinstance(record, Metadata):
            writer.add_metadata(record.name, record.metadata)

    def finish(self) -> None:
        self._start(None)
        self.writer.finish()
