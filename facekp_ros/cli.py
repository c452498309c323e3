"""`facekp`: faces, 68 keypoints and anonymization on images, videos and bags, without ROS.

    facekp image photo.jpg [more.jpg folder/ ...] [--out OUT] [--anonymize] [--json F]
    facekp video clip.mp4 [...] [--out OUT] [--anonymize] [--json F]    # or 0, /dev/video0
    facekp bag recording/ [OUT]

Exit codes: 0 everything was processed; 1 some inputs could not be read (the others were
processed; each failure is one line on stderr); 2 nothing was done: bad arguments or paths.
"""
import argparse
import sys

from facekp_ros import parameters as p
from facekp_ros.cli_media import CliError, run_images, run_videos
from facekp_ros.core.detection import DetectionConfig
from facekp_ros.core.pipeline import PipelineConfig
from facekp_ros.core.scan import ScanPlan
from facekp_ros.core.stages import AnnotateConfig, KeypointConfig

DEFAULTS = p.defaults(p.DETECTOR + p.KEYPOINTS + p.ANONYMIZER)
TABLE = {param.name: param for param in p.DETECTOR + p.KEYPOINTS + p.ANONYMIZER}
# Offline work has no frame deadline, so the small-face pass is on by default.
OFFLINE_SMALL_FACE_ZOOM = 2.0


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
    _option(parser, '--threshold', 'score_threshold')
    _option(parser, '--mask-threshold', 'mask_threshold')
    _option(parser, '--input-scale', 'input_scale')
    _option(parser, '--small-face-zoom', 'small_face_zoom',
            default=OFFLINE_SMALL_FACE_ZOOM)
    _option(parser, '--working-size', 'working_size')
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


def pipeline_config(args, keypoints: bool = True, annotate: bool = True) -> PipelineConfig:
    """The pipeline the options describe; CliError (exit 2) for a bad value."""
    values = {**DEFAULTS, **{k: v for k, v in vars(args).items() if k in DEFAULTS}}
    try:
        detection = DetectionConfig(
            detector=values['detector'], providers=values['providers'],
            score_threshold=values['score_threshold'],
            mask_threshold=min(values['mask_threshold'], values['score_threshold']),
            nms_threshold=values['nms_threshold'], min_face_size=values['min_face_size'],
            min_mask_size=values['min_mask_size'],
            plan=ScanPlan(values['input_scale'], values['working_size'],
                          values['small_face_zoom']))
        return PipelineConfig(
            detection=detection, hold_frames=values['hold_frames'],
            keypoints=KeypointConfig(providers=values['providers']) if keypoints else None,
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
                         'default: beside each input, named <name>_annotated or '
                         '<name>_anonymized')
        sub.add_argument('--anonymize', action='store_true',
                         help='write the anonymized frames instead of annotated ones')
        sub.add_argument('--json', help=json_help)
        _add_pipeline_options(sub, keypoints=True)
    bag = commands.add_parser('bag', help='anonymize every image topic of a ROS 2 bag')
    bag.add_argument('input', help='rosbag2 folder, .mcap or .db3 (never modified)')
    bag.add_argument('output', nargs='?', help='new bag folder (must not exist); default '
                     '<input>_anonymized beside the input')
    _add_pipeline_options(bag, keypoints=False)
    return parser


def run_bag(args) -> int:
    import pathlib

    from tqdm import tqdm

    from facekp_ros.bag_anonymize import REPORT, anonymize_bag, topic_reports

    source = pathlib.Path(args.input)
    target = pathlib.Path(args.output) if args.output else \
        source.with_name(source.stem + '_anonymized')
    config = pipeline_config(args, keypoints=False, annotate=False)
    with tqdm(desc='messages', unit='msg', disable=args.quiet) as bar:
        try:
            report = anonymize_bag(source, target, config, progress=bar.update)
        except (OSError, ValueError) as error:
            raise CliError(str(error)) from error
    for topic, counts in topic_reports(report).items():
        numbers = {k: v for k, v in counts.items() if not isinstance(v, list)}
        print(f'{topic}: ' + ', '.join(f'{key} {value}' for key, value in numbers.items()))
    print(f'wrote {target} and {target / REPORT}')
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
