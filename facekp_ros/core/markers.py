"""rviz marker descriptions of faces with a head pose, as plain data (no ROS types here).

The ROS side turns each MarkerSpec into one visualization_msgs/Marker with the image's header
(so frame_id is the camera's optical frame), action ADD and the fields named alike. One
namespace per kind; the marker id is the face's track id, so a face keeps its markers from
frame to frame, and the lifetime removes those of a face that is no longer published.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from facekp_ros.core.draw import CONTOURS68
from facekp_ros.core.head_pose import FACE_MODEL68_M, face_quaternion
from facekp_ros.core.types import Face

# visualization_msgs/Marker type values.
ARROW, LINE_LIST = 0, 5
NS_HEAD_AXES, NS_GAZE, NS_OUTLINE = 'head_axes', 'gaze', 'face_outline'
AXIS_LENGTH_M, GAZE_LENGTH_M = 0.08, 0.25
LINE_WIDTH_M = 0.004
ARROW_SCALE = (0.01, 0.02, 0.03)  # shaft diameter, head diameter, head length (m)
RED, GREEN, BLUE = (1.0, 0.0, 0.0, 1.0), (0.0, 0.8, 0.0, 1.0), (0.0, 0.3, 1.0, 1.0)
LOOKING, NOT_LOOKING, OUTLINE = (0.1, 0.9, 0.1, 1.0), (1.0, 0.6, 0.0, 1.0), (0.0, 0.9, 0.9, 1.0)
IDENTITY = (0.0, 0.0, 0.0, 1.0)


@dataclass
class MarkerSpec:
    """One Marker: pose (position m, orientation x, y, z, w) in the camera optical frame,
    points (N, 3) m in the marker's pose frame, colours (N, 4) RGBA per point or (0, 4)."""

    namespace: str
    id: int
    type: int
    position: tuple
    orientation: tuple
    scale: tuple
    colour: tuple  # RGBA in [0, 1]
    lifetime_s: float
    points: np.ndarray
    colours: np.ndarray


def outline_points(face: Face) -> np.ndarray:
    """(N, 3) segment ends (LINE_LIST pairs) of the 68-point contours in the camera frame:
    each keypoint's ray at the depth the model's point has in the estimated pose."""
    pose = face.head_pose
    depth = (FACE_MODEL68_M @ pose.rotation.T + pose.translation)[:, 2]
    pixels = face.keypoints.astype(np.float64).reshape(-1, 1, 2)
    rays = cv2.undistortPoints(pixels, pose.camera_matrix, pose.distortion).reshape(-1, 2)
    points = np.column_stack([rays * depth[:, None], depth])
    ends = []
    for first, last, closed in CONTOURS68:
        index = list(range(first, last + 1)) + ([first] if closed else [])
        ends += [(a, b) for a, b in zip(index[:-1], index[1:])]
    pairs = np.array(ends).reshape(-1)
    segments = points[pairs].reshape(-1, 2, 3)
    return segments[np.isfinite(segments).all((1, 2))].reshape(-1, 3)


def face_markers(faces, lifetime_s: float = 0.5) -> list:
    """Head axes, gaze arrow and face outline for every tracked face with a head pose."""
    specs = []
    for face in faces:
        pose = face.head_pose
        if pose is None or face.track_id < 0:
            continue  # a marker needs a stable id, and a pose to place it
        position = tuple(float(v) for v in pose.translation)
        axes = np.vstack([[np.zeros(3), AXIS_LENGTH_M * e] for e in np.eye(3)])
        specs.append(MarkerSpec(NS_HEAD_AXES, face.track_id, LINE_LIST, position,
                                tuple(float(v) for v in face_quaternion(pose)),
                                (LINE_WIDTH_M, 0.0, 0.0), (1.0, 1.0, 1.0, 1.0), lifetime_s,
                                axes, np.repeat([RED, GREEN, BLUE], 2, axis=0)))
        looking = face.cues is not None and face.cues.looking_at_camera
        tip = pose.translation + GAZE_LENGTH_M * pose.rotation[:, 0]
        specs.append(MarkerSpec(NS_GAZE, face.track_id, ARROW, (0.0, 0.0, 0.0), IDENTITY,
                                ARROW_SCALE, LOOKING if looking else NOT_LOOKING, lifetime_s,
                                np.vstack([pose.translation, tip]), np.zeros((0, 4))))
        if face.keypoints.shape == (68, 2) and pose.camera_matrix is not None:
            specs.append(MarkerSpec(NS_OUTLINE, face.track_id, LINE_LIST, (0.0, 0.0, 0.0),
                                    IDENTITY, (LINE_WIDTH_M / 2, 0.0, 0.0), OUTLINE,
                                    lifetime_s, outline_points(face), np.zeros((0, 4))))
    return specs
