"""image_transport's conventions: '<image>/compressed' in, '<output>/compressed' out, with the
format strings rviz2 and rqt_image_view decode; the anonymized stream compressed after hiding."""
import cv2
import numpy as np
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy
from ros_helpers import Collector, ros_nodes, spin_until
from sensor_msgs.msg import CompressedImage, Image

from facekp_ros import image_bridge as bridge
from facekp_ros.anonymizer_node import AnonymizerNode
from facekp_ros.camera_node import CameraNode
from facekp_ros.core.image_codec import decode, decode_compressed, encode_transport
from facekp_ros.detector_node import DetectorNode
from facekp_ros.msg import FaceArray
from facekp_ros.node_common import OUTPUT_QOS
from facekp_ros.pipeline_node import PipelineNode
from facekp_ros.sources import sample_frame

# Detection's frame deadline is not under test: a loaded machine must not fail a frame.
NO_DEADLINE = Parameter('detection_timeout_ms', value=60000.0)


def _frame(encoding: str) -> np.ndarray:
    bgr = sample_frame()
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return {'bgr8': bgr, 'rgb8': bgr[..., ::-1].copy(), 'mono8': grey,
            'mono16': grey.astype(np.uint16) * 257,
            '32FC1': grey.astype(np.float32) / 255}[encoding]


@pytest.mark.parametrize('encoding, expected', [
    ('bgr8', 'bgr8; {} compressed bgr8'), ('rgb8', 'rgb8; {} compressed bgr8'),
    ('mono8', 'mono8; {} compressed '), ('mono16', 'bgr8; {} compressed bgr8'),
    ('32FC1', 'bgr8; {} compressed bgr8')])
@pytest.mark.parametrize('codec', ['jpeg', 'png'])
def test_compressed_outputs_carry_image_transports_format_strings(encoding, expected, codec):
    """The strings image_transport's compressed publisher writes and its subscriber (used by
    rviz2 and rqt_image_view) parses: '<encoding>; <codec> compressed <payload order>'."""
    image = decode(bridge.cv2_to_imgmsg(_frame(encoding), encoding))
    image_format, data = encode_transport(image, codec, jpeg_quality=90, png_level=3)
    assert image_format == expected.format(codec)
    decoded = decode_compressed(CompressedImage(format=image_format, data=data.tobytes()))
    shown = image.pixels if encoding == 'mono8' else image.bgr8
    assert decoded.pixels.shape == shown.shape
    error = np.abs(decoded.pixels.astype(int) - shown).mean()
    assert error == 0 if codec == 'png' else 0 < error < 3


def test_a_compressed_camera_through_detector_and_anonymizer_hides_every_face():
    """camera_node publishes image_raw/compressed (JPEG); detector and anonymizer subscribe to
    it through the remapped base name 'image', as image_transport does; image_anonymized and
    image_anonymized/compressed both show the faces hidden, compressed from the same frame."""
    remap = ['--ros-args', '-r', 'image:=image_raw']
    compressed_in = [Parameter('image_transport', value='compressed')]
    with ros_nodes(
            lambda c: CameraNode(context=c, parameter_overrides=[
                Parameter('rate_hz', value=4.0), Parameter('compressed_format', value='jpeg'),
                Parameter('jpeg_quality', value=95)]),
            lambda c: DetectorNode(context=c, cli_args=remap, parameter_overrides=[
                *compressed_in, NO_DEADLINE]),
            lambda c: AnonymizerNode(context=c, cli_args=remap, parameter_overrides=[
                *compressed_in, Parameter('compressed_format', value='png'),
                Parameter('max_wait_s', value=5.0)]),  # nor the wait for faces
            lambda c: Node('tester', context=c)) as (executor, (*_, test)):
        camera = Collector(test, CompressedImage, 'image_raw/compressed')
        faces = Collector(test, FaceArray, 'faces')
        raw_out = Collector(test, Image, 'image_anonymized')
        compressed_out = Collector(test, CompressedImage, 'image_anonymized/compressed')
        assert spin_until(executor, lambda: len(compressed_out.messages) >= 2
                          and len(raw_out.messages) >= 2, 60.0)
    assert camera.messages[0].format == 'bgr8; jpeg compressed bgr8'

    def stamp(message):
        return message.header.stamp.sec, message.header.stamp.nanosec

    # The newest compressed frame whose raw twin and faces have arrived too (each topic is
    # its own stream: the last message of one may still be on its way on another).
    out = next(m for m in reversed(compressed_out.messages)
               if stamp(m) in {stamp(r) for r in raw_out.messages}
               and stamp(m) in {stamp(f) for f in faces.messages})
    assert out.format == 'bgr8; png compressed bgr8'
    [raw] = [m for m in raw_out.messages if stamp(m) == stamp(out)]
    [found] = [m for m in faces.messages if stamp(m) == stamp(out)]
    assert found.detection_ok and len(found.faces) == 4
    shown = decode_compressed(out).pixels
    assert np.array_equal(shown, bridge.imgmsg_to_cv2(raw))  # PNG: the very pixels hidden
    original = sample_frame()
    for face in found.faces:
        x, y = int(face.x), int(face.y)
        region = np.s_[y:y + int(face.height), x:x + int(face.width)]
        assert np.abs(shown[region].astype(int) - original[region]).mean() > 15
    assert np.abs(shown[:40].astype(int) - original[:40]).mean() < 3  # JPEG noise only


def test_pipeline_node_reads_a_compressed_image_and_publishes_both_outputs_compressed():
    def make_tester(context):
        node = Node('tester', context=context)
        node.images = node.create_publisher(CompressedImage, 'image/compressed', OUTPUT_QOS)
        return node

    overrides = [Parameter('image_transport', value='compressed'),
                 Parameter('compressed_format', value='jpeg')]
    with ros_nodes(lambda c: PipelineNode(context=c, parameter_overrides=overrides),
                   make_tester) as (executor, (_, test)):
        outputs = {topic: Collector(test, CompressedImage, f'{topic}/compressed')
                   for topic in ('image_anonymized', 'image_annotated')}
        raw = Collector(test, Image, 'image_anonymized')
        frame = bridge.cv2_to_compressed_imgmsg(sample_frame(), 'bgr8; jpeg compressed bgr8')
        frame.header.stamp.sec = 7
        assert spin_until(executor, lambda: test.count_subscribers('image/compressed'), 10.0)
        test.images.publish(frame)
        assert spin_until(executor, lambda: all(c.messages for c in outputs.values())
                          and raw.messages, 30.0)
    for collector in outputs.values():
        msg = collector.messages[0]
        assert (msg.format, msg.header.stamp.sec) == ('bgr8; jpeg compressed bgr8', 7)
        assert decode_compressed(msg).pixels.shape == (480, 640, 3)
    assert raw.messages[0].encoding == 'bgr8' and raw.messages[0].header.stamp.sec == 7


def test_qos_parameters_set_the_image_subscription_and_the_outputs():
    overrides = [Parameter('input_reliability', value='reliable'),
                 Parameter('input_depth', value=3), Parameter('output_depth', value=20),
                 Parameter('compressed_format', value='jpeg')]
    with ros_nodes(lambda c: AnonymizerNode(context=c, parameter_overrides=overrides),
                   lambda c: Node('tester', context=c)) as (executor, (anonymizer, test)):
        [image] = [s for s in anonymizer.subscriptions if s.topic_name == '/image']
        assert (image.qos_profile.reliability, image.qos_profile.depth) == \
            (ReliabilityPolicy.RELIABLE, 3)
        outputs = [p for p in anonymizer.publishers if 'image_anonymized' in p.topic_name]
        assert sorted(p.topic_name for p in outputs) == ['/image_anonymized',
                                                         '/image_anonymized/compressed']
        assert {(p.qos_profile.reliability, p.qos_profile.depth) for p in outputs} == \
            {(ReliabilityPolicy.RELIABLE, 20)}
        # What a remote subscriber sees: a reliable 'image' subscription, found by discovery.
        assert spin_until(executor, lambda: test.get_subscriptions_info_by_topic('/image'), 10)
        assert test.get_subscriptions_info_by_topic('/image')[0].qos_profile.reliability == \
            ReliabilityPolicy.RELIABLE
    with ros_nodes(lambda c: DetectorNode(context=c)) as (_, (detector,)):
        [image] = [s for s in detector.subscriptions if s.topic_name == '/image']
        assert (image.qos_profile.reliability, image.qos_profile.depth) == \
            (ReliabilityPolicy.BEST_EFFORT, 1)
