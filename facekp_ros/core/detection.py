"""One entry point for every face detector, and detection that never raises."""
import inspect

import numpy as np

from facekp_ros.core.types import Detections

DETECTORS = ('retinaface', 'haar')


def _detector_class(name: str):
    # Imported on demand: Haar users need no onnxruntime, RetinaFace users no cascades.
    if name == 'retinaface':
        from facekp_ros.core.retinaface import RetinaFaceDetector
        return RetinaFaceDetector
    if name == 'haar':
        from facekp_ros.core.haar import HaarFaceDetector
        return HaarFaceDetector
    raise ValueError(f"unknown detector {name!r}: use one of {', '.join(DETECTORS)}")


def create_detector(name: str, providers='auto', **params):
    """A detector by name; params go to its constructor (providers only to RetinaFace).

    Raises ValueError naming an unknown detector, an unknown parameter or a bad value.
    """
    detector_class = _detector_class(name)
    signature = inspect.signature(detector_class)
    if 'providers' in signature.parameters:
        params['providers'] = providers
    unknown = sorted(set(params) - set(signature.parameters))
    if unknown:
        raise ValueError(f"detector {name!r} has no parameter(s) {', '.join(unknown)}; its "
                         f"parameters are {', '.join(signature.parameters)}")
    return detector_class(**params)


def check_image(bgr) -> None:
    """ValueError unless bgr is a non-empty uint8 H x W x 3 (BGR) array."""
    if isinstance(bgr, np.ndarray) and bgr.dtype == np.uint8 and bgr.ndim == 3 \
            and bgr.shape[2] == 3 and bgr.size > 0:
        return
    shape = getattr(bgr, 'shape', None)
    dtype = getattr(bgr, 'dtype', type(bgr).__name__)
    raise ValueError(f'expected a non-empty uint8 HxWx3 BGR image, got {dtype} {shape} '
                     '(convert it first, e.g. cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) or '
                     'cv2.COLOR_BGRA2BGR, and scale float images to 0-255 uint8)')


def detect(detector, bgr) -> Detections:
    """Faces in bgr. Any failure gives ok=False with the reason: the caller fails closed."""
    name = getattr(detector, 'name', type(detector).__name__)
    try:
        check_image(bgr)
        return Detections(detector.detect(bgr), name)
    except Exception as error:  # noqa: BLE001 - a failed frame must be reported, not raised
        return Detections([], name, ok=False, error=f'{type(error).__name__}: {error}')
