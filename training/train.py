"""Train the facial keypoint network on faces68 (or Kaggle's 15-point CSV).

  python -m training.train --arch mesh --out training/runs/mesh68   # FaceMesh fine-tuned
  python -m training.train --out training/runs/facekp68            # stage 1: from scratch
  python -m training.train --init training/runs/facekp68/best.pt --out training/runs/ft \
      --loss wing --lr 1e-3 --augment-strength 0.5 --epochs 60      # stage 2: fine-tune
  python -m training.train --dry-run                                # a few steps, seconds
  python -m training.train --out training/runs/facekp68 --resume    # continue a run
  python -m training.train --kaggle training.csv --out runs/kaggle  # classic 15 points

faces68 training leaves out the held-out people (training/dataset.py: load_split) and
validates on other people than it trains on. Writes OUT/checkpoint.pt (weights + config +
history, resumable), OUT/best.pt (lowest validation error) and OUT/loss_curve.png.
"""
import argparse
import json
import pathlib
import time
from functools import partial

import cv2
import numpy as np
import torch
from torch.nn import functional
from tqdm import tqdm

from facekp_ros.core.keypoints import crop_matrix
from training.common import (
    CONFIDENCE_TOLERANCE,
    CROP,
    MESH_CROP,
    MESH_NORMALISE,
    NORMALISE,
    point_errors,
    validation_split,
)
from training.dataset import (
    CropSampler,
    box_from_points,
    crop_angles,
    flip_perm_for,
    load_split,
    person,
    read_kaggle,
)
from training.model import KeypointNet, MeshKeypointNet

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / 'shared' / 'data'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=pathlib.Path, default=DEFAULT_DATA,
                   help='folder holding faces68/ (default ../shared/data)')
    p.add_argument('--kaggle', type=pathlib.Path, help="Kaggle Facial Keypoints training.csv "
                   '(15 points, 96x96) instead of faces68')
    p.add_argument('--arch', choices=('cnn', 'mesh'), default='cnn',
                   help="cnn: the small CNN from scratch; mesh: MediaPipe's FaceMesh, "
                   'converted from its wheel (requirements/mesh.txt) and fine-tuned, with '
                   'per-point confidence and the 468-point mesh distilled from the original')
    p.add_argument('--out', type=pathlib.Path, default=REPO / 'training' / 'runs' / 'latest')
    p.add_argument('--epochs', type=int, default=50)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--width', type=int, default=32, help='channels of the first layer')
    p.add_argument('--loss', choices=sorted(LOSSES), default='l1',
                   help='training loss; validation is always reported as L1 in crop pixels')
    p.add_argument('--augment-strength', type=float, default=1.0,
                   help='scale of the random rotation/scale/shift/colour changes (1: full)')
    p.add_argument('--occlude', type=float, default=None,
                   help='chance of a random block over part of the face (default: 0.4 for '
                   'mesh, 0 for cnn)')
    p.add_argument('--activation', choices=('relu', 'prelu'), default='relu',
                   help="mesh: the network's activation; prelu keeps the mesh's own (exported "
                   'as a form onnxruntime fuses into the convolutions)')
    p.add_argument('--readout', choices=('linear', 'normalised'), default='linear',
                   help='mesh: the 68 points as a linear map of the crop-normalised mesh, or '
                   "of the mesh centred and scaled by its own box (the anchor's ridge map)")
    p.add_argument('--upright', action='store_true',
                   help="crops turned so the detector's eye landmarks lie level (stored in the "
                   "model as crop_rotation 'eye_line'; the runtime does the same)")
    p.add_argument('--flip', type=float, default=0.5,
                   help="chance of a mirrored training crop (faces68's labels are not mirror-"
                   'symmetric: flip test-time averaging made every model worse)')
    p.add_argument('--distill', type=float, default=0.5,
                   help='mesh: weight of keeping the 468 points where the original mesh puts '
                   'them')
    p.add_argument('--all-people', action='store_true',
                   help='train on all of faces68/train, held-out people too (how facekp68-v2 '
                   'was trained); its held-out numbers are then not on unseen people')
    p.add_argument('--init', type=pathlib.Path,
                   help='start from the weights of this checkpoint (same width and input size)')
    p.add_argument('--val-fraction', type=float, default=0.1,
                   help='held out for validation; keep it and --seed when using --init, so '
                   'the validation images stay unseen')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--limit', type=int, default=0, help='use only this many images')
    p.add_argument('--resume', action='store_true', help='continue OUT/checkpoint.pt')
    p.add_argument('--dry-run', action='store_true',
                   help='2 epochs of 2 steps on 16 images, to check the set-up')
    args = p.parse_args(argv)
    if args.arch == 'mesh' and args.kaggle:
        p.error('--arch mesh learns the 68 faces68 points; train Kaggle\'s 15 with --arch cnn')
    if args.dry_run:
        args.epochs, args.limit, args.batch_size = 2, 16, 8
    if args.occlude is None:
        args.occlude = 0.4 if args.arch == 'mesh' else 0.0
    return args


def load_samples(args) -> tuple:
    """Images, points (N, K, 2), boxes (N, 4), person names (None for Kaggle) and the crops'
    turns (N,) in radians (0 unless --upright)."""
    if args.kaggle:
        images, points = read_kaggle(args.kaggle, args.limit)
        return (list(images), points, np.stack([box_from_points(p) for p in points]), None,
                np.zeros(len(points)))
    split = 'all-train' if args.all_people else 'train'
    paths, points, boxes = load_split(args.data, split, args.limit)
    angles = crop_angles(args.data, split, args.upright, args.limit)
    return ([cv2.imread(str(p)) for p in paths], points, boxes, [person(p.name) for p in paths],
            angles)


def make_batch(sampler, normalise, images, points, boxes, angles, indices) -> tuple:
    """(x, targets (N, K, 2), visible (N, K)) for the given images."""
    samples = [sampler.sample(images[i], points[i], boxes[i], angles[i]) for i in indices]
    crops = np.stack([c for c, _, _ in samples]).astype(np.float32)
    if normalise['color'] == 'rgb':
        crops = crops[..., ::-1]
    crops = (crops - np.float32(normalise['mean'])) / np.float32(normalise['std'])
    targets = np.stack([t for _, t, _ in samples])
    visible = np.stack([v for _, _, v in samples])
    # NHWC memory seen as NCHW (channels_last): oneDNN's convolutions run several times
    # faster on it than on plain NCHW on a CPU (measured: 0.32 s against 2.2 s per batch).
    # The mesh's depthwise convolutions are the other way round (0.32 s against 1.1 s).
    x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2)
    if normalise is MESH_NORMALISE:
        x = x.contiguous()
    return x, torch.from_numpy(targets), torch.from_numpy(visible)


def masked_l1(pred, target) -> torch.Tensor:
    """Mean |error| in crop pixels over the points that are labelled (Kaggle has gaps)."""
    target = target.reshape(pred.shape)
    known = ~torch.isnan(target)
    return (pred - torch.nan_to_num(target)).abs()[known].mean() * CROP['input_size']


def masked_wing(pred, target, width: float = 5.0, curvature: float = 1.0) -> torch.Tensor:
    """Wing loss (Feng et al., CVPR 2018) in crop pixels: log-shaped near zero, so the small
    errors that decide NME keep a strong gradient; L1 for large ones."""
    target = target.reshape(pred.shape)
    known = ~torch.isnan(target)
    error = ((pred - torch.nan_to_num(target)).abs() * CROP['input_size'])[known]
    offset = width - width * torch.log1p(torch.tensor(width / curvature))
    return torch.where(error < width, width * torch.log1p(error / curvature),
                       error - offset).mean()


LOSSES = {'l1': masked_l1, 'wing': masked_wing}


def cnn_loss(model, x, targets, visible, loss_fn) -> tuple:
    """(training loss, validation L1) of the plain CNN."""
    pred = model(x)
    return loss_fn(pred, targets), masked_l1(pred, targets)


def mesh_loss(model, x, targets, visible, loss_fn, distill: float) -> tuple:
    """The 68 points' loss, plus distill x the 468 mesh points' L1 to where the original mesh
    put them (targets[:, 68:]), plus the confidence head's cross-entropy on whether each point
    is visible and within CONFIDENCE_TOLERANCE of its label."""
    points, confidence, mesh = model(x)
    labels, teacher = targets[:, :68], targets[:, 68:]
    mesh_xy = mesh.reshape(len(mesh), -1, 3)[..., :2]
    good = (point_errors(points.detach(), labels) < CONFIDENCE_TOLERANCE) & visible[:, :68]
    confidence_loss = functional.binary_cross_entropy_with_logits(confidence, good.float())
    loss = loss_fn(points, labels) + distill * masked_l1(mesh_xy, teacher) + confidence_loss
    return loss, masked_l1(points, labels)


def run_epoch(model, optimizer, scheduler, sampler, data, indices, batch_size, desc,
              objective) -> float:
    """One pass; returns the mean training loss, or the validation L1 when not training."""
    training = optimizer is not None
    model.train(training)
    total, count = 0.0, 0
    batches = [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]
    for batch in tqdm(batches, desc=desc, leave=False, disable=len(batches) < 3):
        with torch.set_grad_enabled(training):
            loss, val_l1 = objective(model, *make_batch(sampler, *data, batch))
        if training:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        total += (loss if training else val_l1).item() * len(batch)
        count += len(batch)
    return total / max(count, 1)


def plot_losses(stages, path: pathlib.Path) -> None:
    """Train and validation loss per epoch; stages: (loss name, history), the --init run's
    history first, so a fine-tuned model's curve shows its whole training."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    first = 1
    for number, (loss_name, history) in enumerate(stages, 1):
        epochs = range(first, first + len(history))
        stage = f'stage {number}, ' if len(stages) > 1 else ''
        ax.plot(epochs, [h['train'] for h in history], label=f'train ({stage}{loss_name}, '
                'augmented)')
        ax.plot(epochs, [h['val'] for h in history], label=f'validation ({stage}L1 px)')
        first += len(history)
    ax.set(xlabel='epoch', ylabel='loss (L1: mean |error| in 1/112 of the crop side)',
           yscale='log', title='facial keypoint network')
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def load_initial_weights(model, checkpoint: pathlib.Path) -> list:
    """Loads --init weights; returns the stages that made them, oldest first, as
    (loss name, history) for the loss curve."""
    initial = torch.load(checkpoint, weights_only=False)
    model.load_state_dict(initial['model'])
    return initial.get('stages', []) + [(initial['config'].get('loss', 'l1'),
                                         initial['history'])]


def fit_readout(model, mesh, points, boxes, angles) -> None:
    """Starts the 68-point read-out as the least-squares linear map from the original mesh's
    points to the labels (ridge-regularised), both in the model's crop coordinates."""
    def to_crop(pts, box, angle):
        m = crop_matrix(box, **MESH_CROP, angle=angle)
        return (pts @ m[:, :2].T + m[:, 2]) / MESH_CROP['input_size']

    x = np.stack([to_crop(p, b, a).reshape(-1)
                  for p, b, a in zip(mesh, boxes, angles)]).astype(np.float64)
    y = np.stack([to_crop(p, b, a).reshape(-1) for p, b, a in zip(points, boxes, angles)])
    x = np.hstack([x, np.ones((len(x), 1))])
    weights = np.linalg.solve(x.T @ x + 1e-3 * len(x) * np.eye(x.shape[1]), x.T @ y)
    readout = torch.zeros_like(model.points.weight)
    xy = [3 * i + a for i in range(len(mesh[0])) for a in (0, 1)]  # the mesh is x, y, z
    readout[:, xy] = torch.from_numpy(weights[:-1].T).float()
    model.points.weight.data.copy_(readout)
    model.points.bias.data.copy_(torch.from_numpy(weights[-1]).float())


def mesh_on_crops(model, images, boxes, angles) -> tuple:
    """(N, 468, 2) the network's mesh x, y in [0, 1] of the run-time crops (no augmentation),
    and the crops' 2x3 matrices."""
    size, meshes, matrices = MESH_CROP['input_size'], [], []
    model.eval()
    for start in range(0, len(images), 64):
        chunk = [crop_matrix(b, **MESH_CROP, angle=a)
                 for b, a in zip(boxes[start:start + 64], angles[start:start + 64])]
        crops = np.stack([cv2.warpAffine(im, m, (size, size))[..., ::-1]
                          for im, m in zip(images[start:start + 64], chunk)])
        with torch.no_grad():
            mesh = model.net(torch.from_numpy(crops.transpose(0, 3, 1, 2) / 255).float())
        meshes.append(mesh.numpy().reshape(len(crops), -1, 3)[..., :2] / size)
        matrices += chunk
    return np.concatenate(meshes).astype(np.float64), matrices


def readout_data(model, images, points, boxes, angles) -> tuple:
    """The ridge map's inputs and targets: the mesh and the labels, both centred and scaled
    by the mesh's own box (as BoxNormalisedReadout sees them); also the labels in the crop."""
    from training.mediapipe_anchor import features, targets

    mesh, matrices = mesh_on_crops(model, images, boxes, angles)
    labels = np.stack([(p @ m[:, :2].T + m[:, 2]) / MESH_CROP['input_size']
                       for p, m in zip(points, matrices)])
    x, centre, scale = features(mesh)
    return x, targets(labels, centre, scale), labels, centre, scale


def set_readout(model, weights, bias) -> None:
    model.points.linear.weight.data.copy_(torch.from_numpy(weights.T).float())
    model.points.linear.bias.data.copy_(torch.from_numpy(bias).float())


def fit_normalised_readout(model, images, points, boxes, angles, alpha: float = 3e-4) -> None:
    """Starts a BoxNormalisedReadout as the ridge map from the network's own mesh on the
    run-time crops (no augmentation) to the labels, as the anchor's map is fitted (alpha per
    image: the anchor's cross-validated value)."""
    from training.mediapipe_anchor import ridge

    x, y, _, _, _ = readout_data(model, images, points, boxes, angles)
    set_readout(model, *ridge(x, y, alpha))


def param_groups(model, lr: float) -> list:
    """The mesh model's 68-point read-out learns at 1 % of the rate: each of its 1404 inputs
    moves every output, so Adam's steps of the full rate (about lr per weight) shifted the
    points by most of the crop and training diverged (measured: loss rose for 3 epochs)."""
    if not isinstance(model, MeshKeypointNet):
        return [{'params': list(model.parameters()), 'lr': lr}]
    readout = list(model.points.parameters())
    others = [p for p in model.parameters() if all(p is not q for q in readout)]
    return [{'params': others, 'lr': lr}, {'params': readout, 'lr': 0.01 * lr}]


def build_mesh(args, images, points, boxes, angles, train_idx) -> tuple:
    """The mesh model (pretrained weights, read-out fitted) unless --init gives one, the
    targets (68 labels, then the original mesh's 468 points) and their flip permutation."""
    from training import facemesh

    cache = REPO / 'training' / 'cache' / f'mesh_teacher_{len(images)}.npz'
    teacher = facemesh.teacher_points(images, points, cache)
    model = MeshKeypointNet(points.shape[1], args.activation, args.readout)
    if not args.init:
        facemesh.load_onnx_weights(model.net, facemesh.pretrained_onnx())
        if args.readout == 'normalised':
            fit_normalised_readout(model, [images[i] for i in train_idx], points[train_idx],
                                   boxes[train_idx], angles[train_idx])
        else:
            fit_readout(model, teacher[train_idx], points[train_idx], boxes[train_idx],
                        angles[train_idx])
    mirror = facemesh.mirror_permutation([images[i] for i in train_idx], points[train_idx])
    perm = flip_perm_for(points.shape[1]) + [len(points[0]) + j for j in mirror]
    return model, np.concatenate([points, teacher], 1), perm


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    images, points, boxes, people, angles = load_samples(args)
    val_idx, train_idx = validation_split(people, len(images), args.val_fraction, rng)
    num_points = points.shape[1]
    mesh = args.arch == 'mesh'
    crop, normalise = (MESH_CROP, MESH_NORMALISE) if mesh else (CROP, NORMALISE)
    config = {**crop, **normalise, 'arch': args.arch, 'num_points': num_points,
              'width': args.width, 'epochs': args.epochs, 'batch_size': args.batch_size,
              'lr': args.lr, 'seed': args.seed, 'loss': args.loss,
              'train_images': len(train_idx), 'augment_strength': args.augment_strength,
              'occlude': args.occlude, 'flip': args.flip,
              'init': str(args.init) if args.init else None,
              'val_images': len(val_idx), 'val_fraction': args.val_fraction,
              'people': 'all' if args.all_people else 'train split',
              'dataset': 'kaggle15' if args.kaggle else 'faces68'}
    if mesh:
        config.update(distill=args.distill, activation=args.activation, readout=args.readout,
                      crop_rotation='eye_line' if args.upright else 'none')
        model, targets, perm = build_mesh(args, images, points, boxes, angles, train_idx)
        objective = partial(mesh_loss, loss_fn=LOSSES[args.loss], distill=args.distill)
    else:
        model = KeypointNet(num_points, CROP['input_size'], args.width)
        targets, perm = points, flip_perm_for(num_points)
        objective = partial(cnn_loss, loss_fn=LOSSES[args.loss])
    stages = load_initial_weights(model, args.init) if args.init else []
    if not mesh:
        model = model.to(memory_format=torch.channels_last)
    groups = param_groups(model, args.lr)
    optimizer = torch.optim.AdamW(groups, lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * -(-len(train_idx) // args.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, [g['lr'] for g in groups],
                                                    total_steps=steps, pct_start=0.1)
    args.out.mkdir(parents=True, exist_ok=True)
    history, start_epoch, best = [], 0, float('inf')
    if args.resume:
        state = torch.load(args.out / 'checkpoint.pt', weights_only=False)
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        history, start_epoch = state['history'], state['epoch']
        best = min((h['val'] for h in history), default=best)
        rng = np.random.default_rng(args.seed + start_epoch)
    loss_label = f'{args.loss} + mesh distillation + confidence' if mesh else args.loss
    rule = (crop['input_size'], crop['crop_scale'], crop['crop_shift_y'], perm)
    train_sampler = CropSampler(*rule, augment=True, rng=rng, strength=args.augment_strength,
                                occlude=args.occlude, flip=args.flip)
    val_sampler = CropSampler(*rule, augment=False, rng=rng)
    data = (normalise, images, targets, boxes, angles)
    for epoch in range(start_epoch, args.epochs):
        started = time.monotonic()
        train_loss = run_epoch(model, optimizer, scheduler, train_sampler, data,
                               rng.permutation(train_idx), args.batch_size, f'epoch {epoch + 1}',
                               objective)
        val_loss = run_epoch(model, None, None, val_sampler, data, val_idx, args.batch_size,
                             'validate', objective)
        history.append({'epoch': epoch + 1, 'train': train_loss, 'val': val_loss,
                        'seconds': time.monotonic() - started})
        print(f'epoch {epoch + 1}/{args.epochs}: train loss {train_loss:.3f}, '
              f'val {val_loss:.3f} px ({history[-1]["seconds"]:.0f} s)', flush=True)
        state = {'model': model.state_dict(), 'optimizer': optimizer.state_dict(),
                 'scheduler': scheduler.state_dict(), 'config': config, 'history': history,
                 'epoch': epoch + 1, 'stages': stages}
        torch.save(state, args.out / 'checkpoint.pt')
        if val_loss < best:
            best = val_loss
            torch.save({'model': model.state_dict(), 'config': config, 'history': history,
                        'stages': stages},
                       args.out / 'best.pt')
        plot_losses(stages + [(loss_label, history)], args.out / 'loss_curve.png')
    (args.out / 'history.json').write_text(json.dumps(history, indent=1))
    return {'config': config, 'history': history, 'out': str(args.out)}


if __name__ == '__main__':
    main()
