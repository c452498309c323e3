"""Head pose per face from its 68 keypoints: cv2.solvePnP against a 3D face model.

Frames. Camera: the optical frame of the image (x right, y down, z forward). Face: REP-155's
face_<id> frame (origin at the sellion, x out of the face, y to the subject's left, z up); the
model and its derivation are in face_model68.py. Gaze: REP-155's gaze_<id> frame at the same
origin, z along the face's x, x to the subject's right, y down (the optical convention).

Angles (degrees, yaw_pitch_roll_deg): the face frame's rotation from "facing the camera,
upright" (x along -z of the camera, z along -y), as ROS roll-pitch-yaw about the face's own
axes (REP-103): yaw > 0 turns to the subject's left (towards the image's right), pitch > 0
looks down, roll > 0 tilts the head towards the subject's right shoulder.
"""
import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from facekp_ros.core.checks import check_range
from facekp_ros.core.face_model68 import FACE_MODEL68_MM
from facekp_ros.core.types import HeadPose

FACE_MODEL68_M = FACE_MODEL68_MM / 1000.0
# Jaw, brows, nose, eyes, mouth corners and upper lip; the lower lip and the inner mouth are
# left out (they move with speech). The jaw stays although iBUG marks its silhouette: with
# it, the mean yaw difference to the FaceMesh reference (as in bench/bench_head_pose.py, but
# on faces68/train, where the set was chosen; labelled points) fell from 3.7 to 2.6 deg.
POSE_POINTS = tuple(range(55))
MIN_POINTS = 6
# The face frame at rest, facing the camera upright: columns are the face's x, y, z in camera
# coordinates.
FACING_CAMERA = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]])
# Columns: the gaze frame's x, y, z in face coordinates (REP-155).
FACE_TO_GAZE = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
# Default camera when no CameraInfo is known: fx = fy = DEFAULT_FOCAL_PER_WIDTH x image width
# (53 deg horizontal field of view), principal point at the image centre, no distortion.
DEFAULT_FOCAL_PER_WIDTH = 1.0


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera: camera_matrix K (3, 3), OpenCV distortion coefficients, and whether
    it is a default made from the image size rather than a calibration."""

    camera_matrix: np.ndarray
    distortion: np.ndarray
    is_default: bool = False


def default_intrinsics(width: int, height: int) -> Intrinsics:
    """K with fx = fy = width (DEFAULT_FOCAL_PER_WIDTH) and the principal point at the centre."""
    if not (width > 0 and height > 0):
        raise ValueError(f'image size {width} x {height} must be positive')
    f = DEFAULT_FOCAL_PER_WIDTH * width
    k = np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
    return Intrinsics(k, np.zeros(5), is_default=True)


def intrinsics_from_k(k, d=()) -> Intrinsics:
    """From a CameraInfo-like row-major K (9 values) and distortion D (plumb_bob or
    rational_polynomial order, as OpenCV uses); raises ValueError for an unusable K."""
    k = np.asarray(k, np.float64).reshape(-1)
    if k.size != 9 or not np.isfinite(k).all() or k[0] <= 0 or k[4] <= 0:
        raise ValueError(f'camera matrix K={k.tolist()} is not a calibration (fx, fy > 0, '
                         '9 finite values); leave camera_info unset to use the default')
    d = np.asarray(d, np.float64).reshape(-1)
    d = d if d.size and np.isfinite(d).all() else np.zeros(5)
    return Intrinsics(k.reshape(3, 3), d, is_default=False)


def rotation_to_quaternion(r: np.ndarray) -> np.ndarray:
    """(x, y, z, w) unit quaternion of a rotation matrix, w >= 0 (geometry_msgs order)."""
    w = math.sqrt(max(0.0, 1 + r[0, 0] + r[1, 1] + r[2, 2])) / 2
    x = math.copysign(math.sqrt(max(0.0, 1 + r[0, 0] - r[1, 1] - r[2, 2])) / 2, r[2, 1] - r[1, 2])
    y = math.copysign(math.sqrt(max(0.0, 1 - r[0, 0] + r[1, 1] - r[2, 2])) / 2, r[0, 2] - r[2, 0])
    z = math.copysign(math.sqrt(max(0.0, 1 - r[0, 0] - r[1, 1] + r[2, 2])) / 2, r[1, 0] - r[0, 1])
    q = np.array([x, y, z, w])
    return q / np.linalg.norm(q)


def yaw_pitch_roll_deg(rotation: np.ndarray) -> tuple:
    """(yaw, pitch, roll) of a face rotation, as the module docstring defines them."""
    r = FACING_CAMERA.T @ rotation  # = Rz(yaw) Ry(pitch) Rx(roll)
    yaw = math.atan2(r[1, 0], r[0, 0])
    pitch = math.asin(max(-1.0, min(1.0, -r[2, 0])))
    roll = math.atan2(r[2, 1], r[2, 2])
    return tuple(math.degrees(a) for a in (yaw, pitch, roll))


def rotation_from_yaw_pitch_roll(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The face rotation (face -> camera) for angles in degrees; inverse of yaw_pitch_roll_deg."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    return FACING_CAMERA @ rz @ ry @ rx


def attention_angle_deg(pose: HeadPose) -> float:
    """Angle between the face's forward axis and the ray from the face to the camera."""
    cosine = -float(pose.rotation[:, 0] @ pose.translation) / pose.distance_m
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


def project(pose: HeadPose, points_face_m: np.ndarray) -> np.ndarray:
    """(N, 2) pixels of (N, 3) points given in the face frame, in metres."""
    rvec, _ = cv2.Rodrigues(pose.rotation)
    pixels, _ = cv2.projectPoints(np.asarray(points_face_m, np.float64).reshape(-1, 1, 3),
                                  rvec, pose.translation, pose.camera_matrix, pose.distortion)
    return pixels.reshape(-1, 2)


class HeadPoseEstimator:
    """estimate(keypoints, intrinsics) -> HeadPose or None; apply(faces, ...) for a frame.

    max_error_ratio: a fit whose RMS reprojection error exceeds this fraction of the
    keypoints' outer-eye-corner distance is rejected (the keypoints do not look like a face).
    """

    def __init__(self, max_error_ratio: float = 0.15, points=POSE_POINTS):
        check_range('max_error_ratio', max_error_ratio, (0, math.inf), low_open=True)
        self.max_error_ratio = max_error_ratio
        self.points = np.asarray(points, np.intp)
        self.model = np.ascontiguousarray(FACE_MODEL68_M[self.points])

    def estimate(self, keypoints: np.ndarray, intrinsics: Intrinsics) -> HeadPose | None:
        """None when the keypoints are not 68 points, too few of them are finite, the solver
        fails, or the result is behind the camera, faces away from it or fits badly."""
        keypoints = np.asarray(keypoints, np.float64)
        if keypoints.shape != (68, 2):
            return None
        image = keypoints[self.points]
        usable = np.isfinite(image).all(1)
        if usable.sum() < MIN_POINTS:
            return None
        image, model = image[usable], self.model[usable]
        k, d = intrinsics.camera_matrix, intrinsics.distortion
        try:
            # SQPnP finds the global minimum; a Levenberg-Marquardt refinement after it changed
            # the synthetic errors by < 0.01 deg for twice the time, so there is none.
            ok, rvec, tvec = cv2.solvePnP(model, image, k, d, flags=cv2.SOLVEPNP_SQPNP)
            if not ok:
                return None
            projected, _ = cv2.projectPoints(model, rvec, tvec, k, d)
        except cv2.error:  # degenerate input, e.g. every point in one place
            return None
        error = math.sqrt(((projected.reshape(-1, 2) - image) ** 2).sum(1).mean())
        eye_span = math.dist(keypoints[36], keypoints[45])
        if not error <= self.max_error_ratio * eye_span:
            return None  # a bad fit, no finite result, or the eye corners lost (NaN span)
        rotation, _ = cv2.Rodrigues(rvec)
        pose = HeadPose(rotation, tvec.reshape(3), error, k, d, intrinsics.is_default)
        if pose.translation[2] <= 0 or attention_angle_deg(pose) >= 90:
            return None  # behind the camera, or turned away from it: not a seen face
        return pose

    def apply(self, faces: list, image_shape, intrinsics: Intrinsics | None = None) -> list:
        """faces with head_pose set (new Face objects); intrinsics default from image_shape."""
        if intrinsics is None:
            intrinsics = default_intrinsics(image_shape[1], image_shape[0])
        return [replace(f, head_pose=self.estimate(f.keypoints, intrinsics))
                if len(f.keypoints) else f for f in faces]


def face_quaternion(pose: HeadPose) -> np.ndarray:
    """(x, y, z, w) of the face_<id> frame in the camera frame."""
    return rotation_to_quaternion(pose.rotation)


def gaze_quaternion(pose: HeadPose) -> np.ndarray:
    """(x, y, z, w) of the gaze_<id> frame in the camera frame (REP-155, from the head)."""
    return rotation_to_quaternion(pose.rotation @ FACE_TO_GAZE)
