"""safe_anonymize: every branch of the fail-closed decision."""
import numpy as np
import pytest

from facekp_ros.core.anonymize import AnonymizeConfig, anonymize
from facekp_ros.core.failsafe import safe_anonymize
from facekp_ros.core.tracking import IouTracker
from facekp_ros.core.types import Detections, Face

CONFIG = AnonymizeConfig(method='fill', fill_bgr=(7, 7, 7))


@pytest.fixture
def image():
    return np.random.default_rng(0).integers(20, 255, (120, 160, 3), np.uint8)


def face(x, y, w=30, h=40):
    return Face(box=(x, y, w, h), score=0.9)


def is_masked(out, image) -> bool:
    return out.shape == image.shape and bool((out == 7).all())


def check_unmodified(image, call):
    original = image.copy()
    result = call()
    assert np.array_equal(image, original), 'the input image must never be modified'
    return result


@pytest.mark.parametrize('detections', [
    None, Detections([face(10, 10)], 'retinaface', ok=False, error='model failed')],
    ids=['no detection result', 'detection failed'])
def test_no_result_or_a_failed_one_masks_the_whole_frame(image, detections):
    out, masked = check_unmodified(image, lambda: safe_anonymize(image, detections, CONFIG))
    assert masked and is_masked(out, image)


def test_detected_faces_are_hidden_and_the_rest_shown(image):
    faces = [face(10, 10), face(100, 60)]
    out, masked = check_unmodified(image, lambda: safe_anonymize(
        image, Detections(faces, 'retinaface'), CONFIG))
    assert not masked and np.array_equal(out, anonymize(image, faces, CONFIG))
    assert (out[10:50, 10:40] == 7).all() and np.array_equal(out[:, 60:90], image[:, 60:90])


def test_no_faces_shows_the_image_as_it_is_in_a_new_array(image):
    out, masked = safe_anonymize(image, Detections([], 'haar'), CONFIG)
    assert not masked and np.array_equal(out, image) and not np.shares_memory(out, image)


def test_faces_held_over_by_the_tracker_are_hidden_too(image):
    tracker = IouTracker(hold_frames=3)
    tracker.update([face(100, 60)])
    held = tracker.update([])  # the detector lost the face in this frame
    out, masked = safe_anonymize(image, Detections(held, 'retinaface'), CONFIG)
    assert not masked and held[0].frames_since_seen == 1
    assert (out[60:100, 100:130] == 7).all()


def test_mask_only_faces_are_hidden_too(image):
    detections = Detections([], 'retinaface', mask_only=[face(10, 10)])
    out, masked = safe_anonymize(image, detections, CONFIG)
    assert not masked and (out[10:50, 10:40] == 7).all()


@pytest.mark.parametrize('box', [(np.nan, 10, 30, 40), (10, 10, np.inf, 40), (1e9, 0, 5, 5)])
def test_a_face_that_cannot_be_placed_masks_the_whole_frame(image, box):
    bad = Face(box=box, score=0.9)
    for reported, mask_only in (([bad], []), ([], [bad]), ([face(10, 10)], [face(10, 10), bad])):
        out, masked = check_unmodified(image, lambda r=reported, m=mask_only: safe_anonymize(
            image, Detections(r, 'retinaface', mask_only=m), CONFIG))
        assert masked and is_masked(out, image)


def test_an_image_that_is_not_an_image_is_refused_on_every_branch():
    for detections in (None, Detections([], 'haar')):
        with pytest.raises(ValueError, match='HxW or HxWxC'):
            safe_anonymize(np.zeros(10, np.uint8), detections, CONFIG)
