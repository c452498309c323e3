"""Seeded frames that find anonymization's weak spots, and the rule that scores them.

Follows ../shared/notes/privacy-scoring.md. A frame is 640x480: a heavily blurred faces68
image as background, with one (or several) faces68 faces pasted at 24-64 px keypoint width,
then one degradation (none, Gaussian noise, dark gamma, horizontal motion blur, JPEG q 85).
Each frame is rendered in every encoding a camera may send (colour, grey, 16-bit, IR-like,
JPEG-compressed). Face-free frames (shuffled blocks of faces68 images) measure false masks.
Nothing is written to disk here; frames are made from the shared data each time.
"""
import csv
import dataclasses
import pathlib

import cv2
import numpy as np

FRAME_HW = (480, 640)
FACE_WIDTHS = (24, 64)  # px, keypoint extent
DEGRADATIONS = ('none', 'noise', 'dark', 'motion', 'jpeg')
# encoding name -> (ROS encoding, is_bigendian, compressed format or '')
ENCODINGS = {
    'colour': ('bgr8', 0, ''),
    'grey': ('mono8', 0, ''),
    'mono16': ('mono16', 0, ''),  # full 16-bit range
    '16UC1-12bit-BE': ('16UC1', 1, ''),  # a 12-bit sensor in 16 bits, big-endian
    'IR-like': ('mono8', 0, ''),  # grey, low contrast, bright
    'jpeg': ('', 0, 'jpeg'),  # sensor_msgs/CompressedImage
}


@dataclasses.dataclass
class LabelledFrame:
    name: str
    degradation: str
    bgr: np.ndarray  # uint8 colour frame after degradation: every encoding starts from it
    faces: list  # (68, 2) float32 keypoints per pasted face


def read_labels(data: pathlib.Path, split: str) -> list:
    """[(image path, (68, 2) points)] of faces68/<split>."""
    with open(data / 'faces68' / f'{split}.csv', newline='') as f:
        rows = list(csv.reader(f))[1:]
    return [(data / 'faces68' / split / row[0], np.array(row[1:], np.float32).reshape(68, 2))
            for row in rows]


def _background(image: np.ndarray, rng, frame_hw=FRAME_HW) -> np.ndarray:
    frame = cv2.resize(image, frame_hw[::-1], interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(frame, (0, 0), float(rng.uniform(6, 12)))


def _turned(small: np.ndarray, points: np.ndarray, degrees: float) -> tuple:
    """(patch, mask, points): small turned by degrees on a canvas that holds it; mask marks
    the turned image (the canvas corners show the frame behind)."""
    h, w = small.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    size = (int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin)))
    turn[:, 2] += [(size[0] - w) / 2, (size[1] - h) / 2]
    patch = cv2.warpAffine(small, turn, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.ones((h, w), np.uint8), turn, size, flags=cv2.INTER_NEAREST)
    return patch, mask.astype(bool), points @ turn[:, :2].T + turn[:, 2]


def _paste(frame, image, points, width, taken, rng, max_roll: float = 0.0):
    """Pastes image scaled so its keypoints span width px (and turned by a roll of up to
    max_roll degrees either way); returns the moved points or None when no free place was
    found."""
    extent = np.ptp(points[:, 0])
    scale = width / max(extent, 1.0)
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    points = points * scale
    mask = None
    if max_roll:
        small, mask, points = _turned(small, points, float(rng.uniform(-max_roll, max_roll)))
    h, w = small.shape[:2]
    frame_h, frame_w = frame.shape[:2]
    if h >= frame_h or w >= frame_w:
        return None
    for _ in range(50):
        x, y = int(rng.integers(0, frame_w - w)), int(rng.integers(0, frame_h - h))
        box = (x, y, x + w, y + h)
        if all(box[2] <= t[0] or box[0] >= t[2] or box[3] <= t[1] or box[1] >= t[3]
               for t in taken):
            if mask is None:
                frame[y:y + h, x:x + w] = small
            else:
                frame[y:y + h, x:x + w][mask] = small[mask]
            taken.append(box)
            return (points + (x, y)).astype(np.float32)
    return None


def degrade(bgr: np.ndarray, kind: str, rng) -> np.ndarray:
    if kind == 'noise':
        return np.clip(bgr + rng.normal(0, 18, bgr.shape), 0, 255).astype(np.uint8)
    if kind == 'dark':
        return (255 * (bgr / 255.0) ** 2.2 * 0.6).astype(np.uint8)
    if kind == 'motion':
        return cv2.filter2D(bgr, -1, np.full((1, 9), 1 / 9, np.float32))
    if kind == 'jpeg':
        return cv2.imdecode(cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])[1], 1)
    return bgr


def face_frames(data: pathlib.Path, split: str = 'test', count: int = 300,
                faces_per_frame=(1, 1), seed: int = 0, prefix: str = 'one',
                frame_hw=FRAME_HW, widths=FACE_WIDTHS, max_roll: float = 0.0) -> list:
    """count seeded frames of frame_hw with faces_per_frame (min, max) small faces each, of
    keypoint widths in widths px, rolled by up to max_roll degrees either way."""
    labels = read_labels(data, split)
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(count):
        background = cv2.imread(str(labels[int(rng.integers(len(labels)))][0]))
        frame = _background(background, rng, frame_hw)
        faces, taken = [], []
        for _ in range(int(rng.integers(faces_per_frame[0], faces_per_frame[1] + 1))):
            path, points = labels[int(rng.integers(len(labels)))]
            moved = _paste(frame, cv2.imread(str(path)), points,
                           float(rng.uniform(*widths)), taken, rng, max_roll)
            if moved is not None:
                faces.append(moved)
        kind = DEGRADATIONS[index % len(DEGRADATIONS)]
        frames.append(LabelledFrame(f'{prefix}{index:04d}', kind, degrade(frame, kind, rng),
                                    faces))
    return frames


def empty_frames(data: pathlib.Path, split: str = 'test', count: int = 60,
                 seed: int = 1) -> list:
    """Face-free frames: 40 px blocks of faces68 images in random order (natural texture,
    no face survives the shuffle), lightly blurred, degraded like the face frames."""
    labels = read_labels(data, split)
    rng = np.random.default_rng(seed)
    block = 40
    frames = []
    for index in range(count):
        image = cv2.resize(cv2.imread(str(labels[int(rng.integers(len(labels)))][0])),
                           FRAME_HW[::-1])
        blocks = [image[y:y + block, x:x + block] for y in range(0, FRAME_HW[0], block)
                  for x in range(0, FRAME_HW[1], block)]
        order = rng.permutation(len(blocks))
        per_row = FRAME_HW[1] // block
        rows = [np.hstack([blocks[i] for i in order[r:r + per_row]])
                for r in range(0, len(blocks), per_row)]
        frame = cv2.GaussianBlur(np.vstack(rows), (3, 3), 0)
        kind = DEGRADATIONS[index % len(DEGRADATIONS)]
        frames.append(LabelledFrame(f'empty{index:04d}', kind, degrade(frame, kind, rng), []))
    return frames


def render(bgr: np.ndarray, encoding: str) -> np.ndarray:
    """The frame's pixels as that camera would send them (native byte order)."""
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    if encoding == 'colour' or encoding == 'jpeg':
        return bgr
    if encoding == 'grey':
        return grey
    if encoding == 'mono16':
        return grey.astype(np.uint16) * 257
    if encoding == '16UC1-12bit-BE':
        return grey.astype(np.uint16) * 16
    if encoding == 'IR-like':
        return (grey * 0.35 + 120).astype(np.uint8)
    raise ValueError(f'unknown encoding {encoding!r}')


def grey_levels(pixels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """pixels as float grey levels of 8 bits: uint8 as it is; wider types mapped by the
    reference (input) frame's 0.1-99.9 % range onto 0-255, the same map for input and output."""
    values = pixels.astype(np.float32)
    if reference.dtype == np.uint8:
        return values
    low, high = np.percentile(reference, [0.1, 99.9])
    return (values - low) * (255.0 / max(high - low, 1e-6))


@dataclasses.dataclass
class FaceScore:
    hidden: bool
    covered: float
    changed8: float
    detail: float
    flat: bool


def score_face(inp: np.ndarray, out: np.ndarray, points: np.ndarray,
               lossy: bool = False) -> FaceScore:
    """The note's rule on one labelled face. inp and out: float grey levels (grey_levels),
    HxW or HxWxC, decoded the same way."""
    centre = points.mean(0)
    hull = cv2.convexHull(((points - centre) * 1.1 + centre).astype(np.int32))
    region = np.zeros(inp.shape[:2], np.uint8)
    cv2.fillConvexPoly(region, hull, 1)
    inside = region.astype(bool)
    if not inside.any():  # wholly outside the frame: nothing to show
        return FaceScore(True, 1.0, 1.0, 0.0, True)
    diff = np.abs(out - inp)
    diff = diff.max(-1) if diff.ndim == 3 else diff
    modified = (diff > 6 if lossy else diff >= 1).astype(np.uint8)
    modified = cv2.morphologyEx(modified, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    covered = float(modified[inside].mean())
    changed8 = float((diff > 8)[inside].mean())
    grey_in = inp.mean(-1) if inp.ndim == 3 else inp
    grey_out = out.mean(-1) if out.ndim == 3 else out
    interior = inside & cv2.erode(modified, np.ones((7, 7), np.uint8)).astype(bool)
    detail = 1.0
    if interior.any():
        lap_in = np.abs(cv2.Laplacian(grey_in.astype(np.float32), cv2.CV_32F))[interior].mean()
        lap_out = np.abs(cv2.Laplacian(grey_out.astype(np.float32), cv2.CV_32F))[interior].mean()
        detail = float(lap_out / max(lap_in, 1e-6))
    flat = float(grey_out[inside].std()) <= 1.0
    hidden = flat or (covered >= 0.9 and (changed8 >= 0.9 or detail <= 0.35))
    return FaceScore(hidden, covered, changed8, detail, flat)


def modified_share(inp: np.ndarray, out: np.ndarray, lossy: bool = False) -> float:
    """Share of the frame's pixels that the output changed (false masks on face-free frames)."""
    diff = np.abs(out - inp)
    diff = diff.max(-1) if diff.ndim == 3 else diff
    return float((diff > 6 if lossy else diff >= 1).mean())


def fully_masked(out: np.ndarray) -> bool:
    return float(out.std()) <= 1.0
