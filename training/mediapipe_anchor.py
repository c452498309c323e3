"""The anchor row of the keypoint benchmark: unmodified MediaPipe FaceMesh + a ridge map.

MediaPipe's legacy solution (mediapipe==0.10.21, `refine_landmarks=True`: the attention mesh,
478 points, with its own face detector and crop) runs on every faces68 image; a ridge map
478x2 -> 68x2 is fitted on faces68/train without the held-out people (points centred and scaled
by the mesh's own box; alpha by 5-fold cross-validation over people) and applied to
faces68/test and to the held-out people. Faces MediaPipe does not find count as failures.

mediapipe is a benchmark-time dependency only, in its own Python 3.11 venv (it needs numpy<2);
the dump step imports nothing from this repository, so it runs there:

  python3.11 -m venv /work/mp-venv && /work/mp-venv/bin/pip install mediapipe==0.10.21 'numpy<2'
  /work/mp-venv/bin/python training/mediapipe_anchor.py dump out/mediapipe478.npz
  python -m training.mediapipe_anchor fit out/mediapipe478.npz out/anchor.npz
  python bench/bench_keypoints.py --anchor out/anchor.npz      # the anchor beside the models
"""
import argparse
import csv
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA = REPO.parent / 'shared' / 'data'
MESH_POINTS = 478
ALPHAS = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0)
ANCHOR_LABEL = 'unmodified FaceMesh (mediapipe 0.10.21, 478 points) + ridge map'


def dump(data: pathlib.Path, out: pathlib.Path, refine: bool = True) -> None:
    """MediaPipe's 478 landmarks (image pixels; NaN where it finds no face) for every image of
    faces68/train and faces68/test, keyed 'train/NAME' and 'test/NAME'. refine=False: the plain
    468-point mesh (face_landmark.tflite) on MediaPipe's own crop, for comparison."""
    import cv2
    import mediapipe as mp

    keys, points, seconds = [], [], []
    count = MESH_POINTS if refine else 468
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=refine,
                                         max_num_faces=1) as mesh:
        for part in ('train', 'test'):
            with open(data / 'faces68' / f'{part}.csv', newline='') as f:
                names = [row[0] for row in list(csv.reader(f))[1:]]
            for number, name in enumerate(names):
                bgr = cv2.imread(str(data / 'faces68' / part / name))
                start = time.perf_counter()
                found = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).multi_face_landmarks
                seconds.append(time.perf_counter() - start)
                xy = np.full((count, 2), np.nan, np.float32)
                if found:
                    h, w = bgr.shape[:2]
                    xy = np.array([(p.x * w, p.y * h) for p in found[0].landmark], np.float32)
                keys.append(f'{part}/{name}')
                points.append(xy)
                if number % 500 == 0:
                    print(f'{part}: {number}/{len(names)}', file=sys.stderr, flush=True)
    points = np.stack(points)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, keys=np.array(keys), points=points,
                        seconds=np.array(seconds, np.float32),
                        mediapipe=mp.__version__)
    missed = int(np.isnan(points[:, 0, 0]).sum())
    print(f'wrote {out}: {len(keys)} images, {missed} without a face, median '
          f'{np.median(seconds) * 1e3:.1f} ms per image (detector + mesh)')


def normalise(points: np.ndarray) -> tuple:
    """Centre (N, 2) and scale (N,) of each mesh's own box."""
    low, high = points.min(1), points.max(1)
    return (low + high) / 2, (high - low).max(1)


def features(mesh: np.ndarray) -> tuple:
    centre, scale = normalise(mesh)
    return ((mesh - centre[:, None]) / scale[:, None, None]).reshape(len(mesh), -1), centre, scale


def targets(points: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(N, 2K) points centred and scaled by each mesh's box: what the ridge map predicts."""
    return ((points - centre[:, None]) / scale[:, None, None]).reshape(len(points), -1)


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple:
    """(weights, bias) of the ridge fit y ~ x @ weights + bias (alpha per sample)."""
    mx, my = x.mean(0), y.mean(0)
    xc = x - mx
    weights = np.linalg.solve(xc.T @ xc + alpha * len(x) * np.eye(x.shape[1]), xc.T @ (y - my))
    return weights, my - mx @ weights


def apply_map(mesh: np.ndarray, weights, bias) -> np.ndarray:
    x, centre, scale = features(mesh)
    y = (x @ weights + bias).reshape(len(mesh), -1, 2)
    return y * scale[:, None, None] + centre[:, None]


def cross_validate(mesh, truth, people, folds: int = 5, seed: int = 0) -> dict:
    """Mean NME of each alpha over folds of whole people."""
    names = sorted(set(people))
    fold_of = dict(zip(names, np.random.default_rng(seed).permutation(len(names)) % folds))
    from training.evaluate import nme_per_face

    fold = np.array([fold_of[p] for p in people])
    x, centre, scale = features(mesh)
    y = targets(truth, centre, scale)
    scores = {}
    for alpha in ALPHAS:
        errors = []
        for k in range(folds):
            train, val = fold != k, fold == k
            weights, bias = ridge(x[train], y[train], alpha)
            errors.append(nme_per_face(apply_map(mesh[val], weights, bias), truth[val]))
        scores[alpha] = float(np.concatenate(errors).mean())
    return scores


def fit(dump_file: pathlib.Path, out: pathlib.Path, data: pathlib.Path) -> dict:
    """Fits the map on faces68/train without the held-out people; writes the map and the
    anchor's predictions on faces68/test and the held-out people (fallback for a face the mesh
    missed: the mean training shape in the RetinaFace box; it is always counted a failure)."""
    from training.dataset import load_split, person
    from training.evaluate import FAILURE, nme_per_face

    dumped = np.load(dump_file)
    index = {key: i for i, key in enumerate(dumped['keys'])}
    all_points = dumped['points']

    def mesh_of(paths):
        return all_points[[index[f'{p.parent.name}/{p.name}'] for p in paths]]

    paths, truth, _ = load_split(data, 'train')
    mesh = mesh_of(paths)
    found = ~np.isnan(mesh[:, 0, 0])
    people = [person(p.name) for p, ok in zip(paths, found) if ok]
    scores = cross_validate(mesh[found], truth[found], people)
    alpha = min(scores, key=scores.get)
    x, centre, scale = features(mesh[found])
    weights, bias = ridge(x, targets(truth[found], centre, scale), alpha)
    mean_shape = bias.reshape(-1, 2) + (x.mean(0) @ weights).reshape(-1, 2)
    result = {'alpha': alpha, 'cv_nme': scores, 'train_images': int(found.sum()),
              'train_missed': int((~found).sum())}
    arrays = {'weights': weights, 'bias': bias, 'alpha': alpha}
    for split in ('test', 'heldout'):
        paths, truth, boxes = load_split(data, split)
        mesh = mesh_of(paths)
        missed = np.isnan(mesh[:, 0, 0])
        pred = np.empty_like(truth)
        if (~missed).any():
            pred[~missed] = apply_map(mesh[~missed], weights, bias)
        for i in np.flatnonzero(missed):  # a generic shape in the detector's box
            x0, y0, w, h = boxes[i]
            pred[i] = mean_shape * max(w, h) + (x0 + w / 2, y0 + h / 2)
        arrays[f'{split}_keys'] = np.array([f'{p.parent.name}/{p.name}' for p in paths])
        arrays[f'{split}_pred'] = pred
        arrays[f'{split}_missed'] = missed
        errors = nme_per_face(pred, truth)
        result[split] = {'images': len(paths), 'missed': int(missed.sum()),
                         'nme': float(errors.mean()),
                         'nme_found_faces': float(errors[~missed].mean()),
                         'failures': float(((errors > FAILURE) | missed).mean())}
    arrays['seconds'] = dumped['seconds']
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='step', required=True)
    d = sub.add_parser('dump', help='in the mediapipe venv: the 478 landmarks of every image')
    d.add_argument('out', type=pathlib.Path)
    d.add_argument('--no-refine', action='store_true',
                   help="MediaPipe's plain 468-point mesh instead of the attention mesh")
    f = sub.add_parser('fit', help='the ridge map and the anchor predictions')
    f.add_argument('dump', type=pathlib.Path)
    f.add_argument('out', type=pathlib.Path)
    for parser in (d, f):
        parser.add_argument('--data', type=pathlib.Path, default=DATA)
    args = p.parse_args(argv)
    if args.step == 'dump':
        dump(args.data, args.out, not args.no_refine)
    else:
        import json

        print(json.dumps(fit(args.dump, args.out, args.data), indent=1))


if __name__ == '__main__':
    if __package__ in (None, ''):  # run as a file (the mediapipe venv): the repo on the path
        sys.path.insert(0, str(REPO))
    main()
