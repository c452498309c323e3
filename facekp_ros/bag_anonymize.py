"""`facekp bag IN OUT`: a copy of a ROS 2 or ROS 1 bag with every face in every image hidden.

Works on every rosbag2 storage variant (bag_rosbag2) and ROS 1 bags (bag_ros1) without a ROS
install; everything but the images is copied as it was, and the copy's messages per topic are
checked against the input's before it is renamed into place. Every image in every message
is anonymized (bag_images: sensor_msgs and foxglove_msgs images, also nested or in arrays);
a topic whose images cannot be anonymized (video) stops the bag before anything is written.
Depth images and topics without images are copied unchanged; the report says per topic what
was done. Images keep their encoding (packed YUV and Bayer become bgr8) or their compressed
format. A frame that cannot be decoded, or a message that cannot be deserialized, is left out
with its message and counted (never copied raw); a frame whose detection fails is written
fully masked. The bag is written beside OUT and renamed to OUT when complete, so a
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
from facekp_ros.bag_images import (
    check_supported,
    decode_image,
    encode_image,
    find_images,
    is_depth,
    replace_images,
    type_plan,
)
from facekp_ros.bag_io import BagReadError, UndeserializableMessageError, deserialize
from facekp_ros.bag_outputs import partial_name, stale_partials
from facekp_ros.bag_ros1 import Ros1Bag
from facekp_ros.bag_rosbag2 import Rosbag2
from facekp_ros.core.haar import HAAR_CASCADES
from facekp_ros.core.keypoints import resolve_model
from facekp_ros.core.pipeline import FacePipeline, PipelineConfig
from facekp_ros.core.retinaface import model_source

REPORT = 'privacy_report.json'
ROS1_SUFFIX = '.bag'  # a ROS 1 bag file; anything else is a rosbag2 folder or file
WRITE_ERRORS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO)  # a full disk, a limit
LOWEST_SCORES_KEPT = 10  # masked detections listed per topic for a reviewer
FRAMES_LISTED = 100  # frames with mask-only faces listed per topic (all are counted)


# What was done to a topic, in its report.
ANONYMIZED = 'anonymized'
DEPTH = 'depth images copied unchanged'
NO_IMAGES = 'holds no image: copied unchanged'


@dataclasses.dataclass
class TopicReport:
    msgtype: str
    image_fields: list  # where its type holds images ('' = the message itself)
    action: str = NO_IMAGES  # ANONYMIZED, DEPTH or both ('; '), set as images are seen
    frames: int = 0  # images in its messages (several per message where the type has more)
    depth_frames: int = 0  # depth images: copied unchanged
    faces_seen: int = 0  # reported faces detected (not held over)
    frames_fully_masked: int = 0  # detection failed: fail-closed
    frames_with_held_faces: int = 0  # a face hidden only thanks to tracking hold-over
    frames_left_out: int = 0  # undecodable image: its message not written at all
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

    def note_action(self, action: str) -> None:
        done = [a for a in (ANONYMIZED, DEPTH) if a in self.action or a == action]
        self.action = '; '.join(done)


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


def input_signature(source: pathlib.Path, config: PipelineConfig, depth_topics=()) -> dict:
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
            'settings': hashlib.sha256(repr((shaping, sorted(depth_topics)) if depth_topics
                                            else shaping).encode()).hexdigest()[:16],
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


def finished_report(source, target, config: PipelineConfig, depth_topics=()) -> dict | None:
    """target's report when target is the finished output of source as it is now, made with
    config's settings; None otherwise (missing, unfinished, another input, changed since)."""
    report = read_report(target)
    if report and report['input'] == input_signature(source, config, depth_topics):
        return report
    return None


def topic_reports(report: dict) -> dict:
    """{topic: counts} of a report (ROS 2 topic names start with '/', the other keys not)."""
    return {k: v for k, v in report.items() if k.startswith('/')}


def anonymize_bag(source, target, config: PipelineConfig | None = None,
                  progress=None, warn=None, started=None, depth_topics=(),
                  ros_distro=DEFAULT_DISTRO) -> dict:
    """Writes the anonymized copy at target; returns its report: {topic: what was done to it
    (TopicReport as dict for a type that holds images)}, 'messages': {topic: counts}
    (check_counts) and 'input': input_signature (taken before reading, so a change during the
    run shows). A copy whose counts differ from its input's raises LostMessagesError and is
    not written.

    warn(text) gets one line per message left out (default: stderr); started(n) the number
    of messages once the bag is open, progress() is called after each. depth_topics: more
    topics whose 16UC1/32FC1 images are depth (copied unchanged). ros_distro: the type store
    for a bag that names no distro."""
    source, target = pathlib.Path(source), pathlib.Path(target)
    check_paths(source, target)
    config = config or PipelineConfig(keypoints=None, annotate=None)
    signature = input_signature(source, config, depth_topics)
    warn = warn or (lambda text: print(f'facekp: {text}', file=sys.stderr))
    # The bag is written as <partial>/<target name>, its files named after it, and renamed.
    partial = partial_name(target)
    for stale in [partial, *stale_partials(target)]:  # this pid's, and those of killed runs
        shutil.rmtree(stale, ignore_errors=True)
    try:
        bag = Ros1Bag(source) if is_ros1(source) else Rosbag2(source, ros_distro)
    except BagReadError as error:
        raise ValueError(f'cannot read bag {source}: {error}') from error
    try:
        topics = _topic_reports(bag)
        partial.mkdir()
        if started:
            started(bag.message_count)
        written = partial / target.name
        copier = _Copier(bag, topics, config, warn, tuple(depth_topics))
        counts = bag.copy(written, copier.wants, copier.anonymized, progress)
        summary = {topic: report if isinstance(report, dict) else dataclasses.asdict(report)
                   for topic, report in topics.items()}
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


def _topic_reports(reader) -> dict:
    """{topic: TopicReport, or a dict for a type without images}, in the bag's order;
    UnsupportedImageError for a topic whose images cannot be anonymized (nothing written)."""
    reports = {}
    for connection in reader.connections:
        plan = type_plan(reader.typestore.fielddefs, connection.msgtype)
        check_supported(connection.topic, connection.msgtype, plan)
        if connection.topic in reports:
            continue
        reports[connection.topic] = TopicReport(connection.msgtype, list(plan.paths)) \
            if plan.paths else {'msgtype': connection.msgtype, 'action': NO_IMAGES}
    return reports


@dataclasses.dataclass
class _Listed:
    """Connections and the typestore that reads them, as _topic_reports takes them."""
    connections: list
    typestore: object


class _Copier:
    """Copies every message, anonymizing the images in them: one FacePipeline (tracks) per
    image stream, that is per topic and place in the message."""

    def __init__(self, reader, reports: dict, config, warn, depth_topics: tuple):
        self.reader, self.reports, self.config = reader, reports, config
        self.warn, self.depth_topics, self.pipelines = warn, depth_topics, {}

    def wants(self, connection) -> bool:
        """Whether connection's type holds images (its messages go through anonymized)."""
        if connection.topic not in self.reports:  # a channel the metadata does not list
            self.reports.update(_topic_reports(_Listed([connection], self.reader.typestore)))
        return not isinstance(self.reports[connection.topic], dict)

    def anonymized(self, connection, stamp, raw):
        return self._anonymized(connection, stamp, raw, self.reports[connection.topic])

    def _anonymized(self, connection, stamp, raw, report):
        """The serialized message with its images anonymized (raw itself when none changed),
        or None when it cannot be read."""
        topic = connection.topic
        try:
            msg = deserialize(self.reader.codec, connection, raw)
        except UndeserializableMessageError as error:
            report.messages_undeserializable += 1
            self.warn(f'{topic}: message at {stamp} ns left out, cannot be deserialized '
                      f'({error})')
            return None
        replaced = {}
        for image in find_images(msg):
            index = report.frames
            report.frames += 1
            if is_depth(image, topic, self.depth_topics):
                report.depth_frames += 1
                report.note_action(DEPTH)
                continue
            where = f'{topic} {image.path}'.strip()
            try:
                replaced[image.path] = self._hidden(where, image, stamp, index, report)
            except ValueError as error:
                report.frames_left_out += 1
                self.warn(f'{where}: frame {index} at {stamp} ns left out with its message, '
                          f'cannot be decoded ({error})')
                return None
        if not replaced:
            return raw  # depth only, or no image in this message: the very same bytes
        return self.reader.codec.serialize(replace_images(msg, replaced), connection.msgtype)

    def _hidden(self, where: str, image, stamp: int, index: int, report):
        """The image object with its faces hidden; ValueError when it cannot be decoded."""
        decoded = decode_image(image.msg)
        if where not in self.pipelines:
            self.pipelines[where] = FacePipeline(self.config)
        result = self.pipelines[where].process(decoded, t_s=stamp * 1e-9)
        report.frames_fully_masked += result.masked_whole_frame
        report.note_faces(index, stamp, result.detections)
        report.note_action(ANONYMIZED)
        return encode_image(image.msg, result.anonymized)
