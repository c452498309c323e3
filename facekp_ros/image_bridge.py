"""sensor_msgs Image / CompressedImage <-> numpy arrays, with cv_bridge or without it.

ImageBridge uses vision_opencv's cv_bridge for Image messages when it imports and passes a tiny
self-test (a ROS install); otherwise its own numpy + OpenCV implementation of cv_bridge's
behaviour: the same encodings, dtypes and shapes, `step` row padding, `is_bigendian`, and
cv_bridge's table of desired_encoding conversions. Create one per node.

Every array returned owns its memory, never a view of msg.data, so callers may draw on it; that
costs one copy (about 0.03 ms for a 640x480 bgr8 frame). A message that cannot be read raises
ImageBridgeError, a ValueError whose text names the field and the problem, so a node can log one
line and skip the frame.
"""
import array as pyarray
import copy
import re
import sys
from dataclasses import dataclass

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

MAX_SIDE = 2 ** 15  # pixels per side; more is a corrupt header, not a camera
MAX_BYTES = 256 * 2 ** 20  # step * height of one image
_HOST_BIG_ENDIAN = sys.byteorder == 'big'


class ImageBridgeError(ValueError):
    """An image message or argument that cannot be converted; the text says which and why."""


class ImageEncodingError(ImageBridgeError, TypeError):
    """An array whose dtype, shape or channels do not fit the encoding asked for.

    Also a TypeError, like cv_bridge's CvBridgeError, so code written for either catches it.
    """


@dataclass(frozen=True)
class Encoding:
    """What an Image encoding string means for the bytes in `data`."""

    name: str
    dtype: np.dtype
    channels: int
    family: str = ''  # colour layout ('gray', 'bgr', 'uyvy', 'bayer_rggb', ...); '' = generic

    @property
    def pixel_bytes(self) -> int:
        return self.dtype.itemsize * self.channels

    @property
    def bits(self) -> int:
        return self.dtype.itemsize * 8

    def shape(self, height: int, width: int) -> tuple:
        # Single-channel images are 2-D, as cv_bridge returns them.
        return (height, width) if self.channels == 1 else (height, width, self.channels)


def _named_encodings() -> dict:
    table = {}
    for bits, dtype in ((8, np.uint8), (16, np.uint16)):
        table[f'mono{bits}'] = (dtype, 1, 'gray')
        for order in ('bgr', 'rgb'):
            table[f'{order}{bits}'] = (dtype, 3, order)
            table[f'{order}a{bits}'] = (dtype, 4, f'{order}a')
        for pattern in ('rggb', 'bggr', 'gbrg', 'grbg'):
            table[f'bayer_{pattern}{bits}'] = (dtype, 1, f'bayer_{pattern}')
    # yuv422 / yuv422_yuy2 are cv_bridge's names; uyvy / yuyv are sensor_msgs' newer aliases.
    for name, family in (('yuv422', 'uyvy'), ('uyvy', 'uyvy'),
                         ('yuv422_yuy2', 'yuyv'), ('yuyv', 'yuyv')):
        table[name] = (np.uint8, 2, family)
    return {name: Encoding(name, np.dtype(dtype), channels, family)
            for name, (dtype, channels, family) in table.items()}


_NAMED = _named_encodings()
_UPSTREAM_UNKNOWN = ('uyvy', 'yuyv')  # aliases cv_bridge's getCvType does not know
_GENERIC = re.compile(r'(8U|8S|16U|16S|32S|32F|64F)(?:C(\d+))?')
_DEPTHS = {'8U': np.uint8, '8S': np.int8, '16U': np.uint16, '16S': np.int16,
           '32S': np.int32, '32F': np.float32, '64F': np.float64}
_DEPTH_OF_DTYPE = {np.dtype(dtype): depth for depth, dtype in _DEPTHS.items()}
_MAX_CHANNELS = 512  # OpenCV's CV_CN_MAX


def parse_encoding(name: str, where: str = "field 'encoding'") -> Encoding:
    """The Encoding for a sensor_msgs/Image encoding string; where names it in the error."""
    if name in _NAMED:
        return _NAMED[name]
    match = _GENERIC.fullmatch(name)
    channels = int(match.group(2) or 1) if match else 0
    if not 1 <= channels <= _MAX_CHANNELS:
        raise ImageBridgeError(
            f'unknown image encoding {name!r} in {where}: expected e.g. bgr8, rgb8, bgra8, '
            'mono8, mono16, yuv422, yuv422_yuy2, bayer_rggb8 or a type such as 8UC3 or 32FC1')
    return Encoding(name, np.dtype(_DEPTHS[match.group(1)]), channels)


# OpenCV names a Bayer pattern by the 2nd and 3rd pixels of its 2nd row: cv_bridge's mapping.
_BAYER_CV = {'bayer_rggb': 'BG', 'bayer_bggr': 'RG', 'bayer_gbrg': 'GR', 'bayer_grbg': 'GB'}
_CV_NAMES = {'gray': 'GRAY', 'rgb': 'RGB', 'bgr': 'BGR', 'rgba': 'RGBA', 'bgra': 'BGRA'}


def _conversion_table() -> dict:
    """cv_bridge's (source family, target family) -> cvtColor code; None = same layout."""
    table = {(src, dst): None if src == dst else getattr(cv2, f'COLOR_{src_cv}2{dst_cv}')
             for src, src_cv in _CV_NAMES.items() for dst, dst_cv in _CV_NAMES.items()}
    table['uyvy', 'uyvy'] = table['yuyv', 'yuyv'] = None  # so yuv422 -> uyvy is a copy
    for dst, dst_cv in _CV_NAMES.items():
        table['uyvy', dst] = getattr(cv2, f'COLOR_YUV2{dst_cv}_UYVY')
        table['yuyv', dst] = getattr(cv2, f'COLOR_YUV2{dst_cv}_YUY2')
    for bayer, bayer_cv in _BAYER_CV.items():
        for dst in ('gray', 'rgb', 'bgr'):
            table[bayer, dst] = getattr(cv2, f'COLOR_Bayer{bayer_cv}2{_CV_NAMES[dst]}')
    return table


_CONVERSIONS = _conversion_table()


def _conversion_steps(src: Encoding, dst: Encoding) -> list:
    """cv_bridge's getConversionCode: cvtColor codes in order, None meaning 'change depth'."""
    if not src.family and dst.family:
        raise ImageBridgeError(f'{src.name} is not a colour encoding but {dst.name} is: '
                               'the conversion does not make sense')
    if not dst.family or not src.family:
        if src.channels != dst.channels:
            raise ImageBridgeError(f'cannot convert {src.name} to {dst.name}: '
                                   f'{src.channels} vs {dst.channels} channels')
        return [None]
    if (src.family, dst.family) not in _CONVERSIONS:
        raise ImageBridgeError(f'unsupported conversion from {src.name} to {dst.name}')
    code = _CONVERSIONS[src.family, dst.family]
    return [code, None] if code is not None and src.bits != dst.bits else [code]


def _saturate_cast(values: np.ndarray, dtype: np.dtype, scale: float = 1.0) -> np.ndarray:
    """OpenCV's convertTo: scale, round half to even, clip to dtype's range; NaN becomes 0."""
    if scale == 1.0 and values.dtype == dtype:
        return values
    if dtype.kind == 'f':
        return (values * scale).astype(dtype)
    scaled = np.rint(np.multiply(values, scale, dtype=np.float64))
    info = np.iinfo(dtype)
    return np.clip(np.nan_to_num(scaled, nan=0.0), info.min, info.max).astype(dtype)


def convert_encoding(image: np.ndarray, src: Encoding, dst: Encoding) -> np.ndarray:
    """image (in src) converted to dst the way cv_bridge's cvtColor does it."""
    if dst.name == src.name:
        return image
    for code in _conversion_steps(src, dst):
        if code is not None:
            image = cv2.cvtColor(image, code)
        else:  # cv_bridge rescales between 8 and 16 bits only; other pairs keep the values
            scale = {(8, 16): 65535 / 255, (16, 8): 255 / 65535}.get((src.bits, dst.bits), 1.0)
            image = _saturate_cast(image, dst.dtype, scale)
    return image


def check_image(msg: Image) -> Encoding:
    """msg's Encoding after checking its fields; ImageBridgeError names the first bad one."""
    encoding = parse_encoding(msg.encoding)
    for field, size in (('height', msg.height), ('width', msg.width)):
        if size == 0:
            raise ImageBridgeError(f"field '{field}' is 0: the image is empty")
        if size > MAX_SIDE:
            raise ImageBridgeError(f"field '{field}' is {size}, more than the {MAX_SIDE} "
                                   'allowed per side: a corrupt header?')
    if encoding.family in ('uyvy', 'yuyv') and msg.width % 2:
        raise ImageBridgeError(f"field 'width' is {msg.width}, odd, but {encoding.name} "
                               'stores pixels in pairs that share U and V')
    row_bytes = msg.width * encoding.pixel_bytes
    if msg.step < row_bytes:
        raise ImageBridgeError(
            f"field 'step' is {msg.step}, less than width * bytes per pixel = {msg.width} * "
            f'{encoding.pixel_bytes} = {row_bytes} for {encoding.name}')
    size = msg.step * msg.height
    if size > MAX_BYTES:
        raise ImageBridgeError(f'step * height = {msg.step} * {msg.height} bytes is more than '
                               f'the {MAX_BYTES >> 20} MiB allowed: a corrupt header?')
    if len(msg.data) < size:
        raise ImageBridgeError(f"field 'data' has {len(msg.data)} bytes, fewer than step * "
                               f'height = {msg.step} * {msg.height} = {size}')
    return encoding


def read_pixels(msg: Image, encoding: Encoding) -> np.ndarray:
    """The pixels of a checked msg as a new native-endian array (rows cropped to width)."""
    rows = np.frombuffer(msg.data, np.uint8, count=msg.step * msg.height)
    rows = rows.reshape(msg.height, msg.step)[:, :msg.width * encoding.pixel_bytes]
    image = np.array(rows).view(encoding.dtype).reshape(encoding.shape(msg.height, msg.width))
    if encoding.dtype.itemsize > 1 and bool(msg.is_bigendian) != _HOST_BIG_ENDIAN:
        image.byteswap(inplace=True)
    return image


_GUESSED_FAMILY = {1: 'gray', 3: 'bgr', 4: 'bgra'}  # generic types, as cvtColorForDisplay does


def image_to_bgr8(image: np.ndarray, encoding: Encoding) -> np.ndarray:
    """image (in encoding) as uint8 BGR, the vision pipeline's input.

    8-bit data converts exactly (cvtColor, YUV, bilinear demosaic); generic 1/3/4-channel types
    count as gray/BGR/BGRA. 16-bit unsigned data is scaled by 255/65535, as cv_bridge's
    mono16 -> bgr8 does: stable from frame to frame, but 10- or 12-bit sensors come out dark.
    Signed and float data have no full scale, so each frame's finite min..max maps to 0..255;
    NaN and -inf become 0, +inf 255.
    """
    family = encoding.family or _GUESSED_FAMILY.get(encoding.channels)
    if family is None:
        raise ImageBridgeError(f'cannot show {encoding.name} as BGR: a generic type needs 1, 3 '
                               f'or 4 channels, not {encoding.channels}')
    pixels = _to_uint8(image)
    code = _CONVERSIONS[family, 'bgr']
    return pixels if code is None else cv2.cvtColor(pixels, code)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    # convertScaleAbs is convertTo to uint8 (round half to even, saturate) for values >= 0.
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return cv2.convertScaleAbs(image, alpha=255 / 65535)
    if image.dtype.kind == 'f':
        finite = image[np.isfinite(image)]
        if finite.size == 0:
            return np.zeros(image.shape, np.uint8)
        low, high = float(finite.min()), float(finite.max())
        image = np.nan_to_num(image, nan=low, neginf=low, posinf=high)
    else:
        low, high = float(image.min()), float(image.max())
    scale = 255 / (high - low) if high > low else 0.0
    return cv2.convertScaleAbs(image, alpha=scale, beta=-low * scale)


def array_encoding(array: np.ndarray, encoding: str) -> Encoding:
    """The Encoding of array under the name asked for, after cv_bridge's compatibility check."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f'expected a numpy array, got {type(array).__name__}')
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ImageEncodingError(f'an array of shape {array.shape} is not an image: expected '
                                 '(height, width) or (height, width, channels)')
    depth = _DEPTH_OF_DTYPE.get(array.dtype.newbyteorder('='))
    if depth is None:
        raise ImageEncodingError(f'array dtype {array.dtype} has no image encoding: use uint8, '
                                 'int8, uint16, int16, int32, float32 or float64')
    actual = parse_encoding(f'{depth}C{1 if array.ndim == 2 else array.shape[2]}',
                            'the array shape')
    if encoding == 'passthrough':
        return actual
    wanted = parse_encoding(encoding, "argument 'encoding'")
    if (wanted.dtype, wanted.channels) != (actual.dtype, actual.channels):
        raise ImageEncodingError(
            f'encoding {encoding} needs {wanted.channels} channel(s) of {wanted.dtype}, but the '
            f'array has {actual.channels} of {array.dtype} ({actual.name})')
    return wanted


def _copied(header) -> Header:
    # A copy, so a caller that reuses its Header cannot change messages already published.
    return Header() if header is None else copy.deepcopy(header)


def _bytes_of(array: np.ndarray) -> pyarray.array:
    # One memcpy into the type rclpy keeps uint8[] fields in, so the setter does no checks.
    payload = pyarray.array('B')
    payload.frombytes(memoryview(np.ascontiguousarray(array)).cast('B'))
    return payload


def _reject_compressed_depth(image_format: str) -> None:
    if 'compresseddepth' in image_format.lower():
        raise ImageBridgeError(
            f"field 'format' is {image_format!r}: compressedDepth (image_transport's depth "
            'codec) is not supported; subscribe to the raw depth image instead')


def _codec(image_format: str) -> str:
    """The codec of a CompressedImage format: 'jpeg' in 'jpeg' or 'rgb8; jpeg compressed bgr8'."""
    _reject_compressed_depth(image_format)
    words = image_format.split(';')[-1].split()
    if not words:
        raise ImageBridgeError(f'format {image_format!r} names no codec: use jpg, jpeg or png')
    return words[0].lower().lstrip('.')


def decode_compressed(msg: CompressedImage) -> tuple:
    """(image, Encoding) of a CompressedImage, as cv2.imdecode reads it (BGR, BGRA or mono).

    image_transport's format 'rgb8; jpeg compressed bgr8' says the payload is BGR-ordered;
    '... compressed rgb8' says RGB, and the Encoding returned says so.
    """
    _reject_compressed_depth(msg.format)
    if len(msg.data) == 0:
        raise ImageBridgeError("field 'data' is empty: no compressed image")
    try:
        image = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise ImageBridgeError(f"field 'data' cannot be decoded: {error.err}") from error
    if image is None:
        raise ImageBridgeError(f"field 'data' ({len(msg.data)} bytes, format {msg.format!r}) "
                               'is not an image OpenCV can decode')
    rgb = 'compressed rgb' in msg.format.lower()
    channels = 1 if image.ndim == 2 else image.shape[2]
    names = {1: 'mono', 3: 'rgb' if rgb else 'bgr', 4: 'rgba' if rgb else 'bgra'}
    if image.dtype in (np.uint8, np.uint16) and channels in names:
        return image, _NAMED[f'{names[channels]}{image.dtype.itemsize * 8}']
    return image, parse_encoding(f'{_DEPTH_OF_DTYPE[image.dtype]}C{channels}')


def _load_cv_bridge() -> tuple:
    """(CvBridge, CvBridgeError, '') when vision_opencv's cv_bridge works, else (None, None, why).

    PyPI's `cv-bridge` is a ROS 1 port that imports but fails on numpy 2, so a round trip
    through a one-pixel image decides, not the import alone.
    """
    try:
        from cv_bridge import CvBridge, CvBridgeError
        bridge = CvBridge()
        probe = bridge.cv2_to_imgmsg(np.array([[[1, 2, 3]]], np.uint8), 'bgr8')
        swapped = bridge.imgmsg_to_cv2(probe, 'rgb8')
    except ImportError as error:
        return None, None, f'cv_bridge is not installed ({error})'
    except (AttributeError, KeyError, RuntimeError, TypeError, ValueError) as error:
        return None, None, f'cv_bridge failed its self-test ({error!r})'
    if not np.array_equal(swapped, [[[3, 2, 1]]]):
        return None, None, 'cv_bridge failed its self-test (bgr8 -> rgb8 gave wrong pixels)'
    return bridge, CvBridgeError, ''


def _upstream_reads(msg: Image, encoding: Encoding) -> bool:
    """Whether cv_bridge's Python imgmsg_to_cv2 reads msg right.

    It views rows as step // pixel size whole pixels, swaps bytes with ndarray.newbyteorder
    (gone in numpy 2) and lacks the uyvy/yuyv aliases; our reader handles those messages.
    """
    return (encoding.name not in _UPSTREAM_UNKNOWN
            and msg.step % encoding.pixel_bytes == 0
            and bool(msg.is_bigendian) == _HOST_BIG_ENDIAN)


class ImageBridge:
    """Image / CompressedImage <-> numpy for one node; cv_bridge underneath when it works.

    prefer_cv_bridge=False forces the numpy implementation. CompressedImage always uses our
    code: cv_bridge's is a thin cv2.imdecode / imencode wrapper that varies between distros.
    """

    def __init__(self, prefer_cv_bridge: bool = True):
        if prefer_cv_bridge:
            self._cv_bridge, self._cv_bridge_error, self._why_not = _load_cv_bridge()
        else:
            self._cv_bridge, self._cv_bridge_error = None, None
            self._why_not = 'chosen by the caller'

    @property
    def uses_cv_bridge(self) -> bool:
        """True when Image conversions go through vision_opencv's cv_bridge."""
        return self._cv_bridge is not None

    @property
    def backend(self) -> str:
        """One line for the node's log: which implementation converts images, and why."""
        return 'cv_bridge' if self.uses_cv_bridge else f'numpy fallback ({self._why_not})'

    def imgmsg_to_cv2(self, msg: Image, desired_encoding: str = 'passthrough') -> np.ndarray:
        """msg's pixels as a new array: (h, w) for one channel, else (h, w, channels).

        desired_encoding converts as cv_bridge does (e.g. rgb8 -> bgr8, mono16 -> mono8).
        """
        source = check_image(msg)
        target = None if desired_encoding == 'passthrough' else parse_encoding(
            desired_encoding, "argument 'desired_encoding'")
        if self._cv_bridge is not None and _upstream_reads(msg, source):
            return self._upstream_imgmsg_to_cv2(msg, desired_encoding)
        image = read_pixels(msg, source)
        return image if target is None else convert_encoding(image, source, target)

    def _upstream_imgmsg_to_cv2(self, msg: Image, desired_encoding: str) -> np.ndarray:
        try:
            image = self._cv_bridge.imgmsg_to_cv2(msg, desired_encoding)
        except self._cv_bridge_error as error:
            raise ImageBridgeError(f'cv_bridge: {error}') from error
        # For unpadded rows cv_bridge returns a view of msg.data; ours are safe to modify.
        shared = np.may_share_memory(image, np.frombuffer(msg.data, np.uint8))
        return image.copy() if shared else image

    def cv2_to_imgmsg(self, array: np.ndarray, encoding: str = 'passthrough',
                      header: Header | None = None) -> Image:
        """An Image holding array: rows packed (step = width * pixel size), host byte order.

        'passthrough' names the encoding after the array (8UC3, 32FC1, ...); another encoding
        must match its dtype and channels, else ImageEncodingError. The header is copied.
        """
        target = array_encoding(array, encoding)
        pixels = np.ascontiguousarray(array, array.dtype.newbyteorder('='))
        if self._cv_bridge is not None and target.name not in _UPSTREAM_UNKNOWN:
            msg = self._cv_bridge.cv2_to_imgmsg(pixels, encoding)
        else:
            msg = Image(height=pixels.shape[0], width=pixels.shape[1], encoding=target.name,
                        is_bigendian=int(_HOST_BIG_ENDIAN),
                        step=pixels.shape[1] * target.pixel_bytes, data=_bytes_of(pixels))
        msg.header = _copied(header)
        return msg

    def compressed_imgmsg_to_cv2(self, msg: CompressedImage,
                                 desired_encoding: str = 'passthrough') -> np.ndarray:
        """The decoded image: passthrough gives cv2.imdecode's BGR, BGRA or mono array."""
        image, source = decode_compressed(msg)
        if desired_encoding == 'passthrough':
            return image
        return convert_encoding(image, source, parse_encoding(
            desired_encoding, "argument 'desired_encoding'"))

    def cv2_to_compressed_imgmsg(self, array: np.ndarray, dst_format: str = 'jpg',
                                 header: Header | None = None) -> CompressedImage:
        """array (BGR, BGRA or mono) encoded with cv2.imencode; format is dst_format as given.

        dst_format is a codec ('jpg', 'jpeg', 'png', ...) or image_transport's long form
        ('bgr8; jpeg compressed bgr8'), whose codec is used. The header is copied.
        """
        if not isinstance(array, np.ndarray):
            raise TypeError(f'expected a numpy array, got {type(array).__name__}')
        codec = _codec(dst_format)
        try:
            ok, encoded = cv2.imencode('.' + codec, array)
        except cv2.error as error:
            raise ImageEncodingError(f'cannot encode a {array.shape} {array.dtype} array as '
                                     f'{codec!r}: {error.err}') from error
        if not ok:
            raise ImageEncodingError(f'OpenCV failed to encode a {array.shape} {array.dtype} '
                                     f'array as {codec!r}')
        return CompressedImage(header=_copied(header), format=dst_format,
                               data=_bytes_of(encoded))

    def to_bgr8(self, msg: Image | CompressedImage) -> np.ndarray:
        """Any supported image as a new uint8 BGR (h, w, 3) array; see image_to_bgr8."""
        if isinstance(msg, CompressedImage):
            image, encoding = decode_compressed(msg)
        elif isinstance(msg, Image):
            image, encoding = self.imgmsg_to_cv2(msg), parse_encoding(msg.encoding)
        else:
            raise TypeError(f'expected sensor_msgs Image or CompressedImage, got '
                            f'{type(msg).__name__}')
        return image_to_bgr8(image, encoding)
