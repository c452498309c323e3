"""The classic detector: OpenCV Haar cascades for faces, and for eyes inside each face."""

import cv2
import numpy as np

from facekp_ros.core.checks import FINITE, check_range
from facekp_ros.core.scan import Candidates

FACE_CASCADE, EYE_CASCADE = 'haarcascade_frontalface_default.xml', 'haarcascade_eye.xml'
HAAR_CASCADES = (FACE_CASCADE, EYE_CASCADE)  # OpenCV's files (cv2.data)
EYE_SEARCH_WIDTH = 160  # px: faces narrower than this are enlarged for the eye search


def _cascade(name: str) -> cv2.CascadeClassifier:
    if not hasattr(cv2, 'CascadeClassifier'):
        raise RuntimeError('this OpenCV has no CascadeClassifier (OpenCV 5 removed it): '
                           'install opencv-python-headless<5')
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    if cascade.empty():
        raise FileNotFoundError(f'Haar cascade {name} missing from {cv2.data.haarcascades}: '
                                'reinstall opencv-python-headless<5')
    return cascade


class HaarFaceDetector:
    """detect(bgr) -> list[Face] with the two eye centres as landmarks when found.

    score is the cascade's final-stage weight (levelWeights of detectMultiScale3) through a
    logistic, 1 / (1 + exp(-weight)): higher is surer, but it is not a calibrated probability
    like RetinaFace's (on faces68 true faces and false positives both mostly score > 0.9).
    min_face_size (px) is the smallest face searched for; eyes are searched only when
    detect_eyes, and landmarks are then the two eye centres with NaN for the other three.
    """

    name = 'haar'

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_face_size: int = 24, detect_eyes: bool = True):
        check_range('scale_factor', scale_factor, (1.0, 2.0), low_open=True)
        check_range('min_neighbors', min_neighbors, (0, 100), integer=True)
        check_range('min_face_size', min_face_size, (1, FINITE), hint='px')
        self.faces = _cascade(FACE_CASCADE)
        self.eyes = _cascade(EYE_CASCADE) if detect_eyes else None
        self.scale_factor, self.min_neighbors = float(scale_factor), int(min_neighbors)
        self.min_face_size = round(min_face_size)

    def _eye_landmarks(self, gray: np.ndarray, box) -> np.ndarray:
        """Eye centres in LANDMARK5 order (subject's right eye = image left), NaN elsewhere."""
        x, y, w, h = (int(v) for v in box)
        top, bottom = y + int(0.15 * h), y + int(0.6 * h)  # eyes sit in this band
        band = gray[top:bottom, x:x + w]
        zoom = max(1.0, EYE_SEARCH_WIDTH / max(w, 1))  # small faces: eyes too small to find
        band = cv2.resize(band, None, fx=zoom, fy=zoom) if zoom > 1 else band
        eyes = self.eyes.detectMultiScale(band, 1.1, 3, minSize=(int(w * zoom / 8),) * 2,
                                          maxSize=(int(w * zoom / 2.5),) * 2)
        centres = [((ex + ew / 2) / zoom + x, (ey + eh / 2) / zoom + top)
                   for ex, ey, ew, eh in eyes]
        landmarks = np.full((5, 2), np.nan, np.float32)
        middle = x + w / 2
        image_left = [c for c in centres if c[0] < middle]
        image_right = [c for c in centres if c[0] >= middle]
        if image_left:  # the subject's right eye
            landmarks[0] = min(image_left, key=lambda c: abs(c[0] - (x + 0.3 * w)))
        if image_right:
            landmarks[1] = min(image_right, key=lambda c: abs(c[0] - (x + 0.7 * w)))
        return landmarks

    def candidates(self, bgr: np.ndarray, scale: float, threshold: float) -> Candidates:
        """Faces scoring above threshold with bgr resized by scale, in bgr's pixels."""
        if scale != 1.0:
            bgr = cv2.resize(bgr, None, fx=scale, fy=scale,
                             interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        gray = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        side = max(1, round(self.min_face_size * scale))
        boxes, _, weights = self.faces.detectMultiScale3(
            gray, self.scale_factor, self.min_neighbors, minSize=(side, side),
            outputRejectLevels=True)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = (1.0 / (1.0 + np.exp(-np.asarray(weights, np.float64).reshape(-1))))
        keep = scores > threshold
        boxes, scores = boxes[keep], scores[keep].astype(np.float32)
        points = 5 if self.eyes is not None else 0
        landmarks = np.stack([self._eye_landmarks(gray, box) for box in boxes]) \
            if points and len(boxes) else np.zeros((len(boxes), points, 2), np.float32)
        return Candidates(boxes / scale, scores, landmarks / scale)

    def detect(self, bgr: np.ndarray) -> list:
        return self.candidates(bgr, 1.0, 0.0).faces()
