"""A one-item hand-over between a subscription callback and a worker thread."""
import threading


class LatestSlot:
    """Holds only the newest item: a put() over an unread item replaces (drops) it.

    This is what keeps a slow stage's latency bounded: it always works on the newest frame.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self._closed = False

    def put(self, item) -> bool:
        """Stores item; True when it replaced an item nobody had taken (a dropped frame)."""
        with self._cond:
            dropped = self._item is not None
            self._item = item
            self._cond.notify()
        return dropped

    def take(self, timeout_s: float | None = None):
        """The newest item, waiting up to timeout_s; None on time-out or after close()."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout_s)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
