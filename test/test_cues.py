"""Eye and mouth openness, looking at the camera, and their smoothing per track."""
import math

import numpy as np
import pytest

from facekp_ros.core.cues import (
    TYPICAL_OPEN_EAR,
    CueEstimator,
    eye_aspect_ratio,
    eye_openness,
    mouth_openness,
)
from facekp_ros.core.head_pose import (
    FACE_MODEL68_M,
    default_intrinsics,
    project,
    rotation_from_yaw_pitch_roll,
)
from facekp_ros.core.types import Face, HeadPose

CAMERA = default_intrinsics(640, 480)
FPS = 30.0


def eye(height: float, width: float = 30.0) -> np.ndarray:
    """Six iBUG eye points: corners at 0 and 3, upper lid 1-2, lower lid 4-5."""
    third = width / 3
    return np.array([[0, 0], [third, -height / 2], [2 * third, -height / 2], [width, 0],
                     [2 * third, height / 2], [third, height / 2]], float)


def face_keypoints(eye_height=8.0, lip_gap=0.0) -> np.ndarray:
    points = np.zeros((68, 2))
    points[36:42] = eye(eye_height) + (100, 100)
    points[42:48] = eye(eye_height) + (160, 100)
    points[48], points[54] = (110, 180), (170, 180)
    for a, b, x in ((61, 67, 130), (62, 66, 140), (63, 65, 150)):
        points[a], points[b] = (x, 180 - lip_gap / 2), (x, 180 + lip_gap / 2)
    return points.astype(np.float32)


def posed_face(yaw=0.0, track_id=1, frames_since_seen=0, keypoints=None) -> Face:
    rotation = rotation_from_yaw_pitch_roll(yaw, 0, 0)
    pose = HeadPose(rotation, np.array([0.0, 0.0, 1.0]), 0.5, CAMERA.camera_matrix,
                    CAMERA.distortion, True)
    points = project(pose, FACE_MODEL68_M) if keypoints is None else keypoints
    return Face(box=(0, 0, 10, 10), score=1.0, track_id=track_id,
                frames_since_seen=frames_since_seen, keypoints=points, head_pose=pose)


def test_eye_aspect_ratio_and_openness_scale():
    assert eye_aspect_ratio(eye(9.0)) == pytest.approx(0.3)
    assert eye_aspect_ratio(eye(0.0)) == 0
    assert math.isnan(eye_aspect_ratio(np.zeros((6, 2))))  # no width: unknown, not 0
    typical = face_keypoints(eye_height=TYPICAL_OPEN_EAR * 30)
    assert eye_openness(typical) == pytest.approx((1.0, 1.0))
    assert eye_openness(face_keypoints(eye_height=0)) == (0.0, 0.0)


def test_mouth_openness_is_the_lip_gap_over_the_mouth_width():
    assert mouth_openness(face_keypoints(lip_gap=0)) == 0
    assert mouth_openness(face_keypoints(lip_gap=30)) == pytest.approx(0.5)


def test_looking_at_the_camera_within_the_cone():
    raw = CueEstimator(smooth=False)
    [ahead] = raw.apply([posed_face(yaw=5)], 0.0)
    assert ahead.cues.looking_at_camera and ahead.cues.attention_angle_deg == pytest.approx(5)
    [aside] = raw.apply([posed_face(yaw=35)], 0.0)
    assert not aside.cues.looking_at_camera
    [wide] = CueEstimator(looking_cone_deg=40, smooth=False).apply([posed_face(yaw=35)], 0.0)
    assert wide.cues.looking_at_camera


def test_without_pose_or_keypoints():
    no_pose = Face(box=(0, 0, 1, 1), score=1.0, keypoints=face_keypoints())
    [face] = CueEstimator().apply([no_pose], 0.0)
    assert math.isnan(face.cues.attention_angle_deg) and not face.cues.looking_at_camera
    assert face.cues.right_eye_openness > 0
    [bare] = CueEstimator().apply([Face(box=(0, 0, 1, 1), score=1.0)], 0.0)
    assert bare.cues is None
    lost = face_keypoints()
    lost[36:48] = np.nan
    [blind] = CueEstimator().apply([Face(box=(0, 0, 1, 1), score=1.0, keypoints=lost)], 0.0)
    assert math.isnan(blind.cues.left_eye_openness) and blind.cues.mouth_openness == 0


def noisy_openness(smoother, heights, track_id=1) -> np.ndarray:
    out = []
    for i, height in enumerate(heights):
        face = posed_face(track_id=track_id, keypoints=face_keypoints(eye_height=height))
        out.append(smoother.apply([face], i / FPS)[0].cues.right_eye_openness)
    return np.array(out)


def test_smoothing_calms_a_still_eye_per_track():
    heights = 8.0 + np.random.default_rng(0).normal(0, 1.0, 120)
    raw = noisy_openness(CueEstimator(smooth=False), heights)
    smoothed = noisy_openness(CueEstimator(), heights)
    assert np.std(smoothed[10:]) < 0.6 * np.std(raw[10:])
    assert np.mean(smoothed[10:]) == pytest.approx(np.mean(raw[10:]), rel=0.05)


def test_tracks_are_smoothed_apart_and_held_faces_left_raw():
    cues = CueEstimator()
    wide, narrow = face_keypoints(eye_height=10), face_keypoints(eye_height=4)
    for i in range(30):
        a, b = cues.apply([posed_face(track_id=1, keypoints=wide),
                           posed_face(track_id=2, keypoints=narrow)], i / FPS)
    assert a.cues.right_eye_openness == pytest.approx(eye_openness(wide)[0], rel=1e-3)
    assert b.cues.right_eye_openness == pytest.approx(eye_openness(narrow)[0], rel=1e-3)
    held = posed_face(track_id=1, frames_since_seen=2, keypoints=narrow)
    [h] = cues.apply([held], 30 / FPS)
    assert h.cues.right_eye_openness == pytest.approx(eye_openness(narrow)[0])
    [back] = cues.apply([posed_face(track_id=1, keypoints=wide)], 31 / FPS)
    assert back.cues.right_eye_openness == pytest.approx(eye_openness(wide)[0], rel=1e-3)
    cues.apply([], 5.0)
    assert cues.track_ids == set()  # forgotten after forget_after_s


@pytest.mark.parametrize('kwargs', [{'looking_cone_deg': 0}, {'looking_cone_deg': 91},
                                    {'min_cutoff': 0}, {'beta': -1},
                                    {'forget_after_s': math.inf}])
def test_bad_settings_are_refused_by_name(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        CueEstimator(**kwargs)
