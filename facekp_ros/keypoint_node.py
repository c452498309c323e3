"""keypoint_node: image + 'faces' -> 'face_keypoints' (the faces with 68 named keypoints)."""
import sys
import time

from facekp_ros.conversions import detections_from_msg, face_array_msg
from facekp_ros.core.keypoints import KeypointEstimator
from facekp_ros.core.smoothing import KeypointSmoother
from facekp_ros.core.worker import FrameWorker
from facekp_ros.diagnostics import DiagnosticsPublisher
from facekp_ros.image_bridge import ImageBridge
from facekp_ros.msg import FaceArray
from facekp_ros.node_common import (
    OUTPUT_QOS,
    ConfigError,
    ErrorLog,
    Param,
    StageNode,
    check_providers,
    declare_parameters,
    frame_age_ms,
    run_node,
)
from facekp_ros.paired_input import PairedInput
from facekp_ros.parameters import KEYPOINTS

MAX_WAIT = Param('max_wait_s', 0.5, 'How long an image waits for its faces before it is '
                 'skipped.', 0.01, 10.0)


class KeypointNode(StageNode):
    def __init__(self, **kwargs):
        super().__init__('keypoint_estimator', **kwargs)
        self.log_error = ErrorLog(self.get_logger())
        self.params = declare_parameters(self, KEYPOINTS + (MAX_WAIT,))
        check_providers(self.params, 'keypoint_providers')
        try:
            self.estimator = KeypointEstimator(self.params['keypoint_model'] or None,
                                               self.params['keypoint_providers'])
        except (OSError, ValueError) as error:
            raise ConfigError(f"parameter 'keypoint_model': {error}") from error
        self.smoother = KeypointSmoother()
        self.bridge = ImageBridge()
        self.publisher = self.create_publisher(FaceArray, 'face_keypoints', OUTPUT_QOS)
        self.worker = FrameWorker('keypoints', self._process, self._on_error)
        self.input = PairedInput(self, 'faces', self.worker, self.params['max_wait_s'],
                                 lambda image: self.worker.stats.count_dropped())
        self.diagnostics = DiagnosticsPublisher(self, {'keypoints': self.worker.stats})

    def _process(self, pair) -> float:
        image, faces_msg = pair
        detections = detections_from_msg(faces_msg)
        faces = detections.faces
        if detections.ok and faces:
            faces = self.estimator.estimate(self.bridge.to_bgr8(image), faces)
            if self.get_parameter('smoothing').value:
                faces = self.smoother.apply(faces, time.monotonic())
        self.publisher.publish(face_array_msg(
            faces_msg.header, (image.height, image.width), detections, faces,
            self.estimator.keypoint_names, self.estimator.model_name))
        return frame_age_ms(self, faces_msg.header)

    def _on_error(self, pair, error: Exception) -> None:
        self.log_error(f'frame skipped: {error}')


def main(args=None):
    return run_node(KeypointNode, args)


if __name__ == '__main__':
    sys.exit(main())
