"""The one place that decides what the anonymized stream shows for a frame."""
from facekp_ros.core.anonymize import AnonymizeConfig, anonymize, mask_whole_frame
from facekp_ros.core.types import Detections


def safe_anonymize(bgr, detections: Detections | None, faces,
                   config: AnonymizeConfig) -> tuple:
    """(image, masked_whole_frame). No detection result, or a failed one, masks everything:
    the frame may hold faces nobody located, so nothing of it is shown."""
    if detections is None or not detections.ok:
        return mask_whole_frame(bgr, config), True
    return anonymize(bgr, faces, config), False
