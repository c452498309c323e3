"""Worker threads that process frames off the caller's thread, in order.

FrameWorker runs a chain of steps, each on its own thread: with two steps, step 1 of frame
N+1 (detection) overlaps step 2 of frame N (keypoints, anonymization), so a two-core machine
works on both at once. Frames leave the last step in the order they were submitted.
"""
import queue
import threading
import time

from facekp_ros.core.latest_slot import LatestSlot
from facekp_ros.core.stats import StageStats

_STOP = object()


class FrameWorker:
    """Runs steps[0](item), then steps[1](item, result), ... for each submitted item.

    newest_only (live streams): submit() replaces an item the first step has not started,
    which is then dropped and counted, so latency stays bounded. Otherwise (files, bags)
    submit() waits for room and nothing is dropped. The last step returns the frame's
    latency in ms (or None to skip recording); on_error(item, error) is called when a step
    raises, and the worker goes on with the next frame.
    """

    def __init__(self, name: str, steps, on_error, newest_only: bool = True):
        steps = list(steps) if isinstance(steps, (list, tuple)) else [steps]
        self.stats = StageStats()
        self._on_error = on_error
        self._newest_only = newest_only
        self._input = LatestSlot() if newest_only else queue.Queue(maxsize=1)
        # Between steps: one frame in hand-over, so a slow later step holds back the first.
        self._links = [queue.Queue(maxsize=1) for _ in steps[1:]]
        self._running = True
        self._lock = threading.Lock()
        self._pending = 0  # submitted, not yet processed, failed or dropped
        self._threads = [threading.Thread(target=self._loop, args=(i, step),
                                          name=f'{name}-{i}', daemon=True)
                         for i, step in enumerate(steps)]
        for thread in self._threads:
            thread.start()

    def _settle(self, count: int) -> None:
        with self._lock:
            self._pending += count

    def submit(self, item) -> None:
        self._settle(1)
        if not self._newest_only:
            self._input.put(item)
        elif self._input.put(item):
            self.stats.count_dropped()
            self._settle(-1)

    def _take(self, index: int):
        if index:
            return self._links[index - 1].get()
        if self._newest_only:
            return self._input.take(timeout_s=0.2)
        try:
            return self._input.get(timeout=0.2)
        except queue.Empty:
            return None

    def _loop(self, index: int, step) -> None:
        last = index == len(self._threads) - 1
        while self._running:
            taken = self._take(index)
            if taken is None or taken is _STOP:
                continue
            item, args = taken if index else (taken, ())
            try:
                result = step(item, *args)
            except Exception as error:  # noqa: BLE001 - one bad frame must not stop the stage
                self.stats.count_failed()
                self._on_error(item, error)
                self._settle(-1)
                continue
            if not last:
                self._hand_over(self._links[index], (item, (result,)))
                continue
            if result is not None:
                self.stats.record(time.monotonic(), result)
            self._settle(-1)

    def _hand_over(self, link: queue.Queue, value) -> None:
        while self._running:
            try:
                link.put(value, timeout=0.2)
                return
            except queue.Full:
                continue
        self._settle(-1)  # stopping: the frame is abandoned

    def idle(self) -> bool:
        """True when every submitted frame has been processed, has failed or was dropped."""
        with self._lock:
            return self._pending == 0

    def stop(self, timeout_s: float = 2.0) -> bool:
        """Stop the threads; True when all of them ended within timeout_s each (a step
        already running is finished first)."""
        self._running = False
        if self._newest_only:
            self._input.close()
        for link in self._links:  # wake later steps waiting for a frame
            try:
                link.put_nowait(_STOP)
            except queue.Full:
                pass
        for thread in self._threads:
            thread.join(timeout_s)
        return not any(thread.is_alive() for thread in self._threads)
