"""Face detectors: time per 640x480 frame, and recall / false positives on faces68 test.

    python -m bench.bench_detectors [--data ../shared/data] [--limit 0] [--runs 100]
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
FRAME_SCENE, FRAME_SIZE = 'avengers2.jpg', (640, 480)  # 4 faces, letterboxed to 640x480
WARMUP_RUNS = 5
DETECTORS = (('retinaface, input_scale 1.0 (default)', 'retinaface', {'input_scale': 1.0}),
             ('retinaface, input_scale 0.5', 'retinaface', {'input_scale': 0.5}),
             ('haar (scale 1.1, 5 neighbours, eyes on)', 'haar', {}))
TARGET_RECALL = 0.98
MIN_POINTS_INSIDE = 0.9
BOX_ENLARGE, STRICT_ENLARGE = 1.2, 1.1  # width and height, around the box centre
MATCH_RULE = (
    f'A labelled face is found when some detected box, with its width and height enlarged '
    f'by {BOX_ENLARGE - 1:.0%} around its centre, contains >= {MIN_POINTS_INSIDE:.0%} of the '
    f"face's 68 labelled keypoints (strict: enlarged by {STRICT_ENLARGE - 1:.0%}). Why 20%: "
    "RetinaFace's boxes run from the brows to the chin, so the jaw and brow points of turned "
    'faces sit just outside them, and the anonymizer hides 1.3x the box anyway. A false '
    'positive is a detected box that finds no labelled face by the main rule; faces68 labels '
    'one face per image, so a real unlabelled face in the background counts as one too (an '
    'upper bound).')


def box_finds_face(box, points: np.ndarray, enlarge: float = BOX_ENLARGE) -> bool:
    """The matching rule: box (x, y, w, h) against one face's (68, 2) keypoints."""
    x, y, w, h = (float(v) for v in box)
    cx, cy, half_w, half_h = x + w / 2, y + h / 2, w * enlarge / 2, h * enlarge / 2
    inside = (np.abs(points[:, 0] - cx) <= half_w) & (np.abs(points[:, 1] - cy) <= half_h)
    return inside.mean() >= MIN_POINTS_INSIDE


def match(boxes, faces_points, enlarge: float = BOX_ENLARGE) -> tuple:
    """(labelled faces found, boxes that found no labelled face) in one image."""
    hits = np.array([[box_finds_face(b, p, enlarge) for p in faces_points] for b in boxes],
                    bool).reshape(len(boxes), len(faces_points))
    return int(hits.any(0).sum()), int((~hits.any(1)).sum())


def evaluate(detector, images, points) -> dict:
    """Recall (main and strict rule) and false positives per image over a labelled set."""
    found = strict_found = false_positives = 0
    for bgr, face_points in zip(images, points):
        boxes = [f.box for f in detector.detect(bgr)]
        hit, unmatched = match(boxes, [face_points])
        found, false_positives = found + hit, false_positives + unmatched
        strict_found += match(boxes, [face_points], STRICT_ENLARGE)[0]
    return {'recall': found / len(images), 'found': found,
            'strict_recall': strict_found / len(images),
            'fp_per_image': false_positives / len(images)}


def time_per_frame(function, frame: np.ndarray, runs: int) -> np.ndarray:
    """ms per call over `runs` calls, after a few untimed ones (allocations, caches)."""
    for _ in range(WARMUP_RUNS):
        function(frame)
    times_ms = []
    for _ in range(runs):
        start = time.perf_counter()
        function(frame)
        times_ms.append((time.perf_counter() - start) * 1e3)
    return np.array(times_ms)


def timing_frame(data: pathlib.Path) -> np.ndarray:
    """A 640x480 frame with faces: a scene photo scaled to fit, on a grey background."""
    scene = cv2.imread(str(data / 'scenes' / FRAME_SCENE))
    if scene is None:
        raise FileNotFoundError(f'cannot read {data / "scenes" / FRAME_SCENE} (check --data)')
    width, height = FRAME_SIZE
    scale = min(width / scene.shape[1], height / scene.shape[0])
    scene = cv2.resize(scene, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((height, width, 3), 96, np.uint8)
    top, left = (height - scene.shape[0]) // 2, (width - scene.shape[1]) // 2
    frame[top:top + scene.shape[0], left:left + scene.shape[1]] = scene
    return frame


def load_test_set(data: pathlib.Path, limit: int = 0) -> tuple:
    """(BGR images, (N, 68, 2) keypoints) of the faces68 test set, or its first `limit`."""
    csv_path = data / 'faces68' / 'test.csv'
    if not csv_path.is_file():
        raise FileNotFoundError(f'{csv_path} not found: pass --data or set FACEKP_DATA')
    paths, points = read_faces68(csv_path, limit)
    images = [cv2.imread(str(p)) for p in paths]
    missing = [str(p) for p, image in zip(paths, images) if image is None]
    if missing:
        raise FileNotFoundError(f'{len(missing)} unreadable test images, first: {missing[0]}')
    return images, points


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument('--limit', type=int, default=0, help='first N test images; 0: all')
    parser.add_argument('--runs', type=int, default=100, help='timed runs on the frame')
    args = parser.parse_args(argv)
    images, points = load_test_set(args.data, args.limit)
    frame = timing_frame(args.data)
    print(f'Timing: {args.runs} runs on a {FRAME_SIZE[0]}x{FRAME_SIZE[1]} frame '
          f'(scenes/{FRAME_SCENE} letterboxed, 4 faces), after {WARMUP_RUNS} warm-up runs; '
          f'{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at start. '
          f'Recall: faces68 test set, {len(images)} images, one labelled face each.\n')
    print('| detector | faces in frame | ms / frame median | ms / frame p90 | fps (median) '
          '| recall | strict recall | false positives / image |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|')
    default_recall = None
    for name, detector_name, params in DETECTORS:
        detector = create_detector(detector_name, **params)
        times = time_per_frame(detector.detect, frame, args.runs)
        result = evaluate(detector, images, points)
        default_recall = default_recall or result['recall']
        median, p90 = np.median(times), np.percentile(times, 90)
        print(f"| {name} | {len(detector.detect(frame))} | {median:.1f} | {p90:.1f} "
              f"| {1e3 / median:.0f} | {result['recall']:.1%} ({result['found']}) "
              f"| {result['strict_recall']:.1%} | {result['fp_per_image']:.3f} |", flush=True)
    print(f'\n{MATCH_RULE}')
    verdict = 'meets' if default_recall >= TARGET_RECALL else 'misses'
    print(f'Default detector recall {default_recall:.1%} {verdict} the target of '
          f'>= {TARGET_RECALL:.0%}.')
    print('Times are on a shared CPU: other jobs on the machine make them noisy (see the '
          'load average above); compare rows of one run, not runs.')


if __name__ == '__main__':
    main()
