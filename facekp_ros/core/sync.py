"""Pairs images with the face arrays computed from them, by stamp, with bounded memory."""
import collections


class StampSync:
    """Images wait up to max_wait_s for their faces; faces wait for their image.

    add_image / add_faces return the (image, faces) pair they complete, or None.
    expired(now_s) returns the images that waited too long or were pushed out by newer ones:
    the caller must mask or drop them, never publish them raw. Time is passed in.
    """

    def __init__(self, max_wait_s: float = 0.5, max_pending: int = 10):
        if max_wait_s <= 0 or max_pending < 1:
            raise ValueError('max_wait_s must be > 0 and max_pending >= 1')
        self.max_wait_s, self.max_pending = max_wait_s, max_pending
        self._images = collections.OrderedDict()  # key -> (image, arrival time)
        self._faces = collections.OrderedDict()  # key -> faces
        self._evicted = []
        self.unmatched_faces = 0

    def add_image(self, key, image, now_s: float):
        faces = self._faces.pop(key, None)
        if faces is not None:
            return image, faces
        self._images[key] = (image, now_s)
        if len(self._images) > self.max_pending:
            self._evicted.append(self._images.popitem(last=False)[1][0])
        return None

    def add_faces(self, key, faces, now_s: float):
        pending = self._images.pop(key, None)
        if pending is not None:
            return pending[0], faces
        self._faces[key] = faces
        if len(self._faces) > self.max_pending:
            self._faces.popitem(last=False)
            self.unmatched_faces += 1
        return None

    def expired(self, now_s: float) -> list:
        images, self._evicted = self._evicted, []
        while self._images:
            key, (image, arrived) = next(iter(self._images.items()))
            if now_s - arrived <= self.max_wait_s:
                break
            del self._images[key]
            images.append(image)
        return images
