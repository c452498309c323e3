"""Pairs images with the face arrays computed from them, by stamp, with bounded memory."""
import collections
import itertools
import threading

from facekp_ros.core.checks import FINITE, check_range

MAX_WAIT_RANGE = (0.01, 10.0)  # s
# Keys remembered per side, as a multiple of max_pending, to recognise a stamp seen twice.
KEY_MEMORY = 4


class _RecentKeys:
    """The last `size` distinct keys added, for membership tests."""

    def __init__(self, size: int):
        self._size = size
        self._order = collections.deque()
        self._keys = set()

    def __contains__(self, key) -> bool:
        return key in self._keys

    def add(self, key) -> None:
        self._order.append(key)
        self._keys.add(key)
        if len(self._order) > self._size:
            self._keys.discard(self._order.popleft())


class StampSync:
    """Meets each image with the faces found in it (same stamp key); never guesses.

    add_image / add_faces return the (image, faces) pair they complete, or None. Images
    that will never be paired are handed out by expired(now_s) as (image, reason): the
    caller must mask or drop them, never publish them raw. They are images that
      - waited longer than max_wait_s ('timeout'),
      - were pushed out by max_pending newer waiting images ('evicted'),
      - carry a key already seen on that side ('duplicate': which faces belong to which
        image is unknown, so neither is paired),
      - with supersede=True, arrived before an image that has just been paired
        ('superseded': faces come in stamp order, so theirs will not come; a newest-frame
        consumer masks or drops them at once instead of waiting max_wait_s).
    expired_counts counts them by reason; unmatched_faces counts face arrays dropped.
    Keys are any hashable (e.g. (sec, nanosec)); time is passed in by the caller.
    """

    def __init__(self, max_wait_s: float = 0.5, max_pending: int = 10, supersede: bool = False):
        check_range('max_wait_s', max_wait_s, MAX_WAIT_RANGE)
        check_range('max_pending', max_pending, (1, FINITE), integer=True)
        self.max_wait_s, self.max_pending, self.supersede = max_wait_s, max_pending, supersede
        self._images = collections.OrderedDict()  # key -> (image, arrival s), oldest first
        self._faces = collections.OrderedDict()  # key -> (faces, arrival s), oldest first
        self._image_keys = _RecentKeys(KEY_MEMORY * max_pending)
        self._face_keys = _RecentKeys(KEY_MEMORY * max_pending)
        self._unpaired = []  # images for the next expired() call
        self.expired_counts = collections.Counter()
        self.unmatched_faces = 0

    @property
    def pending(self) -> tuple:
        """(images, face arrays) waiting for their other half."""
        return len(self._images), len(self._faces)

    def add_image(self, key, image, now_s: float):
        if key in self._image_keys:
            self._forget(key)
            self._give_up(image, 'duplicate')
            return None
        self._image_keys.add(key)
        if key in self._faces:
            self._supersede(list(self._images))  # every waiting image arrived earlier
            return image, self._faces.pop(key)[0]
        self._images[key] = (image, now_s)
        if len(self._images) > self.max_pending:
            self._give_up(self._images.popitem(last=False)[1][0], 'evicted')
        return None

    def add_faces(self, key, faces, now_s: float):
        if key in self._face_keys:
            self._forget(key)
            self.unmatched_faces += 1
            return None
        self._face_keys.add(key)
        if key in self._images:
            self._supersede(list(itertools.takewhile(lambda k: k != key, self._images)))
            return self._images.pop(key)[0], faces
        if key in self._image_keys:  # its image was already paired or given up
            self.unmatched_faces += 1
            return None
        self._faces[key] = (faces, now_s)
        if len(self._faces) > self.max_pending:
            self._faces.popitem(last=False)
            self.unmatched_faces += 1
        return None

    def expired(self, now_s: float) -> list:
        """[(image, reason)] of images that will never be paired, oldest first; each is
        handed out once."""
        while self._images and now_s - next(iter(self._images.values()))[1] > self.max_wait_s:
            self._give_up(self._images.popitem(last=False)[1][0], 'timeout')
        while self._faces and now_s - next(iter(self._faces.values()))[1] > self.max_wait_s:
            self._faces.popitem(last=False)
            self.unmatched_faces += 1
        images, self._unpaired = self._unpaired, []
        return images

    def _give_up(self, image, reason: str) -> None:
        self._unpaired.append((image, reason))
        self.expired_counts[reason] += 1

    def _forget(self, key) -> None:
        """A key seen twice on one side: drop whatever waits under it on either side."""
        if key in self._images:
            self._give_up(self._images.pop(key)[0], 'duplicate')
        if self._faces.pop(key, None) is not None:
            self.unmatched_faces += 1

    def _supersede(self, older_keys: list) -> None:
        if self.supersede:
            for key in older_keys:
                self._give_up(self._images.pop(key)[0], 'superseded')


class IncreasingStamps:
    """Lets a stamp through only when it is newer than every stamp let through before, so an
    output stream's stamps only increase, whichever thread publishes."""

    def __init__(self):
        self._last = None
        self._lock = threading.Lock()

    def admit(self, sec: int, nanosec: int) -> bool:
        with self._lock:
            if self._last is not None and (sec, nanosec) <= self._last:
                return False
            self._last = (sec, nanosec)
            return True
