"""StageStats -> diagnostic_msgs/DiagnosticArray for /diagnostics."""
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue


def stage_status(node_name: str, stage: str, summary: dict, problem: str = '') -> DiagnosticStatus:
    """OK with the numbers; WARN with problem's text when the stage reports one."""
    level = DiagnosticStatus.WARN if problem else DiagnosticStatus.OK
    values = [KeyValue(key=key, value=f'{value:.2f}' if isinstance(value, float) else str(value))
              for key, value in summary.items()]
    return DiagnosticStatus(level=level, name=f'{node_name}: {stage}',
                            message=problem or 'ok', hardware_id=node_name, values=values)


class DiagnosticsPublisher:
    """Publishes the stats of a node's stages once a second."""

    def __init__(self, node, stages: dict, problems=lambda: {}):
        self._node = node
        self._stages = stages  # name -> StageStats
        self._problems = problems  # () -> {stage name: problem text}
        self._publisher = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._timer = node.create_timer(1.0, self.publish)

    def publish(self) -> None:
        now = time.monotonic()
        problems = self._problems()
        msg = DiagnosticArray()
        msg.header.stamp = self._node.get_clock().now().to_msg()
        msg.status = [stage_status(self._node.get_name(), name, stats.summary(now),
                                   problems.get(name, ''))
                      for name, stats in self._stages.items()]
        self._publisher.publish(msg)
