"""Seed step 4: hide every face (blur, pixelate or fill), and mask a whole frame."""
from dataclasses import dataclass

import cv2
import numpy as np

METHODS = ('blur', 'pixelate', 'fill')
SHAPES = ('box', 'ellipse')
# Cells across the hidden region at strength 1: few enough that no detector finds a face
# (measured with RetinaFace at score 0.5: 8 pixelation cells still left 26% of faces found).
CELLS_AT_STRENGTH_1 = {'blur': 5, 'pixelate': 3}
SQRT2 = 2 ** 0.5


@dataclass(frozen=True)
class AnonymizeConfig:
    method: str = 'blur'
    shape: str = 'box'
    margin_scale: float = 1.3  # hidden region / face box, around its centre
    strength: float = 1.0  # higher: coarser blur / bigger pixels
    fill_bgr: tuple = (0, 0, 0)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method {self.method!r}: use one of {', '.join(METHODS)}")
        if self.shape not in SHAPES:
            raise ValueError(f"shape {self.shape!r}: use one of {', '.join(SHAPES)}")
        if not 1.0 <= self.margin_scale <= 3.0:
            raise ValueError(f'margin_scale={self.margin_scale} must be in [1, 3]')
        if not 0.25 <= self.strength <= 4.0:
            raise ValueError(f'strength={self.strength} must be in [0.25, 4]')


def hidden_region(box, margin_scale: float, image_hw) -> tuple:
    """Integer (x0, y0, x1, y1) of the enlarged box, clipped to the image (may be empty)."""
    x, y, w, h = (float(v) for v in box)
    cx, cy = x + w / 2, y + h / 2
    half_w, half_h = w * margin_scale / 2, h * margin_scale / 2
    x0, y0 = max(int(np.floor(cx - half_w)), 0), max(int(np.floor(cy - half_h)), 0)
    x1 = min(int(np.ceil(cx + half_w)), image_hw[1])
    y1 = min(int(np.ceil(cy + half_h)), image_hw[0])
    return x0, y0, x1, y1


def _hide(roi: np.ndarray, config: AnonymizeConfig) -> np.ndarray:
    if config.method == 'fill':
        return np.full_like(roi, config.fill_bgr)
    h, w = roi.shape[:2]
    cells = max(2, round(CELLS_AT_STRENGTH_1[config.method] / config.strength))
    small = cv2.resize(roi, (min(cells, w), min(cells, h)), interpolation=cv2.INTER_AREA)
    if config.method == 'pixelate':
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    # Blur: the face averaged down to a few cells, then spread smoothly back out.
    small = cv2.GaussianBlur(small, (3, 3), 0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def region_scale(config: AnonymizeConfig) -> float:
    """An ellipse must reach sqrt(2) x the box to contain its corners; never hide less."""
    return max(config.margin_scale, SQRT2) if config.shape == 'ellipse' else config.margin_scale


def anonymize(bgr: np.ndarray, faces, config: AnonymizeConfig) -> np.ndarray:
    """A copy of bgr with every face's enlarged region hidden (always the whole box)."""
    out = bgr.copy()
    scale = region_scale(config)
    for face in faces:
        x0, y0, x1, y1 = hidden_region(face.box, scale, bgr.shape)
        if x1 <= x0 or y1 <= y0:
            continue
        roi = out[y0:y1, x0:x1]
        hidden = _hide(roi, config)
        if config.shape == 'ellipse':
            mask = np.zeros(roi.shape[:2], np.uint8)
            # The ellipse of the full (unclipped) region, so clipped faces stay covered.
            x, y, w, h = (float(v) for v in face.box)
            centre = (round(x + w / 2 - x0), round(y + h / 2 - y0))
            axes = (int(np.ceil(w * scale / 2)), int(np.ceil(h * scale / 2)))
            cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1)
            hidden = np.where(mask[..., None] > 0, hidden, roi)
        out[y0:y1, x0:x1] = hidden
    return out


def mask_whole_frame(bgr: np.ndarray, config: AnonymizeConfig) -> np.ndarray:
    """The fail-closed output: a solid frame of fill_bgr, same size, revealing nothing."""
    return np.full_like(bgr, config.fill_bgr)
