"""camera_node: frames from `source` on 'image_raw' (sensor_msgs/Image, bgr8)."""
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from facekp_ros.core.sources import open_source
from facekp_ros.image_bridge import ImageBridge
from facekp_ros.node_common import (
    OUTPUT_QOS,
    ConfigError,
    Param,
    declare_parameters,
    run_node,
)

CAMERA = (
    Param('source', 'sample', "A device index ('0') or /dev/videoN, a video file, an image "
          "file or folder, a ROS 2 bag (.mcap, .db3 or its folder), or 'sample' (built-in "
          'four-face frame).', read_only=True),
    Param('rate_hz', 30.0, 'Publishing rate.', 0.1, 240.0, read_only=True),
    Param('width', 0, 'Resize to this width (0 = native).', 0, 8192, read_only=True),
    Param('height', 0, 'Resize to this height (0 = native).', 0, 8192, read_only=True),
    Param('frame_id', 'camera', 'frame_id of the published images.', read_only=True),
    Param('loop', True, 'Start videos, folders and bags again at their end.', read_only=True),
    Param('bag_topic', '', "Image topic to read from a bag ('' = its first image topic).",
          read_only=True),
)


class CameraNode(Node):
    def __init__(self, **kwargs):
        super().__init__('camera', **kwargs)
        self.params = declare_parameters(self, CAMERA)
        p = self.params
        try:
            self.source = open_source(p['source'], p['width'], p['height'], p['loop'],
                                      p['bag_topic'])
        except (OSError, ValueError) as error:
            raise ConfigError(f"parameter 'source': {error}") from error
        self.bridge = ImageBridge()
        # Reliable publishers match both reliable and best-effort subscribers.
        self.publisher = self.create_publisher(Image, 'image_raw', OUTPUT_QOS)
        self.timer = self.create_timer(1.0 / p['rate_hz'], self._publish_frame)
        self.get_logger().info(f'publishing {self.source.description} at {p["rate_hz"]} Hz')

    def _publish_frame(self) -> None:
        frame = self.source.read()
        if frame is None:
            self.get_logger().info('source ended; no more frames (set loop:=true to repeat)')
            self.timer.cancel()
            return
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.params['frame_id'])
        self.publisher.publish(self.bridge.cv2_to_imgmsg(frame, 'bgr8', header))

    def destroy_node(self):
        if hasattr(self, 'source'):  # absent when the constructor failed
            self.source.close()
        return super().destroy_node()


def main(args=None):
    return run_node(CameraNode, args)


if __name__ == '__main__':
    main()
