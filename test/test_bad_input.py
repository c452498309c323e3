"""Malformed images and face arrays: each rejected with one clear line, nothing raw leaks,
and the next good frame is processed as usual."""
import array

import numpy as np
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_helpers import Collector, ros_nodes, spin_until
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from facekp_ros import image_bridge as bridge
from facekp_ros.anonymizer_node import AnonymizerNode
from facekp_ros.detector_node import DetectorNode
from facekp_ros.msg import Face, FaceArray
from facekp_ros.node_common import OUTPUT_QOS
from facekp_ros.pipeline_node import PipelineNode
from facekp_ros.sources import sample_frame

FRAME = sample_frame()


def good_image(sec: int) -> Image:
    msg = bridge.cv2_to_imgmsg(FRAME, 'bgr8', Header(frame_id='cam'))
    msg.header.stamp.sec = sec
    return msg


def bad_images() -> dict:
    """name -> a malformed Image (fields set directly, as a faulty driver would)."""
    def image(**fields):
        msg = good_image(0)
        for key, value in fields.items():
            setattr(msg, key, value)
        return msg
    return {
        'unknown encoding': image(encoding='hsv9'),
        'data shorter than step*height': image(data=array.array('B', bytes(1000))),
        'step smaller than a row': image(step=100),
        'zero width': image(width=0, step=0),
        'zero height': image(height=0),
        'huge dimensions': image(width=100_000, height=100_000, step=300_000),
        'odd-width yuv422': image(encoding='yuv422', width=639, step=1278),
    }


def valid_but_unusual_images() -> dict:
    """Messages that are legal and must be processed, not rejected."""
    mono16 = (FRAME[..., 1].astype('>u2') * 257)
    big_endian = bridge.cv2_to_imgmsg(mono16.astype(np.uint16), 'mono16')
    big_endian.is_bigendian, big_endian.data = 1, array.array('B', mono16.tobytes())
    floats = FRAME[..., 1].astype(np.float32)
    floats[::7, ::5] = np.nan
    return {'big-endian mono16': big_endian,
            '32FC1 with NaN': bridge.cv2_to_imgmsg(floats, '32FC1')}


def make_tester(context):
    node = Node('tester', context=context)
    node.images = node.create_publisher(Image, 'image', OUTPUT_QOS)
    node.faces = node.create_publisher(FaceArray, 'faces', OUTPUT_QOS)
    return node


def test_pipeline_rejects_each_bad_image_and_keeps_going(capfd):
    with ros_nodes(lambda c: PipelineNode(context=c), make_tester) as (executor, (node, test)):
        anonymized = Collector(test, Image, 'image_anonymized')
        cases = bad_images()
        for sec, (name, msg) in enumerate(cases.items(), start=1):
            msg.header.stamp.sec = sec
            test.images.publish(msg)
            assert spin_until(executor, lambda n=sec: node.worker.stats.failed >= n, 10), name
        for sec, (name, msg) in enumerate(valid_but_unusual_images().items(), start=100):
            msg.header.stamp.sec = sec
            test.images.publish(msg)
            assert spin_until(executor, lambda s=sec: any(
                m.header.stamp.sec == s for m in anonymized.messages), 10), name
        test.images.publish(good_image(200))
        assert spin_until(executor, lambda: any(m.header.stamp.sec == 200
                                                for m in anonymized.messages), 10)
        # Nothing was published for a rejected frame, so nothing raw could leak.
        assert {m.header.stamp.sec for m in anonymized.messages} == {100, 101, 200}
        assert node.worker.stats.failed == len(cases)
    log = capfd.readouterr().err
    rejections = [line for line in log.splitlines() if 'frame dropped' in line]
    print(f'\n{len(cases)} malformed images rejected, one log line each:')
    print('\n'.join(rejections))
    assert len(rejections) == len(cases)
    for words in ("'encoding'", "'data'", "'step'", "'width'", "'height'"):
        assert any(words in line for line in rejections), words


@pytest.mark.parametrize('faces, why', [
    ([Face(x=float('nan'), y=0.0, width=10.0, height=10.0)], 'non-finite or absurd box'),
    ([Face(x=10.0, y=10.0, width=-5.0, height=20.0)], 'negative box size'),
])
def test_anonymizer_masks_the_frame_for_an_unusable_face_array(faces, why, capfd):
    overrides = [Parameter('max_wait_s', value=2.0)]
    with ros_nodes(lambda c: AnonymizerNode(context=c, parameter_overrides=overrides),
                   make_tester) as (executor, (node, test)):
        out = Collector(test, Image, 'image_anonymized')
        image = good_image(1)
        test.images.publish(image)
        test.faces.publish(FaceArray(header=image.header, detection_ok=True, faces=faces))
        assert spin_until(executor, lambda: out.messages, 10)
        assert not bridge.imgmsg_to_cv2(out.messages[0]).any()
    assert why in capfd.readouterr().err


def test_faces_outside_the_image_or_too_many_are_handled():
    overrides = [Parameter('max_wait_s', value=2.0)]
    with ros_nodes(lambda c: AnonymizerNode(context=c, parameter_overrides=overrides),
                   make_tester) as (executor, (node, test)):
        out = Collector(test, Image, 'image_anonymized')
        faces = [Face(x=-50.0, y=-50.0, width=100.0, height=100.0),
                 Face(x=5000.0, y=5000.0, width=10.0, height=10.0)]
        faces += [Face(x=float(i), y=float(i), width=3.0, height=3.0) for i in range(500)]
        image = good_image(1)
        test.images.publish(image)
        test.faces.publish(FaceArray(header=image.header, detection_ok=True, faces=faces))
        assert spin_until(executor, lambda: out.messages, 10)
        result = bridge.imgmsg_to_cv2(out.messages[0])
        assert not np.array_equal(result[:40, :40], FRAME[:40, :40])


def test_detector_survives_every_bad_image():
    with ros_nodes(lambda c: DetectorNode(context=c), make_tester) as (executor, (node, test)):
        faces = Collector(test, FaceArray, 'faces')
        for sec, msg in enumerate(bad_images().values(), start=1):
            msg.header.stamp.sec = sec
            test.images.publish(msg)
            assert spin_until(executor, lambda n=sec: len(faces.messages) >= n, 10)
        assert not any(m.detection_ok for m in faces.messages)
        test.images.publish(good_image(50))
        assert spin_until(executor, lambda: faces.messages[-1].header.stamp.sec == 50, 10)
        assert faces.messages[-1].detection_ok and len(faces.messages[-1].faces) == 4
