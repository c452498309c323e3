"""Synthetic training frames made on the fly from faces68/train: small, dark, grey, IR-like
and 16-bit-stretched faces on varied backgrounds, with RetinaFace-convention labels.

Faces are pasted as hard rectangles, feathered rectangles and feathered ellipses, and
face-free patches are pasted the same ways, so "a pasted rectangle" never tells face from
background. A background that is itself a faces68 image keeps its face labelled (positive
when sharp enough, ignored when heavily blurred).
"""
import dataclasses

import cv2
import numpy as np

from facekp_ros.core.keypoint_names import flip_permutation68
from training.detector.labels import five_points

FLIP68 = flip_permutation68()
MIN_LABELLED = 8.0  # px: smaller boxes are ignored (neither face nor background)
BLUR_IGNORED = 0.04  # background blur sigma / face width beyond which its face is ignored


@dataclasses.dataclass
class Sample:
    bgr: np.ndarray  # (S, S, 3) uint8
    boxes: np.ndarray  # (M, 4) x0, y0, x1, y1 of faces to find
    landmarks: np.ndarray  # (M, 5, 2)
    ignored: np.ndarray  # (K, 4) faces that are neither targets nor background


class FrameSynth:
    """sample(size) -> Sample. images: BGR arrays; points: (N, 68, 2); box_map: BoxMap.
    occlusion: share of pasted faces partly covered (a hand, a shoulder, a hat, a scarf)."""

    def __init__(self, images, points, box_map, rng: np.random.Generator,
                 occlusion: float = 0.0):
        self.images, self.points, self.box_map, self.rng = images, points, box_map, rng
        self.occlusion = occlusion

    # --- sources -------------------------------------------------------------------------
    def _random_image(self):
        i = int(self.rng.integers(len(self.images)))
        return self.images[i], self.points[i]

    def _face_width(self, size: int) -> float:
        r = self.rng
        if r.random() < 0.65:  # the sizes that leak: oversampled
            return float(r.uniform(14, 70))
        return float(np.exp(r.uniform(np.log(12), np.log(min(400, 0.85 * size)))))

    def _background(self, size: int) -> tuple:
        """(canvas, labelled face points or None, blur sigma)."""
        r = self.rng
        kind = r.choice(['image', 'blocks', 'gradient', 'tiles'], p=[0.5, 0.2, 0.15, 0.15])
        image, points = self._random_image()
        if kind == 'image':
            w = int(r.uniform(size, 2.2 * size))
            h = int(w * r.uniform(0.6, 1.3))
            h = max(h, size)
            sx, sy = w / image.shape[1], h / image.shape[0]
            big = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
            sigma = float(r.choice([0.0, r.uniform(0.5, 3), r.uniform(3, 14)], p=[.2, .2, .6]))
            x, y = int(r.integers(0, w - size + 1)), int(r.integers(0, h - size + 1))
            canvas = big[y:y + size, x:x + size]
            if sigma > 0:
                canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
            return np.ascontiguousarray(canvas), points * (sx, sy) - (x, y), sigma
        if kind == 'blocks':
            return self._blocks(image, size), None, 0.0
        if kind == 'tiles':
            return self._tiles(size), None, 0.0
        return self._gradient(size), None, 0.0

    def _blocks(self, image, size: int) -> np.ndarray:
        r = self.rng
        block = int(r.integers(12, 72))
        cells = -(-size // block)
        big = cv2.resize(image, (cells * block, cells * block))
        tiles = big.reshape(cells, block, cells, block, 3).swapaxes(1, 2).reshape(-1, block,
                                                                               block, 3)
        tiles = tiles[r.permutation(len(tiles))].reshape(cells, cells, block, block, 3)
        canvas = tiles.swapaxes(1, 2).reshape(cells * block, cells * block, 3)[:size, :size]
        return cv2.GaussianBlur(np.ascontiguousarray(canvas), (0, 0), r.uniform(0.3, 2.0))

    def _tiles(self, size: int) -> np.ndarray:
        """Face-free corners of faces68 images (hair, walls, clothes), tiled."""
        r = self.rng
        canvas = np.zeros((size, size, 3), np.uint8)
        step = int(r.integers(48, 160))
        for y in range(0, size, step):
            for x in range(0, size, step):
                canvas[y:y + step, x:x + step] = cv2.resize(self._non_face_patch(),
                                                            (step, step))[:size - y, :size - x]
        return canvas

    def _gradient(self, size: int) -> np.ndarray:
        r = self.rng
        ramp = np.linspace(0, 1, size, dtype=np.float32)
        a, b = r.uniform(0, 255, 3), r.uniform(0, 255, 3)
        angle = r.uniform(0, np.pi)
        t = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
        t = (t - t.min()) / max(np.ptp(t), 1e-6)
        canvas = a + (b - a) * t[..., None]
        canvas += r.normal(0, r.uniform(2, 25), (size, size, 1))
        for _ in range(int(r.integers(0, 8))):  # a few shapes so edges exist
            colour = r.uniform(0, 255, 3).tolist()
            p, q = r.integers(0, size, 2), r.integers(0, size, 2)
            if r.random() < 0.5:
                cv2.rectangle(canvas, tuple(map(int, p)), tuple(map(int, q)), colour, -1)
            else:
                cv2.circle(canvas, tuple(map(int, p)), int(r.integers(4, size // 4)), colour, -1)
        return np.clip(canvas, 0, 255).astype(np.uint8)

    def _non_face_patch(self) -> np.ndarray:
        """A crop of a faces68 image that avoids its face (keypoint box grown 1.3x)."""
        r = self.rng
        for _ in range(20):
            image, points = self._random_image()
            h, w = image.shape[:2]
            x0, y0 = points.min(0)
            x1, y1 = points.max(0)
            pad = 0.15 * (x1 - x0)
            side = int(r.integers(16, max(17, min(h, w) // 2)))
            x, y = int(r.integers(0, w - side + 1)), int(r.integers(0, h - side + 1))
            if x + side < x0 - pad or x > x1 + pad or y + side < y0 - pad or y > y1 + pad:
                return image[y:y + side, x:x + side]
        return self._gradient(32)

    # --- pasting -------------------------------------------------------------------------
    def _face_patch(self, width: float) -> tuple:
        """(patch, its 68 points) scaled so the points span width px, maybe mirrored."""
        r = self.rng
        image, points = self._random_image()
        h, w = image.shape[:2]
        if r.random() < 0.4:
            x0, y0, x1, y1 = 0, 0, w, h  # the whole loosely cropped image, as a camera crop
        else:
            low, high = points.min(0), points.max(0)
            grow = (high - low) * r.uniform(0.1, 0.7, 4).reshape(2, 2)
            x0, y0 = np.maximum(low - grow[0], 0).astype(int)
            x1, y1 = np.minimum(high + grow[1], (w, h)).astype(int) + 1
        patch, points = image[y0:y1, x0:x1], points - (x0, y0)
        if r.random() < 0.5:
            patch = patch[:, ::-1]
            points = points[FLIP68].copy()
            points[:, 0] = patch.shape[1] - 1 - points[:, 0]
        scale = width / max(np.ptp(points[:, 0]), 1.0)
        size = (max(1, round(patch.shape[1] * scale)), max(1, round(patch.shape[0] * scale)))
        small = cv2.resize(np.ascontiguousarray(patch), size,
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        return self._photometric(small), points * (size[0] / patch.shape[1],
                                                   size[1] / patch.shape[0])

    def _occluded(self, patch: np.ndarray, box) -> np.ndarray:
        """patch with one side of its face covered by face-free texture, at most about half
        of the box and never both eyes: still a face to hide (WIDER FACE boxes such faces
        at their full extent, so the label stays the whole box)."""
        r = self.rng
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        side = r.choice(['lower', 'left', 'right', 'top'], p=[0.4, 0.25, 0.25, 0.1])
        cover = r.uniform(0.3, 0.55)
        if side == 'lower':  # hand, scarf, shoulder: from below the eyes down
            region = (x0 - 0.3 * w, y1 - cover * h, x1 + 0.3 * w, y1 + 0.5 * h)
        elif side == 'top':  # hat, hair, a raised arm: down to the brows
            region = (x0 - 0.3 * w, y0 - 0.5 * h, x1 + 0.3 * w, y0 + 0.6 * cover * h)
        elif side == 'left':
            region = (x0 - 0.5 * w, y0 - 0.3 * h, x0 + cover * w, y1 + 0.5 * h)
        else:
            region = (x1 - cover * w, y0 - 0.3 * h, x1 + 0.5 * w, y1 + 0.5 * h)
        ph, pw = patch.shape[:2]
        rx0, ry0 = (max(0, int(v)) for v in region[:2])
        rx1, ry1 = min(pw, int(region[2])), min(ph, int(region[3]))
        if rx1 - rx0 < 2 or ry1 - ry0 < 2:
            return patch
        texture = self._non_face_patch() if r.random() < 0.7 else self._gradient(
            max(32, rx1 - rx0, ry1 - ry0))
        texture = self._photometric(cv2.resize(texture, (rx1 - rx0, ry1 - ry0)))
        a = self._alpha((ry1 - ry0, rx1 - rx0))[..., None]
        out = patch.copy()
        region = out[ry0:ry1, rx0:rx1].astype(np.float32)
        out[ry0:ry1, rx0:rx1] = (region * (1 - a) + texture * a + 0.5).astype(np.uint8)
        return out

    def _photometric(self, patch: np.ndarray) -> np.ndarray:
        """A pasted face lit unlike its background: gain, offset, colour cast, soft focus."""
        r = self.rng
        out = patch.astype(np.float32) * np.exp(r.normal(0, 0.25)) + r.normal(0, 15)
        out *= np.exp(r.normal(0, 0.06, 3)).astype(np.float32)
        if r.random() < 0.3:
            out = cv2.GaussianBlur(out, (0, 0), r.uniform(0.4, 1.3))
        return np.clip(out, 0, 255).astype(np.uint8)

    def _alpha(self, shape, face_box=None) -> np.ndarray:
        """Blend mask: hard rectangle, feathered rectangle or feathered ellipse."""
        r = self.rng
        h, w = shape
        kind = r.choice(['hard', 'feather', 'ellipse'], p=[0.45, 0.25, 0.3])
        alpha = np.ones((h, w), np.float32)
        if kind == 'hard':
            return alpha
        feather = max(0.6, r.uniform(0.04, 0.15) * min(h, w))
        if kind == 'ellipse':
            alpha[:] = 0
            if face_box is None:
                centre, axes = (w / 2, h / 2), (w / 2 * 0.9, h / 2 * 0.9)
            else:  # must hold the whole face box
                x0, y0, x1, y1 = face_box
                centre = ((x0 + x1) / 2, (y0 + y1) / 2)
                grow = r.uniform(0.75, 1.0)
                axes = ((x1 - x0) * grow, (y1 - y0) * grow)
            cv2.ellipse(alpha, (round(centre[0]), round(centre[1])),
                        (max(1, round(axes[0])), max(1, round(axes[1]))), 0, 0, 360, 1.0, -1)
        else:
            border = max(1, round(feather))
            alpha[:border], alpha[-border:], alpha[:, :border], alpha[:, -border:] = 0, 0, 0, 0
        return cv2.GaussianBlur(alpha, (0, 0), feather / 2)

    @staticmethod
    def _blend(canvas, patch, alpha, x, y) -> None:
        """Alpha-blends patch at (x, y), clipped to the canvas."""
        size = canvas.shape[0]
        h, w = patch.shape[:2]
        cx0, cy0, cx1, cy1 = max(x, 0), max(y, 0), min(x + w, size), min(y + h, size)
        if cx1 <= cx0 or cy1 <= cy0:
            return
        sub = (slice(cy0 - y, cy1 - y), slice(cx0 - x, cx1 - x))
        a = alpha[sub][..., None]
        region = canvas[cy0:cy1, cx0:cx1].astype(np.float32)
        canvas[cy0:cy1, cx0:cx1] = (region * (1 - a) + patch[sub] * a + 0.5).astype(np.uint8)

    def _place(self, size, w, h, taken, outside=0.25):
        """A top-left corner whose rectangle overlaps no taken face box, or None."""
        r = self.rng
        for _ in range(30):
            x = int(r.integers(-int(outside * w), max(1, size - int((1 - outside) * w))))
            y = int(r.integers(-int(outside * h), max(1, size - int((1 - outside) * h))))
            if all(x + w <= t[0] or x >= t[2] or y + h <= t[1] or y >= t[3] for t in taken):
                return x, y
        return None

    # --- the frame -----------------------------------------------------------------------
    def sample(self, size: int = 384) -> Sample:
        r = self.rng
        canvas, bg_points, bg_sigma = self._background(size)
        faces, ignored, taken = [], [], []
        if bg_points is not None:
            box = self.box_map.boxes(bg_points)[0]
            width = box[2] - box[0]
            if bg_sigma / max(width, 1) > BLUR_IGNORED:
                ignored.append(box)
            else:
                faces.append((box, five_points(bg_points)))
            taken.append(box)  # pastes never cover it: its label stays true
        count = int(r.choice([0, 1, 2, 3, 4, 6], p=[0.12, 0.3, 0.22, 0.16, 0.12, 0.08]))
        for _ in range(count):
            patch, points = self._face_patch(self._face_width(size))
            box = self.box_map.boxes(points)[0]
            h, w = patch.shape[:2]
            corner = self._place(size, w, h, taken)
            if corner is None:
                continue
            x, y = corner
            if r.random() < self.occlusion:
                patch = self._occluded(patch, box)
            self._blend(canvas, patch, self._alpha((h, w), box), x, y)
            box = box + (x, y, x, y)
            taken.append((x, y, x + w, y + h))
            faces.append((box, five_points(points + (x, y))))
        for _ in range(int(r.integers(0, 4))):  # face-free pastes, composited the same ways
            patch = self._non_face_patch() if r.random() < 0.6 else self._blocks(
                self._random_image()[0], int(r.integers(24, 160)))
            side = int(r.integers(16, 160))
            patch = cv2.resize(patch, (side, int(side * r.uniform(0.7, 1.4))))
            corner = self._place(size, patch.shape[1], patch.shape[0], taken)
            if corner is not None:
                self._blend(canvas, self._photometric(patch), self._alpha(patch.shape[:2]),
                            *corner)
        canvas = degrade(canvas, r)
        return self._labels(canvas, faces, ignored)

    @staticmethod
    def _labels(canvas, faces, ignored) -> Sample:
        size = canvas.shape[0]
        boxes, landmarks, skip = [], [], list(ignored)
        for box, five in faces:
            inside = np.clip(box, 0, size)
            visible = np.prod(inside[2:] - inside[:2]) / max(np.prod(box[2:] - box[:2]), 1e-6)
            if min(box[2:] - box[:2]) < MIN_LABELLED or visible < 0.6:
                skip.append(box)
            else:
                boxes.append(box)
                landmarks.append(five)
        return Sample(canvas, np.array(boxes, np.float32).reshape(-1, 4),
                      np.array(landmarks, np.float32).reshape(-1, 5, 2),
                      np.array(skip, np.float32).reshape(-1, 4))


# --- degradations: what cameras do to a frame ----------------------------------------------
def degrade(bgr: np.ndarray, rng) -> np.ndarray:
    r = rng
    out = bgr.astype(np.float32)
    if r.random() < 0.2:
        out = cv2.GaussianBlur(out, (0, 0), r.uniform(0.5, 1.6))
    if r.random() < 0.15:
        out = motion_blur(out, int(r.integers(5, 14)), r.uniform(0, 180) if r.random() < 0.5
                          else 0.0)
    exposure = r.random()
    if exposure < 0.3:  # dark: gamma then gain, as a dim scene
        out = 255 * (np.clip(out, 0, 255) / 255) ** r.uniform(1.4, 2.6) * r.uniform(0.3, 0.9)
    elif exposure < 0.4:
        out = 255 * (np.clip(out, 0, 255) / 255) ** (1 / r.uniform(1.3, 2.2))
    elif exposure < 0.55:  # flat contrast
        mean = out.mean()
        out = mean + (out - mean) * r.uniform(0.3, 0.7)
    if r.random() < 0.3:
        out += r.normal(0, r.uniform(3, 22), out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if r.random() < 0.25:
        out = cv2.imdecode(cv2.imencode('.jpg', out, [cv2.IMWRITE_JPEG_QUALITY,
                                                      int(r.integers(35, 96))])[1], 1)
    mode = r.choice(['colour', 'grey', 'ir', 'wide'], p=[0.4, 0.3, 0.12, 0.18])
    if mode == 'colour':
        return out
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
    if mode == 'ir':
        contrast = r.uniform(0.2, 0.55)
        grey = grey * contrast + r.uniform(40, 255 * (1 - contrast))
        grey = np.clip(grey + r.normal(0, r.uniform(0, 4), grey.shape), 0, 255)
    elif mode == 'wide':
        grey = wide_stretched(grey, r)
    return cv2.cvtColor(grey.astype(np.uint8), cv2.COLOR_GRAY2BGR)


def motion_blur(image: np.ndarray, length: int, angle_deg: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2] = 1.0 / length
    rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle_deg, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (length, length))
    return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))


def wide_stretched(grey: np.ndarray, rng) -> np.ndarray:
    """A 10-16-bit sensor's frame, then stretched by its own range back to 8 bits: offsets,
    sensor noise, the odd hot pixel or glare that compresses the rest."""
    r = rng
    bits = int(r.choice([10, 12, 14, 16]))
    full = 2 ** bits - 1
    wide = grey.astype(np.float32) * (full / 255) * r.uniform(0.2, 1.0) + r.uniform(0, 0.2) * full
    wide += r.normal(0, r.uniform(0, 0.01) * full, wide.shape)
    if r.random() < 0.3:  # a few hot pixels or a glare spot
        ys, xs = r.integers(0, grey.shape[0], 6), r.integers(0, grey.shape[1], 6)
        wide[ys, xs] = full
    wide = np.clip(wide, 0, full)
    low, high = (wide.min(), wide.max()) if r.random() < 0.6 else np.percentile(wide, [0.5, 99.5])
    return np.clip((wide - low) * (255 / max(high - low, 1)), 0, 255)
