"""Bags written the way real recorders write them (see shared notes/real-inputs.md): rosbag2
sqlite3 files of each era (Foxy's without type definitions to Jazzy's with them), mcap files
with each chunk compression, without a summary, out of time order, several channels on one
topic, split bags, zstd per file or per message; what `ros2 bag record -a` holds beside the
camera (/rosout, /parameter_events, a custom message, a service-event topic).

Read back with the reference readers (mcap, sqlite3), not with the code under test.
"""
import pathlib
import sqlite3

import cv2
import numpy as np
import yaml
import zstandard
from mcap.reader import make_reader
from mcap.records import Chunk
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, IndexType, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from facekp_ros.sources import sample_frame

QOS_V8 = ('- history: 3\n  depth: 0\n  reliability: 1\n  durability: 2\n  deadline:\n    sec: '
          '0\n    nsec: 0\n  lifespan:\n    sec: 0\n    nsec: 0\n  liveliness: 1\n  '
          'liveliness_lease_duration:\n    sec: 0\n    nsec: 0\n  '
          'avoid_ros_namespace_conventions: false')
CUSTOM = {  # types no distro's store knows, as a robot's own package and Jazzy write them
    'my_robot_msgs/msg/Status': 'uint8 mode\nfloat64 battery\nstring note',
    # A service's event type, recorded under its srv name (rosbags parses it as a msg).
    'example_interfaces/msg/AddTwoInts_Event':
        'service_msgs/ServiceEventInfo info\n'
        'example_interfaces/msg/AddTwoInts_Request[] request\n'
        'example_interfaces/msg/AddTwoInts_Response[] response',
    'example_interfaces/msg/AddTwoInts_Request': 'int64 a\nint64 b',
    'example_interfaces/msg/AddTwoInts_Response': 'int64 sum',
}
SERVICE_EVENT = 'example_interfaces/srv/AddTwoInts_Event'
IMAGE_TOPICS = ('/camera/image_raw', '/camera/image_raw/compressed')
START = 1_700_000_000_000_000_000  # log times in ns, as recorded in 2023
CHUNK = {'': CompressionType.NONE, 'lz4': CompressionType.LZ4, 'zstd': CompressionType.ZSTD}


def store():
    typestore = get_typestore(Stores.ROS2_JAZZY)
    for name, text in CUSTOM.items():
        types = get_types_from_msg(text, name)
        typestore.register({k: v for k, v in types.items() if k not in typestore.types})
    return typestore


STORE = store()
T = STORE.types


def _header(t):
    return T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](sec=t, nanosec=0),
                                    frame_id='cam')


def streams(frames=2):
    """{topic: (type, [(log time, publish time, sequence, CDR bytes)])} of one recording."""
    frame = sample_frame()
    time = T['builtin_interfaces/msg/Time']
    param = T['rcl_interfaces/msg/Parameter'](
        name='rate', value=T['rcl_interfaces/msg/ParameterValue'](
            type=2, bool_value=False, integer_value=30, double_value=0.0, string_value='',
            byte_array_value=np.zeros(0, np.uint8), bool_array_value=np.zeros(0, bool),
            integer_array_value=np.zeros(0, np.int64), double_array_value=np.zeros(0),
            string_array_value=[]))
    service_info = T['service_msgs/msg/ServiceEventInfo'](
        event_type=0, stamp=time(sec=1, nanosec=0), client_gid=np.zeros(16, np.uint8),
        sequence_number=1)
    messages = {
        IMAGE_TOPICS[0]: lambda t: T['sensor_msgs/msg/Image'](
            header=_header(t), height=frame.shape[0], width=frame.shape[1], encoding='bgr8',
            is_bigendian=0, step=frame.shape[1] * 3, data=frame.reshape(-1)),
        IMAGE_TOPICS[1]: lambda t: T['sensor_msgs/msg/CompressedImage'](
            header=_header(t), format='bgr8; jpeg compressed bgr8',
            data=cv2.imencode('.jpg', frame)[1].reshape(-1)),
        '/rosout': lambda t: T['rcl_interfaces/msg/Log'](
            stamp=time(sec=t, nanosec=5), level=20, name='talker', msg=f'Publishing {t}',
            file='talker.cpp', function='on_timer', line=42),
        '/parameter_events': lambda t: T['rcl_interfaces/msg/ParameterEvent'](
            stamp=time(sec=t, nanosec=0), node='/camera', new_parameters=[param],
            changed_parameters=[], deleted_parameters=[]),
        '/chatter': lambda t: T['std_msgs/msg/String'](data=f'hello {t}'),
        '/robot/status': lambda t: T['my_robot_msgs/msg/Status'](mode=t, battery=0.5,
                                                                 note='ok'),
        '/add_two_ints/_service_event': lambda t: T['example_interfaces/msg/AddTwoInts_Event'](
            info=service_info,
            request=[T['example_interfaces/msg/AddTwoInts_Request'](a=t, b=2)], response=[]),
    }
    out = {}
    for n, (topic, make) in enumerate(messages.items()):
        msg = make(1)
        rows = [(START + t * 100_000_000 + n, START + t * 100_000_000 + n - 500, t + 1,
                 bytes(STORE.serialize_cdr(make(t + 1), msg.__msgtype__)))
                for t in range(frames)]
        service = msg.__msgtype__.endswith('_Event')
        out[topic] = (SERVICE_EVENT if service else msg.__msgtype__, rows)
    return out


def definition(msgtype: str) -> str:
    return STORE.generate_msgdef(msgtype.replace('/srv/', '/msg/'), ros_version=2)[0]


def type_hash(msgtype: str) -> str:
    return STORE.hash_rihs01(msgtype.replace('/srv/', '/msg/'))


def _in_order(recording: dict, shuffled: bool) -> list:
    """(topic, row) of every message, in log-time order (or reversed: out of order)."""
    rows = [(topic, row) for topic, (_, rows) in recording.items() for row in rows]
    rows.sort(key=lambda item: item[1][0], reverse=shuffled)
    return rows


def write_mcap(path, recording, chunks='zstd', summary=True, shuffled=False,
               two_channels=False, compress=None):
    """An mcap file as rosbag2 writes it (profile ros2, QoS in channel metadata)."""
    options = {} if summary else dict(index_types=IndexType.NONE, repeat_channels=False,
                                      repeat_schemas=False, use_statistics=False,
                                      use_summary_offsets=False)
    with open(path, 'wb') as stream:
        writer = Writer(stream, compression=CHUNK[chunks], chunk_size=64 * 1024, **options)
        writer.start('ros2', 'libmcap 1.1.0')
        channels = {}
        for topic, (msgtype, _) in recording.items():
            schema = writer.register_schema(msgtype, 'ros2msg', definition(msgtype).encode())
            metadata = {'offered_qos_profiles': QOS_V8}
            channels[topic] = [writer.register_channel(topic, 'cdr', schema, metadata)
                               for _ in range(2 if two_channels else 1)]
        writer.add_metadata('rosbag2', {'serialized_metadata': 'version: 9'})  # before chunks
        for n, (topic, (log, publish, sequence, data)) in enumerate(
                _in_order(recording, shuffled)):
            ids = channels[topic]
            writer.add_message(ids[n % len(ids)], log, compress(data) if compress else data,
                               publish, sequence)
        writer.finish()


def write_db3(path, recording, version, compress=None):
    """A sqlite3 file with the schema rosbag2 of that metadata version writes."""
    db = sqlite3.connect(path)
    hashed = version >= 7
    db.execute('CREATE TABLE messages(id INTEGER PRIMARY KEY,topic_id INTEGER NOT NULL,'
               'timestamp INTEGER NOT NULL, data BLOB NOT NULL)')
    db.execute('CREATE INDEX timestamp_idx ON messages (timestamp ASC)')
    db.execute('CREATE TABLE topics(id INTEGER PRIMARY KEY,name TEXT NOT NULL,type TEXT NOT '
               'NULL,serialization_format TEXT NOT NULL,offered_qos_profiles TEXT NOT NULL'
               + (',type_description_hash TEXT NOT NULL)' if hashed else ')'))
    if version >= 5:  # Humble on: schema version and distro
        db.execute('CREATE TABLE schema(schema_version INTEGER PRIMARY KEY,ros_distro TEXT NOT '
                   'NULL)')
        db.execute('INSERT INTO schema VALUES (?, ?)', (3 if version < 7 else 4,
                                                       _distro(version)))
    if hashed:  # Iron on: the definitions are stored in the bag
        db.execute('CREATE TABLE message_definitions(id INTEGER PRIMARY KEY,topic_type TEXT '
                   'NOT NULL,encoding TEXT NOT NULL,encoded_message_definition TEXT NOT NULL,'
                   'type_description_hash TEXT NOT NULL)')
    ids = {}
    for topic, (msgtype, _) in recording.items():
        ids[topic] = len(ids) + 1
        row = (ids[topic], topic, msgtype, 'cdr', QOS_V8) + ((type_hash(msgtype),)
                                                            if hashed else ())
        db.execute(f'INSERT INTO topics VALUES ({",".join("?" * len(row))})', row)
        if hashed:
            db.execute('INSERT INTO message_definitions (topic_type, encoding, '
                       'encoded_message_definition, type_description_hash) VALUES (?,?,?,?)',
                       (msgtype, 'ros2msg', definition(msgtype), type_hash(msgtype)))
    for topic, (log, _, _, data) in _in_order(recording, False):
        db.execute('INSERT INTO messages (topic_id, timestamp, data) VALUES (?,?,?)',
                   (ids[topic], log, compress(data) if compress else data))
    db.commit()
    db.close()


def _distro(version: int) -> str:
    return {4: 'foxy', 5: 'humble', 6: 'humble', 7: 'iron', 8: 'jazzy'}.get(version, 'jazzy')


def write_bag(folder, storage='mcap', version=9, chunks='zstd', mode='', split=1,
              frames=2, **mcap_options) -> dict:
    """A rosbag2 folder of that metadata version; returns its recording (streams)."""
    folder = pathlib.Path(folder)
    folder.mkdir()
    recording = streams(frames)
    compress = zstandard.ZstdCompressor(level=1).compress if mode == 'message' else None
    suffix = '.mcap' if storage == 'mcap' else '.db3'
    parts = [{t: (ty, rows[i::split]) for t, (ty, rows) in recording.items()}
             for i in range(split)]
    names = []
    for i, part in enumerate(parts):
        file = folder / f'{folder.name}_{i}{suffix}'
        if storage == 'mcap':
            write_mcap(file, part, chunks, compress=compress, **mcap_options)
        else:
            write_db3(file, part, version, compress=compress)
        if mode == 'file':
            packed = file.with_name(file.name + '.zstd')
            packed.write_bytes(zstandard.ZstdCompressor(level=1).compress(file.read_bytes()))
            file.unlink()
            file = packed
        names.append(file.name)
    write_metadata(folder, storage, version, names, parts, mode)
    return recording


def write_metadata(folder, storage, version, names, parts, mode):
    rows = [r for part in parts for _, rows in part.values() for r in rows]
    topics = []
    for topic, (msgtype, _) in parts[0].items():
        meta = {'name': topic, 'type': msgtype, 'serialization_format': 'cdr',
                'offered_qos_profiles': QOS_V8}
        if version >= 7:
            meta['type_description_hash'] = type_hash(msgtype)
        topics.append({'topic_metadata': meta,
                       'message_count': sum(len(p[topic][1]) for p in parts)})
    info = {'version': version, 'storage_identifier': storage,
            'duration': {'nanoseconds': max(r[0] for r in rows) - min(r[0] for r in rows)},
            'starting_time': {'nanoseconds_since_epoch': min(r[0] for r in rows)},
            'message_count': len(rows), 'topics_with_message_count': topics,
            'compression_format': 'zstd' if mode else '', 'compression_mode': mode.upper(),
            'relative_file_paths': names}
    if version >= 5:
        info['files'] = [{'path': name, 'starting_time': {'nanoseconds_since_epoch': 0},
                          'duration': {'nanoseconds': 0},
                          'message_count': sum(len(r) for _, r in part.values())}
                         for name, part in zip(names, parts)]
    if version >= 6:
        info['custom_data'] = {'robot': 'r2', 'site': 'lab 3'}
    if version >= 8:
        info['ros_distro'] = _distro(version)
    (folder / 'metadata.yaml').write_text(yaml.safe_dump({'rosbag2_bagfile_information': info},
                                                         sort_keys=False))


def stored(folder) -> tuple:
    """(metadata info, [(topic, log time, publish time, sequence, bytes)] in storage order,
    {file name: mcap chunk compressions}) of a rosbag2 folder, read with the reference
    readers; message bytes decompressed where the bag is compressed per message."""
    folder = pathlib.Path(folder)
    info = yaml.safe_load((folder / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    per_message = (info.get('compression_mode') or '').lower() == 'message'
    messages, chunks = [], {}
    for name in info['relative_file_paths']:
        data = (folder / name).read_bytes()
        if name.endswith('.zstd'):
            data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
        plain = folder / f'.{name}.plain'
        plain.write_bytes(data)
        try:
            if '.mcap' in name:
                with open(plain, 'rb') as stream:
                    chunks[name] = sorted({r.compression for r in StreamReader(
                        stream, emit_chunks=True).records if isinstance(r, Chunk)})
                    stream.seek(0)
                    for _, channel, msg in make_reader(stream).iter_messages(
                            log_time_order=False):
                        messages.append((channel.topic, msg.log_time, msg.publish_time,
                                         msg.sequence, msg.data))
            else:
                db = sqlite3.connect(plain)
                names = dict(db.execute('SELECT id, name FROM topics'))
                messages += [(names[t], s, s, 0, bytes(d)) for t, s, d in db.execute(
                    'SELECT topic_id, timestamp, data FROM messages ORDER BY id')]
                db.close()
        finally:
            plain.unlink()
    if per_message:
        unpack = zstandard.ZstdDecompressor().decompressobj
        messages = [m[:4] + (unpack().decompress(m[4]),) for m in messages]
    return info, messages, chunks


def write_ros1(path, compression='lz4', frames=2) -> list:
    """A ROS 1 bag as rosbag record writes it (chunks compressed, caller ids, a latched
    topic); returns its messages [(topic, time, bytes)] in time order."""
    from rosbags.rosbag1 import Writer as Ros1Writer

    noetic = get_typestore(Stores.ROS1_NOETIC)
    noetic.register(get_types_from_msg(CUSTOM['my_robot_msgs/msg/Status'],
                                       'my_robot_msgs/msg/Status'))
    frame = sample_frame()
    nt = noetic.types
    header = nt['std_msgs/msg/Header'](seq=7, stamp=nt['builtin_interfaces/msg/Time'](
        sec=1, nanosec=0), frame_id='cam')
    messages = {
        IMAGE_TOPICS[0]: nt['sensor_msgs/msg/Image'](
            header=header, height=frame.shape[0], width=frame.shape[1], encoding='bgr8',
            is_bigendian=0, step=frame.shape[1] * 3, data=frame.reshape(-1)),
        IMAGE_TOPICS[1]: nt['sensor_msgs/msg/CompressedImage'](
            header=header, format='jpeg', data=cv2.imencode('.jpg', frame)[1].reshape(-1)),
        '/rosout': nt['rosgraph_msgs/msg/Log'](
            header=header, level=2, name='/talker', msg='hello', file='talker.py',
            function='run', line=3, topics=['/chatter']),
        '/chatter': nt['std_msgs/msg/String'](data='hello'),
        '/robot/status': nt['my_robot_msgs/msg/Status'](mode=1, battery=0.5, note='ok'),
    }
    written = []
    writer = Ros1Writer(path)
    if compression:
        writer.set_compression(Ros1Writer.CompressionFormat[compression.upper()])
    writer.open()
    conns = {topic: writer.add_connection(topic, msg.__msgtype__, typestore=noetic,
                                          callerid='/recorder', latching=int(topic == '/rosout'))
             for topic, msg in messages.items()}
    for t in range(frames):
        for n, (topic, msg) in enumerate(messages.items()):
            data = bytes(noetic.serialize_ros1(msg, msg.__msgtype__))
            stamp = START + t * 100_000_000 + n
            writer.write(conns[topic], stamp, data)
            written.append((topic, stamp, data))
    writer.close()
    return written
