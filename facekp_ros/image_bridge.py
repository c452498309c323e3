"""sensor_msgs Image / CompressedImage <-> numpy: the message half of core.image_codec.

cv_bridge's function names and behaviour (encodings, desired_encoding conversions, `step`
padding, `is_bigendian`), with one implementation on every machine: the ROS-free codec.
"""
import array as pyarray
import copy

import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from facekp_ros.core.image_codec import (
    CameraImage,
    decode,
    encode_compressed,
    encode_raw,
    encode_transport,
)
from facekp_ros.core.image_encodings import convert_encoding, parse_encoding


def _copied(header) -> Header:
    # A copy, so a caller that reuses its Header cannot change messages already published.
    return Header() if header is None else copy.deepcopy(header)


def _bytes_of(data: np.ndarray) -> pyarray.array:
    # One memcpy into the type rclpy keeps uint8[] fields in, so the setter does no checks.
    payload = pyarray.array('B')
    payload.frombytes(memoryview(np.ascontiguousarray(data)).cast('B'))
    return payload


def imgmsg_to_cv2(msg, desired_encoding: str = 'passthrough') -> np.ndarray:
    """msg's pixels as a new array: (h, w) for one channel, else (h, w, channels);
    desired_encoding converts as cv_bridge does (e.g. rgb8 -> bgr8, mono16 -> mono8)."""
    image = decode(msg)
    if desired_encoding == 'passthrough':
        return image.pixels
    target = parse_encoding(desired_encoding, "argument 'desired_encoding'")
    return convert_encoding(image.pixels, image.encoding, target)


compressed_imgmsg_to_cv2 = imgmsg_to_cv2  # decode() tells the two message types apart


def to_bgr8(msg) -> np.ndarray:
    """Any supported Image or CompressedImage as uint8 BGR (see image_codec.to_bgr8)."""
    if not isinstance(msg, (Image, CompressedImage)):
        raise TypeError(f'expected sensor_msgs Image or CompressedImage, got '
                        f'{type(msg).__name__}')
    return decode(msg).bgr8


def cv2_to_imgmsg(array: np.ndarray, encoding: str = 'passthrough',
                  header: Header | None = None) -> Image:
    """An Image holding array: rows packed, host byte order; the header is copied."""
    fields = encode_raw(array, encoding)
    return Image(header=_copied(header), height=fields.height, width=fields.width,
                 encoding=fields.encoding, is_bigendian=fields.is_bigendian, step=fields.step,
                 data=_bytes_of(fields.data))


def cv2_to_compressed_imgmsg(array: np.ndarray, dst_format: str = 'jpg',
                             header: Header | None = None) -> CompressedImage:
    """array (BGR, BGRA or mono) encoded by cv2.imencode; format is dst_format as given."""
    return CompressedImage(header=_copied(header), format=dst_format,
                           data=_bytes_of(encode_compressed(array, dst_format)))


def camera_image_to_msg(image: CameraImage, header: Header) -> Image:
    """image as a raw Image in its own encoding (one that came compressed in what
    imdecode gave: bgr8, mono8, ...)."""
    return cv2_to_imgmsg(image.pixels, image.encoding.name, header)


def transport_msg(image: CameraImage, header: Header, codec: str, jpeg_quality: int,
                  png_level: int) -> CompressedImage:
    """image as image_transport's compressed plugin publishes it (see encode_transport)."""
    image_format, data = encode_transport(image, codec, jpeg_quality, png_level)
    return CompressedImage(header=_copied(header), format=image_format, data=_bytes_of(data))
