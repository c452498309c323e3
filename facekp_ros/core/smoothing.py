"""One-Euro filtering of keypoints per track id: less jitter when still, little lag moving.

Casiez, Roussel, Vogel, "1 Euro Filter", CHI 2012. Each keypoint is low-pass filtered with
a cutoff that rises with its speed: min_cutoff (Hz) when still, + beta (Hz per px/s) x speed.
"""
import dataclasses
import math

import numpy as np

from facekp_ros.core.checks import FINITE, check_range


def _alpha(cutoff_hz, dt: float):
    """Smoothing factor of a first-order low-pass filter at cutoff_hz sampled every dt s."""
    tau = 1.0 / (2 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class OneEuro:
    """One-Euro filter over (K, 2) points; a point's speed sets its own cutoff.

    A non-finite input point comes out as it is and leaves that point's state unchanged.
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.value = self.velocity = self.t = None

    def __call__(self, points: np.ndarray, t: float) -> np.ndarray:
        if self.t is None or t <= self.t:  # first sample, or time went back: start over
            self.value, self.velocity, self.t = points.copy(), np.zeros_like(points), t
            return points.copy()
        dt, self.t = t - self.t, t
        found = np.isfinite(points).all(axis=1, keepdims=True)
        fresh = found & ~np.isfinite(self.value).all(axis=1, keepdims=True)
        with np.errstate(invalid='ignore'):  # lost points give NaN here; dropped below
            velocity = (points - self.value) / dt
            a_d = _alpha(self.d_cutoff, dt)
            velocity = a_d * velocity + (1 - a_d) * self.velocity
            speed = np.linalg.norm(velocity, axis=1, keepdims=True)
            a = _alpha(self.min_cutoff + self.beta * speed, dt)
            value = a * points + (1 - a) * self.value
        # A point found for the first time starts from where it is, at rest.
        value = np.where(fresh, points, value)
        velocity = np.where(fresh, 0.0, velocity)
        self.value = np.where(found, value, self.value)
        self.velocity = np.where(found, velocity, self.velocity)
        return np.where(found, value, points)


class TrackFilters:
    """One OneEuro filter per track id, for what is smoothed per tracked face.

    apply(faces, t) gives each face through _filtered(face, t) (subclasses) and then forgets
    the tracks not seen for forget_after_s, so a track that comes back starts over.
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float, forget_after_s: float):
        for name, value in (('min_cutoff', min_cutoff), ('d_cutoff', d_cutoff),
                            ('forget_after_s', forget_after_s)):
            check_range(name, value, (0, FINITE), low_open=True)
        check_range('beta', beta, (0, FINITE))
        self.params = (min_cutoff, beta, d_cutoff)
        self.forget_after_s = forget_after_s
        self._filters = {}  # track id -> OneEuro

    @property
    def track_ids(self) -> set:
        """Ids of the tracks being smoothed."""
        return set(self._filters)

    def apply(self, faces: list, t_seconds: float) -> list:
        """faces with their values filtered (new Face objects; the inputs are not changed)."""
        out = [self._filtered(face, t_seconds) for face in faces]
        self._filters = {track_id: f for track_id, f in self._filters.items()
                         if t_seconds - f.t <= self.forget_after_s}
        return out

    def _filtered(self, face, t_seconds: float):
        raise NotImplementedError


class KeypointSmoother(TrackFilters):
    """apply(faces, t) smooths the keypoints of each face detected now with a track id.

    min_cutoff (Hz): smoothing when still (lower: smoother, more lag). beta (1/px): how much
    speed raises the cutoff (higher: less lag when moving). d_cutoff (Hz): smoothing of the
    speed estimate. A track not seen for forget_after_s is forgotten; a track whose keypoint
    count changes starts over. Faces without a track id or held over are passed through.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0,
                 forget_after_s: float = 1.0):
        super().__init__(min_cutoff, beta, d_cutoff, forget_after_s)

    def _filtered(self, face, t: float):
        if face.track_id < 0 or face.frames_since_seen or not len(face.keypoints):
            return face
        smoother = self._filters.get(face.track_id)
        if smoother is None or smoother.value.shape != face.keypoints.shape:
            smoother = self._filters[face.track_id] = OneEuro(*self.params)
        points = smoother(face.keypoints.astype(np.float64), t)
        return dataclasses.replace(face, keypoints=points.astype(np.float32))
