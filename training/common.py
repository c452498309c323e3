"""What the training scripts share: the crop and normalisation rules stored in exported
models, the confidence tolerance, the validation split, point errors and ONNX metadata.

Every training module imports these from here, never from another script, so the scripts
import downward only (no two of them import each other).
"""
import pathlib

import numpy as np
import onnx
import torch

# The crop rule stored in the exported model (see facekp_ros.core.keypoints.crop_matrix).
CROP = {'input_size': 112, 'crop_scale': 1.2, 'crop_shift_y': 0.05}
NORMALISE = {'color': 'bgr', 'mean': [127.5] * 3, 'std': [128.0] * 3}
# FaceMesh's own input (RGB in [0, 1]); the crop scale and shift gave the original mesh its
# lowest error on RetinaFace boxes of faces68/train (NME 0.086 through the fixed 68-point map).
MESH_CROP = {'input_size': 192, 'crop_scale': 1.4, 'crop_shift_y': 0.1}
MESH_NORMALISE = {'color': 'rgb', 'mean': [0.0] * 3, 'std': [255.0] * 3}
# A point counts as confident when it is visible and within this fraction of the outer
# eye-corner distance of its label: the confidence head learns that probability.
CONFIDENCE_TOLERANCE = 0.05


def validation_split(people, count: int, fraction: float, rng) -> tuple:
    """(validation, training) indices: whole people for faces68 (so validation measures
    unseen people), random images for Kaggle."""
    if people is None:
        order = rng.permutation(count)
        n_val = max(1, int(count * fraction))
        return order[:n_val], order[n_val:]
    names = sorted(set(people))
    count_val = max(1, round(len(names) * fraction))
    chosen = {names[i] for i in rng.permutation(len(names))[:count_val]}
    held = np.array([p in chosen for p in people])
    return np.flatnonzero(held), np.flatnonzero(~held)


def point_errors(pred, targets) -> torch.Tensor:
    """(N, K) point errors as fractions of the outer eye-corner distance (points 36, 45)."""
    pred = pred.reshape(targets.shape)
    interocular = (targets[:, 36] - targets[:, 45]).norm(dim=-1, keepdim=True)
    return (pred - targets).norm(dim=-1) / interocular


def set_metadata(path: pathlib.Path, values: dict) -> None:
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in values.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
