"""detector_node: image -> face boxes, 5 landmarks and track ids on 'faces'."""
import sys

from sensor_msgs.msg import Image

from facekp_ros.conversions import face_array_msg
from facekp_ros.core.detection import create_detector
from facekp_ros.core.pipeline import detect_within
from facekp_ros.core.tracking import IouTracker
from facekp_ros.core.types import Detections
from facekp_ros.core.worker import FrameWorker
from facekp_ros.diagnostics import DiagnosticsPublisher
from facekp_ros.image_bridge import ImageBridge
from facekp_ros.msg import FaceArray
from facekp_ros.node_common import (
    OUTPUT_QOS,
    SENSOR_QOS,
    ConfigError,
    ErrorLog,
    StageNode,
    check_providers,
    declare_parameters,
    frame_age_ms,
    run_node,
)
from facekp_ros.parameters import DETECTOR, detector_kwargs


class DetectorNode(StageNode):
    def __init__(self, **kwargs):
        super().__init__('face_detector', **kwargs)
        self.log_error = ErrorLog(self.get_logger())
        self.params = declare_parameters(self, DETECTOR)
        check_providers(self.params, 'providers')
        self.detector = self._create_detector()
        self.tracker = IouTracker(hold_frames=self.params['hold_frames'])
        self.bridge = ImageBridge()
        self.publisher = self.create_publisher(FaceArray, 'faces', OUTPUT_QOS)
        self.worker = FrameWorker('detect', self._process, self._on_error)
        self.create_subscription(Image, 'image', self.worker.submit, SENSOR_QOS)
        self.diagnostics = DiagnosticsPublisher(self, {'detect': self.worker.stats})

    def _create_detector(self):
        name = self.params['detector']
        try:
            return create_detector(name, providers=self.params['providers'],
                                   **detector_kwargs(self.params))
        except (OSError, ValueError, RuntimeError) as error:
            raise ConfigError(f"parameter 'detector' ({name}): {error}") from error

    def _process(self, msg: Image) -> float:
        bgr = self.bridge.to_bgr8(msg)
        detections = detect_within(self.detector, bgr,
                                   self.get_parameter('denoise_strength').value,
                                   self.get_parameter('detection_timeout_ms').value)
        if not detections.ok:
            self.get_logger().error(f'detection failed: {detections.error}',
                                    throttle_duration_sec=5.0)
        faces = self.tracker.update(detections.faces) if detections.ok else []
        self.publisher.publish(face_array_msg(msg.header, bgr.shape, detections, faces))
        return frame_age_ms(self, msg.header)

    def _on_error(self, msg: Image, error: Exception) -> None:
        # An image we cannot read still gets an answer: detection_ok=False tells the
        # anonymizer to mask the frame rather than wait for faces that never come.
        self.log_error(f'image rejected: {error}')
        failed = Detections([], self.params['detector'], ok=False, error=str(error))
        self.publisher.publish(face_array_msg(msg.header, (msg.height, msg.width), failed, []))


def main(args=None):
    return run_node(DetectorNode, args)


if __name__ == '__main__':
    sys.exit(main())
