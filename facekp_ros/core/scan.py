"""Where a detector looks in an image: a main pass over the whole image at a bounded working
size, and a tiled pass at a larger scale for small faces; their candidates merged by NMS.

A detector needs only candidates(bgr, scale, threshold) -> Candidates in bgr's pixels.
"""
import math
from dataclasses import dataclass

import cv2
import numpy as np

from facekp_ros.core.types import Face

# Faces narrower than this at the network's input are found unreliably by RetinaFace
# mobilenet0.25 (measured on 24-64 px faces: 2-3 % missed at scale 1, none at scale 2).
RELIABLE_FACE_PX = 48
# The small-face pass is for faces the main pass may miss: up to this many times what the
# main pass finds reliably. Its tiles overlap by that much, so each lies whole in a tile, and
# its bigger detections (parts of big faces cut by a tile edge) are dropped.
SMALL_PASS_REACH = 1.5
NATIVE_ZOOM_MAX = 2.0  # up_to_native: a 4K image's second pass sees it at 2/3 of its size


@dataclass
class Candidates:
    """Faces a detector proposes, before merging: boxes (N, 4) x, y, w, h; scores (N,);
    landmarks (N, 5, 2), or (N, 0, 2) for detectors without them."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    @classmethod
    def join(cls, parts: list) -> 'Candidates':
        if not parts:
            return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                       np.zeros((0, 0, 2), np.float32))
        points = max(p.landmarks.shape[1] for p in parts)
        landmarks = [p.landmarks if p.landmarks.shape[1] == points else
                     np.full((len(p.scores), points, 2), np.nan, np.float32) for p in parts]
        return cls(np.concatenate([p.boxes for p in parts]),
                   np.concatenate([p.scores for p in parts]), np.concatenate(landmarks))

    def shifted(self, dx: float, dy: float) -> 'Candidates':
        offset = np.array([dx, dy], np.float32)
        return Candidates(self.boxes + np.r_[offset, 0, 0], self.scores, self.landmarks + offset)

    def select(self, keep) -> 'Candidates':
        return Candidates(self.boxes[keep], self.scores[keep], self.landmarks[keep])

    def merged(self, nms_threshold: float, min_size: float) -> 'Candidates':
        """Boxes of at least min_size px per side, overlapping ones (IoU > nms_threshold)
        merged into the best-scoring one; best first."""
        big = np.flatnonzero(self.boxes[:, 2:].min(1) >= min_size) if len(self.scores) \
            else np.zeros(0, int)
        kept = cv2.dnn.NMSBoxes(self.boxes[big].tolist(), self.scores[big].tolist(), 0.0,
                                nms_threshold) if len(big) else []
        chosen = big[np.asarray(kept, int).reshape(-1)]
        return self.select(chosen[np.argsort(-self.scores[chosen], kind='stable')])

    def faces(self) -> list:
        return [Face(box=b, score=float(s), landmarks=p)
                for b, s, p in zip(self.boxes, self.scores, self.landmarks)]


@dataclass(frozen=True)
class ScanPlan:
    """input_scale: the main pass sees the image resized by this (0.5 is ~3x faster, for
    faces above ~40 px), but never larger than working_size px on its long side.
    small_face_zoom: when above 1, a second pass sees the image this many times larger than
    the main pass, in tiles of at most tile_size network px, for the faces too small for the
    main pass; it costs about zoom squared times the main pass. 0 = off.
    up_to_native: the second pass also runs when the main pass saw the image scaled down
    (bigger than working_size), at up to the image's own size (at most NATIVE_ZOOM_MAX times
    the main pass): what the scaling-down lost is looked for again, and an image no bigger
    than working_size costs nothing more. The facekp commands' default."""

    input_scale: float = 1.0
    working_size: int = 1280
    small_face_zoom: float = 0.0
    tile_size: int = 2048
    up_to_native: bool = False

    def zoom(self, image_hw) -> float:
        """How many times larger than the main pass the small-face pass sees this image."""
        native = 1.0 / self.main_scale(image_hw) if self.up_to_native else 0.0
        return max(self.small_face_zoom, min(native, NATIVE_ZOOM_MAX))

    def main_scale(self, image_hw) -> float:
        return min(self.input_scale, self.working_size / max(image_hw))

    def passes(self, image_hw) -> list:
        """[(scale, (x0, y0, x1, y1), largest face side kept in image px)]: the regions of
        the image each pass looks at."""
        height, width = image_hw
        main = self.main_scale(image_hw)
        passes = [(main, (0, 0, width, height), math.inf)]
        zoom = self.zoom(image_hw)
        scale = main * zoom
        if zoom > 1.05:
            reach = SMALL_PASS_REACH * RELIABLE_FACE_PX / main
            passes += [(scale, tile, reach)
                       for tile in _tiles(image_hw, scale, self.tile_size, reach)]
        return passes

    def network_pixels(self, image_hw) -> int:
        """Pixels the network processes per image: what the scan's time is proportional to."""
        return sum(round((x1 - x0) * s) * round((y1 - y0) * s)
                   for s, (x0, y0, x1, y1), _ in self.passes(image_hw))


def _tiles(image_hw, scale: float, tile_size: int, overlap: float) -> list:
    """Tiles covering the image, each at most tile_size px once scaled, overlapping by
    overlap image px."""
    height, width = image_hw
    side = max(tile_size / scale, 2 * overlap)  # image px per tile
    tiles = []
    for y0, y1 in _spans(height, side, overlap):
        for x0, x1 in _spans(width, side, overlap):
            tiles.append((x0, y0, x1, y1))
    return tiles


def _spans(length: int, side: float, overlap: float) -> list:
    """As few [start, end) spans of at most side px as cover length with neighbours
    overlapping by overlap px, all of one size."""
    if length <= side:
        return [(0, length)]
    count = math.ceil((length - overlap) / (side - overlap))
    size = (length + (count - 1) * overlap) / count
    step = size - overlap
    return [(round(i * step), min(length, round(i * step + size))) for i in range(count)]


def scan(detector, bgr: np.ndarray, plan: ScanPlan, threshold: float) -> Candidates:
    """Every candidate above threshold from every pass of plan, in bgr's pixels (unmerged)."""
    parts = []
    for scale, (x0, y0, x1, y1), largest in plan.passes(bgr.shape[:2]):
        found = detector.candidates(bgr[y0:y1, x0:x1], scale, threshold)
        if largest < math.inf:
            found = found.select(found.boxes[:, 2:].max(1) <= largest)
        parts.append(found.shifted(x0, y0) if x0 or y0 else found)
    return Candidates.join(parts)
