"""The shipped keypoint model through the runtime: accurate, batched, metadata-driven."""
import numpy as np
import onnx
import pytest
from images import faces68_test_image

from facekp_ros.core.keypoint_names import KEYPOINT68_NAMES
from facekp_ros.core.keypoints import SHIPPED_MODEL, KeypointEstimator
from facekp_ros.core.retinaface import RetinaFaceDetector
from facekp_ros.core.types import Face


@pytest.fixture(scope='module')
def estimator():
    return KeypointEstimator()


@pytest.fixture(scope='module')
def detector():
    return RetinaFaceDetector()


def nme(pred, truth):
    return np.linalg.norm(pred - truth, axis=1).mean() / np.linalg.norm(truth[36] - truth[45])


def test_shipped_model_describes_itself(estimator):
    assert estimator.keypoint_names == KEYPOINT68_NAMES
    assert estimator.model_name.startswith('facekp68')
    assert 0 < estimator.accuracy['nme'] < 0.1
    assert SHIPPED_MODEL.stat().st_size < 8e6


def test_keypoints_land_on_real_faces(estimator, detector, data):
    errors = []
    for index in range(0, 500, 25):
        image, truth = faces68_test_image(data, index)
        face = max(detector.detect(image), key=lambda f: f.score)
        [face] = estimator.estimate(image, [face])
        assert face.keypoints.shape == (68, 2) and face.keypoint_scores.shape == (68,)
        errors.append(nme(face.keypoints, truth))
    assert np.median(errors) < 0.06


def test_a_batch_equals_one_face_at_a_time(estimator, data):
    image, _ = faces68_test_image(data, 3)
    boxes = [(20, 30, 100, 110), (40, 40, 80, 90), (0, 0, 60, 60)]
    together = estimator.estimate(image, [Face(box=b, score=0.9) for b in boxes])
    for box, face in zip(boxes, together):
        [alone] = estimator.estimate(image, [Face(box=box, score=0.9)])
        np.testing.assert_allclose(alone.keypoints, face.keypoints, atol=1e-3)
    assert estimator.estimate(image, []) == []


def test_a_model_without_metadata_is_refused(tmp_path):
    proto = onnx.load(str(SHIPPED_MODEL))
    del proto.metadata_props[:]
    path = tmp_path / 'bare.onnx'
    onnx.save(proto, str(path))
    with pytest.raises(ValueError, match='no metadata keypoint_names.*export_onnx'):
        KeypointEstimator(path)
