"""detector_node: image -> 'faces' (boxes, 5 landmarks, track ids; mask-only faces too)."""
import sys

from facekp_ros.conversions import face_array_msg
from facekp_ros.core.image_codec import decode
from facekp_ros.core.stages import DetectStage
from facekp_ros.core.types import Detections
from facekp_ros.core.worker import FrameWorker
from facekp_ros.diagnostics import DiagnosticsPublisher
from facekp_ros.image_topics import subscribe_image
from facekp_ros.msg import FaceArray
from facekp_ros.node_common import (
    ConfigError,
    StageNode,
    check_providers,
    frame_age_ms,
    output_qos,
    run_node,
)
from facekp_ros.parameters import detection_config


class DetectorNode(StageNode):
    def __init__(self, **kwargs):
        super().__init__('face_detector', detection_config, **kwargs)

    def setup(self) -> None:
        check_providers(self.params, 'providers')
        try:
            self.stage = DetectStage(*self._stage_settings(detection_config(self.params)))
        except (OSError, ValueError, RuntimeError) as error:
            raise ConfigError(f"parameter 'detector' ({self.params['detector']}): "
                              f'{error}') from error
        self.publisher = self.output_publisher(FaceArray, 'faces', output_qos(self.params))
        self.worker = FrameWorker('detect', self._process, self._on_error)
        subscribe_image(self, 'image', self.submit, self.params)
        self.diagnostics = DiagnosticsPublisher(self, {'detect': self.worker.stats})

    def _stage_settings(self, config) -> tuple:
        return config, self.params['hold_frames'], self.params['detection_timeout_ms']

    def apply(self, config) -> None:
        self.stage.reconfigure(*self._stage_settings(config))

    def in_effect(self) -> tuple:
        return self.stage.in_effect()

    def _process(self, msg) -> float:
        image = decode(msg)
        detections = self.stage.run(image.bgr8)
        if not detections.ok:
            self.get_logger().error(f'detection failed: {detections.error}',
                                    throttle_duration_sec=5.0)
        self.publisher.publish(face_array_msg(msg.header, image.pixels.shape, detections))
        return frame_age_ms(self, msg.header)

    def _on_error(self, msg, error: Exception) -> None:
        # An image we cannot read still gets an answer: detection_ok=False tells the
        # anonymizer to mask the frame rather than wait for faces that never come.
        self.log_error(f'image rejected: {error}')
        failed = Detections([], self.params['detector'], ok=False, error=str(error))
        size = (getattr(msg, 'height', 0), getattr(msg, 'width', 0))  # 0: a CompressedImage
        self.publisher.publish(face_array_msg(msg.header, size, failed))


def main(args=None):
    return run_node(DetectorNode, args)


if __name__ == '__main__':
    sys.exit(main())
