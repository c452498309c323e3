"""IoU tracking: stable track ids, and faces held over when the detector loses them."""
import dataclasses
import itertools

import numpy as np

from facekp_ros.core.checks import FINITE, check_range
from facekp_ros.core.types import Face

# A held-over box grows by this fraction per missed frame (capped), since the face may move.
HOLD_GROWTH, HOLD_GROWTH_MAX = 0.05, 0.3


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xywh box in a (N, 4) with every one in b (M, 4); 0 where undefined."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    a0, a1 = a[:, None, :2], a[:, None, :2] + a[:, None, 2:]
    b0, b1 = b[None, :, :2], b[None, :, :2] + b[None, :, 2:]
    inter = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None).prod(-1)
    union = a[:, None, 2:].prod(-1) + b[None, :, 2:].prod(-1) - inter
    with np.errstate(invalid='ignore'):
        iou = inter / np.maximum(union, 1e-9)
    return np.nan_to_num(iou, nan=0.0)  # a NaN box matches nothing


def grown(box: np.ndarray, missed: int) -> np.ndarray:
    """box enlarged around its centre by HOLD_GROWTH per missed frame, at most HOLD_GROWTH_MAX."""
    x, y, w, h = box
    g = min(HOLD_GROWTH * missed, HOLD_GROWTH_MAX)
    return np.array([x - w * g / 2, y - h * g / 2, w * (1 + g), h * (1 + g)], np.float32)


@dataclasses.dataclass
class _Track:
    face: Face  # a copy of the face as last detected
    missed: int = 0  # frames since then


class IouTracker:
    """Gives faces stable track ids and keeps reporting a lost face for hold_frames frames.

    Matching is greedy by IoU (highest first, at least iou_threshold). Ids count up and are
    never reused, not even after reset().
    """

    def __init__(self, iou_threshold: float = 0.3, hold_frames: int = 5):
        check_range('iou_threshold', iou_threshold, (0, 1), low_open=True)
        check_range('hold_frames', hold_frames, (0, FINITE), integer=True)
        self.iou_threshold, self.hold_frames = iou_threshold, hold_frames
        self._next_id = itertools.count()
        self._tracks: dict[int, _Track] = {}

    def reset(self) -> None:
        """Forgets every track (e.g. the stream restarted); new faces get new ids."""
        self._tracks.clear()

    def _match(self, faces: list) -> dict:
        """{face index: track id}, highest IoU first."""
        ids = list(self._tracks)
        if not ids or not faces:
            return {}
        iou = iou_matrix(np.stack([f.box for f in faces]),
                         np.stack([self._tracks[i].face.box for i in ids]))
        matches, taken = {}, set()
        for flat in np.argsort(-iou, axis=None, kind='stable'):
            f, t = (int(i) for i in np.unravel_index(flat, iou.shape))
            if iou[f, t] < self.iou_threshold:
                break
            if f not in matches and t not in taken:
                matches[f] = ids[t]
                taken.add(t)
        return matches

    def update(self, faces: list) -> list:
        """The faces of this frame with track ids (copies; the inputs are not changed),
        followed by the faces lost for 1..hold_frames frames, frames_since_seen counting
        the frames missed and the box grown a little."""
        matches = self._match(faces)
        detected = []
        for index, face in enumerate(faces):
            track_id = matches[index] if index in matches else next(self._next_id)
            tracked = dataclasses.replace(face, box=face.box.copy(), track_id=track_id,
                                          frames_since_seen=0)
            self._tracks[track_id] = _Track(dataclasses.replace(tracked, box=face.box.copy()))
            detected.append(tracked)
        seen = {face.track_id for face in detected}
        held = []
        for track_id, track in list(self._tracks.items()):
            if track_id in seen:
                continue
            track.missed += 1
            if track.missed > self.hold_frames:
                del self._tracks[track_id]
                continue
            held.append(dataclasses.replace(track.face, box=grown(track.face.box, track.missed),
                                            frames_since_seen=track.missed))
        return detected + held
