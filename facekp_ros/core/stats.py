"""Rolling per-stage statistics for /diagnostics: fps, latency percentiles, dropped frames."""
import collections
import threading

import numpy as np


class StageStats:
    """Thread-safe counters of one pipeline stage over a sliding window of frames."""

    def __init__(self, window: int = 300):
        self._lock = threading.Lock()
        self._done_at = collections.deque(maxlen=window)  # seconds, monotonic
        self._latency_ms = collections.deque(maxlen=window)
        self.processed = 0
        self.dropped = 0
        self.failed = 0

    def record(self, now_s: float, latency_ms: float) -> None:
        with self._lock:
            self._done_at.append(now_s)
            self._latency_ms.append(latency_ms)
            self.processed += 1

    def count_dropped(self, n: int = 1) -> None:
        with self._lock:
            self.dropped += n

    def count_failed(self) -> None:
        with self._lock:
            self.failed += 1

    def summary(self, now_s: float) -> dict:
        """fps over the window (0 when idle for more than 2 s), latency p50/p99 in ms, counts."""
        with self._lock:
            done = list(self._done_at)
            latency = np.array(self._latency_ms, np.float64)
            counts = {'processed': self.processed, 'dropped': self.dropped,
                      'failed': self.failed}
        fps = 0.0
        if len(done) >= 2 and now_s - done[-1] < 2.0:
            fps = (len(done) - 1) / max(done[-1] - done[0], 1e-9)
        p50, p99 = (np.percentile(latency, [50, 99]) if latency.size else (0.0, 0.0))
        return {'fps': fps, 'latency_p50_ms': float(p50), 'latency_p99_ms': float(p99),
                **counts}
