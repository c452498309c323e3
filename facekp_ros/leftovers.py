"""Whether the process that named a partial output is still running, so that a later run can
tell a file being written from one left behind by a killed run."""
import os


def process_alive(pid: int) -> bool:
    """True while pid runs (also another user's process). A zombie is not alive: a killed
    run's orphaned worker stays one until init reaps it (seen for 2 s), and its partial
    output is as stale as if it were gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        with open(f'/proc/{pid}/stat', 'rb') as stat:
            # 'pid (comm) state ...': comm may hold ')' too; the state follows the last one
            return stat.read().rsplit(b')', 1)[1].split()[0] != b'Z'
    except (FileNotFoundError, ProcessLookupError):  # gone meanwhile
        return False
    except OSError:  # no /proc (not Linux): kill's answer stands
        return True
