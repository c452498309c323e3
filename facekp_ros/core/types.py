"""Plain data types shared by every stage of the pipeline."""
from dataclasses import dataclass, field

import numpy as np

# The detector's 5 landmarks, subject's own sides (the right eye is on the image's left).
LANDMARK5_NAMES = ('right_eye', 'left_eye', 'nose_tip', 'mouth_right', 'mouth_left')


def _no_points() -> np.ndarray:
    return np.zeros((0, 2), np.float32)


@dataclass
class Face:
    """One face in one image. All coordinates are pixels of that image."""

    box: np.ndarray  # (4,) float32: x, y, width, height
    score: float
    # (5, 2) float32 in LANDMARK5_NAMES order, NaN where a point was not found; or (0, 2).
    landmarks: np.ndarray = field(default_factory=_no_points)
    track_id: int = -1
    frames_since_seen: int = 0  # 0: detected in this image; n: held over by the tracker
    keypoints: np.ndarray = field(default_factory=_no_points)  # (K, 2) float32
    keypoint_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def __post_init__(self):
        self.box = np.asarray(self.box, np.float32).reshape(4)
        self.landmarks = np.asarray(self.landmarks, np.float32).reshape(-1, 2)
        self.keypoints = np.asarray(self.keypoints, np.float32).reshape(-1, 2)
        self.keypoint_scores = np.asarray(self.keypoint_scores, np.float32).reshape(-1)

    @property
    def xyxy(self) -> np.ndarray:
        """Box as (x0, y0, x1, y1)."""
        x, y, w, h = self.box
        return np.array([x, y, x + w, y + h], np.float32)


@dataclass
class Detections:
    """Result of running a detector on one image."""

    faces: list  # reported: confident faces (tracked, held over, with keypoints)
    detector: str
    ok: bool = True  # False: detection failed; the image must be treated as unsafe
    error: str = ''
    # Plausible faces below the reporting threshold or size: masked, never reported.
    mask_only: list = field(default_factory=list)
