"""Keypoint accuracy and speed on the 500 faces68 test faces; prints a markdown table.

  python bench/bench_keypoints.py [--model PATH] [--data PATH] [--dlib]

NME = mean point error / outer-eye-corner distance (points 36, 45), failure = NME > 0.10.
Our model sees crops of the RetinaFace box (as at run time). --dlib adds dlib's 68-point
shape predictor on the same faces (from the same RetinaFace box, and from dlib's own HOG
box, which is what it was trained on), when dlib-bin and face-recognition-models import:
a comparison only, never a dependency.
"""
import argparse
import importlib.util
import pathlib
import platform
import sys
import time

import cv2
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facekp_ros.core.keypoints import SHIPPED_MODEL, KeypointEstimator  # noqa: E402
from facekp_ros.core.types import Face  # noqa: E402
from training.dataset import detector_boxes, read_faces68  # noqa: E402
from training.evaluate import nme_per_face  # noqa: E402


def ms_per_face(estimator, image, box, batch: int, runs: int = 200) -> float:
    faces = [Face(box=box, score=1.0) for _ in range(batch)]
    estimator.estimate(image, faces)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        estimator.estimate(image, faces)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3 / batch


def dlib_rows(paths, truth, boxes) -> list:
    try:
        import dlib
    except ImportError as error:
        return [f'| dlib 68-point predictor | not installable here ({error.name}) | | | |']
    # Found without importing face_recognition_models: it needs pkg_resources, which
    # setuptools >= 81 no longer has.
    package = importlib.util.find_spec('face_recognition_models')
    weights = (pathlib.Path(package.submodule_search_locations[0]) / 'models'
               / 'shape_predictor_68_face_landmarks.dat') if package else None
    if weights is None or not weights.is_file():
        return ['| dlib 68-point predictor | weights not found (pip install '
                'face-recognition-models) | | | |']
    predictor = dlib.shape_predictor(str(weights))
    hog = dlib.get_frontal_face_detector()
    rows = []
    for label, use_hog in (('RetinaFace box', False), ('its own HOG box', True)):
        preds, times, misses = [], [], 0
        for path, box in zip(paths, boxes):
            gray = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
            rect = dlib.rectangle(*map(int, (box[0], box[1], box[0] + box[2], box[1] + box[3])))
            if use_hog:
                found = hog(gray, 1)
                if found:
                    rect = max(found, key=lambda r: r.area())
                else:
                    misses += 1
            start = time.perf_counter()
            shape = predictor(gray, rect)
            times.append(time.perf_counter() - start)
            preds.append([(p.x, p.y) for p in shape.parts()])
        nme = nme_per_face(np.array(preds, np.float32), truth)
        note = f' ({misses} HOG misses: RetinaFace box used)' if use_hog else ''
        rows.append(f'| dlib 68-point predictor, {label}{note} | {nme.mean():.4f} | '
                    f'{(nme > 0.10).mean():.1%} | {np.median(times) * 1e3:.2f} | n/a |')
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--model', type=pathlib.Path, default=SHIPPED_MODEL)
    p.add_argument('--data', type=pathlib.Path, default=REPO.parent / 'shared' / 'data')
    p.add_argument('--dlib', action='store_true')
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args()
    paths, truth = read_faces68(args.data / 'faces68' / 'test.csv')
    cache = REPO / 'training' / 'cache' / f'boxes_test_{len(paths)}.json'
    boxes = detector_boxes(paths, truth, cache)
    estimator = KeypointEstimator(args.model, 'CPUExecutionProvider', threads=args.threads)
    preds = [estimator.estimate(cv2.imread(str(path)), [Face(box=box, score=1.0)])[0].keypoints
             for path, box in zip(paths, boxes)]
    nme = nme_per_face(np.stack(preds), truth)
    image = cv2.imread(str(paths[0]))
    print(f'{len(paths)} faces68 test faces; {platform.processor() or platform.machine()}, '
          f'onnxruntime CPU with {args.threads} threads\n')
    print('| model | NME | failures (NME > 0.10) | ms/face, 1 face | ms/face, 4 faces |')
    print('|---|---|---|---|---|')
    print(f'| {estimator.model_name} ({args.model.stat().st_size / 1e6:.1f} MB) | '
          f'{nme.mean():.4f} | {(nme > 0.10).mean():.1%} | '
          f'{ms_per_face(estimator, image, boxes[0], 1):.2f} | '
          f'{ms_per_face(estimator, image, boxes[0], 4):.2f} |')
    if args.dlib:
        print('\n'.join(dlib_rows(paths, truth, boxes)))


if __name__ == '__main__':
    main()
