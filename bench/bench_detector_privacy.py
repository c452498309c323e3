"""Does the detector find the faces anonymization must hide? Prints a markdown table.

For each detector ONNX, input scale and score threshold: detects on the bgr8 view of each
encoding of the seeded small-face frames (bench/privacy_frames.py: mono8 grey replicated to
3 channels, 16-bit frames through the product's own bgr8 view), blurs the boxes with the
anonymizer's defaults (1.3x margin) and scores every labelled face with the privacy note's
rule, in that 8-bit view. Also: false-mask area on face-free frames, recall on the full-size
faces68 test images (a face is found when a box enlarged 20 % holds >= 90 % of its 68
points), the same faces with a side or the lower part covered by another photo (found: a
box holding the eyes), faces found on the scenes, and ms per 640x480 frame (timed in the same
run, so models compare on the same machine load).

  python -m bench.bench_detector_privacy --model stock --model '' \
      --scale 1 --score 0.2 --score 0.3 --score 0.6 [--split test] [--list-leaks]
"""
import argparse
import os
import pathlib
import sys
import time

import cv2
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.privacy_frames import ENCODINGS as ENCODINGS_ROS  # noqa: E402
from bench.privacy_frames import (  # noqa: E402
    empty_frames,
    face_frames,
    modified_share,
    read_labels,
    render,
    score_face,
)
from facekp_ros.core.anonymize import AnonymizeConfig, anonymize  # noqa: E402
from facekp_ros.core.image_codec import to_bgr8  # noqa: E402
from facekp_ros.core.image_encodings import parse_encoding  # noqa: E402
from facekp_ros.core.retinaface import RetinaFaceDetector  # noqa: E402

ENCODINGS = ('colour', 'grey', 'mono16', '16UC1-12bit-BE', 'IR-like')
# Scene photo -> faces in it (avengers.jpg: a poster of about 11 face tiles).
SCENES = {'obamas': 2, 'the_beatles': 4, 'avengers2': 4, 'mona_lisa': 1, 'trump': 1,
          'avengers': 11}
SCENE_LONG_SIDE = 1280


def bgr8_view(bgr: np.ndarray, encoding: str) -> np.ndarray:
    """What the detector sees for one encoding of a frame: the product's own bgr8 view."""
    pixels = render(bgr, encoding)
    return to_bgr8(pixels, parse_encoding(ENCODINGS_ROS[encoding][0]))


def detect_at(detector, bgr, thresholds) -> dict:
    """threshold -> faces, from one network run."""
    blob, factors = detector.preprocess(bgr, detector.input_scale)
    outputs = detector.infer(blob)
    return {threshold: detector.postprocess(outputs, blob.shape[2:], factors, threshold)
            .merged(detector.nms_threshold, detector.min_face_size).faces()
            for threshold in thresholds}


def privacy_scores(detector, frames, empties, thresholds, encodings=ENCODINGS,
                   config: AnonymizeConfig | None = None) -> dict:
    """{(threshold, encoding): {'faces', 'leaks', 'missed', 'leaked', 'false_mask'}}.

    missed: leaks whose face the masks did not even cover (covered < 0.9); the other leaks
    were covered but, by the rule, not blurred enough (low-contrast faces change little).
    """
    config = config or AnonymizeConfig()
    result = {(t, e): {'faces': 0, 'leaks': 0, 'missed': 0, 'leaked': [], 'false_mask': []}
              for t in thresholds for e in encodings}
    for frame in frames + empties:
        for encoding in encodings:
            view = bgr8_view(frame.bgr, encoding)
            reference = view.astype(np.float32)
            for threshold, faces in detect_at(detector, view, thresholds).items():
                out = anonymize(view, faces, config).astype(np.float32)
                entry = result[threshold, encoding]
                if not frame.faces:
                    entry['false_mask'].append(modified_share(reference, out))
                for points in frame.faces:
                    entry['faces'] += 1
                    score = score_face(reference, out, points)
                    if not score.hidden:
                        entry['leaks'] += 1
                        entry['missed'] += score.covered < 0.9
                        entry['leaked'].append(frame.name)
    return result


def faces68_recall(detector, data, thresholds, split='test', limit=0) -> dict:
    """threshold -> (share of the full-size faces68 images whose face is found, boxes per
    image that hold no labelled face: false positives, or unlabelled background faces)."""
    found, extra = dict.fromkeys(thresholds, 0), dict.fromkeys(thresholds, 0)
    labels = read_labels(data, split)[:limit or None]
    for path, points in labels:
        for threshold, faces in detect_at(detector, cv2.imread(str(path)), thresholds).items():
            hits = [_holds(face.box, points) for face in faces]
            found[threshold] += any(hits)
            extra[threshold] += len(hits) - sum(hits)
    return {t: (found[t] / len(labels), extra[t] / len(labels)) for t in thresholds}


OCCLUSIONS = ('lower', 'side')


def occluded(image: np.ndarray, points: np.ndarray, kind: str, cover: np.ndarray) -> np.ndarray:
    """image with its face partly covered by cover (another photo): 'lower' from below the
    nose down (a hand, a scarf, a shoulder), 'side' the half away from the image's left eye."""
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    w, h = x1 - x0, y1 - y0
    if kind == 'lower':
        box = (x0 - 0.3 * w, points[33, 1] + 0.1 * h, x1 + 0.3 * w, y1 + 0.5 * h)
    else:
        box = ((x0 + x1) / 2 + 0.05 * w, y0 - 0.5 * h, x1 + 0.4 * w, y1 + 0.3 * h)
    bx0, by0 = (max(0, int(v)) for v in box[:2])
    bx1, by1 = min(image.shape[1], int(box[2])), min(image.shape[0], int(box[3]))
    out = image.copy()
    if bx1 > bx0 and by1 > by0:
        out[by0:by1, bx0:bx1] = cv2.resize(cover, (bx1 - bx0, by1 - by0))
    return out


def occluded_recall(detector, data, thresholds, split='test', limit=200) -> dict:
    """(threshold, kind) -> share of faces68 faces still found with a side or the lower part
    covered: a box holding the eyes' centre, at least 0.3 x the face's width."""
    labels = read_labels(data, split)[:limit or None]
    found = {(t, k): 0 for t in thresholds for k in OCCLUSIONS}
    for index, (path, points) in enumerate(labels):
        image = cv2.imread(str(path))
        cover = cv2.imread(str(labels[(index + 7) % len(labels)][0]))
        eyes, width = points[36:48].mean(0), np.ptp(points[:, 0])
        for kind in OCCLUSIONS:
            view = occluded(image, points, kind, cover)
            for threshold, faces in detect_at(detector, view, thresholds).items():
                found[threshold, kind] += any(
                    x <= eyes[0] <= x + w and y <= eyes[1] <= y + h and w >= 0.3 * width
                    for x, y, w, h in (face.box for face in faces))
    return {key: n / len(labels) for key, n in found.items()}


def _holds(box, points, grow=1.2, share=0.9) -> bool:
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    inside = ((np.abs(points[:, 0] - cx) <= w * grow / 2)
              & (np.abs(points[:, 1] - cy) <= h * grow / 2))
    return inside.mean() >= share


def scene_counts(detector, data, thresholds) -> dict:
    """threshold -> {scene: faces found}."""
    counts = {t: {} for t in thresholds}
    for name in SCENES:
        image = cv2.imread(str(data / 'scenes' / f'{name}.jpg'))
        scale = min(1.0, SCENE_LONG_SIDE / max(image.shape[:2]))
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        for threshold, faces in detect_at(detector, image, thresholds).items():
            counts[threshold][name] = len(faces)
    return counts


def ms_per_frame(detector, frames, repeats=2) -> float:
    images = [f.bgr for f in frames[:50]]
    detector.detect(images[0])  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        for image in images:
            detector.detect(image)
    return (time.perf_counter() - started) * 1000 / (repeats * len(images))


def _leak_cell(entry: dict) -> str:
    faces = max(entry['faces'], 1)
    return f"{100 * entry['leaks'] / faces:.2f} ({100 * entry['missed'] / faces:.2f})"


def make_detector(model: str, scale: float, threads: int) -> RetinaFaceDetector:
    return RetinaFaceDetector(model_path=model, providers='CPUExecutionProvider',
                              input_scale=scale, threads=threads)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=pathlib.Path, default=REPO.parent / 'shared' / 'data')
    p.add_argument('--model', action='append',
                   help="ONNX path, 'stock' or '' (the shipped model; repeatable)")
    p.add_argument('--scale', type=float, action='append', help='input scale (repeatable)')
    p.add_argument('--score', type=float, action='append', help='score threshold (repeatable)')
    p.add_argument('--split', default='test', help='faces68 split the frames are built from')
    p.add_argument('--frames', type=int, default=300, help='one-face frames (+ 1/5 many-face)')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--strength', type=float, default=AnonymizeConfig().strength,
                   help='anonymizer strength (default: the product default)')
    p.add_argument('--list-leaks', action='store_true')
    args = p.parse_args()
    models, scales = args.model or ['stock'], args.scale or [1.0]
    thresholds = sorted(args.score or [0.3, 0.6])
    frames = (face_frames(args.data, args.split, args.frames)
              + face_frames(args.data, args.split, args.frames // 5, (3, 5), seed=7,
                            prefix='many'))
    empties = empty_frames(args.data, args.split, 60)
    print(f'{len(frames)} frames from faces68/{args.split}, {sum(len(f.faces) for f in frames)} '
          f'labelled faces per encoding; {len(empties)} face-free frames; load average '
          f'{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at start\n')
    config = AnonymizeConfig(strength=args.strength)
    print(f'blur: margin {config.margin_scale}, strength {config.strength}. Cells: leak % '
          '(missed %: not even covered; the rest were covered but blurred too little by the '
          'rule)\n')
    print('| model | scale | score | ' + ' | '.join(f'{e} leak %' for e in ENCODINGS)
          + ' | false mask % (mean / worst encoding) | faces68 test recall '
          + '| other boxes / faces68 image | '
          + ' | '.join(f'{k} covered found %' for k in OCCLUSIONS) + ' | scenes '
          + '/'.join(f'{n}' for n in SCENES) + f" (of {'/'.join(map(str, SCENES.values()))})"
          + ' | ms / 640x480 |')
    print('|' + '---|' * (len(ENCODINGS) + 8 + len(OCCLUSIONS)))
    for model in models:
        for scale in scales:
            detector = make_detector(model, scale, args.threads)
            ms = ms_per_frame(detector, frames)
            scores = privacy_scores(detector, frames, empties, thresholds, ENCODINGS, config)
            recall = faces68_recall(detector, args.data, thresholds)
            scenes = scene_counts(detector, args.data, thresholds)
            occluded = occluded_recall(detector, args.data, thresholds, args.split)
            for t in thresholds:
                cells = [_leak_cell(scores[t, e]) for e in ENCODINGS]
                masks = [100 * np.mean(scores[t, e]['false_mask']) for e in ENCODINGS]
                name = pathlib.Path(model).stem if model else 'retinaface_privacy (shipped)'
                print(f'| {name} | {scale:g} | {t:g} | '
                      + ' | '.join(cells)
                      + f' | {np.mean(masks):.2f} / {max(masks):.2f} | {100 * recall[t][0]:.1f} '
                      + f'| {recall[t][1]:.3f} | '
                      + ' | '.join(f'{100 * occluded[t, k]:.1f}' for k in OCCLUSIONS) + ' | '
                      + '/'.join(str(scenes[t][n]) for n in SCENES) + f' | {ms:.1f} |',
                      flush=True)
                if args.list_leaks:
                    for e in ENCODINGS:
                        print(f'  leaked ({e}): {" ".join(scores[t, e]["leaked"])}')
    print(f'\nload average {os.getloadavg()[0]:.1f} at end')


if __name__ == '__main__':
    main()
