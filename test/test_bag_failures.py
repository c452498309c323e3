"""`facekp bag` fails in one line and leaves nothing behind: bad bags, disk errors, Ctrl-C
and SIGTERM, partial copies of killed runs, the lock of a multi-bag run, colliding outputs."""
import fcntl
import os
import resource
import signal
import subprocess
import sys
import time

import bag_builders as bb
import pytest

from facekp_ros.bag_outputs import LOCK
from facekp_ros.sources import sample_frame


def sample_bag(path, frames=3, plugin=bb.StoragePlugin.MCAP):
    frame = sample_frame()
    messages = []
    for sec in range(frames):
        messages += [('/cam/image_raw', bb.image(frame, 'bgr8', sec)),
                     ('/chatter', bb.T['std_msgs/msg/String'](data=f'hello {sec}'))]
    bb.write(path, messages, plugin)


def one_line(err: str) -> str:
    assert 'Traceback' not in err and err.strip().count('\n') == 0, err
    return err.strip()


def test_bad_bags_fail_in_one_line_with_no_output(tmp_path):
    sample_bag(tmp_path / 'good')
    whole = (tmp_path / 'good' / 'good.mcap').read_bytes()
    (tmp_path / 'truncated.mcap').write_bytes(whole[:len(whole) // 2])
    (tmp_path / 'notabag.db3').write_bytes(b'hello, not sqlite')
    for name in ('truncated.mcap', 'notabag.db3', 'missing.mcap'):
        code, _, err = bb.facekp_bag(tmp_path / name, tmp_path / 'out')
        line = one_line(err)
        assert code == 2 and name in line, line
        assert not (tmp_path / 'out').exists()
        assert not [p for p in tmp_path.iterdir() if '.partial-' in p.name]


def _file_size_limit(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize('plugin', [bb.StoragePlugin.MCAP, bb.StoragePlugin.SQLITE3])
def test_a_write_that_fails_names_the_output_and_leaves_nothing(tmp_path, plugin):
    """A disk that takes no more (here a file size limit, as a full disk stops a write)."""
    sample_bag(tmp_path / 'in', frames=20, plugin=plugin)
    done = subprocess.run(
        [sys.executable, '-m', 'facekp_ros.cli', 'bag', str(tmp_path / 'in'),
         str(tmp_path / 'out'), '--quiet'], capture_output=True, text=True, timeout=600,
        preexec_fn=_file_size_limit(2 * 2 ** 20))
    line = one_line(done.stderr)
    assert done.returncode == 2 and str(tmp_path / 'out') in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in']


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_cleanly(tmp_path, signum):
    sample_bag(tmp_path / 'in', frames=300)
    # As from a terminal: a test run started in the background has SIGINT ignored, and a
    # child would inherit that.
    proc = subprocess.Popen([sys.executable, '-m', 'facekp_ros.cli', 'bag',
                             str(tmp_path / 'in'), str(tmp_path / 'out'), '--quiet'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    partial = tmp_path / f'.out.partial-{proc.pid}'
    while not (partial / 'out').exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # well into the messages
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum
    assert 'stopped' in one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in']


def test_partial_copies_of_killed_runs_are_removed(tmp_path):
    sample_bag(tmp_path / 'in', frames=1)
    killed = subprocess.Popen([sys.executable, '-c', 'pass'])
    killed.wait()  # a process id that is no longer alive
    dead, alive = tmp_path / f'.out.partial-{killed.pid}', tmp_path / f'.out.partial-{os.getpid()}'
    for partial in (dead, alive):
        (partial / 'out').mkdir(parents=True)
        (partial / 'out' / 'out.mcap').write_bytes(b'x' * 1000)
    code, _, err = bb.facekp_bag(tmp_path / 'in', tmp_path / 'out')
    assert code == 0, err
    assert not dead.exists() and alive.exists()  # a running process's copy is its own
    assert (tmp_path / 'out' / 'privacy_report.json').is_file()


def test_a_single_bag_honours_the_lock_of_a_multi_bag_run(tmp_path):
    sample_bag(tmp_path / 'in', frames=1)
    root = tmp_path / 'root'
    root.mkdir()
    with open(root / LOCK, 'a') as held:  # a multi-bag run writing to root
        fcntl.flock(held, fcntl.LOCK_EX)
        code, _, err = bb.facekp_bag(tmp_path / 'in', root / 'sub' / 'x')
        assert code == 2 and 'another facekp bag run is writing to' in one_line(err)
        code, _, err = bb.facekp_bag(tmp_path / 'in', root / 'x')
        assert code == 2 and str(root) in one_line(err)
        assert sorted(p.name for p in root.iterdir()) == [LOCK]
    code, _, err = bb.facekp_bag(tmp_path / 'in', root / 'x')
    assert code == 0, err


def test_colliding_output_names_are_refused_before_any_work(tmp_path):
    sample_bag(tmp_path / 'A' / 'x', frames=1)  # folder A holding bag x
    sample_bag(tmp_path / 'other' / 'A', frames=1)  # a bag named A
    code, _, err = bb.facekp_bag(tmp_path / 'A', tmp_path / 'other' / 'A', '--out',
                                 tmp_path / 'out')
    line = one_line(err)
    assert code == 2 and 'rename one' in line and str(tmp_path / 'out' / 'A') in line
    assert not (tmp_path / 'out').exists()
