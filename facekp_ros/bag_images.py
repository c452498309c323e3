"""Every image in any message of a bag: where a message type holds images, and their copy
with faces hidden.

An image is a sensor_msgs Image / CompressedImage or a foxglove_msgs RawImage /
CompressedImage, at the top of a message or anywhere inside it (nested, in arrays). Types
that carry pictures this tool cannot decode (video packets) are refused by name: their topic
is never copied raw. Depth images are not face images: they are copied unchanged.
"""
import dataclasses
import re

import numpy as np

from facekp_ros.core.image_codec import (
    HEAD_BYTES,
    CameraImage,
    decode_compressed,
    decode_raw,
    encode_compressed,
    encode_raw,
    is_compressed_depth,
)

RAW = ('sensor_msgs/msg/Image', 'foxglove_msgs/msg/RawImage')
COMPRESSED = ('sensor_msgs/msg/CompressedImage', 'foxglove_msgs/msg/CompressedImage')
IMAGES = RAW + COMPRESSED
# Pictures in codecs that need a video decoder (inter-frame): not anonymized, so refused.
UNSUPPORTED = {
    'foxglove_msgs/msg/CompressedVideo': 'H.264/H.265/VP9/AV1 video frames',
    'theora_image_transport/msg/Packet': 'Theora video packets',
    'ffmpeg_image_transport_msgs/msg/FFMPEGPacket': 'FFmpeg video packets',
    'sensor_msgs/msg/CompressedVideo': 'video frames',
}
# Wide single-channel encodings that depth cameras use. mono16 is a grey (infrared) image.
DEPTH_ENCODINGS = ('16UC1', '32FC1')
DEPTH_NAME = re.compile('depth', re.IGNORECASE)


class UnsupportedImageError(ValueError):
    """A topic whose type holds images in a form that cannot be anonymized."""


@dataclasses.dataclass(frozen=True)
class TypePlan:
    """Where a message type holds images: field paths ('' = the message itself;
    'cameras[]/image' = in every element of an array)."""

    paths: tuple = ()
    unsupported: tuple = ()  # (path, what) of pictures that cannot be anonymized


def type_plan(fielddefs: dict, msgtype: str) -> TypePlan:
    """The TypePlan of msgtype from a typestore's fielddefs (types it does not hold: none)."""
    paths, unsupported = [], []

    def walk(name: str, path: str, seen: tuple) -> None:
        if name in IMAGES:
            paths.append(path)
        elif name in UNSUPPORTED:
            unsupported.append((path, UNSUPPORTED[name]))
        elif name in fielddefs and name not in seen:
            for field, (kind, detail) in fielddefs[name][1]:
                while kind.name in ('ARRAY', 'SEQUENCE'):  # element type, count
                    (kind, detail), _ = detail
                    field += '[]'
                if kind.name == 'NAME':
                    walk(detail, f'{path}/{field}' if path else field, seen + (name,))

    walk(msgtype, '', ())
    return TypePlan(tuple(paths), tuple(unsupported))


def check_supported(topic: str, msgtype: str, plan: TypePlan) -> None:
    """UnsupportedImageError naming topic when its type holds pictures that cannot be hidden."""
    if plan.unsupported:
        path, what = plan.unsupported[0]
        where = f' in field {path!r}' if path else ''
        raise UnsupportedImageError(
            f'topic {topic} ({msgtype}) holds {what}{where}, which facekp cannot anonymize: '
            'the bag is not written (record raw or JPEG/PNG images, or leave the topic out '
            'of the input)')


@dataclasses.dataclass
class FoundImage:
    """One image inside a message, decoded or told to be left as it is."""

    path: str  # 'left', 'images[1]', '' for the message itself
    msg: object  # the image message object
    depth: bool = False


def find_images(msg, path: str = '') -> list:
    """Every image object inside msg (a rosbags message), in field order."""
    msgtype = getattr(msg, '__msgtype__', None)
    if msgtype in IMAGES:
        return [FoundImage(path, msg)]
    if msgtype is None:
        return []
    found = []
    for field in dataclasses.fields(msg):
        value = getattr(msg, field.name)
        where = f'{path}/{field.name}' if path else field.name
        if isinstance(value, list):
            for index, item in enumerate(value):
                found += find_images(item, f'{where}[{index}]')
        else:
            found += find_images(value, where)
    return found


def is_depth(image: FoundImage, topic: str, depth_topics=()) -> bool:
    """compressedDepth, or a 16UC1/32FC1 image on a topic or frame named depth (or a topic
    the user named)."""
    msg = image.msg
    if hasattr(msg, 'format'):
        return is_compressed_depth(msg.format)
    if msg.encoding not in DEPTH_ENCODINGS:
        return False
    return topic in depth_topics or bool(DEPTH_NAME.search(topic)) \
        or bool(DEPTH_NAME.search(frame_id(msg)))


def frame_id(msg) -> str:
    header = getattr(msg, 'header', None)
    return getattr(header, 'frame_id', '') if header is not None else getattr(msg, 'frame_id', '')


@dataclasses.dataclass
class _RawView:
    """The Image fields of a foxglove RawImage, which has no is_bigendian: its 16- and
    32-bit data are little-endian."""

    height: int
    width: int
    encoding: str
    step: int
    data: np.ndarray
    is_bigendian: int = 0


def decode_image(msg) -> CameraImage:
    """An image object's pixels; ImageCodecError (a ValueError) when they cannot be read."""
    if msg.__msgtype__ in COMPRESSED:
        return decode_compressed(msg)
    if not hasattr(msg, 'is_bigendian'):
        msg = _RawView(msg.height, msg.width, msg.encoding, msg.step, msg.data)
    return decode_raw(msg)


def encode_image(msg, image: CameraImage):
    """msg (every other field kept) holding image: raw images in the image's encoding,
    compressed ones in the codec of msg's own data."""
    if msg.__msgtype__ in COMPRESSED:
        return dataclasses.replace(msg, data=encode_compressed(
            image.pixels, msg.format, bytes(msg.data[:HEAD_BYTES])))
    fields = encode_raw(image.pixels, image.encoding.name)
    if not hasattr(msg, 'is_bigendian') and fields.is_bigendian:  # foxglove: little-endian
        pixels = image.pixels.astype(image.pixels.dtype.newbyteorder('<'))
        fields.data, fields.is_bigendian = pixels.reshape(-1).view(np.uint8), 0
    values = {f.name: getattr(fields, f.name) for f in dataclasses.fields(fields)
              if hasattr(msg, f.name)}
    return dataclasses.replace(msg, **values)


def replace_images(msg, replaced: dict, path: str = ''):
    """msg with the image objects at the paths of replaced ({path: new object}) swapped in."""
    if path in replaced:
        return replaced[path]
    if getattr(msg, '__msgtype__', None) is None:
        return msg
    changes = {}
    for field in dataclasses.fields(msg):
        value = getattr(msg, field.name)
        where = f'{path}/{field.name}' if path else field.name
        if not any(p == where or p.startswith(where + '/') or p.startswith(where + '[')
                   for p in replaced):
            continue
        if isinstance(value, list):
            changes[field.name] = [replace_images(item, replaced, f'{where}[{index}]')
                                   for index, item in enumerate(value)]
        else:
            changes[field.name] = replace_images(value, replaced, where)
    return dataclasses.replace(msg, **changes) if changes else msg
