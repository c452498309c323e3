"""Layers import downward only: no two modules import each other (also through imports
inside functions), the core imports only the core, and a detector is a type plus one line."""
import ast
import math

import pytest

from conftest import REPO
from facekp_ros.core import detection
from facekp_ros.core.checks import FINITE, check_range
from facekp_ros.core.detection import DetectionConfig, FaceDetector, FaceFinder, create_detector
from facekp_ros.sources import sample_frame

PACKAGES = ('facekp_ros', 'training')


def _module_name(path) -> str:
    return '.'.join(path.relative_to(REPO).with_suffix('').parts).removesuffix('.__init__')


def import_graph() -> dict:
    """{module: {project modules it imports anywhere in its text}}."""
    files = [p for package in PACKAGES for p in (REPO / package).rglob('*.py')]
    modules = {_module_name(p): p for p in files}
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module)
                imported |= {f'{node.module}.{alias.name}' for alias in node.names}
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def _cycle_from(graph, start):
    stack, seen = [(start, [start])], set()
    while stack:
        module, path = stack.pop()
        for target in graph[module]:
            if target == start:
                return path + [start]
            if target not in seen:
                seen.add(target)
                stack.append((target, path + [target]))
    return None


def test_no_two_modules_import_each_other():
    graph = import_graph()
    assert len(graph) > 60 and 'training.common' in graph['training.train']
    cycles = {tuple(c) for c in map(lambda m: _cycle_from(graph, m), graph) if c}
    assert not cycles, 'import circles: ' + '; '.join(' -> '.join(c) for c in cycles)


def test_the_core_imports_only_the_core():
    outside = {(module, target) for module, targets in import_graph().items()
               if module.startswith('facekp_ros.core') for target in targets
               if not target.startswith('facekp_ros.core')}
    assert outside == set()


def test_a_new_detector_is_one_module_and_one_line(monkeypatch):
    """Registered by name as 'module:class' only; FaceFinder, DetectionConfig, the ROS
    parameter's choices and create_detector all take it from DETECTORS."""
    monkeypatch.setitem(detection.DETECTORS, 'cascade', 'facekp_ros.core.haar:HaarFaceDetector')
    finder = FaceFinder(DetectionConfig(detector='cascade', score_threshold=0.5))
    assert isinstance(finder.detector, FaceDetector) and finder.detector.name == 'haar'
    assert len(finder.find(sample_frame()).faces) >= 2
    assert isinstance(create_detector('retinaface', threads=1), FaceDetector)
    with pytest.raises(ValueError, match="unknown detector 'nope'.*cascade"):
        create_detector('nope')


@pytest.mark.parametrize('bounds, kwargs, value, message', [
    ((0, 1), {'low_open': True}, 0, r'x=0 must be a number in \(0, 1\]'),
    ((0, 100), {'integer': True}, 2.5, r'x=2.5 must be an integer in \[0, 100\]'),
    ((1, FINITE), {'hint': 'px'}, 0.5, r'x=0.5 must be a number >= 1 \(px\)'),
    ((1, FINITE), {}, math.inf, r'x=inf must be a number >= 1'),
    ((0, math.inf), {'low_open': True}, True, r'x=True must be a number > 0'),
    ((0, 1), {}, '0.5', r"x='0.5' must be a number in \[0, 1\]")])
def test_the_one_range_check_names_the_setting_and_its_range(bounds, kwargs, value, message):
    with pytest.raises(ValueError, match=message):
        check_range('x', value, bounds, **kwargs)
    check_range('x', bounds[1] if bounds[1] < FINITE else 10 ** 6, bounds, **kwargs)
    if bounds[1] == math.inf:  # infinity itself is admitted only by that bound
        check_range('x', math.inf, bounds, **kwargs)
