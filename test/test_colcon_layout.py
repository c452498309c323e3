"""The CMake build a ROS 2 workspace runs (colcon build): messages, Python sources, node
executables in lib/facekp_ros, launch and config in share/facekp_ros, the ament index."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow
def test_full_cmake_install_runs_from_its_own_prefix(tmp_path):
    # A workspace of its own (src/facekp_ros): CMake refuses include paths inside the source
    # folder, and the project's .venv lives inside the repository.
    source = tmp_path / 'src' / 'facekp_ros'
    prefix, build = tmp_path / 'install', tmp_path / 'build'
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        '.venv', '.git', 'build', 'install', 'log', 'out', '__pycache__', 'runs', 'cache'))
    venv = sys.prefix
    env = dict(os.environ, AMENT_PREFIX_PATH=venv, CMAKE_PREFIX_PATH=venv)
    for command in (['cmake', '-S', str(source), '-B', str(build),
                     f'-DCMAKE_INSTALL_PREFIX={prefix}', f'-DPython3_EXECUTABLE={sys.executable}',
                     '-DBUILD_TESTING=OFF'],
                    ['cmake', '--build', str(build), '-j', '2'],
                    ['cmake', '--install', str(build)]):
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for executable in ('camera_node', 'detector_node', 'keypoint_node', 'anonymizer_node',
                       'visualizer_node', 'pipeline_node'):
        assert os.access(prefix / 'lib' / 'facekp_ros' / executable, os.X_OK), executable
    assert (prefix / 'bin' / 'facekp').exists()
    share = prefix / 'share' / 'facekp_ros'
    assert (share / 'launch' / 'pipeline.launch.py').exists()
    assert (share / 'config' / 'pipeline.yaml').exists()
    assert (share / 'package.xml').exists()
    index = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages'
    assert (index / 'facekp_ros').exists()
    site = next(prefix.glob('lib/python3*/site-packages'))
    assert (site / 'facekp_ros' / 'models' / 'facekp68.onnx').exists()
    # Python from the installed prefix only (not the repository): messages and nodes import.
    check = ('import facekp_ros, facekp_ros.detector_node; from facekp_ros.msg import FaceArray;'
             'print(facekp_ros.detector_node.__file__)')
    env = dict(env, PYTHONPATH=str(site), AMENT_PREFIX_PATH=f'{prefix}:{venv}',
               LD_LIBRARY_PATH=f"{prefix / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}")
    result = subprocess.run([sys.executable, '-c', check], env=env, cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().startswith(str(site))
