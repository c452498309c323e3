"""FaceMesh from its wheel: the PyTorch re-implementation computes what the TFLite model does."""
import cv2
import numpy as np
import pytest

torch = pytest.importorskip('torch', reason='training needs torch (scripts/setup.sh --test)')
pytest.importorskip('tflite2onnx', reason='needs requirements/mesh.txt (scripts/setup.sh --test)')

from training import facemesh  # noqa: E402
from training.dataset import load_split  # noqa: E402
from training.evaluate import nme_per_face  # noqa: E402


@pytest.fixture(scope='module')
def faces(data):
    paths, points, _ = load_split(data, 'train', 24)
    return [cv2.imread(str(p)) for p in paths], points


def test_the_module_matches_the_converted_tflite_model(faces):
    images, points = faces
    size = (facemesh.MESH_INPUT,) * 2
    crops = np.stack([cv2.warpAffine(im, facemesh.teacher_crop(p), size)[..., ::-1]
                      for im, p in zip(images[:4], points)])
    crops = (crops.transpose(0, 3, 1, 2) / 255).astype(np.float32)
    difference = facemesh.verify(facemesh.pretrained(), facemesh.pretrained_onnx(), crops)
    assert difference < 1e-3  # pixels of the 192 px input


def test_the_mesh_lands_on_faces_through_the_fixed_map(faces):
    images, points = faces
    mesh = facemesh.mesh_in_image(facemesh.pretrained(), images,
                                  [facemesh.teacher_crop(p) for p in points])
    nme = nme_per_face(mesh[:, list(facemesh.MESH_TO_68)], points)
    assert np.median(nme) < 0.12  # another jaw line than iBUG's: not better than ~0.08


def test_the_mirror_map_pairs_the_eyes_and_keeps_the_midline(faces):
    images, points = faces
    perm = facemesh.mirror_permutation(images, points, count=len(images))
    assert all(perm[perm[i]] == i for i in range(facemesh.MESH_POINTS))
    assert perm[33] == 263 and perm[61] == 291 and perm[234] == 454  # eye, mouth, cheek
    assert perm[1] == 1 and perm[152] == 152  # nose tip, chin


def test_the_fast_prelu_form_computes_the_same_mesh(faces):
    """AffinePReLU (what exported PReLU models carry, for onnxruntime's speed) is PReLU."""
    import copy

    model = facemesh.pretrained('prelu')
    fast = facemesh.with_fast_prelu(copy.deepcopy(model))
    assert not any(isinstance(m, torch.nn.PReLU) for m in fast.modules())
    x = torch.rand(2, 3, facemesh.MESH_INPUT, facemesh.MESH_INPUT)
    with torch.no_grad():
        assert (model(x) - fast(x)).abs().max() < 1e-3  # pixels of the 192 px input
