"""The classic detector: OpenCV Haar cascades for faces, and for eyes inside each face."""
import cv2
import numpy as np

from facekp_ros.core.types import Face


def _cascade(name: str) -> cv2.CascadeClassifier:
    if not hasattr(cv2, 'CascadeClassifier'):
        raise RuntimeError('this OpenCV has no CascadeClassifier (OpenCV 5 removed it): '
                           'install opencv-python-headless<5')
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    if cascade.empty():
        raise FileNotFoundError(f'Haar cascade {name} missing from {cv2.data.haarcascades}')
    return cascade


class HaarFaceDetector:
    """detect(bgr) -> list[Face] with the two eye centres as landmarks when found.

    score is the cascade's final-stage weight squashed to (0, 1): higher is surer, but it is
    not a calibrated probability like RetinaFace's.
    """

    name = 'haar'

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_face_size: int = 24, detect_eyes: bool = True):
        if not 1.0 < scale_factor <= 2.0:
            raise ValueError(f'scale_factor={scale_factor} must be in (1, 2]')
        if min_neighbors < 0 or min_face_size < 1:
            raise ValueError('min_neighbors must be >= 0 and min_face_size >= 1')
        self.faces = _cascade('haarcascade_frontalface_default.xml')
        self.eyes = _cascade('haarcascade_eye.xml') if detect_eyes else None
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self.min_face_size = min_face_size

    def _eye_landmarks(self, gray: np.ndarray, box) -> np.ndarray:
        """Eye centres in LANDMARK5 order (subject's right eye = image left), NaN elsewhere."""
        x, y, w, h = box
        upper = gray[y:y + h // 2, x:x + w]
        eyes = self.eyes.detectMultiScale(upper, 1.1, 3, minSize=(max(w // 8, 4),) * 2)
        landmarks = np.full((5, 2), np.nan, np.float32)
        centres = sorted((ex + ew / 2 + x, ey + eh / 2 + y) for ex, ey, ew, eh in eyes)
        if len(centres) >= 2:
            landmarks[0], landmarks[1] = centres[0], centres[-1]
        elif len(centres) == 1:
            landmarks[0 if centres[0][0] < x + w / 2 else 1] = centres[0]
        return landmarks

    def detect(self, bgr: np.ndarray) -> list:
        gray = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        boxes, _, weights = self.faces.detectMultiScale3(
            gray, self.scale_factor, self.min_neighbors,
            minSize=(self.min_face_size, self.min_face_size), outputRejectLevels=True)
        faces = []
        for box, weight in zip(boxes, np.asarray(weights).reshape(-1)):
            landmarks = self._eye_landmarks(gray, box) if self.eyes else np.zeros((0, 2))
            score = float(1.0 / (1.0 + np.exp(-float(weight))))
            faces.append(Face(box=box, score=score, landmarks=landmarks))
        return faces
