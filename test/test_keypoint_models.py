"""Keypoint models other than the shipped ones, made or edited with onnx: the runtime reads
everything from their metadata and refuses models that disagree with it."""
import json

import numpy as np
import pytest
from images import faces68_test_image

from facekp_ros.core.keypoint_names import KEYPOINT68_NAMES
from facekp_ros.core.keypoints import SHIPPED_MODEL, KeypointEstimator
from facekp_ros.core.types import Face

onnx = pytest.importorskip('onnx', reason='onnx is a training tool (scripts/setup.sh --test)')
from onnx import TensorProto, helper  # noqa: E402


@pytest.fixture(scope='module')
def estimator():
    return KeypointEstimator()


def test_a_model_without_metadata_is_refused(tmp_path):
    proto = onnx.load(str(SHIPPED_MODEL))
    del proto.metadata_props[:]
    path = tmp_path / 'bare.onnx'
    onnx.save(proto, str(path))
    with pytest.raises(ValueError, match='no metadata keypoint_names.*export_onnx'):
        KeypointEstimator(path)


def with_metadata(tmp_path, **changes):
    """The shipped model saved with some metadata values replaced (JSON-encoded)."""
    proto = onnx.load(str(SHIPPED_MODEL))
    for prop in proto.metadata_props:
        if prop.key in changes:
            prop.value = json.dumps(changes[prop.key])
    path = tmp_path / 'changed.onnx'
    onnx.save(proto, str(path))
    return path


def test_the_crop_rule_comes_from_the_metadata(estimator, tmp_path, data):
    changed = KeypointEstimator(with_metadata(tmp_path, crop_scale=1.5, model_name='other'))
    assert changed.crop_scale == 1.5 and changed.model_name == 'other'
    image, _ = faces68_test_image(data, 0)
    face = Face(box=(20, 30, 100, 110), score=1.0)
    [wide] = changed.estimate(image, [Face(box=face.box, score=1.0)])
    [usual] = estimator.estimate(image, [face])
    assert np.abs(wide.keypoints - usual.keypoints).max() > 1.0


def test_an_output_size_that_disagrees_with_the_names_is_refused(tmp_path):
    path = with_metadata(tmp_path, keypoint_names=list(KEYPOINT68_NAMES[:15]))
    with pytest.raises(ValueError, match='outputs 136 values but its metadata names 15'):
        KeypointEstimator(path)


def tiny_model(tmp_path, points: int = 68):
    """A model without a 'scores' output: every crop gives the crop's centre."""
    graph = helper.make_graph(
        [helper.make_node('ReduceMean', ['crops'], ['mean'], axes=[1, 2, 3], keepdims=0),
         helper.make_node('Mul', ['mean', 'zero'], ['zeroes']),
         helper.make_node('Add', ['zeroes', 'half'], ['keypoints'])],
        'tiny', [helper.make_tensor_value_info('crops', TensorProto.FLOAT, ['n', 3, 8, 8])],
        [helper.make_tensor_value_info('keypoints', TensorProto.FLOAT, ['n', 2 * points])],
        [helper.make_tensor('zero', TensorProto.FLOAT, [1, 1], [0.0]),
         helper.make_tensor('half', TensorProto.FLOAT, [1, 2 * points], [0.5] * 2 * points)])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    values = {'keypoint_names': list(KEYPOINT68_NAMES), 'input_size': 8, 'color': 'bgr',
              'mean': [0, 0, 0], 'std': [1, 1, 1], 'crop_scale': 1.0, 'crop_shift_y': 0.0,
              'model_name': 'tiny'}
    for key, value in values.items():
        proto.metadata_props.add(key=key, value=json.dumps(value))
    path = tmp_path / 'tiny.onnx'
    onnx.save(proto, str(path))
    return path


def test_without_point_scores_each_point_gets_the_detection_score(tmp_path):
    estimator = KeypointEstimator(tiny_model(tmp_path))
    assert not estimator.point_scores
    [face] = estimator.estimate(np.zeros((40, 40, 3), np.uint8), [Face(box=(0, 0, 20, 20),
                                                                    score=0.7)])
    np.testing.assert_allclose(face.keypoint_scores, 0.7)
    np.testing.assert_allclose(face.keypoints, 10.0, atol=1e-4)  # the box centre
