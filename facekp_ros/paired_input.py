"""An image topic and a FaceArray topic, paired by stamp, handed to a FrameWorker."""
import threading
import time

from facekp_ros.conversions import stamp_key
from facekp_ros.core.sync import StampSync
from facekp_ros.image_topics import subscribe_image
from facekp_ros.msg import FaceArray
from facekp_ros.node_common import OUTPUT_QOS

EXPIRY_PERIOD_S = 0.05  # how often waiting images are checked against max_wait_s


class PairedInput:
    """Subscribes 'image' (as params' image_transport and QoS say) and faces_topic;
    node.submit((image, faces)) per matched stamp; max_wait_s from params.

    Images that will never be paired go to on_expired(image, reason): 'superseded' when the
    faces of a newer image arrived first (the detector skipped this one: drop it, never
    publish it late), 'timeout' when no faces came within max_wait_s (the anonymizer masks
    it), 'evicted' or 'duplicate' (see core.sync.StampSync).
    """

    def __init__(self, node, faces_topic: str, params: dict, on_expired):
        self.sync = StampSync(params['max_wait_s'], supersede=True)
        self._lock = threading.Lock()  # callbacks may run on several executor threads
        self._submit, self._on_expired = node.submit, on_expired
        subscribe_image(node, 'image', self._on_image, params)
        node.create_subscription(FaceArray, faces_topic, self._on_faces, OUTPUT_QOS)
        node.create_timer(EXPIRY_PERIOD_S, self._expire)

    def set_max_wait(self, max_wait_s: float) -> None:
        with self._lock:
            self.sync.max_wait_s = max_wait_s

    def _on_image(self, msg) -> None:
        with self._lock:
            pair = self.sync.add_image(stamp_key(msg.header), msg, time.monotonic())
            expired = self.sync.expired(time.monotonic())
        self._hand_out(pair, expired)

    def _on_faces(self, msg: FaceArray) -> None:
        with self._lock:
            pair = self.sync.add_faces(stamp_key(msg.header), msg, time.monotonic())
            expired = self.sync.expired(time.monotonic())
        self._hand_out(pair, expired)

    def _expire(self) -> None:
        with self._lock:
            expired = self.sync.expired(time.monotonic())
        self._hand_out(None, expired)

    def _hand_out(self, pair, expired) -> None:
        for image, reason in expired:  # all older than the pair
            self._on_expired(image, reason)
        if pair:
            self._submit(pair)
