"""Expression and attention cues per face from its 68 keypoints and head pose.

Eye openness: the eye aspect ratio (Soukupova and Cech, "Real-time eye blink detection using
facial landmarks", CVWW 2016: the two lid distances over twice the corner distance) divided
by TYPICAL_OPEN_EAR, the median over the labelled faces68/train eyes, so 1 is a typical open
eye and 0 a closed one. Mouth openness: the mean inner-lip gap over the mouth-corner
distance (0: lips together). Looking at the camera: the head's forward axis within
looking_cone_deg of the ray from the face to the camera (head pose only, not the eyes).

No blink events: see README "Head pose and cues" for what was measured and why.
"""
import math
from dataclasses import replace

import numpy as np

from facekp_ros.core.checks import check_range
from facekp_ros.core.head_pose import attention_angle_deg
from facekp_ros.core.smoothing import OneEuro, TrackFilters
from facekp_ros.core.types import Face, FaceCues

# Median eye aspect ratio of the 6924 labelled eyes of faces68/train (bench/bench_head_pose.py).
TYPICAL_OPEN_EAR = 0.266
RIGHT_EYE, LEFT_EYE = 36, 42  # first of each eye's six points (subject's own sides)


def eye_aspect_ratio(eye) -> float:
    """(|p1 - p5| + |p2 - p4|) / (2 |p0 - p3|) of one eye's six points (iBUG order)."""
    width = math.dist(eye[0], eye[3])
    if not width > 0:
        return math.nan
    return (math.dist(eye[1], eye[5]) + math.dist(eye[2], eye[4])) / (2 * width)


def eye_openness(keypoints) -> tuple:
    """(right, left) eye aspect ratios over TYPICAL_OPEN_EAR; NaN for a lost point."""
    return tuple(eye_aspect_ratio(keypoints[first:first + 6]) / TYPICAL_OPEN_EAR
                 for first in (RIGHT_EYE, LEFT_EYE))


def mouth_openness(keypoints) -> float:
    """Mean inner-lip gap (61-67, 62-66, 63-65) over the mouth-corner distance (48-54)."""
    width = math.dist(keypoints[48], keypoints[54])
    if not width > 0:
        return math.nan
    gaps = [math.dist(keypoints[a], keypoints[b]) for a, b in ((61, 67), (62, 66), (63, 65))]
    return sum(gaps) / (3 * width)


def raw_cues(face: Face) -> np.ndarray | None:
    """(4, 1): right eye, left eye, mouth openness and attention angle (rad, NaN: no pose);
    None without 68 keypoints."""
    if face.keypoints.shape != (68, 2):
        return None
    points = face.keypoints.tolist()  # math.dist on lists: ~10x faster than on numpy rows
    angle = (math.radians(attention_angle_deg(face.head_pose)) if face.head_pose
             else math.nan)
    return np.array([*eye_openness(points), mouth_openness(points), angle]).reshape(4, 1)


class CueEstimator(TrackFilters):
    """apply(faces, t_s) -> faces with cues, smoothed per track id with a One-Euro filter.

    looking_cone_deg: half-angle of the cone around the ray to the camera within which the
    head counts as turned to the camera. min_cutoff (Hz) and beta (per unit/s) as in
    smoothing.py; smooth=False gives the raw values. Faces without a track id or held over
    get raw values and leave the filters alone; a track unseen for forget_after_s starts over.
    """

    def __init__(self, looking_cone_deg: float = 20.0, smooth: bool = True,
                 min_cutoff: float = 1.5, beta: float = 0.5, forget_after_s: float = 1.0):
        check_range('looking_cone_deg', looking_cone_deg, (0, 90), low_open=True)
        super().__init__(min_cutoff, beta, 1.0, forget_after_s)
        self.looking_cone_deg, self.smooth = looking_cone_deg, smooth

    def _filtered(self, face: Face, t_s: float) -> Face:
        values = raw_cues(face)
        if values is None:
            return replace(face, cues=None)
        if self.smooth and face.track_id >= 0 and not face.frames_since_seen:
            smoother = self._filters.setdefault(face.track_id, OneEuro(*self.params))
            values = smoother(values, t_s)
        right, left, mouth, angle = (float(v) for v in values[:, 0])
        angle_deg = math.degrees(angle)
        return replace(face, cues=FaceCues(right, left, mouth, angle_deg,
                                           bool(angle_deg <= self.looking_cone_deg)))
