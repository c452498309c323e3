"""The one place that decides what the anonymized stream shows for a frame."""
import numpy as np

from facekp_ros.core.anonymize import (
    AnonymizeConfig,
    anonymize,
    box_is_usable,
    mask_whole_frame,
)
from facekp_ros.core.types import Detections


def safe_anonymize(bgr: np.ndarray, detections: Detections | None, tracked_faces,
                   config: AnonymizeConfig) -> tuple:
    """(image, masked_whole_frame). Every face of detections and of tracked_faces (the
    tracker's output: detected now or held over) is hidden. The whole frame is masked when
    there is no detection result (None: timed out or missing), when it failed, or when a
    face box cannot be placed: the frame may then hold faces nobody located."""
    if detections is None or not detections.ok:
        return mask_whole_frame(bgr, config), True
    # Both lists, so a caller that passes only one of them still hides every face.
    everyone = [*detections.faces, *tracked_faces]
    faces = {np.asarray(face.box, np.float32).tobytes(): face for face in everyone}
    if not all(box_is_usable(face.box) for face in faces.values()):
        return mask_whole_frame(bgr, config), True
    return anonymize(bgr, list(faces.values()), config), False
