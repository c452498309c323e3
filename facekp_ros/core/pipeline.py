"""The whole job on one frame, in one process: detect, track, keypoints, anonymize, draw.

Used by the in-process pipeline node, the `facekp` command line and the benchmarks, so
that all of them run exactly the same code.
"""
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from facekp_ros.core.anonymize import AnonymizeConfig
from facekp_ros.core.cues import CueEstimator
from facekp_ros.core.detection import create_detector, detect
from facekp_ros.core.draw import draw_faces
from facekp_ros.core.failsafe import safe_anonymize
from facekp_ros.core.head_pose import HeadPoseEstimator, Intrinsics
from facekp_ros.core.keypoints import KeypointEstimator
from facekp_ros.core.preprocess import denoise
from facekp_ros.core.smoothing import KeypointSmoother
from facekp_ros.core.tracking import IouTracker
from facekp_ros.core.types import Detections


@dataclass
class PipelineConfig:
    detector: str = 'retinaface'
    detector_params: dict = field(default_factory=dict)
    denoise_strength: float = 0.0  # 0: off
    hold_frames: int = 5
    keypoints: bool = True
    keypoint_model: str = ''  # '' = the shipped model
    providers: str = 'auto'
    keypoint_providers: str = 'auto'
    smoothing: bool = False
    head_pose: bool = True  # head pose and cues from the keypoints (needs keypoints)
    looking_cone_deg: float = 20.0
    anonymize: AnonymizeConfig = field(default_factory=AnonymizeConfig)
    # A frame whose detection takes longer than this is treated as failed (fully masked).
    detection_timeout_ms: float = 500.0
    annotate: bool = True
    annotate_anonymized: bool = False


@dataclass
class FrameResult:
    detections: Detections
    faces: list  # detected + held over, with keypoints when enabled
    anonymized: np.ndarray
    masked_whole_frame: bool
    annotated: np.ndarray | None
    timings_ms: dict


def detect_within(detector, bgr, denoise_strength: float, timeout_ms: float) -> Detections:
    """Detection (after optional de-noising) that counts as failed when it ran too long:
    the frame is then stale and its faces may have moved, so it must be fully masked."""
    start = time.perf_counter()
    if denoise_strength:
        try:
            bgr = denoise(bgr, denoise_strength)
        except (ValueError, cv2.error) as error:
            return Detections([], detector.name, ok=False, error=f'denoise failed: {error}')
    detections = detect(detector, bgr)
    elapsed_ms = (time.perf_counter() - start) * 1e3
    if detections.ok and elapsed_ms > timeout_ms:
        return Detections([], detections.detector, ok=False,
                          error=f'detection took {elapsed_ms:.0f} ms > {timeout_ms:.0f} ms')
    return detections


class FacePipeline:
    """Owns the models and per-stream state (tracks, smoothing) of one image stream."""

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.detector = create_detector(config.detector, providers=config.providers,
                                        **config.detector_params)
        self.tracker = IouTracker(hold_frames=config.hold_frames)
        self.estimator = (KeypointEstimator(config.keypoint_model or None,
                                            config.keypoint_providers)
                          if config.keypoints else None)
        self.smoother = KeypointSmoother() if config.smoothing else None
        with_pose = config.keypoints and config.head_pose
        self.pose_estimator = HeadPoseEstimator() if with_pose else None
        self.cues = CueEstimator(config.looking_cone_deg) if with_pose else None

    @property
    def keypoint_names(self) -> tuple:
        return tuple(self.estimator.keypoint_names) if self.estimator else ()

    @property
    def keypoint_model(self) -> str:
        return self.estimator.model_name if self.estimator else ''

    def process(self, bgr: np.ndarray, t_s: float | None = None,
                intrinsics: Intrinsics | None = None) -> FrameResult:
        """intrinsics: the camera's (CameraInfo); None: a default from the image size."""
        t_s = time.monotonic() if t_s is None else t_s
        timings = {}
        clock = time.perf_counter()

        def lap(stage):
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = (now - clock) * 1e3
            clock = now

        detections = detect_within(self.detector, bgr, self.config.denoise_strength,
                                   self.config.detection_timeout_ms)
        lap('detect')
        faces = self.tracker.update(detections.faces) if detections.ok else []
        lap('track')
        if self.estimator and faces:
            faces = self.estimator.estimate(bgr, faces)
            if self.smoother:
                faces = self.smoother.apply(faces, t_s)
        lap('keypoints')
        anonymized, masked = safe_anonymize(bgr, detections, faces, self.config.anonymize)
        lap('anonymize')
        if self.pose_estimator and faces:  # after anonymizing: that output never waits for it
            faces = self.pose_estimator.apply(faces, bgr.shape, intrinsics)
            faces = self.cues.apply(faces, t_s)
        lap('pose')
        annotated = None
        if self.config.annotate:
            base = anonymized if self.config.annotate_anonymized else bgr
            annotated = draw_faces(base, faces)
        lap('draw')
        timings['total'] = sum(timings.values())
        return FrameResult(detections, faces, anonymized, masked, annotated, timings)
