"""Anonymization hides every face from people and from independent detectors, touches
nothing else, copes with any box."""
import cv2
import numpy as np
import pytest
from images import faces68_test_image

from facekp_ros.core.anonymize import (
    AnonymizeConfig,
    anonymize,
    box_is_usable,
    hidden_region,
    mask_whole_frame,
)
from facekp_ros.core.retinaface import RetinaFaceDetector
from facekp_ros.core.tracking import iou_matrix
from facekp_ros.core.types import Face

FACES68_INDICES = (0, 7, 42, 100, 250)
CASCADE = cv2.CascadeClassifier(cv2.data.haarcascades + 'haarcascade_frontalface_default.xml')


def haar_boxes(bgr) -> np.ndarray:
    boxes = CASCADE.detectMultiScale(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 1.1, 5)
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def found(boxes, face_box) -> bool:
    return bool(len(boxes)) and bool((iou_matrix(boxes, face_box[None]) > 0.3).any())


def keypoint_face(points) -> Face:
    """The face as its 68 annotated points span it: a box no detector of ours chose."""
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    return Face(box=(x0, y0, x1 - x0, y1 - y0), score=1.0)


def outside_mask(shape, face, config) -> np.ndarray:
    """True where anonymize may not change a pixel (outside the clipped hidden region)."""
    x0, y0, x1, y1 = hidden_region(face.box, config.region_scale)
    keep = np.ones(shape[:2], bool)
    keep[max(int(np.floor(y0)), 0):max(int(np.ceil(y1)), 0),
         max(int(np.floor(x0)), 0):max(int(np.ceil(x1)), 0)] = False
    return keep


@pytest.fixture(scope='module')
def retinaface():
    return RetinaFaceDetector(score_threshold=0.5)


@pytest.fixture(scope='module')
def real_faces(data):
    """faces68 test images in which the Haar cascade finds the annotated face."""
    pairs = []
    for index in FACES68_INDICES:
        image, points = faces68_test_image(data, index)
        face = keypoint_face(points)
        if found(haar_boxes(image), face.box):
            pairs.append((image, face))
    assert len(pairs) >= 3, 'the Haar cascade should find most faces68 test faces'
    return pairs


@pytest.mark.parametrize('method', ['blur', 'pixelate', 'fill'])
@pytest.mark.parametrize('shape', ['box', 'ellipse'])
def test_a_real_face_is_hidden_from_haar_and_nothing_else_changes(real_faces, method, shape):
    config = AnonymizeConfig(method=method, shape=shape)
    for image, face in real_faces:
        original = image.copy()
        out = anonymize(image, [face], config)
        assert np.array_equal(image, original), 'the input must not be modified'
        assert out.shape == image.shape and out.dtype == image.dtype
        assert not np.shares_memory(out, image)
        assert not found(haar_boxes(out), face.box)
        x, y, w, h = face.box.astype(int)
        change = np.abs(out[y:y + h, x:x + w].astype(int) - image[y:y + h, x:x + w]).mean()
        assert change > 12, f'face region changed by only {change:.1f} grey levels'
        keep = outside_mask(image.shape, face, config)
        assert np.array_equal(out[keep], image[keep])


@pytest.mark.parametrize('scene', ['obamas.jpg', 'the_beatles.jpg'])
def test_every_face_of_a_group_photo_is_hidden_from_both_detectors(data, retinaface, scene):
    image = cv2.imread(str(data / 'scenes' / scene))
    scale = min(1.0, 640 / max(image.shape[:2]))
    image = cv2.resize(image, None, fx=scale, fy=scale)
    faces = retinaface.detect(image)
    before = haar_boxes(image)
    assert len(faces) >= 2 and sum(found(before, f.box) for f in faces) >= 2
    out = anonymize(image, faces, AnonymizeConfig())
    after = haar_boxes(out)
    assert not any(found(after, f.box) for f in faces)
    assert retinaface.detect(out) == []


def test_the_hidden_face_holds_no_detail(real_faces):
    """Blur leaves smooth shading (no edges of eyes, nose, mouth); pixelation a few cells."""
    for image, face in real_faces:
        x, y, w, h = face.box.astype(int)
        blurred = anonymize(image, [face], AnonymizeConfig(method='blur'))[y:y + h, x:x + w]
        edges = [np.abs(cv2.Laplacian(cv2.cvtColor(i, cv2.COLOR_BGR2GRAY), cv2.CV_32F)).mean()
                 for i in (blurred, image[y:y + h, x:x + w])]
        assert edges[0] < 0.2 * edges[1]  # what is left is rounding to whole grey levels
        pixelated = anonymize(image, [face], AnonymizeConfig(method='pixelate'))
        colours = np.unique(pixelated[y:y + h, x:x + w].reshape(-1, 3), axis=0)
        assert len(colours) <= 16  # 3 x 3 cells over the region, so at most 4 x 4 in the box


def test_a_low_contrast_face_is_flattened_not_left_faint(real_faces):
    """An infrared-like 8-bit face (its grey at 0.3 x the contrast) barely changes under a
    blur, and the blur's rounding to whole grey levels keeps a share of its little detail:
    it is flattened to its mean instead. (Wider types keep the blur's fractions: no rounding
    to hide behind, and their contrast is judged on the frame's own range.)"""
    image, face = real_faces[0]
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    faint = cv2.blur(grey * 0.3 + 120, (9, 1)).astype(np.uint8)  # and motion-blurred
    x, y, w, h = face.box.astype(int)
    out = anonymize(faint, [face], AnonymizeConfig())
    assert np.ptp(out[y:y + h, x:x + w]) == 0  # one value: nothing to stretch back
    sharp = anonymize(image, [face], AnonymizeConfig())[y:y + h, x:x + w]
    assert len(np.unique(sharp.reshape(-1, 3), axis=0)) > 50  # a normal face keeps its blur


def test_a_bigger_region_over_a_face_never_undoes_its_flattening(real_faces):
    """Regions are hidden largest first: a big box around a flattened face (a false box, or
    the same face seen by a turned scan), listed after it, leaves it flat."""
    image, face = real_faces[0]
    x, y, w, h = face.box.astype(int)
    faint = image.copy()  # a faint face in a frame of normal contrast
    faint[y:y + h, x:x + w] = faint[y:y + h, x:x + w] // 4 + 100
    around = Face(box=(x - w // 2, y - h // 3, 2 * w, 2 * h), score=0.4)
    for faces in ([face, around], [around, face]):
        out = anonymize(faint, faces, AnonymizeConfig())
        assert (out[y:y + h, x:x + w] == out[y, x]).all()  # one colour


def test_ellipse_always_covers_the_whole_face_box():
    image = np.random.default_rng(0).integers(0, 255, (240, 260, 3), np.uint8)
    config = AnonymizeConfig(method='fill', shape='ellipse', margin_scale=1.0,
                             fill_bgr=(1, 2, 3))
    for box in ((50, 40, 100, 120), (10.6, 20.3, 33.3, 7.7), (-20.5, -5, 61, 80), (3, 3, 2, 2)):
        out = anonymize(image, [Face(box=box, score=1.0)], config)
        x0, y0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
        x1, y1 = int(np.ceil(box[0] + box[2])), int(np.ceil(box[1] + box[3]))
        assert (out[y0:y1, x0:x1] == (1, 2, 3)).all(), box
        assert not (out == (1, 2, 3)).all(-1).all(), 'an ellipse, not the whole frame'


def test_faces_outside_partly_outside_tiny_huge_and_negative_are_all_handled():
    image = np.full((100, 120, 3), 200, np.uint8)
    boxes = {'top left, partly out': (-30, -30, 60, 60), 'bottom right': (110, 90, 40, 40),
             'tiny': (50, 50, 1, 1), 'empty': (70, 20, 0, 0), 'far outside': (500, 500, 9, 9),
             'negative size': (80, 60, -20, -20)}
    for method in ('blur', 'pixelate', 'fill'):
        out = anonymize(image, [Face(box=b, score=1.0) for b in boxes.values()],
                        AnonymizeConfig(method=method, fill_bgr=(0, 0, 0)))
        assert out.shape == image.shape
    out = anonymize(image, [Face(box=b, score=1.0) for b in boxes.values()],
                    AnonymizeConfig(method='fill'))
    assert (out[0:10, 0:10] == 0).all() and (out[95:, 115:] == 0).all()
    assert (out[45:55, 65:75] == 0).all(), 'a negative size still marks the span it covers'
    huge = anonymize(image, [Face(box=(-1000, -900, 5000, 4000), score=1.0)],
                     AnonymizeConfig(method='fill', shape='ellipse'))
    assert (huge == 0).all()


def test_a_face_cut_by_the_image_edge_is_hidden_as_coarsely_as_a_whole_one():
    image = np.random.default_rng(1).integers(0, 255, (120, 120, 3), np.uint8)
    config = AnonymizeConfig(method='pixelate', margin_scale=1.0)  # 3 x 3 cells at strength 1
    whole = anonymize(image, [Face(box=(10, 10, 90, 90), score=1.0)], config)[10:100, 10:100]
    cut = anonymize(image, [Face(box=(-45, 10, 90, 90), score=1.0)], config)[10:100, 0:45]
    assert len(np.unique(whole.reshape(-1, 3), axis=0)) == 9
    assert len(np.unique(cut.reshape(-1, 3), axis=0)) <= 6  # half the width: <= 2 x 3 cells


def test_higher_strength_is_coarser():
    rng = np.random.default_rng(2)
    coarse = rng.integers(0, 255, (7, 7, 3), np.uint8)
    blobs = cv2.resize(coarse, (140, 140), interpolation=cv2.INTER_CUBIC)  # large blobs
    image = np.clip(blobs + rng.normal(0, 12, blobs.shape), 0, 255).astype(np.uint8)
    face = Face(box=(10, 10, 120, 120), score=1.0)
    cells = [len(np.unique(anonymize(image, [face], AnonymizeConfig(
        method='pixelate', strength=s, margin_scale=1.0))[10:130, 10:130].reshape(-1, 3), axis=0))
        for s in (1.0, 1.5, 4.0)]
    assert cells == [9, 4, 1]
    detail = [np.abs(np.diff(anonymize(image, [face], AnonymizeConfig(strength=s))[
        10:130, 10:130].astype(int), axis=1)).mean() for s in (1.0, 2.0, 4.0)]
    assert detail[0] > detail[1] > detail[2]


def test_the_whole_frame_mask_reveals_nothing(real_faces):
    image, face = real_faces[0]
    original = image.copy()
    for colour in ((0, 0, 0), (40, 80, 120)):
        out = mask_whole_frame(image, AnonymizeConfig(fill_bgr=colour))
        assert out.shape == image.shape and out.dtype == image.dtype
        assert (out == colour).all(-1).all()
        assert len(haar_boxes(out)) == 0
    assert np.array_equal(image, original)


@pytest.mark.parametrize('dtype, channels', [
    (np.uint8, 0), (np.uint8, 4), (np.uint16, 0), (np.uint16, 3), (np.int8, 0), (np.int16, 1),
    (np.int32, 0), (np.float32, 0), (np.float64, 3), (np.uint8, 5)])
@pytest.mark.parametrize('method', ['blur', 'pixelate', 'fill'])
@pytest.mark.parametrize('shape', ['box', 'ellipse'])
def test_every_encoding_is_hidden_in_its_own_pixels(dtype, channels, method, shape):
    """Grey, 16-bit, signed, float and many-channel images keep their type and layout."""
    rng = np.random.default_rng(1)
    size = (60, 80) if channels == 0 else (60, 80, channels)
    image = (rng.integers(0, 100, size) * (3 if dtype == np.uint16 else 1)).astype(dtype)
    out = anonymize(image, [Face(box=(20, 15, 30, 30), score=1.0)],
                    AnonymizeConfig(method=method, shape=shape))
    assert out.dtype == image.dtype and out.shape == image.shape
    face = (slice(17, 43), slice(22, 48))
    assert not np.array_equal(out[face], image[face])
    assert np.array_equal(out[:5], image[:5]) and np.array_equal(out[:, :5], image[:, :5])
    if method == 'fill' and not (dtype == np.uint8 and channels in (3, 4)):
        assert (out[face] == 0).all()
    masked = mask_whole_frame(image, AnonymizeConfig())
    assert masked.dtype == image.dtype and masked.shape == image.shape
    assert (masked == masked[0, 0]).all()  # one solid value per channel


def test_float_images_with_nan_are_hidden_too():
    image = np.random.default_rng(2).normal(0, 1, (60, 80)).astype(np.float32)
    image[30, 30] = np.nan
    out = anonymize(image, [Face(box=(20, 15, 30, 30), score=1.0)], AnonymizeConfig())
    assert not np.allclose(out[20:40, 25:45], image[20:40, 25:45], equal_nan=True)


def test_bad_images_and_boxes_raise_clear_errors():
    for bad in (np.zeros(10, np.uint8), np.zeros((4, 4), bool), 'image'):
        with pytest.raises(ValueError, match='HxW or HxWxC numeric image'):
            anonymize(bad, [], AnonymizeConfig())
    with pytest.raises(ValueError, match='HxW or HxWxC'):
        mask_whole_frame(np.zeros((2, 2, 2, 2), np.uint8), AnonymizeConfig())
    with pytest.raises(ValueError, match='non-empty'):
        mask_whole_frame(np.zeros((0, 10, 3), np.uint8), AnonymizeConfig())
    for box in ((np.nan, 0, 5, 5), (0, 0, np.inf, 5), (0, 0, 5e6, 5)):
        assert not box_is_usable(box)
        with pytest.raises(ValueError, match='not finite or beyond'):
            anonymize(np.zeros((10, 10, 3), np.uint8), [Face(box=box, score=1.0)],
                      AnonymizeConfig())


@pytest.mark.parametrize('field, value, allowed', [
    ('method', 'swirl', 'blur, pixelate, fill'), ('shape', 'star', 'box, ellipse'),
    ('margin_scale', 0.5, r'\[1.0, 3.0\]'), ('margin_scale', float('nan'), r'\[1.0, 3.0\]'),
    ('strength', 0.5, r'\[1.0, 4.0\]'), ('strength', '2', r'\[1.0, 4.0\]'),
    ('fill_bgr', (0, 0, 256), r'\[0, 255\]'), ('fill_bgr', (0, 0), r'\[0, 255\]')])
def test_bad_config_names_the_field_and_the_allowed_values(field, value, allowed):
    with pytest.raises(ValueError, match=f'{field}=.*{allowed}'):
        AnonymizeConfig(**{field: value})


@pytest.mark.parametrize('hole', [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize('method', ['blur', 'pixelate', 'fill'])
def test_holes_in_float_images_stay_where_they_were_and_spread_nowhere(hole, method):
    """A depth or thermal frame's holes are neither spread by the hiding nor filled in, and
    nothing outside the hidden region changes."""
    rng = np.random.default_rng(3)
    image = np.tile(np.linspace(0.5, 5.0, 120, dtype=np.float32), (90, 1))
    image += rng.normal(0, 0.3, image.shape).astype(np.float32)  # detail to hide
    image[rng.random(image.shape) < 0.1] = hole
    image[::8, :] = hole  # a grid of invalid rows, as some sensors give
    box = (30, 20, 40, 40)
    out = anonymize(image, [Face(box=box, score=1.0)], AnonymizeConfig(method=method))
    invalid = ~np.isfinite(image)
    assert np.array_equal(~np.isfinite(out), invalid)
    assert np.array_equal(out[invalid], image[invalid], equal_nan=True)
    x0, y0, x1, y1 = (round(v) for v in hidden_region(box, AnonymizeConfig().region_scale))
    outside = np.ones(image.shape, bool)
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    assert np.array_equal(out[outside], image[outside], equal_nan=True)
    inside = ~outside & ~invalid
    assert not np.allclose(out[inside], image[inside])


def test_a_multi_channel_float_image_keeps_its_holes_per_channel():
    image = np.random.default_rng(4).normal(20, 5, (60, 60, 3)).astype(np.float32)
    image[10:50:3, 10:50:3, 1] = np.nan
    out = anonymize(image, [Face(box=(15, 15, 30, 30), score=1.0)], AnonymizeConfig())
    assert np.array_equal(np.isnan(out), np.isnan(image))
    assert np.isfinite(out[..., 0]).all() and np.isfinite(out[..., 2]).all()
