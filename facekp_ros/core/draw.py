"""Annotations for /image_annotated: boxes, ids, scores, landmarks, keypoint contours and
head axes."""
import cv2
import numpy as np

from facekp_ros.core.anonymize import MAX_COORDINATE, box_is_usable
from facekp_ros.core.head_pose import project

# BGR. Held-over faces (not detected in this image) are drawn dashed, in orange.
DETECTED, HELD = (0, 220, 0), (0, 165, 255)
# right eye, left eye, nose tip, mouth right, mouth left (LANDMARK5_NAMES order)
LANDMARK_COLOURS = ((0, 0, 255), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 255))
KEYPOINT_COLOUR = (255, 255, 0)
# 68-point contours: (first, last, closed): jaw, brows, nose bridge, nostrils, eyes, lips.
CONTOURS68 = ((0, 16, False), (17, 21, False), (22, 26, False), (27, 30, False),
              (31, 35, False), (36, 41, True), (42, 47, True), (48, 59, True), (60, 67, True))
DASH_PERIODS = 12  # dashes per box side
# Head axes from the sellion, face frame (REP-155): x forward red, y left green, z up blue.
AXIS_LENGTH_M = 0.08
AXIS_COLOURS = ((0, 0, 255), (0, 200, 0), (255, 0, 0))


def line_thickness(image_shape) -> int:
    """About 1 px per 400 px of the image's longer side (at least 1): visible at any size."""
    return max(1, round(max(image_shape[:2]) / 400))


def _drawable(points: np.ndarray) -> np.ndarray:
    """Rows of points that can be drawn (finite and within OpenCV's coordinate range)."""
    return np.isfinite(points).all(1) & (np.abs(points) <= MAX_COORDINATE).all(1)


def _dashed_rectangle(out, p0, p1, colour, thickness) -> None:
    corners = np.array([p0, (p1[0], p0[1]), p1, (p0[0], p1[1]), p0], np.float64)
    for start, end in zip(corners[:-1], corners[1:]):
        ends = np.linspace(start, end, 2 * DASH_PERIODS + 1)
        for a, b in zip(ends[0::2], ends[1::2]):
            cv2.line(out, tuple(np.round(a).astype(int).tolist()),
                     tuple(np.round(b).astype(int).tolist()), colour, thickness, cv2.LINE_AA)


def _draw_box_and_label(out, face, thickness) -> None:
    held = face.frames_since_seen > 0
    colour = HELD if held else DETECTED
    x, y, w, h = (int(v) for v in np.round(face.box))
    if held:
        _dashed_rectangle(out, (x, y), (x + w, y + h), colour, thickness)
    else:
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness, cv2.LINE_AA)
    label = f'id {face.track_id} {face.score:.2f}'
    if held:
        label += f' held {face.frames_since_seen}'
    scale = 0.4 * thickness
    (text_w, text_h), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale,
                                                 thickness)
    # Above the box, or inside its top when the box touches the image's top edge.
    text_x = min(max(x, 0), max(out.shape[1] - text_w, 0))
    text_y = y - baseline - thickness if y - text_h - baseline > 0 else y + text_h + thickness
    text_y = min(max(text_y, text_h), out.shape[0] - baseline)
    cv2.putText(out, label, (text_x, text_y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour,
                thickness, cv2.LINE_AA)


def _draw_landmarks(out, landmarks, thickness) -> None:
    for point, colour, ok in zip(landmarks, LANDMARK_COLOURS, _drawable(landmarks)):
        if ok:
            centre = tuple(np.round(point).astype(int).tolist())
            cv2.circle(out, centre, 2 * thickness, colour, -1, cv2.LINE_AA)


def _draw_keypoints(out, points, thickness) -> None:
    ok = _drawable(points)
    if len(points) == 68:
        for first, last, closed in CONTOURS68:
            if ok[first:last + 1].all():  # a contour with a lost point would be misleading
                contour = np.round(points[first:last + 1]).astype(np.int32)
                cv2.polylines(out, [contour], closed, KEYPOINT_COLOUR, max(1, thickness // 2),
                              cv2.LINE_AA)
    # Dots of a pixel or two: anti-aliasing would not show, and costs ~2 ms per frame.
    for x, y in np.round(points[ok]).astype(int).tolist():
        cv2.circle(out, (x, y), thickness, KEYPOINT_COLOUR, -1, cv2.LINE_8)


def _draw_head_axes(out, pose, thickness) -> None:
    if (pose.translation[2] + AXIS_LENGTH_M * pose.rotation[2]).min() <= 0:
        return  # an axis end behind the camera has no image
    ends = project(pose, np.vstack([np.zeros(3), AXIS_LENGTH_M * np.eye(3)]))
    if not _drawable(ends).all():
        return
    origin, *tips = (tuple(np.round(p).astype(int).tolist()) for p in ends)
    # The axis pointing most towards the camera last, so it is not hidden by the others.
    depth = pose.rotation[2]
    for axis in np.argsort(-depth):
        cv2.arrowedLine(out, origin, tips[axis], AXIS_COLOURS[axis], thickness + 1,
                        cv2.LINE_AA, tipLength=0.15)


def draw_faces(bgr: np.ndarray, faces, draw_keypoints: bool = True,
               draw_landmarks: bool = True, draw_head_pose: bool = True) -> np.ndarray:
    """A copy of bgr with every face drawn: box, 'id N score' label, the detector's 5
    landmarks (one colour each), the keypoints (68-point contours joined) and the head
    axes where a pose is known. Held-over faces are dashed and orange. Faces whose box
    cannot be placed are skipped."""
    out = bgr.copy()
    thickness = line_thickness(bgr.shape)
    for face in faces:
        if not box_is_usable(face.box):
            continue
        _draw_box_and_label(out, face, thickness)
        if draw_keypoints and len(face.keypoints):
            _draw_keypoints(out, face.keypoints, thickness)
        pose = face.head_pose
        if draw_head_pose and pose is not None and pose.camera_matrix is not None:
            _draw_head_axes(out, pose, thickness)
        if draw_landmarks:  # on top: fewer and bigger
            _draw_landmarks(out, face.landmarks, thickness)
    return out
