"""Soak / overload run over real DDS on loopback; prints a markdown table.

Starts camera_node (built-in 640x480 four-face sample) and the processing nodes as
separate processes, listens to /image_anonymized and /diagnostics, and reports delivered
fps, camera->anonymized latency p50/p99 (stamp to arrival), frames the pipeline dropped to
stay on the newest frame, and the resident memory of each process at the start and the
end. Bounded: it stops after --minutes (at most 10) and stops every process it started.

  python bench/soak.py --minutes 10 --rate 60            # overload: ~2x what 2 cores manage
  python bench/soak.py --minutes 1 --rate 15             # latency at a sustainable rate
  python bench/soak.py --mode nodes                      # detector + anonymizer processes
"""
import argparse
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Image

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facekp_ros.node_common import OUTPUT_QOS  # noqa: E402

STAGES = {'pipeline': [('pipeline_node', ['-r', 'image:=image_raw'])],
          'nodes': [('detector_node', ['-r', 'image:=image_raw']),
                    ('anonymizer_node', ['-r', 'image:=image_raw'])]}


def rss_mb(pid: int) -> float:
    for line in pathlib.Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return float('nan')


class Monitor(Node):
    def __init__(self):
        super().__init__('soak_monitor')
        self.latency_ms, self.arrivals, self.diagnostics = [], [], {}
        self.create_subscription(Image, 'image_anonymized', self._on_image, OUTPUT_QOS)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)

    def _on_image(self, msg: Image) -> None:
        now = self.get_clock().now().nanoseconds
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self.latency_ms.append((now - stamp) / 1e6)
        self.arrivals.append(time.monotonic())

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.diagnostics[status.name] = {kv.key: kv.value for kv in status.values}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--minutes', type=float, default=10.0)
    p.add_argument('--rate', type=float, default=60.0, help='camera frames per second')
    p.add_argument('--mode', choices=sorted(STAGES), default='pipeline')
    p.add_argument('--param', action='append', default=[], metavar='NAME:=VALUE',
                   help='a parameter for the processing nodes, e.g. input_scale:=0.5')
    args = p.parse_args()
    minutes = min(args.minutes, 10.0)
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    params = [arg for param in args.param for arg in ('-p', param)]
    commands = [('camera_node', ['-p', f'rate_hz:={args.rate}'])] + [
        (name, extra + params) for name, extra in STAGES[args.mode]]
    processes = {name: subprocess.Popen(
        [sys.executable, '-m', f'facekp_ros.{name}', '--ros-args', *extra], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, extra in commands}
    rclpy.init()
    monitor = Monitor()
    try:
        warm_up_end = time.monotonic() + 15
        while time.monotonic() < warm_up_end:
            rclpy.spin_once(monitor, timeout_sec=0.1)
        rss_start = {name: rss_mb(proc.pid) for name, proc in processes.items()}
        monitor.latency_ms.clear()
        monitor.arrivals.clear()
        end = time.monotonic() + minutes * 60
        while time.monotonic() < end:
            rclpy.spin_once(monitor, timeout_sec=0.1)
        rss_end = {name: rss_mb(proc.pid) for name, proc in processes.items()}
        report(args, minutes, monitor, rss_start, rss_end)
    finally:
        for proc in processes.values():
            proc.terminate()
        for proc in processes.values():
            proc.wait(10)
        monitor.destroy_node()
        rclpy.try_shutdown()


def report(args, minutes, monitor, rss_start, rss_end) -> None:
    latency = np.array(monitor.latency_ms)
    span = monitor.arrivals[-1] - monitor.arrivals[0] if len(monitor.arrivals) > 1 else 0
    fps = (len(monitor.arrivals) - 1) / span if span else 0.0
    print(f'mode {args.mode}, camera {args.rate:g} fps 640x480 (4 faces), {minutes:g} min '
          f'after 15 s warm-up, {os.cpu_count()} cores, parameters: {args.param or "defaults"}\n')
    print('| delivered fps | latency p50 ms | latency p99 ms | max ms | frames |')
    print('|---|---|---|---|---|')
    if latency.size:
        p50, p99 = np.percentile(latency, [50, 99])
        print(f'| {fps:.1f} | {p50:.1f} | {p99:.1f} | {latency.max():.1f} | {latency.size} |')
    print('\n| stage (from /diagnostics) | fps | p50 ms | p99 ms | processed | dropped | failed |')
    print('|---|---|---|---|---|---|---|')
    for name, values in sorted(monitor.diagnostics.items()):
        print(f"| {name} | {values.get('fps')} | {values.get('latency_p50_ms')} | "
              f"{values.get('latency_p99_ms')} | {values.get('processed')} | "
              f"{values.get('dropped')} | {values.get('failed')} |")
    print('\n| process | RSS start MB | RSS end MB | growth MB |')
    print('|---|---|---|---|')
    for name in rss_start:
        print(f'| {name} | {rss_start[name]:.0f} | {rss_end[name]:.0f} | '
              f'{rss_end[name] - rss_start[name]:+.1f} |')


if __name__ == '__main__':
    main()
