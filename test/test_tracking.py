"""IoU tracker: stable ids, hold-over of lost faces, ids never reused, inputs untouched."""
import numpy as np
import pytest

from facekp_ros.core.tracking import HOLD_GROWTH_MAX, IouTracker, grown, iou_matrix
from facekp_ros.core.types import Face


def face(x, y, w=50, h=60):
    return Face(box=(x, y, w, h), score=0.9)


def ids(faces) -> list:
    return [f.track_id for f in faces]


def test_iou():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 0, 0],
                  [np.nan, 0, 10, 10]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0, 0.0, 0.0]])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 5)


def test_ids_are_stable_while_faces_move_and_new_faces_get_new_ids():
    tracker = IouTracker(hold_frames=2)
    first = ids(tracker.update([face(0, 0), face(200, 0)]))
    assert len(set(first)) == 2
    moved = tracker.update([face(205, 3), face(4, 2), face(400, 400)])
    assert ids(moved)[:2] == [first[1], first[0]]
    assert moved[2].track_id not in first
    assert all(f.frames_since_seen == 0 for f in moved)


def test_the_inputs_are_not_changed():
    detected = [face(0, 0)]
    tracker = IouTracker()
    [tracked] = tracker.update(detected)
    assert detected[0].track_id == -1 and tracked.track_id >= 0
    tracked.box[:] = 1000  # changing the result changes neither the input nor the track
    assert detected[0].box[2] == 50
    assert ids(tracker.update([face(0, 0)])) == [tracked.track_id]


def test_a_lost_face_keeps_its_id_through_a_gap_shorter_than_hold_frames():
    tracker = IouTracker(hold_frames=3)
    [detected] = tracker.update([face(100, 100)])
    for missed in (1, 2, 3):
        [held] = tracker.update([])
        assert held.track_id == detected.track_id and held.frames_since_seen == missed
    [back] = tracker.update([face(104, 98)])
    assert back.track_id == detected.track_id and back.frames_since_seen == 0


def test_a_lost_face_is_dropped_after_hold_frames_and_its_id_never_reused():
    tracker = IouTracker(hold_frames=2)
    [detected] = tracker.update([face(100, 100)])
    assert [f.frames_since_seen for f in tracker.update([])] == [1]
    assert [f.frames_since_seen for f in tracker.update([])] == [2]
    assert tracker.update([]) == []
    [again] = tracker.update([face(100, 100)])
    assert again.track_id > detected.track_id


def test_hold_frames_zero_reports_only_detected_faces():
    tracker = IouTracker(hold_frames=0)
    tracker.update([face(0, 0)])
    assert tracker.update([]) == []


def test_held_boxes_grow_around_their_centre_up_to_a_limit():
    box = np.array([100, 100, 50, 60], np.float32)
    for missed in (1, 3, 100):
        x, y, w, h = grown(box, missed)
        assert w > 50 and h > 60 and w <= 50 * (1 + HOLD_GROWTH_MAX) + 1e-3
        np.testing.assert_allclose((x + w / 2, y + h / 2), (125, 130), atol=1e-3)
    tracker = IouTracker(hold_frames=5)
    tracker.update([face(100, 100)])
    widths = [tracker.update([])[0].box[2] for _ in range(3)]
    assert widths == sorted(widths) and widths[0] > 50


def test_each_track_is_matched_once_best_overlap_first():
    tracker = IouTracker()
    [old] = tracker.update([face(100, 100)])
    # Two detections overlap the old face: the closer one keeps its id.
    near, far = tracker.update([face(120, 100), face(102, 100)])
    assert far.track_id == old.track_id and near.track_id != old.track_id


def test_reset_forgets_tracks_but_never_reuses_ids():
    tracker = IouTracker(hold_frames=5)
    [before] = tracker.update([face(0, 0)])
    tracker.reset()
    assert tracker.update([]) == []
    [after] = tracker.update([face(0, 0)])
    assert after.track_id > before.track_id


def test_a_face_with_a_nan_box_matches_nothing_and_is_still_reported():
    tracker = IouTracker(hold_frames=1)
    [good] = tracker.update([face(0, 0)])
    bad = Face(box=(np.nan, 0, 50, 60), score=0.5)
    result = tracker.update([bad, face(1, 1)])
    assert result[1].track_id == good.track_id
    assert result[0].track_id not in (good.track_id, -1) and np.isnan(result[0].box[0])


@pytest.mark.parametrize('kwargs, field', [
    ({'iou_threshold': 0}, 'iou_threshold'), ({'iou_threshold': 1.5}, 'iou_threshold'),
    ({'hold_frames': -1}, 'hold_frames'), ({'hold_frames': 2.5}, 'hold_frames')])
def test_bad_parameters_are_named(kwargs, field):
    with pytest.raises(ValueError, match=field):
        IouTracker(**kwargs)
