"""Images for tests: real faces from the shared data, or the built-in sample."""
import csv

import cv2
import numpy as np


def faces68_test_image(data, index: int = 0):
    """(bgr, keypoints (68, 2)) of one faces68 test image."""
    with open(data / 'faces68' / 'test.csv', newline='') as f:
        rows = list(csv.reader(f))[1:]
    row = rows[index]
    return (cv2.imread(str(data / 'faces68' / 'test' / row[0])),
            np.array(row[1:], np.float32).reshape(68, 2))


def box_covers(box, points, fraction: float = 0.9) -> bool:
    x, y, w, h = box
    inside = ((points[:, 0] >= x) & (points[:, 0] <= x + w)
              & (points[:, 1] >= y) & (points[:, 1] <= y + h))
    return inside.mean() >= fraction


def classify(frame, raw, face_boxes) -> str:
    """An anonymized frame against the raw one: 'masked' (all black), 'LEAK' (a face box
    nearly unchanged) or 'anonymized'."""
    if not frame.any():
        return 'masked'
    for x, y, w, h in face_boxes:
        region = (slice(y, y + h), slice(x, x + w))
        if np.abs(frame[region].astype(int) - raw[region]).mean() < 12:
            return 'LEAK'
    return 'anonymized'
