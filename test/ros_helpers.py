"""Helpers for node tests: a private rclpy context, a deadline spin loop, a collector."""
import contextlib
import time

import rclpy
from rclpy.executors import MultiThreadedExecutor

from facekp_ros.node_common import OUTPUT_QOS


@contextlib.contextmanager
def ros_nodes(*factories):
    """Creates the nodes in a fresh context with one executor; yields (executor, nodes)."""
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
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
        rclpy.try_shutdown(context=context)


def spin_until(executor, predicate, timeout_s: float) -> bool:
    """Spins until predicate() is true or the deadline passes; returns predicate()."""
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return predicate()


class Collector:
    """Keeps every message received on topic."""

    def __init__(self, node, msg_type, topic: str, qos=OUTPUT_QOS):
        self.messages = []
        node.create_subscription(msg_type, topic, self.messages.append, qos)
