"""`facekp bag --ray`: the same per-bag work units (fleet.run_job) as Ray tasks.

'local' starts a Ray instance on this machine for the run (node address 127.0.0.1, no
dashboard) and stops it at the end. On an existing cluster (its address, or 'auto') every
node needs this package installed and the inputs and the output folder at the same paths (a
shared file system); the reports come back to the driver, which writes the aggregate.
"""
import logging
import os

from facekp_ros import fleet
from facekp_ros.core.onnx_runtime import select_providers

GPU_PROVIDERS = ('TensorrtExecutionProvider', 'CUDAExecutionProvider')
LOCAL_OBJECT_STORE_BYTES = 100 * 2**20  # tasks return small reports; Ray's minimum is 75 MiB


def import_ray(local: bool, loopback: bool):
    """ray, imported with the settings it reads at import time."""
    if loopback:
        # Ray replaces 127.0.0.1 by this machine's network address unless told that the
        # cluster does not reach beyond this machine; then every server binds to loopback.
        os.environ.setdefault('RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER', '0')
    if local:
        os.environ.setdefault('RAY_USAGE_STATS_ENABLED', '0')  # an instance of our own
    try:
        import ray
    except ImportError:
        raise ValueError(fleet.RAY_MISSING) from None
    return ray


class RayPool:
    """Every bag submitted at once; Ray places each task where its CPUs (or a GPU) are free.
    A task whose worker dies fails its bag only (no retry: the next run redoes it)."""

    def __init__(self, jobs: list, config_for, address: str = 'local'):
        local = address in ('', 'local')
        host = address.split('://')[-1].rsplit(':', 1)[0]
        ray = self.ray = import_ray(local, local or host in ('127.0.0.1', 'localhost'))
        if local:  # address 'local': a new instance, never one already running here
            ray.init(address='local', num_cpus=fleet.cores(), include_dashboard=False,
                     _node_ip_address='127.0.0.1', object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                     logging_level=logging.WARNING)
        else:
            try:
                ray.init(address=address, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError) as error:
                raise ConnectionError(f'cannot join the Ray cluster at {address}: {error} (check '
                                      "the address, or use --ray local for a Ray instance of "
                                      'this run)') from error
        options, threads = self._resources(len(jobs), config_for(0))
        self.config = config_for(threads)
        self.task = ray.remote(fleet.run_job).options(max_retries=0, **options)
        from ray.util.queue import Queue
        self.sink = Queue(actor_options={'num_cpus': 0})
        self.limit, self.refs = max(1, len(jobs)), []
        self.info = {'mode': 'ray', 'address': address or 'local', **options,
                     'threads_per_task': threads}

    def _resources(self, bags: int, config) -> tuple:
        """(task options, onnxruntime threads): a GPU per task where the cluster has GPUs and
        onnxruntime here is the GPU build; else the CPUs split like the local workers'."""
        total = self.ray.cluster_resources()
        if total.get('GPU', 0) >= 1 and \
                set(select_providers(config.detection.providers)) & set(GPU_PROVIDERS):
            return {'num_cpus': 1, 'num_gpus': 1}, 1
        cpus = int(total.get('CPU', 1))
        per_node = min(int(n['Resources'].get('CPU', 1)) for n in self.ray.nodes() if n['Alive'])
        threads = max(1, min(per_node, cpus // max(1, min(cpus, bags))))
        return {'num_cpus': threads}, threads

    def submit(self, job):
        ref = self.task.remote(job, self.config, self.sink)
        self.refs.append(ref)
        return ref.future()

    def events(self) -> list:
        waiting = self.sink.qsize()
        return self.sink.get_nowait_batch(waiting) if waiting else []

    def describe(self, future, error: BaseException) -> str:
        return f'{type(error).__name__}: {str(error).strip().splitlines()[0]}'

    def close(self) -> list:
        """Cancels what still runs (an interrupted run), disconnects; the last events."""
        items = self.events()
        for ref in self.refs:
            self.ray.cancel(ref, force=True)
        self.ray.shutdown()
        return items
