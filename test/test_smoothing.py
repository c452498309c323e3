"""One-Euro keypoint smoothing: less jitter when still, follows real motion, per track."""
import numpy as np
import pytest

from facekp_ros.core.smoothing import KeypointSmoother
from facekp_ros.core.types import Face

FPS = 30.0


def tracked(points, track_id=1, frames_since_seen=0) -> Face:
    return Face(box=(0, 0, 10, 10), score=1.0, track_id=track_id,
                frames_since_seen=frames_since_seen, keypoints=points)


def run(smoother, truth, noise, track_id=1) -> np.ndarray:
    """Smoothed first keypoint per frame of a 68-point face following truth + noise."""
    out = []
    for i, (xy, n) in enumerate(zip(truth, noise)):
        face = tracked(np.tile(xy + n, (68, 1)), track_id)
        out.append(smoother.apply([face], i / FPS)[0].keypoints[0])
    return np.array(out)


def test_jitter_drops_on_a_still_face():
    noise = np.random.default_rng(0).normal(0, 2.0, (300, 2))
    smoothed = run(KeypointSmoother(), np.zeros((300, 2)), noise)
    assert np.std(smoothed[10:]) < 0.55 * np.std(noise[10:])  # 0.46 with the defaults
    calmer = run(KeypointSmoother(min_cutoff=0.3, beta=0.01), np.zeros((300, 2)), noise)
    assert np.std(calmer[10:]) < 0.7 * np.std(smoothed[10:])  # lower cutoff and beta


def test_a_step_is_followed_within_a_few_frames():
    truth = np.zeros((60, 2))
    truth[30:] = 40.0
    smoothed = run(KeypointSmoother(), truth, np.zeros_like(truth))
    assert np.abs(smoothed[35] - 40.0).max() < 4.0
    assert np.abs(smoothed[45] - 40.0).max() < 0.5


def test_steady_motion_lags_little_and_jitter_still_drops():
    rng = np.random.default_rng(1)
    truth = np.stack([np.arange(90) * 3.0, np.zeros(90)], 1)  # 90 px/s to the right
    noise = rng.normal(0, 1.0, (90, 2))
    smoothed = run(KeypointSmoother(), truth, noise)
    lag = np.abs(smoothed[30:, 0] - truth[30:, 0]).mean()
    assert lag < 3.0  # one frame's motion
    assert np.std(np.diff(smoothed[30:, 1])) < np.std(np.diff(noise[30:, 1]))


def test_tracks_are_smoothed_apart_and_inputs_left_alone():
    smoother = KeypointSmoother()
    a, b = tracked([[0, 0]], track_id=1), tracked([[100, 100]], track_id=2)
    smoother.apply([a, b], 0.0)
    a2, b2 = tracked([[10, 0]], track_id=1), tracked([[100, 100]], track_id=2)
    out = smoother.apply([a2, b2], 1 / FPS)
    assert 0 < out[0].keypoints[0, 0] < 10 and out[1].keypoints[0, 0] == 100
    assert a2.keypoints[0, 0] == 10 and out[0] is not a2
    assert out[0].keypoints.dtype == np.float32 and smoother.track_ids == {1, 2}


def test_untracked_held_and_keypoint_less_faces_pass_through():
    smoother = KeypointSmoother()
    faces = [Face(box=(0, 0, 1, 1), score=1.0, keypoints=[[5, 5]]),
             tracked([[5, 5]], track_id=3, frames_since_seen=2), tracked(np.zeros((0, 2)))]
    assert all(o is f for o, f in zip(smoother.apply(faces, 0.0), faces))
    assert smoother.track_ids == set()


def test_idle_tracks_are_forgotten():
    smoother = KeypointSmoother(forget_after_s=0.5)
    smoother.apply([tracked([[0, 0]], track_id=7)], 0.0)
    smoother.apply([], 0.4)
    assert smoother.track_ids == {7}
    smoother.apply([], 0.6)
    assert smoother.track_ids == set()


def test_a_track_whose_keypoint_count_changes_starts_over():
    smoother = KeypointSmoother()
    smoother.apply([tracked(np.zeros((68, 2)))], 0.0)
    [out] = smoother.apply([tracked(np.full((5, 2), 50.0))], 1 / FPS)
    np.testing.assert_array_equal(out.keypoints, np.full((5, 2), 50.0))


def test_time_going_back_starts_over():
    smoother = KeypointSmoother()
    smoother.apply([tracked([[0, 0]])], 1.0)
    [out] = smoother.apply([tracked([[30, 30]])], 0.5)
    np.testing.assert_array_equal(out.keypoints, [[30, 30]])


def test_a_lost_keypoint_stays_lost_and_poisons_nothing():
    smoother = KeypointSmoother()
    smoother.apply([tracked([[0, 0], [np.nan, np.nan]])], 0.0)  # lost from the start
    [out] = smoother.apply([tracked([[np.nan, np.nan], [20, 20]])], 1 / FPS)
    assert np.isnan(out.keypoints[0]).all()
    np.testing.assert_array_equal(out.keypoints[1], [20, 20])  # first seen: taken as it is
    [out] = smoother.apply([tracked([[1, 1], [20, 20]])], 2 / FPS)
    assert np.isfinite(out.keypoints).all() and 0 < out.keypoints[0, 0] < 1


@pytest.mark.parametrize('kwargs, field', [
    ({'min_cutoff': 0}, 'min_cutoff'), ({'beta': -1}, 'beta'), ({'d_cutoff': 0}, 'd_cutoff'),
    ({'forget_after_s': 0}, 'forget_after_s'), ({'beta': float('nan')}, 'beta')])
def test_bad_parameters_are_named(kwargs, field):
    with pytest.raises(ValueError, match=field):
        KeypointSmoother(**kwargs)
