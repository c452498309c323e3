"""FrameWorker / LatestSlot / StageStats: newest frame only, drops and failures counted."""
import threading
import time

from facekp_ros.core.latest_slot import LatestSlot
from facekp_ros.core.stats import StageStats
from facekp_ros.core.worker import FrameWorker


def test_slot_keeps_only_the_newest_item_and_reports_the_drop():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.take(0.1) == 2
    assert slot.take(0.01) is None


def test_slot_close_wakes_a_waiting_taker():
    slot = LatestSlot()
    result = []
    taker = threading.Thread(target=lambda: result.append(slot.take(5.0)))
    taker.start()
    slot.close()
    taker.join(1.0)
    assert result == [None]


def test_worker_processes_newest_frames_and_counts_drops_and_failures():
    seen, errors = [], []
    gate = threading.Event()

    def process(item):
        gate.wait(2.0)
        if item == 'bad':
            raise ValueError('bad frame')
        seen.append(item)
        return 1.0

    worker = FrameWorker('test', process, lambda item, error: errors.append(str(error)))
    worker.submit(0)
    time.sleep(0.1)  # the worker is now blocked on frame 0
    for item in (1, 2, 3):
        worker.submit(item)
    gate.set()
    deadline = time.monotonic() + 2.0
    while 3 not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.submit('bad')
    time.sleep(0.2)
    worker.stop()
    assert seen == [0, 3]
    assert worker.stats.dropped == 2
    assert errors == ['bad frame'] and worker.stats.failed == 1


def test_stats_summary_fps_and_percentiles():
    stats = StageStats()
    for i in range(11):
        stats.record(now_s=i * 0.1, latency_ms=float(i))
    summary = stats.summary(now_s=1.0)
    assert abs(summary['fps'] - 10.0) < 1e-6
    assert summary['latency_p50_ms'] == 5.0 and summary['processed'] == 11
    assert stats.summary(now_s=10.0)['fps'] == 0.0  # idle: no stale rate
