"""config/pipeline.yaml lists exactly the parameters each node declares, with its defaults."""
import pytest
import yaml
from rclpy.parameter import Parameter
from ros_helpers import ros_nodes

from conftest import REPO
from facekp_ros import parameters
from facekp_ros.anonymizer_node import AnonymizerNode
from facekp_ros.camera_node import CameraNode
from facekp_ros.detector_node import DetectorNode
from facekp_ros.keypoint_node import KeypointNode
from facekp_ros.node_common import ConfigError
from facekp_ros.pipeline_node import PipelineNode
from facekp_ros.visualizer_node import VisualizerNode

NODES = (CameraNode, DetectorNode, KeypointNode, AnonymizerNode, VisualizerNode, PipelineNode)
# Parameters every rclpy node declares itself.
ROS_OWN = {'use_sim_time', 'start_type_description_service'}
CONFIG = yaml.safe_load((REPO / 'config' / 'pipeline.yaml').read_text())


@pytest.mark.parametrize('node_class', NODES, ids=lambda c: c.__name__)
def test_every_declared_parameter_is_in_the_config_with_its_default(node_class):
    with ros_nodes(lambda context: node_class(context=context)) as (_, (node,)):
        declared = {name: node.get_parameter(name).value
                    for name in node._parameters if name not in ROS_OWN}
        for name in declared:
            descriptor = node.describe_parameter(name)
            assert descriptor.description, f'{name} has no description'
        assert CONFIG[f'/**/{node.get_name()}']['ros__parameters'] == declared


def test_config_file_and_readme_tables_come_from_the_parameter_tables():
    text = (REPO / 'config' / 'pipeline.yaml').read_text()
    assert text == parameters.yaml_text(text.split('\n\n')[0])
    assert parameters.markdown_tables() in (REPO / 'README.md').read_text(), \
        'README parameter tables are stale: python -m facekp_ros.parameters markdown'


def test_out_of_range_and_unknown_choice_values_are_refused_with_the_name():
    with pytest.raises(ConfigError, match='margin_scale'):
        with ros_nodes(lambda c: AnonymizerNode(
                context=c, parameter_overrides=[Parameter('margin_scale', value=9.0)])):
            pass
    with pytest.raises(ConfigError, match="'method'.*allowed values"):
        with ros_nodes(lambda c: AnonymizerNode(
                context=c, parameter_overrides=[Parameter('method', value='swirl')])):
            pass


def test_run_time_changes_are_validated():
    with ros_nodes(lambda context: AnonymizerNode(context=context)) as (_, (node,)):
        result = node.set_parameters([Parameter('method', value='swirl')])[0]
        assert not result.successful and 'allowed values' in result.reason
        assert node.set_parameters([Parameter('method', value='pixelate')])[0].successful
        assert node.in_effect()[0].method == 'pixelate'
        assert not node.set_parameters([Parameter('strength', value=100.0)])[0].successful
    with ros_nodes(lambda context: DetectorNode(context=context)) as (_, (node,)):
        result = node.set_parameters([Parameter('mask_threshold', value=0.95)])[0]
        assert not result.successful and 'above score_threshold' in result.reason
        assert node.in_effect()[0].mask_threshold == 0.3


def _another_value(node, name):
    """A valid value different from the current one, from the parameter's descriptor."""
    value = node.get_parameter(name).value
    descriptor = node.describe_parameter(name)
    if descriptor.additional_constraints.startswith('one of: '):
        return next(c for c in descriptor.additional_constraints[8:].split(', ') if c != value)
    if isinstance(value, bool):
        return not value
    ranges = descriptor.floating_point_range or descriptor.integer_range
    if ranges:
        low, high = ranges[0].from_value, ranges[0].to_value
        other = value + (high - low) / 7 if value + (high - low) / 7 <= high else low
        if name == 'mask_threshold':  # must stay at most score_threshold (0.9)
            other = 0.2
        if name == 'score_threshold':  # and score_threshold at least mask_threshold (0.3)
            other = 0.8
        return type(value)(other)
    raise AssertionError(f'no way to change {name!r}: declare it read-only or give it choices')


@pytest.mark.parametrize('node_class', NODES, ids=lambda c: c.__name__)
def test_every_writable_parameter_takes_effect_at_run_time(node_class):
    """Every parameter that is not read-only changes what the node runs with."""
    with ros_nodes(lambda context: node_class(context=context)) as (_, (node,)):
        writable = [name for name in node._parameters if name not in ROS_OWN
                    and not node.describe_parameter(name).read_only]
        if node_class is CameraNode:
            assert writable == []  # everything of the camera is fixed at start-up
        for name in writable:
            before = node.in_effect()
            value = _another_value(node, name)
            result = node.set_parameters([Parameter(name, value=value)])[0]
            assert result.successful, f'{name}={value!r}: {result.reason}'
            assert node.in_effect() != before, f'{name} was accepted but changed nothing'



def test_bad_source_and_missing_model_fail_at_start_up_naming_the_parameter(tmp_path):
    with pytest.raises(ConfigError, match="'source'"):
        with ros_nodes(lambda c: CameraNode(
                context=c, parameter_overrides=[Parameter('source', value='/nonexistent.mp4')])):
            pass
    with pytest.raises(ConfigError, match="'keypoint_model'.*not found"):
        with ros_nodes(lambda c: KeypointNode(context=c, parameter_overrides=[
                Parameter('keypoint_model', value=str(tmp_path / 'missing.onnx'))])):
            pass
    corrupt = tmp_path / 'corrupt.onnx'
    corrupt.write_bytes(b'not an onnx model')
    with pytest.raises(ConfigError, match="'keypoint_model'.*corrupt"):
        with ros_nodes(lambda c: KeypointNode(context=c, parameter_overrides=[
                Parameter('keypoint_model', value=str(corrupt))])):
            pass
    with pytest.raises(ConfigError, match='providers.*available'):
        with ros_nodes(lambda c: DetectorNode(context=c, parameter_overrides=[
                Parameter('providers', value='NoSuchExecutionProvider')])):
            pass
