"""camera_node in-process over real DDS on loopback, and its main() as a process."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_helpers import Collector, ros_nodes, spin_until
from sensor_msgs.msg import CameraInfo, Image

from facekp_ros.camera_node import CameraNode
from facekp_ros.node_common import SENSOR_QOS, ConfigError

CALIBRATION = """\
image_width: 640
image_height: 480
camera_name: test_camera
camera_matrix: {rows: 3, cols: 3, data: [500, 0, 320, 0, 510, 240, 0, 0, 1]}
distortion_model: plumb_bob
distortion_coefficients: {rows: 1, cols: 5, data: [0.1, -0.2, 0, 0, 0]}
rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
projection_matrix: {rows: 3, cols: 4, data: [500, 0, 320, 0, 0, 510, 240, 0, 0, 0, 1, 0]}
"""


def camera(**overrides):
    """A factory for ros_nodes: CameraNode with these parameter values."""
    parameters = [Parameter(name, value=value) for name, value in overrides.items()]
    return lambda context: CameraNode(context=context, parameter_overrides=parameters)


def make_tester(context):
    return Node('tester', context=context)


def stamp_s(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def write_folder(folder, count: int):
    folder.mkdir()
    for index in range(count):
        cv2.imwrite(str(folder / f'{index}.png'), np.full((48, 64, 3), index * 40, np.uint8))
    return str(folder)


def test_frames_reach_reliable_and_best_effort_subscribers_with_camera_info(tmp_path):
    calibration = tmp_path / 'camera.yaml'
    calibration.write_text(CALIBRATION)
    factory = camera(width=320, height=240, frame_id='test_cam', rate_hz=30.0,
                     camera_info_file=str(calibration))
    with ros_nodes(factory, make_tester) as (executor, (_, test)):
        reliable = Collector(test, Image, 'image_raw')
        best_effort = Collector(test, Image, 'image_raw', SENSOR_QOS)
        infos = Collector(test, CameraInfo, 'camera_info')
        assert spin_until(executor, lambda: min(len(reliable.messages), len(infos.messages),
                                                len(best_effort.messages)) >= 3, 10.0)
    image = reliable.messages[-1]
    assert (image.width, image.height, image.encoding) == (320, 240, 'bgr8')
    assert image.header.frame_id == 'test_cam' and image.step == 320 * 3
    stamps = [stamp_s(m) for m in reliable.messages]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    info = infos.messages[-1]
    assert stamp_s(info) in stamps and info.header.frame_id == 'test_cam'
    assert (info.width, info.height, info.distortion_model) == (320, 240, 'plumb_bob')
    assert list(info.k) == [250, 0, 160, 0, 255, 120, 0, 0, 1]  # scaled to the frame size
    assert list(info.p[:4]) == [250, 0, 160, 0] and list(info.d) == [0.1, -0.2, 0, 0, 0]


def test_rate_is_honoured():
    factory = camera(rate_hz=20.0, width=64, height=48)
    with ros_nodes(factory, make_tester) as (executor, (_, test)):
        images = Collector(test, Image, 'image_raw')
        assert spin_until(executor, lambda: len(images.messages) >= 21, 5.0)
    intervals = np.diff([stamp_s(m) for m in images.messages])
    assert np.median(intervals) == pytest.approx(0.05, abs=0.01)


def test_a_source_that_ends_publishes_each_frame_once_then_stops(tmp_path):
    folder = write_folder(tmp_path / 'frames', 3)
    factory = camera(source=folder, loop=False, rate_hz=20.0)
    with ros_nodes(factory, make_tester) as (executor, (camera_node, test)):
        images = Collector(test, Image, 'image_raw')
        assert spin_until(executor, lambda: camera_node.timer.is_canceled(), 5.0)
        spin_until(executor, lambda: False, 0.3)  # anything still on its way arrives
    assert camera_node.frames_published == 3
    assert [m.data[0] for m in images.messages] == [0, 40, 80]


def test_bad_parameters_fail_at_start_up_naming_the_parameter(tmp_path):
    (tmp_path / 'empty').mkdir()
    broken = tmp_path / 'broken.yaml'
    broken.write_text(CALIBRATION.replace('camera_matrix', 'matrix'))
    for overrides, message in (
            ({'source': str(tmp_path / 'missing.mp4')}, "'source': .*missing.mp4' does not"),
            ({'source': str(tmp_path / 'empty')}, "'source': no images"),
            ({'camera_info_file': str(tmp_path / 'none.yaml')},
             "'camera_info_file': cannot read .*none.yaml"),
            ({'camera_info_file': str(broken)}, "'camera_info_file': .* has no 'camera_matrix'"),
            ({'rate_hz': 0.0}, "'rate_hz'")):
        with pytest.raises(ConfigError, match=message):
            with ros_nodes(camera(**overrides)):
                pass


def run_main(*parameters: str) -> subprocess.CompletedProcess:
    arguments = [arg for parameter in parameters for arg in ('-p', parameter)]
    return subprocess.run([sys.executable, '-m', 'facekp_ros.camera_node', '--ros-args',
                           *arguments], env=dict(os.environ), capture_output=True, text=True,
                          timeout=30)


def test_main_exits_at_the_end_of_the_source_and_with_2_on_a_bad_one(tmp_path):
    folder = write_folder(tmp_path / 'frames', 2)
    done = run_main(f'source:={folder}', 'loop:=false', 'shutdown_at_end:=true',
                    'rate_hz:=50.0')
    assert done.returncode == 0, done.stderr
    assert 'ended after 2 frames; shutting down' in done.stderr
    failed = run_main(f'source:={tmp_path / "missing"}')
    assert failed.returncode == 2
    assert "cannot start: parameter 'source'" in failed.stderr
