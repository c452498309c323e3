"""Managed (lifecycle) nodes, driven through their lifecycle_msgs services as `ros2 lifecycle
set` and a robot's lifecycle manager drive them: models load on configure and are freed on
cleanup; nothing is published unless active; the anonymizer never publishes while inactive."""
import gc
import signal
import subprocess
import sys
import time
import weakref

from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_helpers import Collector, ros_nodes, spin_until
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from facekp_ros import image_bridge as bridge
from facekp_ros.anonymizer_node import AnonymizerNode
from facekp_ros.detector_node import DetectorNode
from facekp_ros.keypoint_node import KeypointNode
from facekp_ros.msg import FaceArray
from facekp_ros.node_common import OUTPUT_QOS, managed, node_class_for
from facekp_ros.pipeline_node import PipelineNode
from facekp_ros.sources import sample_frame


class Manager:
    """Calls a node's lifecycle services over DDS, as `ros2 lifecycle set` does."""

    def __init__(self, executor, tester: Node, node_name: str):
        self._executor = executor
        self._change = tester.create_client(ChangeState, f'/{node_name}/change_state')
        self._get = tester.create_client(GetState, f'/{node_name}/get_state')
        assert self._change.wait_for_service(10.0) and self._get.wait_for_service(10.0)

    def _call(self, client, request):
        future = client.call_async(request)
        assert spin_until(self._executor, future.done, 60.0), 'no answer'
        return future.result()

    def set(self, transition: int) -> bool:
        return self._call(self._change, ChangeState.Request(
            transition=Transition(id=transition))).success

    def state(self) -> str:
        return self._call(self._get, GetState.Request()).current_state.label


def make_tester(context):
    node = Node('tester', context=context)
    node.images = node.create_publisher(Image, 'image', OUTPUT_QOS)
    return node


def image_msg(sec: int) -> Image:
    msg = bridge.cv2_to_imgmsg(sample_frame(), 'bgr8', Header(frame_id='cam'))
    msg.header.stamp.sec = sec
    return msg


def test_managed_detector_and_anonymizer_work_only_while_active():
    wait = [Parameter('max_wait_s', value=0.3)]
    # Detection's frame deadline is not under test: a loaded machine must not fail a frame.
    no_deadline = [Parameter('detection_timeout_ms', value=60000.0)]
    with ros_nodes(lambda c: managed(DetectorNode)(context=c, parameter_overrides=no_deadline),
                   lambda c: managed(AnonymizerNode)(context=c, parameter_overrides=wait),
                   make_tester) as (executor, (detector, anonymizer, test)):
        faces = Collector(test, FaceArray, 'faces')
        out = Collector(test, Image, 'image_anonymized')
        managers = [Manager(executor, test, 'face_detector'),
                    Manager(executor, test, 'face_anonymizer')]

        def send_frames(first_sec: int) -> None:
            for sec in range(first_sec, first_sec + 3):
                test.images.publish(image_msg(sec))
                spin_until(executor, lambda: False, 0.4)  # the anonymizer's 0.3 s wait

        assert [m.state() for m in managers] == ['unconfigured'] * 2
        assert not hasattr(detector, 'stage') and test.count_publishers('/faces') == 0
        assert all(m.set(Transition.TRANSITION_CONFIGURE) for m in managers)
        assert [m.state() for m in managers] == ['inactive'] * 2
        stage = weakref.ref(detector.stage)  # the model is loaded now
        send_frames(1)
        assert faces.messages == [] and out.messages == []  # inactive: nothing, not raw

        assert all(m.set(Transition.TRANSITION_ACTIVATE) for m in managers)
        send_frames(11)
        # The detector takes the newest frame: on a loaded machine it may skip one.
        assert spin_until(executor, lambda: faces.messages and out.messages, 30.0)
        assert {m.header.stamp.sec for m in faces.messages} <= {11, 12, 13}
        assert all(len(m.faces) == 4 for m in faces.messages)

        assert all(m.set(Transition.TRANSITION_DEACTIVATE) for m in managers)
        spin_until(executor, lambda: False, 0.5)  # what was on its way arrives
        published = len(faces.messages), len(out.messages)
        send_frames(21)  # faces or not, nothing goes out: no frame waits out max_wait_s
        assert (len(faces.messages), len(out.messages)) == published

        assert all(m.set(Transition.TRANSITION_CLEANUP) for m in managers)
        assert [m.state() for m in managers] == ['unconfigured'] * 2
        gc.collect()
        assert stage() is None, 'cleanup left the detector model in memory'
        assert spin_until(executor, lambda: test.count_publishers('/faces') == 0, 5.0)
        # And again: configure loads the models anew.
        assert all(m.set(Transition.TRANSITION_CONFIGURE) for m in managers)
        assert all(m.set(Transition.TRANSITION_ACTIVATE) for m in managers)
        count = len(faces.messages)
        send_frames(31)
        assert spin_until(executor, lambda: len(faces.messages) > count, 30.0)


def test_a_managed_node_that_cannot_load_its_model_stays_unconfigured(tmp_path):
    bad = [Parameter('keypoint_model', value=str(tmp_path / 'missing.onnx'))]
    with ros_nodes(lambda c: managed(KeypointNode)(context=c, parameter_overrides=bad),
                   make_tester) as (executor, (_, test)):
        manager = Manager(executor, test, 'keypoint_estimator')
        assert not manager.set(Transition.TRANSITION_CONFIGURE)
        assert manager.state() == 'unconfigured'


def test_managed_pipeline_reads_its_source_only_while_active():
    overrides = [Parameter('source', value='sample'), Parameter('rate_hz', value=10.0)]
    with ros_nodes(lambda c: managed(PipelineNode)(context=c, parameter_overrides=overrides),
                   make_tester) as (executor, (pipeline, test)):
        keypoints = Collector(test, FaceArray, 'face_keypoints')
        manager = Manager(executor, test, 'face_pipeline')
        assert manager.set(Transition.TRANSITION_CONFIGURE)
        spin_until(executor, lambda: False, 0.5)
        assert keypoints.messages == []
        assert manager.set(Transition.TRANSITION_ACTIVATE)
        assert spin_until(executor, lambda: len(keypoints.messages) >= 2, 30.0)
        assert manager.set(Transition.TRANSITION_DEACTIVATE)
        spin_until(executor, lambda: False, 0.5)
        count = len(keypoints.messages)
        spin_until(executor, lambda: False, 1.0)
        assert len(keypoints.messages) == count
        assert manager.set(Transition.TRANSITION_INACTIVE_SHUTDOWN)
        assert manager.state() == 'finalized'


def test_lifecycle_argument_chooses_the_managed_twin():
    assert node_class_for(DetectorNode, ['detector_node']) is DetectorNode
    twin = node_class_for(DetectorNode, ['detector_node', '--lifecycle', 'true',
                                         '--ros-args', '-p', 'input_depth:=2'])
    assert twin.__name__ == 'ManagedDetectorNode' and issubclass(twin, DetectorNode)


def test_repeated_sigint_as_launch_sends_it_exits_cleanly(tmp_path):
    """ros2 launch passes Ctrl-C on (SIGINT to the group) and then sends SIGINT itself; a
    signal arriving while the process exits must not kill it (exit -2, a traceback)."""
    for name, extra in (('managed', ['--lifecycle', 'true']), ('plain', [])):
        log = tmp_path / f'{name}.log'
        with open(log, 'w') as out:
            process = subprocess.Popen(
                [sys.executable, '-m', 'facekp_ros.detector_node', *extra, '--ros-args',
                 '-r', f'__node:={name}'], stdout=out, stderr=subprocess.STDOUT)
        with ros_nodes(lambda c: Node('watcher', context=c)) as (executor, (watcher,)):
            assert spin_until(executor, lambda n=name: n in watcher.get_node_names(),
                              60.0)  # up: its signal handlers are in place
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            process.send_signal(signal.SIGINT)
            time.sleep(0.02)
        assert process.wait(5) == 0, log.read_text()
        assert 'Traceback' not in log.read_text()
