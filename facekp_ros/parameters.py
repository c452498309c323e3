"""Every node parameter in one place: name, default, description, allowed values.

config/pipeline.yaml lists the same defaults (a test keeps them equal); the nodes declare
these tables and turn the values into core configurations with the builders below.
"""
from facekp_ros.core.anonymize import MARGIN_SCALE_RANGE, STRENGTH_RANGE, AnonymizeConfig
from facekp_ros.core.pipeline import PipelineConfig
from facekp_ros.core.sources import SOURCE_KINDS
from facekp_ros.node_common import Param

CAMERA = (
    Param('source', 'sample', f"What to publish: {SOURCE_KINDS} (the built-in 640x480 "
          'frame with four faces).', read_only=True),
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
          choices=('retinaface', 'haar'), read_only=True),
    Param('providers', 'auto', "onnxruntime execution providers: 'auto' (TensorRT, CUDA "
          "when onnxruntime-gpu sees a GPU, else CPU) or a comma-separated list such as "
          "'CPUExecutionProvider'.", read_only=True),
    Param('score_threshold', 0.6, 'Minimum detection score of a face.', 0.05, 1.0,
          read_only=True),
    Param('nms_threshold', 0.4, 'IoU above which overlapping boxes are merged.', 0.05, 1.0,
          read_only=True),
    Param('min_face_size', 16, 'Smallest face side in pixels that is reported.', 1, 4096,
          read_only=True),
    Param('input_scale', 1.0, 'Scale applied to the image before RetinaFace: 0.5 is about '
          '3x faster and still finds faces above ~40 px.', 0.1, 2.0, read_only=True),
    Param('denoise_strength', 0.0, 'fastNlMeans de-noising before detection (its h); 0 is '
          'off. Expensive: tens of ms per 640x480 frame.', 0.0, 50.0),
    Param('hold_frames', 5, 'Frames a face lost by the detector is still reported (and '
          'masked by the anonymizer).', 0, 300, read_only=True),
    Param('detection_timeout_ms', 500.0, 'A frame whose detection takes longer is treated '
          'as failed: fully masked on /image_anonymized.', 1.0, 60000.0),
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
    Param('method', 'blur', 'How a face is hidden.', choices=('blur', 'pixelate', 'fill')),
    Param('shape', 'box', 'Region hidden around each face: the enlarged box (safest) or an '
          'ellipse around it (looks softer; always contains the whole face box).',
          choices=('box', 'ellipse')),
    Param('margin_scale', 1.3, 'Hidden region size relative to the face box (covers hair, '
          'ears and chin).', *MARGIN_SCALE_RANGE),
    Param('strength', 1.0, 'How coarse the hiding is: 1 (4 blur or 3 pixel cells across the '
          'region; the finest that defeats detectors) to 4.', *STRENGTH_RANGE),
    Param('max_wait_s', 0.5, 'How long an image waits for its faces; then it is published '
          'fully masked (fail closed).', 0.01, 10.0),
)

VISUALIZER = (
    Param('draw_keypoints', True, 'Draw the keypoints and their contours.'),
    Param('draw_landmarks', True, "Draw the detector's 5 landmarks."),
    Param('annotate_anonymized', False, 'Draw on the anonymized image instead of the raw '
          'one (for recording or sharing the annotated stream).'),
)


def anonymize_config(values: dict) -> AnonymizeConfig:
    return AnonymizeConfig(method=values['method'], shape=values['shape'],
                           margin_scale=values['margin_scale'], strength=values['strength'])


def detector_kwargs(values: dict) -> dict:
    """Keyword arguments of core.detection.create_detector for the chosen detector."""
    keys = {'retinaface': ('score_threshold', 'nms_threshold', 'min_face_size', 'input_scale'),
            'haar': ('min_face_size',)}[values['detector']]
    return {key: values[key] for key in keys}


def pipeline_config(values: dict) -> PipelineConfig:
    return PipelineConfig(
        detector=values['detector'], detector_params=detector_kwargs(values),
        denoise_strength=values['denoise_strength'], hold_frames=values['hold_frames'],
        keypoints=values['keypoints'], keypoint_model=values['keypoint_model'],
        providers=values['providers'],
        keypoint_providers=values['keypoint_providers'], smoothing=values['smoothing'],
        anonymize=anonymize_config(values),
        detection_timeout_ms=values['detection_timeout_ms'],
        annotate=values['publish_annotated'],
        annotate_anonymized=values['annotate_anonymized'])
