"""Helpers for node tests over real DDS: a private rclpy context, a spin loop with a deadline,
and a subscription that keeps what it receives.

    with ros_nodes(lambda c: CameraNode(context=c), lambda c: Node('tester', context=c)) \\
            as (executor, (camera, tester)):
        images = Collector(tester, Image, 'image_raw')
        assert spin_until(executor, lambda: len(images.messages) >= 3, 10.0)
"""
import contextlib
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from facekp_ros.node_common import OUTPUT_QOS


@contextlib.contextmanager
def ros_context():
    """rclpy initialised in a fresh Context of its own, shut down on exit; yields it."""
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


@contextlib.contextmanager
def ros_nodes(*factories):
    """Makes each node with factory(context) in a fresh context and adds them all to one
    executor; yields (executor, nodes) and destroys them on exit. A factory that raises
    (a ConfigError, say) propagates after the nodes made before it are destroyed."""
    with ros_context() as context:
        executor = SingleThreadedExecutor(context=context)
        nodes = []
        try:
            for factory in factories:
                nodes.append(factory(context))
                executor.add_node(nodes[-1])
            yield executor, nodes
        finally:
            for node in nodes:
                executor.remove_node(node)
            executor.shutdown()
            for node in nodes:
                node.destroy_node()


def spin_until(executor_or_node, predicate, timeout_s: float) -> bool:
    """Spins until predicate() is true or timeout_s has passed; returns predicate().

    Give the executor that holds the nodes, or a lone node (spun by an executor of its own).
    """
    if not isinstance(executor_or_node, Node):
        return _spin_until(executor_or_node, predicate, timeout_s)
    executor = SingleThreadedExecutor(context=executor_or_node.context)
    executor.add_node(executor_or_node)
    try:
        return _spin_until(executor, predicate, timeout_s)
    finally:
        executor.remove_node(executor_or_node)
        executor.shutdown()


def _spin_until(executor, predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline and executor.context.ok():
        executor.spin_once(timeout_sec=0.05)
    return bool(predicate())


class Collector:
    """Subscribes node to topic and keeps every message received, in order, in .messages.

    The default QoS is reliable, which matches reliable publishers only; pass
    node_common.SENSOR_QOS to receive from best-effort ones as well.
    """

    def __init__(self, node: Node, msg_type, topic: str, qos=OUTPUT_QOS):
        self.messages = []
        self.subscription = node.create_subscription(msg_type, topic, self.messages.append, qos)
