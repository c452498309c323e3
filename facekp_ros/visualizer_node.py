"""visualizer_node: image + 'face_keypoints' -> 'image_annotated' (boxes, ids, keypoints)."""
import sys

from sensor_msgs.msg import Image

from facekp_ros.conversions import detections_from_msg
from facekp_ros.core.draw import draw_faces
from facekp_ros.core.failsafe import safe_anonymize
from facekp_ros.core.worker import FrameWorker
from facekp_ros.diagnostics import DiagnosticsPublisher
from facekp_ros.image_bridge import ImageBridge
from facekp_ros.node_common import (
    OUTPUT_QOS,
    ErrorLog,
    Param,
    StageNode,
    declare_parameters,
    frame_age_ms,
    run_node,
)
from facekp_ros.paired_input import PairedInput
from facekp_ros.parameters import ANONYMIZER, VISUALIZER, anonymize_config

FACES_TOPIC = Param('faces_topic', 'face_keypoints', "FaceArray topic to draw: "
                    "'face_keypoints', or 'faces' when no keypoint node runs.", read_only=True)


class VisualizerNode(StageNode):
    def __init__(self, **kwargs):
        super().__init__('face_visualizer', **kwargs)
        self.log_error = ErrorLog(self.get_logger())
        self.params = declare_parameters(self, VISUALIZER + ANONYMIZER + (FACES_TOPIC,))
        self.bridge = ImageBridge()
        self.publisher = self.create_publisher(Image, 'image_annotated', OUTPUT_QOS)
        self.worker = FrameWorker('draw', self._process, self._on_error)
        self.input = PairedInput(self, self.params['faces_topic'], self.worker,
                                 self.params['max_wait_s'],
                                 lambda image: self.worker.stats.count_dropped())
        self.diagnostics = DiagnosticsPublisher(self, {'draw': self.worker.stats})

    def _process(self, pair) -> float:
        image, faces_msg = pair
        detections = detections_from_msg(faces_msg)
        bgr = self.bridge.to_bgr8(image)
        if self.get_parameter('annotate_anonymized').value:
            bgr, _ = safe_anonymize(bgr, detections, detections.faces,
                                    anonymize_config(self._values()))
        annotated = draw_faces(bgr, detections.faces,
                               self.get_parameter('draw_keypoints').value,
                               self.get_parameter('draw_landmarks').value)
        self.publisher.publish(self.bridge.cv2_to_imgmsg(annotated, 'bgr8', image.header))
        return frame_age_ms(self, image.header)

    def _values(self) -> dict:
        return {p.name: self.get_parameter(p.name).value for p in ANONYMIZER}

    def _on_error(self, pair, error: Exception) -> None:
        self.log_error(f'frame skipped: {error}')


def main(args=None):
    return run_node(VisualizerNode, args)


if __name__ == '__main__':
    sys.exit(main())
