"""The `facekp` command: image and video runs end to end, and clear failures on bad paths."""
import json

import cv2
import pytest

from facekp_ros.cli import main
from facekp_ros.core.sources import sample_frame
from facekp_ros.core.types import LANDMARK5_NAMES


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
