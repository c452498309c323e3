"""Image files for `facekp`: read upright (EXIF orientation applied), written whole or not at
all (beside the final name, checked, then renamed), in a depth their format can hold."""
import glob
import os
import pathlib
import re
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from facekp_ros.core.image_codec import from_array, to_eight_bit
from facekp_ros.leftovers import process_alive

ORIENTATION_TAG = 0x0112
# EXIF Orientation -> the turn that shows the stored pixels as a viewer shows them (EXIF 2.3
# section 4.6.4: phones store a portrait sideways and tag it 6 or 8).
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}
# Pixel types each format holds as OpenCV writes it; any other format holds uint8 only.
_DEPTHS = {'.png': (np.uint8, np.uint16), '.tif': (np.uint8, np.uint16, np.float32),
           '.tiff': (np.uint8, np.uint16, np.float32), '.pgm': (np.uint8, np.uint16),
           '.ppm': (np.uint8, np.uint16), '.pnm': (np.uint8, np.uint16)}
PARTIAL = 'facekp-partial'
Image.MAX_IMAGE_PIXELS = None  # Pillow only reads tags here, never decodes pixels


class WriteError(Exception):
    """An output that could not be written whole: nothing is left at its path."""


@dataclass
class Still:
    pixels: np.ndarray  # upright, as a viewer shows the file
    orientation: int  # the EXIF orientation that was applied (1: none)
    frames: int  # images in the file (an animated GIF has several)
    exif: Image.Exif | None = None  # its tags (only read when they are to be kept)
    xmp: bytes = b''


def _tags_of(path: pathlib.Path) -> tuple:
    """(EXIF or TIFF tags, XMP packet) of the file; (None, b'') when it is not a format Pillow
    knows (OpenCV reads a few more)."""
    try:
        with Image.open(path) as image:
            xmp = image.info.get('xmp') or image.info.get('XML:com.adobe.xmp') or b''
            return image.getexif(), xmp.encode() if isinstance(xmp, str) else xmp
    except UnidentifiedImageError:
        return None, b''


def read_still(path: pathlib.Path, keep_metadata: bool = False) -> Still:
    """The image at path, upright, in its own type (grey, 16 bits ... kept), with its tags
    when keep_metadata; ValueError when OpenCV cannot decode it."""
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # ignores orientation: applied below
    if pixels is None:
        raise ValueError('not an image OpenCV can decode')
    exif, xmp = _tags_of(path)
    orientation = exif.get(ORIENTATION_TAG, 1) if exif is not None else 1
    orientation = orientation if orientation in _UPRIGHT else 1
    if orientation in _UPRIGHT:
        pixels = np.ascontiguousarray(_UPRIGHT[orientation](pixels))
    kept = (exif, xmp) if keep_metadata else (None, b'')
    return Still(pixels, orientation, cv2.imcount(str(path)), *kept)


# EXIF and XMP kept by --keep-metadata, less what says where the photo was taken and any
# thumbnail (a small copy of the photo, faces included).
GPS_IFD, EXIF_IFD = 0x8825, 0x8769
_TIFF_LAYOUT = (0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x0111, 0x0115, 0x0116, 0x0117,
                0x011C, 0x0140, 0x0152, 0x0153, 0x0201, 0x0202, ORIENTATION_TAG)
_XMP_LOCATION = (r'exif:GPS\w+|photoshop:(?:City|State|Country)|Iptc4xmpCore:(?:Location|'
                 r'CountryCode)|Iptc4xmpExt:Location\w*|xmp:Thumbnails|xmpGImg:\w+')
_XMP_ATTRIBUTE = re.compile(rf'\s(?:{_XMP_LOCATION})="[^"]*"'.encode())
_XMP_ELEMENT = re.compile(rf'<((?:{_XMP_LOCATION}))\b[^>]*?(?:/>|>.*?</\1>)'.encode(), re.S)
XMP_JPEG_ID = b'http://ns.adobe.com/xap/1.0/\x00'  # the APP1 header naming an XMP packet


def kept_metadata(still: Still, target: pathlib.Path) -> tuple:
    """(types, chunks) for cv2.imencodeWithMetadata: still's EXIF without GPS, thumbnail and
    orientation (the pixels are upright), its XMP without location and thumbnails."""
    types, chunks = [], []
    if still.exif is not None and len(still.exif):
        exif = Image.Exif()
        for tag, value in still.exif.items():  # IFD0 only: IFD1, the thumbnail, stays behind
            if tag not in _TIFF_LAYOUT and tag not in (GPS_IFD, EXIF_IFD):
                exif[tag] = value
        if EXIF_IFD in still.exif:
            # Its Interoperability pointer is an offset into the old file: left out.
            exif[EXIF_IFD] = {tag: value for tag, value in still.exif.get_ifd(EXIF_IFD).items()
                              if tag != 0xA005}
        data = exif.tobytes()
        types.append(cv2.IMAGE_METADATA_EXIF)
        chunks.append(data[6:] if data.startswith(b'Exif\0\0') else data)
    if still.xmp:
        xmp = _XMP_ELEMENT.sub(b'', _XMP_ATTRIBUTE.sub(b'', still.xmp))
        if target.suffix.lower() in ('.jpg', '.jpeg'):
            xmp = XMP_JPEG_ID + xmp  # OpenCV writes the APP1 segment without it
        types.append(cv2.IMAGE_METADATA_XMP)
        chunks.append(xmp)
    return types, [np.frombuffer(chunk, np.uint8) for chunk in chunks]


def partial_path(target: pathlib.Path, suffix: str = '') -> pathlib.Path:
    """Where target is written before it is complete: a hidden file beside it, named after
    this process so that a later run can tell it was left behind."""
    return target.with_name(f'.{target.name}.{os.getpid()}.{PARTIAL}{suffix}')


def remove_leftovers(target: pathlib.Path) -> list:
    """Delete the partial files of target left by runs that no longer exist (killed);
    returns their paths."""
    pattern = re.compile(rf'\.{re.escape(target.name)}\.(\d+)\.{PARTIAL}')
    removed = []
    for path in target.parent.glob(f'.{glob.escape(target.name)}.*.{PARTIAL}*'):
        match = pattern.match(path.name)
        if match and not process_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def writable_depth(pixels: np.ndarray, target: pathlib.Path) -> tuple:
    """(pixels in a type target's format holds, a note saying what was converted or '').
    Wide data an 8-bit format cannot hold is mapped to 0..255 on the range its bgr8 view
    shows (image_codec.view_range), not cut at 255 (which turns a 16-bit image white)."""
    if pixels.dtype.type in _DEPTHS.get(target.suffix.lower(), (np.uint8,)):
        return pixels, ''
    image = from_array(pixels)
    low, high = image.view_range or (0.0, 0.0)
    note = (f'{pixels.dtype} pixels written as 8 bits ({target.suffix} holds no more), '
            f'{low:g}..{high:g} mapped to 0..255')
    return to_eight_bit(image), note


def write_image(target: pathlib.Path, pixels: np.ndarray, metadata: tuple = ()) -> str:
    """Write pixels to target, checked: encoded (with metadata: kept_metadata's), written
    beside it, read back (same size and type), then renamed onto it. Returns a note on a
    depth conversion ('' none); WriteError with one line, and no file left, when any step
    fails."""
    pixels, note = writable_depth(pixels, target)
    try:
        if metadata and metadata[0]:
            ok, encoded = cv2.imencodeWithMetadata(target.suffix, pixels, *metadata)
        else:
            ok, encoded = cv2.imencode(target.suffix, pixels)
    except cv2.error as error:
        raise WriteError(f'cannot write {target}: OpenCV cannot encode a {pixels.dtype} '
                         f'{"x".join(map(str, pixels.shape))} image as {target.suffix}: '
                         f'{error.err}') from None
    if not ok:
        raise WriteError(f'cannot write {target}: OpenCV failed to encode it as '
                         f'{target.suffix}')
    commit_bytes(target, encoded.tobytes(), lambda path: _check_image(path, pixels))
    return note


def _check_image(path: pathlib.Path, pixels: np.ndarray) -> str:
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if back is None:
        return 'the written file does not decode'
    if back.shape != pixels.shape or back.dtype != pixels.dtype:
        return (f'read back as {back.dtype} {back.shape}, written as {pixels.dtype} '
                f'{pixels.shape}')
    return ''


def commit_bytes(target: pathlib.Path, data: bytes, check=None) -> None:
    """data written to target's partial path, synced, check(path) -> '' or what is wrong,
    then renamed onto target; WriteError (one line naming target) and no file otherwise."""
    partial = partial_path(target)
    try:
        with open(partial, 'wb') as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        size = partial.stat().st_size
        problem = (f'{size} of {len(data)} bytes on disk' if size != len(data) else
                   check(partial) if check else '')
        if problem:
            raise WriteError(f'cannot write {target}: {problem}')
        os.replace(partial, target)
    except OSError as error:
        raise WriteError(f'cannot write {target}: {error.strerror or error}') from None
    finally:
        partial.unlink(missing_ok=True)
