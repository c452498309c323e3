"""Where `facekp bag` writes: the lock of an output folder, partial copies of killed runs, and
one-line reasons for a failed bag. Shared by the single-bag command and the multi-bag driver.
"""
import contextlib
import fcntl
import os
import pathlib

from facekp_ros.leftovers import process_alive

LOCK = '.facekp_bag.lock'  # in the output root, held by the run writing there
PARTIAL = '.partial-'  # .<output name>.partial-<pid>: an output being written


def lock_root(root: pathlib.Path):
    """The open, exclusively locked lock file of the output folder root (created with root);
    FileExistsError when another run holds it."""
    root.mkdir(exist_ok=True)
    handle = open(root / LOCK, 'a')  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise FileExistsError(f'another facekp bag run is writing to {root}: wait for it to '
                              'end, or choose another output folder') from None
    return handle


@contextlib.contextmanager
def locks_above(target: pathlib.Path):
    """Holds the lock of every output root above target (a single bag written into the
    folder of a multi-bag run): FileExistsError while that run is writing there."""
    with contextlib.ExitStack() as held:
        for folder in pathlib.Path(target).resolve().parents:
            if (folder / LOCK).is_file():
                held.enter_context(lock_root(folder))
        yield


def partial_name(target: pathlib.Path, pid: int | None = None) -> pathlib.Path:
    """Where target is written before it is complete, by process pid (default: this one)."""
    return target.with_name(f'.{target.name}{PARTIAL}{pid or os.getpid()}')


def stale_partials(target) -> list:
    """Partial copies of target left beside it by killed runs: their process is gone."""
    target = pathlib.Path(target)
    found = []
    for path in target.parent.glob(f'.{target.name}{PARTIAL}*'):
        pid = path.name.rsplit(PARTIAL, 1)[1]
        if pid.isdigit() and not process_alive(int(pid)):
            found.append(path)
    return sorted(found)



def describe_failure(error: BaseException, target) -> str:
    """Why a bag failed, in one line: the error's own text (ours name the input and the
    fix), with the output's path where a disk error does not name one, and the type of an
    error from a library."""
    text = ' '.join(str(error).split())
    if isinstance(error, OSError) and error.errno is not None and not error.filename:
        text = f'{error.strerror or text} (writing {target})'
    elif not isinstance(error, (OSError, ValueError)):
        text = f'{type(error).__name__}: {text or "no message"} (writing {target})'
    return text
