"""How private is /image_anonymized? Prints a markdown table.

Runs the in-process pipeline (the pipeline node's code) over the shared scenes, the 500
faces68 test images and a video, then runs independent detectors over its anonymized
output: OpenCV's Haar cascade (a different method altogether) and RetinaFace at a lower
threshold (0.3) than the pipeline uses (0.6). Counts faces still found where the original
image had a face (goal: 0), and frames fully masked by the fail-closed path.

  python bench/bench_privacy.py [--data PATH] [--video PATH] [--method blur|pixelate|fill]
"""
import argparse
import pathlib
import sys

import cv2
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facekp_ros.core.anonymize import AnonymizeConfig  # noqa: E402
from facekp_ros.core.pipeline import FacePipeline, PipelineConfig  # noqa: E402
from facekp_ros.core.retinaface import RetinaFaceDetector  # noqa: E402
from facekp_ros.core.sources import open_source  # noqa: E402
from facekp_ros.core.tracking import iou_matrix  # noqa: E402


def haar_boxes(bgr) -> np.ndarray:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + 'haarcascade_frontalface_default.xml')
    boxes = cascade.detectMultiScale(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 1.1, 5)
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def still_found(boxes: np.ndarray, face_boxes: np.ndarray) -> int:
    """Detections on the anonymized image that overlap a face of the original."""
    if not len(boxes) or not len(face_boxes):
        return 0
    return int((iou_matrix(boxes, face_boxes).max(1) > 0.3).sum())


def image_sets(data: pathlib.Path, video: str):
    scenes = []
    for path in sorted((data / 'scenes').glob('*.jpg')):
        image = cv2.imread(str(path))
        scale = min(1.0, 960 / max(image.shape[:2]))
        scenes.append(cv2.resize(image, None, fx=scale, fy=scale))
    yield 'scenes', scenes
    tests = sorted((data / 'faces68' / 'test').glob('*.jpg'))
    yield 'faces68/test', [cv2.imread(str(p)) for p in tests]
    source = open_source(video, loop=False)
    frames = []
    while (frame := source.read()) is not None and len(frames) < 300:
        frames.append(frame)
    yield f'video ({video})', frames


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--data', type=pathlib.Path, default=REPO.parent / 'shared' / 'data')
    p.add_argument('--video', required=True, help='a video file with faces (see README)')
    p.add_argument('--method', default='blur')
    p.add_argument('--shape', default='box')
    args = p.parse_args()
    strict = RetinaFaceDetector(score_threshold=0.3)
    print(f'anonymization: {args.method}, {args.shape}; independent checks: Haar cascade, '
          'RetinaFace at score 0.3 (the pipeline uses 0.6)\n')
    print('| input | frames | faces found by the pipeline | fully masked frames | '
          'faces still found by Haar | by RetinaFace@0.3 |')
    print('|---|---|---|---|---|---|')
    for name, frames in image_sets(args.data, args.video):
        config = PipelineConfig(anonymize=AnonymizeConfig(method=args.method, shape=args.shape),
                                keypoints=False, annotate=False)
        # A fresh pipeline per set: photos are unrelated, a video is one stream.
        pipeline = FacePipeline(config)
        faces = masked = haar = retina = 0
        for frame in frames:
            if not name.startswith('video'):
                pipeline.tracker.reset()
            result = pipeline.process(frame)
            boxes = np.array([f.box for f in result.faces], np.float32).reshape(-1, 4)
            faces += len(result.faces)
            masked += result.masked_whole_frame
            haar += still_found(haar_boxes(result.anonymized), boxes)
            retina += still_found(np.array([f.box for f in strict.detect(result.anonymized)],
                                           np.float32).reshape(-1, 4), boxes)
        print(f'| {name} | {len(frames)} | {faces} | {masked} | {haar} | {retina} |')


if __name__ == '__main__':
    main()
