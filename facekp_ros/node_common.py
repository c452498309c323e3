"""What every facekp_ros node shares: parameter declaration, QoS profiles and main()."""
import time
from dataclasses import dataclass
from typing import Any

import rclpy
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

# Camera-facing inputs: best effort, newest frame only, so latency never piles up.
SENSOR_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                        reliability=ReliabilityPolicy.BEST_EFFORT,
                        durability=DurabilityPolicy.VOLATILE)
# Outputs: reliable, so any subscriber QoS (reliable or best effort) matches them.
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)


class ConfigError(ValueError):
    """A parameter or file the node cannot start with; the text names it and the fix."""


@dataclass(frozen=True)
class Param:
    """One ROS parameter: its default, what it means and which values are allowed."""

    name: str
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    read_only: bool = False

    def descriptor(self) -> ParameterDescriptor:
        descriptor = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.low is not None and isinstance(self.default, bool):
            raise TypeError(f'{self.name}: a bool parameter has no range')
        if self.low is not None and isinstance(self.default, int):
            descriptor.integer_range = [IntegerRange(
                from_value=int(self.low), to_value=int(self.high), step=0)]
        elif self.low is not None:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(self.low), to_value=float(self.high), step=0.0)]
        if self.choices:
            descriptor.additional_constraints = 'one of: ' + ', '.join(map(str, self.choices))
        return descriptor

    def check(self, value) -> str:
        """'' when value is allowed, else why not. rclpy itself enforces the ranges."""
        if self.choices and value not in self.choices:
            return (f"parameter '{self.name}' is {value!r}; allowed values: "
                    + ', '.join(map(repr, self.choices)))
        return ''


def declare_parameters(node, params) -> dict:
    """Declares params on node, validates choices now and on every later change.

    Returns {name: value}. Raises ConfigError naming the parameter when a value is invalid.
    """
    by_name = {p.name: p for p in params}
    values = {}
    for param in params:
        try:
            value = node.declare_parameter(param.name, param.default,
                                           param.descriptor()).value
        except Exception as error:  # noqa: BLE001 - rclpy raises several unrelated types
            raise ConfigError(f"parameter '{param.name}': {error}") from error
        problem = param.check(value)
        if problem:
            raise ConfigError(problem)
        values[param.name] = value

    def on_set(changes):
        for change in changes:
            param = by_name.get(change.name)
            problem = param.check(change.value) if param else ''
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return values


def run_node(node_factory, args=None) -> int:
    """main() of every node, in the Jazzy style; a ConfigError ends it with exit code 2."""
    rclpy.init(args=args)
    node = None
    try:
        node = node_factory()
        rclpy.spin(node)
    except ConfigError as error:
        rclpy.logging.get_logger('facekp_ros').fatal(f'cannot start: {error}')
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
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
    """A node whose work runs on a FrameWorker in self.worker: stopped on destroy."""

    def destroy_node(self):
        worker = getattr(self, 'worker', None)  # absent when the constructor failed
        if worker is not None:
            worker.stop()
        return super().destroy_node()
