"""Keypoints on rolled and small faces: the held-out people turned by +-15/30/45 degrees and
shrunk to 40-80 px faces in a 640x480 frame; a markdown table.

  python -m bench.bench_keypoints_rolled [--models PATH ...] [--limit N] [--data PATH]

Each labelled photo is turned whole (its 68 labels with it), or scaled so that its face spans
40, 60 or 80 px and set in the middle of a 640x480 frame of its mean colour. The face is found
with the turned scans to +-45 degrees at full scale, the detection (box and 5 landmarks) that
best overlaps the labelled face is given to KeypointEstimator, and the NME (point error /
outer-eye-corner distance, in the variant's pixels) is compared with the upright photo's.
A face the detector does not find counts as a failure (NME > 0.10) and is left out of the
mean.
"""
import argparse
import os
import pathlib

import cv2
import numpy as np

from facekp_ros.core.detection import DetectionConfig, FaceFinder
from facekp_ros.core.keypoints import BUILT_IN_MODELS, KeypointEstimator
from facekp_ros.core.scan import ScanPlan, turned_view
from facekp_ros.core.tracking import iou_matrix
from training.dataset import box_from_points, load_split
from training.evaluate import FAILURE, SPLIT_NAMES, as_68, nme_per_face

REPO = pathlib.Path(__file__).resolve().parents[1]
ROLLS = (0, 15, -15, 30, -30, 45, -45)
FACE_SIZES = (80, 60, 40)  # px, the labelled points' larger extent
FRAME_WH = (640, 480)
MATCH_IOU = 0.3  # a detection overlapping the labelled face less than this is not it
WITHIN = 1.15  # the target: NME within 15 % of upright up to 30 degrees of roll


def rolled(image, points, degrees: float) -> tuple:
    view, to_image = turned_view(image, degrees)
    forward = cv2.invertAffineTransform(to_image)
    return view, points @ forward[:, :2].T + forward[:, 2]


def small(image, points, face_px: int) -> tuple:
    extent = (points.max(0) - points.min(0)).max()
    scale = face_px / extent
    face = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.empty((FRAME_WH[1], FRAME_WH[0], 3), np.uint8)
    frame[:] = image.reshape(-1, 3).mean(0).astype(np.uint8)
    h, w = face.shape[:2]
    x0, y0 = (FRAME_WH[0] - w) // 2, (FRAME_WH[1] - h) // 2
    frame[y0:y0 + h, x0:x0 + w] = face
    return frame, points * scale + (x0 + (scale - 1) / 2, y0 + (scale - 1) / 2)


def labelled_face(finder, image, points):
    """The detection that best overlaps the labelled face, or None."""
    found = finder.find(image)
    faces = found.faces + found.mask_only
    if not faces:
        return None
    overlap = iou_matrix(np.array([f.box for f in faces]), box_from_points(points)[None])[:, 0]
    best = int(overlap.argmax())
    return faces[best] if overlap[best] >= MATCH_IOU else None


def variant_nme(finder, estimators, paths, truth, make) -> dict:
    """{model: (N,) NME, nan where the face was not found} of one variant."""
    nme = {name: np.full(len(paths), np.nan) for name in estimators}
    for index, (path, points) in enumerate(zip(paths, truth)):
        image, points = make(cv2.imread(str(path)), points)
        face = labelled_face(finder, image, points)
        if face is None:
            continue
        for name, estimator in estimators.items():
            [face] = estimator.estimate(image, [face])
            predicted = as_68(estimator, face.keypoints[None])
            nme[name][index] = nme_per_face(predicted, points[None])[0]
    return nme


def cells(nme: np.ndarray, upright: float) -> str:
    found = np.isfinite(nme)
    failures = (~found | (np.nan_to_num(nme, nan=1.0) > FAILURE)).mean()
    mean = float(np.nanmean(nme))
    return (f'{mean:.4f} | {float(np.nanmedian(nme)):.4f} | {failures:.1%} | '
            f'{int((~found).sum())} | {mean / upright:.2f}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', type=pathlib.Path, nargs='+',
                        default=[BUILT_IN_MODELS['facekp68']])
    parser.add_argument('--data', type=pathlib.Path, default=REPO.parent / 'shared' / 'data')
    parser.add_argument('--limit', type=int, default=0, help='first N held-out photos only')
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    paths, truth, _ = load_split(args.data, 'heldout', args.limit)
    finder = FaceFinder(DetectionConfig(plan=ScanPlan(roll_coverage=max(ROLLS)),
                                        threads=args.threads))
    estimators = {}
    for path in args.models:
        estimator = KeypointEstimator(path, 'CPUExecutionProvider', threads=args.threads)
        estimators[f'{estimator.model_name} ({path.name})'] = estimator
    variants = [(f'rolled {d:+d} deg', lambda im, pts, d=d: rolled(im, pts, d)) for d in ROLLS]
    variants += [(f'face {px} px in 640x480', lambda im, pts, px=px: small(im, pts, px))
                 for px in FACE_SIZES]
    print(f'{SPLIT_NAMES["heldout"]}: {len(paths)} photos; faces found with the turned scans '
          f'to +-{max(ROLLS)} degrees; load average {os.getloadavg()[0]:.1f} at start\n')
    print('| model | variant | NME | median | failures (> 0.10 or not found) | not found | '
          'NME / upright |')
    print('|---|---|---:|---:|---:|---:|---:|')
    upright = {}
    worst = {name: 0.0 for name in estimators}
    for label, make in variants:
        for name, nme in variant_nme(finder, estimators, paths, truth, make).items():
            upright.setdefault(name, float(np.nanmean(nme)))
            ratio = float(np.nanmean(nme)) / upright[name]
            if 'rolled' in label and abs(int(label.split()[1])) <= 30:
                worst[name] = max(worst[name], ratio)
            print(f'| {name} | {label} | {cells(nme, upright[name])} |', flush=True)
    for name, ratio in worst.items():
        verdict = 'met' if ratio <= WITHIN else f'missed by {ratio - WITHIN:.2f}'
        print(f'\n{name}: worst NME / upright up to 30 degrees {ratio:.2f} (target <= '
              f'{WITHIN:.2f}: {verdict})')


if __name__ == '__main__':
    main()
