"""The README's main job: the in-process pipeline on the built-in sample, over real DDS.

Starts pipeline_node (source 'sample') and a listener node that subscribes to what it
publishes, prints each FaceArray it receives and writes the last annotated and anonymized
images to --out.
"""
import argparse
import pathlib
import sys
import time

import cv2
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

from facekp_ros.image_bridge import to_bgr8
from facekp_ros.msg import FaceArray
from facekp_ros.node_common import OUTPUT_QOS
from facekp_ros.pipeline_node import PipelineNode


class Listener(Node):
    """Records what the pipeline publishes."""

    def __init__(self):
        super().__init__('facekp_demo_listener')
        self.face_arrays = []
        self.images = {}
        self.create_subscription(FaceArray, 'face_keypoints', self.face_arrays.append,
                                 OUTPUT_QOS)
        for topic in ('image_anonymized', 'image_annotated'):
            self.create_subscription(Image, topic, self._store(topic), OUTPUT_QOS)

    def _store(self, topic):
        def callback(msg):
            self.images[topic] = to_bgr8(msg)
        return callback


def describe(msg: FaceArray) -> str:
    lines = [f'/face_keypoints stamp={msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d} '
             f'frame_id={msg.header.frame_id} detector={msg.detector} '
             f'ok={msg.detection_ok} faces={len(msg.faces)}']
    for face in msg.faces:
        named = {p.name: p for p in face.keypoints}
        nose = named.get('nose_bridge_3')
        lines.append(
            f'  track {face.track_id}: box x={face.x:.0f} y={face.y:.0f} w={face.width:.0f} '
            f'h={face.height:.0f} score={face.score:.2f}, {len(face.keypoints)} keypoints '
            f'({face.keypoint_model})'
            + (f', nose_bridge_3=({nose.x:.0f}, {nose.y:.0f})' if nose else ''))
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--frames', type=int, default=10, help='frames to run (default 10)')
    parser.add_argument('--out', default='out', help='folder for the images (default out/)')
    parser.add_argument('--source', default='sample', help="pipeline source (default sample)")
    args = parser.parse_args(argv)
    rclpy.init()
    overrides = [Parameter('source', value=args.source),
                 Parameter('max_frames', value=args.frames), Parameter('rate_hz', value=10.0)]
    pipeline = PipelineNode(parameter_overrides=overrides)
    listener = Listener()
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(pipeline)
    executor.add_node(listener)
    deadline = time.monotonic() + 60.0 + args.frames
    try:
        # Every frame read is processed or, if frames came faster than the pipeline, dropped
        # (newest frame first); wait until all processed frames have been received.
        while time.monotonic() < deadline and not (
                pipeline.frames_read >= args.frames and pipeline.worker.idle()
                and len(listener.face_arrays) >= pipeline.worker.stats.processed):
            executor.spin_once(timeout_sec=0.1)
        end = time.monotonic() + 1.0  # the last images may trail their FaceArray
        while len(listener.images) < 2 and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)
        for msg in listener.face_arrays:
            print(describe(msg))
        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for topic, image in sorted(listener.images.items()):
            path = out / f"{topic.removeprefix('image_')}.jpg"
            cv2.imwrite(str(path), image)
            print(f'wrote {path} (last /{topic}, {image.shape[1]}x{image.shape[0]})')
        summary = pipeline.worker.stats.summary(time.monotonic())
        print(f"read {pipeline.frames_read} frames, dropped {summary['dropped']} (pipeline busy), "
              f"received {len(listener.face_arrays)} FaceArray messages; latency "
              f"p50 {summary['latency_p50_ms']:.1f} ms, p99 {summary['latency_p99_ms']:.1f} ms")
        return 0 if listener.face_arrays and len(listener.images) == 2 else 1
    finally:
        executor.shutdown()
        pipeline.destroy_node()
        listener.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
