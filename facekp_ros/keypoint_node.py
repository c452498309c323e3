"""keypoint_node: image + 'faces' (+ 'camera_info') -> 'face_keypoints': the faces with 68
named keypoints, head pose and cues."""
import sys
import time

from facekp_ros.conversions import detections_from_msg, face_array_msg
from facekp_ros.core.image_codec import decode
from facekp_ros.core.stages import KeypointStage, PoseStage
from facekp_ros.core.worker import FrameWorker
from facekp_ros.diagnostics import DiagnosticsPublisher
from facekp_ros.face_outputs import CameraInfoInput
from facekp_ros.msg import FaceArray
from facekp_ros.node_common import (
    ConfigError,
    StageNode,
    check_providers,
    frame_age_ms,
    output_qos,
    run_node,
)
from facekp_ros.paired_input import PairedInput
from facekp_ros.parameters import keypoint_config, pose_config


def _configs(values: dict) -> tuple:
    return keypoint_config(values), pose_config(values)


class KeypointNode(StageNode):
    def __init__(self, **kwargs):
        super().__init__('keypoint_estimator', _configs, **kwargs)

    def setup(self) -> None:
        check_providers(self.params, 'keypoint_providers')
        try:
            self.stage = KeypointStage(keypoint_config(self.params))
        except (OSError, ValueError) as error:
            raise ConfigError(f"parameter 'keypoint_model': {error}") from error
        pose = pose_config(self.params)
        self.pose_stage = PoseStage(pose) if pose else None
        self.camera_info = CameraInfoInput(self)
        self.publisher = self.output_publisher(FaceArray, 'face_keypoints',
                                           output_qos(self.params))
        self.worker = FrameWorker('keypoints', self._process, self._on_error)
        self.input = PairedInput(self, 'faces', self.params,
                                 lambda image, reason: self.worker.stats.count_dropped())
        self.diagnostics = DiagnosticsPublisher(self, {'keypoints': self.worker.stats})

    def apply(self, configs) -> None:
        self.stage.reconfigure(configs[0])
        if self.pose_stage:
            self.pose_stage.reconfigure(configs[1])
        self.input.set_max_wait(self.params['max_wait_s'])

    def in_effect(self) -> tuple:
        pose = self.pose_stage.config if self.pose_stage else None
        return self.stage.config, pose, self.input.sync.max_wait_s

    def _process(self, pair) -> float:
        image, faces_msg = pair
        detections = detections_from_msg(faces_msg)
        size = (faces_msg.image_height, faces_msg.image_width)
        if detections.ok and detections.faces:
            now = time.monotonic()
            bgr = decode(image).bgr8
            size = bgr.shape[:2]
            detections.faces = self.stage.run(bgr, detections.faces, now)
            if self.pose_stage:
                detections.faces = self.pose_stage.run(
                    detections.faces, size, now, self.camera_info.intrinsics(*size[::-1]))
        self.publisher.publish(face_array_msg(
            faces_msg.header, size, detections,
            self.stage.keypoint_names, self.stage.model_name))
        return frame_age_ms(self, faces_msg.header)

    def _on_error(self, pair, error: Exception) -> None:
        self.log_error(f'frame skipped: {error}')


def main(args=None):
    return run_node(KeypointNode, args)


if __name__ == '__main__':
    sys.exit(main())
