"""visualizer_node: image + 'face_keypoints' -> 'image_annotated' (boxes, ids, keypoints, head
axes), 'face_markers' for rviz and TF frames face_<id> / gaze_<id>."""
import sys

from facekp_ros.conversions import detections_from_msg
from facekp_ros.core.image_codec import decode, from_bgr8
from facekp_ros.core.stages import AnnotateStage, AnonymizeStage
from facekp_ros.core.worker import FrameWorker
from facekp_ros.diagnostics import DiagnosticsPublisher
from facekp_ros.face_outputs import CameraInfoInput, FaceOutputs
from facekp_ros.image_topics import ImageOutput
from facekp_ros.node_common import (
    StageNode,
    frame_age_ms,
    output_qos,
    run_node,
)
from facekp_ros.paired_input import PairedInput
from facekp_ros.parameters import annotate_config, anonymize_config


def _configs(values: dict) -> tuple:
    return annotate_config(values), anonymize_config(values)


class VisualizerNode(StageNode):
    def __init__(self, **kwargs):
        super().__init__('face_visualizer', _configs, **kwargs)

    def setup(self) -> None:
        annotate, anonymize = _configs(self.params)
        self.annotate_stage, self.anonymize_stage = AnnotateStage(annotate), \
            AnonymizeStage(anonymize)
        self.output = ImageOutput(self, 'image_annotated', self.params,
                                  output_qos(self.params))
        self.camera_info = CameraInfoInput(self)
        self.face_outputs = FaceOutputs(self, self.params['publish_tf'],
                                        self.params['marker_lifetime_s']) \
            if self.params['publish_markers'] else None
        self.worker = FrameWorker('draw', self._process, self._on_error)
        self.input = PairedInput(self, self.params['faces_topic'], self.params,
                                 lambda image, reason: self.worker.stats.count_dropped())
        self.diagnostics = DiagnosticsPublisher(self, {'draw': self.worker.stats})

    def apply(self, configs) -> None:
        self.annotate_stage.reconfigure(configs[0])
        self.anonymize_stage.reconfigure(configs[1])
        self.input.set_max_wait(self.params['max_wait_s'])
        if self.face_outputs is not None:
            self.face_outputs.lifetime_s = self.params['marker_lifetime_s']

    def in_effect(self) -> tuple:
        return (self.annotate_stage.config, self.anonymize_stage.config,
                self.input.sync.max_wait_s,
                self.face_outputs.lifetime_s if self.face_outputs else None)

    def _process(self, pair) -> float:
        image_msg, faces_msg = pair
        image = decode(image_msg)
        height, width = image.pixels.shape[:2]
        detections = detections_from_msg(faces_msg, self.camera_info.intrinsics(width, height))
        if self.face_outputs is not None:
            self.face_outputs.publish(faces_msg.header, detections.faces)
        anonymized = None
        if self.annotate_stage.config.on_anonymized:
            anonymized = self.anonymize_stage.run(image, detections)[0].bgr8
        annotated = self.annotate_stage.run(image.bgr8, anonymized, detections.faces)
        self.output.publish(from_bgr8(annotated), image_msg.header)
        return frame_age_ms(self, image_msg.header)

    def _on_error(self, pair, error: Exception) -> None:
        self.log_error(f'frame skipped: {error}')


def main(args=None):
    return run_node(VisualizerNode, args)


if __name__ == '__main__':
    sys.exit(main())
