"""The shipped keypoint model through the runtime: accurate, batched, metadata-driven."""

import numpy as np
import pytest
from images import faces68_test_image

from facekp_ros.core.keypoint_names import (
    KEYPOINT68_NAMES,
    MESH468_NAMES,
    MESH_TO_68,
    REGIONS68,
)
from facekp_ros.core.keypoints import (
    BUILT_IN_MODELS,
    SHIPPED_MODEL,
    KeypointEstimator,
    crop_matrix,
)
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










def test_crop_points_map_back_to_image_pixels():
    """The crop centre is the box centre moved down by crop_shift_y * h, whatever the box."""
    estimator = KeypointEstimator()
    size, shift = estimator.input_size, estimator.crop_shift_y
    centre = np.full((1, 2 * len(KEYPOINT68_NAMES)), 0.5, np.float32)
    for box in ((10, 20, 40, 60), (300, 5, 120, 80)):
        m = crop_matrix(box, size, estimator.crop_scale, shift)
        [points] = estimator.postprocess(centre, [m])
        x, y, w, h = box
        np.testing.assert_allclose(points, np.tile([x + w / 2, y + h / 2 + shift * h], (68, 1)),
                                   atol=1e-3)


def test_each_point_has_its_own_score_and_a_hidden_mouth_scores_lower(estimator, detector, data):
    assert estimator.point_scores and 'visible' in estimator.score_meaning
    mouth = list(REGIONS68['mouth'])
    plain, blocked = [], []
    for index in range(0, 500, 50):
        image, truth = faces68_test_image(data, index)
        face = max(detector.detect(image), key=lambda f: f.score)
        [face] = estimator.estimate(image, [face])
        assert face.keypoint_scores.std() > 0.01  # not one value copied to every point
        plain.append(face.keypoint_scores[mouth].mean())
        side = 0.8 * np.linalg.norm(truth[36] - truth[45])
        (x0, y0), (x1, y1) = (truth[62] - side / 2).astype(int), (truth[62] + side / 2).astype(int)
        image[max(y0, 0):y1, max(x0, 0):x1] = 128
        [face] = estimator.estimate(image, [face])
        blocked.append(face.keypoint_scores[mouth].mean())
    assert np.mean(blocked) < np.mean(plain) - 0.1  # measured on 796 faces: 0.67 -> 0.42


def test_the_dense_mesh_is_a_built_in_choice(detector, data):
    mesh = KeypointEstimator('mesh468')
    assert mesh.keypoint_names == MESH468_NAMES and mesh.point_scores
    errors = []
    for index in range(0, 500, 50):
        image, truth = faces68_test_image(data, index)
        face = max(detector.detect(image), key=lambda f: f.score)
        [face] = mesh.estimate(image, [face])
        assert face.keypoints.shape == (468, 2) and face.keypoint_scores.shape == (468,)
        errors.append(nme(face.keypoints[list(MESH_TO_68)], truth))
    assert np.median(errors) < 0.1


def test_an_unknown_model_name_lists_the_built_in_ones():
    with pytest.raises(FileNotFoundError, match='not found: mesh999.*facekp68, mesh468'):
        KeypointEstimator('mesh999')
    assert set(BUILT_IN_MODELS) == {'facekp68', 'mesh468'}


def test_an_upright_crop_turns_by_the_eye_line():
    """crop_rotation 'eye_line': the two eye landmarks come out level in the crop, about the
    same centre as the unturned crop; without landmarks the turn is 0."""
    from facekp_ros.core.keypoints import crop_matrix, eye_line_angle

    eyes = np.array([[40.0, 60.0], [90.0, 80.0], [65, 90], [50, 110], [80, 120]])
    angle = eye_line_angle(eyes)
    m = crop_matrix((20, 30, 100, 110), 192, 1.4, 0.1, angle)
    level = eyes[:2] @ m[:, :2].T + m[:, 2]
    assert abs(level[0, 1] - level[1, 1]) < 1e-3 and level[1, 0] > level[0, 0]
    plain = crop_matrix((20, 30, 100, 110), 192, 1.4, 0.1)
    centre = np.array([70.0, 30 + 55 + 11])
    assert np.allclose(centre @ m[:, :2].T + m[:, 2], centre @ plain[:, :2].T + plain[:, 2],
                       atol=1e-3)
    assert eye_line_angle(np.zeros((0, 2))) == 0.0
    assert eye_line_angle(np.full((5, 2), np.nan)) == 0.0
