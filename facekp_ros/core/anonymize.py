"""Hide every face in an image (blur, pixelate or solid fill), or mask a whole frame.

Each face's box is enlarged by margin_scale around its centre (hair, ears, chin) and that
region is hidden. `strength` s sets how coarse: the region is averaged into cells of s / 4
(blur, then smoothed) or s / 3 (pixelate) of its side, sized on the whole region even where
the image edge clips it, so a half-visible face is hidden as coarsely as a whole one.
s = 1 is the finest allowed. Measured on the 500 faces68 test faces: at s = 0.5, RetinaFace
(score 0.3) still found 3-9 % and the Haar cascade (min. neighbours 3) 2-15 % of the hidden
faces; at s = 1, at most 3 of 500 (box: 1 of 500), and those hits are a featureless blob
under hair (the head's outline), not a recognisable face.

A low-contrast face (infrared, dark, motion-blurred) changes by only a few grey levels under
a blur, and what little detail it has partly survives the blur's rounding: a contrast
stretch could bring it back. So every blurred or pixelated face box is checked the way
../shared/notes/privacy-scoring.md judges a face, on the frame's own contrast scale (wide
types: its VIEW_PERCENTILES range as 0..255, as detection sees it): unless most of the box
changed by more than CHANGED_LEVELS, a box whose grey spread under LOW_CONTRAST_STD levels,
or whose detail (mean |Laplacian|) is still above LOW_CONTRAST_DETAIL of what it was, is
flattened to its mean. Such regions were nearly flat to begin with, so this costs little of
the look (measured: 9 % of the faces68 test faces, dim video frames; most small, dark, grey
and infrared faces of the privacy benchmark).
"""
import math
import numbers
from dataclasses import dataclass

import cv2
import numpy as np

from facekp_ros.core.checks import check_choice, check_range
from facekp_ros.core.image_codec import view_range

METHODS = ('blur', 'pixelate', 'fill')
SHAPES = ('box', 'ellipse')
MARGIN_SCALE_RANGE = (1.0, 3.0)
STRENGTH_RANGE = (1.0, 4.0)
CELLS_AT_STRENGTH_1 = {'blur': 4, 'pixelate': 3}  # cells across the hidden region
# An ellipse must reach sqrt(2) x the box to contain the box's corners.
ELLIPSE_MIN_SCALE = math.sqrt(2)
# Cell means are taken over at most this many samples per cell side: averaging every pixel
# of a large face costs ~1 ms and hides nothing more.
SAMPLES_PER_CELL = 8
# The checks on a hidden face box (see the module docstring), in 8-bit levels of the frame's
# own contrast.
CHANGED_LEVELS, CHANGED_SHARE, LOW_CONTRAST_DETAIL, LOW_CONTRAST_STD = 8, 0.9, 0.2, 16
# Box coordinates beyond this (px) are corrupt rather than a face: no camera is that large.
MAX_COORDINATE = 1e6


@dataclass(frozen=True)
class AnonymizeConfig:
    """How faces are hidden. See the module docstring for what strength means."""

    method: str = 'blur'  # 'blur' | 'pixelate' | 'fill'
    shape: str = 'box'  # 'box' (safest) | 'ellipse' (softer; always holds the whole box)
    margin_scale: float = 1.3  # hidden region side / face box side, in [1, 3]
    strength: float = 1.0  # in [1, 4]; higher is coarser
    fill_bgr: tuple = (0, 0, 0)  # colour of 'fill' and of mask_whole_frame

    def __post_init__(self):
        check_choice('method', self.method, METHODS)
        check_choice('shape', self.shape, SHAPES)
        check_range('margin_scale', self.margin_scale, MARGIN_SCALE_RANGE)
        check_range('strength', self.strength, STRENGTH_RANGE)
        colour = tuple(self.fill_bgr) if isinstance(self.fill_bgr, (tuple, list)) else ()
        if len(colour) != 3 or not all(isinstance(c, numbers.Integral) and 0 <= c <= 255
                                       for c in colour):
            raise ValueError(f'fill_bgr={self.fill_bgr!r} must be 3 integers in [0, 255]')
        object.__setattr__(self, 'fill_bgr', tuple(int(c) for c in colour))

    @property
    def region_scale(self) -> float:
        """Hidden region side / face box side (the ellipse is grown to hold the box)."""
        if self.shape == 'ellipse':
            return max(self.margin_scale, ELLIPSE_MIN_SCALE)
        return self.margin_scale


def _check_image(image) -> None:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or not image.size \
            or image.dtype.kind not in 'uif':
        shape = getattr(image, 'shape', type(image).__name__)
        raise ValueError(f'expected a non-empty HxW or HxWxC numeric image, got {shape}')


def _fill_value(image: np.ndarray, config: 'AnonymizeConfig') -> np.ndarray:
    """What a solid fill writes per pixel: fill_bgr in 8-bit BGR(A) images, else 0 (black)."""
    channels = image.shape[2] if image.ndim == 3 else 1
    value = np.zeros(channels, image.dtype)
    if image.dtype == np.uint8 and channels in (3, 4):
        value[:3] = config.fill_bgr
        value[3:] = 255
    return value if image.ndim == 3 else value[0]


def box_is_usable(box) -> bool:
    """False for a box anonymize cannot place (NaN, infinite or absurdly far)."""
    values = np.asarray(box, np.float64).reshape(-1)
    return values.size == 4 and bool((np.abs(values) <= MAX_COORDINATE).all())


def face_box(box) -> tuple:
    """(x, y, w, h) as floats with w, h >= 0; ValueError for a box that is not usable."""
    if not box_is_usable(box):
        raise ValueError(f'face box {np.asarray(box).tolist()} is not finite or beyond '
                         f'{MAX_COORDINATE:g} px: cannot tell what to hide')
    x, y, w, h = (float(v) for v in np.asarray(box).reshape(4))
    # A negative size still marks a face: hide the span it covers.
    return min(x, x + w), min(y, y + h), abs(w), abs(h)


def hidden_region(box, scale: float) -> tuple:
    """(x0, y0, x1, y1) floats: the box scaled by scale around its centre, not clipped."""
    x, y, w, h = face_box(box)
    cx, cy = x + w / 2, y + h / 2
    return cx - w * scale / 2, cy - h * scale / 2, cx + w * scale / 2, cy + h * scale / 2


def _clip(region, image_hw) -> tuple:
    """Integer pixel bounds of region inside the image, rounded outwards (may be empty)."""
    x0, y0, x1, y1 = region
    height, width = image_hw
    return (min(max(math.floor(x0), 0), width), min(max(math.floor(y0), 0), height),
            max(min(math.ceil(x1), width), 0), max(min(math.ceil(y1), height), 0))


# Types cv2.resize and GaussianBlur work in; others are hidden through float32.
_NATIVE_TYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)


def invalid_pixels(pixels: np.ndarray) -> np.ndarray | None:
    """Where a float image holds no value (NaN, infinite: a depth camera's holes), as a mask
    of pixels' shape; None when every value is valid (integer images always are)."""
    if pixels.dtype.kind != 'f':
        return None
    invalid = ~np.isfinite(pixels)
    return invalid if invalid.any() else None


def _finite_mean(pixels: np.ndarray) -> np.ndarray:
    """Per-channel mean of the finite values (0 where a channel has none), float64."""
    values = pixels.reshape(-1, pixels.shape[2] if pixels.ndim == 3 else 1).astype(np.float64)
    finite = np.isfinite(values)
    counts = finite.sum(0)
    return np.where(finite, values, 0).sum(0) / np.maximum(counts, 1)


def _area_means(roi: np.ndarray, cells_x: int, cells_y: int) -> np.ndarray:
    h, w = roi.shape[:2]
    sample_w, sample_h = min(w, cells_x * SAMPLES_PER_CELL), min(h, cells_y * SAMPLES_PER_CELL)
    if (sample_w, sample_h) != (w, h):
        roi = cv2.resize(roi, (sample_w, sample_h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(roi, (cells_x, cells_y), interpolation=cv2.INTER_AREA)


def _cell_means(roi: np.ndarray, cells_x: int, cells_y: int) -> np.ndarray:
    """Each cell's mean; in float images, of its finite values only (a NaN or infinite
    pixel would otherwise spread to its whole cell and, through smoothing, beyond)."""
    invalid = invalid_pixels(roi)
    if invalid is None:
        return _area_means(roi, cells_x, cells_y)
    valid = (~invalid).astype(np.float32)
    sums = _area_means(np.where(invalid, 0, roi).astype(np.float32), cells_x, cells_y)
    weights = _area_means(valid, cells_x, cells_y).reshape(sums.shape)
    means = sums / np.maximum(weights, 1e-12)
    # A cell with no finite value takes the region's finite mean: a value, never NaN.
    means = np.where(weights > 1e-6, means, _finite_mean(roi).astype(np.float32))
    return means.astype(roi.dtype)


def _hidden_pixels(roi: np.ndarray, region_wh: tuple, config: AnonymizeConfig) -> np.ndarray:
    """roi's replacement: coarse cells sized from the whole (unclipped) region."""
    if roi.dtype not in _NATIVE_TYPES:
        hidden = _hidden_pixels(roi.astype(np.float32), region_wh, config)
        info = np.iinfo(roi.dtype)
        return np.clip(np.rint(hidden), info.min, info.max).astype(roi.dtype)
    h, w = roi.shape[:2]
    cells = CELLS_AT_STRENGTH_1[config.method] / config.strength
    cells_x = min(w, max(1, round(w * cells / max(region_wh[0], 1e-6))))
    cells_y = min(h, max(1, round(h * cells / max(region_wh[1], 1e-6))))
    small = _cell_means(roi, cells_x, cells_y)
    if config.method == 'pixelate':
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST).reshape(roi.shape)
    # Blur: smooth the cells into each other so no blocky edges hint at features.
    small = cv2.GaussianBlur(small, (3, 3), 0, borderType=cv2.BORDER_REPLICATE)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(roi.shape)


def levels_per_unit(image: np.ndarray, span: tuple | None = None) -> float:
    """8-bit grey levels per unit of image's pixels: 1 for uint8; for wider types 255 over
    the frame's view range (span when known, see image_codec.view_range; 0 when it has
    none: nothing to check against)."""
    if image.dtype == np.uint8:
        return 1.0
    span = span or view_range(image)
    if span is None:
        return 0.0
    low, high = span
    return 255.0 / (high - low) if high > low else 0.0


def _grey(pixels: np.ndarray, levels: float) -> np.ndarray:
    """The channels' mean (as the scoring rule takes it) in 8-bit levels, float32."""
    values = pixels.astype(np.float32)
    if values.ndim == 3:
        channels = values.shape[2]
        # cv2.transform is ~10x faster than numpy's mean over the last axis.
        values = cv2.transform(values, np.full((1, channels), 1 / channels, np.float32)) \
            if channels <= 4 else values.mean(-1)
    values *= np.float32(levels)
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0) \
        if pixels.dtype.kind == 'f' else values


def _detail_survives(before: np.ndarray, after: np.ndarray, levels: float) -> bool:
    """True when hiding left too much of before's face in after: it barely changed, and its
    contrast was low or it kept more than LOW_CONTRAST_DETAIL of its detail (the outer 3 px,
    box edges, not counted)."""
    if levels <= 0 or min(before.shape[:2]) < 8:
        return False
    grey0, grey1 = _grey(before, levels), _grey(after, levels)
    if (np.abs(grey1 - grey0) > CHANGED_LEVELS).mean() >= CHANGED_SHARE:
        return False
    if grey0.std() < LOW_CONTRAST_STD:
        return True
    lap0 = np.abs(cv2.Laplacian(grey0, cv2.CV_32F))[3:-3, 3:-3].mean()
    lap1 = np.abs(cv2.Laplacian(grey1, cv2.CV_32F))[3:-3, 3:-3].mean()
    return lap1 > LOW_CONTRAST_DETAIL * lap0


def _flattened(hidden: np.ndarray) -> np.ndarray:
    """hidden as one cell: its mean, per channel, in its own type."""
    values = hidden.reshape(-1, hidden.shape[2] if hidden.ndim == 3 else 1).astype(np.float64)
    mean = _finite_mean(hidden) if hidden.dtype.kind == 'f' else values.mean(0)
    if hidden.dtype.kind in 'iu':
        info = np.iinfo(hidden.dtype)
        mean = np.clip(np.rint(mean), info.min, info.max)
    flat = np.empty_like(hidden)
    flat[:] = mean.astype(hidden.dtype) if hidden.ndim == 3 else mean[0].astype(hidden.dtype)
    return flat


def face_roll(landmarks) -> float:
    """A face's roll in degrees (0 upright, positive turned clockwise on screen) from its eye
    line (LANDMARK5_NAMES: right eye, then left eye); 0 where the eyes are unknown."""
    points = np.asarray(landmarks, np.float64).reshape(-1, 2)
    if len(points) < 2 or not np.isfinite(points[:2]).all():
        return 0.0
    dx, dy = points[1] - points[0]
    return math.degrees(math.atan2(dy, dx)) if dx or dy else 0.0


def _outline(box, scale: float, roll: float, shape: str) -> np.ndarray:
    """(N, 2) float polygon: the box (or the ellipse in it) scaled by scale about its centre,
    turned by roll degrees with the face."""
    x, y, w, h = face_box(box)
    half = np.array([w * scale / 2, h * scale / 2])
    if shape == 'ellipse':
        # Inscribed, with vertices at the axes' ends: upright, it spans exactly the box.
        angles = np.linspace(0, 2 * math.pi, 96, endpoint=False)
        local = np.stack([np.cos(angles), np.sin(angles)], 1) * half
    else:
        local = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
    turn = math.radians(roll)
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    return local @ rotation.T + (x + w / 2, y + h / 2)


def _fill_polygon(mask: np.ndarray, polygon: np.ndarray, offset) -> None:
    """Marks every pixel the polygon touches. OpenCV draws pixel i at i (its centre), where
    region coordinates put it at i + 0.5; the outline marks pixels the edges cut through."""
    points = [np.round((polygon - offset - 0.5) * 16).astype(np.int32)]
    cv2.fillPoly(mask, points, 255, lineType=cv2.LINE_8, shift=4)
    cv2.polylines(mask, points, True, 255, 1, lineType=cv2.LINE_8, shift=4)


def _hide_face(out: np.ndarray, face, config: AnonymizeConfig, levels: float) -> None:
    box = face.box
    roll = face_roll(face.landmarks)
    outline = _outline(box, config.region_scale, roll, config.shape)
    region = (*outline.min(0), *outline.max(0))
    x0, y0, x1, y1 = _clip(region, out.shape[:2])
    if x1 <= x0 or y1 <= y0:
        return  # wholly outside the image
    roi = out[y0:y1, x0:x1]  # a view: writing to it writes to out, clipped to the region
    if config.method == 'fill':
        hidden = np.empty_like(roi)
        hidden[:] = _fill_value(out, config)
    else:
        hidden = _hidden_pixels(roi, (region[2] - region[0], region[3] - region[1]), config)
        # Judged on the face box itself: the margin around it is hair and background.
        bx0, by0, bx1, by1 = (v - o for v, o in zip(_clip(hidden_region(box, 1.0),
                                                           out.shape[:2]), (x0, y0, x0, y0)))
        if _detail_survives(roi[by0:by1, bx0:bx1], hidden[by0:by1, bx0:bx1], levels):
            hidden = _flattened(hidden)
    invalid = invalid_pixels(roi)
    if invalid is not None:  # holes stay holes: hiding never adds or removes invalid values
        np.copyto(hidden, roi, where=invalid)
    if config.shape == 'box' and roll == 0:
        roi[:] = hidden
        return
    mask = np.zeros(roi.shape[:2], np.uint8)
    _fill_polygon(mask, outline, (x0, y0))
    # The face box itself, turned with the face: ellipse rounding never leaves a corner out.
    _fill_polygon(mask, _outline(box, 1.0, roll, 'box'), (x0, y0))
    inside = mask.astype(bool)
    np.copyto(roi, hidden, where=inside[..., None] if roi.ndim == 3 else inside)


def _area(face) -> float:
    _, _, w, h = face_box(face.box)  # ValueError for a box that is not usable, as below
    return w * h


def anonymize(image: np.ndarray, faces, config: AnonymizeConfig,
              span: tuple | None = None) -> np.ndarray:
    """A copy of image with every face's region hidden; image itself is left as it was.

    image is a camera's own pixels, HxW or HxWxC of any numeric type (grey, colour, 16-bit,
    float), so the anonymized stream keeps its encoding. Faces partly or wholly outside the
    image are handled. ValueError for an image that is not an image or a face box that is not
    finite (failsafe.safe_anonymize then masks the frame). span: the frame's
    image_codec.view_range when already computed (CameraImage.view_range), else it is.
    """
    _check_image(image)
    out = image.copy()
    levels = levels_per_unit(image, span) if faces and config.method != 'fill' else 0.0
    # Largest first: a face's own hiding is the last to touch it, so a big region around it
    # (a false box, or the same face from a turned scan) never undoes a flattening.
    for face in sorted(faces, key=_area, reverse=True):
        _hide_face(out, face, config, levels)
    return out


def mask_whole_frame(image: np.ndarray, config: AnonymizeConfig) -> np.ndarray:
    """The fail-closed output: a frame like image in solid fill (see _fill_value)."""
    _check_image(image)
    out = np.empty_like(image)
    out[:] = _fill_value(image, config)
    return out
