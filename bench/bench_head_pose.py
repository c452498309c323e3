"""Head pose accuracy and cost, and the cue calibration numbers; prints markdown tables.

  python bench/bench_head_pose.py [--data PATH] [--facemesh FACEMESH.onnx] [--faces 2000]

(a) Synthetic: the 3D face model at random poses (yaw, pitch, roll each uniform in +-60 deg,
    0.5-2.5 m away, anywhere in a 640x480 view), projected with the default intrinsics, plus
    Gaussian keypoint noise equal to the shipped model's error: NME 0.049 is the mean point
    error over the outer-eye-corner distance, and a 2D Gaussian with per-axis sigma s has a
    mean error of s sqrt(pi / 2), so s = 0.049 x that distance / 1.2533 per face. "No pose":
    faces turned more than 90 deg from the camera ray (their front is not visible) and, with
    noise, fits rejected for a reprojection error over 0.15 x the eye-corner distance.
(b) Real faces, faces68/test (needs --facemesh, see training/facemesh_reference.py, and the
    mean mesh
    that training/fit_face_model.py leaves in training/cache): the pose from the labelled
    and from the predicted 68 points against the pose MediaPipe FaceMesh's own 3D points
    imply (an independent network, 468 points with depth, fitted in 3D, not by PnP). Both
    use the face frame of the same FaceMesh mean, so this measures each face's estimate, not
    where that frame puts zero.
(c) Cost per face of head pose, cues and markers, beside the keypoint model in the same run.
Cues: the eye aspect ratio of the labelled faces68/train eyes (TYPICAL_OPEN_EAR), and how
well the model's eye and mouth openness follow the labelled ones on faces68/test.
Blinks: a 4 s video of the built-in sample (4 faces, 150-300 px) at 30 fps, with light noise,
in which the eyes are closed for 4 frames three times (eye regions inpainted with the
surrounding skin and a lash line drawn where the lids meet).
"""
import argparse
import math
import os
import pathlib
import sys
import time

import cv2
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facekp_ros.core.cues import CueEstimator, eye_openness, mouth_openness  # noqa: E402
from facekp_ros.core.head_pose import (  # noqa: E402
    FACE_MODEL68_M,
    HeadPoseEstimator,
    default_intrinsics,
    project,
    rotation_from_yaw_pitch_roll,
    yaw_pitch_roll_deg,
)
from facekp_ros.core.keypoints import KeypointEstimator  # noqa: E402
from facekp_ros.core.markers import face_markers  # noqa: E402
from facekp_ros.core.types import Face, HeadPose  # noqa: E402
from training.dataset import detector_boxes, read_faces68  # noqa: E402
from training.evaluate import predict  # noqa: E402

NME = 0.049
CACHE = REPO / 'training' / 'cache'


def angle_errors(estimated, truth) -> np.ndarray:
    """|difference| per axis (yaw, pitch, roll), wrapped to [0, 180]."""
    d = np.abs(np.subtract(estimated, truth)) % 360
    return np.minimum(d, 360 - d)


def synthetic_rows(count: int, rng) -> list:
    camera = default_intrinsics(640, 480)
    estimator, rows = HeadPoseEstimator(), []
    for noise in (0.0, NME, 2 * NME):
        errors, distance, lost = [], [], 0
        for _ in range(count):
            angles = rng.uniform(-60, 60, 3)
            z = rng.uniform(0.5, 2.5)
            t = np.array([rng.uniform(-0.4, 0.4) * z, rng.uniform(-0.3, 0.3) * z, z])
            truth = HeadPose(rotation_from_yaw_pitch_roll(*angles), t, 0.0,
                             camera.camera_matrix, camera.distortion, True)
            points = project(truth, FACE_MODEL68_M)
            sigma = noise * np.linalg.norm(points[36] - points[45]) / math.sqrt(math.pi / 2)
            pose = estimator.estimate(points + rng.normal(0, sigma, points.shape), camera)
            if pose is None:
                lost += 1
                continue
            errors.append(angle_errors(yaw_pitch_roll_deg(pose.rotation), angles))
            distance.append(abs(pose.distance_m / truth.distance_m - 1))
        e = np.array(errors)
        rows.append(f'| {noise:.3f} | {e[:, 0].mean():.2f} | {e[:, 1].mean():.2f} | '
                    f'{e[:, 2].mean():.2f} | {np.percentile(e.max(1), 95):.1f} | '
                    f'{100 * np.mean(distance):.1f} % | {lost}/{count} |')
    return rows


def mean_mesh() -> np.ndarray:
    path = CACHE / 'facemesh_mean.npz'
    if not path.is_file():
        sys.exit(f'{path} missing: run python -m training.fit_face_model --facemesh ... first')
    return np.load(path)['mesh_m']


def real_rows(data: pathlib.Path, facemesh_path: str) -> tuple:
    from training.facemesh_reference import FaceMesh, mesh_rotation

    paths, labels = read_faces68(data / 'faces68' / 'test.csv')
    boxes = detector_boxes(paths, labels, CACHE / f'boxes_test_{len(paths)}.json')
    predicted = predict(KeypointEstimator(None, 'CPUExecutionProvider'), paths, boxes)
    facemesh, mesh_m, estimator = FaceMesh(facemesh_path), mean_mesh(), HeadPoseEstimator()
    results = {'labelled': [], 'predicted': []}
    reference, missing = [], {'labelled': 0, 'predicted': 0, 'mesh': 0}
    for path, box, truth, guess in zip(paths, boxes, labels, predicted):
        image = cv2.imread(str(path))
        mesh = facemesh(image, box)
        if mesh is None:
            missing['mesh'] += 1
            continue
        camera = default_intrinsics(image.shape[1], image.shape[0])
        ref = yaw_pitch_roll_deg(mesh_rotation(mesh, mesh_m, camera.camera_matrix))
        reference.append(ref)
        for name, points in (('labelled', truth), ('predicted', guess)):
            pose = estimator.estimate(points, camera)
            if pose is None:
                missing[name] += 1
                results[name].append(np.full(4, np.nan))
                continue
            results[name].append(np.r_[angle_errors(yaw_pitch_roll_deg(pose.rotation), ref),
                                       pose.reprojection_error_px])
    reference = np.abs(np.array(reference))
    rows = []
    for name, errors in results.items():
        e = np.array(errors)
        ok = np.isfinite(e).all(1)
        rows.append(f'| {name} 68 points | {e[ok, 0].mean():.2f} | {e[ok, 1].mean():.2f} | '
                    f'{e[ok, 2].mean():.2f} | {np.median(e[ok, :3], 0).round(1).tolist()} | '
                    f'{e[ok, 3].mean():.2f} | {missing[name]} |')
    yaw_bins = []
    e = np.array(results['predicted'])
    for lo, hi in ((0, 15), (15, 30), (30, 90)):
        sel = (reference[:, 0] >= lo) & (reference[:, 0] < hi) & np.isfinite(e).all(1)
        yaw_bins.append(f'| {lo}-{hi} | {sel.sum()} | ' + ' | '.join(
            f'{v:.2f}' for v in e[sel, :3].mean(0)) + ' |')
    spread = (f'{len(reference)} faces (FaceMesh missed {missing["mesh"]}); reference |yaw|, '
              f'|pitch|, |roll| mean {", ".join(f"{v:.1f}" for v in reference.mean(0))} deg')
    return rows, yaw_bins, spread, predicted, labels


def per_call_ms(call, runs: int) -> float:
    call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def cost_rows(data: pathlib.Path, runs: int = 300) -> list:
    """Median ms per face over repeated calls, all in this one run so the ratios hold."""
    paths, labels = read_faces68(data / 'faces68' / 'test.csv', 40)
    images = [cv2.imread(str(p)) for p in paths]
    estimator, cues = HeadPoseEstimator(), CueEstimator()
    camera = default_intrinsics(images[0].shape[1], images[0].shape[0])
    faces = [Face(box=(0, 0, 1, 1), score=1.0, track_id=i, keypoints=k)
             for i, k in enumerate(labels)]
    posed = estimator.apply(faces, images[0].shape, camera)
    with_cues = cues.apply(posed, 0.0)
    clock = iter(range(1, 10 ** 9))
    keypoint_model = KeypointEstimator(None, 'CPUExecutionProvider')
    box = Face(box=(20, 20, 140, 160), score=1.0)
    n = len(faces)
    timings = {
        'head pose (HeadPoseEstimator.apply)':
            per_call_ms(lambda: estimator.apply(faces, images[0].shape, camera), runs) / n,
        'cues (CueEstimator.apply, smoothed)':
            per_call_ms(lambda: cues.apply(posed, next(clock) / 30), runs) / n,
        'markers (face_markers)': per_call_ms(lambda: face_markers(with_cues), runs) / n,
        'keypoint model (KeypointEstimator, batch 1), the peer':
            per_call_ms(lambda: keypoint_model.estimate(images[0], [box]), runs // 3),
    }
    peer = timings['keypoint model (KeypointEstimator, batch 1), the peer']
    return [f'| {name} | {ms:.3f} | {ms / peer:.2f} |' for name, ms in timings.items()]


def ear_of(points: np.ndarray) -> np.ndarray:
    from facekp_ros.core.cues import TYPICAL_OPEN_EAR

    return np.array([eye_openness(p) for p in points]) * TYPICAL_OPEN_EAR


def cue_rows(data: pathlib.Path, predicted, labels) -> list:
    _, train = read_faces68(data / 'faces68' / 'train.csv')
    train_ear = ear_of(train.astype(np.float64)).ravel()
    rows = [f'- faces68/train labelled eyes: {train_ear.size}, eye aspect ratio median '
            f'**{np.median(train_ear):.3f}** (TYPICAL_OPEN_EAR), 5/25/75/95th percentiles '
            + ', '.join(f'{v:.3f}' for v in np.percentile(train_ear, [5, 25, 75, 95]))]
    truth_ear, guess_ear = ear_of(labels.astype(np.float64)), ear_of(predicted)
    left_right = np.corrcoef(ear_of(train.astype(np.float64)).T)[0, 1]
    rows.append(f'- the two labelled eyes of one face agree only so far: correlation of right '
                f'and left eye aspect ratio on train {left_right:.2f}')
    corr = np.corrcoef(truth_ear.ravel(), guess_ear.ravel())[0, 1]
    rows.append(f'- faces68/test, model vs label eye aspect ratio: correlation {corr:.2f}, '
                f'median {np.median(guess_ear):.3f} vs {np.median(truth_ear):.3f}')
    closed = truth_ear.mean(1) < 0.15
    found = guess_ear.mean(1) < 0.15
    rows.append(f'- eyes closed or nearly (mean label ratio < 0.15): {closed.sum()} test faces; '
                f'the model says so for {(found & closed).sum()} of them and for '
                f'{(found & ~closed).sum()} of the {(~closed).sum()} others')
    mouth_truth = np.array([mouth_openness(p) for p in labels.astype(np.float64)])
    mouth_guess = np.array([mouth_openness(p) for p in predicted])
    rows.append(f'- mouth openness, model vs label on test: correlation '
                f'{np.corrcoef(mouth_truth, mouth_guess)[0, 1]:.2f}, mean absolute difference '
                f'{np.abs(mouth_truth - mouth_guess).mean():.3f}; train label median '
                f'{np.median([mouth_openness(p) for p in train.astype(np.float64)]):.3f}')
    return rows


def closed_eyes(frame: np.ndarray, faces) -> np.ndarray:
    """frame with every face's eyes shut: eye regions inpainted, a dark lash line drawn."""
    mask = np.zeros(frame.shape[:2], np.uint8)
    for face in faces:
        for first in (36, 42):
            eye = face.keypoints[first:first + 6].astype(np.float64)
            centre = eye.mean(0)
            cv2.fillPoly(mask, [np.round(centre + (eye - centre) * (1.25, 1.9)).astype(np.int32)],
                         255)
    out = cv2.inpaint(frame, cv2.dilate(mask, np.ones((3, 3), np.uint8)), 5, cv2.INPAINT_TELEA)
    for face in faces:
        for first in (36, 42):
            eye = face.keypoints[first:first + 6]
            lids_meet = np.round((eye[[0, 5, 4, 3]] + eye[[0, 1, 2, 3]]) / 2).astype(np.int32)
            width = np.linalg.norm(eye[0] - eye[3])
            cv2.polylines(out, [lids_meet], False, (40, 40, 60), max(1, round(width / 12)),
                          cv2.LINE_AA)
    return out


def blink_rows(frames: int = 120, fps: float = 30.0) -> list:
    from facekp_ros.core.pipeline import FacePipeline, PipelineConfig
    from facekp_ros.sources import sample_frame

    pipeline = FacePipeline(PipelineConfig(annotate=False))
    frame = sample_frame()
    shut = closed_eyes(frame, pipeline.process(frame, 0.0).faces)
    closed = np.zeros(frames, bool)
    for start in (20, 60, 100):
        closed[start:start + 4] = True
    rng, raw = np.random.default_rng(0), CueEstimator(smooth=False)
    pipeline = FacePipeline(PipelineConfig(annotate=False))
    openness = {'raw': [], 'smoothed': []}
    for i in range(frames):
        image = np.clip((shut if closed[i] else frame) + rng.normal(0, 3, frame.shape), 0, 255)
        faces = pipeline.process(image.astype(np.uint8), i / fps).faces
        for name, done in (('raw', raw.apply(faces, i / fps)), ('smoothed', faces)):
            openness[name].append([(f.cues.right_eye_openness + f.cues.left_eye_openness) / 2
                                   for f in sorted(done, key=lambda f: f.track_id)])
    rows = []
    for name, values in openness.items():
        v = np.array(values)
        rows.append(f'| {name} | {v[~closed].mean():.2f} | {v[closed].mean():.2f} | '
                    f'{v[closed].min():.2f} | {(v[closed] < 0.5).sum()}/{v[closed].size} | '
                    f'{(v[~closed] < 0.5).sum()}/{v[~closed].size} |')
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', type=pathlib.Path, default=REPO.parent / 'shared' / 'data')
    p.add_argument('--facemesh', help='face_landmark.tflite as ONNX, for table (b)')
    p.add_argument('--faces', type=int, default=2000, help='synthetic faces per noise level')
    args = p.parse_args()
    load = os.getloadavg()
    print(f'load average at start {load[0]:.1f} ({os.cpu_count()} cores)\n')
    print('(a) synthetic, +-60 deg on every axis, default intrinsics 640x480\n')
    print('| noise NME | yaw err deg | pitch err deg | roll err deg | 95th pct worst axis | '
          'distance err | no pose |')
    print('|---|---|---|---|---|---|---|')
    print('\n'.join(synthetic_rows(args.faces, np.random.default_rng(0))))
    if args.facemesh:
        rows, bins, spread, predicted, labels = real_rows(args.data, args.facemesh)
        print(f'\n(b) faces68/test against the FaceMesh 3D reference: {spread}\n')
        print('| keypoints | yaw diff deg | pitch diff deg | roll diff deg | medians | '
              'reprojection px | no pose |')
        print('|---|---|---|---|---|---|---|')
        print('\n'.join(rows))
        print('\n| reference abs yaw deg | faces | yaw | pitch | roll (predicted points) |')
        print('|---|---|---|---|---|')
        print('\n'.join(bins))
        print('\nCues\n')
        print('\n'.join(cue_rows(args.data, predicted, labels)))
    print('\nBlinks on the built-in sample video (mean of both eyes\' openness per face)\n')
    print('| cues | open frames mean | closed frames mean | closed frames min | closed < 0.5 | '
          'open < 0.5 |')
    print('|---|---|---|---|---|---|')
    print('\n'.join(blink_rows()))
    print('\n(c) cost per face (median of repeated calls over 40 faces)\n')
    print('| stage | ms per face | x keypoint model |')
    print('|---|---|---|')
    print('\n'.join(cost_rows(args.data)))
    print(f'\nload average at end {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
    main()
