"""Refit a trained mesh model's box-normalised read-out in closed form.

  python -m training.refit_readout RUN/best.pt RUN/refit.pt

Training moves the read-out at 1 % of the network's rate, so after fine-tuning it is not the
best linear map from the fine-tuned mesh to the labels. This refits it as a ridge map on the
training people of train.py's split (same seed and validation fraction as the checkpoint),
with alpha chosen by the NME of the validation people, who were never trained on. The
network's weights are unchanged.
"""
import argparse
import json
import pathlib

import numpy as np
import torch

from training.common import validation_split
from training.evaluate import nme_per_face
from training.export_onnx import upright
from training.mediapipe_anchor import ridge
from training.model import MeshKeypointNet
from training.train import DEFAULT_DATA, load_samples, parse_args, readout_data, set_readout

ALPHAS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)


def refit(checkpoint: pathlib.Path, out: pathlib.Path, data: pathlib.Path,
          threads: int = 1, limit: int = 0) -> dict:
    torch.set_num_threads(threads)
    state = torch.load(checkpoint, weights_only=False)
    config = state['config']
    if config.get('readout') != 'normalised':
        raise ValueError(f'{checkpoint}: only a --readout normalised mesh model can be refitted')
    args = parse_args(['--arch', 'mesh', '--data', str(data), '--seed', str(config['seed']),
                       '--limit', str(limit)]
                      + (['--upright'] if upright(config) else []))
    images, points, boxes, people, angles = load_samples(args)
    val_idx, train_idx = validation_split(people, len(images), config['val_fraction'],
                                          np.random.default_rng(config['seed']))
    model = MeshKeypointNet(config['num_points'], config['activation'], config['readout'])
    model.load_state_dict(state['model'])
    x, y, labels, centre, scale = readout_data(model, images, points, boxes, angles)

    def val_nme(weights, bias) -> float:
        pred = (x[val_idx] @ weights + bias).reshape(len(val_idx), -1, 2)
        pred = pred * scale[val_idx, None, None] + centre[val_idx, None]
        return float(nme_per_face(pred, labels[val_idx]).mean())

    trained = model.points.linear
    before = val_nme(trained.weight.detach().numpy().T.astype(np.float64),
                     trained.bias.detach().numpy().astype(np.float64))
    scores = {alpha: val_nme(*ridge(x[train_idx], y[train_idx], alpha)) for alpha in ALPHAS}
    alpha = min(scores, key=scores.get)
    set_readout(model, *ridge(x[train_idx], y[train_idx], alpha))
    report = {'validation_nme_trained_readout': before, 'validation_nme_by_alpha': scores,
              'alpha': alpha}
    config = {**config, 'readout_refit': report}
    torch.save({**state, 'model': model.state_dict(), 'config': config}, out)
    return report


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoint', type=pathlib.Path)
    p.add_argument('out', type=pathlib.Path)
    p.add_argument('--data', type=pathlib.Path, default=DEFAULT_DATA)
    p.add_argument('--threads', type=int, default=1)
    args = p.parse_args(argv)
    print(json.dumps(refit(args.checkpoint, args.out, args.data, args.threads), indent=1))


if __name__ == '__main__':
    main()
