"""Finding faces: what to mask is decided for recall, what to report for confidence.

Every plausible face (score >= mask_threshold, side >= min_mask_size) is masked; of those,
the confident ones (score >= score_threshold, side >= min_face_size) are also reported on
/face_keypoints. The rest travel as Detections.mask_only: hidden, never reported.
"""
import importlib
import inspect
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import cv2

from facekp_ros.core.checks import INPUT_SCALE_RANGE, SCORE_RANGE, check_choice, check_range
from facekp_ros.core.image_codec import check_bgr8
from facekp_ros.core.preprocess import denoise
from facekp_ros.core.scan import ScanPlan, scan
from facekp_ros.core.types import Detections


@runtime_checkable
class FaceDetector(Protocol):
    """What a detector gives scan(): candidates at a scale (boxes in the pixels of the
    image given) with score >= threshold, and detect() for one plain pass. A new detector
    is a core module with such a class plus its line in DETECTORS; of DetectionConfig's
    settings it is given those its constructor names (model_path, providers, threads). A
    detector that takes calls from several threads at once says so with `concurrent = True`
    (then DetectionConfig.view_threads can search the views of a scan side by side)."""

    name: str

    def candidates(self, bgr, scale: float, threshold: float): ...

    def detect(self, bgr) -> list: ...


# name -> 'module:class', imported on demand (Haar users need no onnxruntime, RetinaFace
# users no cascades).
DETECTORS = {'retinaface': 'facekp_ros.core.retinaface:RetinaFaceDetector',
             'haar': 'facekp_ros.core.haar:HaarFaceDetector'}
SHARED_SETTINGS = ('model_path', 'providers', 'threads')
MIN_FACE_RANGE = (1, 4096)
WORKING_SIZE_RANGE = (160, 8192)
SMALL_FACE_ZOOM_RANGE = (0.0, 4.0)
DENOISE_RANGE = (0.0, 50.0)
ROLL_COVERAGE_RANGE = (0.0, 180.0)
ROLL_SCALE_RANGE = (0.25, 1.0)
VIEW_THREADS_RANGE = (1, 64)
# Turned views see texture at new angles and propose a few more non-faces (0.936 on the
# Beatles' background, 0.943 on the Avengers'): what only they find is reported from this
# score on (measured on 120 faces68 test photos turned 90 degrees: 95.8 % of their faces
# still reported, 100 % at 45, 135 and 180), and hidden from mask_threshold on as any face.
TURNED_REPORT_SCORE = 0.97


def _detector_class(name: str):
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}: use one of {', '.join(DETECTORS)}")
    module, _, class_name = DETECTORS[name].partition(':')
    return getattr(importlib.import_module(module), class_name)


def create_detector(name: str, providers='auto', **params) -> FaceDetector:
    """A detector by name; params go to its constructor, and so do the SHARED_SETTINGS
    among them (and providers) only where it takes them.

    Raises ValueError naming an unknown detector, an unknown parameter or a bad value.
    """
    detector_class = _detector_class(name)
    signature = inspect.signature(detector_class)
    params = {key: value for key, value in {**params, 'providers': providers}.items()
              if key in signature.parameters or key not in SHARED_SETTINGS}
    unknown = sorted(set(params) - set(signature.parameters))
    if unknown:
        raise ValueError(f"detector {name!r} has no parameter(s) {', '.join(unknown)}; its "
                         f"parameters are {', '.join(signature.parameters)}")
    return detector_class(**params)


@dataclass(frozen=True)
class DetectionConfig:
    detector: str = 'retinaface'
    detector_model: str = ''  # RetinaFace: '' shipped retinaface-privacy, 'stock', or a path
    providers: str = 'auto'
    threads: int = 0  # onnxruntime intra-op threads; 0 = one per core
    # Views of a scan (upright, turned) searched side by side on this many threads, for a
    # single-threaded session whose caller leaves a core idle (the live pipeline: 2).
    view_threads: int = 1
    score_threshold: float = 0.9  # reported faces
    mask_threshold: float = 0.3  # masked faces (<= score_threshold)
    nms_threshold: float = 0.4
    min_face_size: float = 16  # px, reported faces
    min_mask_size: float = 8  # px, masked faces
    plan: ScanPlan = field(default_factory=ScanPlan)
    denoise_strength: float = 0.0  # fastNlMeans h before detection; 0 = off

    def __post_init__(self):
        check_choice('detector', self.detector, DETECTORS)
        check_range('view_threads', self.view_threads, VIEW_THREADS_RANGE, integer=True)
        for name in ('score_threshold', 'mask_threshold', 'nms_threshold'):
            check_range(name, getattr(self, name), SCORE_RANGE)
        if self.mask_threshold > self.score_threshold:
            raise ValueError(f'mask_threshold={self.mask_threshold} is above score_threshold='
                             f'{self.score_threshold}: every reported face must be masked')
        check_range('min_face_size', self.min_face_size, MIN_FACE_RANGE)
        check_range('min_mask_size', self.min_mask_size, MIN_FACE_RANGE)
        check_range('input_scale', self.plan.input_scale, INPUT_SCALE_RANGE)
        check_range('working_size', self.plan.working_size, WORKING_SIZE_RANGE, integer=True)
        check_range('small_face_zoom', self.plan.small_face_zoom, SMALL_FACE_ZOOM_RANGE)
        check_range('denoise_strength', self.denoise_strength, DENOISE_RANGE)
        check_range('roll_coverage', self.plan.roll_coverage, ROLL_COVERAGE_RANGE)
        check_range('roll_scale', self.plan.roll_scale, ROLL_SCALE_RANGE)


class FaceFinder:
    """find(bgr) -> Detections of one image; never raises (a failure gives ok=False)."""

    def __init__(self, config: DetectionConfig):
        self.config = config
        self.detector = create_detector(config.detector, config.providers,
                                        threads=config.threads,
                                        model_path=config.detector_model)
        self.name = config.detector
        side_by_side = config.view_threads > 1 and getattr(self.detector, 'concurrent', False)
        self._map_views = ThreadPoolExecutor(config.view_threads, 'scan-view').map \
            if side_by_side else map

    def find(self, bgr, timeout_ms: float = math.inf) -> Detections:
        """Faces in bgr. A detection slower than timeout_ms counts as failed: the frame is
        stale and its faces may have moved (live streams); offline work has no time-out."""
        start = time.perf_counter()
        try:
            check_bgr8(bgr)
            found = self._candidates(bgr)
        except Exception as error:  # noqa: BLE001 - a failed frame must be reported, not raised
            return Detections([], self.name, ok=False, error=f'{type(error).__name__}: {error}')
        elapsed_ms = (time.perf_counter() - start) * 1e3
        if elapsed_ms > timeout_ms:
            return Detections([], self.name, ok=False,
                              error=f'detection took {elapsed_ms:.0f} ms > {timeout_ms:.0f} ms')
        c = self.config
        reported = (found.scores >= c.score_threshold) \
            & (found.boxes[:, 2:].min(1) >= c.min_face_size) \
            & (~found.from_turned_view | (found.scores >= TURNED_REPORT_SCORE))
        return Detections(found.select(reported).faces(), self.name,
                          mask_only=found.select(~reported).faces())

    def _candidates(self, bgr):
        c = self.config
        if c.denoise_strength:
            try:
                bgr = denoise(bgr, c.denoise_strength)
            except (ValueError, cv2.error) as error:
                raise RuntimeError(f'denoise failed: {error}') from error
        found = scan(self.detector, bgr, c.plan, c.mask_threshold, self._map_views)
        return found.merged(c.nms_threshold, c.min_mask_size)
