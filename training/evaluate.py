"""Evaluate a keypoint ONNX model on faces68/test through the runtime code path.

  python -m training.evaluate facekp_ros/models/facekp68.onnx --grid out/predictions.png

Crops come from the RetinaFace boxes, exactly as at run time. Prints NME (mean point error
divided by the outer-eye-corner distance, points 36 and 45) overall and per region, the
failure rate (NME > 0.10), and Kaggle-style RMSE in 96 px units on the 15-point subset.
"""
import argparse
import json
import pathlib

import cv2
import numpy as np

from facekp_ros.core.keypoint_names import REGIONS68
from facekp_ros.core.keypoints import KeypointEstimator, crop_matrix
from facekp_ros.core.types import Face
from training.dataset import detector_boxes, kaggle15_from_68, read_faces68

REPO = pathlib.Path(__file__).resolve().parents[1]


def nme_per_face(pred: np.ndarray, truth: np.ndarray, points=slice(None)) -> np.ndarray:
    interocular = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=-1)
    errors = np.linalg.norm(pred[:, points] - truth[:, points], axis=-1).mean(-1)
    return errors / interocular


def kaggle_rmse96(pred: np.ndarray, truth: np.ndarray, boxes: np.ndarray) -> float:
    """RMSE of the 15 Kaggle points, in pixels of a 96 px face crop (Kaggle's units)."""
    to_96 = 96.0 / boxes[:, 2:].max(1)
    diff = (kaggle15_from_68(pred) - kaggle15_from_68(truth)) * to_96[:, None, None]
    return float(np.sqrt((diff ** 2).mean()))


def predict(estimator, paths, boxes) -> np.ndarray:
    preds = []
    for path, box in zip(paths, boxes):
        face = Face(box=box, score=1.0)
        preds.append(estimator.estimate(cv2.imread(str(path)), [face])[0].keypoints)
    return np.stack(preds)


def evaluate_model(model: pathlib.Path, data: pathlib.Path, limit: int = 0,
                   grid: pathlib.Path | None = None) -> dict:
    paths, truth = read_faces68(data / 'faces68' / 'test.csv', limit)
    cache = REPO / 'training' / 'cache' / f'boxes_test_{len(paths)}.json'
    boxes = detector_boxes(paths, truth, cache)
    pred = predict(KeypointEstimator(model, 'CPUExecutionProvider'), paths, boxes)
    nme = nme_per_face(pred, truth)
    report = {'images': len(paths), 'nme': float(nme.mean()),
              'failure_rate': float((nme > 0.10).mean()),
              'kaggle15_rmse_96px': kaggle_rmse96(pred, truth, boxes),
              'regions': {name: float(nme_per_face(pred, truth, list(idx)).mean())
                          for name, idx in REGIONS68.items()}}
    if grid:
        write_grid(paths, boxes, pred, truth, nme, grid)
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
    p.add_argument('--limit', type=int, default=0)
    p.add_argument('--grid', type=pathlib.Path, help='write a PNG grid of predictions')
    args = p.parse_args(argv)
    print(json.dumps(evaluate_model(args.model, args.data, args.limit, args.grid), indent=1))


if __name__ == '__main__':
    main()
