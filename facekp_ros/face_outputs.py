"""What a robot sees of each face besides the messages: rviz markers on 'face_markers' and TF
frames face_<track id> / gaze_<track id> (the ROS4HRI naming), from the faces' head poses.
Also the camera intrinsics those poses are solved with, from 'camera_info'."""
import threading

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Quaternion, TransformStamped
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from facekp_ros.core.head_pose import face_quaternion, gaze_quaternion, intrinsics_from_k
from facekp_ros.core.markers import face_markers
from facekp_ros.node_common import OUTPUT_QOS, SENSOR_QOS


def _duration(seconds: float) -> Duration:
    return Duration(sec=int(seconds), nanosec=int(round((seconds % 1) * 1e9)))


def marker_msg(spec, header) -> Marker:
    marker = Marker(header=header, ns=spec.namespace, id=int(spec.id), type=spec.type,
                    action=Marker.ADD, lifetime=_duration(spec.lifetime_s),
                    color=ColorRGBA(r=spec.colour[0], g=spec.colour[1], b=spec.colour[2],
                                    a=spec.colour[3]),
                    points=[Point(x=float(x), y=float(y), z=float(z)) for x, y, z in spec.points],
                    colors=[ColorRGBA(r=float(r), g=float(g), b=float(b), a=float(a))
                            for r, g, b, a in spec.colours])
    marker.pose.position = Point(x=spec.position[0], y=spec.position[1], z=spec.position[2])
    x, y, z, w = spec.orientation
    marker.pose.orientation = Quaternion(x=x, y=y, z=z, w=w)
    marker.scale.x, marker.scale.y, marker.scale.z = (float(v) for v in spec.scale)
    return marker


def _transforms(header, faces) -> list:
    transforms = []
    for face in faces:
        if face.head_pose is None or face.track_id < 0:
            continue
        for prefix, quaternion in (('face', face_quaternion), ('gaze', gaze_quaternion)):
            transform = TransformStamped(header=header, child_frame_id=f'{prefix}_{face.track_id}')
            x, y, z = (float(v) for v in face.head_pose.translation)
            transform.transform.translation.x = x
            transform.transform.translation.y = y
            transform.transform.translation.z = z
            qx, qy, qz, qw = (float(v) for v in quaternion(face.head_pose))
            transform.transform.rotation = Quaternion(x=qx, y=qy, z=qz, w=qw)
            transforms.append(transform)
    return transforms


def tf_broadcaster(node):
    """A tf2_ros TransformBroadcaster, or None (with one log line) where tf2_ros is missing:
    the PyPI wheels carry no tf2."""
    try:
        from tf2_ros import TransformBroadcaster
    except ImportError:
        node.get_logger().info('tf2_ros is not installed: no TF frames face_<id> / gaze_<id> '
                               '(face_markers and face_keypoints carry the same poses)')
        return None
    return TransformBroadcaster(node)


class FaceOutputs:
    """Publishes the markers (and TF frames) of the faces of each frame."""

    def __init__(self, node, publish_tf: bool, lifetime_s: float):
        self._markers = node.output_publisher(MarkerArray, 'face_markers', OUTPUT_QOS)
        self._tf = tf_broadcaster(node) if publish_tf else None
        self.lifetime_s = lifetime_s  # of each marker in rviz; may change at run time

    def publish(self, header, faces) -> None:
        specs = face_markers(faces, self.lifetime_s)
        self._markers.publish(MarkerArray(markers=[marker_msg(s, header) for s in specs]))
        if self._tf is not None:
            transforms = _transforms(header, faces)
            if transforms:
                self._tf.sendTransform(transforms)


class CameraInfoInput:
    """The newest CameraInfo on 'camera_info', as head-pose intrinsics for images of its
    size (None before one arrives, or for other sizes: the pose then uses the default)."""

    def __init__(self, node):
        self._lock = threading.Lock()
        self._latest = None
        self._problem = ''
        self._log = node.get_logger()
        node.create_subscription(CameraInfo, 'camera_info', self._on_info, SENSOR_QOS)

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            intrinsics = (intrinsics_from_k(msg.k, msg.d), msg.width, msg.height)
        except ValueError as error:
            if str(error) != self._problem:
                self._log.error(f'camera_info ignored: {error}')
                self._problem = str(error)
            return
        with self._lock:
            self._latest = intrinsics

    def intrinsics(self, width: int, height: int):
        with self._lock:
            latest = self._latest
        if latest is None or (latest[1], latest[2]) != (width, height):
            return None
        return latest[0]
