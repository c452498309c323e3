"""`facekp`: faces, 68 keypoints and anonymization on images, videos and bags, without ROS.

    facekp image photo.jpg [more.jpg folder/ ...] [--out OUT] [--anonymize] [--json F]
    facekp video clip.mp4 [...] [--out OUT] [--anonymize] [--json F]    # or 0, /dev/video0
    facekp bag recording/ [OUT]
    facekp bag recordings/ more.mcap ... --out ROOT [--workers N | --ray [ADDRESS]]

Exit codes: 0 everything was processed; 1 some inputs could not be read (the others were
processed; each failure is one line on stderr); 2 nothing was done: bad arguments or paths.
"""
import argparse
import dataclasses
import sys

from facekp_ros import parameters as p
from facekp_ros.bag_distros import DEFAULT_DISTRO, DISTROS
from facekp_ros.cli_media import CliError, run_images, run_videos
from facekp_ros.core.detection import DetectionConfig
from facekp_ros.core.pipeline import PipelineConfig
from facekp_ros.core.scan import ScanPlan
from facekp_ros.core.stages import AnnotateConfig, KeypointConfig

DEFAULTS = p.defaults(p.DETECTOR + p.KEYPOINTS + p.ANONYMIZER)
TABLE = {param.name: param for param in p.DETECTOR + p.KEYPOINTS + p.ANONYMIZER}
# Offline work has no frame deadline: by default the small-face pass looks again, at up to
# the image's own size, wherever the working size scaled an image down (ScanPlan.up_to_native).
AUTO = 'auto'
# Offline, every roll is looked for at full scale by default: no frame rate to keep.
OFFLINE_ROLL_COVERAGE, OFFLINE_ROLL_SCALE = 180.0, 1.0


def _zoom(text: str):
    """--small-face-zoom: 'auto' or a number."""
    if text == AUTO:
        return AUTO
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number, got {text!r}") from None


def _option(parser, flag: str, name: str, kind=None, **extra) -> None:
    param = TABLE[name]
    default = extra.pop('default', param.default)
    kind = kind or type(param.default)
    help_text = param.description + f' (default {default})'
    parser.add_argument(flag, dest=name, type=kind, default=default, help=help_text,
                        choices=param.choices or None, **extra)


def _add_pipeline_options(parser, keypoints: bool) -> None:
    parser.add_argument('--detector', choices=TABLE['detector'].choices,
                        default=DEFAULTS['detector'], help=TABLE['detector'].description)
    _option(parser, '--detector-model', 'detector_model')
    _option(parser, '--threshold', 'score_threshold')
    _option(parser, '--mask-threshold', 'mask_threshold')
    _option(parser, '--input-scale', 'input_scale')
    parser.add_argument('--small-face-zoom', dest='small_face_zoom', type=_zoom, default=AUTO,
                        help=TABLE['small_face_zoom'].description + " 'auto' (the default): "
                        'only for an image bigger than --working-size, at up to its own size.')
    _option(parser, '--working-size', 'working_size')
    _option(parser, '--roll-coverage', 'roll_coverage', default=OFFLINE_ROLL_COVERAGE)
    _option(parser, '--roll-scale', 'roll_scale', default=OFFLINE_ROLL_SCALE)
    _option(parser, '--hold-frames', 'hold_frames')
    _option(parser, '--method', 'method')
    _option(parser, '--shape', 'shape')
    _option(parser, '--margin', 'margin_scale')
    _option(parser, '--strength', 'strength')
    _option(parser, '--providers', 'providers')
    if keypoints:
        parser.add_argument('--no-keypoints', dest='keypoints', action='store_false',
                            help='boxes and landmarks only (faster)')
    parser.add_argument('--quiet', action='store_true', help='no progress bars')


def pipeline_config(args, keypoints: bool = True, annotate: bool = True,
                    threads: int = 0) -> PipelineConfig:
    """The pipeline the options describe, threads per onnxruntime session (0: one per core);
    CliError (exit 2) for a bad value."""
    values = {**DEFAULTS, **{k: v for k, v in vars(args).items() if k in DEFAULTS}}
    auto = values['small_face_zoom'] == AUTO
    try:
        detection = DetectionConfig(
            detector=values['detector'], detector_model=values['detector_model'],
            providers=values['providers'], score_threshold=values['score_threshold'],
            mask_threshold=min(values['mask_threshold'], values['score_threshold']),
            nms_threshold=values['nms_threshold'], min_face_size=values['min_face_size'],
            min_mask_size=values['min_mask_size'],
            plan=ScanPlan(values['input_scale'], values['working_size'],
                          0.0 if auto else values['small_face_zoom'], up_to_native=auto,
                          roll_coverage=values['roll_coverage'],
                          roll_scale=values['roll_scale']))
        return PipelineConfig(
            detection=dataclasses.replace(detection, threads=threads),
            hold_frames=values['hold_frames'],
            keypoints=KeypointConfig(providers=values['providers'], threads=threads)
            if keypoints else None,
            anonymize=p.anonymize_config(values),
            annotate=AnnotateConfig() if annotate else None)
    except ValueError as error:
        raise CliError(str(error)) from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='facekp', description=__doc__.splitlines()[0],
                                     epilog=__doc__.split('\n\n')[-1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
        _add_pipeline_options(sub, keypoints=True)
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
    _add_pipeline_options(bag, keypoints=False)
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
    from facekp_ros.fleet_run import run_fleet

    def config_for(threads):
        return pipeline_config(args, keypoints=False, annotate=False, threads=threads)

    try:
        return run_fleet(inputs, root, config_for, args.workers, args.ray, args.quiet,
                         args.ros_distro)
    except (OSError, ValueError) as error:
        raise CliError(str(error)) from error


def _run_one(args, source, target) -> int:
    from tqdm import tqdm

    from facekp_ros.bag_anonymize import anonymize_bag, report_path, topic_reports

    config = pipeline_config(args, keypoints=False, annotate=False)
    with tqdm(desc='messages', unit='msg', disable=args.quiet) as bar:
        try:
            report = anonymize_bag(source, target, config, progress=bar.update,
                                   ros_distro=args.ros_distro)
        except (OSError, ValueError) as error:
            raise CliError(str(error)) from error
    for topic, counts in topic_reports(report).items():
        numbers = {k: v for k, v in counts.items() if not isinstance(v, list)}
        print(f'{topic}: ' + ', '.join(f'{key} {value}' for key, value in numbers.items()))
    print(f'wrote {target} and {report_path(target)}')
    return 0


COMMANDS = {'image': run_images, 'video': run_videos, 'bag': run_bag}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == 'bag':
            return run_bag(args)
        annotate = not args.anonymize
        return COMMANDS[args.command](args, pipeline_config(args, args.keypoints, annotate))
    except CliError as error:
        print(f'facekp: error: {error}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
