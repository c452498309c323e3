"""facekp_ros: face detection, facial keypoints and face anonymization for ROS 2."""
# The generated messages (facekp_ros.msg) are installed by CMake into another
# site-packages folder under the same package name; let this package span both.
__path__ = __import__('pkgutil').extend_path(__path__, __name__)
