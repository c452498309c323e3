"""Core Face dataclasses <-> facekp_ros messages."""
import math

import numpy as np

from facekp_ros.core.anonymize import box_is_usable
from facekp_ros.core.types import LANDMARK5_NAMES, Detections, Face
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


def face_to_msg(face: Face, keypoint_names=(), keypoint_model: str = '') -> FaceMsg:
    x, y, w, h = (float(v) for v in face.box)
    return FaceMsg(
        x=x, y=y, width=w, height=h, score=float(face.score), track_id=int(face.track_id),
        frames_since_seen=int(min(face.frames_since_seen, 65535)),
        landmarks=_points_to_msgs(face.landmarks, None, LANDMARK5_NAMES),
        keypoints=_points_to_msgs(face.keypoints, face.keypoint_scores, keypoint_names),
        keypoint_model=keypoint_model if len(face.keypoints) else '')


def face_from_msg(msg: FaceMsg) -> Face:
    landmarks, _ = _points_from_msgs(msg.landmarks)
    keypoints, scores = _points_from_msgs(msg.keypoints)
    return Face(box=(msg.x, msg.y, msg.width, msg.height), score=msg.score,
                landmarks=landmarks, track_id=msg.track_id,
                frames_since_seen=msg.frames_since_seen, keypoints=keypoints,
                keypoint_scores=scores)


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


def detections_from_msg(msg: FaceArray) -> Detections:
    """The faces of msg; a message with an unusable box counts as a failed detection, so
    whoever anonymizes with it masks the whole frame instead of guessing."""
    for kind, faces in (('face', msg.faces), ('mask_only face', msg.mask_only)):
        for index, face in enumerate(faces):
            problem = box_problem(face)
            if problem:
                return Detections([], msg.detector, ok=False,
                                  error=f'{kind} {index}: {problem}')
    return Detections(faces=[face_from_msg(f) for f in msg.faces], detector=msg.detector,
                      ok=msg.detection_ok, mask_only=[face_from_msg(f) for f in msg.mask_only])
