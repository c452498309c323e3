"""What every facekp_ros node shares: parameter declaration, QoS profiles and main()."""
import signal
import threading
import time

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.signals import SignalHandlerOptions

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


def declare_parameters(node, params, build=None, apply=None) -> dict:
    """Declares params on node and returns {name: value}; ConfigError names a bad one.

    build(values) turns a complete set of values into what the node uses (a stage's
    configuration) and raises ValueError for a combination that is not allowed: at start-up
    that stops the node, at run time `ros2 param set` is refused with the reason. After a
    change is accepted, apply(build(values)) puts it into effect.
    """
    by_name = {p.name: p for p in params}
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
    return values


# How often spinning looks at whether a stop was asked for: the longest a signal waits.
STOP_POLL_S = 0.1


def run_node(node_factory, args=None) -> int:
    """main() of every node, in the Jazzy style; 0 after SIGINT or SIGTERM, 2 when the node
    cannot start (a ConfigError, one line).

    rclpy's own signal handler would shut the context down at once, while worker threads
    may still publish ("publisher's context is invalid"); here a signal only sets a flag that
    the spin loop reads between callbacks (an exception raised from the handler could land
    inside the executor and leave it holding what destroy_node waits for), then the node
    stops its workers and is destroyed, and then rclpy shuts down. Further signals (launch
    repeats SIGINT) are ignored during that clean-up.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    # Set explicitly: a process started in the background of a script inherits SIGINT
    # ignored, and would then never stop on Ctrl-C sent to its process group.
    previous = {s: signal.signal(s, lambda signum, frame: stop.set())
                for s in (signal.SIGINT, signal.SIGTERM)}
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
        for signum, handler in previous.items():
            signal.signal(signum, handler)
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
    """A node whose work runs on a FrameWorker in self.worker: stopped on destroy, before
    its publishers go, so nothing is published after shutdown."""

    def destroy_node(self):
        worker = getattr(self, 'worker', None)  # absent when the constructor failed
        if worker is not None:
            worker.stop()
        return super().destroy_node()
