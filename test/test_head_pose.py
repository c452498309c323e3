"""Head pose from 68 keypoints: synthetic round trips, conventions, intrinsics, bad input,
and the in-process pipeline filling it in."""
import math

import numpy as np
import pytest

from facekp_ros.core.head_pose import (
    FACE_MODEL68_M,
    HeadPoseEstimator,
    attention_angle_deg,
    default_intrinsics,
    face_quaternion,
    gaze_quaternion,
    intrinsics_from_k,
    project,
    rotation_from_yaw_pitch_roll,
    yaw_pitch_roll_deg,
)
from facekp_ros.core.pipeline import FacePipeline, PipelineConfig
from facekp_ros.core.types import Face, HeadPose

CAMERA = default_intrinsics(640, 480)
GRID = [(y, p, r) for y in (-60, -30, 0, 30, 60) for p in (-45, 0, 45) for r in (-30, 0, 30)]


def true_pose(yaw, pitch, roll, t=(0.05, -0.03, 0.9), camera=CAMERA) -> HeadPose:
    return HeadPose(rotation_from_yaw_pitch_roll(yaw, pitch, roll), np.array(t, float), 0.0,
                    camera.camera_matrix, camera.distortion, camera.is_default)


def keypoints_at(pose) -> np.ndarray:
    return project(pose, FACE_MODEL68_M).astype(np.float32)


def angle_between(a: np.ndarray, b: np.ndarray) -> float:
    cosine = (np.trace(a.T @ b) - 1) / 2
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


def quaternion_matrix(q) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@pytest.mark.parametrize('angles', GRID)
def test_exact_keypoints_give_back_the_pose(angles):
    truth = true_pose(*angles)
    pose = HeadPoseEstimator().estimate(keypoints_at(truth), CAMERA)
    assert pose is not None
    assert angle_between(pose.rotation, truth.rotation) < 0.05
    np.testing.assert_allclose(pose.translation, truth.translation, atol=1e-3)
    assert pose.reprojection_error_px < 0.01
    assert pose.distance_m == pytest.approx(np.linalg.norm(truth.translation), abs=1e-3)


def test_keypoint_noise_of_the_shipped_model_costs_a_few_degrees_at_most():
    rng = np.random.default_rng(0)
    estimator, errors = HeadPoseEstimator(), []
    for angles in GRID:
        truth = true_pose(*angles)
        points = keypoints_at(truth)
        # NME 0.049 of the outer-eye-corner distance = mean error; per axis sigma of a
        # 2D Gaussian with that mean length is mean / sqrt(pi / 2).
        sigma = 0.049 * np.linalg.norm(points[36] - points[45]) / math.sqrt(math.pi / 2)
        pose = estimator.estimate(points + rng.normal(0, sigma, points.shape), CAMERA)
        errors.append(np.abs(np.subtract(yaw_pitch_roll_deg(pose.rotation), angles)))
    assert (np.mean(errors, 0) < 5).all()


def test_angle_conventions_follow_the_docstring():
    assert np.allclose(yaw_pitch_roll_deg(rotation_from_yaw_pitch_roll(25, -10, 5)),
                       (25, -10, 5))
    facing = rotation_from_yaw_pitch_roll(0, 0, 0)
    np.testing.assert_allclose(facing[:, 0], [0, 0, -1], atol=1e-12)  # x out of the face
    np.testing.assert_allclose(facing[:, 2], [0, -1, 0], atol=1e-12)  # z up
    assert rotation_from_yaw_pitch_roll(30, 0, 0)[0, 0] > 0.4  # yaw > 0: towards image right
    assert rotation_from_yaw_pitch_roll(0, 30, 0)[1, 0] > 0.4  # pitch > 0: looking down
    assert rotation_from_yaw_pitch_roll(0, 0, 30)[0, 2] < -0.4  # roll > 0: top to image left


def test_quaternions_of_face_and_gaze_frames():
    pose = true_pose(20, -15, 10)
    q = face_quaternion(pose)
    assert np.linalg.norm(q) == pytest.approx(1) and q[3] >= 0
    np.testing.assert_allclose(quaternion_matrix(q), pose.rotation, atol=1e-9)
    gaze = quaternion_matrix(gaze_quaternion(pose))
    # REP-155: gaze z along the face's x, gaze x to the subject's right (-y), y down (-z).
    np.testing.assert_allclose(gaze[:, 2], pose.rotation[:, 0], atol=1e-9)
    np.testing.assert_allclose(gaze[:, 0], -pose.rotation[:, 1], atol=1e-9)
    np.testing.assert_allclose(gaze[:, 1], -pose.rotation[:, 2], atol=1e-9)


def test_a_face_turned_to_the_camera_has_a_small_attention_angle():
    # At x = 0.3 m, z = 1 m the ray to the camera is 16.7 deg off the optical axis.
    off_axis = (0.3, 0.0, 1.0)
    assert attention_angle_deg(true_pose(0, 0, 0, off_axis)) == pytest.approx(16.7, abs=0.1)
    assert attention_angle_deg(true_pose(-16.7, 0, 0, off_axis)) < 0.1
    assert attention_angle_deg(true_pose(40, 0, 0, off_axis)) > 50


def test_default_intrinsics_are_flagged_and_calibrated_ones_used():
    face = Face(box=(0, 0, 10, 10), score=1.0, keypoints=keypoints_at(true_pose(10, 5, 0)))
    [guessed] = HeadPoseEstimator().apply([face], (480, 640, 3))
    assert guessed.head_pose.intrinsics_default
    np.testing.assert_allclose(guessed.head_pose.camera_matrix,
                               [[640, 0, 320], [0, 640, 240], [0, 0, 1]])
    calibrated = intrinsics_from_k([640, 0, 320, 0, 640, 240, 0, 0, 1], [0, 0, 0, 0, 0])
    [known] = HeadPoseEstimator().apply([face], (480, 640, 3), calibrated)
    assert not known.head_pose.intrinsics_default
    np.testing.assert_allclose(known.head_pose.translation, (0.05, -0.03, 0.9), atol=1e-3)
    assert face.head_pose is None  # the input is not changed


def test_a_longer_focal_length_means_a_farther_face():
    points = keypoints_at(true_pose(0, 0, 0))
    near = HeadPoseEstimator().estimate(points, CAMERA)
    far = HeadPoseEstimator().estimate(points, intrinsics_from_k(
        [1280, 0, 320, 0, 1280, 240, 0, 0, 1]))
    # About twice: not exactly, as the same image then has less perspective to explain.
    assert far.distance_m == pytest.approx(2 * near.distance_m, rel=0.05)


def test_distortion_is_taken_into_account():
    camera = intrinsics_from_k([600, 0, 330, 0, 610, 235, 0, 0, 1], [-0.3, 0.1, 0.001, 0, 0])
    truth = true_pose(20, 10, -5, (0.15, 0.1, 0.7), camera)
    pose = HeadPoseEstimator().estimate(keypoints_at(truth), camera)
    assert angle_between(pose.rotation, truth.rotation) < 0.1


@pytest.mark.parametrize('k', [[0, 0, 320, 0, 640, 240, 0, 0, 1], [1, 2, 3],
                               [np.nan] * 9])
def test_an_unusable_camera_matrix_is_refused_by_name(k):
    with pytest.raises(ValueError, match='camera matrix K'):
        intrinsics_from_k(k)


def test_bad_keypoints_give_no_pose_and_never_raise():
    estimator, good = HeadPoseEstimator(), keypoints_at(true_pose(0, 0, 0))
    some_lost = good.copy()
    some_lost[[0, 5, 20, 40]] = np.nan
    assert estimator.estimate(some_lost, CAMERA) is not None
    nearly_all_lost = np.full_like(good, np.nan)
    nearly_all_lost[30:33] = good[30:33]
    for points in (nearly_all_lost, np.full_like(good, np.nan), good[:5],
                   np.zeros((0, 2)), np.full_like(good, 100.0),
                   np.random.default_rng(1).uniform(0, 640, good.shape),
                   np.full_like(good, np.inf)):
        assert estimator.estimate(points, CAMERA) is None


def test_apply_passes_faces_without_keypoints_and_empty_frames():
    estimator = HeadPoseEstimator()
    assert estimator.apply([], (480, 640)) == []
    [face] = estimator.apply([Face(box=(0, 0, 10, 10), score=1.0)], (480, 640))
    assert face.head_pose is None
    with pytest.raises(ValueError, match='max_error_ratio'):
        HeadPoseEstimator(max_error_ratio=0)


def test_pipeline_gives_every_sample_face_a_pose_and_cues(sample_faces):
    assert len(sample_faces) == 4
    for face in sample_faces:
        pose = face.head_pose
        assert pose is not None and pose.intrinsics_default
        assert 0.5 < pose.distance_m < 3 and pose.reprojection_error_px < 5
        assert face.cues.looking_at_camera  # the sample portrait looks into the camera
        assert 0.6 < face.cues.right_eye_openness < 1.4


@pytest.fixture(scope='module')
def sample_faces():
    from facekp_ros.sources import sample_frame

    result = FacePipeline(PipelineConfig(annotate=None)).process(sample_frame(), 0.0)
    assert 'pose' in result.timings_ms
    return result.faces


def test_pipeline_without_head_pose_leaves_it_out():
    from facekp_ros.sources import sample_frame

    pipeline = FacePipeline(PipelineConfig(pose=None, annotate=None))
    assert all(f.head_pose is None and f.cues is None
               for f in pipeline.process(sample_frame()).faces)
