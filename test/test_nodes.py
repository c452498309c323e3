"""Nodes in-process over real DDS on loopback: headers copied, fail-closed anonymizer."""
import numpy as np
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_helpers import Collector, ros_nodes, spin_until
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from facekp_ros import image_bridge as bridge
from facekp_ros.anonymizer_node import AnonymizerNode
from facekp_ros.detector_node import DetectorNode
from facekp_ros.keypoint_node import KeypointNode
from facekp_ros.msg import Face, FaceArray
from facekp_ros.node_common import OUTPUT_QOS
from facekp_ros.sources import sample_frame


def image_msg(frame, sec: int) -> Image:
    msg = bridge.cv2_to_imgmsg(frame, 'bgr8', Header(frame_id='cam'))
    msg.header.stamp.sec = sec
    return msg


def make_tester(context):
    node = Node('tester', context=context)
    node.images = node.create_publisher(Image, 'image', OUTPUT_QOS)
    node.faces = node.create_publisher(FaceArray, 'faces', OUTPUT_QOS)
    return node


def test_detector_and_keypoint_nodes_publish_faces_with_the_source_header():
    with ros_nodes(lambda c: DetectorNode(context=c), lambda c: KeypointNode(context=c),
                   make_tester) as (executor, (_, _, test)):
        faces = Collector(test, FaceArray, 'faces')
        keypoints = Collector(test, FaceArray, 'face_keypoints')
        frame = sample_frame()
        for sec in range(1, 4):
            test.images.publish(image_msg(frame, sec))
            spin_until(executor, lambda n=sec: len(keypoints.messages) >= n, 20.0)
        assert len(faces.messages) == 3 and len(keypoints.messages) == 3
        msg = keypoints.messages[-1]
        assert (msg.header.stamp.sec, msg.header.frame_id) == (3, 'cam')
        assert msg.detection_ok and len(msg.faces) == 4 and msg.detector == 'retinaface'
        assert {len(f.keypoints) for f in msg.faces} == {68}
        assert msg.faces[0].keypoints[30].name == 'nose_bridge_3'
        ids = {f.track_id for f in faces.messages[0].faces}
        assert {f.track_id for f in msg.faces} == ids and len(ids) == 4


def test_detector_answers_a_bad_image_with_detection_failed():
    with ros_nodes(lambda c: DetectorNode(context=c), make_tester) as (executor, (_, test)):
        faces = Collector(test, FaceArray, 'faces')
        bad = image_msg(sample_frame(), 5)
        bad.encoding = 'no_such_encoding'
        test.images.publish(bad)
        assert spin_until(executor, lambda: faces.messages, 20.0)
        assert not faces.messages[0].detection_ok and faces.messages[0].header.stamp.sec == 5


def test_anonymizer_masks_frames_whose_faces_never_come_and_hides_faces_otherwise():
    overrides = [Parameter('max_wait_s', value=0.3)]
    with ros_nodes(lambda c: AnonymizerNode(context=c, parameter_overrides=overrides),
                   make_tester) as (executor, (anonymizer, test)):
        out = Collector(test, Image, 'image_anonymized')
        frame = sample_frame()
        # No detector running: the frame must come out fully masked, never raw.
        test.images.publish(image_msg(frame, 1))
        assert spin_until(executor, lambda: out.messages, 10.0)
        masked = bridge.imgmsg_to_cv2(out.messages[0])
        assert out.messages[0].header.stamp.sec == 1 and (masked == 0).all()
        # With its faces, only the face is hidden.
        face = Face(x=107.0, y=76.0, width=112.0, height=140.0, score=1.0)
        test.images.publish(image_msg(frame, 2))
        test.faces.publish(FaceArray(header=image_msg(frame, 2).header, detection_ok=True,
                                     faces=[face], image_width=640, image_height=480))
        assert spin_until(executor, lambda: len(out.messages) >= 2, 10.0)
        hidden = bridge.imgmsg_to_cv2(out.messages[1])
        assert out.messages[1].header.stamp.sec == 2
        assert np.abs(hidden[76:216, 107:219].astype(int) - frame[76:216, 107:219]).mean() > 15
        assert np.array_equal(hidden[:, 400:], frame[:, 400:])
        # A failed detection also masks everything.
        test.images.publish(image_msg(frame, 3))
        test.faces.publish(FaceArray(header=image_msg(frame, 3).header, detection_ok=False))
        assert spin_until(executor, lambda: len(out.messages) >= 3, 10.0)
        assert (bridge.imgmsg_to_cv2(out.messages[2]) == 0).all()
        assert anonymizer.masked_frames == 2
