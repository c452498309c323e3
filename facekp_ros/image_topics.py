"""Image topics as image_transport names them: 'image' raw, or its twin '<image>/compressed'
(sensor_msgs/CompressedImage), in and out, with the QoS of the node's parameters."""
from sensor_msgs.msg import CompressedImage, Image

from facekp_ros.core.image_codec import CameraImage
from facekp_ros.image_bridge import camera_image_to_msg, transport_msg
from facekp_ros.node_common import input_qos


def compressed_topic(node, topic: str) -> str:
    """'<topic>/compressed' of topic as remapped. A remapping rule matches a whole name
    ('image:=camera/image_raw' leaves 'image/compressed' alone), so the base is resolved
    first, as image_transport does."""
    return node.resolve_topic_name(topic) + '/compressed'


def subscribe_image(node, topic: str, callback, params: dict):
    """Subscribes callback to topic's images as image_transport and the QoS parameters say;
    callback gets an Image or a CompressedImage (image_codec.decode reads both)."""
    if params['image_transport'] == 'compressed':
        return node.create_subscription(CompressedImage, compressed_topic(node, topic),
                                        callback, input_qos(params))
    return node.create_subscription(Image, topic, callback, input_qos(params))


class ImageOutput:
    """Publishes a CameraImage raw on topic and, with compressed_format set and someone
    subscribed, compressed on '<topic>/compressed' from the same pixels."""

    def __init__(self, node, topic: str, params: dict, qos):
        self._params = params
        self.raw = node.output_publisher(Image, topic, qos)
        self.compressed = None if params['compressed_format'] == 'none' else \
            node.output_publisher(CompressedImage, compressed_topic(node, topic), qos)

    def publish(self, image: CameraImage, header) -> None:
        self.raw.publish(camera_image_to_msg(image, header))
        if self.compressed is not None and self.compressed.get_subscription_count():
            p = self._params
            self.compressed.publish(transport_msg(image, header, p['compressed_format'],
                                                  p['jpeg_quality'], p['png_level']))
