"""IoU tracking: stable track ids, and faces held over when the detector loses them."""
import dataclasses
import itertools

import numpy as np

# A held-over box grows by this fraction per missed frame (capped), since the face may move.
HOLD_GROWTH, HOLD_GROWTH_MAX = 0.05, 0.3


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xywh box in a (N, 4) with every one in b (M, 4)."""
    a0, a1 = a[:, None, :2], a[:, None, :2] + a[:, None, 2:]
    b0, b1 = b[None, :, :2], b[None, :, :2] + b[None, :, 2:]
    inter = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None).prod(-1)
    union = a[:, None, 2:].prod(-1) + b[None, :, 2:].prod(-1) - inter
    return inter / np.maximum(union, 1e-9)


def grown(box: np.ndarray, missed: int) -> np.ndarray:
    x, y, w, h = box
    g = min(HOLD_GROWTH * missed, HOLD_GROWTH_MAX)
    return np.array([x - w * g / 2, y - h * g / 2, w * (1 + g), h * (1 + g)], np.float32)


class IouTracker:
    """update(faces) -> detected faces with track ids + faces held over for hold_frames."""

    def __init__(self, iou_threshold: float = 0.3, hold_frames: int = 5):
        if not 0 < iou_threshold <= 1 or hold_frames < 0:
            raise ValueError('iou_threshold must be in (0, 1] and hold_frames >= 0')
        self.iou_threshold, self.hold_frames = iou_threshold, hold_frames
        self._ids = itertools.count()
        self._tracks = {}  # id -> (last detected Face, frames missed)

    def reset(self) -> None:
        self._tracks.clear()

    def _match(self, faces) -> dict:
        """Greedy highest-IoU matching: {face index: track id}."""
        ids = list(self._tracks)
        if not ids or not faces:
            return {}
        iou = iou_matrix(np.stack([f.box for f in faces]),
                         np.stack([self._tracks[i][0].box for i in ids]))
        matches = {}
        for flat in np.argsort(-iou, axis=None):
            f, t = np.unravel_index(flat, iou.shape)
            if iou[f, t] < self.iou_threshold:
                break
            if f not in matches and ids[t] not in matches.values():
                matches[f] = ids[t]
        return matches

    def update(self, faces) -> list:
        matches = self._match(faces)
        seen = set()
        for index, face in enumerate(faces):
            track_id = matches.get(index)
            if track_id is None:
                track_id = next(self._ids)
            face.track_id, face.frames_since_seen = track_id, 0
            self._tracks[track_id] = (face, 0)
            seen.add(track_id)
        held = []
        for track_id, (face, missed) in list(self._tracks.items()):
            if track_id in seen:
                continue
            missed += 1
            if missed > self.hold_frames:
                del self._tracks[track_id]
                continue
            self._tracks[track_id] = (face, missed)
            held.append(dataclasses.replace(face, box=grown(face.box, missed),
                                            frames_since_seen=missed))
        return list(faces) + held
