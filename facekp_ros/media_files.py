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


def orientation_of(path: pathlib.Path) -> int:
    """The file's EXIF (or TIFF) Orientation, 1 when it has none or is not a format Pillow
    knows (OpenCV reads a few more)."""
    try:
        with Image.open(path) as image:
            value = image.getexif().get(ORIENTATION_TAG, 1)
    except UnidentifiedImageError:
        return 1
    return value if value in _UPRIGHT else 1


def read_still(path: pathlib.Path) -> Still:
    """The image at path, upright, in its own type (grey, 16 bits ... kept); ValueError when
    OpenCV cannot decode it."""
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # ignores orientation: applied below
    if pixels is None:
        raise ValueError('not an image OpenCV can decode')
    orientation = orientation_of(path)
    if orientation in _UPRIGHT:
        pixels = np.ascontiguousarray(_UPRIGHT[orientation](pixels))
    return Still(pixels, orientation, cv2.imcount(str(path)))


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
        if match and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def write_image(target: pathlib.Path, pixels: np.ndarray) -> str:
    """Write pixels to target, checked: encoded, written beside it, read back (same size and
    type), then renamed onto it. Returns a note on a depth conversion ('' none); WriteError
    with one line, and no file left, when any step fails."""
    pixels, note = writable_depth(pixels, target)
    try:
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
        problem = check(partial) if check else ''
        if problem:
            raise WriteError(f'cannot write {target}: {problem}')
        os.replace(partial, target)
    except OSError as error:
        raise WriteError(f'cannot write {target}: {error.strerror or error}') from None
    finally:
        partial.unlink(missing_ok=True)
