"""Face dataclasses <-> facekp_ros messages."""
import numpy as np
from std_msgs.msg import Header

from facekp_ros.conversions import detections_from_msg, face_array_msg, stamp_key
from facekp_ros.core.types import LANDMARK5_NAMES, Detections, Face


def _face():
    landmarks = np.array([[10, 20], [30, 20], [np.nan, np.nan], [12, 40], [28, 40]], np.float32)
    return Face(box=(5, 6, 40, 50), score=0.9, landmarks=landmarks, track_id=7,
                frames_since_seen=2, keypoints=[[1, 2], [3, 4]], keypoint_scores=[0.5, 1.0])


def test_face_array_round_trip_keeps_everything_and_copies_the_header():
    header = Header(frame_id='cam')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    hidden = Face(box=(100, 50, 12, 14), score=0.35, track_id=-1)
    msg = face_array_msg(header, (480, 640, 3),
                         Detections([_face()], 'retinaface', mask_only=[hidden]),
                         keypoint_names=('a', 'b'), keypoint_model='m1')
    assert msg.header == header and (msg.image_width, msg.image_height) == (640, 480)
    assert msg.detector == 'retinaface' and msg.detection_ok
    face_msg = msg.faces[0]
    assert [p.name for p in face_msg.landmarks] == list(LANDMARK5_NAMES)
    assert face_msg.landmarks[2].score == 0.0  # not found by the detector
    assert [p.name for p in face_msg.keypoints] == ['a', 'b']
    assert face_msg.keypoint_model == 'm1'

    back = detections_from_msg(msg)
    face = back.faces[0]
    np.testing.assert_allclose(face.box, [5, 6, 40, 50])
    assert face.track_id == 7 and face.frames_since_seen == 2
    assert np.isnan(face.landmarks[2]).all()
    np.testing.assert_allclose(face.landmarks[[0, 1, 3, 4]], _face().landmarks[[0, 1, 3, 4]])
    np.testing.assert_allclose(face.keypoints, [[1, 2], [3, 4]])
    np.testing.assert_allclose(face.keypoint_scores, [0.5, 1.0])
    assert stamp_key(msg.header) == (12, 345, 'cam')
    assert len(msg.mask_only) == 1 and not msg.mask_only[0].keypoints
    np.testing.assert_allclose(back.mask_only[0].box, [100, 50, 12, 14])
    assert back.mask_only[0].score == np.float32(0.35) and back.mask_only[0].track_id == -1


def test_an_unusable_mask_only_box_makes_the_frame_unsafe():
    bad = Face(box=(np.nan, 0, 5, 5), score=0.4)
    msg = face_array_msg(Header(), (9, 9), Detections([], 'retinaface', mask_only=[bad]))
    back = detections_from_msg(msg)
    assert not back.ok and 'mask_only face 0' in back.error


def test_failed_detection_is_marked_unsafe():
    msg = face_array_msg(Header(), (1, 1), Detections([], 'haar', ok=False, error='x'))
    assert not msg.detection_ok and not msg.faces
    assert not detections_from_msg(msg).ok


def test_face_without_keypoints_has_no_model_name():
    face = Face(box=(0, 0, 1, 1), score=1.0)
    msg = face_array_msg(Header(), (2, 2), Detections([face], 'haar'), (), 'm1')
    assert msg.faces[0].keypoint_model == '' and not msg.faces[0].keypoints
