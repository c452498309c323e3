"""A separate ROS 2 process for the DDS smoke test.

  dds_peer.py publish N   publishes N 640x480 sensor_msgs/Image and facekp_ros/FaceArray
  dds_peer.py listen N    waits for N of each, then prints "received IMAGES FACES"
"""
import sys
import time

import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image

from facekp_ros.msg import Face, FaceArray, Keypoint2D

DEADLINE_S = 30.0


def publish(count: int) -> None:
    node = Node('smoke_publisher')
    images = node.create_publisher(Image, 'smoke/image', 10)
    faces = node.create_publisher(FaceArray, 'smoke/faces', 10)
    end = time.monotonic() + DEADLINE_S
    while images.get_subscription_count() == 0 or faces.get_subscription_count() == 0:
        if time.monotonic() > end:
            raise SystemExit('publisher: no subscriber appeared')
        time.sleep(0.05)
    time.sleep(0.5)  # let the reliable readers finish matching
    pixels = np.random.default_rng(0).integers(0, 255, 640 * 480 * 3, np.uint8).tobytes()
    for i in range(count):
        image = Image(height=480, width=640, encoding='bgr8', step=640 * 3, data=pixels)
        image.header.frame_id = f'frame{i}'
        images.publish(image)
        point = Keypoint2D(name='nose_tip', index=2, x=1.0, y=2.0, score=1.0)
        face = Face(x=1.0, y=2.0, width=3.0, height=4.0, score=0.9, track_id=i,
                    landmarks=[point])
        faces.publish(FaceArray(header=image.header, image_width=640, image_height=480,
                                detector='smoke', detection_ok=True, faces=[face]))
        time.sleep(0.02)
    time.sleep(1.0)
    node.destroy_node()


def listen(count: int) -> None:
    node = Node('smoke_listener')
    got = {'images': 0, 'faces': 0}

    def on_image(msg):
        assert len(msg.data) == 640 * 480 * 3
        got['images'] += 1

    def on_faces(msg):
        assert msg.faces[0].landmarks[0].name == 'nose_tip'
        got['faces'] += 1

    node.create_subscription(Image, 'smoke/image', on_image, 10)
    node.create_subscription(FaceArray, 'smoke/faces', on_faces, 10)
    end = time.monotonic() + DEADLINE_S
    while min(got.values()) < count and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    print(f"received {got['images']} {got['faces']}", flush=True)
    node.destroy_node()


if __name__ == '__main__':
    rclpy.init()
    try:
        {'publish': publish, 'listen': listen}[sys.argv[1]](int(sys.argv[2]))
    finally:
        rclpy.try_shutdown()
