"""draw_faces: boxes, labels, landmarks and keypoints on a copy, held faces told apart."""
import numpy as np
import pytest

from facekp_ros.core.draw import (
    AXIS_COLOURS,
    DETECTED,
    HELD,
    KEYPOINT_COLOUR,
    LANDMARK_COLOURS,
    draw_faces,
    line_thickness,
)
from facekp_ros.core.head_pose import default_intrinsics, project, rotation_from_yaw_pitch_roll
from facekp_ros.core.types import Face, HeadPose

GREY = 128


@pytest.fixture
def image():
    return np.full((480, 640, 3), GREY, np.uint8)


def face(box=(200, 150, 200, 240), **kwargs) -> Face:
    return Face(box=box, score=0.97, track_id=4, **kwargs)


def changed(before, after) -> np.ndarray:
    return (before != after).any(-1)


def has_colour(pixels, colour) -> bool:
    return bool((pixels == colour).all(-1).any())


def keypoints68(x0=230, y0=200) -> np.ndarray:
    """68 points laid out as the contours run: along 6 rows, apart from each other."""
    return np.array([(x0 + 12 * (i % 12), y0 + 25 * (i // 12)) for i in range(68)], np.float32)


def test_a_new_image_with_the_box_and_label_and_nothing_far_away(image):
    original = image.copy()
    out = draw_faces(image, [face()])
    assert np.array_equal(image, original) and not np.shares_memory(out, image)
    assert has_colour(out[150, 220:380], DETECTED)  # top edge of the box
    assert has_colour(out[120:150, 200:400], DETECTED)  # the label above it
    assert not changed(image, out)[:100].any() and not changed(image, out)[:, :150].any()


def test_held_over_faces_are_dashed_and_in_another_colour(image):
    out = draw_faces(image, [face(frames_since_seen=2)])
    top = out[150, 205:395]
    assert has_colour(top, HELD) and not has_colour(top, DETECTED)
    assert (top == GREY).all(-1).any(), 'gaps between the dashes'
    solid = draw_faces(image, [face()])[150, 205:395]
    assert not (solid == GREY).all(-1).any()


def test_landmarks_each_in_its_own_colour(image):
    landmarks = np.array([[250, 250], [350, 250], [300, 300], [260, 350], [340, 350]])
    out = draw_faces(image, [face(landmarks=landmarks)], draw_keypoints=False)
    for (x, y), colour in zip(landmarks, LANDMARK_COLOURS):
        assert tuple(out[y, x]) == colour
    assert len(set(LANDMARK_COLOURS)) == 5
    bare = draw_faces(image, [face(landmarks=landmarks)], draw_landmarks=False)
    assert not has_colour(bare, LANDMARK_COLOURS[0])


def test_keypoints_are_dotted_and_68_point_contours_joined(image):
    points = keypoints68()
    out = draw_faces(image, [face(keypoints=points)])
    assert all(tuple(out[int(y), int(x)]) == KEYPOINT_COLOUR for x, y in points)
    # Half way between jaw points 0 and 1 (a contour), and between 16 and 17 (not one).
    assert changed(image, out)[200, 236]
    assert not changed(image, out)[225, 236 + 12 * 4]
    assert not has_colour(draw_faces(image, [face(keypoints=points)], draw_keypoints=False),
                          KEYPOINT_COLOUR)


def test_lost_points_and_unplaceable_boxes_are_skipped(image):
    points = keypoints68()
    points[3] = np.nan
    landmarks = np.full((5, 2), np.nan, np.float32)
    out = draw_faces(image, [face(keypoints=points, landmarks=landmarks),
                             face(box=(np.nan, 0, 10, 10)), face(box=(1e12, 0, 10, 10))])
    assert tuple(out[int(points[5, 1]), int(points[5, 0])]) == KEYPOINT_COLOUR
    assert not changed(image, out)[200, 236], 'the jaw contour has a lost point: not drawn'


def test_faces_at_and_beyond_the_edges_draw_without_error(image):
    faces = [face(box=(-50, -40, 120, 100)), face(box=(600, 450, 200, 200)),
             face(box=(5000, 5000, 10, 10)), face(box=(300, 0, 40, 40))]
    out = draw_faces(image, faces)
    assert has_colour(out[:20, 300:400], DETECTED), 'the label of a face at the top edge'


def test_line_thickness_grows_with_the_image():
    assert line_thickness((240, 320, 3)) == 1
    assert line_thickness((2160, 3840, 3)) > line_thickness((480, 640, 3)) >= 1


def test_head_axes_from_the_sellion_in_their_colours(image):
    camera = default_intrinsics(640, 480)
    pose = HeadPose(rotation_from_yaw_pitch_roll(30, -20, 0), np.array([0.0, 0.0, 0.8]), 0.5,
                    camera.camera_matrix, camera.distortion, True)
    out = draw_faces(image, [face(head_pose=pose)], draw_landmarks=False)
    assert all(has_colour(out, colour) for colour in AXIS_COLOURS)
    up_tip = project(pose, [[0, 0, 0.06]])[0]  # most of the way up the z axis: blue
    x, y = np.round(up_tip).astype(int)
    assert has_colour(out[y - 2:y + 3, x - 2:x + 3], AXIS_COLOURS[2])
    plain = draw_faces(image, [face(head_pose=pose)], draw_head_pose=False)
    assert not any(has_colour(plain, colour) for colour in AXIS_COLOURS)
    unknown_camera = HeadPose(pose.rotation, pose.translation, 0.5, None, None, False)
    assert np.array_equal(draw_faces(image, [face(head_pose=unknown_camera)]),
                          draw_faces(image, [face()]))
