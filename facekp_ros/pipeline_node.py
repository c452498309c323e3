"""pipeline_node: every stage in one process; no raw image on the wire before blurring.

With `source` set it reads the camera itself (device, video, folder, bag or the built-in
sample); with `source` empty it subscribes to 'image'. Publishes 'face_keypoints',
'image_anonymized' and (optionally) 'image_annotated'.
"""
import dataclasses
import sys
import time

from sensor_msgs.msg import Image
from std_msgs.msg import Header

from facekp_ros.conversions import face_array_msg
from facekp_ros.core.pipeline import FacePipeline
from facekp_ros.core.sources import SOURCE_KINDS, open_source
from facekp_ros.core.worker import FrameWorker
from facekp_ros.diagnostics import DiagnosticsPublisher
from facekp_ros.image_bridge import ImageBridge
from facekp_ros.msg import FaceArray
from facekp_ros.node_common import (
    OUTPUT_QOS,
    SENSOR_QOS,
    ConfigError,
    ErrorLog,
    Param,
    StageNode,
    check_providers,
    declare_parameters,
    frame_age_ms,
    run_node,
)
from facekp_ros.parameters import (
    ANONYMIZER,
    CAMERA,
    DETECTOR,
    KEYPOINTS,
    VISUALIZER,
    pipeline_config,
)

_CAMERA = {param.name: param for param in CAMERA}
PIPELINE = (
    dataclasses.replace(
        _CAMERA['source'], default='',
        description="Camera source read in-process (no raw image on the wire): "
                    f"{SOURCE_KINDS}. '' subscribes to 'image' instead."),
    *(_CAMERA[name] for name in ('rate_hz', 'width', 'height', 'frame_id', 'loop')),
    Param('keypoints', True, 'Estimate keypoints (off: boxes and landmarks only).',
          read_only=True),
    Param('publish_annotated', True, "Publish 'image_annotated'.", read_only=True),
    Param('max_frames', 0, 'Stop after this many frames from `source` (0 = never).',
          0, 1_000_000_000, read_only=True),
)


class PipelineNode(StageNode):
    def __init__(self, **kwargs):
        super().__init__('face_pipeline', **kwargs)
        self.log_error = ErrorLog(self.get_logger())
        self.params = declare_parameters(
            self, PIPELINE + DETECTOR + KEYPOINTS + ANONYMIZER + VISUALIZER)
        check_providers(self.params, 'providers', 'keypoint_providers')
        try:
            self.pipeline = FacePipeline(pipeline_config(self.params))
        except (OSError, ValueError, RuntimeError) as error:
            raise ConfigError(f'cannot load the models: {error}') from error
        self.bridge = ImageBridge()
        self.faces_out = self.create_publisher(FaceArray, 'face_keypoints', OUTPUT_QOS)
        self.anonymized_out = self.create_publisher(Image, 'image_anonymized', OUTPUT_QOS)
        self.annotated_out = (self.create_publisher(Image, 'image_annotated', OUTPUT_QOS)
                              if self.params['publish_annotated'] else None)
        self.worker = FrameWorker('pipeline', self._process, self._on_error)
        self.frames_read = 0
        self.source = self._open_source() if self.params['source'] else None
        if self.source is None:
            self.create_subscription(Image, 'image', self._on_image, SENSOR_QOS)
        else:
            self.create_timer(1.0 / self.params['rate_hz'], self._read_source)
        self.diagnostics = DiagnosticsPublisher(self, {'pipeline': self.worker.stats})

    def _open_source(self):
        p = self.params
        try:
            return open_source(p['source'], p['width'], p['height'], loop=p['loop'],
                               on_skip=self.log_error)
        except (OSError, ValueError) as error:
            raise ConfigError(f"parameter 'source': {error}") from error

    def _read_source(self) -> None:
        limit = self.params['max_frames']
        if limit and self.frames_read >= limit:
            return
        bgr = self.source.read()
        if bgr is None:
            return
        self.frames_read += 1
        header = Header(stamp=self.get_clock().now().to_msg(),
                        frame_id=self.params['frame_id'])
        self.worker.submit((header, bgr))

    def _on_image(self, msg: Image) -> None:
        self.worker.submit((msg.header, msg))

    def _process(self, item) -> float:
        header, image = item
        bgr = image if self.source is not None else self.bridge.to_bgr8(image)
        result = self.pipeline.process(bgr, time.monotonic())
        if result.masked_whole_frame:
            self.get_logger().warning(
                f'frame fully masked: {result.detections.error or "detection failed"}',
                throttle_duration_sec=2.0)
        self.anonymized_out.publish(self.bridge.cv2_to_imgmsg(result.anonymized, 'bgr8',
                                                              header))
        self.faces_out.publish(face_array_msg(
            header, bgr.shape, result.detections, result.faces,
            self.pipeline.keypoint_names, self.pipeline.keypoint_model))
        if self.annotated_out is not None:
            self.annotated_out.publish(self.bridge.cv2_to_imgmsg(result.annotated, 'bgr8',
                                                                 header))
        return frame_age_ms(self, header)

    def _on_error(self, item, error: Exception) -> None:
        # Nothing is published for a frame we could not process: no raw image can leak.
        self.log_error(f'frame dropped: {error}')

    def destroy_node(self):
        if getattr(self, 'source', None) is not None:
            self.source.close()
        return super().destroy_node()


def main(args=None):
    return run_node(PipelineNode, args)


if __name__ == '__main__':
    sys.exit(main())
