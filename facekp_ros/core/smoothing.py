"""One-Euro filtering of keypoints per track id: less jitter when still, little lag moving.

Casiez, Roussel, Vogel, "1 Euro Filter", CHI 2012.
"""
import math

import numpy as np


def _alpha(cutoff_hz: float, dt: float) -> float:
    tau = 1.0 / (2 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class OneEuro:
    """One-Euro filter over an array of values (all filtered independently)."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.value = self.derivative = self.t = None

    def __call__(self, value: np.ndarray, t: float) -> np.ndarray:
        if self.value is None or t <= self.t:
            self.value, self.derivative, self.t = value.copy(), np.zeros_like(value), t
            return value
        dt = t - self.t
        derivative = (value - self.value) / dt
        a_d = _alpha(self.d_cutoff, dt)
        self.derivative = a_d * derivative + (1 - a_d) * self.derivative
        cutoff = self.min_cutoff + self.beta * np.abs(self.derivative)
        tau = 1.0 / (2 * np.pi * cutoff)
        a = 1.0 / (1.0 + tau / dt)
        self.value = a * value + (1 - a) * self.value
        self.t = t
        return self.value.copy()


class KeypointSmoother:
    """apply(faces, t) smooths each tracked face's keypoints; forgets idle tracks.

    min_cutoff (Hz) sets smoothing when still; beta (1/px) how fast it follows motion.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0,
                 forget_after_s: float = 1.0):
        if min_cutoff <= 0 or beta < 0 or d_cutoff <= 0:
            raise ValueError('min_cutoff and d_cutoff must be > 0 and beta >= 0')
        self.params = (min_cutoff, beta, d_cutoff)
        self.forget_after_s = forget_after_s
        self._filters = {}  # track id -> (OneEuro, keypoint count)

    def apply(self, faces, t: float) -> list:
        for face in faces:
            if face.track_id < 0 or not len(face.keypoints) or face.frames_since_seen:
                continue
            entry = self._filters.get(face.track_id)
            if entry is None or entry[1] != len(face.keypoints):
                entry = (OneEuro(*self.params), len(face.keypoints))
                self._filters[face.track_id] = entry
            face.keypoints = entry[0](face.keypoints.astype(np.float64), t).astype(np.float32)
        self._filters = {k: v for k, v in self._filters.items()
                         if v[0].t is not None and t - v[0].t <= self.forget_after_s}
        return faces
