"""A small CNN for facial keypoints, built for accuracy per millisecond on a CPU.

Plain 3x3 convolutions (VGG-style, with batch norm): on a CPU they train several times
faster than depthwise-separable blocks of the same cost (oneDNN kernels) and run in about
1.5 ms per face under onnxruntime. The 7x7 map is flattened, not pooled, so the linear
layers keep where each feature is; they regress every point's (x, y) in crop-normalised
[0, 1] coordinates.
"""
from torch import nn


def conv_block(c_in, c_out, stride=1):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class KeypointNet(nn.Module):
    def __init__(self, num_points: int = 68, input_size: int = 112, width: int = 32):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            conv_block(3, w, stride=2), conv_block(w, w), nn.MaxPool2d(2),  # /4
            conv_block(w, 2 * w), conv_block(2 * w, 2 * w), nn.MaxPool2d(2),  # /8
            conv_block(2 * w, 4 * w), conv_block(4 * w, 4 * w), nn.MaxPool2d(2),  # /16
            conv_block(4 * w, 8 * w), conv_block(8 * w, 2 * w))
        cells = (input_size // 16) ** 2
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * cells, 256),
                                  nn.ReLU(inplace=True), nn.Dropout(0.1),
                                  nn.Linear(256, num_points * 2))

    def forward(self, x):
        return self.head(self.features(x))


class MeshKeypointNet(nn.Module):
    """MediaPipe's FaceMesh network (training/facemesh.py) with two small heads on top.

    forward(x) with x: (N, 3, 192, 192) RGB in [0, 1] returns
      points: (N, 2K) the K keypoints, a learned linear read-out of the 468-point mesh;
      confidence: (N, K) logits of the per-point confidence (see CONFIDENCE_TOLERANCE);
      mesh: (N, 1404) the mesh's x, y, z, crop-normalised (x, y in [0, 1]).
    The confidence head sees the features but does not train them (detached): its loss
    cannot pull the points.
    """

    def __init__(self, num_points: int = 68, activation: str = 'relu',
                 readout: str = 'linear'):
        super().__init__()
        from training.facemesh import MESH_INPUT, MESH_POINTS, FaceMeshNet

        self.scale = 1.0 / MESH_INPUT
        self.net = FaceMeshNet(activation)
        self.points = (BoxNormalisedReadout(MESH_POINTS, num_points) if readout == 'normalised'
                       else nn.Linear(3 * MESH_POINTS, 2 * num_points))
        self.confidence = nn.Sequential(nn.Flatten(), nn.Linear(32 * 9, 128),
                                        nn.ReLU(inplace=True), nn.Linear(128, num_points))

    def forward(self, x):
        features = self.net.features(x)
        mesh = self.net.mesh(features).flatten(1) * self.scale
        return self.points(mesh), self.confidence(features.detach()), mesh


class BoxNormalisedReadout(nn.Module):
    """The K points as a linear map of the mesh's x, y centred and scaled by the mesh's own box
    (the anchor's ridge map, training/mediapipe_anchor.py): the map sees the face's shape, not
    where the crop put it, and its output is placed back by the same box."""

    def __init__(self, mesh_points: int, num_points: int):
        super().__init__()
        self.mesh_points, self.num_points = mesh_points, num_points
        self.linear = nn.Linear(2 * mesh_points, 2 * num_points)

    def forward(self, mesh):
        xy = mesh.reshape(-1, self.mesh_points, 3)[..., :2]
        low, high = xy.amin(1, keepdim=True), xy.amax(1, keepdim=True)
        centre = (low + high) / 2
        scale = (high - low).amax(-1, keepdim=True)
        points = self.linear(((xy - centre) / scale).flatten(1))
        return (points.reshape(-1, self.num_points, 2) * scale + centre).flatten(1)
