"""The `facekp` command: image and video runs end to end, and clear failures on bad paths."""
import dataclasses
import json

import cv2
import pytest

from facekp_ros.cli import main
from facekp_ros.core.types import LANDMARK5_NAMES
from facekp_ros.sources import sample_frame


def test_image_writes_annotated_image_and_json(data, tmp_path, capsys):
    out, faces_json = tmp_path / 'annotated.jpg', tmp_path / 'faces.json'
    anonymized = tmp_path / 'anonymized.png'
    assert main(['image', str(data / 'scenes' / 'obamas.jpg'), '--out', str(out),
                 '--json', str(faces_json), '--anonymized', str(anonymized)]) == 0
    record = json.loads(faces_json.read_text())
    source = cv2.imread(str(data / 'scenes' / 'obamas.jpg'))
    assert (record['height'], record['width']) == source.shape[:2]
    assert record['detector'] == 'retinaface' and record['keypoint_model']
    assert len(record['faces']) == 2
    for face in record['faces']:
        assert len(face['keypoints']) == 68
        assert all(point is not None for point in face['keypoints'].values())
        assert tuple(face['landmarks']) == LANDMARK5_NAMES
        assert face['box']['width'] > 0 and 0 < face['score'] <= 1
        pose = face['head_pose']
        assert pose['intrinsics_default'] and 0 < pose['distance_m'] < 10
        assert len(pose['position_m']) == 3 and len(pose['orientation_xyzw']) == 4
        assert abs(pose['yaw_deg']) < 60 and pose['reprojection_error_px'] >= 0
        assert 0 < face['cues']['right_eye_openness'] < 2
        assert isinstance(face['cues']['looking_at_camera'], bool)
    assert cv2.imread(str(out)).shape == source.shape
    assert cv2.imread(str(anonymized)).shape == source.shape
    assert '2 face(s)' in capsys.readouterr().out


def write_sample_video(path, frames: int = 6):
    frame = sample_frame()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 10.0,
                             (frame.shape[1], frame.shape[0]))
    assert writer.isOpened()
    for _ in range(frames):
        writer.write(frame)
    writer.release()


def test_video_writes_anonymized_video_and_json_lines(tmp_path):
    clip, out, lines = tmp_path / 'in.mp4', tmp_path / 'out.mp4', tmp_path / 'faces.jsonl'
    write_sample_video(clip)
    assert main(['video', str(clip), '--out', str(out), '--json', str(lines),
                 '--anonymize']) == 0
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [r['frame'] for r in records] == list(range(6))
    assert all(len(r['faces']) == 4 for r in records)
    # Tracking keeps the same ids across frames of a still scene.
    assert {f['track_id'] for r in records for f in r['faces']} == \
        {f['track_id'] for f in records[0]['faces']}
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    capture.release()


@pytest.mark.parametrize('command', ['image', 'video'])
def test_unreadable_input_exits_2_with_one_line(command, tmp_path, capsys):
    suffix = '.jpg' if command == 'image' else '.mp4'
    code = main([command, str(tmp_path / 'missing.jpg'), '--out', str(tmp_path / f'o{suffix}')])
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith('facekp: error:') and error.count('\n') == 1


def test_unwritable_output_exits_2(data, tmp_path, capsys):
    code = main(['image', str(data / 'scenes' / 'obamas.jpg'),
                 '--out', str(tmp_path / 'no_such_folder' / 'out.jpg')])
    assert code == 2
    assert 'no_such_folder' in capsys.readouterr().err


def test_several_images_and_folders_get_default_names_and_json_lines(tmp_path, capsys):
    folder = tmp_path / 'frames'
    folder.mkdir()
    frame = sample_frame()
    for name in ('a', 'b'):
        cv2.imwrite(str(folder / f'{name}.png'), frame)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype('uint16') * 16  # a 12-bit camera
    cv2.imwrite(str(tmp_path / 'ir.png'), grey)
    lines = tmp_path / 'faces.jsonl'
    assert main(['image', str(folder), str(tmp_path / 'ir.png'), '--anonymize', '--quiet',
                 '--json', str(lines), '--no-keypoints']) == 0
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [r['image'] for r in records] == [str(folder / 'a.png'), str(folder / 'b.png'),
                                             str(tmp_path / 'ir.png')]
    assert all(len(r['faces']) == 4 for r in records)  # and maybe a few mask-only boxes
    for record in records:
        out = cv2.imread(record['output'], cv2.IMREAD_UNCHANGED)
        assert record['output'].endswith('_anonymized.png')
        source = cv2.imread(record['image'], cv2.IMREAD_UNCHANGED)
        assert out.dtype == source.dtype and out.shape == source.shape  # 16-bit grey stays
        assert (out != source).mean() > 0.1  # the faces cover much of the sample
    assert capsys.readouterr().out.count('face(s)') == 3


def test_one_unreadable_image_among_others_exits_1(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / 'good.png'), sample_frame())
    (tmp_path / 'bad.png').write_bytes(b'not a png')
    out = tmp_path / 'out'
    assert main(['image', str(tmp_path / 'good.png'), str(tmp_path / 'bad.png'), '--out',
                 str(out), '--quiet', '--no-keypoints']) == 1
    assert (out / 'good_annotated.png').is_file() and not (out / 'bad_annotated.png').exists()
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and 'bad.png' in error


def test_deface_style_options_reach_the_pipeline(tmp_path):
    from facekp_ros.cli import build_parser, pipeline_config

    args = build_parser().parse_args([
        'image', 'x.png', '--threshold', '0.7', '--mask-threshold', '0.2', '--method', 'fill',
        '--shape', 'ellipse', '--margin', '1.5', '--strength', '2', '--providers',
        'CPUExecutionProvider', '--no-keypoints', '--small-face-zoom', '0'])
    config = pipeline_config(args, not args.anonymize)
    detection, anonymize = config.detection, config.anonymize
    assert (detection.score_threshold, detection.mask_threshold) == (0.7, 0.2)
    assert detection.providers == 'CPUExecutionProvider' and config.keypoints is None
    assert (anonymize.method, anonymize.shape, anonymize.margin_scale, anonymize.strength) == \
        ('fill', 'ellipse', 1.5, 2.0)
    assert detection.plan.small_face_zoom == 0.0 and not detection.plan.up_to_native
    assert detection.plan.input_scale == 1.0
    default = pipeline_config(build_parser().parse_args(['image', 'x.png'])).detection.plan
    assert default.up_to_native and default.small_face_zoom == 0.0
    with pytest.raises(SystemExit):
        build_parser().parse_args(['image', 'x.png', '--small-face-zoom', 'lots'])


def test_a_folder_goes_to_a_sibling_folder_and_inputs_are_never_overwritten(tmp_path, capsys):
    folder = tmp_path / 'shots'
    (folder / 'sub').mkdir(parents=True)
    cv2.imwrite(str(folder / 'x.png'), sample_frame())
    assert main(['image', str(folder), '--anonymize', '--quiet', '--no-keypoints']) == 0
    assert (tmp_path / 'shots_anonymized' / 'x_anonymized.png').is_file()
    assert sorted(p.name for p in folder.iterdir()) == ['sub', 'x.png']  # input untouched
    other = tmp_path / 'other'
    other.mkdir()
    cv2.imwrite(str(other / 'x.png'), sample_frame())
    assert main(['image', str(folder), str(other), '--out', str(tmp_path / 'o'),
                 '--quiet']) == 2  # both would be o/x_annotated.png
    assert 'would overwrite' in capsys.readouterr().err
    assert main(['image', str(folder / 'x.png'), '--out', str(folder / 'x.png')]) == 2
    assert 'would overwrite an input' in capsys.readouterr().err


def test_every_node_parameter_is_an_option_or_said_to_be_live_only():
    from facekp_ros import parameters as p
    from facekp_ros.cli import LIVE_ONLY, build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    options = {action.dest for action in commands['image']._actions}
    video = {action.dest for action in commands['video']._actions}
    assert options - {'anonymized'} == video - {'keep_audio'}
    every = {param.name for params in p.NODES.values() for param in params}
    assert sorted(every - options - set(LIVE_ONLY)) == []
    assert sorted(set(LIVE_ONLY) - every) == []  # no stale entry
    assert sorted(set(LIVE_ONLY) & options) == []


def test_defaults_and_refusals_are_the_nodes_own(capsys):
    from facekp_ros import parameters as p
    from facekp_ros.cli import build_parser, pipeline_config

    offline = pipeline_config(build_parser().parse_args(['video', 'x.mp4']))
    nodes = p.pipeline_config(p.defaults(p.NODES['face_pipeline']))
    # The documented offline differences: no time-out, the 'auto' small-face pass, every
    # roll at full scale.
    assert offline.detection_timeout_ms == float('inf') and offline.detection.plan.up_to_native
    plan = offline.detection.plan
    assert (plan.roll_coverage, plan.roll_scale) == (180.0, 1.0)
    same = dataclasses.replace(offline, detection_timeout_ms=nodes.detection_timeout_ms,
                               detection=dataclasses.replace(
                                   offline.detection, plan=nodes.detection.plan))
    assert same == nodes
    # The nodes refuse a mask threshold above the report threshold: so does the CLI (it
    # used to lower it silently).
    with pytest.raises(ValueError) as node_error:
        p.pipeline_config({**p.defaults(p.NODES['face_pipeline']), 'score_threshold': 0.5,
                           'mask_threshold': 0.6})
    assert main(['image', 'x.png', '--threshold', '0.5', '--mask-threshold', '0.6']) == 2
    assert capsys.readouterr().err == f'facekp: error: {node_error.value}\n'
    for bad in (['--margin', '100'], ['--working-size', '12.5'], ['--hold-frames', '-1'],
                ['--small-face-zoom', '99'], ['--method', 'smudge']):
        with pytest.raises(SystemExit) as stop:
            build_parser().parse_args(['image', 'x.png', *bad])
        assert stop.value.code == 2
        assert bad[0] in capsys.readouterr().err


def test_node_only_options_reach_the_run(data, tmp_path, capsys):
    faces = tmp_path / 'f.json'
    assert main(['image', str(data / 'scenes' / 'obamas.jpg'), '--out', str(tmp_path / 'o.jpg'),
                 '--keypoint-model', 'mesh468', '--no-head-pose', '--json', str(faces)]) == 0
    record = json.loads(faces.read_text())
    assert record['keypoint_model'].startswith('mesh468')
    assert {len(face['keypoints']) for face in record['faces']} == {468}
    assert all(face['head_pose'] is None for face in record['faces'])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(['--version'])
    assert stop.value.code == 0 and capsys.readouterr().out == 'facekp 0.1.0\n'
