"""The driver of `facekp bag` over many bags: skips finished ones, runs the rest in local
worker processes (or on Ray, fleet_ray), shows progress, writes the aggregate report."""
import collections
import concurrent.futures as cf
import dataclasses
import importlib.util
import json
import multiprocessing
import os
import pathlib
import queue
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool

from tqdm import tqdm

from facekp_ros import fleet
from facekp_ros.bag_anonymize import REPORT
from facekp_ros.bag_distros import DEFAULT_DISTRO
from facekp_ros.bag_outputs import lock_root

WORKER_DIED = ('its worker process ended unexpectedly (killed, out of memory or crashed): run '
               'the command again to redo it')
INTERRUPTED = 130  # the shell's code for Ctrl-C


def _watch_parent(parent: int) -> None:
    """A worker outlives no driver (killed with SIGKILL, say): the next run's clean-up of
    partial outputs must not race a worker still writing one."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _init_worker(sink, parent: int) -> None:
    fleet.WORKER_SINK = sink
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


class LocalPool:
    """Worker processes, one bag each at a time; onnxruntime threads split the cores among
    them so that they do not fight (workers: default one per core, at most one per bag)."""

    def __init__(self, jobs: list, config_for, workers: int | None = None):
        self.limit = workers or max(1, min(fleet.cores(), len(jobs)))
        threads = max(1, fleet.cores() // self.limit)
        self.config = config_for(threads)
        self.info = {'mode': 'local', 'workers': self.limit, 'threads_per_worker': threads}
        self.context = multiprocessing.get_context('spawn')  # nothing inherited: no forked locks
        self.sink = self.context.Queue()
        self.executor, self.pool_of = self._start(), {}

    def _start(self):
        return cf.ProcessPoolExecutor(self.limit, mp_context=self.context,
                                      initializer=_init_worker,
                                      initargs=(self.sink, os.getpid()))

    def submit(self, job):
        future = self.executor.submit(fleet.run_job, job, self.config)
        self.pool_of[future] = self.executor
        return future

    def events(self) -> list:
        items = []
        while True:
            try:
                items.append(self.sink.get_nowait())
            except queue.Empty:
                return items

    def describe(self, future, error: BaseException) -> str:
        """Why future failed; a dead worker breaks its pool, so a new one takes over."""
        if not isinstance(error, BrokenProcessPool):
            return f'{type(error).__name__}: {error}'
        if self.pool_of.get(future) is self.executor:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = self._start()
        return WORKER_DIED

    def close(self) -> list:
        """Waits for the workers to end; the events they sent last."""
        self.executor.shutdown(wait=True, cancel_futures=True)
        return self.events()


class Progress:
    """A bar for the run (bags) and one per bag being written (messages); lines on stderr."""

    def __init__(self, total: int, quiet: bool):
        self.quiet = quiet
        self.overall = tqdm(total=total, desc='bags', unit='bag', disable=quiet, position=0)
        self.bars = {}

    def write(self, line: str) -> None:
        tqdm.write(line, file=sys.stderr)

    def events(self, items) -> None:
        for kind, name, value in items:
            if kind == 'warn':
                self.write(f'facekp: {name}: {value}')
            elif kind == 'started':
                used = {bar.pos for bar in self.bars.values()}
                position = min(set(range(1, len(self.bars) + 2)) - used)
                self.bars[name] = tqdm(total=value, desc=name, unit='msg', leave=False,
                                       disable=self.quiet, position=position)
            elif kind == 'progress' and name in self.bars:
                self.bars[name].update(value)

    def finished(self, job, result: dict) -> None:
        bar = self.bars.pop(job.name, None)
        if bar is not None:
            bar.close()
        if result['status'] == 'failed':
            self.write(f'facekp: {job.name}: failed: {result["error"]}')
        self.overall.update(1)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.overall.close()


def execute(jobs: list, backend, view: Progress) -> dict:
    """{bag name: result} of jobs; at most backend.limit in flight, so that when a worker
    dies, only the bags it was running are lost."""
    results, waiting, running = {}, collections.deque(jobs), {}
    while waiting or running:
        while waiting and len(running) < backend.limit:
            job = waiting.popleft()
            running[backend.submit(job)] = job
        done, _ = cf.wait(running, timeout=0.2, return_when=cf.FIRST_COMPLETED)
        view.events(backend.events())
        for future in done:
            job = running.pop(future)
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - a lost worker fails its bag only
                result = {'status': 'failed', 'error': backend.describe(future, error)}
            results[job.name] = result
            view.finished(job, result)
    return results


def _warn(line: str) -> None:
    print(f'facekp: {line}', file=sys.stderr)


def _sort_out(jobs: list, config) -> tuple:
    """(results of the bags that need no work, the jobs to run)."""
    results, todo = {}, []
    for job in jobs:
        try:
            report = fleet.prepare(job, config, _warn)
        except OSError as error:
            results[job.name] = {'status': 'failed', 'error': str(error)}
            _warn(f'{job.name}: failed: {error}')
            continue
        if report:
            results[job.name] = {'status': 'already done', 'report': report}
        else:
            todo.append(job)
    return results, todo


def run_fleet(inputs, root, config_for, workers=None, ray=None, quiet=False,
              ros_distro=DEFAULT_DISTRO, depth_topics=()) -> int:
    """Anonymizes every bag of inputs under root; the exit code (0 all done, 1 some bags
    failed, 2 none done; 130 interrupted). config_for(threads) -> PipelineConfig."""
    start, root = time.perf_counter(), pathlib.Path(root)
    jobs = [dataclasses.replace(job, ros_distro=ros_distro, depth_topics=tuple(depth_topics))
            for job in fleet.plan(inputs, root)]
    if ray is not None and importlib.util.find_spec('ray') is None:  # before touching ROOT
        raise ValueError(fleet.RAY_MISSING)
    lock = lock_root(root)
    try:
        results, todo = _sort_out(jobs, config_for(0))
        backend = _backend(todo, config_for, workers, ray) if todo else None
        view, interrupted = Progress(len(todo), quiet), False
        try:
            results.update(execute(todo, backend, view) if backend else {})
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if backend:
                view.events(backend.close())
            view.close()
        report = fleet.aggregate(jobs, results, _run_info(backend, results, start))
        temporary = root / f'.{REPORT}.partial-{os.getpid()}'
        temporary.write_text(json.dumps(report, indent=1) + '\n')
        os.replace(temporary, root / REPORT)
    finally:
        lock.close()
    print('\n'.join(summary_lines(report) + [f'wrote {root / REPORT}']))
    if interrupted:
        print('facekp: interrupted: run the same command again to finish the other bags',
              file=sys.stderr)
        return INTERRUPTED
    totals = report['totals']
    return 0 if not totals['failed'] else 1 if totals['done'] + totals['already done'] else 2


def _backend(todo: list, config_for, workers, ray):
    if ray is None:
        return LocalPool(todo, config_for, workers)
    from facekp_ros.fleet_ray import RayPool  # imports ray, an optional extra
    return RayPool(todo, config_for, ray)


def _run_info(backend, results: dict, start: float) -> dict:
    seconds = time.perf_counter() - start
    frames = sum(fleet.totals(r['report'])['frames'] for r in results.values()
                 if r['status'] == 'done')
    return {**(backend.info if backend else {'mode': 'none'}), 'seconds': round(seconds, 3),
            'frames': frames, 'frames_per_s': round(frames / seconds, 2)}


def summary_lines(report: dict) -> list:
    t, run = report['totals'], report['run']
    bags = (f'bags {t["bags"]}: {t["done"]} anonymized, {t["already done"]} already done '
            f'(skipped), {t["failed"]} failed' + (f', {t["not run"]} not run' if t['not run']
                                                   else ''))
    frames = (f'frames {t["frames"]}: faces seen {t["faces_seen"]}, frames fully masked '
              f'{t["frames_fully_masked"]}, with faces masked but not reported '
              f'{t["frames_masked_not_reported"]}, left out '
              f'{t["frames_left_out"] + t["messages_undeserializable"]}')
    how = ', '.join(f'{k} {v}' for k, v in run.items()
                    if k not in ('seconds', 'frames', 'frames_per_s'))
    speed = (f'this run: {run["frames"]} frames in {run["seconds"]:.1f} s, '
             f'{run["frames_per_s"]:.1f} frames/s ({how})')
    return [bags, frames, speed]
