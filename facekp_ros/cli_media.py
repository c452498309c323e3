"""`facekp image` and what `facekp video` shares with it: JSON records, output planning, the
image runs."""
import json
import math
import os
import pathlib
import sys

import cv2
from tqdm import tqdm

from facekp_ros.core.head_pose import face_quaternion, yaw_pitch_roll_deg
from facekp_ros.core.image_codec import from_array
from facekp_ros.core.pipeline import FacePipeline
from facekp_ros.core.types import LANDMARK5_NAMES
from facekp_ros.media_files import (
    WriteError,
    commit_bytes,
    kept_metadata,
    read_still,
    remove_leftovers,
    write_image,
)
from facekp_ros.sources import image_files


class CliError(Exception):
    """A problem with the user's arguments or paths: one line on stderr, exit code 2."""


def _point(xy) -> list | None:
    x, y = (float(v) for v in xy)
    return [round(x, 2), round(y, 2)] if x == x and y == y else None  # NaN: not found


def _box(face) -> dict:
    x, y, w, h = (round(float(v), 2) for v in face.box)
    return {'x': x, 'y': y, 'width': w, 'height': h}


def _number(value, digits: int):
    return round(float(value), digits) if math.isfinite(value) else None  # JSON has no NaN


def pose_record(pose) -> dict | None:
    """Head pose as in Face.msg (camera optical frame, metres, degrees); None: no pose."""
    if pose is None:
        return None
    yaw, pitch, roll = yaw_pitch_roll_deg(pose.rotation)
    return {'position_m': [_number(v, 4) for v in pose.translation],
            'orientation_xyzw': [_number(v, 5) for v in face_quaternion(pose)],
            'yaw_deg': _number(yaw, 2), 'pitch_deg': _number(pitch, 2),
            'roll_deg': _number(roll, 2),
            'reprojection_error_px': _number(pose.reprojection_error_px, 3),
            'distance_m': _number(pose.distance_m, 4),
            'intrinsics_default': pose.intrinsics_default}


def cue_record(cues) -> dict | None:
    if cues is None:
        return None
    return {'right_eye_openness': _number(cues.right_eye_openness, 3),
            'left_eye_openness': _number(cues.left_eye_openness, 3),
            'mouth_openness': _number(cues.mouth_openness, 3),
            'attention_angle_deg': _number(cues.attention_angle_deg, 2),
            'looking_at_camera': cues.looking_at_camera}


def face_record(face, keypoint_names) -> dict:
    return {
        'track_id': face.track_id,
        'box': _box(face),
        'score': round(face.score, 4),
        'held_frames': face.frames_since_seen,
        'landmarks': {name: _point(p) for name, p in zip(LANDMARK5_NAMES, face.landmarks)},
        'keypoints': {name: _point(p) for name, p in zip(keypoint_names, face.keypoints)},
        'head_pose': pose_record(face.head_pose),
        'cues': cue_record(face.cues),
    }


def frame_record(pipeline, result) -> dict:
    detections = result.detections
    return {'detection_ok': detections.ok, 'error': detections.error,
            'masked_whole_frame': result.masked_whole_frame,
            'faces': [face_record(f, pipeline.keypoint_names) for f in detections.faces],
            'mask_only': [{'box': _box(f), 'score': round(f.score, 4)}
                          for f in detections.mask_only]}


def is_camera(source: str) -> bool:
    return source.isdigit() or source.startswith('/dev/video')


def _writable_folder(folder: pathlib.Path, create: bool) -> pathlib.Path:
    if create and not folder.exists() and folder.parent.is_dir():
        folder.mkdir()
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise CliError(f'cannot write to folder {folder}: it does not exist or is not '
                       'writable')
    return folder


def plan_outputs(jobs: list, out: str | None, kind: str) -> list:
    """[(input, output path)] from [(input, default output)]. One input: out is the file (or
    an existing folder); several: out is a folder (made when missing), each output named
    <name>_<kind>. Without out, the defaults: beside each input file, or in <folder>_<kind>/
    for the images of a folder. Checked before any work is done: never an input overwritten,
    never two outputs on one path."""
    out_path = pathlib.Path(out).expanduser() if out else None
    into_folder = out_path is not None and (len(jobs) > 1 or out_path.is_dir())
    if into_folder:
        _writable_folder(out_path, create=len(jobs) > 1)
    planned = []
    for source, default in jobs:
        if into_folder:
            target = out_path / default.name
        elif out_path is not None:
            target = out_path
        elif is_camera(str(source)):
            raise CliError(f'give --out for camera {source}')
        else:
            target = default
        _writable_folder(target.parent, create=not into_folder and out_path is None)
        planned.append((source, target))
    targets = [target.resolve() for _, target in planned]
    inputs = {pathlib.Path(str(s)).resolve() for s, _ in planned if not is_camera(str(s))}
    clash = next((t for t in targets if t in inputs), None) or next(
        (t for t in targets if targets.count(t) > 1), None)
    if clash is not None:
        raise CliError(f'output {clash} would overwrite an input or another output: give '
                       '--out a new folder')
    return planned


def image_jobs(inputs: list, kind: str) -> list:
    """[(image file, default output)], each folder replaced by its images in natural order."""
    jobs = []
    for item in inputs:
        path = pathlib.Path(item).expanduser()
        if path.is_dir():
            try:
                files = image_files(path)
            except ValueError as error:
                raise CliError(str(error)) from error
            folder = path.resolve().with_name(f'{path.resolve().name}_{kind}')
            jobs += [(f, folder / f'{f.stem}_{kind}{f.suffix}') for f in files]
        elif path.is_file():
            jobs.append((path, path.with_name(f'{path.stem}_{kind}{path.suffix}')))
        else:
            raise CliError(f'cannot read image {item}: no such file or folder')
    return jobs


def _write_json_lines(path, records: list, as_one: bool) -> bool:
    text = json.dumps(records[0], indent=1) if as_one else \
        '\n'.join(json.dumps(r) for r in records)
    try:
        commit_bytes(pathlib.Path(path), (text + '\n').encode())
    except WriteError as error:
        print(f'facekp: {error}', file=sys.stderr)
        return False
    return True


def _summary(result) -> str:
    faces = result.detections.faces
    lines = [f'{len(faces)} face(s)' + (f', {len(result.detections.mask_only)} more hidden'
                                         if result.detections.mask_only else '')]
    for face in faces:
        x, y, w, h = (int(round(float(v))) for v in face.box)
        lines.append(f'  id {face.track_id}: box x={x} y={y} w={w} h={h} '
                     f'score={face.score:.3f}')
    return '\n'.join(lines)


def _check_writers(targets) -> None:
    for target in targets:
        if not cv2.haveImageWriter(str(target)):
            raise CliError(f'cannot write {target}: unknown image type (use .jpg or .png)')
        remove_leftovers(target)


def _read(source, keep_metadata: bool):
    """(Still, '') or (None, why it is skipped)."""
    try:
        still = read_still(source, keep_metadata)
    except ValueError as error:
        return None, str(error)
    if still.frames > 1:  # OpenCV would give its first frame only: the others unseen
        return None, (f'{still.frames} frames (an animation or a multi-page file): facekp '
                      'image reads single images; give it to facekp video')
    return still, ''


def run_images(args, config) -> int:
    kind = 'anonymized' if args.anonymize else 'annotated'
    planned = plan_outputs(image_jobs(args.inputs, kind), args.out, kind)
    files = [source for source, _ in planned]
    if args.anonymized and len(files) > 1:
        raise CliError('--anonymized takes one input; use --anonymize with --out FOLDER')
    _check_writers([target for _, target in planned]
                   + ([pathlib.Path(args.anonymized)] if args.anonymized else []))
    pipeline = FacePipeline(config)
    records, failed, unwritten = [], 0, False
    for source, target in tqdm(planned, unit='image', disable=args.quiet or len(files) < 2):
        still, why = _read(source, args.keep_metadata)
        if still is None and len(planned) == 1:
            raise CliError(f'{source}: {why}')
        if still is None:
            print(f'facekp: {source}: {why}, skipped', file=sys.stderr)
            failed += 1
            continue
        pipeline.reset()  # unrelated photos: no tracks carried over
        result = pipeline.process(from_array(still.pixels))
        outputs = [(target, result.anonymized.pixels if args.anonymize else result.annotated)]
        if args.anonymized:
            outputs.append((pathlib.Path(args.anonymized), result.anonymized.pixels))
        try:
            notes = [(path, write_image(path, pixels, kept_metadata(still, path)))
                     for path, pixels in outputs]
        except WriteError as error:  # a full disk or a lost folder fails every later image
            print(f'facekp: {error}', file=sys.stderr)
            unwritten = True
            break
        for path, note in notes:
            if note:
                print(f'facekp: {path}: {note}', file=sys.stderr)
        if not result.detections.ok:
            print(f'facekp: {source}: detection failed, whole image masked: '
                  f'{result.detections.error}', file=sys.stderr)
        turned = f' (EXIF orientation {still.orientation}: turned upright)' \
            if still.orientation != 1 else ''
        print(f'{source}{turned}: {_summary(result)}')
        records.append({'image': str(source), 'output': str(target),
                        'width': still.pixels.shape[1], 'height': still.pixels.shape[0],
                        'exif_orientation': still.orientation,
                        'detector': config.detection.detector,
                        'keypoint_model': pipeline.keypoint_model,
                        **frame_record(pipeline, result)})
    if args.json and records:
        unwritten |= not _write_json_lines(args.json, records, as_one=len(files) == 1)
    if not records and not unwritten:
        raise CliError('no input image could be read')
    return 1 if failed or unwritten else 0
