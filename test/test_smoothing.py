"""One-Euro keypoint smoothing: less jitter when still, follows real motion."""
import numpy as np

from facekp_ros.core.smoothing import KeypointSmoother
from facekp_ros.core.types import Face


def run(smoother, truth, noise, track_id=1):
    out = []
    for i, (t_xy, n) in enumerate(zip(truth, noise)):
        face = Face(box=(0, 0, 10, 10), score=1.0, track_id=track_id,
                    keypoints=np.tile(t_xy + n, (68, 1)))
        out.append(smoother.apply([face], i / 30.0)[0].keypoints[0])
    return np.array(out)


def test_jitter_drops_on_a_still_face():
    rng = np.random.default_rng(0)
    truth = np.zeros((90, 2))
    noise = rng.normal(0, 2.0, (90, 2))
    smoothed = run(KeypointSmoother(), truth, noise)
    assert np.std(smoothed[10:]) < 0.5 * np.std(noise[10:])


def test_a_real_move_is_followed_within_a_few_frames():
    truth = np.zeros((60, 2))
    truth[30:] = 40.0
    smoothed = run(KeypointSmoother(), truth, np.zeros_like(truth))
    assert np.abs(smoothed[36] - 40.0).max() < 4.0


def test_untracked_or_held_faces_are_left_alone_and_idle_tracks_forgotten():
    smoother = KeypointSmoother(forget_after_s=0.5)
    untracked = Face(box=(0, 0, 1, 1), score=1.0, keypoints=[[5, 5]])
    assert smoother.apply([untracked], 0.0)[0].keypoints[0, 0] == 5
    run(smoother, np.zeros((3, 2)), np.zeros((3, 2)), track_id=7)
    smoother.apply([], 5.0)
    assert smoother._filters == {}
