"""In-process pipeline speed on the 640x480 four-face sample frame, keypoints on; prints a table.

    python -m bench.bench_pipeline [--frames 200] [--warmup 10]

Two ways to run the same stages (core.pipeline):
- sequential: FacePipeline.process per frame on one thread (onnxruntime: a thread per core);
- overlapped: as pipeline_node and `facekp video` run them, detection of frame N+1 on one
  thread beside keypoints, anonymization, pose and drawing of frame N on another, one
  onnxruntime thread each (core.worker.FrameWorker with two steps).
Besides wall-clock fps it reports the CPU time per frame of the whole process, from which
the rate two idle cores would give follows (2 / CPU seconds per frame): the machine is shared,
and CPU time depends far less on other jobs than wall time does.
"""
import argparse
import os
import platform
import resource
import threading
import time
from dataclasses import replace

import numpy as np
import onnxruntime as ort

from facekp_ros import parameters
from facekp_ros.core.detection import DetectionConfig
from facekp_ros.core.image_codec import from_bgr8
from facekp_ros.core.pipeline import FacePipeline, PipelineConfig
from facekp_ros.core.scan import ScanPlan
from facekp_ros.core.stages import KeypointConfig
from facekp_ros.core.worker import FrameWorker
from facekp_ros.pipeline_node import THREADS_PER_SESSION, VIEW_THREADS
from facekp_ros.sources import sample_frame

STAGES = ('detect', 'keypoints', 'anonymize', 'pose', 'draw')
_LIVE = parameters.defaults(parameters.DETECTOR)
# The nodes' default: the upright scan plus turned ones at +-60 degrees, for rolls to +-45.
LIVE = ScanPlan(roll_coverage=_LIVE['roll_coverage'], roll_scale=_LIVE['roll_scale'])
PLANS = ((f"live default (roll_coverage {LIVE.roll_coverage:g}, roll_scale "
          f"{LIVE.roll_scale:g})", LIVE),
         ('upright only (roll_coverage 0)', ScanPlan()),
         ('roll_coverage 45, roll_scale 1.0', ScanPlan(roll_coverage=45)),
         ('input_scale 0.5', replace(LIVE, input_scale=0.5)),
         ('small_face_zoom 2', replace(LIVE, small_face_zoom=2.0)))
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
    """Two markdown list lines: the CPU, cores and load average now; onnxruntime."""
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    return (f'- CPU: {cpu_model()}; cores (nproc): {os.cpu_count()}; load average at start: '
            f'{load}\n- onnxruntime {ort.__version__}, providers: '
            f'{", ".join(ort.get_available_providers())}')


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def config_for(plan: ScanPlan, threads: int, view_threads: int = 1) -> PipelineConfig:
    return PipelineConfig(detection=DetectionConfig(plan=plan, threads=threads,
                                                    view_threads=view_threads),
                          keypoints=KeypointConfig(threads=threads))


def run_sequential(plan, frame, frames: int, warmup: int) -> tuple:
    pipeline = FacePipeline(config_for(plan, 0))
    image = from_bgr8(frame)
    for _ in range(warmup):  # first runs allocate onnxruntime buffers: not steady state
        pipeline.process(image)
    timings = {stage: [] for stage in STAGES}
    cpu, start = cpu_seconds(), time.perf_counter()
    for _ in range(frames):
        result = pipeline.process(image)
        for stage in STAGES:
            timings[stage].append(result.timings_ms[stage])
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return {s: float(np.median(v)) for s, v in timings.items()}, len(result.faces), \
        frames / wall, cpu / frames


def run_overlapped(plan, frame, frames: int, warmup: int) -> tuple:
    """As pipeline_node runs: one onnxruntime thread per session, views side by side."""
    pipeline = FacePipeline(config_for(plan, THREADS_PER_SESSION, VIEW_THREADS))
    image = from_bgr8(frame)
    done = threading.Semaphore(0)
    faces = []

    def finish(item, detected):
        result = pipeline.finish(image, detected, time.monotonic())
        faces[:] = result.faces
        done.release()

    worker = FrameWorker('bench', [lambda item: pipeline.detect(image), finish],
                         lambda item, error: print(f'failed: {error}'), newest_only=False)
    for _ in range(warmup):
        worker.submit(0)
        done.acquire()
    cpu, start = cpu_seconds(), time.perf_counter()
    for index in range(frames):
        worker.submit(index)  # waits while both steps are busy: nothing is dropped
    for _ in range(frames):
        done.acquire()
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    worker.stop()
    return len(faces), frames / wall, cpu / frames


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=200)
    parser.add_argument('--warmup', type=int, default=10)
    args = parser.parse_args(argv)
    frame = sample_frame()
    print(f'FacePipeline on sample_frame() 640x480 (4 faces), keypoints, head pose, blur, '
          f'annotation; {args.frames} frames after {args.warmup} warm-up frames.\n')
    print(machine_info() + '\n')
    print('| scan | run | faces | ' + ' | '.join(f'{s} ms' for s in STAGES) +
          ' | fps (wall) | CPU ms / frame | fps on 2 idle cores (2 / CPU s per frame) |')
    print('|---|---|---:|' + '---:|' * len(STAGES) + '---:|---:|---:|')
    for name, plan in PLANS:
        stages, faces, fps, cpu = run_sequential(plan, frame, args.frames, args.warmup)
        cells = ' | '.join(f'{stages[s]:.1f}' for s in STAGES)
        print(f'| {name} | sequential | {faces} | {cells} | {fps:.1f} | {cpu * 1e3:.1f} | '
              f'{2 / cpu:.1f} |', flush=True)
        faces, fps, cpu = run_overlapped(plan, frame, args.frames, args.warmup)
        blank = ' | '.join('' for _ in STAGES)
        print(f'| {name} | overlapped | {faces} | {blank} | {fps:.1f} | {cpu * 1e3:.1f} | '
              f'{2 / cpu:.1f} |', flush=True)
    print(f'\nTarget: >= {TARGET_FPS:.0f} fps at 640x480 with 4 faces and keypoints on 2 CPU '
          'cores. Stage times are medians of the sequential run.')


if __name__ == '__main__':
    main()

