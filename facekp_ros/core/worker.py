"""A worker thread that processes only the newest submitted frame."""
import threading
import time

from facekp_ros.core.latest_slot import LatestSlot
from facekp_ros.core.stats import StageStats


class FrameWorker:
    """Runs process(item) on its own thread for the newest item; older ones are dropped.

    Subscription callbacks stay tiny (submit), so DDS never queues frames behind a slow
    stage; drops and failures are counted in stats for /diagnostics. process returns the
    frame's latency in ms (or None to skip recording); on_error(item, error) is called
    when it raises, and the worker keeps going with the next frame.
    """

    def __init__(self, name: str, process, on_error):
        self.stats = StageStats()
        self._process = process
        self._on_error = on_error
        self._slot = LatestSlot()
        self._running = True
        self._lock = threading.Lock()
        self._pending = 0  # submitted, not yet processed, failed or dropped
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _settle(self, count: int) -> None:
        with self._lock:
            self._pending += count

    def submit(self, item) -> None:
        self._settle(1)
        if self._slot.put(item):
            self.stats.count_dropped()
            self._settle(-1)

    def _loop(self) -> None:
        while self._running:
            item = self._slot.take(timeout_s=0.2)
            if item is None:
                continue
            try:
                latency_ms = self._process(item)
                if latency_ms is not None:
                    self.stats.record(time.monotonic(), latency_ms)
            except Exception as error:  # noqa: BLE001 - one bad frame must not stop the stage
                self.stats.count_failed()
                self._on_error(item, error)
            finally:
                self._settle(-1)

    def idle(self) -> bool:
        """True when every submitted frame has been processed, has failed or was dropped."""
        with self._lock:
            return self._pending == 0

    def stop(self, timeout_s: float = 2.0) -> None:
        self._running = False
        self._slot.close()
        self._thread.join(timeout_s)
