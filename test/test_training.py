"""Training on a tiny subset: a few optimizer steps, ONNX export, reload, evaluate."""
import json

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip('torch', reason='training needs torch (scripts/setup.sh --test)')

from facekp_ros.core.keypoint_names import KEYPOINT68_NAMES, flip_permutation68  # noqa: E402
from facekp_ros.core.keypoints import KeypointEstimator, crop_matrix  # noqa: E402
from facekp_ros.core.types import Face  # noqa: E402
from training import evaluate, export_onnx, train  # noqa: E402
from training.dataset import (  # noqa: E402
    KAGGLE15_NAMES,
    CropSampler,
    kaggle15_from_68,
    kaggle_flip_permutation,
    read_kaggle,
)


def test_dry_run_export_reload_and_evaluate(data, tmp_path):
    result = train.main(['--dry-run', '--data', str(data), '--out', str(tmp_path / 'run')])
    assert len(result['history']) == 2
    assert (tmp_path / 'run' / 'loss_curve.png').stat().st_size > 1000
    state = torch.load(tmp_path / 'run' / 'checkpoint.pt', weights_only=False)
    assert state['config']['crop_scale'] == train.CROP['crop_scale'] and state['epoch'] == 2

    model_path = export_onnx.export(tmp_path / 'run' / 'best.pt', tmp_path / 'kp.onnx',
                                    'test-model', {'nme': 1.0})
    session = ort.InferenceSession(str(model_path), providers=['CPUExecutionProvider'])
    assert [i.name for i in session.get_inputs()] == ['crops']
    assert session.get_inputs()[0].shape[0] == 'faces'  # dynamic batch
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta['keypoint_names']) == list(KEYPOINT68_NAMES)
    assert json.loads(meta['crop_scale']) == train.CROP['crop_scale']

    estimator = KeypointEstimator(model_path, 'CPUExecutionProvider')
    assert estimator.model_name == 'test-model' and estimator.input_size == 112
    report = evaluate.evaluate_model(model_path, data, limit=4, grid=tmp_path / 'grid.png')
    assert report['images'] == 4 and np.isfinite(report['nme'])
    assert set(report['regions']) == {'jaw', 'brows', 'nose', 'eyes', 'mouth'}
    assert (tmp_path / 'grid.png').stat().st_size > 1000


def test_resume_continues_where_it_stopped(data, tmp_path):
    out = str(tmp_path / 'run')
    train.main(['--dry-run', '--data', str(data), '--out', out, '--epochs', '1'])
    resumed = train.main(['--dry-run', '--data', str(data), '--out', out, '--resume'])
    assert [h['epoch'] for h in resumed['history']] == [1, 2]


def test_flip_keeps_every_keypoint_on_its_own_feature():
    perm = flip_permutation68()
    assert sorted(perm) == list(range(68)) and all(perm[perm[i]] == i for i in range(68))
    assert perm[36] == 45 and perm[30] == 30 and perm[48] == 54 and perm[0] == 16
    image = np.zeros((100, 100, 3), np.uint8)
    points = np.random.default_rng(0).uniform(30, 70, (68, 2)).astype(np.float32)
    sampler = CropSampler(100, 1.0, 0.0, perm, augment=True, rng=np.random.default_rng(1))
    # With augmentation, the geometry follows the same matrix as the crop.
    crop, target, visible = sampler.sample(image, points, (0, 0, 100, 100))
    assert crop.shape == (100, 100, 3) and target.shape == (68, 2)
    assert np.isfinite(target).all() and visible.shape == (68,)


def test_crop_rule_maps_the_box_centre_to_the_crop_centre():
    m = crop_matrix((10, 20, 40, 60), 112, 1.2, 0.0)
    centre = m[:, :2] @ [30, 50] + m[:, 2]
    np.testing.assert_allclose(centre, [56, 56], atol=1e-4)


def test_kaggle_loader_and_the_68_to_15_mapping(tmp_path):
    points68 = np.random.default_rng(0).uniform(20, 70, (68, 2))
    points15 = kaggle15_from_68(points68)
    named = dict(zip(KAGGLE15_NAMES, points15))
    np.testing.assert_allclose(named['left_eye_center'], points68[42:48].mean(0))
    np.testing.assert_allclose(named['nose_tip'], points68[30])
    assert KAGGLE15_NAMES[kaggle_flip_permutation()[0]] == 'right_eye_center'
    header = [f'{n}_{a}' for n in KAGGLE15_NAMES for a in 'xy'] + ['Image']
    row = [f'{v:.2f}' for v in points15.reshape(-1)]
    row[2:4] = ['', '']  # a missing point, as in most Kaggle rows
    pixels = ' '.join(['7'] * 96 * 96)
    (tmp_path / 'training.csv').write_text(','.join(header) + '\n' + ','.join(row + [pixels]))
    images, points = read_kaggle(tmp_path / 'training.csv')
    assert images.shape == (1, 96, 96, 3) and points.shape == (1, 15, 2)
    assert np.isnan(points[0, 1]).all() and not np.isnan(points[0, 0]).any()


def test_init_fine_tunes_a_checkpoint_and_keeps_its_history(data, tmp_path):
    first = tmp_path / 'stage1'
    train.main(['--dry-run', '--data', str(data), '--out', str(first)])
    train.main(['--dry-run', '--data', str(data), '--out', str(tmp_path / 'stage2'),
                '--init', str(first / 'best.pt'), '--loss', 'wing',
                '--augment-strength', '0.5'])
    state = torch.load(tmp_path / 'stage2' / 'checkpoint.pt', weights_only=False)
    assert state['config']['init'] == str(first / 'best.pt')
    assert [loss for loss, _ in state['stages']] == ['l1'] and len(state['history']) == 2


def test_the_held_out_people_are_in_no_training_image(data):
    from training.dataset import heldout_people, load_split, person, read_faces68

    held = heldout_people(data)
    assert held == heldout_people(data)  # seeded: the same people every time
    train_paths, _, _ = load_split(data, 'train')
    heldout_paths, heldout_points, _ = load_split(data, 'heldout')
    everyone = {person(p.name) for part in ('train', 'test')
                for p in read_faces68(data / 'faces68' / f'{part}.csv')[0]}
    assert abs(len(held) / len(everyone) - 0.2) < 0.01
    assert not held & {person(p.name) for p in train_paths}
    assert {person(p.name) for p in heldout_paths} == held
    assert {p.parent.name for p in heldout_paths} == {'train', 'test'}
    assert len(train_paths) + sum(p.parent.name == 'train' for p in heldout_paths) == 3462
    assert heldout_points.shape == (len(heldout_paths), 68, 2)


def test_accuracy_measures():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 100, (10, 68, 2)).astype(np.float32)
    truth[:, 45] = truth[:, 36] + [50, 0]  # eye-corner distance 50 px
    perfect = evaluate.accuracy(truth, truth)
    assert perfect['nme'] == 0 and perfect['failure_rate'] == 0 and perfect['auc10'] > 0.99
    off = evaluate.accuracy(truth + [0, 2.5], truth)  # every point 0.05 off
    assert off['nme'] == pytest.approx(0.05) and off['median'] == pytest.approx(0.05)
    assert off['auc10'] == pytest.approx(0.5, abs=0.01)
    assert evaluate.accuracy(truth + [0, 6], truth)['failure_rate'] == 1.0
    scores = np.array([0.9, 0.8, 0.3, 0.1])
    assert evaluate.auroc(scores, np.array([True, True, False, False])) == 1.0
    assert evaluate.auroc(scores, np.array([False, False, True, True])) == 0.0


def test_mesh_dry_run_exports_68_points_with_scores_and_the_dense_mesh(data, tmp_path):
    pytest.importorskip('tflite2onnx', reason='needs requirements/mesh.txt')
    from facekp_ros.core.keypoint_names import MESH468_NAMES

    result = train.main(['--arch', 'mesh', '--dry-run', '--data', str(data),
                         '--out', str(tmp_path / 'run')])
    assert result['config']['input_size'] == train.MESH_CROP['input_size']
    assert result['config']['people'] == 'train split'
    checkpoint = tmp_path / 'run' / 'best.pt'
    points68 = export_onnx.export(checkpoint, tmp_path / 'kp68.onnx', 'mesh-test', data=data)
    mesh468 = export_onnx.export(checkpoint, tmp_path / 'mesh.onnx', 'mesh-test', points='mesh468',
                                 data=data)
    image = np.full((200, 200, 3), 120, np.uint8)
    for path, names in ((points68, KEYPOINT68_NAMES), (mesh468, MESH468_NAMES)):
        estimator = KeypointEstimator(path, 'CPUExecutionProvider')
        assert estimator.keypoint_names == names and estimator.point_scores
        assert 'visible' in estimator.score_meaning
        [face] = estimator.estimate(image, [Face(box=(50, 50, 100, 100), score=0.9)])
        assert face.keypoints.shape == (len(names), 2)
        assert ((face.keypoint_scores >= 0) & (face.keypoint_scores <= 1)).all()
    report = evaluate.evaluate_model(mesh468, data, 'heldout', limit=3)
    assert report['images'] == 3 and np.isfinite(report['nme'])
    report = evaluate.evaluate_model(points68, data, 'heldout', limit=3)
    assert set(report['confidence']['blocked_mouth']) == {
        'hidden_points', 'hidden_points_unblocked', 'other_points', 'other_points_unblocked'}


def test_the_box_normalised_readout_moves_and_scales_with_the_mesh():
    from training.model import BoxNormalisedReadout

    readout = BoxNormalisedReadout(468, 68)
    mesh = torch.rand(2, 468, 3)
    moved = mesh.clone()
    moved[..., :2] = mesh[..., :2] * 0.5 + 0.2
    with torch.no_grad():
        plain = readout(mesh.flatten(1)).reshape(2, 68, 2)
        shifted = readout(moved.flatten(1)).reshape(2, 68, 2)
    assert torch.allclose(shifted, plain * 0.5 + 0.2, atol=1e-5)


def test_a_prelu_mesh_with_the_normalised_readout_trains_and_exports(data, tmp_path):
    pytest.importorskip('tflite2onnx', reason='needs requirements/mesh.txt')
    result = train.main(['--arch', 'mesh', '--activation', 'prelu', '--readout', 'normalised',
                         '--flip', '0', '--dry-run', '--data', str(data),
                         '--out', str(tmp_path / 'run')])
    assert result['config']['activation'] == 'prelu' and result['config']['flip'] == 0
    path = export_onnx.export(tmp_path / 'run' / 'best.pt', tmp_path / 'kp68.onnx', 'prelu-test',
                              data=data)
    ops = {node.op_type for node in __import__('onnx').load(str(path)).graph.node}
    assert 'PRelu' not in ops  # carried as Relu, Mul and Add (AffinePReLU)
    estimator = KeypointEstimator(path, 'CPUExecutionProvider')
    [face] = estimator.estimate(np.full((200, 200, 3), 120, np.uint8),
                                [Face(box=(50, 50, 100, 100), score=0.9)])
    assert face.keypoints.shape == (68, 2) and np.isfinite(face.keypoints).all()


def test_the_readout_refit_keeps_the_network_and_picks_alpha_on_validation(data, tmp_path):
    pytest.importorskip('tflite2onnx', reason='needs requirements/mesh.txt')
    from training import refit_readout

    train.main(['--arch', 'mesh', '--activation', 'prelu', '--readout', 'normalised',
                '--dry-run', '--data', str(data), '--out', str(tmp_path / 'run')])
    report = refit_readout.refit(tmp_path / 'run' / 'best.pt', tmp_path / 'refit.pt', data,
                                 limit=16)
    assert report['alpha'] in refit_readout.ALPHAS
    before = torch.load(tmp_path / 'run' / 'best.pt', weights_only=False)['model']
    after = torch.load(tmp_path / 'refit.pt', weights_only=False)['model']
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith('points'))
    assert not torch.equal(before['points.linear.weight'], after['points.linear.weight'])
