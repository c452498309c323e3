"""The whole job on real photos: faces found, every face hidden on /image_anonymized.

Runs the in-process pipeline node over DDS on the shared scenes and faces68 test images,
and the separate nodes as separate processes, wired as the launch file wires them.
"""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from images import faces68_test_image
from rclpy.node import Node
from ros_helpers import Collector, ros_nodes, spin_until
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from facekp_ros import image_bridge as bridge
from facekp_ros.msg import FaceArray
from facekp_ros.node_common import OUTPUT_QOS
from facekp_ros.pipeline_node import PipelineNode

SCENES = {'obamas': 2, 'avengers2': 4, 'the_beatles': 4, 'trump': 1, 'mona_lisa': 1}


def load_images(data):
    images = []
    for name, count in SCENES.items():
        image = cv2.imread(str(data / 'scenes' / f'{name}.jpg'))
        scale = min(1.0, 960 / max(image.shape[:2]))
        images.append((name, cv2.resize(image, None, fx=scale, fy=scale), count))
    for index in range(0, 500, 50):
        images.append((f'faces68/{index}', faces68_test_image(data, index)[0], 1))
    return images


def assert_faces_hidden(name, original, anonymized, faces_msg, expected):
    # Unrelated photos in one stream: faces held over from the previous photo are skipped.
    detected = [f for f in faces_msg.faces if f.frames_since_seen == 0]
    assert len(detected) >= expected, f'{name}: {len(detected)} faces'
    for face in detected:
        x, y = max(int(face.x), 0), max(int(face.y), 0)
        region = (slice(y, int(face.y + face.height)), slice(x, int(face.x + face.width)))
        change = np.abs(anonymized[region].astype(int) - original[region]).mean()
        assert change > 12, f'{name}: face at {x},{y} changed by only {change:.1f}'


def test_in_process_pipeline_hides_every_face_in_real_photos(data):
    def make_tester(context):
        node = Node('tester', context=context)
        node.images = node.create_publisher(Image, 'image', OUTPUT_QOS)
        return node

    with ros_nodes(lambda c: PipelineNode(context=c), make_tester) as (executor, (_, test)):
        faces = Collector(test, FaceArray, 'face_keypoints')
        anonymized = Collector(test, Image, 'image_anonymized')
        annotated = Collector(test, Image, 'image_annotated')
        for sec, (name, image, expected) in enumerate(load_images(data), start=1):
            header = Header(frame_id=name)
            header.stamp.sec = sec
            test.images.publish(bridge.cv2_to_imgmsg(image, 'bgr8', header))
            assert spin_until(executor, lambda n=sec: len(anonymized.messages) >= n
                              and len(faces.messages) >= n, 30.0), name
            assert anonymized.messages[-1].header == header == faces.messages[-1].header
            assert_faces_hidden(name, image, bridge.imgmsg_to_cv2(anonymized.messages[-1]),
                                faces.messages[-1], expected)
            assert all(len(f.keypoints) == 68 for f in faces.messages[-1].faces)
        assert spin_until(executor, lambda: len(annotated.messages) == sec, 5.0)


def test_separate_node_processes_wired_like_the_launch_file(data, tmp_path):
    """camera -> detector -> keypoints -> anonymizer + visualizer, one process each."""
    folder = tmp_path / 'frames'
    folder.mkdir()
    for name, image, _ in load_images(data)[:3]:
        cv2.imwrite(str(folder / f'{name}.png'), image)
    remap = ['-r', 'image:=/camera/image_raw']
    commands = {
        'camera_node': ['-p', f'source:={folder}', '-p', 'rate_hz:=3.0', '-p', 'width:=640',
                        '-p', 'height:=480', '-r', 'image_raw:=/camera/image_raw'],
        'detector_node': remap, 'keypoint_node': remap,
        'anonymizer_node': remap, 'visualizer_node': remap}
    processes = [subprocess.Popen([sys.executable, '-m', f'facekp_ros.{name}', '--ros-args',
                                   *args], env=dict(os.environ), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
                 for name, args in commands.items()]
    try:
        with ros_nodes(lambda c: Node('listener', context=c)) as (executor, (listener,)):
            faces = Collector(listener, FaceArray, '/faces')
            keypoints = Collector(listener, FaceArray, '/face_keypoints')
            anonymized = Collector(listener, Image, '/image_anonymized')
            annotated = Collector(listener, Image, '/image_annotated')
            def stamps(messages):
                return {(m.header.stamp.sec, m.header.stamp.nanosec) for m in messages}

            def unmasked():
                return [m for m in anonymized.messages if bridge.imgmsg_to_cv2(m).any()]

            def without_faces():
                """Unmasked frames whose detections this listener has not seen, from its
                first detection on (before it, discovery may have matched one topic first)."""
                seen = stamps(faces.messages)
                return {s for s in stamps(unmasked()) if seen and s >= min(seen)} - seen

            # An unmasked frame exists only after its detections did; they may reach this
            # listener a little after the image. (Keypoints may skip frames under load.)
            done = spin_until(executor, lambda: min(len(keypoints.messages),
                                                    len(anonymized.messages),
                                                    len(annotated.messages)) >= 4
                              and faces.messages and not without_faces(), 120.0)
            errors = [p.stderr.read() for p in processes if p.poll() is not None]
            assert done, (f'too few messages; exited nodes said: {errors}; got '
                           f'{len(faces.messages)} faces, {len(keypoints.messages)} keypoints, '
                           f'{len(anonymized.messages)} anonymized ({len(unmasked())} unmasked, '
                           f'{len(without_faces())} without faces), '
                           f'{len(annotated.messages)} annotated')
            masked = [m for m in anonymized.messages if not bridge.imgmsg_to_cv2(m).any()]
            # Until the detector's first answer, frames can only come out masked.
            assert len(masked) < len(anonymized.messages)
            assert unmasked() and not without_faces()
            assert any(len(m.faces) >= 2 and len(m.faces[0].keypoints) == 68
                       for m in keypoints.messages)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail(f'{process.args[2]} did not stop on SIGTERM')
