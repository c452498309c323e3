"""`facekp bag`: image topics anonymized in their own encoding, other topics copied, corrupt
messages left out and counted, the report written, no partial output, the input safe."""
import json

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from facekp_ros import bag_anonymize
from facekp_ros.bag_anonymize import anonymize_bag
from facekp_ros.core.image_codec import decode
from facekp_ros.core.retinaface import RetinaFaceDetector
from facekp_ros.sources import sample_frame

STORE = get_typestore(Stores.ROS2_JAZZY)
T = STORE.types


def _header():
    return T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](sec=1, nanosec=0),
                                    frame_id='cam')


def _raw(pixels, encoding, bigendian=0):
    pixels = pixels.astype(pixels.dtype.newbyteorder('>' if bigendian else '<'))
    return T['sensor_msgs/msg/Image'](
        header=_header(), height=pixels.shape[0], width=pixels.shape[1], encoding=encoding,
        is_bigendian=bigendian, step=pixels.nbytes // pixels.shape[0],
        data=np.frombuffer(pixels.tobytes(), np.uint8))


def write_bag(path, plugin, frames=3):
    """A bag with rgb8, mono16 (big-endian) and JPEG images of the sample, a text topic, an
    image whose data is short (undecodable) and one truncated message (undeserializable)."""
    frame = sample_frame()
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    messages = {
        '/cam/image_raw': _raw(np.ascontiguousarray(frame[..., ::-1]), 'rgb8'),
        '/ir/image_raw': _raw(grey.astype(np.uint16) * 16, 'mono16', bigendian=1),
        '/cam/compressed': T['sensor_msgs/msg/CompressedImage'](
            header=_header(), format='jpeg', data=cv2.imencode('.jpg', frame)[1].reshape(-1)),
        '/chatter': T['std_msgs/msg/String'](data='hello'),
    }
    broken = T['sensor_msgs/msg/Image'](header=_header(), height=480, width=640,
                                        encoding='bgr8', is_bigendian=0, step=1920,
                                        data=np.zeros(10, np.uint8))
    with Writer(path, version=8, storage_plugin=plugin) as writer:
        conns = {topic: writer.add_connection(topic, msg.__msgtype__, typestore=STORE)
                 for topic, msg in messages.items()}
        for t in range(frames):
            for topic, msg in messages.items():
                writer.write(conns[topic], t * 100, STORE.serialize_cdr(msg, msg.__msgtype__))
        image = conns['/cam/image_raw']
        writer.write(image, frames * 100, STORE.serialize_cdr(broken, broken.__msgtype__))
        whole = STORE.serialize_cdr(messages['/cam/image_raw'], 'sensor_msgs/msg/Image')
        writer.write(image, frames * 100 + 1, whole[:len(whole) // 2])
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
    lines = []
    report = anonymize_bag(source, target, warn=lines.append)
    assert sorted(p.name for p in source.iterdir()) == before  # input untouched
    raw = report['/cam/image_raw']
    assert {k: raw[k] for k in ('frames', 'faces_seen', 'frames_fully_masked',
                                'frames_left_out', 'messages_undeserializable')} == \
        {'frames': 4, 'faces_seen': 12, 'frames_fully_masked': 0, 'frames_left_out': 1,
         'messages_undeserializable': 1}
    assert len(lines) == 2 and all(line.count('\n') == 0 for line in lines)
    assert 'deserialized' in lines[1] and 'decoded' in lines[0]
    assert report['/cam/compressed']['faces_seen'] == 12
    assert report['/ir/image_raw']['faces_seen'] >= 9  # grey 12-bit faces are found too
    assert len(raw['lowest_scored_masked']) == 10
    scores = [d['score'] for d in raw['lowest_scored_masked']]
    assert scores == sorted(scores) and all(d['reported'] for d in raw['lowest_scored_masked'])
    assert json.loads((target / 'privacy_report.json').read_text()) == report
    assert report['input']['path'] == str(source.resolve())
    assert report['input']['files'] == 2 and report['input']['bytes'] > 0
    suffix = '.mcap' if plugin == StoragePlugin.MCAP else '.db3'  # named after OUT, not hidden
    assert sorted(p.name for p in target.iterdir()) == \
        ['metadata.yaml', 'out' + suffix, 'privacy_report.json']
    messages = read_all(target)
    assert [m.data for t, _, m in messages if t == '/chatter'] == ['hello'] * 3
    images = [(t, m) for t, _, m in messages if t != '/chatter']
    assert len(images) == 9  # the two unreadable messages were left out, not copied raw
    detector = RetinaFaceDetector(score_threshold=0.3)
    kinds = {'/cam/image_raw': ('rgb8', ''), '/ir/image_raw': ('mono16', ''),
             '/cam/compressed': ('', 'jpeg')}
    for topic, msg in images:
        assert msg.header.frame_id == 'cam' and msg.header.stamp.sec == 1
        encoding, image_format = kinds[topic]
        assert getattr(msg, 'encoding', '') == encoding
        assert getattr(msg, 'format', '') == image_format  # 'jpeg' stays 'jpeg'
        image = decode(msg)
        assert image.pixels.shape[:2] == frame.shape[:2]
        assert detector.detect(image.bgr8) == []


def test_a_failure_leaves_no_partial_output(tmp_path, monkeypatch):
    source, target = tmp_path / 'in', tmp_path / 'out'
    write_bag(source, StoragePlugin.MCAP, frames=2)
    calls = []

    def fail_on_third(self, image, t_s=None):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError('disk full')
        return original(self, image, t_s)

    original = bag_anonymize.FacePipeline.process
    monkeypatch.setattr(bag_anonymize.FacePipeline, 'process', fail_on_third)
    with pytest.raises(RuntimeError, match='disk full'):
        anonymize_bag(source, target, warn=lambda text: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in']  # nothing beside it either


def test_bad_paths_are_refused_and_never_overwritten(tmp_path):
    source = tmp_path / 'in'
    write_bag(source, StoragePlugin.SQLITE3, frames=1)
    with pytest.raises(FileExistsError, match='already exists'):
        anonymize_bag(source, source)
    with pytest.raises(ValueError, match='inside the input bag'):
        anonymize_bag(source, source / 'anonymized')
    with pytest.raises(FileNotFoundError, match='does not exist: create it first'):
        anonymize_bag(source, tmp_path / 'no' / 'such' / 'out')
    assert not (tmp_path / 'no').exists()
    with pytest.raises(FileNotFoundError, match='does not exist'):
        anonymize_bag(tmp_path / 'missing', tmp_path / 'out')
    corrupt = tmp_path / 'corrupt.mcap'
    corrupt.write_bytes(b'\x89MCAP0\r\n garbage')
    with pytest.raises(ValueError, match='cannot read bag'):
        anonymize_bag(corrupt, tmp_path / 'out2')
    assert not (tmp_path / 'out2').exists()


def test_faces_masked_but_not_reported_are_listed_for_review(tmp_path):
    source = tmp_path / 'in'
    small = np.full((480, 640, 3), 96, np.uint8)
    small[100:196, 200:328] = cv2.resize(sample_frame(), (128, 96), interpolation=cv2.INTER_AREA)
    with Writer(source, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection('/cam', 'sensor_msgs/msg/Image', typestore=STORE)
        writer.write(conn, 5, STORE.serialize_cdr(_raw(small, 'bgr8'), 'sensor_msgs/msg/Image'))
    report = anonymize_bag(source, tmp_path / 'out')['/cam']
    assert report['frames_masked_not_reported'] == 1
    assert report['masked_not_reported_frames'] == [{'frame': 0, 'stamp_ns': 5}]
    assert any(not d['reported'] for d in report['lowest_scored_masked'])


def test_facekp_bag_command(tmp_path, capsys):
    from facekp_ros.cli import main

    write_bag(tmp_path / 'in', StoragePlugin.MCAP, frames=1)
    assert main(['bag', str(tmp_path / 'in'), '--quiet']) == 0  # default output name
    out = capsys.readouterr()
    assert '/cam/image_raw (sensor_msgs/msg/Image): anonymized (frames 2, depth_frames 0, ' \
        'faces_seen 4' in out.out
    assert (tmp_path / 'in_anonymized' / 'privacy_report.json').is_file()
    assert out.err.count('left out') == 2
    assert main(['bag', str(tmp_path / 'in'), str(tmp_path / 'in_anonymized')]) == 2
    assert 'already exists' in capsys.readouterr().err


def test_a_replaced_model_file_makes_a_finished_bag_redone(tmp_path):
    """The resume check covers the bytes of the models in use, not only their paths."""
    from facekp_ros.bag_anonymize import finished_report, input_signature
    from facekp_ros.core.detection import DetectionConfig
    from facekp_ros.core.pipeline import PipelineConfig
    from facekp_ros.core.retinaface import PRIVACY_MODEL, stock_onnx

    model = tmp_path / 'detector.onnx'
    model.write_bytes(PRIVACY_MODEL.read_bytes())
    config = PipelineConfig(detection=DetectionConfig(detector_model=str(model)),
                            keypoints=None, annotate=None)
    source = tmp_path / 'in'
    write_bag(source, StoragePlugin.MCAP, frames=1)
    anonymize_bag(source, tmp_path / 'out', config, warn=lambda text: None)
    assert finished_report(source, tmp_path / 'out', config) is not None
    before = input_signature(source, config)
    model.write_bytes(stock_onnx())  # another model at the same path
    after = input_signature(source, config)
    assert after['settings'] == before['settings'] and after['models'] != before['models']
    assert finished_report(source, tmp_path / 'out', config) is None
    shipped = PipelineConfig(keypoints=None, annotate=None)
    haar = PipelineConfig(detection=DetectionConfig(detector='haar'), keypoints=None,
                          annotate=None)
    assert len({input_signature(source, c)['models'] for c in (config, shipped, haar)}) == 3
