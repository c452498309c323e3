"""What every facekp_ros node shares: parameter declaration, QoS profiles and main()."""
import argparse
import signal
import sys
import threading
import time

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNodeMixin, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.signals import SignalHandlerOptions
from rclpy.utilities import remove_ros_args

from facekp_ros.parameters import NODES

# Camera-facing inputs: best effort, newest frame only, so latency never piles up.
SENSOR_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                        reliability=ReliabilityPolicy.BEST_EFFORT,
                        durability=DurabilityPolicy.VOLATILE)
# Outputs: reliable, so any subscriber QoS (reliable or best effort) matches them.
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)


def input_qos(params: dict) -> QoSProfile:
    """The camera-facing subscriptions' QoS from input_reliability and input_depth."""
    reliability = ReliabilityPolicy.RELIABLE if params['input_reliability'] == 'reliable' \
        else ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=params['input_depth'],
                      reliability=reliability, durability=DurabilityPolicy.VOLATILE)


def output_qos(params: dict) -> QoSProfile:
    """The outputs' QoS: OUTPUT_QOS with output_depth."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=params['output_depth'],
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


class ConfigError(ValueError):
    """A parameter or file the node cannot start with; the text names it and the fix."""


def declare_parameters(node, params, build=None) -> dict:
    """Declares params on node and returns {name: value}; ConfigError names a bad one.

    build(values) turns a complete set of values into what the node uses (a stage's
    configuration) and raises ValueError for a combination that is not allowed, which stops
    the node at start-up.
    """
    values = {}
    for param in params:
        try:
            value = node.declare_parameter(param.name, param.default,
                                           param.descriptor()).value
        except Exception as error:  # noqa: BLE001 - rclpy raises several unrelated types
            raise ConfigError(f"parameter '{param.name}': {error}") from error
        problem = param.check(param.value_of(value))
        if problem:
            raise ConfigError(problem)
        values[param.name] = param.value_of(value)
    if build is not None:
        try:
            build(values)
        except ValueError as error:
            raise ConfigError(str(error)) from error
    return values


def watch_parameters(node, params, values: dict, build=None, apply=None) -> None:
    """Checks run-time changes of params (`ros2 param set` is refused with the reason, also
    when build(values) refuses the combination), keeps values current, and then calls
    apply(build(values)). Registered once, after the node is built."""
    by_name = {p.name: p for p in params}

    def changed(changes) -> dict:
        return {**values, **{c.name: by_name[c.name].value_of(c.value) for c in changes
                             if c.name in by_name}}

    def on_set(changes):
        for change in changes:
            param = by_name.get(change.name)
            problem = param.check(param.value_of(change.value)) if param else ''
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        if build is not None:
            try:
                build(changed(changes))
            except ValueError as error:
                return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    def post_set(changes):
        values.update(changed(changes))
        if apply is not None:
            apply(build(values) if build is not None else values)

    node.add_on_set_parameters_callback(on_set)
    node.add_post_set_parameters_callback(post_set)


# How often spinning looks at whether a stop was asked for: the longest a signal waits.
STOP_POLL_S = 0.1


def node_class_for(node_class, args=None):
    """node_class, or its lifecycle twin with `--lifecycle true` among the non-ROS arguments
    (the launch file passes `--lifecycle <lifecycle>` to every face node)."""
    parser = argparse.ArgumentParser()
    if issubclass(node_class, StageNode):
        parser.add_argument('--lifecycle', choices=('true', 'false'), default='false',
                            help='run as a managed (lifecycle) node: models load on '
                                 'configure, work runs while active')
    argv = remove_ros_args(sys.argv if args is None else args)[1:]
    lifecycle = getattr(parser.parse_args(argv), 'lifecycle', 'false') == 'true'
    return managed(node_class) if lifecycle else node_class


def run_node(node_class, args=None) -> int:
    """main() of every node, in the Jazzy style; 0 after SIGINT or SIGTERM, 2 when the node
    cannot start (a ConfigError, one line). See node_class_for for `--lifecycle`.

    rclpy's own signal handler would shut the context down at once, while worker threads
    may still publish ("publisher's context is invalid"); here a signal only sets a flag that
    the spin loop reads between callbacks (an exception raised from the handler could land
    inside the executor and leave it holding what destroy_node waits for), then the node
    stops its workers and is destroyed, and then rclpy shuts down. Further signals (launch
    repeats SIGINT) are ignored from then on, until the process has exited: with the former
    handlers back, one arriving while the interpreter shut down killed it (exit -2).
    """
    node_factory = node_class_for(node_class, args)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    # Set explicitly: a process started in the background of a script inherits SIGINT
    # ignored, and would then never stop on Ctrl-C sent to its process group.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: stop.set())
    node = None
    try:
        node = node_factory()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=STOP_POLL_S)
    except ConfigError as error:
        rclpy.logging.get_logger('facekp_ros').fatal(f'cannot start: {error}')
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def frame_age_ms(node, header) -> float:
    """How long ago, by the node's clock, the image with this header was taken."""
    now = node.get_clock().now().nanoseconds
    return (now - (header.stamp.sec * 1_000_000_000 + header.stamp.nanosec)) / 1e6


def check_providers(values: dict, *names: str) -> None:
    """ConfigError naming the parameter when an execution provider is unavailable here."""
    from facekp_ros.core.onnx_runtime import select_providers

    for name in names:
        try:
            select_providers(values[name])
        except ValueError as error:
            raise ConfigError(f"parameter '{name}': {error}") from error


class ErrorLog:
    """Logs each new error at once; a repeat of the same error at most once per period,
    so a camera sending 30 bad frames a second does not flood the log."""

    def __init__(self, logger, period_s: float = 2.0):
        self._logger, self._period_s = logger, period_s
        self._last_text, self._last_time = None, -float('inf')

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        if text != self._last_text or now - self._last_time >= self._period_s:
            self._logger.error(text)
            self._last_text, self._last_time = text, now


class StageNode(Node):
    """A facekp_ros node. Construction declares its parameters; setup() (each node's own) loads
    its models and makes its publishers, subscriptions, timers and FrameWorker
    (self.worker); release() undoes all of it. A plain node is set up and active at
    construction; managed(node_class) is the lifecycle twin, which waits for configure.

    Outputs are made with output_publisher() (a lifecycle publisher in the twin, silent
    while inactive); inputs hand frames to submit(), which drops them while inactive.
    """

    def __init__(self, name: str, build=None, managed: bool = False, **kwargs):
        super().__init__(name, **kwargs)
        # First: a node whose construction fails is still destroyed (by rclpy on shutdown).
        self.worker, self.active, self._made = None, False, None
        self.log_error = ErrorLog(self.get_logger())
        self.params = declare_parameters(self, NODES[name], build)
        if not managed:
            self.configure_stage()
            self.active = True
        watch_parameters(self, NODES[name], self.params, build, self._reconfigure)

    def setup(self) -> None:
        raise NotImplementedError

    def apply(self, config) -> None:
        """Puts a changed configuration into effect (the node is set up)."""

    def _reconfigure(self, config) -> None:
        if self._made is not None:  # unconfigured: setup() reads self.params later
            self.apply(config)

    def output_publisher(self, msg_type, topic: str, qos):
        return self.create_publisher(msg_type, topic, qos)

    def submit(self, item) -> None:
        if self.active:
            self.worker.submit(item)

    def configure_stage(self) -> None:
        """setup(), remembering what it made so that release() can undo exactly that."""
        before = self._entities()
        try:
            self.setup()
        finally:
            self._made = {kind: made - before[kind] for kind, made in self._entities().items()}

    def _entities(self) -> dict:
        return {'attributes': set(vars(self)), 'publishers': set(self.publishers),
                'subscriptions': set(self.subscriptions), 'timers': set(self.timers)}

    def release(self, forget: bool = False) -> None:
        """Stops the worker first (nothing is published after), then destroys what setup()
        made; forget: also drops the attributes setup() made, so the models' memory is
        freed (lifecycle cleanup; a destroyed node keeps its counters readable)."""
        if self._made is None:
            return
        if self.worker is not None:
            self.worker.stop()
        made, self._made = self._made, None
        for publisher in made['publishers']:
            self.destroy_publisher(publisher)
        for subscription in made['subscriptions']:
            self.destroy_subscription(subscription)
        for timer in made['timers']:
            self.destroy_timer(timer)
        self.worker = None
        for name in made['attributes'] - {'worker'} if forget else ():
            delattr(self, name)

    def destroy_node(self):
        self.release()
        return super().destroy_node()


def managed(node_class):
    """node_class as an rclpy lifecycle node: models load on configure and are freed on
    cleanup; frames are taken and outputs published only while active."""

    class Managed(LifecycleNodeMixin, node_class):
        def __init__(self, **kwargs):
            node_class.__init__(self, managed=True, **kwargs)
            LifecycleNodeMixin.__init__(self)

        def output_publisher(self, msg_type, topic: str, qos):
            return self.create_lifecycle_publisher(msg_type, topic, qos)

        def destroy_publisher(self, publisher) -> bool:
            self._managed_entities.discard(publisher)
            return super().destroy_publisher(publisher)

        def on_configure(self, state) -> TransitionCallbackReturn:
            try:
                self.configure_stage()
            except ConfigError as error:
                self.get_logger().error(f'cannot configure: {error}')
                self.release(forget=True)
                return TransitionCallbackReturn.FAILURE
            return super().on_configure(state)

        def on_activate(self, state) -> TransitionCallbackReturn:
            self.active = True
            return super().on_activate(state)

        def on_deactivate(self, state) -> TransitionCallbackReturn:
            self.active = False
            return super().on_deactivate(state)

        def on_cleanup(self, state) -> TransitionCallbackReturn:
            self.release(forget=True)
            return super().on_cleanup(state)

        def on_shutdown(self, state) -> TransitionCallbackReturn:
            self.active = False
            self.release()
            return super().on_shutdown(state)

    Managed.__name__ = Managed.__qualname__ = f'Managed{node_class.__name__}'
    return Managed
