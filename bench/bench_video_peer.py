"""`facekp video --anonymize` beside deface 1.5.0 (a peer) on the same 640x480 four-face
video, timed in turns in one run; prints a markdown table.

    python -m bench.bench_video_peer --deface /path/to/venv/bin/deface [--frames 150] \\
        [--runs 2] [--baseline OTHER_FACEKP] [-- facekp options...]

deface lives in a virtual environment of its own (pip install deface==1.5.0 onnxruntime onnx:
without onnx it falls back to OpenCV's dnn backend) and runs with its defaults on the CPU
execution provider. The video is the built-in sample frame drifting a few pixels per frame,
written with OpenCV (mp4v); it is made anew in a temporary folder each run.
"""
import argparse
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

from facekp_ros.sources import sample_frame


def write_video(path: pathlib.Path, frames: int) -> None:
    base = sample_frame()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 30.0, (640, 480))
    for index in range(frames):
        shift = np.float32([[1, 0, 6 * np.sin(index / 15)], [0, 1, 4 * np.cos(index / 20)]])
        writer.write(cv2.warpAffine(base, shift, (640, 480), borderMode=cv2.BORDER_REFLECT))
    writer.release()


def _child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list) -> tuple:
    """(wall s, CPU s) of one run: CPU time is what the load of other processes changes
    least."""
    start, cpu = time.perf_counter(), _child_cpu_s()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f'{" ".join(command)} failed ({done.returncode}): '
                           f'{done.stderr[-2000:]}')
    return time.perf_counter() - start, _child_cpu_s() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--deface', required=True, help="deface's executable (its own venv)")
    parser.add_argument('--frames', type=int, default=150)
    parser.add_argument('--runs', type=int, default=2, help='timed runs of each, in turns')
    parser.add_argument('--baseline', help='another facekp executable (e.g. an older '
                        'checkout) timed in the same turns, with its defaults')
    parser.add_argument('facekp_options', nargs=argparse.REMAINDER,
                        help='after --: options for facekp video')
    args = parser.parse_args()
    extra = [a for a in args.facekp_options if a != '--']
    facekp = shutil.which('facekp') or str(pathlib.Path(sys.executable).parent / 'facekp')
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as folder:
        work = pathlib.Path(folder)
        video = work / 'four_faces.mp4'
        write_video(video, args.frames)
        commands = {
            'facekp video --anonymize': [facekp, 'video', str(video), '--anonymize', '--quiet',
                                         '--out', str(work / 'facekp.mp4'), *extra],
            **({'facekp video --anonymize (baseline)': [
                args.baseline, 'video', str(video), '--anonymize', '--quiet', '--out',
                str(work / 'baseline.mp4')]} if args.baseline else {}),
            'deface 1.5.0': [args.deface, str(video), '-o', str(work / 'deface.mp4'),
                             '--ep', 'CPUExecutionProvider'],
        }
        times = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                times[name].append(timed(command))
    print(f'{args.frames}-frame 640x480 video with 4 faces; {args.runs} runs each, in turns; '
          f'load average at start {load} on {os.cpu_count()} cores; facekp options: '
          f'{" ".join(extra) or "(defaults)"}\n')
    print('| tool | s per run (median) | fps (start-up included) | CPU s per run (median) |')
    print('|---|---:|---:|---:|')
    rates = {}
    for name, runs in times.items():
        seconds = statistics.median(wall for wall, _ in runs)
        cpu = statistics.median(cpu for _, cpu in runs)
        rates[name] = args.frames / seconds
        print(f'| {name} | {seconds:.1f} | {rates[name]:.1f} | {cpu:.1f} |')
    ratio = rates['facekp video --anonymize'] / rates['deface 1.5.0']
    print(f'\nfacekp / deface frame rate: {ratio:.2f}x (target >= 3x)')

if __name__ == '__main__':
    main()
