"""A partial output is stale once the process named in it has ended, also while that
process is a zombie (a killed run's orphaned worker, not yet reaped by init)."""
import os
import signal
import subprocess

from facekp_ros.leftovers import process_alive


def test_a_running_process_is_alive_and_a_zombie_or_gone_one_is_not():
    child = subprocess.Popen(['sleep', '60'])
    try:
        assert process_alive(os.getpid())
        assert process_alive(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped: a zombie
        assert open(f'/proc/{child.pid}/stat').read().rsplit(')', 1)[1].split()[0] == 'Z'
        assert not process_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not process_alive(child.pid)
