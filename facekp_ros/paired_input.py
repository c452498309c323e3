"""An image topic and a FaceArray topic, paired by stamp, handed to a FrameWorker."""
import threading
import time

from sensor_msgs.msg import Image

from facekp_ros.conversions import stamp_key
from facekp_ros.core.sync import StampSync
from facekp_ros.msg import FaceArray
from facekp_ros.node_common import OUTPUT_QOS, SENSOR_QOS


class PairedInput:
    """Subscribes 'image' and faces_topic; worker.submit((image, faces)) per matched stamp.

    An image whose faces do not arrive within max_wait_s goes to on_expired(image) instead:
    the anonymizer masks it, other nodes drop it.
    """

    def __init__(self, node, faces_topic: str, worker, max_wait_s: float, on_expired):
        self._sync = StampSync(max_wait_s)
        self._lock = threading.Lock()  # callbacks may run on several executor threads
        self._worker, self._on_expired = worker, on_expired
        node.create_subscription(Image, 'image', self._on_image, SENSOR_QOS)
        node.create_subscription(FaceArray, faces_topic, self._on_faces, OUTPUT_QOS)
        node.create_timer(min(max_wait_s / 2, 0.1), self._expire)

    def _on_image(self, msg: Image) -> None:
        with self._lock:
            pair = self._sync.add_image(stamp_key(msg.header), msg, time.monotonic())
        if pair:
            self._worker.submit(pair)

    def _on_faces(self, msg: FaceArray) -> None:
        with self._lock:
            pair = self._sync.add_faces(stamp_key(msg.header), msg, time.monotonic())
        if pair:
            self._worker.submit(pair)

    def _expire(self) -> None:
        with self._lock:
            expired = self._sync.expired(time.monotonic())
        for image in expired:
            self._on_expired(image)
