"""The stages of the pipeline, each written once: the separate nodes run one each, the
in-process pipeline, the command line and the bag anonymizer compose them.

Each stage is built from its configuration and takes a new one at run time (reconfigure);
what cannot change without reloading a model is fixed at construction.
"""
import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from facekp_ros.core.anonymize import AnonymizeConfig
from facekp_ros.core.checks import check_range
from facekp_ros.core.cues import CueEstimator
from facekp_ros.core.detection import DetectionConfig, FaceFinder
from facekp_ros.core.draw import draw_faces
from facekp_ros.core.failsafe import safe_anonymize
from facekp_ros.core.head_pose import HeadPoseEstimator, Intrinsics
from facekp_ros.core.image_codec import CameraImage, editable
from facekp_ros.core.keypoints import KeypointEstimator
from facekp_ros.core.smoothing import KeypointSmoother
from facekp_ros.core.tracking import IouTracker
from facekp_ros.core.types import Detections

HOLD_FRAMES_RANGE = (0, 300)


class DetectStage:
    """Faces of one stream: found, tracked (stable ids) and held over hold_frames frames
    after the detector loses them, both the reported and the mask-only ones. A detection
    slower than timeout_ms fails (live streams: the frame is stale); offline there is none."""

    def __init__(self, config: DetectionConfig, hold_frames: int = 5,
                 timeout_ms: float = math.inf):
        self.finder = FaceFinder(config)
        self.tracker, self.mask_tracker = IouTracker(), IouTracker()
        self.reconfigure(config, hold_frames, timeout_ms)

    def reconfigure(self, config: DetectionConfig, hold_frames: int,
                    timeout_ms: float = math.inf) -> None:
        fixed = ('detector', 'providers', 'threads', 'view_threads')
        if any(getattr(config, k) != getattr(self.finder.config, k) for k in fixed):
            raise ValueError(f'{", ".join(fixed)} are fixed once the detector is loaded')
        check_range('hold_frames', hold_frames, HOLD_FRAMES_RANGE, integer=True)
        check_range('detection_timeout_ms', timeout_ms, (0, math.inf), low_open=True)
        self.finder.config = config
        self.tracker.hold_frames = self.mask_tracker.hold_frames = hold_frames
        self.timeout_ms = timeout_ms

    def in_effect(self) -> tuple:
        return self.finder.config, self.tracker.hold_frames, self.timeout_ms

    @property
    def name(self) -> str:
        return self.finder.name

    def reset(self) -> None:
        """Forgets every track: the next image starts a new stream."""
        self.tracker.reset()
        self.mask_tracker.reset()

    def run(self, bgr: np.ndarray) -> Detections:
        found = self.finder.find(bgr, self.timeout_ms)
        if not found.ok:
            return found
        # Mask-only faces are held over too (small faces flicker), but carry no track id.
        held = [dataclasses.replace(f, track_id=-1)
                for f in self.mask_tracker.update(found.mask_only)]
        return dataclasses.replace(found, faces=self.tracker.update(found.faces),
                                   mask_only=held)


@dataclass(frozen=True)
class KeypointConfig:
    model: str = ''  # ONNX path; '' = the shipped model
    providers: str = 'auto'
    threads: int = 0
    smoothing: bool = False  # One-Euro per track id


class KeypointStage:
    """Keypoints of every reported face of a frame, one batched model call."""

    def __init__(self, config: KeypointConfig | None = None):
        config = config or KeypointConfig()
        self.estimator = KeypointEstimator(config.model or None, config.providers,
                                           config.threads)
        self.smoother = KeypointSmoother()
        self.config = config

    def reconfigure(self, config: KeypointConfig) -> None:
        if (config.model, config.providers, config.threads) != \
                (self.config.model, self.config.providers, self.config.threads):
            raise ValueError('the keypoint model and its providers are fixed once loaded')
        self.config = config

    @property
    def keypoint_names(self) -> tuple:
        return tuple(self.estimator.keypoint_names)

    @property
    def model_name(self) -> str:
        return self.estimator.model_name

    def run(self, bgr: np.ndarray, faces: list, t_s: float) -> list:
        if not faces:
            return faces
        faces = self.estimator.estimate(bgr, faces)
        return self.smoother.apply(faces, t_s) if self.config.smoothing else faces


LOOKING_CONE_RANGE = (1.0, 90.0)  # degrees


@dataclass(frozen=True)
class PoseConfig:
    looking_cone_deg: float = 20.0  # half-angle within which a head counts as facing us


class PoseStage:
    """Head pose (solvePnP on the 68 keypoints) and cues (eye and mouth openness, looking at
    the camera) per face, smoothed per track id."""

    def __init__(self, config: PoseConfig | None = None):
        self.estimator = HeadPoseEstimator()
        self.cues = CueEstimator()
        self.reconfigure(config or PoseConfig())

    def reconfigure(self, config: PoseConfig) -> None:
        check_range('looking_cone_deg', config.looking_cone_deg, LOOKING_CONE_RANGE)
        self.cues.looking_cone_deg = config.looking_cone_deg
        self.config = config

    def run(self, faces: list, image_shape, t_s: float,
            intrinsics: Intrinsics | None = None) -> list:
        """intrinsics: the camera's (CameraInfo); None: the documented default from the
        image size, flagged in each pose."""
        if not faces:
            return faces
        return self.cues.apply(self.estimator.apply(faces, image_shape, intrinsics), t_s)


class AnonymizeStage:
    """The anonymized image of a frame, in the frame's own encoding; fails closed."""

    def __init__(self, config: AnonymizeConfig | None = None):
        config = config or AnonymizeConfig()
        self.config = config

    def reconfigure(self, config: AnonymizeConfig) -> None:
        self.config = config

    def run(self, image: CameraImage, detections: Detections | None) -> tuple:
        """(anonymized CameraImage, masked_whole_frame); see failsafe.safe_anonymize.
        Packed YUV and Bayer images come back as bgr8."""
        image = editable(image)
        pixels, masked = safe_anonymize(image.pixels, detections, self.config,
                                        image.view_range)
        return image.with_pixels(pixels), masked


@dataclass(frozen=True)
class AnnotateConfig:
    draw_keypoints: bool = True
    draw_landmarks: bool = True
    on_anonymized: bool = False  # draw on the anonymized image instead of the raw one


class AnnotateStage:
    """The annotated (debugging) image: boxes, ids, scores, landmarks, keypoints."""

    def __init__(self, config: AnnotateConfig | None = None):
        config = config or AnnotateConfig()
        self.config = config

    def reconfigure(self, config: AnnotateConfig) -> None:
        self.config = config

    def run(self, raw_bgr: np.ndarray, anonymized_bgr: np.ndarray | None, faces) -> np.ndarray:
        """Drawn on anonymized_bgr when configured so (it must then be given)."""
        base = anonymized_bgr if self.config.on_anonymized else raw_bgr
        return draw_faces(base, faces, self.config.draw_keypoints, self.config.draw_landmarks)
