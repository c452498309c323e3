"""The whole job on one frame, in one process: detect and track, keypoints, anonymize,
head pose and cues, draw.

Used by the in-process pipeline node, the `facekp` command line, the bag anonymizer and the
benchmarks, so that all of them run exactly the same stages (core.stages). A frame runs in
two steps, detect() then finish(), so that two threads can overlap them (core.worker).
"""
import math
import time
from dataclasses import dataclass, field

import numpy as np

from facekp_ros.core.anonymize import AnonymizeConfig
from facekp_ros.core.detection import DetectionConfig
from facekp_ros.core.head_pose import Intrinsics
from facekp_ros.core.image_codec import CameraImage, from_bgr8
from facekp_ros.core.stages import (
    AnnotateConfig,
    AnnotateStage,
    AnonymizeStage,
    DetectStage,
    KeypointConfig,
    KeypointStage,
    PoseConfig,
    PoseStage,
)
from facekp_ros.core.types import Detections


@dataclass(frozen=True)
class PipelineConfig:
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    hold_frames: int = 5
    keypoints: KeypointConfig | None = field(default_factory=KeypointConfig)  # None: off
    pose: PoseConfig | None = field(default_factory=PoseConfig)  # None: off (needs keypoints)
    anonymize: AnonymizeConfig = field(default_factory=AnonymizeConfig)
    annotate: AnnotateConfig | None = field(default_factory=AnnotateConfig)  # None: off
    # Live streams: a detection slower than this counts as failed (fully masked). Offline
    # work (files, bags) has none: it is never stale.
    detection_timeout_ms: float = math.inf


@dataclass
class FrameResult:
    detections: Detections  # reported faces (with keypoints) and mask-only ones
    anonymized: CameraImage  # in the frame's own encoding
    masked_whole_frame: bool
    annotated: np.ndarray | None  # bgr8
    timings_ms: dict

    @property
    def faces(self) -> list:
        return self.detections.faces


class FacePipeline:
    """Owns the models and per-stream state (tracks, smoothing) of one image stream."""

    def __init__(self, config: PipelineConfig | None = None):
        config = config or PipelineConfig()
        self.config = config
        self.detect_stage = DetectStage(config.detection, config.hold_frames,
                                        config.detection_timeout_ms)
        self.keypoint_stage = KeypointStage(config.keypoints) if config.keypoints else None
        self.pose_stage = PoseStage(config.pose) if config.pose and config.keypoints else None
        self.anonymize_stage = AnonymizeStage(config.anonymize)
        self.annotate_stage = AnnotateStage(config.annotate) if config.annotate else None

    def reconfigure(self, config: PipelineConfig) -> None:
        """New settings between frames; which stages run is fixed at construction."""
        if (config.keypoints is None) != (self.keypoint_stage is None) \
                or (config.annotate is None) != (self.annotate_stage is None) \
                or bool(config.pose and config.keypoints) != (self.pose_stage is not None):
            raise ValueError('keypoints, head pose and annotation are switched on or off at '
                             'start-up')
        self.detect_stage.reconfigure(config.detection, config.hold_frames,
                                      config.detection_timeout_ms)
        for stage, stage_config in ((self.keypoint_stage, config.keypoints),
                                    (self.pose_stage, config.pose),
                                    (self.anonymize_stage, config.anonymize),
                                    (self.annotate_stage, config.annotate)):
            if stage is not None:
                stage.reconfigure(stage_config)
        self.config = config

    def in_effect(self) -> tuple:
        """The settings each stage runs with now."""
        return (self.detect_stage.in_effect(),
                *(stage.config for stage in (self.keypoint_stage, self.pose_stage,
                                             self.anonymize_stage, self.annotate_stage)
                  if stage is not None))

    @property
    def keypoint_names(self) -> tuple:
        return self.keypoint_stage.keypoint_names if self.keypoint_stage else ()

    @property
    def keypoint_model(self) -> str:
        return self.keypoint_stage.model_name if self.keypoint_stage else ''

    def reset(self) -> None:
        """The next frame starts a new stream (unrelated photos, a restarted video)."""
        self.detect_stage.reset()

    def detect(self, image: CameraImage) -> tuple:
        """Step 1: (Detections, ms) of image, tracked."""
        start = time.perf_counter()
        detections = self.detect_stage.run(image.bgr8)
        return detections, (time.perf_counter() - start) * 1e3

    def finish(self, image: CameraImage, detected: tuple, t_s: float,
               intrinsics: Intrinsics | None = None) -> FrameResult:
        """Step 2: keypoints, the anonymized image, head poses and cues, the annotated image
        of a detected frame. intrinsics: the camera's; None: a default from the image size."""
        detections, detect_ms = detected
        timings = {'detect': detect_ms}
        clock = time.perf_counter()

        def lap(stage):
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = (now - clock) * 1e3
            clock = now

        if self.keypoint_stage and detections.faces:
            detections.faces = self.keypoint_stage.run(image.bgr8, detections.faces, t_s)
        lap('keypoints')
        anonymized, masked = self.anonymize_stage.run(image, detections)
        lap('anonymize')
        if self.pose_stage:  # after anonymizing: that output never waits for it
            detections.faces = self.pose_stage.run(detections.faces, image.pixels.shape, t_s,
                                                   intrinsics)
        lap('pose')
        annotated = None
        if self.annotate_stage:
            anonymized_bgr = anonymized.bgr8 if self.annotate_stage.config.on_anonymized \
                else None
            annotated = self.annotate_stage.run(image.bgr8, anonymized_bgr, detections.faces)
        lap('draw')
        timings['total'] = sum(timings.values())
        return FrameResult(detections, anonymized, masked, annotated, timings)

    def process(self, image, t_s: float | None = None,
                intrinsics: Intrinsics | None = None) -> FrameResult:
        """Both steps on one frame: a CameraImage, or a uint8 BGR array."""
        image = image if isinstance(image, CameraImage) else from_bgr8(image)
        t_s = time.monotonic() if t_s is None else t_s
        return self.finish(image, self.detect(image), t_s, intrinsics)
