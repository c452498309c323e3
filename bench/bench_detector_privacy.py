"""Does the detector find the faces anonymization must hide? Prints a markdown table.

For each detector ONNX, input scale and score threshold: detects on the bgr8 view of each
encoding of the seeded small-face frames (bench/privacy_frames.py: mono8 grey replicated to
3 channels, 16-bit frames stretched by their own min..max), blurs the boxes with the
anonymizer's defaults (1.3x margin) and scores every labelled face with the privacy note's
rule, in that 8-bit view. Also: false-mask area on face-free frames, recall on the full-size
faces68 test images (a face is found when a box enlarged 20 % holds >= 90 % of its 68
points), faces found on the scenes, and ms per 640x480 frame (timed in the same run, so
models compare on the same machine load).

  python bench/bench_detector_privacy.py --model stock --model facekp_ros/models/X.onnx \
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

from bench.privacy_frames import (  # noqa: E402
    empty_frames,
    face_frames,
    modified_share,
    read_labels,
    render,
    score_face,
)
from facekp_ros.core.anonymize import AnonymizeConfig, anonymize  # noqa: E402
from facekp_ros.core.retinaface import RetinaFaceDetector  # noqa: E402

ENCODINGS = ('colour', 'grey', 'mono16', '16UC1-12bit-BE', 'IR-like')
WIDE = {'mono16': ('mono16', 0), '16UC1-12bit-BE': ('16UC1', 1)}  # -> (encoding, big-endian)
# Scene photo -> faces in it (avengers.jpg: a poster of about 11 face tiles).
SCENES = {'obamas': 2, 'the_beatles': 4, 'avengers2': 4, 'mona_lisa': 1, 'trump': 1,
          'avengers': 11}
SCENE_LONG_SIDE = 1280


def decoded_wide(pixels: np.ndarray, encoding: str, big_endian: int) -> np.ndarray:
    """The 16-bit frame sent as a sensor_msgs Image and read back by the project's codec."""
    from sensor_msgs.msg import Image

    from facekp_ros.image_bridge import check_image, read_pixels

    data = pixels.astype('>u2' if big_endian else '<u2').tobytes()
    msg = Image(height=pixels.shape[0], width=pixels.shape[1], encoding=encoding,
                is_bigendian=big_endian, step=pixels.shape[1] * 2, data=data)
    return read_pixels(msg, check_image(msg))


def bgr8_view(bgr: np.ndarray, encoding: str) -> np.ndarray:
    """What the detector sees for one encoding of a frame."""
    from facekp_ros.image_bridge import image_to_bgr8, parse_encoding

    pixels = render(bgr, encoding)
    if encoding in WIDE:
        wide = decoded_wide(pixels, *WIDE[encoding])
        return cv2.cvtColor(cv2.normalize(wide, None, 0, 255, cv2.NORM_MINMAX, cv2.CV_8U),
                            cv2.COLOR_GRAY2BGR)
    return image_to_bgr8(pixels, parse_encoding('bgr8' if pixels.ndim == 3 else 'mono8'))


def detect_at(detector, bgr, thresholds) -> dict:
    """threshold -> faces, from one network run."""
    blob, scale = detector.preprocess(bgr)
    outputs = detector.infer(blob)
    found = {}
    for threshold in thresholds:
        detector.score_threshold = threshold
        found[threshold] = detector.postprocess(outputs, blob.shape[2:], scale)
    return found


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
    path = None if model == 'stock' else model
    return RetinaFaceDetector(model_path=path, providers='CPUExecutionProvider',
                              input_scale=scale, threads=threads)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=pathlib.Path, default=REPO.parent / 'shared' / 'data')
    p.add_argument('--model', action='append', help="ONNX path, or 'stock' (repeatable)")
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
          + '| other boxes / faces68 image | scenes '
          + '/'.join(f'{n}' for n in SCENES) + f" (of {'/'.join(map(str, SCENES.values()))})"
          + ' | ms / 640x480 |')
    print('|' + '---|' * (len(ENCODINGS) + 8))
    for model in models:
        for scale in scales:
            detector = make_detector(model, scale, args.threads)
            ms = ms_per_frame(detector, frames)
            scores = privacy_scores(detector, frames, empties, thresholds, ENCODINGS, config)
            recall = faces68_recall(detector, args.data, thresholds)
            scenes = scene_counts(detector, args.data, thresholds)
            for t in thresholds:
                cells = [_leak_cell(scores[t, e]) for e in ENCODINGS]
                masks = [100 * np.mean(scores[t, e]['false_mask']) for e in ENCODINGS]
                print(f'| {pathlib.Path(model).stem} | {scale:g} | {t:g} | '
                      + ' | '.join(cells)
                      + f' | {np.mean(masks):.2f} / {max(masks):.2f} | {100 * recall[t][0]:.1f} '
                      + f'| {recall[t][1]:.3f} | '
                      + '/'.join(str(scenes[t][n]) for n in SCENES) + f' | {ms:.1f} |',
                      flush=True)
                if args.list_leaks:
                    for e in ENCODINGS:
                        print(f'  leaked ({e}): {" ".join(scores[t, e]["leaked"])}')
    print(f'\nload average {os.getloadavg()[0]:.1f} at end')


if __name__ == '__main__':
    main()
