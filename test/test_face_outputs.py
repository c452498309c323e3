"""Head pose on /face_keypoints and rviz markers on /face_markers, from both the separate
nodes and the in-process pipeline: frame_id set, one namespace per kind, the track id as id,
a lifetime so vanished faces disappear; intrinsics from camera_info when it comes."""
import math

from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_helpers import Collector, ros_nodes, spin_until
from sensor_msgs.msg import CameraInfo, Image
from test_nodes import image_msg
from visualization_msgs.msg import Marker, MarkerArray

from facekp_ros.detector_node import DetectorNode
from facekp_ros.keypoint_node import KeypointNode
from facekp_ros.msg import FaceArray
from facekp_ros.node_common import OUTPUT_QOS
from facekp_ros.pipeline_node import PipelineNode
from facekp_ros.sources import sample_frame
from facekp_ros.visualizer_node import VisualizerNode

KINDS = {'head_axes': Marker.LINE_LIST, 'gaze': Marker.ARROW, 'face_outline': Marker.LINE_LIST}


def check_markers(arrays: list, face_arrays: list, frame_id: str) -> None:
    ids_per_frame = []
    for array in arrays:
        assert array.markers
        for marker in array.markers:
            assert marker.header.frame_id == frame_id and marker.action == Marker.ADD
            assert marker.type == KINDS[marker.ns]
            assert 0 < marker.lifetime.sec + marker.lifetime.nanosec * 1e-9 <= 1.0
            assert marker.points and all(math.isfinite(p.z) for p in marker.points)
            if marker.ns != 'head_axes':  # in the camera frame: in front of the camera
                assert all(p.z > 0 for p in marker.points)
            else:  # at the head, in front of the camera
                assert marker.pose.position.z > 0
        ids_per_frame.append({(m.ns, m.id) for m in array.markers})
    tracks = {f.track_id for msg in face_arrays for f in msg.faces}
    assert {i for ids in ids_per_frame for _, i in ids} <= tracks
    assert ids_per_frame[0] == ids_per_frame[-1]  # a still scene: the same ids every frame
    assert {ns for ns, _ in ids_per_frame[0]} == set(KINDS)


def test_separate_nodes_publish_poses_and_markers():
    def tester(context):
        node = Node('tester', context=context)
        node.images = node.create_publisher(Image, 'image', OUTPUT_QOS)
        node.info = node.create_publisher(CameraInfo, 'camera_info', OUTPUT_QOS)
        return node

    with ros_nodes(lambda c: DetectorNode(context=c), lambda c: KeypointNode(context=c),
                   lambda c: VisualizerNode(context=c), tester) as (executor, nodes):
        test = nodes[-1]
        keypoints = Collector(test, FaceArray, 'face_keypoints')
        markers = Collector(test, MarkerArray, 'face_markers')
        info = CameraInfo(width=640, height=480, k=[500.0, 0, 320, 0, 500.0, 240, 0, 0, 1])
        for sec in range(1, 5):
            test.info.publish(info)
            spin_until(executor, lambda: False, 0.3)  # camera_info reaches the nodes first
            test.images.publish(image_msg(sample_frame(), sec))
            spin_until(executor, lambda n=sec: len(markers.messages) >= n, 30.0)
        assert len(markers.messages) >= 3
        check_markers(markers.messages[1:], keypoints.messages, 'cam')
        face = keypoints.messages[-1].faces[0]
        assert face.pose_valid and not face.intrinsics_default  # camera_info's K was used
        assert 0.2 < face.distance_m < 5 and face.reprojection_error_px < 5
        assert face.looking_at_camera


def test_pipeline_node_publishes_poses_and_markers_with_its_source():
    overrides = [Parameter('source', value='sample'), Parameter('max_frames', value=4),
                 Parameter('rate_hz', value=5.0), Parameter('publish_annotated', value=False)]
    with ros_nodes(lambda c: PipelineNode(context=c, parameter_overrides=overrides),
                   lambda c: Node('tester', context=c)) as (executor, (_, test)):
        keypoints = Collector(test, FaceArray, 'face_keypoints')
        markers = Collector(test, MarkerArray, 'face_markers')
        assert spin_until(executor, lambda: len(markers.messages) >= 3, 60.0)
        check_markers(markers.messages, keypoints.messages, 'camera')
        face = keypoints.messages[-1].faces[0]
        assert face.pose_valid and face.intrinsics_default  # no camera_info_file given
