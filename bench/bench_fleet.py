"""Frames/s of `facekp bag` over many bags: today's one process per bag, the fleet's local
workers, and Ray (an instance started by the run, and one already running); a scaling
table, and what K such machines would give on paper.

    python -m bench.bench_fleet [--bags 4] [--frames 60] [--rounds 2] [--raw] [--no-ray]

The bags are written from faces68 test images (../shared/data or $FACEKP_DATA): 640x480
frames with four faces each, JPEG (CompressedImage) unless --raw (bgr8 Image). Every mode runs
as a user runs it, a `facekp` process, on the same bags; the modes alternate within each round
and each round starts one mode later, so that a change in the machine's load hits all of them.
CPU ms / frame: all the processes of a local mode (Ray's are not children of this one), and
the workers' own, per bag, from the run's report; cores used = frames/s x CPU s / frame (all,
or the workers' for Ray): the share of the machine the mode got.
"""
import argparse
import json
import math
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
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from bench.bench_pipeline import machine_info

DATA = pathlib.Path(os.environ.get(
    'FACEKP_DATA', pathlib.Path(__file__).resolve().parents[2] / 'shared' / 'data'))
STORE = get_typestore(Stores.ROS2_JAZZY)
T = STORE.types
SIZE = (640, 480)
FACEKP = [sys.executable, '-m', 'facekp_ros.cli', 'bag']


def frames_from_faces68(count: int, seed: int = 0):
    """count 640x480 frames, each with four faces68 test images at seeded places and sizes."""
    images = sorted((DATA / 'faces68' / 'test').glob('*.jpg'))
    if not images:
        raise FileNotFoundError(f'no faces68 test images in {DATA}: set FACEKP_DATA')
    rng = np.random.default_rng(seed)
    for index in range(count):
        frame = np.full((SIZE[1], SIZE[0], 3), 96, np.uint8)
        for quarter in range(4):
            face = cv2.imread(str(images[(4 * index + quarter) % len(images)]))
            side = int(rng.integers(110, 200))
            face = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
            x0, y0 = (quarter % 2) * 320, (quarter // 2) * 240
            x, y = x0 + int(rng.integers(0, 320 - side)), y0 + int(rng.integers(0, 240 - side))
            frame[y:y + side, x:x + side] = face
        yield frame


def write_bag(path: pathlib.Path, frames: int, raw: bool, seed: int) -> None:
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        msgtype = 'sensor_msgs/msg/Image' if raw else 'sensor_msgs/msg/CompressedImage'
        conn = writer.add_connection('/camera/image', msgtype, typestore=STORE)
        for i, frame in enumerate(frames_from_faces68(frames, seed)):
            stamp = T['builtin_interfaces/msg/Time'](sec=i // 10, nanosec=(i % 10) * 10**8)
            header = T['std_msgs/msg/Header'](stamp=stamp, frame_id='camera')
            if raw:
                msg = T[msgtype](header=header, height=SIZE[1], width=SIZE[0], encoding='bgr8',
                                 is_bigendian=0, step=SIZE[0] * 3, data=frame.reshape(-1))
            else:
                data = cv2.imencode('.jpg', frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
                msg = T[msgtype](header=header, format='jpeg', data=data.reshape(-1))
            writer.write(conn, i * 10**8, STORE.serialize_cdr(msg, msgtype))


def children_cpu_s() -> float:
    """CPU seconds of the finished child processes (and theirs, where they waited for them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def workers_cpu_s(out: pathlib.Path) -> float:
    """CPU seconds the bags took in their workers (local or Ray), from the run's report."""
    report = out / 'privacy_report.json'
    if not report.is_file():  # today's command writes no run report
        return math.nan
    return sum(b['cpu_seconds'] for b in json.loads(report.read_text())['bags'].values())


def folder_bytes(folder: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob('*') if p.is_file())


def timed(command: list) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def one_process_per_bag(bags: list, out: pathlib.Path) -> float:
    """Today: `facekp bag IN OUT`, one bag after the other."""
    out.mkdir()
    start = time.perf_counter()
    for bag in bags:
        subprocess.run(FACEKP + [str(bag), str(out / bag.name), '--quiet'], check=True,
                       stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


RAY_HOLDER = """
import os, sys
os.environ['RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER'] = '0'  # loopback only, as facekp's own
os.environ['RAY_USAGE_STATS_ENABLED'] = '0'
import ray
info = ray.init(address='local', num_cpus=len(os.sched_getaffinity(0)),
                include_dashboard=False, _node_ip_address='127.0.0.1',
                object_store_memory=100 * 2**20, logging_level='ERROR')
print(info.address_info['gcs_address'], flush=True)
sys.stdin.read()  # until the benchmark closes it
ray.shutdown()
"""


def start_ray_instance() -> tuple:
    """(process, address) of a Ray instance on loopback that other drivers can join: the
    cluster a fleet user already has. Stopped by closing the process's stdin."""
    # The drivers that join it authenticate with the token it saves (~/.ray/auth_token).
    os.environ['RAY_AUTH_MODE'] = 'token'
    holder = subprocess.Popen([sys.executable, '-c', RAY_HOLDER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    return holder, holder.stdout.readline().strip()


def stop_ray_instance(holder) -> None:
    holder.stdin.close()
    holder.wait(timeout=120)


def modes(bags_folder, bags, ray_address, use_ray) -> list:
    cores = len(os.sched_getaffinity(0))
    rows = [('`facekp bag IN OUT`, one process per bag (today)', f'1 x {cores}',
             lambda out: one_process_per_bag(bags, out)),
            ('--workers 1', f'1 x {cores}',
             lambda out: timed(FACEKP + [str(bags_folder), '-o', str(out), '--quiet',
                                        '--workers', '1'])),
            (f'--workers {cores} (default)', f'{cores} x 1',
             lambda out: timed(FACEKP + [str(bags_folder), '-o', str(out), '--quiet']))]
    if use_ray:
        rows += [('--ray (local instance started by the run)', f'{cores} tasks x 1',
                  lambda out: timed(FACEKP + [str(bags_folder), '-o', str(out), '--quiet',
                                             '--ray'])),
                 ('--ray ADDRESS (instance already running)', f'{cores} tasks x 1',
                  lambda out: timed(FACEKP + [str(bags_folder), '-o', str(out), '--quiet',
                                             '--ray', ray_address]))]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--bags', type=int, default=4)
    parser.add_argument('--frames', type=int, default=60, help='frames per bag')
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--raw', action='store_true', help='bgr8 Image instead of JPEG')
    parser.add_argument('--no-ray', dest='ray', action='store_false')
    parser.add_argument('--machines', type=int, nargs='+', default=[1, 4, 16, 64])
    args = parser.parse_args()
    print(machine_info())
    work = pathlib.Path(tempfile.mkdtemp(prefix='bench_fleet_'))
    head = None
    try:
        folder = work / 'bags'
        folder.mkdir()
        bags = [folder / f'bag{i}' for i in range(args.bags)]
        for i, bag in enumerate(bags):
            write_bag(bag, args.frames, args.raw, seed=i)
        frames = args.bags * args.frames
        if args.ray:
            head, address = start_ray_instance()
        rows = modes(folder, bags, args.ray and address, args.ray)
        seconds, written = {name: [] for name, _, _ in rows}, 0
        cpu = {name: [] for name, _, _ in rows}
        workers_cpu = {name: [] for name, _, _ in rows}
        for round_ in range(args.rounds):  # each round starts one mode later
            for name, _, run in rows[round_ % len(rows):] + rows[:round_ % len(rows)]:
                out = work / f'out{round_}_{len(seconds[name])}'
                before = children_cpu_s()
                seconds[name].append(run(out))
                cpu[name].append(children_cpu_s() - before)
                workers_cpu[name].append(workers_cpu_s(out))
                written = written or folder_bytes(out)
                shutil.rmtree(out)
                print(f'round {round_ + 1}: {name}: {seconds[name][-1]:.1f} s', flush=True)
        print_table(rows, seconds, (cpu, workers_cpu), frames, args,
                    (folder_bytes(folder) + written) / frames)
    finally:
        if head is not None:
            stop_ray_instance(head)
        shutil.rmtree(work, ignore_errors=True)
    print('- load average (1, 5, 15 min) at the end: '
          + ', '.join(f'{x:.1f}' for x in os.getloadavg()))


def print_table(rows, seconds, cpus, frames, args, bytes_per_frame) -> None:
    cores = len(os.sched_getaffinity(0))
    kind = 'bgr8 Image' if args.raw else 'JPEG CompressedImage'
    print(f'\n{args.bags} bags x {args.frames} frames (640x480, 4 faces, {kind}); '
          f'median of {args.rounds} rounds, each mode a `facekp` process including its '
          'start-up\n')
    print('| mode | processes x onnxruntime threads | wall s (each round) | frames/s | vs today '
          '| CPU ms / frame, all | in the workers | cores used |')
    print('|---|---|---:|---:|---:|---:|---:|---:|')
    rate = {name: frames / statistics.median(seconds[name]) for name, _, _ in rows}
    today = rate[rows[0][0]]
    for name, layout, _ in rows:
        runs = ', '.join(f'{s:.1f}' for s in seconds[name])
        # Ray's workers are not this process's children: only their own count is known.
        every, workers = (statistics.median(c[name]) / frames for c in cpus)
        used = workers if '--ray' in name else every
        cells = ' | '.join('n/a' if math.isnan(v) or (v is every and '--ray' in name)
                           else f'{v * 1e3:.0f}' for v in (every, workers))
        print(f'| {name} | {layout} | {runs} | {rate[name]:.1f} | {rate[name] / today:.2f}x '
              f'| {cells} | {used * rate[name]:.2f} |')
    best = max(v for k, v in rate.items() if k.startswith('--workers'))
    for name in [k for k in rate if k.startswith('--ray')]:
        print(f'\n{name}: {rate[name] / best:.2f}x the best local mode', end='')
    per_core = best / cores
    print(f'\n\nOn paper: K machines like this one, {cores} cores each, at the best local rate '
          f'per core ({per_core:.2f} frames/s/core), Ray placing one bag per core, at least as '
          'many bags as cores, every node reading and writing a shared file system that keeps '
          f'up: {bytes_per_frame / 1e3:.0f} kB per frame read + written here.\n')
    print('| machines K | cores | frames/s | hours per million frames | storage MB/s |')
    print('|---:|---:|---:|---:|---:|')
    for k in args.machines:
        total = per_core * cores * k
        print(f'| {k} | {k * cores} | {total:.0f} | {1e6 / total / 3600:.1f} | '
              f'{total * bytes_per_frame / 1e6:.1f} |')


if __name__ == '__main__':
    main()
