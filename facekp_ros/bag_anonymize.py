"""`facekp bag IN OUT`: a copy of a ROS 2 bag with every face in every image topic hidden.

Works on sqlite3 and mcap bags, raw and compressed images, without a ROS install (rosbags).
Other topics are copied unchanged. Images keep their encoding (packed YUV and Bayer become
bgr8) or their compressed format. A frame that cannot be decoded, or a message that cannot
be deserialized, is left out and counted (never copied raw); a frame whose detection fails is
written fully masked. The bag is written beside OUT and renamed to OUT when complete, so a
failure or a kill never leaves a partial bag at OUT.
"""
import dataclasses
import json
import os
import pathlib
import shutil
import sys

from rosbags.rosbag2 import StoragePlugin, Writer

from facekp_ros.bag_io import (
    IMAGE_TYPES,
    UndeserializableMessageError,
    decode_message,
    encode_message,
    open_reader,
)
from facekp_ros.core.pipeline import FacePipeline, PipelineConfig

REPORT = 'privacy_report.json'
LOWEST_SCORES_KEPT = 10  # masked detections listed per topic for a reviewer
FRAMES_LISTED = 100  # frames with mask-only faces listed per topic (all are counted)


@dataclasses.dataclass
class TopicReport:
    frames: int = 0
    faces_seen: int = 0  # reported faces detected (not held over)
    frames_fully_masked: int = 0  # detection failed: fail-closed
    frames_with_held_faces: int = 0  # a face hidden only thanks to tracking hold-over
    frames_left_out: int = 0  # undecodable image: not written at all
    messages_undeserializable: int = 0  # corrupt or truncated message: not written at all
    frames_masked_not_reported: int = 0  # a face hidden that was not confident to report
    # Where a reviewer should look first:
    masked_not_reported_frames: list = dataclasses.field(default_factory=list)
    lowest_scored_masked: list = dataclasses.field(default_factory=list)

    def note_faces(self, index: int, stamp_ns: int, detections) -> None:
        self.faces_seen += sum(f.frames_since_seen == 0 for f in detections.faces)
        self.frames_with_held_faces += any(f.frames_since_seen for f in detections.faces)
        fresh_mask_only = [f for f in detections.mask_only if f.frames_since_seen == 0]
        if fresh_mask_only:
            self.frames_masked_not_reported += 1
            if len(self.masked_not_reported_frames) < FRAMES_LISTED:
                self.masked_not_reported_frames.append({'frame': index, 'stamp_ns': stamp_ns})
        for face, reported in [(f, True) for f in detections.faces] \
                + [(f, False) for f in fresh_mask_only]:
            if face.frames_since_seen:
                continue
            self.lowest_scored_masked.append({
                'frame': index, 'stamp_ns': stamp_ns, 'score': round(float(face.score), 4),
                'box': [round(float(v), 1) for v in face.box], 'reported': reported})
        self.lowest_scored_masked.sort(key=lambda item: item['score'])
        del self.lowest_scored_masked[LOWEST_SCORES_KEPT:]


def check_paths(source: pathlib.Path, target: pathlib.Path) -> None:
    """Refuses what could lose data or hide a mistake, before any work is done."""
    if not source.exists():
        raise FileNotFoundError(f'input bag {source} does not exist')
    if target.exists():
        raise FileExistsError(f'output {target} already exists: choose a new path (the input '
                              'and existing files are never overwritten)')
    resolved, inside = target.resolve(), source.resolve()
    if inside.is_dir() and (resolved == inside or inside in resolved.parents):
        raise ValueError(f'output {target} is inside the input bag {source}: choose a path '
                         'outside it')
    if not target.parent.resolve().is_dir():
        raise FileNotFoundError(f'folder {target.parent} for the output does not exist: '
                                'create it first')


def _storage_of(source: pathlib.Path) -> StoragePlugin:
    mcap = source.suffix == '.mcap' or (source.is_dir() and any(source.glob('*.mcap')))
    return StoragePlugin.MCAP if mcap else StoragePlugin.SQLITE3


def anonymize_bag(source, target, config: PipelineConfig | None = None,
                  progress=None, warn=None) -> dict:
    """Writes the anonymized copy at target; returns {topic: TopicReport as dict}.

    warn(text) gets one line per message left out (default: stderr)."""
    source, target = pathlib.Path(source), pathlib.Path(target)
    check_paths(source, target)
    config = config or PipelineConfig(keypoints=None, annotate=None)
    warn = warn or (lambda text: print(f'facekp: {text}', file=sys.stderr))
    partial = target.with_name(f'.{target.name}.partial-{os.getpid()}')
    shutil.rmtree(partial, ignore_errors=True)
    reader = open_reader(source)
    try:
        reports = _copy(reader, partial, _storage_of(source), config, progress, warn)
        summary = {topic: dataclasses.asdict(report) for topic, report in reports.items()}
        (partial / REPORT).write_text(json.dumps(summary, indent=1) + '\n')
        os.rename(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        reader.close()
    return summary


def _copy(reader, target: pathlib.Path, plugin, config, progress, warn) -> dict:
    reports, pipelines = {}, {}
    with Writer(target, version=8, storage_plugin=plugin) as writer:
        out = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=reader.typestore,
                                           serialization_format=c.ext.serialization_format,
                                           offered_qos_profiles=c.ext.offered_qos_profiles)
               for c in reader.connections}
        for connection, stamp, raw in reader.messages():
            if connection.msgtype in IMAGE_TYPES:
                if connection.topic not in pipelines:
                    pipelines[connection.topic] = FacePipeline(config)
                    reports[connection.topic] = TopicReport()
                raw = _anonymized(reader, connection, stamp, raw, pipelines[connection.topic],
                                  reports[connection.topic], warn)
            if raw is not None:
                writer.write(out[connection.id], stamp, raw)
            if progress:
                progress()
    return reports


def _anonymized(reader, connection, stamp, raw, pipeline, report, warn):
    """The serialized anonymized message, or None when it cannot be read."""
    index = report.frames
    report.frames += 1
    try:
        msg, image = decode_message(reader, connection, raw)
    except UndeserializableMessageError as error:
        report.messages_undeserializable += 1
        warn(f'{connection.topic}: message {index} at {stamp} ns left out, cannot be '
             f'deserialized ({error})')
        return None
    except ValueError as error:
        report.frames_left_out += 1
        warn(f'{connection.topic}: frame {index} at {stamp} ns left out, cannot be decoded '
             f'({error})')
        return None
    result = pipeline.process(image, t_s=stamp * 1e-9)
    report.frames_fully_masked += result.masked_whole_frame
    report.note_faces(index, stamp, result.detections)
    return encode_message(msg, result.anonymized, reader.typestore, connection.msgtype)
