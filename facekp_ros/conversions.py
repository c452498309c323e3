"""Core Face dataclasses <-> facekp_ros messages."""
import math

import numpy as np
from geometry_msgs.msg import Point, Pose, Quaternion

from facekp_ros.core.anonymize import box_is_usable
from facekp_ros.core.head_pose import (
    Intrinsics,
    default_intrinsics,
    face_quaternion,
    yaw_pitch_roll_deg,
)
from facekp_ros.core.types import LANDMARK5_NAMES, Detections, Face, FaceCues, HeadPose
from facekp_ros.msg import Face as FaceMsg
from facekp_ros.msg import FaceArray, Keypoint2D


def stamp_key(header) -> tuple:
    """A hashable key that pairs an image with the faces found in it."""
    return (header.stamp.sec, header.stamp.nanosec, header.frame_id)


def _points_to_msgs(points: np.ndarray, scores, names) -> list:
    msgs = []
    for index, (x, y) in enumerate(points):
        found = math.isfinite(x) and math.isfinite(y)
        score = float(scores[index]) if found and scores is not None else float(found)
        name = names[index] if index < len(names) else f'point_{index:02d}'
        msgs.append(Keypoint2D(name=name, index=index, x=float(x), y=float(y),
                               score=score if found else 0.0))
    return msgs


def _points_from_msgs(msgs) -> tuple:
    points = np.array([(p.x, p.y) if p.score > 0 else (np.nan, np.nan) for p in msgs],
                      np.float32).reshape(-1, 2)
    scores = np.array([p.score for p in msgs], np.float32)
    return points, scores


def _pose_fields(pose: HeadPose | None) -> dict:
    if pose is None:
        nan = math.nan
        return dict(pose_valid=False, yaw_deg=nan, pitch_deg=nan, roll_deg=nan,
                    reprojection_error_px=nan, distance_m=nan, intrinsics_default=False)
    x, y, z = (float(v) for v in pose.translation)
    qx, qy, qz, qw = (float(v) for v in face_quaternion(pose))
    yaw, pitch, roll = yaw_pitch_roll_deg(pose.rotation)
    return dict(pose_valid=True, head_pose=Pose(position=Point(x=x, y=y, z=z),
                                                orientation=Quaternion(x=qx, y=qy, z=qz, w=qw)),
                yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll,
                reprojection_error_px=pose.reprojection_error_px, distance_m=pose.distance_m,
                intrinsics_default=pose.intrinsics_default)


def _cue_fields(cues: FaceCues | None) -> dict:
    if cues is None:
        return dict(right_eye_openness=math.nan, left_eye_openness=math.nan,
                    mouth_openness=math.nan, attention_angle_deg=math.nan,
                    looking_at_camera=False)
    return dict(right_eye_openness=cues.right_eye_openness,
                left_eye_openness=cues.left_eye_openness, mouth_openness=cues.mouth_openness,
                attention_angle_deg=cues.attention_angle_deg,
                looking_at_camera=cues.looking_at_camera)


def face_to_msg(face: Face, keypoint_names=(), keypoint_model: str = '') -> FaceMsg:
    x, y, w, h = (float(v) for v in face.box)
    return FaceMsg(
        x=x, y=y, width=w, height=h, score=float(face.score), track_id=int(face.track_id),
        frames_since_seen=int(min(face.frames_since_seen, 65535)),
        landmarks=_points_to_msgs(face.landmarks, None, LANDMARK5_NAMES),
        keypoints=_points_to_msgs(face.keypoints, face.keypoint_scores, keypoint_names),
        keypoint_model=keypoint_model if len(face.keypoints) else '',
        **_pose_fields(face.head_pose), **_cue_fields(face.cues))


def _pose_from_msg(msg: FaceMsg, intrinsics: Intrinsics | None) -> HeadPose | None:
    if not msg.pose_valid:
        return None
    p, q = msg.head_pose.position, msg.head_pose.orientation
    x, y, z, w = q.x, q.y, q.z, q.w
    rotation = np.array([  # unit quaternion -> rotation matrix
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    k = intrinsics.camera_matrix if intrinsics else None
    d = intrinsics.distortion if intrinsics else None
    return HeadPose(rotation, np.array([p.x, p.y, p.z]), msg.reprojection_error_px, k, d,
                    msg.intrinsics_default)


def face_from_msg(msg: FaceMsg, intrinsics: Intrinsics | None = None) -> Face:
    """The Face of msg. intrinsics: the camera the pose was solved with, needed only to
    draw or back-project it (the message does not carry it)."""
    landmarks, _ = _points_from_msgs(msg.landmarks)
    keypoints, scores = _points_from_msgs(msg.keypoints)
    openness = (msg.right_eye_openness, msg.left_eye_openness, msg.mouth_openness,
                msg.attention_angle_deg)
    cues = (FaceCues(*openness, msg.looking_at_camera)
            if msg.looking_at_camera or any(math.isfinite(v) for v in openness) else None)
    return Face(box=(msg.x, msg.y, msg.width, msg.height), score=msg.score,
                landmarks=landmarks, track_id=msg.track_id,
                frames_since_seen=msg.frames_since_seen, keypoints=keypoints,
                keypoint_scores=scores, head_pose=_pose_from_msg(msg, intrinsics), cues=cues)


def face_array_msg(header, image_shape, detections: Detections,
                   keypoint_names=(), keypoint_model: str = '') -> FaceArray:
    """The FaceArray for one image; header is the source image's, copied unchanged."""
    return FaceArray(
        header=header, image_height=int(image_shape[0]), image_width=int(image_shape[1]),
        detector=detections.detector, detection_ok=bool(detections.ok),
        faces=[face_to_msg(f, keypoint_names, keypoint_model) for f in detections.faces],
        mask_only=[face_to_msg(f) for f in detections.mask_only])


def box_problem(face: FaceMsg) -> str:
    """'' for a usable box, else what is wrong with it."""
    values = (face.x, face.y, face.width, face.height)
    if not box_is_usable(values):
        return f'non-finite or absurd box {values}'
    if face.width < 0 or face.height < 0:
        return f'negative box size {face.width} x {face.height}'
    return ''


def detections_from_msg(msg: FaceArray, intrinsics: Intrinsics | None = None) -> Detections:
    """The faces of msg; a message with an unusable box counts as a failed detection, so
    whoever anonymizes with it masks the whole frame instead of guessing. Head poses get
    intrinsics (the CameraInfo's), else the default for the message's image size."""
    for kind, faces in (('face', msg.faces), ('mask_only face', msg.mask_only)):
        for index, face in enumerate(faces):
            problem = box_problem(face)
            if problem:
                return Detections([], msg.detector, ok=False,
                                  error=f'{kind} {index}: {problem}')
    if intrinsics is None and msg.image_width and msg.image_height:
        intrinsics = default_intrinsics(msg.image_width, msg.image_height)
    return Detections(faces=[face_from_msg(f, intrinsics) for f in msg.faces],
                      detector=msg.detector, ok=msg.detection_ok,
                      mask_only=[face_from_msg(f) for f in msg.mask_only])
