"""camera_node: frames from `source` on 'image_raw' (sensor_msgs/Image, bgr8), and with a
calibration file sensor_msgs/CameraInfo on 'camera_info' with the same header."""
import pathlib
import sys

import numpy as np
import rclpy
import yaml
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from facekp_ros.core.image_codec import from_bgr8
from facekp_ros.image_topics import ImageOutput
from facekp_ros.node_common import ConfigError, StageNode, run_node
from facekp_ros.sources import open_source

# Reliable matches reliable and best-effort subscribers alike (a best-effort camera silently
# delivers nothing to a reliable one); depth 1 hands a subscriber that falls behind the
# newest frame instead of a backlog, and the publisher never waits for it.
CAMERA_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)


def load_camera_info(path: str) -> CameraInfo:
    """The CameraInfo in a ROS camera calibration YAML; ConfigError naming the parameter."""
    try:
        calibration = yaml.safe_load(pathlib.Path(path).expanduser().read_text())
        info = CameraInfo(
            width=int(calibration['image_width']), height=int(calibration['image_height']),
            distortion_model=str(calibration['distortion_model']),
            d=_matrix(calibration, 'distortion_coefficients'),
            k=_matrix(calibration, 'camera_matrix', 9),
            r=_matrix(calibration, 'rectification_matrix', 9),
            p=_matrix(calibration, 'projection_matrix', 12))
        if info.width <= 0 or info.height <= 0:
            raise ValueError(f'image size {info.width}x{info.height}')
        return info
    except OSError as error:
        raise _calibration_error(f'cannot read {path} ({error.strerror})') from error
    except KeyError as error:
        raise _calibration_error(f'{path} has no {error}') from error
    except (yaml.YAMLError, TypeError, ValueError) as error:
        raise _calibration_error(f'{path} is not usable ({error})') from error


def _calibration_error(problem: str) -> ConfigError:
    return ConfigError(f"parameter 'camera_info_file': {problem}: give a YAML as ROS "
                       "camera_calibration writes it (image_width, image_height, camera_matrix, "
                       'distortion_model, distortion_coefficients, rectification_matrix, ...)')


def _matrix(calibration: dict, key: str, size: int = 0) -> list:
    values = [float(v) for v in calibration[key]['data']]
    if size and len(values) != size:
        raise ValueError(f'{key} has {len(values)} values, not {size}')
    return values


def scaled_camera_info(info: CameraInfo, width: int, height: int) -> CameraInfo:
    """info for its images resized to width x height, scaled as image_proc's resize does."""
    scale = np.array([[width / info.width], [height / info.height], [1.0]])
    return CameraInfo(width=width, height=height, distortion_model=info.distortion_model,
                      d=info.d, r=info.r,
                      k=(np.reshape(info.k, (3, 3)) * scale).ravel(),
                      p=(np.reshape(info.p, (3, 4)) * scale).ravel())


class CameraNode(StageNode):
    def __init__(self, **kwargs):
        super().__init__('camera', **kwargs)

    def setup(self) -> None:
        p = self.params
        self.camera_info = (load_camera_info(p['camera_info_file'])
                            if p['camera_info_file'] else None)
        try:
            self.source = open_source(p['source'], p['width'], p['height'], p['loop'],
                                      p['bag_topic'], on_skip=self.log_error)
        except (OSError, ValueError) as error:
            raise ConfigError(f"parameter 'source': {error}") from error
        self.image_out = ImageOutput(self, 'image_raw', p, CAMERA_QOS)
        self.info_out = (self.output_publisher(CameraInfo, 'camera_info', CAMERA_QOS)
                         if self.camera_info is not None else None)
        self.frames_published = 0
        self.timer = self.create_timer(1.0 / p['rate_hz'], self._publish_frame)
        self.get_logger().info(f'publishing {self.source.description} on '
                               f'{self.image_out.raw.topic_name} at {p["rate_hz"]} Hz')

    def _publish_frame(self) -> None:
        if not self.active:
            return
        frame = self.source.read()
        if frame is None:
            self._end_of_source()
            return
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.params['frame_id'])
        self.image_out.publish(from_bgr8(frame), header)
        if self.info_out is not None:
            self.info_out.publish(self._camera_info_for(frame.shape, header))
        self.frames_published += 1

    def _camera_info_for(self, shape, header) -> CameraInfo:
        height, width = shape[:2]
        if (self.camera_info.width, self.camera_info.height) != (width, height):
            self.get_logger().info(f'camera_info scaled from {self.camera_info.width}x'
                                   f'{self.camera_info.height} to the frames\' {width}x{height}')
            self.camera_info = scaled_camera_info(self.camera_info, width, height)
        self.camera_info.header = header
        return self.camera_info

    def _end_of_source(self) -> None:
        self.timer.cancel()
        exiting = self.params['shutdown_at_end']
        self.get_logger().info(
            f'{self.source.description} ended after {self.frames_published} frames; '
            + ('shutting down' if exiting else 'set loop:=true to repeat it'))
        if exiting:
            rclpy.shutdown(context=self.context)  # ends spin(); main() then returns 0

    def release(self, forget: bool = False) -> None:
        if self._made is not None and 'source' in self._made['attributes']:
            self.source.close()
        super().release(forget)


def main(args=None):
    return run_node(CameraNode, args)


if __name__ == '__main__':
    sys.exit(main())
