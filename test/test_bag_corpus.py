"""`facekp bag` on bags written the way real recorders write them: every message of every
topic is in the copy, in its order, with its times and sequence number, the bytes of every
non-image message unchanged, the storage, compression and metadata as they were, and no face
left in any image. A copy that would lose a message fails, and nothing is written."""
import json
import resource
import signal
import subprocess
import sys

import pytest
import yaml
from bag_corpus import (
    IMAGE_TOPICS,
    STORE,
    definition,
    stored,
    streams,
    write_bag,
    write_metadata,
    write_ros1,
)
from mcap_ros2.writer import Writer as Ros2McapWriter
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from facekp_ros.bag_anonymize import anonymize_bag
from facekp_ros.bag_io import LostMessagesError
from facekp_ros.cli import main
from facekp_ros.core.image_codec import decode
from facekp_ros.core.retinaface import RetinaFaceDetector

DETECTOR = None
HUMBLE = get_typestore(Stores.ROS2_HUMBLE)


def _no_faces(messages) -> int:
    global DETECTOR  # noqa: PLW0603 - one detector for every bag of the module
    DETECTOR = DETECTOR or RetinaFaceDetector(score_threshold=0.3)
    images = 0
    for topic, *_, data in messages:
        if topic in IMAGE_TOPICS:
            msgtype = 'sensor_msgs/msg/' + ('CompressedImage' if 'compressed' in topic
                                            else 'Image')
            assert DETECTOR.detect(decode(STORE.deserialize_cdr(data, msgtype)).bgr8) == []
            images += 1
    return images


def _run(source, target, capsys, *options) -> str:
    rc = main(['bag', str(source), str(target), '--quiet', *options])
    out = capsys.readouterr()
    assert 'Traceback' not in out.err
    assert rc == 0, out.err
    return out.err


def check_copy(source, target, frames=2):
    """The copy at target holds every message of source as it was, images anonymized."""
    info_in, before, chunks_in = stored(source)
    info_out, after, chunks_out = stored(target)
    assert [m[:4] for m in after] == [m[:4] for m in before]  # order, times, sequence
    assert [m for m in after if m[0] not in IMAGE_TOPICS] == \
        [m for m in before if m[0] not in IMAGE_TOPICS]  # exact bytes
    assert _no_faces(after) == 2 * frames
    assert list(chunks_out.values()) == list(chunks_in.values())
    for key in ('relative_file_paths', 'files'):
        info_in.pop(key, None)
        info_out.pop(key, None)
    assert info_out == info_in  # storage, compression, custom_data, ros_distro, QoS, counts
    assert _opened(target) == _opened(source)  # rosbags lists the same topics and types
    report = json.loads((target / 'privacy_report.json').read_text())
    counts = {t: c['written'] for t, c in report['messages'].items()}
    assert counts == {t: sum(m[0] == t for m in before) for t in {m[0] for m in before}}
    return report


def _opened(bag):
    """What rosbags makes of the bag: its (topic, type) pairs, or the error it raises (its
    reader fails on service-event types in bags that carry definitions)."""
    try:
        with AnyReader([bag], default_typestore=HUMBLE) as reader:
            return [(c.topic, c.msgtype) for c in reader.connections]
    except Exception as error:  # noqa: BLE001 - whatever rosbags raises, the same for both
        return type(error).__name__


def test_a_zstd_chunked_mcap_keeps_all_its_messages(tmp_path, capsys):
    """As rosbag2's talker.mcap: chunks zstd-compressed, written by the reference writer."""
    source = tmp_path / 'talker'
    source.mkdir()
    recording = {t: s for t, s in streams().items()  # its encoder takes no service types
                 if not s[0].endswith('_Event')}
    with open(source / 'talker.mcap', 'wb') as stream:
        writer = Ros2McapWriter(stream)  # zstd chunks, profile ros2
        for topic, (msgtype, rows) in recording.items():
            schema = writer.register_msgdef(msgtype, definition(msgtype))
            for log, publish, sequence, data in rows:
                msg = STORE.deserialize_cdr(data, msgtype.replace('/srv/', '/msg/'))
                writer.write_message(topic, schema, _as_dict(msg), log, publish, sequence)
        writer.finish()
    count = sum(len(rows) for _, rows in recording.values())
    write_metadata(source, 'mcap', 4, ['talker.mcap'], [recording], '')
    _run(source, tmp_path / 'out', capsys)
    _, before, chunks = stored(source)
    _, after, _ = stored(tmp_path / 'out')
    assert chunks == {'talker.mcap': ['zstd']} and len(before) == count == 12
    assert [m[:4] for m in after] == [m[:4] for m in before]
    assert _no_faces(after) == 4


def _as_dict(msg):
    """A rosbags message as the plain values mcap_ros2's encoder takes."""
    if hasattr(msg, '__dataclass_fields__'):
        return {k: _as_dict(getattr(msg, k)) for k in msg.__dataclass_fields__
                if k != '__msgtype__'}
    if isinstance(msg, list):
        return [_as_dict(m) for m in msg]
    if hasattr(msg, 'dtype'):
        return msg.tobytes() if msg.dtype.str == '|u1' else msg.tolist()
    return msg


def test_a_copy_that_would_lose_messages_fails_and_is_not_written(tmp_path, capsys):
    source = tmp_path / 'in'
    write_bag(source, 'sqlite3', version=8)
    metadata = yaml.safe_load((source / 'metadata.yaml').read_text())
    for entry in metadata['rosbag2_bagfile_information']['topics_with_message_count']:
        if entry['topic_metadata']['name'] == '/chatter':  # one more than was stored
            entry['message_count'] += 1
    (source / 'metadata.yaml').write_text(yaml.safe_dump(metadata))
    with pytest.raises(LostMessagesError, match=r'topic /chatter: 3 messages in its '
                                                 r'metadata.yaml, 2 read'):
        anonymize_bag(source, tmp_path / 'out')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in']
    assert main(['bag', str(source), str(tmp_path / 'out'), '--quiet']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'topic /chatter: 3 messages' in err
    good = tmp_path / 'good'
    write_bag(good, 'mcap')
    assert main(['bag', str(source), str(good), '--out', str(tmp_path / 'root'),
                 '--quiet']) == 1  # one of two bags failed
    root = json.loads((tmp_path / 'root' / 'privacy_report.json').read_text())
    assert root['totals']['failed'] == 1 and root['totals']['done'] == 1
    assert '/chatter: 3 messages' in root['bags']['in']['error']
    assert not (tmp_path / 'root' / 'in').exists()


CORPUS = {  # name: write_bag options
    'foxy-sqlite3-v4': dict(storage='sqlite3', version=4),
    'humble-sqlite3-v5': dict(storage='sqlite3', version=5),
    'humble-sqlite3-v6': dict(storage='sqlite3', version=6),
    'iron-sqlite3-v7': dict(storage='sqlite3', version=7),
    'jazzy-sqlite3-v8': dict(storage='sqlite3', version=8),
    'jazzy-sqlite3-v9-split': dict(storage='sqlite3', version=9, split=3),
    'sqlite3-file-zstd': dict(storage='sqlite3', version=8, mode='file'),
    'sqlite3-message-zstd': dict(storage='sqlite3', version=8, mode='message'),
    'mcap-uncompressed': dict(chunks=''),
    'mcap-lz4': dict(chunks='lz4'),
    'mcap-zstd-split': dict(chunks='zstd', split=2),
    'mcap-no-summary-out-of-order': dict(summary=False, shuffled=True),
    'mcap-two-channels-per-topic': dict(two_channels=True),
    'mcap-file-zstd': dict(mode='file', chunks=''),
    'mcap-message-zstd': dict(mode='message'),
}


@pytest.mark.parametrize('name', CORPUS)
def test_every_storage_variant_is_kept_as_it_was(tmp_path, capsys, name):
    source = tmp_path / 'rec'
    write_bag(source, **CORPUS[name])
    _run(source, tmp_path / 'out', capsys)
    report = check_copy(source, tmp_path / 'out')
    assert report['/camera/image_raw']['faces_seen'] == 8


@pytest.mark.parametrize(('recorded', 'option', 'used'), [
    (None, [], 'humble'), (None, ['--ros-distro', 'foxy'], 'foxy'),
    ('rosbags', ['--ros-distro', 'galactic'], 'galactic'), ('iron', ['--ros-distro', 'foxy'],
                                                            'iron')])
def test_a_bag_without_definitions_is_read_with_its_distros_types(tmp_path, capsys, recorded,
                                                                   option, used):
    """Foxy to Humble sqlite3 bags carry no message definitions (a Foxy one has no schema
    table either): the distro the bag names, else --ros-distro (default humble)."""
    source = tmp_path / 'foxy'
    write_bag(source, 'sqlite3', version=4)
    if recorded:
        metadata = yaml.safe_load((source / 'metadata.yaml').read_text())
        metadata['rosbag2_bagfile_information']['ros_distro'] = recorded
        (source / 'metadata.yaml').write_text(yaml.safe_dump(metadata))
    _run(source, tmp_path / 'out', capsys, *option)
    report = check_copy(source, tmp_path / 'out')
    assert report['ros_distro'] == used
    assert report['messages']['/parameter_events']['written'] == 2
    with pytest.raises(SystemExit, match='2'):
        main(['bag', str(source), str(tmp_path / 'o2'), '--ros-distro', 'hydro'])
    assert 'invalid choice' in capsys.readouterr().err


def _ros1_messages(path):
    from rosbags.rosbag1 import Reader

    with Reader(path) as reader:
        return [(c.topic, t, bytes(d), c.ext.callerid, c.ext.latching, c.digest)
                for c, t, d in reader.messages()]


@pytest.mark.parametrize('compression', ['lz4', 'bz2', ''])
def test_a_ros1_bag_is_copied_as_a_ros1_bag(tmp_path, capsys, compression):
    source = tmp_path / 'in.bag'
    write_ros1(source, compression)
    _run(source, tmp_path / 'out.bag', capsys)
    before, after = _ros1_messages(source), _ros1_messages(tmp_path / 'out.bag')
    assert [m[:2] + m[3:] for m in after] == [m[:2] + m[3:] for m in before]
    assert [m for m in after if m[0] not in IMAGE_TOPICS] == \
        [m for m in before if m[0] not in IMAGE_TOPICS]
    noetic = get_typestore(Stores.ROS1_NOETIC)
    global DETECTOR  # noqa: PLW0603
    DETECTOR = DETECTOR or RetinaFaceDetector(score_threshold=0.3)
    for topic, _, data, *_ in after:
        if topic in IMAGE_TOPICS:
            msgtype = 'sensor_msgs/msg/' + ('CompressedImage' if 'compressed' in topic
                                            else 'Image')
            msg = noetic.deserialize_ros1(data, msgtype)
            assert msg.header.seq == 7 and msg.header.frame_id == 'cam'
            assert DETECTOR.detect(decode(msg).bgr8) == []
    report = json.loads((tmp_path / 'out.bag.privacy_report.json').read_text())
    assert report['/camera/image_raw']['faces_seen'] == 8
    assert report['messages']['/robot/status'] == {'in_index': 2, 'read': 2, 'left_out': 0,
                                                   'written': 2}
    chunk = (tmp_path / 'out.bag').read_bytes()
    assert f'compression={compression or "none"}'.encode() in chunk
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ['in.bag', 'out.bag', 'out.bag.privacy_report.json']
    assert main(['bag', str(source), str(tmp_path / 'out2'), '--quiet']) == 2
    assert 'a ROS 1 bag (.bag) is copied as a ROS 1 bag' in capsys.readouterr().err
    assert main(['bag', str(source), '--out', str(tmp_path / 'root'), '--quiet']) == 0
    assert (tmp_path / 'root' / 'in.bag.privacy_report.json').is_file()


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_a_lone_bag_file_becomes_a_bag_folder_with_its_metadata(tmp_path, capsys, storage):
    """A .mcap or .db3 without metadata.yaml (from other recorders, or a split file on its
    own): the copy is a rosbag2 folder whose metadata.yaml describes it."""
    write_bag(tmp_path / 'rec', storage, version=8, chunks='lz4')
    lone = next((tmp_path / 'rec').glob('rec_0.*'))
    _run(lone, tmp_path / 'out', capsys)
    _, before, _ = stored(tmp_path / 'rec')
    info, after, chunks = stored(tmp_path / 'out')
    assert [m[:4] for m in after] == [m[:4] for m in before]
    assert [m for m in after if m[0] not in IMAGE_TOPICS] == \
        [m for m in before if m[0] not in IMAGE_TOPICS]
    assert _no_faces(after) == 4
    assert info['message_count'] == len(before) == 14
    assert info['starting_time']['nanoseconds_since_epoch'] == min(m[1] for m in before)
    assert {t['topic_metadata']['name']: t['message_count']
            for t in info['topics_with_message_count']} == {m[0]: 2 for m in before}
    assert list(chunks.values()) == ([['lz4']] if storage == 'mcap' else [])
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == \
        ['metadata.yaml', 'out' + lone.suffix, 'privacy_report.json']


def _file_size_limit():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))


@pytest.mark.parametrize('name', ['jazzy-sqlite3-v8', 'mcap-lz4', 'sqlite3-file-zstd'])
def test_a_full_disk_is_one_line_naming_the_output(tmp_path, name):
    """A disk that takes no more (a file size limit stops a write as a full disk does)."""
    write_bag(tmp_path / 'in', frames=10, **CORPUS[name])
    done = subprocess.run([sys.executable, '-m', 'facekp_ros.cli', 'bag', str(tmp_path / 'in'),
                           str(tmp_path / 'out'), '--quiet'], capture_output=True, text=True,
                          timeout=600, preexec_fn=_file_size_limit)
    assert done.returncode == 2 and done.stderr.count('\n') == 1, done.stderr
    assert str(tmp_path / 'out') in done.stderr and 'Traceback' not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in']
