"""Box and 5-point labels in RetinaFace's own convention, from the 68 faces68 keypoints.

RetinaFace was trained on WIDER FACE boxes, which are not the keypoints' extent (they reach
the forehead, stop at the chin, and vary with pose). `fit_box_map` learns that convention:
a ridge regression from the 68 points, normalised by their centre and size, to the stock
detector's own box on the large faces68 train images where it is confident. Normalising
makes the map hold at any face size, so it labels 12 px faces as well as 400 px ones.
"""
import json
import pathlib

import cv2
import numpy as np

# RetinaFace's 5 points: the eye on the image's left (the subject's right, 36-41), the other
# eye (42-47), nose tip, mouth corner on the image's left, the other mouth corner.
FIVE_FROM_68 = (tuple(range(36, 42)), tuple(range(42, 48)), (30,), (48,), (54,))
MIN_SCORE = 0.9  # stock detections trusted as the box convention
RIDGE = 1e-2


def five_points(points68: np.ndarray) -> np.ndarray:
    """(..., 68, 2) -> (..., 5, 2)."""
    return np.stack([points68[..., list(idx), :].mean(-2) for idx in FIVE_FROM_68], -2)


def _normalise(points68: np.ndarray) -> tuple:
    """(N, 68, 2) -> features (N, 137), centres (N, 2), sizes (N,)."""
    centres = points68.mean(1)
    sizes = np.ptp(points68, 1).max(1)
    unit = (points68 - centres[:, None]) / sizes[:, None, None]
    return np.hstack([unit.reshape(len(unit), -1), np.ones((len(unit), 1))]), centres, sizes


class BoxMap:
    """boxes(points68) -> (N, 4) x0, y0, x1, y1 as the stock RetinaFace would draw them."""

    def __init__(self, coefficients: np.ndarray):
        self.coefficients = np.asarray(coefficients, np.float64)  # (137, 4)

    def boxes(self, points68: np.ndarray) -> np.ndarray:
        points68 = np.asarray(points68, np.float64).reshape(-1, 68, 2)
        features, centres, sizes = _normalise(points68)
        unit = features @ self.coefficients
        return (unit * sizes[:, None] + np.tile(centres, 2)).astype(np.float32)

    def save(self, path: pathlib.Path, report: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({'coefficients': self.coefficients.tolist(), **report}))

    @classmethod
    def load(cls, path: pathlib.Path) -> 'BoxMap':
        return cls(json.loads(path.read_text())['coefficients'])


def stock_boxes(paths, points68) -> tuple:
    """The stock detector's box around each image's labelled face (NaN where it found none
    with score >= MIN_SCORE whose box holds the keypoints' centre)."""
    from facekp_ros.core.retinaface import STOCK_MODEL, RetinaFaceDetector

    detector = RetinaFaceDetector(model_path=STOCK_MODEL, score_threshold=MIN_SCORE,
                                  min_face_size=8)
    boxes = np.full((len(paths), 4), np.nan, np.float32)
    for i, (path, points) in enumerate(zip(paths, points68)):
        cx, cy = points.mean(0)
        for face in sorted(detector.detect(cv2.imread(str(path))), key=lambda f: -f.score):
            x, y, w, h = face.box
            if x <= cx <= x + w and y <= cy <= y + h:
                boxes[i] = (x, y, x + w, y + h)
                break
    return boxes


def fit_box_map(points68: np.ndarray, boxes: np.ndarray, seed: int = 0) -> tuple:
    """(BoxMap fitted on 90 %, report with the held-out 10 %'s mean IoU to the stock box)."""
    keep = np.isfinite(boxes).all(1)
    points68, boxes = points68[keep], boxes[keep]
    order = np.random.default_rng(seed).permutation(len(boxes))
    held, fit = order[:len(order) // 10], order[len(order) // 10:]
    features, centres, sizes = _normalise(points68)
    targets = (boxes - np.tile(centres, 2)) / sizes[:, None]

    def solve(rows):
        a = features[rows]
        return np.linalg.solve(a.T @ a + RIDGE * np.eye(a.shape[1]), a.T @ targets[rows])

    held_iou = float(box_iou(BoxMap(solve(fit)).boxes(points68[held]), boxes[held]).mean())
    extent = np.hstack([points68.min(1), points68.max(1)])
    extent_iou = float(box_iou(extent[held], boxes[held]).mean())
    return BoxMap(solve(order)), {'faces': int(len(boxes)), 'held_out_iou': held_iou,
                                  'keypoint_extent_iou': extent_iou}


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matching rows of two (N, 4) x0, y0, x1, y1 arrays."""
    low, high = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.clip(high - low, 0, None).prod(1)
    area = lambda boxes: np.clip(boxes[:, 2:] - boxes[:, :2], 0, None).prod(1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def box_map_for(paths, points68: np.ndarray, cache: pathlib.Path) -> BoxMap:
    """The map fitted on these images, from cache or fitted now (3462 images: ~30 s)."""
    if cache.is_file() and json.loads(cache.read_text()).get('images') == len(paths):
        return BoxMap.load(cache)
    box_map, report = fit_box_map(points68, stock_boxes(paths, points68))
    report['images'] = len(paths)
    box_map.save(cache, report)
    print(f'box map fitted: {report}', flush=True)
    return box_map
