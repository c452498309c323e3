"""`facekp bag IN OUT`: a copy of a ROS 2 bag with every face in every image topic hidden.

Works on sqlite3 and mcap bags, raw and compressed images, without a ROS install (rosbags).
Other topics are copied unchanged. Raw images are written back as bgr8 (mono8 stays mono8),
compressed ones re-encoded in their own format. A frame that cannot be decoded is left out
(never copied raw); a frame whose detection fails is written fully masked.
"""
import dataclasses
import json
import pathlib

import cv2
import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from facekp_ros.bag_io import COMPRESSED, IMAGE, message_to_bgr8
from facekp_ros.core.pipeline import FacePipeline, PipelineConfig


@dataclasses.dataclass
class TopicReport:
    frames: int = 0
    faces_seen: int = 0
    frames_fully_masked: int = 0  # detection failed: fail-closed
    frames_with_held_faces: int = 0  # a face hidden only thanks to tracking hold-over
    frames_left_out: int = 0  # undecodable: not written at all


def _check_paths(source: pathlib.Path, target: pathlib.Path) -> None:
    if not source.exists():
        raise FileNotFoundError(f'input bag {source} does not exist')
    if target.exists():
        raise FileExistsError(f'output {target} already exists: choose a new path (the input '
                              'and existing files are never overwritten)')


def _open_reader(source: pathlib.Path) -> AnyReader:
    try:
        reader = AnyReader([source])
        reader.open()
    except Exception as error:  # noqa: BLE001 - rosbags raises many types for a bad bag
        raise ValueError(f'cannot read bag {source}: {error} (is it a complete rosbag2 '
                         'folder or .mcap/.db3 file?)') from error
    return reader


def _encode(msg, msgtype: str, bgr: np.ndarray, typestore):
    """A new message like msg carrying bgr (same header, same kind of encoding)."""
    if msgtype == COMPRESSED:
        suffix = '.png' if 'png' in msg.format.lower() else '.jpg'
        data = cv2.imencode(suffix, bgr)[1].reshape(-1)
        return dataclasses.replace(msg, format=suffix[1:], data=data)
    mono = msg.encoding in ('mono8', '8UC1')
    pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if mono else bgr
    return dataclasses.replace(
        msg, encoding='mono8' if mono else 'bgr8', is_bigendian=0,
        step=pixels.shape[1] * (1 if mono else 3),
        height=pixels.shape[0], width=pixels.shape[1],
        data=np.ascontiguousarray(pixels).reshape(-1))


def anonymize_bag(source, target, config: PipelineConfig | None = None,
                  progress=None) -> dict:
    """Writes the anonymized copy at target; returns {topic: TopicReport as dict}."""
    source, target = pathlib.Path(source), pathlib.Path(target)
    _check_paths(source, target)
    config = config or PipelineConfig(keypoints=False, annotate=False)
    reader = _open_reader(source)
    plugin = StoragePlugin.MCAP if source.suffix == '.mcap' or any(
        source.glob('*.mcap')) else StoragePlugin.SQLITE3
    reports, pipelines = {}, {}
    try:
        with Writer(target, version=8, storage_plugin=plugin) as writer:
            out = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=reader.typestore,
                                               serialization_format=c.ext.serialization_format,
                                               offered_qos_profiles=c.ext.offered_qos_profiles)
                   for c in reader.connections}
            for connection, stamp, raw in reader.messages():
                if connection.msgtype in (IMAGE, COMPRESSED):
                    raw = _anonymize_message(reader, connection, raw, pipelines, reports, config)
                if raw is not None:
                    writer.write(out[connection.id], stamp, raw)
                if progress:
                    progress()
    finally:
        reader.close()
    summary = {topic: dataclasses.asdict(report) for topic, report in reports.items()}
    (target / 'privacy_report.json').write_text(json.dumps(summary, indent=1))
    return summary


def _anonymize_message(reader, connection, raw, pipelines, reports, config):
    """The serialized anonymized message, or None when the frame cannot be decoded."""
    topic, msgtype = connection.topic, connection.msgtype
    report = reports.setdefault(topic, TopicReport())
    pipeline = pipelines.get(topic) or pipelines.setdefault(topic, FacePipeline(config))
    report.frames += 1
    msg = reader.deserialize(raw, msgtype)
    try:
        bgr = message_to_bgr8(msg, msgtype)
    except ValueError:
        report.frames_left_out += 1
        return None
    result = pipeline.process(bgr)
    report.faces_seen += sum(f.frames_since_seen == 0 for f in result.faces)
    report.frames_fully_masked += result.masked_whole_frame
    report.frames_with_held_faces += any(f.frames_since_seen for f in result.faces)
    return reader.typestore.serialize_cdr(
        _encode(msg, msgtype, result.anonymized, reader.typestore), msgtype)
