"""Camera -> detector -> keypoints -> anonymizer + visualizer, as separate nodes.

  ros2 launch facekp_ros pipeline.launch.py
  ros2 launch facekp_ros pipeline.launch.py use_camera:=false camera_topic:=/my_cam/image_raw
  ros2 launch facekp_ros pipeline.launch.py params_file:=/path/to/my_pipeline.yaml
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    params_file = LaunchConfiguration('params_file')
    camera_topic = LaunchConfiguration('camera_topic')
    arguments = [
        DeclareLaunchArgument(
            'params_file', description='Parameters of every node (see config/pipeline.yaml).',
            default_value=PathJoinSubstitution(
                [FindPackageShare('facekp_ros'), 'config', 'pipeline.yaml'])),
        DeclareLaunchArgument(
            'camera_topic', default_value='/camera/image_raw',
            description='sensor_msgs/Image topic the face nodes read.'),
        DeclareLaunchArgument(
            'use_camera', default_value='true',
            description='Start facekp_ros camera_node on camera_topic; false to use your '
                        'own camera driver.'),
    ]

    def face_node(executable, name):
        return Node(package='facekp_ros', executable=executable, name=name,
                    parameters=[params_file], remappings=[('image', camera_topic)],
                    output='screen')

    nodes = [
        Node(package='facekp_ros', executable='camera_node', name='camera',
             parameters=[params_file], remappings=[('image_raw', camera_topic)],
             condition=IfCondition(LaunchConfiguration('use_camera')), output='screen'),
        face_node('detector_node', 'face_detector'),
        face_node('keypoint_node', 'keypoint_estimator'),
        face_node('anonymizer_node', 'face_anonymizer'),
        face_node('visualizer_node', 'face_visualizer'),
    ]
    return LaunchDescription(arguments + nodes)
