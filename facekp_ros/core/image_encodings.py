"""Image encodings of sensor_msgs/Image: what the bytes mean, and conversions between them.

The names, dtypes, channel counts and conversions are vision_opencv cv_bridge's: bgr8, rgb8,
bgra8, rgba8, mono8/16, their 16-bit forms, yuv422 (UYVY), yuv422_yuy2 (YUYV), bayer_*, and
the generic NNxCk types (8UC3, 32FC1, ...). ROS-free: no message package is imported.
"""
import re
from dataclasses import dataclass

import cv2
import numpy as np


class ImageCodecError(ValueError):
    """An image message or argument that cannot be converted; the text says which and why."""


class ImageEncodingError(ImageCodecError, TypeError):
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


NAMED = _named_encodings()
_GENERIC = re.compile(r'(8U|8S|16U|16S|32S|32F|64F)(?:C(\d+))?')
_DEPTHS = {'8U': np.uint8, '8S': np.int8, '16U': np.uint16, '16S': np.int16,
           '32S': np.int32, '32F': np.float32, '64F': np.float64}
DEPTH_OF_DTYPE = {np.dtype(dtype): depth for depth, dtype in _DEPTHS.items()}
_MAX_CHANNELS = 512  # OpenCV's CV_CN_MAX


def parse_encoding(name: str, where: str = "field 'encoding'") -> Encoding:
    """The Encoding for a sensor_msgs/Image encoding string; where names it in the error."""
    if name in NAMED:
        return NAMED[name]
    match = _GENERIC.fullmatch(name)
    channels = int(match.group(2) or 1) if match else 0
    if not 1 <= channels <= _MAX_CHANNELS:
        raise ImageCodecError(
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


CONVERSIONS = _conversion_table()


def _conversion_steps(src: Encoding, dst: Encoding) -> list:
    """cv_bridge's getConversionCode: cvtColor codes in order, None meaning 'change depth'."""
    if not src.family and dst.family:
        raise ImageCodecError(f'{src.name} is not a colour encoding but {dst.name} is: '
                               'the conversion does not make sense')
    if not dst.family or not src.family:
        if src.channels != dst.channels:
            raise ImageCodecError(f'cannot convert {src.name} to {dst.name}: '
                                   f'{src.channels} vs {dst.channels} channels')
        return [None]
    if (src.family, dst.family) not in CONVERSIONS:
        raise ImageCodecError(f'unsupported conversion from {src.name} to {dst.name}')
    code = CONVERSIONS[src.family, dst.family]
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


def array_encoding(array: np.ndarray, encoding: str) -> Encoding:
    """The Encoding of array under the name asked for, after cv_bridge's compatibility check."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f'expected a numpy array, got {type(array).__name__}')
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ImageEncodingError(f'an array of shape {array.shape} is not an image: expected '
                                 '(height, width) or (height, width, channels)')
    depth = DEPTH_OF_DTYPE.get(array.dtype.newbyteorder('='))
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
