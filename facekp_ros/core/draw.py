"""Annotations for /image_annotated: boxes, ids, scores, landmarks and keypoint contours."""
import cv2
import numpy as np

DETECTED, HELD = (0, 220, 0), (0, 165, 255)  # BGR: green boxes, orange for held-over faces
LANDMARK_COLOURS = ((0, 0, 255), (0, 255, 255), (255, 0, 255), (0, 255, 0), (255, 0, 0))
KEYPOINT_COLOUR = (255, 255, 0)
# 68-point contours: (first, last, closed)
CONTOURS68 = ((0, 16, False), (17, 21, False), (22, 26, False), (27, 30, False),
              (31, 35, False), (36, 41, True), (42, 47, True), (48, 59, True), (60, 67, True))


def _finite_int(points: np.ndarray) -> np.ndarray:
    return np.round(points[np.isfinite(points).all(1)]).astype(np.int32)


def _draw_keypoints(out, points, thickness) -> None:
    if len(points) == 68 and np.isfinite(points).all():
        for first, last, closed in CONTOURS68:
            contour = np.round(points[first:last + 1]).astype(np.int32)
            cv2.polylines(out, [contour], closed, KEYPOINT_COLOUR, max(1, thickness // 2),
                          cv2.LINE_AA)
    for x, y in _finite_int(points):
        cv2.circle(out, (int(x), int(y)), thickness, KEYPOINT_COLOUR, -1, cv2.LINE_AA)


def draw_faces(bgr: np.ndarray, faces, draw_keypoints: bool = True,
               draw_landmarks: bool = True) -> np.ndarray:
    """A copy of bgr with every face drawn; held-over faces (not detected now) in orange."""
    out = bgr.copy()
    thickness = max(1, round(max(bgr.shape[:2]) / 400))
    for face in faces:
        colour = DETECTED if face.frames_since_seen == 0 else HELD
        x, y, w, h = np.round(face.box).astype(int)
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness, cv2.LINE_AA)
        label = f'id {face.track_id} {face.score:.2f}'
        if face.frames_since_seen:
            label += f' (held {face.frames_since_seen})'
        cv2.putText(out, label, (x, max(y - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * thickness, colour, thickness, cv2.LINE_AA)
        if draw_landmarks:
            for (px, py), c in zip(face.landmarks, LANDMARK_COLOURS):
                if np.isfinite(px) and np.isfinite(py):
                    cv2.circle(out, (round(px), round(py)), 2 * thickness, c, -1, cv2.LINE_AA)
        if draw_keypoints and len(face.keypoints):
            _draw_keypoints(out, face.keypoints, thickness)
    return out
