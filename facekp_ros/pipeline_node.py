"""pipeline_node: every stage in one process; no raw image on the wire before blurring.

With `source` set it reads the camera itself (device, video, folder, bag or the built-in
sample); with `source` empty it subscribes to 'image' (and 'camera_info'). Publishes
'face_keypoints', 'image_anonymized', 'face_markers' and (optionally) 'image_annotated'.
Detection of frame N+1 runs beside keypoints and anonymization of frame N, one thread each.
"""
import dataclasses
import sys
import time

from std_msgs.msg import Header

from facekp_ros.conversions import face_array_msg
from facekp_ros.core.head_pose import intrinsics_from_k
from facekp_ros.core.image_codec import decode, from_bgr8
from facekp_ros.core.pipeline import FacePipeline
from facekp_ros.core.worker import FrameWorker
from facekp_ros.diagnostics import DiagnosticsPublisher
from facekp_ros.face_outputs import CameraInfoInput, FaceOutputs
from facekp_ros.image_topics import ImageOutput, subscribe_image
from facekp_ros.msg import FaceArray
from facekp_ros.node_common import (
    ConfigError,
    StageNode,
    check_providers,
    frame_age_ms,
    output_qos,
    run_node,
)
from facekp_ros.parameters import pipeline_config
from facekp_ros.sources import open_source

# One onnxruntime thread per session: the two steps run on their own cores side by side.
THREADS_PER_SESSION = 1
# Detection is the longer step; its turned views also use the core keypoints leave idle
# (the live +-45 default at 640x480: 41-44 fps against 34-36 with the views in turn).
VIEW_THREADS = 2


def _config(values: dict):
    config = pipeline_config(values, THREADS_PER_SESSION)
    return dataclasses.replace(config, detection=dataclasses.replace(
        config.detection, view_threads=VIEW_THREADS))


class PipelineNode(StageNode):
    def __init__(self, **kwargs):
        super().__init__('face_pipeline', _config, **kwargs)

    def setup(self) -> None:
        self.source = None  # first: release() closes it whatever fails after it opened
        if self.params['source']:
            self.source = self._open_source()
        check_providers(self.params, 'providers', 'keypoint_providers')
        try:
            self.pipeline = FacePipeline(_config(self.params))
        except (OSError, ValueError, RuntimeError) as error:
            raise ConfigError(f'cannot load the models: {error}') from error
        qos = output_qos(self.params)
        self.faces_out = self.output_publisher(FaceArray, 'face_keypoints', qos)
        self.anonymized_out = ImageOutput(self, 'image_anonymized', self.params, qos)
        self.annotated_out = (ImageOutput(self, 'image_annotated', self.params, qos)
                              if self.params['publish_annotated'] else None)
        self.face_outputs = FaceOutputs(self, self.params['publish_tf'],
                                        self.params['marker_lifetime_s']) \
            if self.params['publish_markers'] else None
        self.frames_read = 0
        self.intrinsics = self._fixed_intrinsics()
        self.camera_info = CameraInfoInput(self) if self.source is None else None
        self.worker = FrameWorker('pipeline', [self._detect, self._finish], self._on_error)
        if self.source is None:
            subscribe_image(self, 'image', self._on_image, self.params)
        else:
            self.create_timer(1.0 / self.params['rate_hz'], self._read_source)
        self.diagnostics = DiagnosticsPublisher(self, {'pipeline': self.worker.stats})

    def _fixed_intrinsics(self):
        """The intrinsics of camera_info_file for an in-process source, else None."""
        if not (self.source is not None and self.params['camera_info_file']):
            return None
        from facekp_ros.camera_node import load_camera_info

        info = load_camera_info(self.params['camera_info_file'])
        return intrinsics_from_k(info.k, info.d), info.width, info.height

    def _intrinsics_for(self, shape):
        height, width = shape[:2]
        if self.camera_info is not None:
            return self.camera_info.intrinsics(width, height)
        if self.intrinsics is not None and self.intrinsics[1:] == (width, height):
            return self.intrinsics[0]
        return None

    def apply(self, config) -> None:
        self.pipeline.reconfigure(config)
        if self.face_outputs is not None:
            self.face_outputs.lifetime_s = self.params['marker_lifetime_s']

    def in_effect(self) -> tuple:
        return (*self.pipeline.in_effect(),
                self.face_outputs.lifetime_s if self.face_outputs else None)

    def _open_source(self):
        p = self.params
        try:
            return open_source(p['source'], p['width'], p['height'], loop=p['loop'],
                               bag_topic=p['bag_topic'], on_skip=self.log_error)
        except (OSError, ValueError) as error:
            raise ConfigError(f"parameter 'source': {error}") from error

    def _read_source(self) -> None:
        if not self.active:  # paused (lifecycle): a video or bag waits where it is
            return
        limit = self.params['max_frames']
        if limit and self.frames_read >= limit:
            return
        bgr = self.source.read()
        if bgr is None:
            return
        self.frames_read += 1
        header = Header(stamp=self.get_clock().now().to_msg(),
                        frame_id=self.params['frame_id'])
        self.submit((header, bgr))

    def _on_image(self, msg) -> None:
        self.submit((msg.header, msg))

    def _detect(self, item) -> tuple:
        header, frame = item
        image = from_bgr8(frame) if self.source is not None else decode(frame)
        return image, self.pipeline.detect(image)

    def _finish(self, item, detected) -> float:
        header, _ = item
        image, detections = detected
        result = self.pipeline.finish(image, detections, time.monotonic(),
                                      self._intrinsics_for(image.pixels.shape))
        if result.masked_whole_frame:
            self.get_logger().warning(
                f'frame fully masked: {result.detections.error or "detection failed"}',
                throttle_duration_sec=2.0)
        self.anonymized_out.publish(result.anonymized, header)
        self.faces_out.publish(face_array_msg(
            header, image.pixels.shape, result.detections, self.pipeline.keypoint_names,
            self.pipeline.keypoint_model))
        if self.annotated_out is not None:
            self.annotated_out.publish(from_bgr8(result.annotated), header)
        if self.face_outputs is not None:
            self.face_outputs.publish(header, result.faces)
        return frame_age_ms(self, header)

    def _on_error(self, item, error: Exception) -> None:
        # Nothing is published for a frame we could not process: no raw image can leak.
        self.log_error(f'frame dropped: {error}')

    def release(self, forget: bool = False) -> None:
        if self._made is not None and self.source is not None:
            self.source.close()
        super().release(forget)


def main(args=None):
    return run_node(PipelineNode, args)


if __name__ == '__main__':
    sys.exit(main())
