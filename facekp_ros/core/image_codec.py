"""Camera images <-> numpy, ROS-free: raw and compressed, checked, in their own encoding.

Works on any object with the fields of sensor_msgs/Image (height, width, encoding,
is_bigendian, step, data) or sensor_msgs/CompressedImage (format, data): rclpy's messages and
rosbags' alike, so nodes, the command line and bags share this one code path. A message that
cannot be read raises ImageCodecError, a ValueError whose text names the field.

A decoded CameraImage keeps the camera's own pixels (grey stays grey, 16 bits stay 16 bits):
faces are hidden in them and they are encoded back in the same encoding. Detection and drawing
use its bgr8 view, in which every encoding shows its content at full contrast (see to_bgr8).
"""
import sys
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from facekp_ros.core.image_encodings import (
    CONVERSIONS,
    NAMED,
    Encoding,
    ImageCodecError,
    ImageEncodingError,
    array_encoding,
    parse_encoding,
)

MAX_SIDE = 2 ** 15  # pixels per side; more is a corrupt header, not a camera
MAX_BYTES = 256 * 2 ** 20  # step * height of one image
HOST_BIG_ENDIAN = sys.byteorder == 'big'
# Wide (16-bit, signed, float) data has no fixed full scale (a 12-bit sensor fills 1/16 of
# 16 bits): its view spans this share of the frame's values, clipping the extreme tails.
VIEW_PERCENTILES = (0.5, 99.5)
_GUESSED_FAMILY = {1: 'gray', 3: 'bgr', 4: 'bgra'}  # generic types, as cvtColorForDisplay does
# Encodings whose pixels can be edited in place (one value per channel per pixel); packed YUV
# and Bayer mosaics are hidden in their bgr8 view instead.
_EDITABLE_FAMILIES = ('', 'gray', 'bgr', 'rgb', 'bgra', 'rgba')


@dataclass
class CameraImage:
    """One decoded camera image: its own pixels and what they mean."""

    pixels: np.ndarray  # native byte order, (h, w) or (h, w, channels); owns its memory
    encoding: Encoding
    compressed_format: str = ''  # the CompressedImage format it came in; '' = raw Image

    @cached_property
    def view_range(self) -> tuple | None:
        """Wide pixels' (low, high) that the bgr8 view maps to 0..255; None for 8-bit data
        or a frame without finite values. Detection and the anonymizer's contrast check
        both use it, so it is computed once per frame."""
        return None if self.pixels.dtype == np.uint8 else view_range(self.pixels)

    @cached_property
    def bgr8(self) -> np.ndarray:
        """The uint8 BGR view that detection and drawing use; read it, do not modify it."""
        return to_bgr8(self.pixels, self.encoding, self.view_range)

    def with_pixels(self, pixels: np.ndarray) -> 'CameraImage':
        """The same kind of image holding other pixels (e.g. anonymized ones)."""
        return CameraImage(pixels, self.encoding, self.compressed_format)


def from_bgr8(bgr: np.ndarray) -> CameraImage:
    """A CameraImage of a uint8 BGR array (an image file or video frame)."""
    check_bgr8(bgr)
    return CameraImage(bgr, NAMED['bgr8'])


def from_array(pixels: np.ndarray) -> CameraImage:
    """A CameraImage of an array as cv2.imread(..., IMREAD_UNCHANGED) gives it: grey,
    BGR or BGRA, 8 or 16 bits (other types get a generic encoding such as 32FC1)."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    names = {1: 'mono', 3: 'bgr', 4: 'bgra'}
    if pixels.dtype in (np.uint8, np.uint16) and channels in names:
        return CameraImage(pixels, NAMED[f'{names[channels]}{pixels.dtype.itemsize * 8}'])
    return CameraImage(pixels, array_encoding(pixels, 'passthrough'))


def check_bgr8(bgr, what: str = 'image') -> None:
    """ValueError unless bgr is a non-empty uint8 H x W x 3 (BGR) array."""
    if isinstance(bgr, np.ndarray) and bgr.dtype == np.uint8 and bgr.ndim == 3 \
            and bgr.shape[2] == 3 and bgr.size > 0:
        return
    raise ValueError(f'{what}: expected a non-empty uint8 HxWx3 BGR image, got '
                     f'{getattr(bgr, "dtype", type(bgr).__name__)} {getattr(bgr, "shape", None)} '
                     '(convert it first, e.g. cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), or '
                     'decode it with facekp_ros.core.image_codec)')


def editable(image: CameraImage) -> CameraImage:
    """image itself when its pixels can be edited per pixel, else its bgr8 view as bgr8."""
    if image.encoding.family in _EDITABLE_FAMILIES:
        return image
    return from_bgr8(image.bgr8)


# --- raw images (sensor_msgs/Image) ---------------------------------------------------------

def check_raw(msg) -> Encoding:
    """msg's Encoding after checking its fields; ImageCodecError names the first bad one."""
    encoding = parse_encoding(msg.encoding)
    for field, size in (('height', msg.height), ('width', msg.width)):
        if size == 0:
            raise ImageCodecError(f"field '{field}' is 0: the image is empty")
        if size > MAX_SIDE:
            raise ImageCodecError(f"field '{field}' is {size}, more than the {MAX_SIDE} "
                                  'allowed per side: a corrupt header?')
    if encoding.family in ('uyvy', 'yuyv') and msg.width % 2:
        raise ImageCodecError(f"field 'width' is {msg.width}, odd, but {encoding.name} "
                              'stores pixels in pairs that share U and V')
    row_bytes = msg.width * encoding.pixel_bytes
    if msg.step < row_bytes:
        raise ImageCodecError(
            f"field 'step' is {msg.step}, less than width * bytes per pixel = {msg.width} * "
            f'{encoding.pixel_bytes} = {row_bytes} for {encoding.name}')
    size = msg.step * msg.height
    if size > MAX_BYTES:
        raise ImageCodecError(f'step * height = {msg.step} * {msg.height} bytes is more than '
                              f'the {MAX_BYTES >> 20} MiB allowed: a corrupt header?')
    if len(msg.data) < size:
        raise ImageCodecError(f"field 'data' has {len(msg.data)} bytes, fewer than step * "
                              f'height = {msg.step} * {msg.height} = {size}')
    return encoding


def decode_raw(msg) -> CameraImage:
    """The checked pixels of an Image as a new native-endian array (rows cropped to width)."""
    encoding = check_raw(msg)
    rows = np.frombuffer(msg.data, np.uint8, count=msg.step * msg.height)
    rows = rows.reshape(msg.height, msg.step)[:, :msg.width * encoding.pixel_bytes]
    pixels = np.array(rows).view(encoding.dtype).reshape(encoding.shape(msg.height, msg.width))
    if encoding.dtype.itemsize > 1 and bool(msg.is_bigendian) != HOST_BIG_ENDIAN:
        pixels.byteswap(inplace=True)
    return CameraImage(pixels, encoding)


@dataclass
class RawFields:
    """The fields of a sensor_msgs/Image holding an array (rows packed, host byte order)."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: np.ndarray  # uint8, height * step bytes


def encode_raw(array: np.ndarray, encoding: str = 'passthrough') -> RawFields:
    """array as Image fields. 'passthrough' names the encoding after the array (8UC3, 32FC1,
    ...); another encoding must match its dtype and channels, else ImageEncodingError."""
    target = array_encoding(array, encoding)
    pixels = np.ascontiguousarray(array, array.dtype.newbyteorder('='))
    return RawFields(height=pixels.shape[0], width=pixels.shape[1], encoding=target.name,
                     is_bigendian=int(HOST_BIG_ENDIAN),
                     step=pixels.shape[1] * target.pixel_bytes,
                     data=pixels.reshape(-1).view(np.uint8))


# --- compressed images (sensor_msgs/CompressedImage) ----------------------------------------

def is_compressed_depth(image_format: str) -> bool:
    """image_transport's compressedDepth ('16UC1; compressedDepth png'): a depth codec."""
    return 'compresseddepth' in image_format.lower()


def _reject_compressed_depth(image_format: str) -> None:
    if is_compressed_depth(image_format):
        raise ImageCodecError(
            f"field 'format' is {image_format!r}: compressedDepth (image_transport's depth "
            'codec) is not supported; subscribe to the raw depth image instead')


# The first bytes of each codec OpenCV reads, for formats that name none ('', 'image/jpeg').
_MAGIC = ((b'\xff\xd8\xff', 'jpg'), (b'\x89PNG\r\n\x1a\n', 'png'), (b'BM', 'bmp'),
          (b'II*\x00', 'tiff'), (b'MM\x00*', 'tiff'))
HEAD_BYTES = 16  # enough of the data for content_codec


def content_codec(head: bytes) -> str:
    """The codec whose signature starts head (the data's first HEAD_BYTES); '' if none."""
    head = bytes(head)
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'webp'
    return next((codec for magic, codec in _MAGIC if head.startswith(magic)), '')


def codec_of(image_format: str, head: bytes = b'') -> str:
    """The codec to write a CompressedImage in: the one its data is in (head: the data's
    first bytes), else the one its format names: 'jpeg' in 'jpeg', 'image/jpeg' or
    'rgb8; jpeg compressed bgr8'."""
    _reject_compressed_depth(image_format)
    found = content_codec(head)
    if found:
        return found
    words = image_format.split(';')[-1].split()
    codec = words[0].lower().removeprefix('image/').lstrip('.') if words else ''
    if not codec:
        raise ImageCodecError(f'format {image_format!r} names no codec and the data is not a '
                              'JPEG, PNG, WebP, BMP or TIFF: use jpg, jpeg or png')
    return codec


def decode_compressed(msg) -> CameraImage:
    """A CompressedImage as cv2.imdecode reads it (BGR, BGRA or mono, 8 or 16 bits).

    image_transport's format 'rgb8; jpeg compressed bgr8' says the payload is BGR-ordered;
    '... compressed rgb8' says RGB, and the Encoding returned says so.
    """
    _reject_compressed_depth(msg.format)
    if len(msg.data) == 0:
        raise ImageCodecError("field 'data' is empty: no compressed image")
    try:
        image = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise ImageCodecError(f"field 'data' cannot be decoded: {error.err}") from error
    if image is None:
        raise ImageCodecError(f"field 'data' ({len(msg.data)} bytes, format {msg.format!r}) "
                              'is not an image OpenCV can decode')
    encoding = from_array(image).encoding
    if 'compressed rgb' in msg.format.lower() and encoding.family in ('bgr', 'bgra'):
        encoding = NAMED[encoding.name.replace('bgr', 'rgb')]
    return CameraImage(image, encoding, msg.format)


def encode_compressed(array: np.ndarray, image_format: str = 'jpg',
                      head: bytes = b'') -> np.ndarray:
    """array (BGR, BGRA or mono, as cv2.imencode takes it) encoded in image_format's codec
    ('jpg', 'jpeg', 'png' or image_transport's 'bgr8; jpeg compressed bgr8'), or in the
    codec of the original data whose first bytes are head (codec_of): uint8 bytes."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f'expected a numpy array, got {type(array).__name__}')
    codec = codec_of(image_format, head)
    try:
        ok, encoded = cv2.imencode('.' + codec, array)
    except cv2.error as error:
        raise ImageEncodingError(f'cannot encode a {array.shape} {array.dtype} array as '
                                 f'{codec!r}: {error.err}') from error
    if not ok:
        raise ImageEncodingError(f'OpenCV failed to encode a {array.shape} {array.dtype} '
                                 f'array as {codec!r}')
    return encoded.reshape(-1)


# Encodings image_transport's compressed plugin names as they are ('<enc>; jpeg compressed
# bgr8'); every other encoding is sent as its bgr8 view, which is what a viewer shows anyway.
_TRANSPORT_COLOUR = ('bgr8', 'rgb8', 'bgra8', 'rgba8')


def encode_transport(image: CameraImage, codec: str, jpeg_quality: int = 90,
                     png_level: int = 3) -> tuple:
    """(format, bytes) of image as image_transport's compressed plugin publishes it, so that
    rviz2, rqt_image_view and Foxglove decode it: 'bgr8; jpeg compressed bgr8' for colour,
    'mono8; png compressed ' for grey (codec: 'jpeg' or 'png')."""
    if codec not in ('jpeg', 'png'):
        raise ImageEncodingError(f"codec {codec!r}: use 'jpeg' or 'png'")
    flag = (cv2.IMWRITE_JPEG_QUALITY, jpeg_quality) if codec == 'jpeg' \
        else (cv2.IMWRITE_PNG_COMPRESSION, png_level)
    name = image.encoding.name
    if name == 'mono8':
        pixels, target = image.pixels, ''
    else:
        pixels, target = image.bgr8, 'bgr8'
        name = name if name in _TRANSPORT_COLOUR else 'bgr8'
    ok, encoded = cv2.imencode('.jpg' if codec == 'jpeg' else '.png', pixels, flag)
    if not ok:
        raise ImageEncodingError(f'OpenCV failed to encode a {pixels.shape} image as {codec}')
    return f'{name}; {codec} compressed {target}', encoded.reshape(-1)


def decode(msg) -> CameraImage:
    """An Image or CompressedImage (told apart by their fields) as a CameraImage."""
    return decode_compressed(msg) if hasattr(msg, 'format') else decode_raw(msg)


# --- the bgr8 view --------------------------------------------------------------------------

def to_bgr8(pixels: np.ndarray, encoding: Encoding, span: tuple | None = None) -> np.ndarray:
    """pixels (in encoding) as uint8 BGR: what the detector sees and what is drawn on.

    8-bit data converts exactly (cvtColor, YUV, bilinear demosaic); generic 1/3/4-channel types
    count as gray/BGR/BGRA. Wider data (16-bit, signed, float) has no fixed full scale: the
    frame's own VIEW_PERCENTILES range of finite values maps to 0..255, so a 10- or 12-bit
    sensor in 16 bits is seen at full contrast, not as a nearly black image; NaN and
    infinite values (holes) take the value of the finite pixels around them.
    bgr8 pixels come back as they are (not copied). span: the frame's view_range when
    already known.
    """
    family = encoding.family or _GUESSED_FAMILY.get(encoding.channels)
    if family is None:
        raise ImageCodecError(f'cannot show {encoding.name} as BGR: a generic type needs 1, 3 '
                              f'or 4 channels, not {encoding.channels}')
    eight_bit = pixels if pixels.dtype == np.uint8 else _stretched(pixels, span)
    code = CONVERSIONS[family, 'bgr']
    return eight_bit if code is None else cv2.cvtColor(eight_bit, code)


def view_range(pixels: np.ndarray) -> tuple | None:
    """(low, high): the VIEW_PERCENTILES of pixels' finite values (None when there are none)."""
    values = pixels[::2, ::2].reshape(-1)  # a quarter of the pixels sets the range
    if values.dtype.kind == 'f':
        values = values[np.isfinite(values)]
        if values.size == 0:  # holes on a grid can cover exactly that quarter
            values = pixels[np.isfinite(pixels)]
    if values.size == 0:
        return None
    return tuple(float(v) for v in np.percentile(values, VIEW_PERCENTILES))


def to_eight_bit(image: CameraImage) -> np.ndarray:
    """image's pixels as uint8 in their own channels, wide data mapped on its view_range:
    what its bgr8 view shows, for a file format that holds 8 bits only."""
    if image.pixels.dtype == np.uint8:
        return image.pixels
    return _stretched(image.pixels, image.view_range)


def _stretched(pixels: np.ndarray, span: tuple | None = None) -> np.ndarray:
    span = span or view_range(pixels)
    if span is None:
        return np.zeros(pixels.shape, np.uint8)
    low, high = span
    scale = 255.0 / (high - low) if high > low else 0.0
    work = _holes_filled(pixels) if pixels.dtype.kind == 'f' else pixels
    out = np.clip((work.astype(np.float32) - low) * scale, 0, 255)
    return np.rint(out).astype(np.uint8)


# Neighbourhoods (px) a hole in a float image takes its view value from, nearest first.
HOLE_FILL_SIZES = (5, 15, 45)


def _holes_filled(pixels: np.ndarray) -> np.ndarray:
    """pixels with NaN and infinite values (a depth camera's holes) replaced, for the view
    only, by the mean of the finite values around them: holes shown black would draw lines
    and speckle over a face that hide it from the detector (and make false faces)."""
    invalid = ~np.isfinite(pixels)
    if not invalid.any():
        return pixels
    values = np.where(invalid, 0, pixels).astype(np.float32)
    valid = (~invalid).astype(np.float32)
    for size in HOLE_FILL_SIZES:
        sums = cv2.boxFilter(values * valid, -1, (size, size), normalize=False)
        counts = cv2.boxFilter(valid, -1, (size, size), normalize=False)
        reached = invalid & (counts > 0.5)
        values = np.where(reached, sums / np.maximum(counts, 1), values)
        valid, invalid = np.maximum(valid, reached), invalid & ~reached
        if not invalid.any():
            break
    return values
