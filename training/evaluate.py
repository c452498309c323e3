"""Evaluate a keypoint ONNX model through the runtime code path, on faces68/test and on the
held-out people (training/dataset.py: load_split).

  python -m training.evaluate facekp_ros/models/facekp68.onnx --grid out/predictions.png

Crops come from the RetinaFace boxes, exactly as at run time. Per split: NME (mean point
error divided by the outer-eye-corner distance, points 36 and 45) as mean and median, the
failure rate (NME > 0.10), AUC@0.10 (area under the cumulative NME curve up to 0.10,
normalised to 1), NME per region, and Kaggle-style RMSE in 96 px units on the 15-point subset.
A 468-point mesh model is scored on the 68 points of the fixed map (training/facemesh.py).
For a model with per-point scores it also reports how well they predict the points' errors,
and how they fall on points hidden by a block drawn over the face.
"""
import argparse
import json
import pathlib

import cv2
import numpy as np

from facekp_ros.core.keypoint_names import MESH_TO_68, REGIONS68
from facekp_ros.core.keypoints import KeypointEstimator, crop_matrix
from facekp_ros.core.types import Face
from training.dataset import kaggle15_from_68, load_landmarks, load_split

REPO = pathlib.Path(__file__).resolve().parents[1]
FAILURE, AUC_LIMIT = 0.10, 0.10
SPLIT_NAMES = {'test': 'faces68/test', 'heldout': 'held-out people'}


def nme_per_face(pred: np.ndarray, truth: np.ndarray, points=slice(None)) -> np.ndarray:
    interocular = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=-1)
    errors = np.linalg.norm(pred[:, points] - truth[:, points], axis=-1).mean(-1)
    return errors / interocular


def kaggle_rmse96(pred: np.ndarray, truth: np.ndarray, boxes: np.ndarray) -> float:
    """RMSE of the 15 Kaggle points, in pixels of a 96 px face crop (Kaggle's units)."""
    to_96 = 96.0 / boxes[:, 2:].max(1)
    diff = (kaggle15_from_68(pred) - kaggle15_from_68(truth)) * to_96[:, None, None]
    return float(np.sqrt((diff ** 2).mean()))


def accuracy(pred: np.ndarray, truth: np.ndarray) -> dict:
    """Mean and median NME, failure rate, AUC@0.10 and NME per region of (N, 68, 2) points."""
    nme = nme_per_face(pred, truth)
    thresholds = np.linspace(0, AUC_LIMIT, 1001)
    cumulative = (nme[None] <= thresholds[:, None]).mean(1)
    return {'images': len(nme), 'nme': float(nme.mean()), 'median': float(np.median(nme)),
            'failure_rate': float((nme > FAILURE).mean()),
            'auc10': float(np.trapezoid(cumulative, thresholds) / AUC_LIMIT),
            'regions': {name: float(nme_per_face(pred, truth, list(idx)).mean())
                        for name, idx in REGIONS68.items()}}


def as_68(estimator, points: np.ndarray) -> np.ndarray:
    """The 68 points of a model's output: the mesh's through the fixed map."""
    return points if len(estimator.keypoint_names) == 68 else points[:, list(MESH_TO_68)]


def predict(estimator, paths, boxes, occlude=None, landmarks=None) -> tuple:
    """(N, K, 2) points and (N, K) scores; occlude(image, index) may paint over each image.
    landmarks: the detector's (N, 5, 2) points, which a model with upright crops turns by."""
    points, scores = [], []
    for index, (path, box) in enumerate(zip(paths, boxes)):
        image = cv2.imread(str(path))
        if occlude:
            occlude(image, index)
        five = landmarks[index] if landmarks is not None else np.zeros((0, 2))
        [face] = estimator.estimate(image, [Face(box=box, score=1.0, landmarks=five)])
        points.append(face.keypoints)
        scores.append(face.keypoint_scores)
    return np.stack(points), np.stack(scores)


def confidence_report(estimator, paths, boxes, truth, pred, scores, tolerance,
                      landmarks=None) -> dict:
    """How the point scores predict the errors, and what a block over the face does to them.

    The block: a grey square of 0.8 x the eye-corner distance over the mouth (point 62) of
    every face; 'hidden' are the points under it.
    """
    error = np.linalg.norm(pred - truth, axis=-1) / np.linalg.norm(
        truth[:, 36] - truth[:, 45], axis=-1)[:, None]
    good = error < tolerance
    side = 0.8 * np.linalg.norm(truth[:, 36] - truth[:, 45], axis=-1)
    low, high = truth[:, 62] - side[:, None] / 2, truth[:, 62] + side[:, None] / 2

    def block(image, i):
        (x0, y0), (x1, y1) = low[i].astype(int), high[i].astype(int)
        image[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 128

    hidden = ((truth >= low[:, None]) & (truth <= high[:, None])).all(-1)
    _, blocked = predict(estimator, paths, boxes, block, landmarks)
    return {'meaning': estimator.score_meaning, 'mean_score': float(scores.mean()),
            'points_within_tolerance': float(good.mean()),
            'brier': float(((scores - good) ** 2).mean()),
            'auroc': auroc(scores.ravel(), good.ravel()),
            'blocked_mouth': {'hidden_points': float(blocked[hidden].mean()),
                              'hidden_points_unblocked': float(scores[hidden].mean()),
                              'other_points': float(blocked[~hidden].mean()),
                              'other_points_unblocked': float(scores[~hidden].mean())}}


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Chance that a random good point scores above a random bad one (Mann-Whitney)."""
    ranks = np.argsort(np.argsort(scores, kind='stable'), kind='stable') + 1.0
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / max(n_pos * n_neg, 1))


def evaluate_model(model, data: pathlib.Path, split: str = 'test', limit: int = 0,
                   grid: pathlib.Path | None = None, estimator=None) -> dict:
    paths, truth, boxes = load_split(data, split, limit)
    estimator = estimator or KeypointEstimator(model, 'CPUExecutionProvider')
    landmarks = load_landmarks(data, split, limit) if estimator.upright else None
    points, scores = predict(estimator, paths, boxes, landmarks=landmarks)
    pred = as_68(estimator, points)
    report = {'split': SPLIT_NAMES.get(split, split), **accuracy(pred, truth),
              'kaggle15_rmse_96px': kaggle_rmse96(pred, truth, boxes)}
    if estimator.point_scores and len(estimator.keypoint_names) == 68:
        from training.common import CONFIDENCE_TOLERANCE

        report['confidence'] = confidence_report(estimator, paths, boxes, truth, pred, scores,
                                                 CONFIDENCE_TOLERANCE, landmarks)
    if grid:
        write_grid(paths, boxes, pred, truth, nme_per_face(pred, truth), grid)
    return report


def write_grid(paths, boxes, pred, truth, nme, out: pathlib.Path, count: int = 16,
               tile: int = 200) -> None:
    """Predictions (green) against the labels (red) on evenly spaced test faces, each tile
    zoomed on the face (1.5 x its detector box) so every point can be seen."""
    tiles = []
    for i in np.linspace(0, len(paths) - 1, min(count, len(paths))).astype(int):
        m = crop_matrix(boxes[i], tile, 1.5, 0.0)
        image = cv2.warpAffine(cv2.imread(str(paths[i])), m, (tile, tile),
                               flags=cv2.INTER_AREA)
        for points, colour in ((truth[i], (0, 0, 255)), (pred[i], (0, 255, 0))):
            for x, y in points @ m[:, :2].T + m[:, 2]:
                cv2.circle(image, (int(round(x)), int(round(y))), 2, colour, -1, cv2.LINE_AA)
        cv2.putText(image, f'NME {nme[i]:.3f}', (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(image)
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 4)
    rows = [np.hstack(tiles[i:i + 4]) for i in range(0, len(tiles), 4)]
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.vstack(rows))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('model', type=pathlib.Path, nargs='?',
                   default=REPO / 'facekp_ros' / 'models' / 'facekp68.onnx')
    p.add_argument('--data', type=pathlib.Path, default=REPO.parent / 'shared' / 'data')
    p.add_argument('--splits', nargs='+', default=['test', 'heldout'],
                   choices=['test', 'heldout', 'train'])
    p.add_argument('--limit', type=int, default=0)
    p.add_argument('--grid', type=pathlib.Path, help='write a PNG grid of predictions on the '
                   'first split')
    args = p.parse_args(argv)
    estimator = KeypointEstimator(args.model, 'CPUExecutionProvider')
    for number, split in enumerate(args.splits):
        print(json.dumps(evaluate_model(args.model, args.data, split, args.limit,
                                        None if number else args.grid, estimator), indent=1))


if __name__ == '__main__':
    main()
