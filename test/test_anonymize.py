"""Anonymization hides every face from people and from an independent detector; fail closed."""
import cv2
import numpy as np
import pytest
from images import faces68_test_image

from facekp_ros.core.anonymize import AnonymizeConfig, anonymize, mask_whole_frame
from facekp_ros.core.failsafe import safe_anonymize
from facekp_ros.core.retinaface import RetinaFaceDetector
from facekp_ros.core.types import Detections, Face


@pytest.fixture(scope='module')
def retinaface():
    return RetinaFaceDetector(score_threshold=0.5)


def haar_faces(bgr):
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + 'haarcascade_frontalface_default.xml')
    return cascade.detectMultiScale(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 1.1, 5)


@pytest.mark.parametrize('method', ['blur', 'pixelate', 'fill'])
@pytest.mark.parametrize('shape', ['box', 'ellipse'])
def test_hidden_faces_are_found_by_no_detector_and_the_rest_is_untouched(
        retinaface, data, method, shape):
    for index in (0, 7, 42):
        image, points = faces68_test_image(data, index)
        faces = retinaface.detect(image)
        assert faces and len(haar_faces(image)) > 0
        out = anonymize(image, faces, AnonymizeConfig(method=method, shape=shape))
        assert out.shape == image.shape and not np.shares_memory(out, image)
        assert retinaface.detect(out) == [] and len(haar_faces(out)) == 0
        x, y, w, h = faces[0].box.astype(int)
        face_change = np.abs(out[y:y + h, x:x + w].astype(int) - image[y:y + h, x:x + w]).mean()
        assert face_change > 15
        # Far from every face nothing changes.
        assert np.array_equal(out[:, :3], image[:, :3]) or x < 10


def test_ellipse_covers_the_whole_face_box():
    image = np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)
    face = Face(box=(50, 40, 100, 120), score=1.0)
    out = anonymize(image, [face], AnonymizeConfig(method='fill', shape='ellipse',
                                                   margin_scale=1.0, fill_bgr=(1, 2, 3)))
    assert (out[40:160, 50:150] == (1, 2, 3)).all()


def test_faces_partly_outside_and_tiny_faces_are_handled():
    image = np.full((100, 100, 3), 200, np.uint8)
    faces = [Face(box=(-30, -30, 60, 60), score=1.0), Face(box=(90, 90, 40, 40), score=1.0),
             Face(box=(50, 50, 1, 1), score=1.0), Face(box=(500, 500, 10, 10), score=1.0)]
    out = anonymize(image, faces, AnonymizeConfig(method='fill'))
    assert (out[0:10, 0:10] == 0).all() and (out[95:, 95:] == 0).all()


def test_fail_closed_masks_the_whole_frame(data):
    image, _ = faces68_test_image(data, 0)
    config = AnonymizeConfig()
    for detections in (None, Detections([], 'retinaface', ok=False, error='model missing')):
        out, masked = safe_anonymize(image, detections, [], config)
        assert masked and (out == 0).all() and out.shape == image.shape
    out, masked = safe_anonymize(image, Detections([], 'retinaface'), [], config)
    assert not masked and np.array_equal(out, image)
    assert (mask_whole_frame(image, config) == 0).all()


@pytest.mark.parametrize('field, value', [('method', 'swirl'), ('shape', 'star'),
                                          ('margin_scale', 0.5), ('strength', 9.0)])
def test_bad_config_is_named(field, value):
    with pytest.raises(ValueError, match=field):
        AnonymizeConfig(**{field: value})
