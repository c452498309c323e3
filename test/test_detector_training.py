"""Detector fine-tuning: weights copied from the ONNX, anchor matching, synthetic frames, and a
dry run that exports an ONNX the runtime detector loads."""
import json

import numpy as np
import pytest

torch = pytest.importorskip('torch', reason='training needs torch (scripts/setup.sh --test)')

from facekp_ros.core.retinaface import (  # noqa: E402
    CENTER_VARIANCE,
    MEAN_BGR,
    SIZE_VARIANCE,
    RetinaFaceDetector,
    anchors_for,
    stock_onnx,
)
from facekp_ros.sources import sample_frame  # noqa: E402
from training.detector import train  # noqa: E402
from training.detector.labels import fit_box_map, five_points  # noqa: E402
from training.detector.loss import match  # noqa: E402
from training.detector.model import max_difference_to_onnx, stock_model  # noqa: E402
from training.detector.synth import MIN_LABELLED, FrameSynth  # noqa: E402


def test_pytorch_copy_matches_the_shipped_onnx():
    blob = (sample_frame().astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)[None].copy()
    assert max_difference_to_onnx(stock_model(), stock_onnx(), blob) < 1e-4
    odd = np.random.default_rng(0).normal(0, 60, (1, 3, 101, 203)).astype(np.float32)
    assert max_difference_to_onnx(stock_model(), stock_onnx(), odd) < 1e-4


def test_matching_encodes_what_the_runtime_decodes():
    anchors = anchors_for(128, 128)
    box = np.array([[30, 40, 54, 70]], np.float32)
    five = np.array([[[36, 50], [48, 50], [42, 57], [37, 63], [47, 63]]], np.float32)
    ignored = np.array([[90, 90, 120, 120]], np.float32)
    labels, loc, points = match(anchors, box, five, ignored)
    positive = np.flatnonzero(labels == 1)
    assert len(positive) >= 1
    a = anchors[positive]
    centres = a[:, :2] + loc[positive, :2] * CENTER_VARIANCE * a[:, 2:]
    sizes = a[:, 2:] * np.exp(loc[positive, 2:] * SIZE_VARIANCE)
    np.testing.assert_allclose(np.hstack([centres - sizes / 2, centres + sizes / 2]),
                               np.repeat(box, len(positive), 0), atol=1e-3)
    offsets = points[positive].reshape(-1, 5, 2) * CENTER_VARIANCE
    decoded = a[:, None, :2] + offsets * a[:, None, 2:]
    np.testing.assert_allclose(decoded, np.repeat(five, len(positive), 0), atol=1e-3)
    centres_all = anchors[:, :2]
    in_ignored = ((centres_all >= 95) & (centres_all <= 115)).all(1) & (anchors[:, 2] == 32)
    assert (labels[in_ignored] == -1).all()


def test_synthetic_frames_are_labelled_inside_the_frame(data):
    import cv2

    from training.dataset import read_faces68

    paths, points = read_faces68(data / 'faces68' / 'train.csv', 40)
    extents = np.hstack([points.min(1), points.max(1)])
    box_map, _ = fit_box_map(points, extents)
    np.testing.assert_allclose(box_map.boxes(points[:3] * 0.1), extents[:3] * 0.1, atol=0.5)
    synth = FrameSynth([cv2.imread(str(p)) for p in paths], points, box_map,
                       np.random.default_rng(0))
    labelled = 0
    for _ in range(20):
        sample = synth.sample(160)
        assert sample.bgr.shape == (160, 160, 3) and sample.bgr.dtype == np.uint8
        assert len(sample.boxes) == len(sample.landmarks)
        sizes = sample.boxes[:, 2:] - sample.boxes[:, :2]
        assert (sizes >= MIN_LABELLED).all()
        inside = np.clip(sample.boxes, 0, 160)
        assert ((inside[:, 2:] - inside[:, :2]).prod(1) >= 0.6 * sizes.prod(1) - 1e-3).all()
        labelled += len(sample.boxes)
    assert labelled >= 10
    assert five_points(points[:2]).shape == (2, 5, 2)


def test_occluded_faces_keep_their_whole_box_and_cover_part_of_it(data):
    import cv2

    from training.dataset import read_faces68

    paths, points = read_faces68(data / 'faces68' / 'train.csv', 20)
    extents = np.hstack([points.min(1), points.max(1)])
    box_map, _ = fit_box_map(points, extents)
    images = [cv2.imread(str(p)) for p in paths]
    synth = FrameSynth(images, points, box_map, np.random.default_rng(0), occlusion=1.0)
    patch, patch_points = synth._face_patch(80.0)
    box = box_map.boxes(patch_points)[0]
    changed = []
    for _ in range(10):
        covered = synth._occluded(patch, box)
        assert covered.shape == patch.shape
        x0, y0, x1, y1 = np.clip(box, 0, patch.shape[1::-1] * 2).astype(int)
        inside = np.abs(covered[y0:y1, x0:x1].astype(int) - patch[y0:y1, x0:x1]).max(-1) > 0
        changed.append(inside.mean())
    # Part of the face, never all of it: about a third to a half, as a hand or a shoulder.
    assert 0.1 < np.mean(changed) < 0.7 and max(changed) < 0.95


def test_dry_run_exports_a_model_the_runtime_loads(data, tmp_path):
    result = train.main(['--dry-run', '--data', str(data), '--out', str(tmp_path / 'run'),
                         '--occlusion', '0.5'])
    assert [h['epoch'] for h in result['history']] == [1, 2]
    assert (tmp_path / 'run' / 'loss_curve.png').stat().st_size > 1000
    state = torch.load(tmp_path / 'run' / 'checkpoint.pt', weights_only=False)
    assert state['epoch'] == 2 and state['config']['seed'] == 0
    assert 'recall_side_occluded@0.3' in result['history'][-1]['val']
    onnx_path = tmp_path / 'run' / 'epoch.onnx'
    detector = RetinaFaceDetector(model_path=str(onnx_path), providers='CPUExecutionProvider')
    meta = detector.session.get_modelmeta().custom_metadata_map
    assert json.loads(meta['training'])['size'] == 160
    faces = detector.detect(sample_frame())
    assert all(np.isfinite(f.box).all() for f in faces)
