"""Face dataclasses <-> facekp_ros messages."""
import dataclasses
import math

import numpy as np
import pytest
from std_msgs.msg import Header

from facekp_ros.conversions import detections_from_msg, face_array_msg, stamp_key
from facekp_ros.core.head_pose import (
    default_intrinsics,
    intrinsics_from_k,
    rotation_from_yaw_pitch_roll,
)
from facekp_ros.core.types import LANDMARK5_NAMES, Detections, Face, FaceCues, HeadPose


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


def _posed_face(intrinsics_default=True):
    camera = default_intrinsics(640, 480)
    pose = HeadPose(rotation_from_yaw_pitch_roll(20, -10, 5), np.array([0.1, -0.05, 0.9]),
                    1.25, camera.camera_matrix, camera.distortion, intrinsics_default)
    cues = FaceCues(0.9, 1.1, 0.2, 12.5, True)
    return Face(box=(5, 6, 40, 50), score=0.9, track_id=3, head_pose=pose, cues=cues)


def test_head_pose_and_cues_round_trip():
    face = _posed_face()
    msg = face_array_msg(Header(), (480, 640), Detections([face], 'retinaface'), [face])
    m = msg.faces[0]
    assert m.pose_valid and m.intrinsics_default and m.looking_at_camera
    np.testing.assert_allclose((m.yaw_deg, m.pitch_deg, m.roll_deg), (20, -10, 5), atol=1e-4)
    assert m.head_pose.position.x == 0.1
    assert m.distance_m == pytest.approx(np.linalg.norm([0.1, -0.05, 0.9]))
    back = detections_from_msg(msg).faces[0]
    np.testing.assert_allclose(back.head_pose.rotation, face.head_pose.rotation, atol=1e-6)
    np.testing.assert_allclose(back.head_pose.translation, face.head_pose.translation)
    # The default camera is rebuilt from the image size in the message.
    np.testing.assert_allclose(back.head_pose.camera_matrix, face.head_pose.camera_matrix)
    assert back.head_pose.reprojection_error_px == 1.25
    assert dataclasses.astuple(back.cues)[:4] == pytest.approx((0.9, 1.1, 0.2, 12.5))
    assert back.cues.looking_at_camera is True
    camera = intrinsics_from_k([500, 0, 300, 0, 500, 200, 0, 0, 1])
    given = detections_from_msg(msg, camera).faces[0]
    np.testing.assert_allclose(given.head_pose.camera_matrix, camera.camera_matrix)


def test_a_face_without_pose_or_cues_says_so():
    face = Face(box=(0, 0, 1, 1), score=1.0)
    msg = face_array_msg(Header(), (2, 2), Detections([face], 'haar'), [face])
    m = msg.faces[0]
    assert not m.pose_valid and not m.looking_at_camera
    assert all(math.isnan(v) for v in (m.distance_m, m.yaw_deg, m.right_eye_openness,
                                        m.mouth_openness, m.attention_angle_deg))
    back = detections_from_msg(msg).faces[0]
    assert back.head_pose is None and back.cues is None
