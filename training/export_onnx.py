"""Export a trained checkpoint to the ONNX model the runtime loads, with its metadata.

  python -m training.export_onnx training/runs/facekp68/best.pt facekp_ros/models/facekp68.onnx
  python -m training.export_onnx training/runs/mesh68/best.pt facekp_ros/models/mesh468.onnx \
      --points mesh468 --name mesh468-v1     # a mesh model's dense 468 points instead

A mesh model (train.py --arch mesh) also outputs 'scores', each point's confidence.

Eval mode, named input/output, dynamic batch; weights stored as float16 (half the file; they
are cast back once when onnxruntime loads the model, so it computes in float32 as fast as
before); then onnx.checker, an onnxruntime-vs-PyTorch equality check, a test-set evaluation,
and the metadata the runtime configures itself from (keypoint names, input size, colour,
normalisation, crop rule, measured accuracy).
"""
import argparse
import json
import pathlib

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from facekp_ros.core.keypoint_names import KEYPOINT68_NAMES, MESH468_NAMES
from training.common import set_metadata
from training.dataset import KAGGLE15_NAMES
from training.facemesh import MESH_POINTS, with_fast_prelu
from training.model import KeypointNet, MeshKeypointNet

REPO = pathlib.Path(__file__).resolve().parents[1]


SCORE_MEANING = ('probability that the point is visible and within {tolerance:g} x the outer '
                 'eye-corner distance of where it belongs{where}')


class PointsAndScores(nn.Module):
    """A mesh model for export: its K points (or its 468 mesh points), and the per-point
    confidence, sigmoid(scale x logit + offset); a mesh point takes the confidence of the
    nearest of the K points."""

    def __init__(self, model: MeshKeypointNet, calibration=(1.0, 0.0), nearest=None):
        super().__init__()
        self.model = model
        self.scale, self.offset = (float(v) for v in calibration)
        self.register_buffer('nearest', None if nearest is None else torch.tensor(nearest))

    def forward(self, crops):
        points, confidence, mesh = self.model(crops)
        scores = torch.sigmoid(self.scale * confidence + self.offset)
        if self.nearest is None:
            return points, scores
        mesh_xy = mesh.reshape(-1, MESH_POINTS, 3)[..., :2].flatten(1)
        return mesh_xy, scores[:, self.nearest]


def load_model(checkpoint: pathlib.Path) -> tuple:
    state = torch.load(checkpoint, weights_only=False)
    config = state['config']
    if config.get('arch') == 'mesh':
        model = MeshKeypointNet(config['num_points'], config.get('activation', 'relu'),
                                config.get('readout', 'linear'))
    else:
        model = KeypointNet(config['num_points'], config['input_size'], config['width'])
    model.load_state_dict(state['model'])
    return with_fast_prelu(model).eval(), config


def run_on_crops(model: MeshKeypointNet, paths, boxes, angles, batch: int = 64) -> tuple:
    """(points, confidence logits, mesh) of a mesh model on the run-time crops of the boxes
    (turned by angles, radians)."""
    import cv2

    from facekp_ros.core.keypoints import crop_matrix
    from training.common import MESH_CROP

    size, outputs = MESH_CROP['input_size'], []
    for start in range(0, len(paths), batch):
        crops = np.stack([cv2.warpAffine(cv2.imread(str(p)),
                                         crop_matrix(b, **MESH_CROP, angle=a),
                                         (size, size))[..., ::-1]
                          for p, b, a in zip(paths[start:start + batch],
                                             boxes[start:start + batch],
                                             angles[start:start + batch])])
        with torch.no_grad():
            outputs.append(model(torch.from_numpy(crops.transpose(0, 3, 1, 2) / 255).float()))
    return tuple(torch.cat(parts) for parts in zip(*outputs))


def upright(config: dict) -> bool:
    """Whether the model was trained on crops turned by the eye line (--upright)."""
    return config.get('crop_rotation', 'none') == 'eye_line'


def nearest_points(model: MeshKeypointNet, config: dict, data: pathlib.Path,
                   count: int = 64) -> list:
    """For each mesh point, the nearest of the model's 68 points, on its mean prediction over
    the first faces of the training split."""
    from training.dataset import crop_angles, load_split

    paths, _, boxes = load_split(data, 'train', count)
    points, _, mesh = run_on_crops(model, paths, boxes,
                                   crop_angles(data, 'train', upright(config), count))
    points = points.reshape(count, -1, 2).mean(0)
    mesh = mesh.reshape(count, -1, 3)[..., :2].mean(0)
    return torch.cdist(mesh, points).argmin(1).tolist()


def calibration(model: MeshKeypointNet, config: dict, data: pathlib.Path) -> tuple:
    """(scale, offset) of the confidence logits fitted (logistic regression) so the scores
    match how often points of the validation people are within the tolerance. Those people
    (train.py's split, same seed) were never trained on: on training faces the network is
    more accurate than on new ones, so its raw scores are too high."""
    from facekp_ros.core.keypoints import crop_matrix
    from training.common import CONFIDENCE_TOLERANCE, MESH_CROP, point_errors, validation_split
    from training.dataset import crop_angles, load_split, person

    split = 'all-train' if config.get('people') == 'all' else 'train'
    paths, truth, boxes = load_split(data, split)
    angles = crop_angles(data, split, upright(config))
    val_idx, _ = validation_split([person(p.name) for p in paths], len(paths),
                                  config.get('val_fraction', 0.1),
                                  np.random.default_rng(config['seed']))
    paths, truth, boxes = [paths[i] for i in val_idx], truth[val_idx], boxes[val_idx]
    angles = angles[val_idx]
    points, logits, _ = run_on_crops(model, paths, boxes, angles)
    size = MESH_CROP['input_size']
    crop_truth = np.stack([(t @ m[:, :2].T + m[:, 2]) / size for t, m in
                           zip(truth, (crop_matrix(b, **MESH_CROP, angle=a)
                                       for b, a in zip(boxes, angles)))])
    good = (point_errors(points, torch.from_numpy(crop_truth).float())
            < CONFIDENCE_TOLERANCE).float()
    scale, offset = torch.ones(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([scale, offset], max_iter=200)

    def loss():
        optimizer.zero_grad()
        value = nn.functional.binary_cross_entropy_with_logits(scale * logits + offset, good)
        value.backward()
        return value

    optimizer.step(loss)
    return float(scale), float(offset)


def metadata(config: dict, model_name: str, accuracy: dict, points: str = '68') -> dict:
    names = {'68': KEYPOINT68_NAMES, 'mesh468': MESH468_NAMES}[points] \
        if config['num_points'] == 68 else KAGGLE15_NAMES
    score = ''
    if config.get('arch') == 'mesh':
        from training.common import CONFIDENCE_TOLERANCE

        where = ' (of the nearest of the 68 points)' if points == 'mesh468' else ''
        score = SCORE_MEANING.format(tolerance=CONFIDENCE_TOLERANCE, where=where)
    values = {'keypoint_names': list(names), 'input_size': config['input_size'],
              'color': config['color'], 'mean': config['mean'], 'std': config['std'],
              'crop_scale': config['crop_scale'], 'crop_shift_y': config['crop_shift_y'],
              'model_name': model_name, 'accuracy': accuracy, 'keypoint_score': score,
              'crop_rotation': config.get('crop_rotation', 'none'),
              'output': 'x0, y0, x1, y1, ... in [0, 1] of the input crop',
              'training': {k: config[k] for k in ('dataset', 'epochs', 'train_images',
                                                  'seed')}}
    return {key: json.dumps(value) for key, value in values.items()}


def export(checkpoint: pathlib.Path, out: pathlib.Path, model_name: str,
           accuracy: dict | None = None, points: str = '68',
           data: pathlib.Path = REPO.parent / 'shared' / 'data') -> pathlib.Path:
    """points: '68' (the trained points) or 'mesh468' (a mesh model's dense mesh). data:
    where faces68 is, for a mesh model's score calibration and mesh point confidences."""
    model, config = load_model(checkpoint)
    if config.get('arch') == 'mesh':
        model = PointsAndScores(model, calibration(model, config, data),
                                nearest_points(model, config, data) if points == 'mesh468'
                                else None).eval()
    elif points != '68':
        raise ValueError(f'{checkpoint} is not a mesh model (train.py --arch mesh): it has no '
                         f'{points} points')
    size = config['input_size']
    outputs = ['keypoints', 'scores'] if config.get('arch') == 'mesh' else ['keypoints']
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, torch.rand(2, 3, size, size), str(out), input_names=['crops'],
                      output_names=outputs,
                      dynamic_axes={name: {0: 'faces'} for name in ['crops'] + outputs},
                      opset_version=17, dynamo=False)
    plain = fuse_pads_into_convs(fold_constants(out))
    proto = store_weights_as_float16(onnx.ModelProto.FromString(plain.SerializeToString()))
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    try:
        check_against_torch(model, out, size)
    except RuntimeError as error:  # float16 weights moved the outputs: keep float32
        print(f'float16 weights: {error}; the weights stay float32')
        onnx.save(plain, str(out))
        check_against_torch(model, out, size)
    set_metadata(out, metadata(config, model_name, accuracy or {}, points))
    return out


def fold_constants(path: pathlib.Path) -> onnx.ModelProto:
    """The model with constant subgraphs computed once (onnxruntime's basic level: standard
    ONNX ops only). torch exports the mesh's paddings as small graphs that compute them."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(path)
    ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    return onnx.load(str(path))


def fuse_pads_into_convs(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Zero Pads of only the spatial axes that feed only Convs become the Convs' own pads.

    The mesh pads right and bottom before each stride-2 convolution (TFLite's SAME rule); as
    separate Pads they cost ~20 % of its time (measured 1.60 -> 1.28 ms per face)."""
    graph = proto.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    kept = []
    for node in graph.node:
        pads = constants.get(node.input[1]) if node.op_type == 'Pad' else None
        users = consumers.get(node.output[0], []) if pads is not None else []
        mode = [a.s for a in node.attribute if a.name == 'mode']
        if (pads is None or len(pads) != 8 or pads[[0, 1, 4, 5]].any() or mode not in
                ([], [b'constant']) or len(node.input) > 2 and node.input[2]
                or not users or any(u.op_type != 'Conv' for u in users)):
            kept.append(node)
            continue
        for conv in users:
            old = [a for a in conv.attribute if a.name == 'pads']
            before = list(old[0].ints) if old else [0, 0, 0, 0]
            for attribute in old:
                conv.attribute.remove(attribute)
            conv.attribute.append(helper.make_attribute(
                'pads', [int(v) for v in np.add(before, pads[[2, 3, 6, 7]])]))
            conv.input[0] = node.input[0]
    del graph.node[:]
    graph.node.extend(kept)
    return proto


def store_weights_as_float16(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Each float32 weight becomes a float16 one plus a Cast back to float32.

    onnxruntime folds the Casts at load time, so only the file shrinks (measured on the shipped
    model: 6.3 -> 3.1 MB, keypoints moved by at most 0.02 px of the 112 px crop). The
    box-normalised read-out stays float32: its ridge weights cancel each other, and as float16
    they moved points by up to 0.09 px of the 192 px crop.
    """
    graph = proto.graph
    weights, casts = [], []
    for weight in graph.initializer:
        if (weight.data_type != TensorProto.FLOAT or len(weight.dims) == 0
                or weight.name.startswith('model.points.linear.')):
            weights.append(weight)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(weight).astype(np.float16),
                                       f'{weight.name}_float16')
        weights.append(half)
        casts.append(helper.make_node('Cast', [half.name], [weight.name],
                                      to=TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.initializer[:], graph.node[:]
    graph.initializer.extend(weights)
    graph.node.extend(nodes)
    return proto


def check_against_torch(model, path: pathlib.Path, size: int) -> None:
    import onnxruntime as ort

    x = torch.rand(3, 3, size, size)
    with torch.no_grad():
        expected = model(x)
    expected = expected if isinstance(expected, tuple) else (expected,)
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    for got, want in zip(session.run(None, {'crops': x.numpy()}), expected):
        if not np.allclose(got, want.numpy(), atol=1e-4, rtol=1e-3):
            raise RuntimeError(f'onnxruntime and PyTorch disagree by up to '
                               f'{np.abs(got - want.numpy()).max():.2e}')


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoint', type=pathlib.Path)
    p.add_argument('out', type=pathlib.Path)
    p.add_argument('--name', default='facekp68-v4', help='model name and version')
    p.add_argument('--points', choices=('68', 'mesh468'), default='68',
                   help="a mesh model's 68 points (default) or its dense 468-point mesh")
    p.add_argument('--data', type=pathlib.Path, default=REPO.parent / 'shared' / 'data',
                   help='faces68: the accuracy stored in the model is measured on it')
    p.add_argument('--no-eval', action='store_true', help='skip the accuracy measurement')
    args = p.parse_args(argv)
    path = export(args.checkpoint, args.out, args.name, points=args.points, data=args.data)
    if not args.no_eval:
        from training.evaluate import evaluate_model

        test, heldout = (evaluate_model(path, args.data, split) for split in ('test', 'heldout'))
        accuracy = {k: test[k] for k in ('nme', 'failure_rate', 'kaggle15_rmse_96px', 'images')}
        accuracy.update({'test_set': 'faces68/test', 'heldout_nme': heldout['nme'],
                         'heldout_failure_rate': heldout['failure_rate'],
                         'heldout_images': heldout['images']})
        _, config = load_model(args.checkpoint)
        set_metadata(path, metadata(config, args.name, accuracy, args.points))
        print(json.dumps(accuracy))
    print(f'wrote {path} ({path.stat().st_size / 1e6:.2f} MB)')


if __name__ == '__main__':
    main()
