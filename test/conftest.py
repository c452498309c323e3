"""Shared test set-up: loopback-only DDS on a domain of this run's own, and the data path."""
import os
import pathlib
import random

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

# Before anything imports rclpy: discovery stays on this machine, on a domain id of this run's
# own, with the project's Fast DDS profile (shared memory + UDP on 127.0.0.1 only).
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
# Never the shell's domain (scripts/env.sh sets a stable one): tests must not meet a
# running demo or another test run.
os.environ['ROS_DOMAIN_ID'] = os.environ.get('FACEKP_TEST_DOMAIN_ID') or str(
    random.SystemRandom().randint(1, 101))
os.environ.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = str(REPO / 'config' / 'fastdds_loopback_shm.xml')


def data_dir() -> pathlib.Path:
    """The shared data set: $FACEKP_DATA, else ../shared/data beside the repository."""
    return pathlib.Path(os.environ.get('FACEKP_DATA', REPO.parent / 'shared' / 'data'))


@pytest.fixture(scope='session')
def data() -> pathlib.Path:
    path = data_dir()
    if not (path / 'faces68' / 'test.csv').is_file():
        pytest.skip(f'shared data not found at {path} (set FACEKP_DATA)')
    return path
