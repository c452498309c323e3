"""`facekp bag` over many bags: found and mirrored, refusals, resumable (a killed run too),
failures kept to their bag, and the same bytes in one process, local workers and Ray."""
import fcntl
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin
from test_bag import write_bag

from facekp_ros import fleet
from facekp_ros.bag_outputs import LOCK
from facekp_ros.cli import main

REPO = pathlib.Path(__file__).resolve().parents[1]


def touch_bag(path: pathlib.Path) -> None:
    """A folder that looks like a rosbag2 bag to the search (never read)."""
    path.mkdir(parents=True)
    (path / 'metadata.yaml').write_text('rosbag2_bagfile_information: {}\n')


def test_bags_are_found_recursively_and_mirrored(tmp_path):
    data = tmp_path / 'data'
    touch_bag(data / 'day1' / 'run1')
    (data / 'day1' / 'run1' / 'inner.mcap').write_bytes(b'')  # part of run1, not a bag
    (data / 'day1' / 'lone.mcap').write_bytes(b'')
    (data / 'day2').mkdir()
    (data / 'day2' / 'cam.db3').write_bytes(b'')
    (data / 'day2' / 'notes.txt').write_text('not a bag')
    touch_bag(data / '.hidden' / 'old')
    jobs = fleet.plan([data], tmp_path / 'out')
    assert [(j.name, j.target) for j in jobs] == [
        (name, str(tmp_path / 'out' / name)) for name in ('day1/lone', 'day1/run1', 'day2/cam')]
    assert jobs[0].source == str(data / 'day1' / 'lone.mcap')
    several = fleet.plan([data / 'day1', data / 'day2' / 'cam.db3'], tmp_path / 'out')
    assert [j.name for j in several] == ['day1/lone', 'day1/run1', 'cam']


def test_bad_inputs_and_outputs_are_refused_before_any_work(tmp_path):
    data = tmp_path / 'data'
    touch_bag(data / 'x')
    (data / 'x.mcap').write_bytes(b'')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='would both be written to'):
        fleet.plan([data], tmp_path / 'out')
    (data / 'x.mcap').unlink()
    with pytest.raises(FileNotFoundError, match='missing does not exist'):
        fleet.plan([data, tmp_path / 'missing'], tmp_path / 'out')
    with pytest.raises(ValueError, match='inside the input'):
        fleet.plan([data], data / 'anonymized')
    with pytest.raises(ValueError, match='is inside the output'):
        fleet.plan([data / 'x'], tmp_path)
    with pytest.raises(FileNotFoundError, match='create it first'):
        fleet.plan([data], tmp_path / 'no' / 'out')
    with pytest.raises(ValueError, match='no bags found in'):
        fleet.plan([tmp_path / 'empty'], tmp_path / 'out')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['data', 'empty']


def test_command_line_refusals(tmp_path, capsys, monkeypatch):
    write_bag(tmp_path / 'a', StoragePlugin.MCAP, frames=1)
    cases = [(['bag', 'a', 'b', 'c'], 'give --out ROOT'),
             (['bag', 'a', '-o', 'out', '--workers', '0'], '--workers 0'),
             (['bag', 'a', 'a2', '--ray'], 'for one bag, give --out ROOT')]
    monkeypatch.chdir(tmp_path)
    for argv, message in cases:
        assert main(argv) == 2
        assert message in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, 'ray', None)  # as where the extra is not installed
    assert main(['bag', 'a', '-o', 'out', '--ray', '--quiet']) == 2
    assert 'pip install -r requirements/fleet.txt' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()
    (tmp_path / 'out').mkdir(exist_ok=True)
    with open(tmp_path / 'out' / LOCK, 'a') as held:  # another run writing there
        fcntl.flock(held, fcntl.LOCK_EX)
        assert main(['bag', 'a', '-o', 'out', '--quiet']) == 2
    assert 'another facekp bag run is writing to out' in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == [LOCK]


def run_report(root: pathlib.Path) -> dict:
    return json.loads((root / 'privacy_report.json').read_text())


def test_rerun_skips_finished_bags_and_redoes_the_rest(tmp_path, capsys):
    data, out = tmp_path / 'data', tmp_path / 'out'
    for name, plugin in (('a', StoragePlugin.MCAP), ('b', StoragePlugin.SQLITE3),
                         ('c', StoragePlugin.MCAP)):
        write_bag(data / name, plugin, frames=1)
    (data / 'broken.mcap').write_bytes(b'\x89MCAP0\r\n garbage')
    inputs = {p: p.read_bytes() for p in data.rglob('*') if p.is_file()}
    assert main(['bag', str(data), '-o', str(out), '--workers', '2', '--quiet']) == 1
    captured = capsys.readouterr()
    assert 'bags 4: 3 anonymized, 0 already done (skipped), 1 failed' in captured.out
    assert 'broken: failed: cannot read bag' in captured.err
    report = run_report(out)
    assert report['bags']['broken']['status'] == 'failed'
    assert report['totals']['frames'] == 3 * 4 and report['totals']['faces_seen'] == 3 * 12
    assert report['run']['workers'] == 2 and report['run']['threads_per_worker'] >= 1
    assert not (out / 'broken').exists()
    finished = {n: (out / n / 'privacy_report.json').stat().st_mtime_ns for n in 'abc'}

    (data / 'broken.mcap').unlink()
    os.utime(data / 'b' / 'b.db3')  # b changed: redone
    (out / '.c.partial-999999').mkdir()  # left by a killed run: removed
    assert main(['bag', str(data), '-o', str(out), '--quiet']) == 0
    captured = capsys.readouterr()
    assert 'bags 3: 1 anonymized, 2 already done (skipped), 0 failed' in captured.out
    assert 'b: the input or the settings changed' in captured.err
    now = {n: (out / n / 'privacy_report.json').stat().st_mtime_ns for n in 'abc'}
    assert now['a'] == finished['a'] and now['c'] == finished['c'] and now['b'] > finished['b']
    assert not (out / '.c.partial-999999').exists()
    assert run_report(out)['totals']['frames'] == 12  # the skipped bags counted too

    assert main(['bag', str(data), '-o', str(out), '--quiet', '--method', 'pixelate']) == 0
    assert 'bags 3: 3 anonymized' in capsys.readouterr().out  # other settings: redone
    (out / 'a' / 'privacy_report.json').unlink()  # not a finished output any more
    assert main(['bag', str(data), '-o', str(out), '--quiet', '--method', 'pixelate']) == 1
    assert 'is not the anonymized copy of' in capsys.readouterr().err
    assert (out / 'a' / 'a.mcap').exists()  # never removed
    del inputs[data / 'broken.mcap']
    assert {p: p.read_bytes() for p in data.rglob('*') if p.is_file()} == inputs  # untouched


def test_every_bag_failing_does_nothing_and_says_so(tmp_path, capsys):
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'broken.db3').write_bytes(b'not sqlite')
    assert main(['bag', str(tmp_path / 'data'), '--quiet']) == 2  # default root beside it
    assert 'bags 1: 0 anonymized, 0 already done (skipped), 1 failed' in capsys.readouterr().out
    assert run_report(tmp_path / 'data_anonymized')['bags']['broken']['status'] == 'failed'


def facekp(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-m', 'facekp_ros.cli', 'bag', *map(str, args)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def test_a_killed_run_resumes_without_redoing_finished_bags(tmp_path, capsys):
    data, out = tmp_path / 'data', tmp_path / 'out'
    for index in range(4):
        write_bag(data / f'bag{index}', StoragePlugin.MCAP, frames=4)
    run = facekp(data, '-o', out, '--workers', '1', '--quiet', start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not list(out.glob('*/privacy_report.json')) and time.monotonic() < deadline:
            assert run.poll() is None, run.communicate()
            time.sleep(0.05)
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # the driver and its worker, mid-run
        run.communicate()
    done = {p.parent.name: p.stat().st_mtime_ns for p in out.glob('*/privacy_report.json')}
    assert 1 <= len(done) < 4, 'the run was not killed midway: the test proves nothing'
    assert not (out / 'privacy_report.json').exists()
    assert main(['bag', str(data), '-o', str(out), '--quiet']) == 0
    assert f'{4 - len(done)} anonymized, {len(done)} already done' in capsys.readouterr().out
    assert {n: (out / n / 'privacy_report.json').stat().st_mtime_ns for n in done} == done
    assert sorted(p.name for p in out.iterdir()) == \
        sorted([LOCK, 'privacy_report.json'] + [f'bag{i}' for i in range(4)])  # no partials


def messages(bag: pathlib.Path) -> list:
    with AnyReader([bag]) as reader:
        return [(c.topic, stamp, bytes(raw)) for c, stamp, raw in reader.messages()]


def without_timing(report: dict) -> dict:
    bags = {name: {k: v for k, v in entry.items() if k not in ('seconds', 'cpu_seconds')}
            for name, entry in report['bags'].items()}
    return {'bags': bags, 'totals': report['totals']}


def test_one_process_workers_and_ray_write_the_same_bytes(tmp_path, capsys):
    pytest.importorskip('ray', reason='ray (requirements/fleet.txt) is not installed')
    data = tmp_path / 'data'
    write_bag(data / 'a', StoragePlugin.MCAP, frames=2)
    write_bag(data / 'sub' / 'b', StoragePlugin.SQLITE3, frames=2)
    (data / 'sub' / 'broken.mcap').write_bytes(b'\x89MCAP0\r\n garbage')
    (tmp_path / 'one' / 'sub').mkdir(parents=True)
    for name in ('a', 'sub/b'):  # today's command, one bag at a time
        assert main(['bag', str(data / name), str(tmp_path / 'one' / name), '--quiet']) == 0
    assert main(['bag', str(data), '-o', str(tmp_path / 'workers'), '--quiet']) == 1
    ray_run = facekp(data, '-o', tmp_path / 'ray', '--ray', '--quiet', start_new_session=True)
    try:  # bounded: a Ray that hangs fails the test, and leaves nothing running
        out, err = ray_run.communicate(timeout=300)
    finally:
        if ray_run.poll() is None:
            os.killpg(ray_run.pid, signal.SIGKILL)
    assert ray_run.returncode == 1, err  # the broken bag failed on its worker, not the run
    assert 'sub/broken: failed: cannot read bag' in err
    assert 'mode ray' in out
    for name in ('a', 'sub/b'):
        reference = messages(tmp_path / 'one' / name)
        assert len(reference) == 8  # 2 frames x 4 topics; the 2 unreadable messages left out
        report = (tmp_path / 'one' / name / 'privacy_report.json').read_bytes()
        for mode in ('workers', 'ray'):
            assert messages(tmp_path / mode / name) == reference, (mode, name)
            assert (tmp_path / mode / name / 'privacy_report.json').read_bytes() == report
    assert without_timing(run_report(tmp_path / 'workers')) == \
        without_timing(run_report(tmp_path / 'ray'))
