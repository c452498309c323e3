"""`facekp`: faces, 68 keypoints and anonymization on images and videos, without ROS.

    facekp image photo.jpg --out annotated.jpg --json faces.json
    facekp video clip.mp4 --out anonymized.mp4 --anonymize --json faces.jsonl
    facekp bag recording/ recording_anonymized/
"""
import argparse
import json
import math
import os
import pathlib
import sys

import cv2
from tqdm import tqdm

from facekp_ros.core.detection import DETECTORS
from facekp_ros.core.head_pose import face_quaternion, yaw_pitch_roll_deg
from facekp_ros.core.pipeline import FacePipeline, PipelineConfig
from facekp_ros.core.sources import open_source
from facekp_ros.core.types import LANDMARK5_NAMES


class CliError(Exception):
    """A problem with the user's input or output paths: one line on stderr, exit code 2."""


def _point(xy) -> list | None:
    x, y = (float(v) for v in xy)
    return [round(x, 2), round(y, 2)] if x == x and y == y else None  # NaN: not found


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
    x, y, w, h = (round(float(v), 2) for v in face.box)
    return {
        'track_id': face.track_id,
        'box': {'x': x, 'y': y, 'width': w, 'height': h},
        'score': round(face.score, 4),
        'held_frames': face.frames_since_seen,
        'landmarks': {name: _point(p) for name, p in zip(LANDMARK5_NAMES, face.landmarks)},
        'keypoints': {name: _point(p) for name, p in zip(keypoint_names, face.keypoints)},
        'head_pose': pose_record(face.head_pose),
        'cues': cue_record(face.cues),
    }


def frame_record(pipeline, result) -> dict:
    return {'detection_ok': result.detections.ok, 'error': result.detections.error,
            'masked_whole_frame': result.masked_whole_frame,
            'faces': [face_record(f, pipeline.keypoint_names) for f in result.faces]}


def check_output(path: str, image: bool) -> pathlib.Path:
    """Fails before any work is done, not after minutes of video."""
    out = pathlib.Path(path).expanduser()
    folder = out.parent if str(out.parent) else pathlib.Path('.')
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise CliError(f'cannot write {out}: folder {folder} does not exist or is not writable')
    if image and not cv2.haveImageWriter(str(out)):
        raise CliError(f'cannot write {out}: unknown image type (use .jpg or .png)')
    return out


def make_pipeline(args) -> FacePipeline:
    params = {'input_scale': args.input_scale} if args.detector == 'retinaface' else {}
    try:
        # No annotation when only the anonymized frames are written: it is wasted time.
        return FacePipeline(PipelineConfig(detector=args.detector, detector_params=params,
                                           annotate=not args.anonymize))
    except ValueError as error:
        raise CliError(str(error)) from error


def output_frame(result, args):
    return result.anonymized if args.anonymize else result.annotated


def run_image(args) -> int:
    outputs = [check_output(p, True) for p in (args.out, args.anonymized) if p]
    json_path = check_output(args.json, False) if args.json else None
    bgr = cv2.imread(str(args.input))
    if bgr is None:
        raise CliError(f'cannot read image {args.input}: missing or not an image')
    pipeline = make_pipeline(args)
    result = pipeline.process(bgr)
    cv2.imwrite(str(outputs[0]), output_frame(result, args))
    if args.anonymized:
        cv2.imwrite(str(outputs[1]), result.anonymized)
    if not result.detections.ok:
        print(f'detection failed, whole image masked: {result.detections.error}')
    print(f'{len(result.faces)} face(s) in {args.input}')
    for face in result.faces:
        x, y, w, h = (int(round(float(v))) for v in face.box)
        print(f'  id {face.track_id}: box x={x} y={y} w={w} h={h} score={face.score:.3f}')
    if json_path:
        record = {'image': str(args.input), 'width': bgr.shape[1], 'height': bgr.shape[0],
                  'detector': args.detector, 'keypoint_model': pipeline.keypoint_model,
                  **frame_record(pipeline, result)}
        json_path.write_text(json.dumps(record, indent=1) + '\n')
    return 0


def frame_count(source: str) -> int | None:
    """Total frames for the progress bar; None for cameras and streams."""
    if source.isdigit() or not pathlib.Path(source).is_file():
        return None
    capture = cv2.VideoCapture(source)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    return count if count > 0 else None


def run_video(args) -> int:
    out = check_output(args.out, False)
    json_path = check_output(args.json, False) if args.json else None
    pipeline = make_pipeline(args)
    try:
        source = open_source(args.input, loop=False)
    except (OSError, ValueError) as error:
        raise CliError(str(error)) from error
    json_file = json_path.open('w') if json_path else None
    writer, index = None, 0
    fps = source.fps if 0 < source.fps < 240 else 30.0  # files without a rate: assume 30
    try:
        with tqdm(total=frame_count(args.input), unit='frame', desc='facekp') as progress:
            while (bgr := source.read()) is not None:
                result = pipeline.process(bgr, t_s=index / fps)
                if writer is None:
                    writer, size = open_writer(out, fps, bgr.shape), (bgr.shape[1], bgr.shape[0])
                writer.write(fit(output_frame(result, args), size))
                if json_file:
                    record = {'frame': index, 't_s': round(index / fps, 4),
                              **frame_record(pipeline, result)}
                    json_file.write(json.dumps(record) + '\n')
                index += 1
                progress.update()
    finally:
        source.close()
        if writer is not None:
            writer.release()
        if json_file:
            json_file.close()
    if index == 0:
        raise CliError(f'no frames could be read from {args.input}')
    print(f'{index} frame(s) written to {out}')
    return 0


def fit(bgr, size):
    """A video has one frame size; VideoWriter silently drops frames of any other."""
    return bgr if (bgr.shape[1], bgr.shape[0]) == size else cv2.resize(bgr, size)


def open_writer(out: pathlib.Path, fps: float, shape) -> cv2.VideoWriter:
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (shape[1], shape[0]))
    if not writer.isOpened():
        raise CliError(f'cannot write video {out}: use a .mp4 path in a writable folder')
    return writer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='facekp', description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True)
    image = commands.add_parser('image', help='one image file')
    image.add_argument('input', help='image file')
    image.add_argument('--anonymized', help='also write the anonymized image here')
    video = commands.add_parser('video', help='a video file or camera (index or /dev/videoN)')
    video.add_argument('input', help='video file, camera index, /dev/videoN, image folder')
    for sub, json_help in ((image, 'faces as JSON'), (video, 'faces as JSON lines per frame')):
        sub.add_argument('--out', required=True,
                         help='annotated output, or the anonymized one with --anonymize')
        sub.add_argument('--json', help=json_help)
        sub.add_argument('--detector', choices=DETECTORS, default='retinaface')
        sub.add_argument('--input-scale', type=float, default=1.0,
                         help='retinaface: run the network on the image scaled by this')
        sub.add_argument('--anonymize', action='store_true',
                         help='write the anonymized frames to --out instead of annotated ones')
    bag = commands.add_parser('bag', help='anonymize every image topic of a ROS 2 bag')
    bag.add_argument('input', help='rosbag2 folder, .mcap or .db3 (never modified)')
    bag.add_argument('output', help='new bag folder (must not exist)')
    bag.add_argument('--detector', choices=DETECTORS, default='retinaface')
    bag.add_argument('--input-scale', type=float, default=1.0)
    return parser


def run_bag(args) -> int:
    from facekp_ros.bag_anonymize import anonymize_bag

    params = {'input_scale': args.input_scale} if args.detector == 'retinaface' else {}
    config = PipelineConfig(detector=args.detector, detector_params=params, keypoints=False,
                            annotate=False)
    with tqdm(desc='messages', unit='msg') as bar:
        try:
            report = anonymize_bag(args.input, args.output, config, progress=bar.update)
        except (OSError, ValueError) as error:
            raise CliError(str(error)) from error
    for topic, counts in report.items():
        print(f'{topic}: ' + ', '.join(f'{key} {value}' for key, value in counts.items()))
    print(f'wrote {args.output} and {pathlib.Path(args.output) / "privacy_report.json"}')
    return 0


COMMANDS = {'image': run_image, 'video': run_video, 'bag': run_bag}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CliError as error:
        print(f'facekp: error: {error}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
