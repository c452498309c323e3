"""anonymizer_node: image + 'faces' -> 'image_anonymized', every face hidden; fails closed.

An image is published only after the faces found in it arrive, in its own encoding. If
they never come within max_wait_s (the detector is down or too slow), it is published
fully masked; if the detector skipped it (the faces of a newer image came first) or newer
frames pushed it out of the bounded wait, it is dropped and counted. Stamps on
image_anonymized only increase. A frame that cannot be decoded is not published at all.
"""
import sys

from facekp_ros.conversions import detections_from_msg
from facekp_ros.core.image_codec import decode
from facekp_ros.core.stages import AnonymizeStage
from facekp_ros.core.sync import IncreasingStamps
from facekp_ros.core.worker import FrameWorker
from facekp_ros.diagnostics import DiagnosticsPublisher
from facekp_ros.image_topics import ImageOutput
from facekp_ros.node_common import (
    StageNode,
    frame_age_ms,
    output_qos,
    run_node,
)
from facekp_ros.paired_input import PairedInput
from facekp_ros.parameters import anonymize_config


class AnonymizerNode(StageNode):
    def __init__(self, **kwargs):
        super().__init__('face_anonymizer', anonymize_config, **kwargs)

    def setup(self) -> None:
        self.stage = AnonymizeStage(anonymize_config(self.params))
        self.masked_frames = 0
        self.stamps = IncreasingStamps()
        self.output = ImageOutput(self, 'image_anonymized', self.params,
                                  output_qos(self.params))
        self.worker = FrameWorker('anonymize', self._process, self._on_error)
        self.input = PairedInput(self, 'faces', self.params,
                                 self._on_expired)
        self.diagnostics = DiagnosticsPublisher(self, {'anonymize': self.worker.stats},
                                                self._problems)

    def apply(self, config) -> None:
        self.stage.reconfigure(config)
        self.input.set_max_wait(self.params['max_wait_s'])

    def in_effect(self) -> tuple:
        return self.stage.config, self.input.sync.max_wait_s

    def _publish(self, image_msg, detections) -> bool:
        """Publishes the anonymized frame unless a newer one went out already."""
        image, masked = self.stage.run(decode(image_msg), detections)
        stamp = image_msg.header.stamp
        if not self.stamps.admit(stamp.sec, stamp.nanosec):
            self.worker.stats.count_dropped()  # out of order: never published late
            return False
        self.output.publish(image, image_msg.header)
        self.masked_frames += masked
        return masked

    def _process(self, pair) -> float:
        image, faces_msg = pair
        detections = detections_from_msg(faces_msg)
        if self._publish(image, detections):
            self.get_logger().warning(f'published a frame fully masked: detection failed '
                                      f'({detections.error or "detection_ok is false"})',
                                      throttle_duration_sec=2.0)
        return frame_age_ms(self, image.header)

    def _on_expired(self, image, reason: str) -> None:
        self.worker.stats.count_dropped()
        if reason != 'timeout':
            # Skipped by the detector (superseded), pushed out by newer waiting frames
            # (evicted) or ambiguous (duplicate stamp): dropped, never published late.
            return
        try:
            self._publish(image, None)
        except ValueError as error:
            self._on_error((image, None), error)
            return
        self.get_logger().warning(f'no faces for a frame ({reason}): published it fully '
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
