"""`facekp bag IN OUT`: a copy of a ROS 2 bag with every face in every image topic hidden.

Works on sqlite3 and mcap bags, raw and compressed images, without a ROS install (rosbags).
Other topics are copied unchanged. Images keep their encoding (packed YUV and Bayer become
bgr8) or their compressed format. A frame that cannot be decoded, or a message that cannot
be deserialized, is left out and counted (never copied raw); a frame whose detection fails is
written fully masked. The bag is written beside OUT and renamed to OUT when complete, so a
failure or a kill never leaves a partial bag at OUT. The report names the input it was made
from (finished_report tells a finished output of an unchanged input from anything else).
"""
import dataclasses
import errno
import functools
import hashlib
import json
import os
import pathlib
import shutil
import sys

import cv2

from facekp_ros.bag_distros import DEFAULT_DISTRO
from facekp_ros.bag_io import (
    IMAGE_TYPES,
    BagReadError,
    UndeserializableMessageError,
    decode_message,
    encode_message,
)
from facekp_ros.bag_ros1 import Ros1Bag
from facekp_ros.bag_rosbag2 import Rosbag2
from facekp_ros.core.haar import HAAR_CASCADES
from facekp_ros.core.keypoints import resolve_model
from facekp_ros.core.pipeline import FacePipeline, PipelineConfig
from facekp_ros.core.retinaface import model_source

REPORT = 'privacy_report.json'
ROS1_SUFFIX = '.bag'  # a ROS 1 bag file; anything else is a rosbag2 folder or file
WRITE_ERRORS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO)  # a full disk, a limit
PARTIAL = '.partial-'  # .<output name>.partial-<pid>: an output being written
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
    if is_ros1(source) != is_ros1(target):
        raise ValueError(f'output {target}: a ROS 1 bag (.bag) is copied as a ROS 1 bag and a '
                         'ROS 2 bag as a ROS 2 bag folder: name the output after its input '
                         f'({"ending" if is_ros1(source) else "not ending"} in .bag)')
    if not target.parent.resolve().is_dir():
        raise FileNotFoundError(f'folder {target.parent} for the output does not exist: '
                                'create it first')


def input_signature(source: pathlib.Path, config: PipelineConfig) -> dict:
    """What a finished output was made from: the input (path, size and newest mtime of its
    files) and a digest of the settings that shape the output (not the thread count)."""
    source = pathlib.Path(source).resolve()
    files = sorted(p for p in source.rglob('*') if p.is_file()) if source.is_dir() else [source]
    stats = [p.stat() for p in files]
    shaping = dataclasses.replace(
        config, detection=dataclasses.replace(config.detection, threads=0),
        keypoints=config.keypoints and dataclasses.replace(config.keypoints, threads=0))
    return {'path': str(source), 'files': len(files), 'bytes': sum(s.st_size for s in stats),
            'mtime_ns': max((s.st_mtime_ns for s in stats), default=0),
            'settings': hashlib.sha256(repr(shaping).encode()).hexdigest()[:16],
            'models': models_digest(config)}


def models_digest(config: PipelineConfig) -> str:
    """A digest of the bytes of the model files config's stages load: a model replaced at
    the same path changes it, so its bags are redone."""
    detection = config.detection
    if detection.detector == 'retinaface':
        sources = [model_source(detection.detector_model)]
    else:
        sources = [cv2.data.haarcascades + name for name in HAAR_CASCADES]
    if config.keypoints:
        sources.append(str(resolve_model(config.keypoints.model)))
    digest = hashlib.sha256()
    for source in sources:
        if isinstance(source, bytes):
            digest.update(hashlib.sha256(source).digest())
        else:
            stat = os.stat(source)
            digest.update(_file_digest(str(source), stat.st_size, stat.st_mtime_ns))
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=16)
def _file_digest(path: str, size: int, mtime_ns: int) -> bytes:  # noqa: ARG001 - cache keys
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.digest()


def is_ros1(path) -> bool:
    return pathlib.Path(path).suffix == ROS1_SUFFIX


def report_path(target) -> pathlib.Path:
    """Where the report of the output bag at target is: inside a rosbag2 folder, beside a
    ROS 1 bag file (<name>.bag.privacy_report.json)."""
    target = pathlib.Path(target)
    return target.with_name(f'{target.name}.{REPORT}') if is_ros1(target) else target / REPORT


def read_report(target: pathlib.Path) -> dict | None:
    """The report of the output bag at target; None when it is missing or unreadable."""
    try:
        report = json.loads(report_path(target).read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and isinstance(report.get('input'), dict) \
        else None


def finished_report(source, target, config: PipelineConfig) -> dict | None:
    """target's report when target is the finished output of source as it is now, made with
    config's settings; None otherwise (missing, unfinished, another input, changed since)."""
    report = read_report(target)
    if report and report['input'] == input_signature(source, config):
        return report
    return None


def topic_reports(report: dict) -> dict:
    """{topic: counts} of a report (ROS 2 topic names start with '/', the other keys not)."""
    return {k: v for k, v in report.items() if k.startswith('/')}


def stale_partials(target) -> list:
    """Partial copies of target left beside it by killed runs (named after their process)."""
    target = pathlib.Path(target)
    return sorted(target.parent.glob(f'.{target.name}{PARTIAL}*'))


def anonymize_bag(source, target, config: PipelineConfig | None = None,
                  progress=None, warn=None, started=None, ros_distro=DEFAULT_DISTRO) -> dict:
    """Writes the anonymized copy at target; returns its report: {topic: TopicReport as dict},
    'messages': {topic: counts} (check_counts) and 'input': input_signature (taken before
    reading, so a change during the run shows). A copy whose counts differ from its input's
    raises LostMessagesError and is not written.

    warn(text) gets one line per message left out (default: stderr); started(n) the number
    of messages once the bag is open, progress() is called after each. ros_distro: the type
    store for a bag that names no distro."""
    source, target = pathlib.Path(source), pathlib.Path(target)
    check_paths(source, target)
    config = config or PipelineConfig(keypoints=None, annotate=None)
    signature = input_signature(source, config)
    warn = warn or (lambda text: print(f'facekp: {text}', file=sys.stderr))
    # The bag is written as <partial>/<target name>: rosbags names its files after their
    # folder, so they get the final name, whichever process wrote them.
    partial = target.with_name(f'.{target.name}{PARTIAL}{os.getpid()}')
    shutil.rmtree(partial, ignore_errors=True)
    try:
        bag = Ros1Bag(source) if is_ros1(source) else Rosbag2(source, ros_distro)
    except BagReadError as error:
        raise ValueError(f'cannot read bag {source}: {error}') from error
    try:
        partial.mkdir()
        if started:
            started(bag.message_count)
        written = partial / target.name
        reports, counts = _copy(bag, written, config, progress, warn)
        summary = {topic: dataclasses.asdict(report) for topic, report in reports.items()}
        summary['messages'] = counts
        summary['ros_distro'] = bag.distro  # whose type store read the images
        summary['input'] = signature
        report = report_path(written)
        report.write_text(json.dumps(summary, indent=1) + '\n')
        os.rename(written, target)  # a folder's report goes with it
        if is_ros1(target):  # last: the report tells a finished output
            os.rename(report, report_path(target))
        partial.rmdir()
    except BagReadError as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise ValueError(f'cannot read bag {source}: {error}') from error
    except OSError as error:
        shutil.rmtree(partial, ignore_errors=True)
        if error.errno in WRITE_ERRORS:  # named after the output, not its hidden partial
            raise OSError(error.errno, error.strerror, str(target)) from error
        raise
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return summary


def _copy(bag, target: pathlib.Path, config, progress, warn) -> tuple:
    """({image topic: TopicReport}, {topic: counts}) of the copy of bag written at target."""
    reports, pipelines = {}, {}

    def anonymized(connection, stamp, raw):
        if connection.topic not in pipelines:
            pipelines[connection.topic] = FacePipeline(config)
            reports[connection.topic] = TopicReport()
        return _anonymized(bag.codec, connection, stamp, raw, pipelines[connection.topic],
                           reports[connection.topic], warn)

    counts = bag.copy(target, lambda c: c.msgtype in IMAGE_TYPES, anonymized, progress)
    return reports, counts


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
    return encode_message(msg, result.anonymized, reader, connection.msgtype)
