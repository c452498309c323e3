"""The one place that decides what the anonymized stream shows for a frame."""
import numpy as np

from facekp_ros.core.anonymize import (
    AnonymizeConfig,
    anonymize,
    box_is_usable,
    mask_whole_frame,
)
from facekp_ros.core.types import Detections


def safe_anonymize(pixels: np.ndarray, detections: Detections | None,
                   config: AnonymizeConfig, span: tuple | None = None) -> tuple:
    """(image, masked_whole_frame). Every face of detections is hidden: the reported ones
    (detected now or held over) and the mask-only ones. The whole frame is masked when there
    is no detection result (None: timed out or missing), when it failed, or when a face box
    cannot be placed: the frame may then hold faces nobody located."""
    if detections is None or not detections.ok:
        return mask_whole_frame(pixels, config), True
    faces = [*detections.faces, *detections.mask_only]
    if not all(box_is_usable(face.box) for face in faces):
        return mask_whole_frame(pixels, config), True
    return anonymize(pixels, faces, config, span), False
