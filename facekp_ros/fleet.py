"""Many bags: found in folders, one work unit per bag, resumable, one aggregate report.

The work units (BagJob, run_job) are the same whether they run in local processes
(fleet_run) or as Ray tasks (fleet_ray); each is anonymize_bag on one bag, so every output is
written beside its final path and renamed when complete, with the report that proves it.
"""
import dataclasses
import os
import pathlib
import shutil
import sys
import time

from facekp_ros.bag_anonymize import (
    anonymize_bag,
    finished_report,
    is_ros1,
    read_report,
    report_path,
    topic_reports,
)
from facekp_ros.bag_distros import DEFAULT_DISTRO
from facekp_ros.bag_outputs import describe_failure, stale_partials

BAG_SUFFIXES = ('.mcap', '.db3', '.bag')  # lone bag files; a rosbag2 folder holds metadata.yaml
PROGRESS_EVERY_S = 0.25  # progress events a worker sends at most this often
COUNTS = ('frames', 'faces_seen', 'frames_fully_masked', 'frames_with_held_faces',
          'frames_masked_not_reported', 'frames_left_out', 'messages_undeserializable')
WORKER_SINK = None  # where run_job sends events in a local worker process (set by fleet_run)
# Here, not in fleet_run: fleet_ray needs them too, and fleet_run imports fleet_ray.
RAY_MISSING = ('--ray needs the ray package (an optional extra): pip install -r '
               'requirements/fleet.txt')


def cores() -> int:
    return len(os.sched_getaffinity(0))


@dataclasses.dataclass(frozen=True)
class BagJob:
    name: str  # the output's path under the output root: how the bag is named to the user
    source: str
    target: str
    ros_distro: str = DEFAULT_DISTRO  # the type store of a bag that names no distro
    depth_topics: tuple = ()  # more topics whose 16UC1/32FC1 images are depth


def is_bag(path: pathlib.Path) -> bool:
    return (path.is_dir() and (path / 'metadata.yaml').is_file()) \
        or (path.is_file() and path.suffix in BAG_SUFFIXES)


def find_bags(folder: pathlib.Path) -> list:
    """Every bag under folder: rosbag2 folders (not looked into) and lone .mcap/.db3 files.
    Hidden entries (such as partial outputs) are skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = pathlib.Path(dirpath)
        if 'metadata.yaml' in filenames:
            found.append(here)
            dirnames.clear()
            continue
        dirnames[:] = [d for d in dirnames if not d.startswith('.')]
        found += [here / f for f in filenames
                  if not f.startswith('.') and pathlib.Path(f).suffix in BAG_SUFFIXES]
    return sorted(found)


def plan(inputs, root) -> list:
    """The BagJobs of inputs (bags or folders of bags), each output mirrored under root: at
    its path relative to the input folder (under the folder's name when there are several
    inputs), a bag given itself under its name; a lone rosbag2 file's output is a bag folder
    named without the suffix (a ROS 1 bag's is a .bag file). Raises
    FileNotFoundError / ValueError naming the input and the fix when nothing can be done."""
    root, sources = pathlib.Path(root), [pathlib.Path(i) for i in inputs]
    for source in sources:
        if not source.exists():
            raise FileNotFoundError(f'input {source} does not exist: check the path')
    _check_root(root, sources)
    jobs, claimed = [], {}
    for source in sources:
        bags = _bags_of(source)
        several = len(sources) > 1 and bags != [source]  # a folder among other inputs
        prefix = pathlib.Path(source.resolve().name if several else '')
        for bag in bags:
            relative = pathlib.Path(bag.name) if bag == source else bag.relative_to(source)
            lone = bag.is_file() and not is_ros1(bag)  # a ROS 1 bag's copy is a .bag file
            name = prefix / (relative.with_suffix('') if lone else relative)
            if name in claimed:
                raise ValueError(f'{claimed[name]} and {bag} would both be written to '
                                 f'{root / name}: rename one, or anonymize them in two runs')
            claimed[name] = bag
            jobs.append(BagJob(name.as_posix(), str(bag), str(root / name)))
    for name, bag in claimed.items():
        for folder in name.parents:
            if folder in claimed:
                raise ValueError(f'{claimed[folder]} would be written to {root / folder}, '
                                 f'the folder that {bag} is written into: rename one, or '
                                 'anonymize them in two runs')
    return jobs


def _bags_of(source: pathlib.Path) -> list:
    if is_bag(source):
        return [source]
    if not source.is_dir():
        raise ValueError(f'input {source} is not a bag: give a rosbag2 folder (with '
                         'metadata.yaml), a .mcap, .db3 or ROS 1 .bag file, or a folder of them')
    found = find_bags(source)
    if not found:
        raise ValueError(f'no bags found in {source}: a rosbag2 folder holds metadata.yaml, '
                         'a lone bag ends in .mcap, .db3 or .bag')
    return found


def _check_root(root: pathlib.Path, sources: list) -> None:
    if root.exists() and not root.is_dir():
        raise FileExistsError(f'output {root} is a file: give a folder for the outputs')
    resolved = root.resolve()
    if not resolved.parent.is_dir():
        raise FileNotFoundError(f'folder {root.parent} for the output does not exist: '
                                'create it first')
    for source in (s.resolve() for s in sources):
        if resolved == source or source in resolved.parents:
            raise ValueError(f'output {root} is inside the input {source}: choose a folder '
                             'outside it')
        if resolved in source.parents:
            raise ValueError(f'input {source} is inside the output {root}: choose an output '
                             'folder that holds no input')


def prepare(job: BagJob, config, warn) -> dict | None:
    """The report of job's finished output when it need not be redone; otherwise clears the
    way: removes partial copies of killed runs and job's own output when its input or the
    settings changed. FileExistsError for an output that is not facekp's output of the input
    (never removed). Call it only while holding the output root's lock."""
    target = pathlib.Path(job.target)
    for partial in stale_partials(target):
        shutil.rmtree(partial)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        return None
    report = finished_report(job.source, target, config, job.depth_topics)
    if report:
        return report
    old = read_report(target)
    if old and old['input'].get('path') == str(pathlib.Path(job.source).resolve()):
        warn(f'{job.name}: the input or the settings changed since {target} was written: '
             'writing it again')
        if is_ros1(target):
            target.unlink()
            report_path(target).unlink()
        else:
            shutil.rmtree(target)
        return None
    raise FileExistsError(f'output {target} already exists and is not the anonymized copy of '
                          f'{job.source}: move it away, or choose another output folder')


class _Events:
    """What a worker tells the driver about its bag, as (kind, bag name, value) tuples."""

    def __init__(self, sink, name: str):
        self.sink, self.name = sink, name
        self.steps, self.sent_at = 0, time.monotonic()

    def send(self, kind: str, value) -> None:
        if self.sink is not None:
            self.sink.put((kind, self.name, value))
        elif kind == 'warn':
            print(f'facekp: {self.name}: {value}', file=sys.stderr)

    def started(self, messages: int) -> None:
        self.send('started', messages)

    def warn(self, text: str) -> None:
        self.send('warn', text)

    def step(self) -> None:
        self.steps += 1
        if time.monotonic() - self.sent_at >= PROGRESS_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.steps:
            self.send('progress', self.steps)
        self.steps, self.sent_at = 0, time.monotonic()


def run_job(job: BagJob, config, sink=None) -> dict:
    """One bag, in whatever process runs it: {'status': 'done', 'report', 'seconds',
    'cpu_seconds'} or {'status': 'failed', 'error'}. sink.put gets progress and warnings."""
    events = _Events(sink if sink is not None else WORKER_SINK, job.name)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        report = anonymize_bag(job.source, job.target, config, progress=events.step,
                               warn=events.warn, started=events.started,
                               ros_distro=job.ros_distro, depth_topics=job.depth_topics)
    except Exception as error:  # noqa: BLE001 - one bad bag must not stop the others
        return {'status': 'failed', 'error': describe_failure(error, job.target)}
    finally:
        events.flush()
    return {'status': 'done', 'report': report, 'seconds': time.perf_counter() - start,
            'cpu_seconds': time.process_time() - cpu}


def totals(report: dict) -> dict:
    """The counts of a bag's report, summed over its image topics."""
    topics = [t for t in topic_reports(report).values() if 'frames' in t]
    return {'topics': len(topics), **{k: sum(t.get(k, 0) for t in topics) for k in COUNTS}}


def aggregate(jobs: list, results: dict, run: dict) -> dict:
    """The output root's privacy_report.json: per bag its status, input and counts; the totals;
    'run' and each bag's 'seconds' and 'cpu_seconds' are the only timing fields."""
    bags = {}
    for job in jobs:
        result = results.get(job.name, {'status': 'not run'})
        entry = {'status': result['status'], 'input': str(pathlib.Path(job.source).resolve())}
        if 'report' in result:
            entry.update(totals(result['report']))
        if 'error' in result:
            entry['error'] = result['error']
        for timing in ('seconds', 'cpu_seconds'):  # cpu: of the process, all its threads
            if timing in result:
                entry[timing] = round(result[timing], 3)
        bags[job.name] = entry
    entries = bags.values()
    summary = {status: sum(e['status'] == status for e in entries)
               for status in ('done', 'already done', 'failed', 'not run')}
    summary.update({k: sum(e.get(k, 0) for e in entries) for k in COUNTS})
    return {'bags': bags, 'totals': {'bags': len(bags), **summary}, 'run': run}
