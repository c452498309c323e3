"""One entry point for every face detector, and detection that never raises."""
import numpy as np

from facekp_ros.core.types import Detections

DETECTORS = ('retinaface', 'haar')


def create_detector(name: str, providers='auto', **params):
    """A detector by name; params go to its constructor. Raises ValueError on bad input."""
    if name == 'retinaface':
        from facekp_ros.core.retinaface import RetinaFaceDetector
        return RetinaFaceDetector(providers=providers, **params)
    if name == 'haar':
        from facekp_ros.core.haar import HaarFaceDetector
        return HaarFaceDetector(**params)
    raise ValueError(f"unknown detector {name!r}: use one of {', '.join(DETECTORS)}")


def check_image(bgr) -> None:
    if not isinstance(bgr, np.ndarray) or bgr.dtype != np.uint8 or bgr.ndim != 3 \
            or bgr.shape[2] != 3 or bgr.size == 0:
        shape = getattr(bgr, 'shape', None)
        dtype = getattr(bgr, 'dtype', type(bgr).__name__)
        raise ValueError(f'expected a non-empty uint8 HxWx3 BGR image, got {dtype} {shape}')


def detect(detector, bgr) -> Detections:
    """Faces in bgr. Any failure gives ok=False with the reason: the caller fails closed."""
    try:
        check_image(bgr)
        return Detections(detector.detect(bgr), detector.name)
    except Exception as error:  # noqa: BLE001 - a failed frame must be reported, not raised
        return Detections([], getattr(detector, 'name', '?'), ok=False,
                          error=f'{type(error).__name__}: {error}')
