"""`facekp bag`: image topics anonymized, other topics copied, report written, input safe."""
import json

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from facekp_ros.bag_anonymize import anonymize_bag
from facekp_ros.bag_io import message_to_bgr8
from facekp_ros.core.retinaface import RetinaFaceDetector
from facekp_ros.core.sources import sample_frame

STORE = get_typestore(Stores.ROS2_JAZZY)
T = STORE.types


def write_bag(path, plugin, frames=3):
    frame = sample_frame()
    header = T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](sec=1, nanosec=0),
                                      frame_id='cam')
    raw = T['sensor_msgs/msg/Image'](
        header=header, height=480, width=640, encoding='rgb8', is_bigendian=0, step=1920,
        data=np.ascontiguousarray(frame[..., ::-1]).reshape(-1))
    jpeg = T['sensor_msgs/msg/CompressedImage'](
        header=header, format='jpeg', data=cv2.imencode('.jpg', frame)[1].reshape(-1))
    text = T['std_msgs/msg/String'](data='hello')
    broken = T['sensor_msgs/msg/Image'](header=header, height=480, width=640, encoding='bgr8',
                                        is_bigendian=0, step=1920,
                                        data=np.zeros(10, np.uint8))
    with Writer(path, version=8, storage_plugin=plugin) as writer:
        conns = {name: writer.add_connection(topic, msg.__msgtype__, typestore=STORE)
                 for name, topic, msg in (('raw', '/cam/image_raw', raw),
                                          ('jpg', '/cam/compressed', jpeg),
                                          ('text', '/chatter', text))}
        for t in range(frames):
            for name, msg in (('raw', raw), ('jpg', jpeg), ('text', text)):
                writer.write(conns[name], t * 100, STORE.serialize_cdr(msg, msg.__msgtype__))
        writer.write(conns['raw'], frames * 100, STORE.serialize_cdr(broken, broken.__msgtype__))
    return frame


def read_all(path):
    with AnyReader([path]) as reader:
        return [(c.topic, c.msgtype, reader.deserialize(raw, c.msgtype))
                for c, _, raw in reader.messages()]


@pytest.mark.parametrize('plugin', [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
def test_every_image_topic_is_anonymized_and_the_rest_copied(tmp_path, plugin):
    source, target = tmp_path / 'in', tmp_path / 'out'
    frame = write_bag(source, plugin)
    before = sorted(p.name for p in source.iterdir())
    report = anonymize_bag(source, target)
    assert sorted(p.name for p in source.iterdir()) == before  # input untouched
    assert report['/cam/image_raw'] == {'frames': 4, 'faces_seen': 12, 'frames_fully_masked': 0,
                                        'frames_with_held_faces': 0, 'frames_left_out': 1}
    assert report['/cam/compressed']['faces_seen'] == 12
    assert json.loads((target / 'privacy_report.json').read_text()) == report
    messages = read_all(target)
    assert [m.data for t, _, m in messages if t == '/chatter'] == ['hello'] * 3
    images = [(t, kind, m) for t, kind, m in messages if t != '/chatter']
    assert len(images) == 6  # the undecodable frame was left out, not copied raw
    detector = RetinaFaceDetector(score_threshold=0.3)
    for _, kind, msg in images:
        assert msg.header.frame_id == 'cam' and msg.header.stamp.sec == 1
        bgr = message_to_bgr8(msg, kind)
        assert bgr.shape == frame.shape and detector.detect(bgr) == []


def test_bad_paths_are_refused_and_never_overwritten(tmp_path):
    source = tmp_path / 'in'
    write_bag(source, StoragePlugin.SQLITE3, frames=1)
    with pytest.raises(FileExistsError, match='already exists'):
        anonymize_bag(source, source)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        anonymize_bag(tmp_path / 'missing', tmp_path / 'out')
    corrupt = tmp_path / 'corrupt.mcap'
    corrupt.write_bytes(b'\x89MCAP0\r\n garbage')
    with pytest.raises(ValueError, match='cannot read bag'):
        anonymize_bag(corrupt, tmp_path / 'out2')
    assert not (tmp_path / 'out2').exists()


def test_facekp_bag_command(tmp_path, capsys):
    from facekp_ros.cli import main

    write_bag(tmp_path / 'in', StoragePlugin.MCAP, frames=1)
    assert main(['bag', str(tmp_path / 'in'), str(tmp_path / 'out')]) == 0
    assert '/cam/image_raw: frames 2, faces_seen 4' in capsys.readouterr().out
    assert main(['bag', str(tmp_path / 'in'), str(tmp_path / 'out')]) == 2
    assert 'already exists' in capsys.readouterr().err
