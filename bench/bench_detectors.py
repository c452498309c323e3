"""Face detection recall, false positives and time per image on the faces68 test set.

    python -m bench.bench_detectors [--data /work/shared/data] [--limit 0]
"""
import argparse
import os
import pathlib
import time

import cv2
import numpy as np

from facekp_ros.core.detection import create_detector
from training.dataset import read_faces68

# As in test/conftest.py: $FACEKP_DATA, else ../shared/data beside the repository.
DEFAULT_DATA = pathlib.Path(os.environ.get(
    'FACEKP_DATA', pathlib.Path(__file__).resolve().parents[2] / 'shared' / 'data'))
BOX_ENLARGE = 1.1  # width and height, around the box centre
MIN_POINTS_INSIDE = 0.9
DETECTORS = (('retinaface, input_scale 1.0 (default)', 'retinaface', {'input_scale': 1.0}),
             ('retinaface, input_scale 0.5', 'retinaface', {'input_scale': 0.5}),
             ('haar', 'haar', {}))
TARGET_RECALL = 0.98
MATCH_RULE = (f'A labelled face counts as found when some detected box, enlarged by '
              f'{BOX_ENLARGE - 1:.0%} around its centre, contains >= {MIN_POINTS_INSIDE:.0%} '
              'of its 68 labelled keypoints. "Centre found" counts a face as found when a '
              "detected box contains the centre of its keypoints (RetinaFace's boxes run from "
              'the brows to the chin, so jaw points of turned faces fall outside them). A false '
              'positive is a detected box that finds no labelled face (faces68 labels one face '
              'per image, so an unlabelled face in the background also counts as one: an upper '
              'bound).')


def box_finds_face(box, points: np.ndarray) -> bool:
    """The shared matching rule: box (x, y, w, h) vs one face's (68, 2) keypoints."""
    x, y, w, h = (float(v) for v in box)
    cx, cy, half_w, half_h = x + w / 2, y + h / 2, w * BOX_ENLARGE / 2, h * BOX_ENLARGE / 2
    inside = ((np.abs(points[:, 0] - cx) <= half_w) & (np.abs(points[:, 1] - cy) <= half_h))
    return inside.mean() >= MIN_POINTS_INSIDE


def box_holds_centre(box, points: np.ndarray) -> bool:
    x, y, w, h = (float(v) for v in box)
    cx, cy = points.mean(0)
    return x <= cx <= x + w and y <= cy <= y + h


def match(boxes, faces_points) -> tuple:
    """(labelled faces found, boxes that found no labelled face) in one image."""
    hits = np.array([[box_finds_face(b, p) for p in faces_points] for b in boxes], bool)
    hits = hits.reshape(len(boxes), len(faces_points))
    return int(hits.any(0).sum()), int((~hits.any(1)).sum())


def evaluate(detector, images, points) -> dict:
    """Recall, false positives per image and median / mean ms per image over the set."""
    found = false_positives = centre_found = 0
    times_ms = []
    for bgr, face_points in zip(images, points):
        start = time.perf_counter()
        faces = detector.detect(bgr)
        times_ms.append((time.perf_counter() - start) * 1e3)
        hit, missed = match([f.box for f in faces], [face_points])
        found, false_positives = found + hit, false_positives + missed
        centre_found += any(box_holds_centre(f.box, face_points) for f in faces)
    return {'recall': found / len(images), 'found': found,
            'centre_recall': centre_found / len(images),
            'fp_per_image': false_positives / len(images),
            'ms_median': float(np.median(times_ms)), 'ms_mean': float(np.mean(times_ms))}


def load_test_set(data: pathlib.Path, limit: int = 0) -> tuple:
    paths, points = read_faces68(data / 'faces68' / 'test.csv', limit)
    images = [cv2.imread(str(p)) for p in paths]
    missing = [str(p) for p, image in zip(paths, images) if image is None]
    if missing:
        raise FileNotFoundError(f'{len(missing)} unreadable test images, first: {missing[0]}')
    return images, points


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument('--limit', type=int, default=0, help='first N test images; 0: all')
    args = parser.parse_args(argv)
    images, points = load_test_set(args.data, args.limit)
    print(f'faces68 test set: {len(images)} images, one labelled face each.\n')
    print('| detector | recall | found | centre found | false positives / image '
          '| ms / image (median) | ms / image (mean) |')
    print('|---|---:|---:|---:|---:|---:|---:|')
    results = {}
    for name, detector, params in DETECTORS:
        result = results[name] = evaluate(create_detector(detector, **params), images, points)
        print(f"| {name} | {result['recall']:.1%} | {result['found']}/{len(images)} "
              f"| {result['centre_recall']:.1%} "
              f"| {result['fp_per_image']:.3f} | {result['ms_median']:.1f} "
              f"| {result['ms_mean']:.1f} |", flush=True)
    print(f'\n{MATCH_RULE}')
    default = results[DETECTORS[0][0]]['recall']
    verdict = 'meets' if default >= TARGET_RECALL else 'misses'
    print(f'Default detector recall {default:.1%} {verdict} the target of '
          f'>= {TARGET_RECALL:.0%}.')
    print('Note: times are noisy when other jobs share the CPU (e.g. a training run).')


if __name__ == '__main__':
    main()
