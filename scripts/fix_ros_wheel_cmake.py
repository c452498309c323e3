"""Point the ROS wheels' exported CMake files at this virtual environment's Python and numpy.

The PyPI ROS 2 wheels hard-code the include paths of the image they were built in
(/opt/python/cp3xx-.../include/python3.x and its numpy), so building our messages
against them fails until the paths are rewritten. Idempotent.
"""
import pathlib
import re
import sys
import sysconfig

import numpy

# An include list like "/opt/python/cp311-cp311/include/python3.11;/opt/.../numpy/_core/include"
PYTHON_INCLUDE = re.compile(r'/opt/python/[^;"]*/include/python3\.\d+')
NUMPY_INCLUDE = re.compile(r'/opt/python/[^;"]*/site-packages/numpy/(_core/)?include')


def main(prefix: str) -> int:
    fixed = 0
    for path in pathlib.Path(prefix, 'share').glob('*/cmake/*__rosidl_generator_pyExport.cmake'):
        text = path.read_text()
        new = PYTHON_INCLUDE.sub(sysconfig.get_path('include'), text)
        new = NUMPY_INCLUDE.sub(numpy.get_include(), new)
        if new != text:
            path.write_text(new)
            fixed += 1
    print(f'fix_ros_wheel_cmake: rewrote {fixed} CMake export file(s) under {prefix}/share')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else sys.prefix))
