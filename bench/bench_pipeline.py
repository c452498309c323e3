"""Per-stage time and end-to-end fps of FacePipeline on the 640x480 four-face sample frame.

    python -m bench.bench_pipeline [--frames 100] [--warmup 10]
"""
import argparse
import os
import platform
import time

import numpy as np
import onnxruntime as ort

from facekp_ros.core.pipeline import FacePipeline, PipelineConfig
from facekp_ros.core.sources import sample_frame

STAGES = ('detect', 'track', 'keypoints', 'anonymize', 'draw', 'total')
CONFIGS = (('retinaface, input_scale 1.0', 'retinaface', {'input_scale': 1.0}),
           ('retinaface, input_scale 0.5', 'retinaface', {'input_scale': 0.5}),
           ('haar', 'haar', {}))
TARGET_FPS = 60.0


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def machine_info() -> str:
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    return (f'- CPU: {cpu_model()}; cores usable (nproc): {os.cpu_count()}; '
            f'load average (1, 5, 15 min) at start: {load}\n'
            f'- onnxruntime {ort.__version__}, '
            f'providers: {", ".join(ort.get_available_providers())}')


def run_config(detector: str, params: dict, frame, frames: int, warmup: int) -> tuple:
    """Per-stage timings (dict of arrays, ms), faces in the last frame and wall-clock fps."""
    pipeline = FacePipeline(PipelineConfig(detector=detector, detector_params=params))
    for _ in range(warmup):  # first runs allocate onnxruntime buffers: not steady state
        pipeline.process(frame)
    timings = {stage: [] for stage in STAGES}
    start = time.perf_counter()
    for _ in range(frames):
        result = pipeline.process(frame)
        for stage in STAGES:
            timings[stage].append(result.timings_ms[stage])
    fps = frames / (time.perf_counter() - start)
    return {s: np.array(v) for s, v in timings.items()}, len(result.faces), fps


def table_row(name: str, timings: dict, faces: int, fps: float) -> str:
    cells = [f'{np.median(timings[s]):.1f} / {np.percentile(timings[s], 90):.1f}'
             for s in STAGES]
    return f'| {name} | {faces} | ' + ' | '.join(cells) + f' | {fps:.1f} |'


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--warmup', type=int, default=10)
    args = parser.parse_args(argv)
    frame = sample_frame()
    print(f'FacePipeline on sample_frame() {frame.shape[1]}x{frame.shape[0]}, keypoints on, '
          f'blur anonymization, annotation on; {args.frames} frames after {args.warmup} '
          'warm-up frames.\n')
    print(machine_info() + '\n')
    print('| detector | faces | ' + ' | '.join(f'{s} ms (median / p90)' for s in STAGES)
          + ' | fps |')
    print('|---|---:|' + '---:|' * len(STAGES) + '---:|')
    best = {}
    for name, detector, params in CONFIGS:
        timings, faces, fps = run_config(detector, params, frame, args.frames, args.warmup)
        best[name] = fps
        print(table_row(name, timings, faces, fps), flush=True)
    fastest = max(best, key=best.get)
    verdict = 'meets' if best[fastest] >= TARGET_FPS else 'misses'
    print(f'\nFastest: {fastest} at {best[fastest]:.1f} fps, which {verdict} the target.')
    print(f'Target: >= {TARGET_FPS:.0f} fps at 640x480 with 4 faces on 2 CPU cores. '
          'fps is frames / wall time of the timed loop (one thread of frames, no pipelining).')
    print('Note: timings are noisy when other jobs share the CPU (e.g. a training run).')


if __name__ == '__main__':
    main()
