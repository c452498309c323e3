"""Training data: faces68 (68 points) and Kaggle Facial Keypoints (15 points) samples.

A sample is an image, its keypoints (K, 2) in pixels (NaN where missing) and a face box
(x, y, w, h). For faces68 the box is what the runtime detector finds, so training crops
are built exactly as run-time crops (facekp_ros.core.keypoints.crop_matrix).
"""
import csv
import json
import pathlib
import re

import cv2
import numpy as np

from facekp_ros.core.keypoint_names import flip_permutation68
from facekp_ros.core.keypoints import crop_matrix, eye_line_angle

# Kaggle's 15 points from the 68: (name, 68-point indices averaged). Kaggle's "left" is the
# subject's left (image right), the same convention as our names.
KAGGLE15_FROM_68 = (
    ('left_eye_center', range(42, 48)), ('right_eye_center', range(36, 42)),
    ('left_eye_inner_corner', (42,)), ('left_eye_outer_corner', (45,)),
    ('right_eye_inner_corner', (39,)), ('right_eye_outer_corner', (36,)),
    ('left_eyebrow_inner_end', (22,)), ('left_eyebrow_outer_end', (26,)),
    ('right_eyebrow_inner_end', (21,)), ('right_eyebrow_outer_end', (17,)),
    ('nose_tip', (30,)), ('mouth_left_corner', (54,)), ('mouth_right_corner', (48,)),
    ('mouth_center_top_lip', (51,)), ('mouth_center_bottom_lip', (57,)),
)
KAGGLE15_NAMES = tuple(name for name, _ in KAGGLE15_FROM_68)


def kaggle15_from_68(points68: np.ndarray) -> np.ndarray:
    """(..., 68, 2) -> (..., 15, 2) by the documented mapping."""
    return np.stack([points68[..., list(idx), :].mean(-2) for _, idx in KAGGLE15_FROM_68], -2)


def kaggle_flip_permutation() -> list:
    swap = {'left': 'right', 'right': 'left'}
    flipped = ['_'.join(swap.get(w, w) for w in n.split('_')) for n in KAGGLE15_NAMES]
    return [KAGGLE15_NAMES.index(n) for n in flipped]


def read_faces68(csv_path: pathlib.Path, limit: int = 0) -> tuple:
    """Image paths and (N, 68, 2) keypoints from a faces68 CSV."""
    paths, points = [], []
    with open(csv_path, newline='') as f:
        rows = csv.reader(f)
        next(rows)
        for row in rows:
            paths.append(csv_path.parent / csv_path.stem / row[0])
            points.append(np.array(row[1:], np.float32).reshape(68, 2))
            if limit and len(paths) >= limit:
                break
    return paths, np.stack(points)


def read_kaggle(csv_path: pathlib.Path, limit: int = 0) -> tuple:
    """Kaggle training.csv: (N, 96, 96, 3) uint8 images and (N, 15, 2) points, NaN = missing."""
    images, points = [], []
    with open(csv_path, newline='') as f:
        for row in csv.DictReader(f):
            pixels = np.array(row['Image'].split(), np.uint8).reshape(96, 96)
            images.append(cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR))
            coords = [[float(row[f'{n}_{a}']) if row[f'{n}_{a}'] else np.nan for a in 'xy']
                      for n in KAGGLE15_NAMES]
            points.append(np.array(coords, np.float32))
            if limit and len(images) >= limit:
                break
    return np.stack(images), np.stack(points)


# The identity-disjoint split: faces68's file names carry the person (Name_Surname_NN.jpg) and
# all 312 test people are also in train, so faces68/test measures new frames of known people.
# HELDOUT_FRACTION of the people of train and test together (seeded, so the same for every
# run and model) are kept out of training; all their images form the 'heldout' split.
HELDOUT_FRACTION, SPLIT_SEED = 0.2, 0
# The CSVs each split draws from ('all-train': faces68/train with the held-out people too).
SPLITS = {'train': ('train',), 'test': ('test',), 'heldout': ('train', 'test'),
          'all-train': ('train',)}
CACHE = pathlib.Path(__file__).resolve().parent / 'cache'


def person(image_name: str) -> str:
    """'Kristen_Breitweiser_11.jpg' -> 'Kristen_Breitweiser'."""
    return re.sub(r'_\d+\.\w+$', '', image_name)


def heldout_people(data: pathlib.Path) -> set:
    """The people held out from training: a seeded draw over the sorted names of train+test."""
    people = sorted({person(p.name) for part in ('train', 'test')
                     for p in read_faces68(data / 'faces68' / f'{part}.csv')[0]})
    rng = np.random.default_rng(SPLIT_SEED)
    chosen = rng.choice(len(people), round(HELDOUT_FRACTION * len(people)), replace=False)
    return {people[i] for i in chosen}


def load_split(data: pathlib.Path, split: str, limit: int = 0) -> tuple:
    """Image paths, (N, 68, 2) points and (N, 4) detector boxes of one split.

    'train': faces68/train without the held-out people; 'test': faces68/test as it is (500
    images); 'heldout': every image of the held-out people, from train and test.
    """
    if split not in SPLITS:
        raise ValueError(f'unknown split {split!r}: use one of {", ".join(SPLITS)}')
    held = heldout_people(data)
    keep = {'train': lambda name: name not in held, 'heldout': lambda name: name in held,
            'test': lambda name: True, 'all-train': lambda name: True}[split]
    rows = [(path, pts) for part in SPLITS[split]
            for path, pts in zip(*read_faces68(data / 'faces68' / f'{part}.csv'))
            if keep(person(path.name))]
    rows = rows[:limit] if limit else rows
    paths, points = [path for path, _ in rows], np.stack([pts for _, pts in rows])
    return paths, points, detector_boxes(paths, points,
                                         CACHE / f'boxes_{split}_{len(paths)}.json')


def box_from_points(points: np.ndarray) -> np.ndarray:
    """A detector-like box from keypoints, for faces the detector misses (documented)."""
    x0, y0 = np.nanmin(points, 0)
    x1, y1 = np.nanmax(points, 0)
    w, h = x1 - x0, y1 - y0
    # RetinaFace boxes start near the brows and end at the chin, about the points' extent.
    return np.array([x0, y0 - 0.05 * h, w, 1.05 * h], np.float32)


def load_landmarks(data: pathlib.Path, split: str, limit: int = 0) -> np.ndarray:
    """(N, 5, 2) the detector's 5 landmarks of load_split's faces (NaN where the detector
    missed the face), for crops turned upright by the eye line."""
    paths, points, _ = load_split(data, split, limit)
    return detector_boxes(paths, points, CACHE / f'boxes_{split}_{len(paths)}.json',
                          landmarks=True)


def crop_angles(data: pathlib.Path, split: str, upright: bool, limit: int = 0) -> np.ndarray:
    """(N,) the turns (radians) of load_split's crops: the detector's eye line when upright
    (crop_rotation 'eye_line'), else 0."""
    if upright:
        return np.array([eye_line_angle(p) for p in load_landmarks(data, split, limit)])
    return np.zeros(len(load_split(data, split, limit)[0]))


def labelled_face(faces: list, points: np.ndarray):
    """Of a detector's faces, the best-scored one whose box holds the labelled points' centre
    (None if none does): the face the labels describe."""
    centre = np.nanmean(points, 0)
    inside = [f for f in faces if f.box[0] <= centre[0] <= f.box[0] + f.box[2]
              and f.box[1] <= centre[1] <= f.box[1] + f.box[3]]
    return max(inside, key=lambda f: f.score) if inside else None


def detector_boxes(paths, points, cache_file: pathlib.Path,
                   landmarks: bool = False) -> np.ndarray:
    """For each image, the stock detector's box that best covers its keypoints (cached). The
    keypoint models were trained and measured on these crops; the shipped detector's boxes
    follow the same convention (see facekp_ros/models/DETECTOR_CARD.md). landmarks: that
    face's 5 landmarks (N, 5, 2) instead, NaN where the detector missed it."""
    key = 'landmarks' if landmarks else 'boxes'
    if cache_file.is_file():
        cached = json.loads(cache_file.read_text())
        if cached['images'] == [p.name for p in paths] and key in cached:
            return np.array(cached[key], np.float32)
    from facekp_ros.core.retinaface import STOCK_MODEL, RetinaFaceDetector

    detector = RetinaFaceDetector(model_path=STOCK_MODEL, score_threshold=0.5, min_face_size=8)
    boxes, points5, misses = [], [], 0
    for path, pts in zip(paths, points):
        best = labelled_face(detector.detect(cv2.imread(str(path))), pts)
        if best is not None:
            boxes.append(best.box)
            points5.append(best.landmarks if len(best.landmarks) == 5
                           else np.full((5, 2), np.nan))
        else:
            misses += 1
            boxes.append(box_from_points(pts))
            points5.append(np.full((5, 2), np.nan))
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    found = {'boxes': np.array(boxes).tolist(),
             'landmarks': np.where(np.isnan(points5), None, np.array(points5)).tolist()}
    cache_file.write_text(json.dumps({'images': [p.name for p in paths], 'misses': misses,
                                      **found}))
    return np.array(np.array(found[key], dtype=float), np.float32)


class CropSampler:
    """Builds (input crop, normalised points) pairs, with keypoint-preserving augmentation."""

    def __init__(self, input_size: int, crop_scale: float, crop_shift_y: float, flip_perm,
                 augment: bool, rng: np.random.Generator, strength: float = 1.0,
                 occlude: float = 0.0, flip: float = 0.5):
        """strength scales every random change (1: rotation sd 10 deg, scale sd 8 %, ...);
        occlude: the chance of a random block hiding part of the face; flip: the chance of a
        mirrored crop (with the points renamed)."""
        self.size, self.crop_scale, self.crop_shift_y = input_size, crop_scale, crop_shift_y
        self.flip_perm, self.augment, self.rng = flip_perm, augment, rng
        self.strength, self.occlude, self.flip = strength, occlude, flip

    def _jittered_matrix(self, box, angle: float) -> np.ndarray:
        m = crop_matrix(box, self.size, self.crop_scale, self.crop_shift_y, angle)
        if not self.augment:
            return m
        r, k = self.rng, self.strength
        angle = r.normal(0, 10 * k)
        scale = np.exp(r.normal(0, 0.08 * k))
        shift = r.normal(0, 0.04 * k, 2) * self.size  # the detector box's own jitter
        centre = (self.size / 2, self.size / 2)
        jitter = cv2.getRotationMatrix2D(centre, angle, scale)
        jitter[:, 2] += shift
        return (np.vstack([jitter, [0, 0, 1]]) @ np.vstack([m, [0, 0, 1]]))[:2]

    def _photometric(self, crop: np.ndarray) -> np.ndarray:
        r, k = self.rng, self.strength
        out = crop.astype(np.float32) * np.exp(r.normal(0, 0.2 * k)) + r.normal(0, 20 * k)
        out = out * np.exp(r.normal(0, 0.05 * k, 3)).astype(np.float32)  # colour cast
        if r.random() < 0.2 * k:
            out = cv2.cvtColor(cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8),
                                            cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        if r.random() < 0.3 * k:
            out = cv2.GaussianBlur(out, (0, 0), r.uniform(0.5, 1.5))
        return np.clip(out, 0, 255).astype(np.uint8)

    def _occluder(self, crop: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Paints a block of flat colour or noise over part of the face (centred on a random
        point); returns which points it covers."""
        r, size = self.rng, self.size
        centre = pts[r.integers(len(pts))]
        half = r.uniform(0.08, 0.25, 2) * size
        x0, y0 = np.clip(centre - half, 0, size).astype(int)
        x1, y1 = np.clip(centre + half, 0, size).astype(int)
        if r.random() < 0.5:
            crop[y0:y1, x0:x1] = r.integers(0, 256, 3)
        else:
            crop[y0:y1, x0:x1] = r.integers(0, 256, (y1 - y0, x1 - x0, 3))
        return ((pts[:, 0] >= x0) & (pts[:, 0] < x1) & (pts[:, 1] >= y0) & (pts[:, 1] < y1))

    def sample(self, image: np.ndarray, points: np.ndarray, box, angle: float = 0.0) -> tuple:
        """(crop, points in [0, 1] of the crop, visible): visible is False for points
        outside the crop or under an occluder. angle: the crop's turn (crop_matrix)."""
        m = self._jittered_matrix(box, angle)
        crop = cv2.warpAffine(image, m, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        pts = points @ m[:, :2].T + m[:, 2]
        if self.augment and self.rng.random() < self.flip:
            crop = crop[:, ::-1]
            pts = pts[self.flip_perm].copy()
            pts[:, 0] = self.size - 1 - pts[:, 0]  # pixel centres mirror around (size-1)/2
        crop = np.ascontiguousarray(crop)
        visible = ((pts >= 0) & (pts < self.size)).all(1)
        if self.augment and self.rng.random() < self.occlude:
            visible &= ~self._occluder(crop, pts)
        if self.augment:
            crop = self._photometric(crop)
        return crop, (pts / self.size).astype(np.float32), visible


def flip_perm_for(num_points: int) -> list:
    return flip_permutation68() if num_points == 68 else kaggle_flip_permutation()
