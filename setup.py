"""pip installation of the facekp_ros Python package (the PyPI virtual-environment route).

In a ROS 2 workspace colcon builds this package with CMakeLists.txt instead, which also
generates the messages and installs the node executables under lib/facekp_ros.
"""
from setuptools import find_packages, setup

NODES = ('camera_node', 'detector_node', 'keypoint_node', 'anonymizer_node',
         'visualizer_node', 'pipeline_node')

setup(
    # Not 'facekp_ros': pip would then uninstall the generated messages, which CMake
    # registers under that name.
    name='facekp-ros-python',
    version='0.1.0',
    description='Face detection, facial keypoints and fail-closed face anonymization for ROS 2',
    license='MIT',
    python_requires='>=3.10',
    packages=find_packages(include=['facekp_ros', 'facekp_ros.*']),
    package_data={'facekp_ros': ['models/*.onnx', 'models/*.md', 'data/*']},
    entry_points={'console_scripts': [
        'facekp = facekp_ros.cli:main',
        *(f'facekp-{name.replace("_node", "")} = facekp_ros.{name}:main' for name in NODES),
    ]},
)
