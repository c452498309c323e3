"""`facekp video` on videos as phones and ffmpeg make them: variable frame rate, AAC audio,
rotation and creation time; clean stops; one line for each real problem."""
import json
import os
import signal
import subprocess
import sys
import time

import av
import cv2
import numpy as np
import pytest

from facekp_ros.cli import main
from facekp_ros.sources import sample_frame

imageio_ffmpeg = pytest.importorskip('imageio_ffmpeg')
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
CREATED = '2026-05-01T10:20:30.000000Z'
# Frames lasting 0.04 s, then 0.2 s, then one of 0.9 s: a phone's variable frame rate.
VFR_PTS = "(N*0.04+if(gte(N,10),(N-10)*0.16,0)+if(gte(N,20),0.7,0))/TB"


def ffmpeg(*args) -> None:
    subprocess.run([FFMPEG, '-v', 'error', '-y', *map(str, args)], check=True)


@pytest.fixture(scope='module')
def still(tmp_path_factory):
    path = tmp_path_factory.mktemp('still') / 'four_faces.png'
    cv2.imwrite(str(path), sample_frame())
    return path


def phone_video(path, still, frames=30, rotation=0, extra=()) -> None:
    """A 640x480 H.264 + AAC .mp4 with a variable frame rate and a creation time (and a
    display rotation), written by ffmpeg as a phone's would be."""
    plain = path.with_name('plain_' + path.name) if rotation else path
    ffmpeg('-loop', 1, '-i', still, '-f', 'lavfi', '-i', 'sine=frequency=440:duration=6',
           '-filter_complex', f"[0:v]setpts='{VFR_PTS}',noise=alls=8:allf=t[v]",
           '-map', '[v]', '-map', '1:a', '-frames:v', frames, '-fps_mode', 'passthrough',
           '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac',
           '-b:a', '96k', '-metadata', f'creation_time={CREATED}', *extra, plain)
    if rotation:
        ffmpeg('-display_rotation', rotation, '-i', plain, '-map', '0', '-c', 'copy',
               '-metadata', f'creation_time={CREATED}', path)


def frame_times(path) -> list:
    with av.open(str(path)) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]


def audio_packets(path) -> list:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [(p.pts, bytes(p)) for p in container.demux(audio=0) if p.dts is not None]


def test_variable_rate_audio_and_creation_time_survive(tmp_path, still):
    clip, out, lines = tmp_path / 'phone.mp4', tmp_path / 'out.mp4', tmp_path / 'f.jsonl'
    phone_video(clip, still)
    assert main(['video', str(clip), '--anonymize', '--out', str(out), '--json', str(lines),
                 '--quiet']) == 0
    times_in, times_out = frame_times(clip), frame_times(out)
    assert len(times_in) == len(times_out) == 30
    assert max(abs(a - b) for a, b in zip(times_in, times_out)) < 0.001
    assert times_in[-1] - times_in[0] > 3.5  # the rate does vary: 30 frames, 3.6 s
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [r['t_s'] for r in records] == pytest.approx(times_in, abs=1e-6)
    assert all(len(r['faces']) == 4 for r in records)
    packets = audio_packets(clip)
    assert len(packets) > 100 and audio_packets(out) == packets  # the AAC stream, copied
    with av.open(str(out)) as written:
        assert written.metadata['creation_time'] == CREATED
        assert written.streams.video[0].codec_context.name == 'h264'
    quiet = tmp_path / 'silent.mp4'
    assert main(['video', str(clip), '--no-audio', '--out', str(quiet), '--quiet']) == 0
    assert audio_packets(quiet) == [] and len(frame_times(quiet)) == 30


def test_a_rotated_phone_video_is_searched_and_written_upright(tmp_path):
    # A phone held upright stores its frames sideways with a display rotation of 90.
    sideways = tmp_path / 'sideways.png'
    cv2.imwrite(str(sideways), np.rot90(sample_frame(), -1))
    clip, out, lines = tmp_path / 'turned.mp4', tmp_path / 'out.mp4', tmp_path / 'f.jsonl'
    phone_video(clip, sideways, frames=4, rotation=90)
    shown = cv2.VideoCapture(str(clip)).read()[1]  # OpenCV applies the display matrix
    assert shown.shape == (480, 640, 3)
    assert main(['video', str(clip), '--out', str(out), '--json', str(lines), '--anonymize',
                 '--quiet']) == 0
    with av.open(str(out)) as written:
        frame = next(written.decode(video=0))
        assert frame.rotation == 0  # upright pixels, no matrix to turn them again
        upright = frame.to_ndarray(format='bgr24').astype(int)
    assert upright.shape == shown.shape
    assert np.abs(upright - shown).mean() < 0.3 * np.abs(upright - shown[::-1, ::-1]).mean()
    assert all(len(json.loads(line)['faces']) == 4 for line in lines.read_text().splitlines())


def _facekp(*args) -> subprocess.Popen:
    # As from a terminal: a test run started in the background has SIGINT ignored, and a
    # child would inherit that.
    return subprocess.Popen([sys.executable, '-m', 'facekp_ros.cli', *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_partial(folder, process, timeout_s=60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not any('facekp-partial' in p.name for p in folder.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.05)
    time.sleep(0.5)  # well into the video


@pytest.fixture(scope='module')
def long_clip(tmp_path_factory, still):
    clip = tmp_path_factory.mktemp('long') / 'long.mp4'
    phone_video(clip, still, frames=400)
    return clip


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_within_a_second_leaving_nothing(tmp_path, long_clip, signum):
    out = tmp_path / 'out' / 'o.mp4'
    out.parent.mkdir()
    process = _facekp('video', long_clip, '--anonymize', '--out', out, '--quiet',
                      '--json', tmp_path / 'out' / 'f.jsonl')
    _wait_for_partial(out.parent, process)
    sent = time.monotonic()
    process.send_signal(signum)
    _, err = process.communicate(timeout=10)
    assert time.monotonic() - sent < 1.0
    assert process.returncode == 128 + signum
    assert err.strip() == f'facekp: stopped by {signum.name}; unfinished outputs removed'
    assert list(out.parent.iterdir()) == []  # no video, no JSON, no partial file


def test_after_sigkill_the_next_run_removes_the_partial_file(tmp_path, long_clip, still):
    out = tmp_path / 'o.mp4'
    process = _facekp('video', long_clip, '--out', out, '--quiet')
    _wait_for_partial(tmp_path, process)
    process.kill()
    process.wait()
    assert not out.exists()
    left = [p for p in tmp_path.iterdir() if 'facekp-partial' in p.name]
    assert len(left) == 1 and str(process.pid) in left[0].name
    short = tmp_path / 'short.mp4'
    phone_video(short, still, frames=3)
    assert main(['video', str(short), '--out', str(out), '--quiet']) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ['o.mp4', 'short.mp4']


def test_a_truncated_video_says_how_much_was_read(tmp_path, still, capsys):
    clip, out = tmp_path / 'cut.mp4', tmp_path / 'out.mp4'
    phone_video(clip, still, frames=24, extra=('-movflags', '+faststart'))  # index first
    data = clip.read_bytes()
    clip.write_bytes(data[:len(data) // 2])  # a copy that stopped half-way
    assert main(['video', str(clip), '--out', str(out), '--quiet']) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'Traceback' not in err
    read = int(err.split('read ')[1].split(' of 24 frames')[0])
    assert 0 < read < 24 and 'the input ended early' in err and str(out) in err
    assert len(frame_times(out)) == read


def test_odd_sizes_are_padded_and_said_once(tmp_path, capsys):
    clip, out = tmp_path / 'odd.mkv', tmp_path / 'odd_out.mp4'
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=33x17:rate=10', '-frames:v', 5, '-c:v', 'ffv1',
           clip)
    assert main(['video', str(clip), '--out', str(out), '--quiet']) == 0
    err = capsys.readouterr().err
    assert err == f'facekp: {out}: 33x17 padded to 34x18 (H.264 in 4:2:0 needs even sides)\n'
    with av.open(str(out)) as written:
        frames = [f.to_ndarray(format='bgr24') for f in written.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape == (18, 34, 3)
    tiny = tmp_path / 'tiny.mkv'
    ffmpeg('-f', 'lavfi', '-i', 'color=size=1x1:rate=10', '-frames:v', 3, '-c:v', 'ffv1', tiny)
    assert main(['video', str(tiny), '--out', str(tmp_path / 'tiny.mp4'), '--quiet']) == 0
    assert len(frame_times(tmp_path / 'tiny.mp4')) == 3


def test_a_full_disk_is_said_once_with_the_path(tmp_path, still, capsys):
    clip = tmp_path / 'phone.mp4'
    phone_video(clip, still, frames=30)
    disk = tmp_path / 'disk'
    disk.mkdir()
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(disk)],
                      capture_output=True).returncode:
        pytest.skip('cannot mount a tmpfs here (needs root)')
    try:
        out = disk / 'out.mp4'
        assert main(['video', str(clip), '--out', str(out), '--quiet']) == 1
        assert os.listdir(disk) == []
    finally:
        subprocess.run(['umount', str(disk)], check=True)
    assert capsys.readouterr().err == f'facekp: cannot write {out}: No space left on device\n'


def test_a_folder_of_frames_becomes_a_video_at_a_fixed_rate(tmp_path):
    folder, out = tmp_path / 'frames', tmp_path / 'frames.mp4'
    folder.mkdir()
    for index in range(3):
        cv2.imwrite(str(folder / f'{index}.jpg'), sample_frame())
    assert main(['video', str(folder), '--out', str(out), '--quiet']) == 0
    assert frame_times(out) == pytest.approx([0, 1 / 30, 2 / 30], abs=1e-3)


@pytest.mark.parametrize('suffix', ['.mov', '.mkv'])
def test_other_containers_keep_the_frame_times(tmp_path, still, suffix):
    clip, out = tmp_path / 'phone.mp4', tmp_path / f'out{suffix}'
    phone_video(clip, still, frames=12)
    assert main(['video', str(clip), '--out', str(out), '--quiet', '--no-keypoints']) == 0
    times_in, times_out = np.array(frame_times(clip)), np.array(frame_times(out))
    assert len(times_out) == 12
    assert [data for _, data in audio_packets(out)] == [data for _, data in audio_packets(clip)]
    # Matroska has no negative times: everything starts late by the AAC priming (1024
    # samples), the frames' durations unchanged.
    start = 1024 / 44100 if suffix == '.mkv' else 0.0
    assert np.abs(times_out - times_in - start).max() < 0.001


@pytest.mark.parametrize('suffix', ['.avi', '.webm', '.gif'])
def test_a_container_that_cannot_hold_the_video_is_refused_before_work(tmp_path, suffix,
                                                                       capsys):
    clip = tmp_path / 'clip.mp4'
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-frames:v', 2, clip)
    assert main(['video', str(clip), '--out', str(tmp_path / f'o{suffix}')]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'writes H.264 in .mp4' in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['clip.mp4']
