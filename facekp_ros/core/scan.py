"""Where a detector looks in an image: a main pass over the whole image at a bounded working
size, and a tiled pass at a larger scale for small faces; their candidates merged by NMS.

A detector needs only candidates(bgr, scale, threshold) -> Candidates in bgr's pixels.
"""
import math
from dataclasses import dataclass, replace

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
ZOOM_MIN = 1.05  # a small-face pass any closer to the main pass finds nothing more
NATIVE_ZOOM_MAX = 2.0  # up_to_native: a 4K image's second pass sees it at 2/3 of its size
# Faces rolled up to UPRIGHT_REACH degrees are found in a view (RetinaFace, 200 faces68/test
# photos turned whole: no face left visible at 30 degrees, 10 % at 45); views ROLL_VIEW_STEP
# apart leave no roll further than that from one of them.
UPRIGHT_REACH, ROLL_VIEW_STEP = 30, 60


@dataclass
class Candidates:
    """Faces a detector proposes, before merging: boxes (N, 4) x, y, w, h; scores (N,);
    landmarks (N, 5, 2), or (N, 0, 2) for detectors without them; turned (N,) bool: found
    in a turned view (None: none was)."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray
    turned: np.ndarray | None = None

    @property
    def from_turned_view(self) -> np.ndarray:
        return self.turned if self.turned is not None else np.zeros(len(self.scores), bool)

    @classmethod
    def join(cls, parts: list) -> 'Candidates':
        if not parts:
            return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                       np.zeros((0, 0, 2), np.float32))
        points = max(p.landmarks.shape[1] for p in parts)
        landmarks = [p.landmarks if p.landmarks.shape[1] == points else
                     np.full((len(p.scores), points, 2), np.nan, np.float32) for p in parts]
        turned = np.concatenate([p.from_turned_view for p in parts]) \
            if any(p.turned is not None for p in parts) else None
        return cls(np.concatenate([p.boxes for p in parts]),
                   np.concatenate([p.scores for p in parts]), np.concatenate(landmarks), turned)

    def mapped(self, affine: np.ndarray) -> 'Candidates':
        """These candidates, found in a turned (and maybe resized) view, in the pixels of the
        image it was made from (affine: 2x3, view px -> image px). With landmarks a box keeps
        its shape in the face's own frame, scaled to image px and centred on the face (the
        landmarks give its roll, see anonymize.face_roll); without them it becomes the
        upright box around its corners."""
        linear, offset = affine[:, :2].astype(np.float32), affine[:, 2].astype(np.float32)
        landmarks = self.landmarks @ linear.T + offset
        x, y, w, h = self.boxes.T
        size = float(np.sqrt(abs(np.linalg.det(linear))))  # image px per view px
        if self.landmarks.shape[1] and not np.isnan(self.landmarks).all():
            centres = np.stack([x + w / 2, y + h / 2], 1) @ linear.T + offset
            w, h = w * size, h * size
            boxes = np.stack([centres[:, 0] - w / 2, centres[:, 1] - h / 2, w, h], 1)
        else:
            corners = np.stack([np.stack([x, y], 1), np.stack([x + w, y], 1),
                                np.stack([x, y + h], 1), np.stack([x + w, y + h], 1)], 1)
            corners = corners @ linear.T + offset
            low, high = corners.min(1), corners.max(1)
            boxes = np.concatenate([low, high - low], 1)
        return Candidates(boxes.astype(np.float32), self.scores, landmarks.astype(np.float32),
                          np.ones(len(self.scores), bool))

    def shifted(self, dx: float, dy: float) -> 'Candidates':
        offset = np.array([dx, dy], np.float32)
        return Candidates(self.boxes + np.r_[offset, 0, 0], self.scores, self.landmarks + offset,
                          self.turned)

    def select(self, keep) -> 'Candidates':
        return Candidates(self.boxes[keep], self.scores[keep], self.landmarks[keep],
                          None if self.turned is None else self.turned[keep])

    def merged(self, nms_threshold: float, min_size: float) -> 'Candidates':
        """Boxes of at least min_size px per side, overlapping ones (IoU > nms_threshold)
        merged into the best-scoring one; best first. (Preferring the upright view's box
        over a turned view's left 8.5 % of 200 photos turned 90 degrees visible: the upright
        view still sees such faces, weakly, with boxes that miss them.)"""
        big = np.flatnonzero(self.boxes[:, 2:].min(1) >= min_size) if len(self.scores) \
            else np.zeros(0, int)
        kept = cv2.dnn.NMSBoxes(self.boxes[big].tolist(), self.scores[big].tolist(), 0.0,
                                nms_threshold) if len(big) else []
        chosen = big[np.asarray(kept, int).reshape(-1)]
        chosen = chosen[np.argsort(-self.scores[chosen], kind='stable')]
        return self.select(_not_inside_better(self.boxes, chosen))

    def faces(self) -> list:
        return [Face(box=b, score=float(s), landmarks=p)
                for b, s, p in zip(self.boxes, self.scores, self.landmarks)]


# A candidate this much inside a better one is part of that face (a turned view's box on its
# eyes or mouth): hidden again at finer cells, it would only add seams to its blur.
INSIDE_SHARE = 0.8


def _not_inside_better(boxes: np.ndarray, order: np.ndarray) -> np.ndarray:
    """order (best first) without the boxes lying INSIDE_SHARE or more inside a better one."""
    kept = []
    for index in order:
        x, y, w, h = boxes[index]
        area = max(float(w * h), 1e-6)
        inside = any(max(0.0, min(x + w, bx + bw) - max(x, bx))
                     * max(0.0, min(y + h, by + bh) - max(y, by)) >= INSIDE_SHARE * area
                     for bx, by, bw, bh in boxes[kept])
        if not inside:
            kept.append(index)
    return np.asarray(kept, int)


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
    than working_size costs nothing more. The facekp commands' default.
    roll_coverage: faces rolled by up to this many degrees either way are looked for: the
    image is also scanned turned by multiples of ROLL_VIEW_STEP (roll_views), each view at
    roll_scale times the upright scan's scale. A view costs about one scan at its scale, a
    view off the quarter turns up to twice that (its canvas holds the whole turned image)."""

    input_scale: float = 1.0
    working_size: int = 1280
    small_face_zoom: float = 0.0
    tile_size: int = 2048
    up_to_native: bool = False
    roll_coverage: float = 0.0
    roll_scale: float = 1.0

    @property
    def roll_views(self) -> tuple:
        """The angles (degrees, counter-clockwise) the image is scanned at: 0, then +-60,
        +-120 and 180 as far as roll_coverage needs (each view finds faces within
        UPRIGHT_REACH of it)."""
        views = [0.0]
        for turn in range(ROLL_VIEW_STEP, 181, ROLL_VIEW_STEP):
            if turn - UPRIGHT_REACH < self.roll_coverage:
                views += [float(turn)] if turn == 180 else [float(turn), float(-turn)]
        return tuple(views)

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
        if zoom > ZOOM_MIN:
            reach = SMALL_PASS_REACH * RELIABLE_FACE_PX / main
            passes += [(scale, tile, reach)
                       for tile in _tiles(image_hw, scale, self.tile_size, reach)]
        return passes

    def view_plan(self, degrees: float, image_hw) -> 'ScanPlan':
        """The plan a view turned by degrees is scanned with: at roll_scale times the
        upright scan's scale, its canvas corners not counted against working_size (they
        would shrink the view below the image's own scale, and call the small-face pass)."""
        if degrees % 360 == 0:
            return self
        stretch = max(turned_size(image_hw, degrees)) / max(image_hw)
        return replace(self, input_scale=self.input_scale * self.roll_scale,
                       working_size=round(self.working_size * stretch))

    def network_pixels(self, image_hw) -> int:
        """Pixels the network processes per image: what the scan's time is proportional to."""
        total = 0
        for degrees in self.roll_views:
            plan = self.view_plan(degrees, image_hw)
            turned_hw = turned_size(image_hw, degrees)
            total += sum(round((x1 - x0) * s) * round((y1 - y0) * s)
                         for s, (x0, y0, x1, y1), _ in plan.passes(turned_hw))
        return total


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


_QUARTER_TURNS = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180,
                  270: cv2.ROTATE_90_CLOCKWISE}


def _turn(image_hw, degrees: float, scale: float = 1.0) -> tuple:
    """(2x3 forward map, (height, width)) of an image turned counter-clockwise by degrees
    and resized by scale onto a canvas that holds all of it."""
    height, width = image_hw
    forward = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), degrees, scale)
    cos, sin = abs(forward[0, 0]), abs(forward[0, 1])
    turned_w = max(1, round(height * sin + width * cos))
    turned_h = max(1, round(height * cos + width * sin))
    forward[:, 2] += [(turned_w - 1) / 2 - (width - 1) / 2, (turned_h - 1) / 2 - (height - 1) / 2]
    return forward, (turned_h, turned_w)


def turned_size(image_hw, degrees: float) -> tuple:
    return _turn(image_hw, degrees)[1]


def turned_view(bgr: np.ndarray, degrees: float, scale: float = 1.0) -> tuple:
    """(view, affine): bgr turned counter-clockwise by degrees (and resized by scale) on a
    canvas that holds all of it, and the 2x3 map from view pixels back to bgr's. Quarter
    turns at scale 1 are exact copies."""
    forward, (turned_h, turned_w) = _turn(bgr.shape[:2], degrees, scale)
    quarter = _QUARTER_TURNS.get(round(degrees) % 360) \
        if degrees == round(degrees) and scale == 1.0 else None
    if quarter is not None:
        view = cv2.rotate(bgr, quarter)
    else:
        view = cv2.warpAffine(bgr, forward, (turned_w, turned_h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
    return view, cv2.invertAffineTransform(forward)


def _scan_view(detector, bgr: np.ndarray, plan: ScanPlan, threshold: float) -> Candidates:
    parts = []
    for scale, (x0, y0, x1, y1), largest in plan.passes(bgr.shape[:2]):
        found = detector.candidates(bgr[y0:y1, x0:x1], scale, threshold)
        if largest < math.inf:
            found = found.select(found.boxes[:, 2:].max(1) <= largest)
        parts.append(found.shifted(x0, y0) if x0 or y0 else found)
    return Candidates.join(parts)


def scan(detector, bgr: np.ndarray, plan: ScanPlan, threshold: float,
         map_views=map) -> Candidates:
    """Every candidate above threshold from every pass of plan, on the upright image and on
    each of plan's turned views, in bgr's pixels (unmerged). map_views(function, views)
    scans the views: map (one after the other) or a thread pool's map (side by side)."""
    def scan_view(degrees: float) -> Candidates:
        if degrees % 360 == 0:
            return _scan_view(detector, bgr, plan, threshold)
        view_plan = plan.view_plan(degrees, bgr.shape[:2])
        return _scan_turned(detector, bgr, view_plan, degrees, threshold)

    views = plan.roll_views
    # One view is scanned on the caller's thread: a hop to a pool's thread would only cost.
    return Candidates.join(list((map_views if len(views) > 1 else map)(scan_view, views)))


def _scan_turned(detector, bgr: np.ndarray, plan: ScanPlan, degrees: float,
                 threshold: float) -> Candidates:
    turned_hw = turned_size(bgr.shape[:2], degrees)
    scale = plan.main_scale(turned_hw)
    if scale < 1 and plan.zoom(turned_hw) <= ZOOM_MIN and degrees % 90:
        # One pass on a smaller view: turning and shrinking in one warp costs a fraction
        # of turning the whole image and shrinking it after.
        view, to_image = turned_view(bgr, degrees, scale)
        return detector.candidates(view, 1.0, threshold).mapped(to_image)
    view, to_image = turned_view(bgr, degrees)
    return _scan_view(detector, view, plan, threshold).mapped(to_image)
