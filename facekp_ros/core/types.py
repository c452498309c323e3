"""Plain data types shared by every stage of the pipeline."""
from dataclasses import dataclass, field

import numpy as np

# The detector's 5 landmarks, subject's own sides (the right eye is on the image's left).
LANDMARK5_NAMES = ('right_eye', 'left_eye', 'nose_tip', 'mouth_right', 'mouth_left')


def _no_points() -> np.ndarray:
    return np.zeros((0, 2), np.float32)


@dataclass
class HeadPose:
    """A head's 6D pose in the camera optical frame (x right, y down, z forward).

    rotation maps REP-155 face frame coordinates (origin at the sellion; x out of the face,
    y to the subject's left, z up) to camera coordinates; translation is the sellion, metres.
    """

    rotation: np.ndarray  # (3, 3) float64
    translation: np.ndarray  # (3,) float64, metres
    reprojection_error_px: float  # RMS distance of the model's projected points to the keypoints
    # (3, 3) K and OpenCV distortion the pose was solved with; None when unknown (a pose read
    # from a message without intrinsics): it can then not be drawn or back-projected.
    camera_matrix: np.ndarray | None
    distortion: np.ndarray | None
    intrinsics_default: bool  # True: solved with a default K made from the image size

    @property
    def distance_m(self) -> float:
        """Straight-line distance from the camera centre to the sellion."""
        return float(np.linalg.norm(self.translation))


@dataclass
class FaceCues:
    """Expression and attention cues of one face (smoothed per track when tracked)."""

    right_eye_openness: float  # eye aspect ratio / typical open value; 1 = open; NaN: unknown
    left_eye_openness: float
    mouth_openness: float  # inner-lip gap / mouth width; 0 = closed; NaN: unknown
    attention_angle_deg: float  # head forward axis vs the ray to the camera; NaN: no pose
    looking_at_camera: bool  # attention_angle_deg within the configured cone


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
    head_pose: HeadPose | None = None  # None: not estimated or no usable fit
    cues: FaceCues | None = None

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
