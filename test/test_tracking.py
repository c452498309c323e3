"""IoU tracker: stable ids, hold-over of lost faces, ids never reused."""
import numpy as np
import pytest

from facekp_ros.core.tracking import IouTracker, iou_matrix
from facekp_ros.core.types import Face


def face(x, y, w=50, h=60):
    return Face(box=(x, y, w, h), score=0.9)


def test_iou():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])


def test_ids_are_stable_while_faces_move_and_new_faces_get_new_ids():
    tracker = IouTracker(hold_frames=2)
    first = tracker.update([face(0, 0), face(200, 0)])
    ids = [f.track_id for f in first]
    assert len(set(ids)) == 2
    moved = tracker.update([face(205, 3), face(4, 2), face(400, 400)])
    assert [f.track_id for f in moved[:2]] == [ids[1], ids[0]]
    assert moved[2].track_id not in ids


def test_lost_faces_are_held_for_hold_frames_then_dropped():
    tracker = IouTracker(hold_frames=2)
    [detected] = tracker.update([face(100, 100)])
    for missed in (1, 2):
        [held] = tracker.update([])
        assert held.track_id == detected.track_id and held.frames_since_seen == missed
        assert held.box[2] > detected.box[2]  # grown: the face may have moved
    assert tracker.update([]) == []
    [again] = tracker.update([face(100, 100)])
    assert again.track_id != detected.track_id  # ids are never reused


def test_a_face_found_again_during_hold_keeps_its_id():
    tracker = IouTracker(hold_frames=3)
    [detected] = tracker.update([face(100, 100)])
    tracker.update([])
    [back] = tracker.update([face(102, 101)])
    assert back.track_id == detected.track_id and back.frames_since_seen == 0


def test_bad_parameters():
    with pytest.raises(ValueError):
        IouTracker(iou_threshold=0)
