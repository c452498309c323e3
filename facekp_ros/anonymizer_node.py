"""anonymizer_node: image + 'faces' -> 'image_anonymized', every face hidden; fails closed.

An image is published only after the faces found in it arrive. If they never come (the
detector is down, slow or failed on it), the image is published fully masked after
max_wait_s. A frame that cannot be decoded is not published at all.
"""
import sys

from sensor_msgs.msg import Image

from facekp_ros.conversions import detections_from_msg
from facekp_ros.core.failsafe import safe_anonymize
from facekp_ros.core.worker import FrameWorker
from facekp_ros.diagnostics import DiagnosticsPublisher
from facekp_ros.image_bridge import ImageBridge
from facekp_ros.node_common import (
    OUTPUT_QOS,
    ConfigError,
    ErrorLog,
    StageNode,
    declare_parameters,
    frame_age_ms,
    run_node,
)
from facekp_ros.paired_input import PairedInput
from facekp_ros.parameters import ANONYMIZER, anonymize_config


class AnonymizerNode(StageNode):
    def __init__(self, **kwargs):
        super().__init__('face_anonymizer', **kwargs)
        self.log_error = ErrorLog(self.get_logger())
        self.params = declare_parameters(self, ANONYMIZER)
        try:
            self.config = anonymize_config(self.params)
        except ValueError as error:
            raise ConfigError(str(error)) from error
        self.add_post_set_parameters_callback(self._on_parameters_set)
        self.bridge = ImageBridge()
        self.masked_frames = 0
        self.publisher = self.create_publisher(Image, 'image_anonymized', OUTPUT_QOS)
        self.worker = FrameWorker('anonymize', self._process, self._on_error)
        self.input = PairedInput(self, 'faces', self.worker, self.params['max_wait_s'],
                                 self._on_expired)
        self.diagnostics = DiagnosticsPublisher(self, {'anonymize': self.worker.stats},
                                                self._problems)

    def _on_parameters_set(self, parameters) -> None:
        values = {**self.params, **{p.name: p.value for p in parameters}}
        self.config = anonymize_config(values)  # values were validated before being set
        self.params = values

    def _publish(self, bgr, header, detections, faces) -> bool:
        image, masked = safe_anonymize(bgr, detections, faces, self.config)
        self.publisher.publish(self.bridge.cv2_to_imgmsg(image, 'bgr8', header))
        self.masked_frames += masked
        return masked

    def _process(self, pair) -> float:
        image, faces_msg = pair
        detections = detections_from_msg(faces_msg)
        if self._publish(self.bridge.to_bgr8(image), image.header, detections,
                         detections.faces):
            self.get_logger().warning(f'published a frame fully masked: detection failed '
                                      f'({detections.error or "detection_ok is false"})',
                                      throttle_duration_sec=2.0)
        return frame_age_ms(self, image.header)

    def _on_expired(self, image: Image) -> None:
        self.worker.stats.count_dropped()
        try:
            self._publish(self.bridge.to_bgr8(image), image.header, None, [])
        except ValueError as error:
            self._on_error((image, None), error)
            return
        self.get_logger().warning('no faces arrived for a frame in time: published it fully '
                                  'masked (is the detector running?)', throttle_duration_sec=2.0)

    def _on_error(self, pair, error: Exception) -> None:
        self.log_error(f'image rejected, nothing published for it: {error}')

    def _problems(self) -> dict:
        return {'anonymize': f'{self.masked_frames} frames fully masked'} \
            if self.masked_frames else {}


def main(args=None):
    return run_node(AnonymizerNode, args)


if __name__ == '__main__':
    sys.exit(main())
