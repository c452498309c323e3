"""Camera -> detector -> keypoints -> anonymizer + visualizer, as separate nodes, or all of
them in one process (pipeline_node) with single_process:=true.

  ros2 launch facekp_ros pipeline.launch.py
  ros2 launch facekp_ros pipeline.launch.py single_process:=true source:=0 rviz:=true
  ros2 launch facekp_ros pipeline.launch.py namespace:=robot1
  ros2 launch facekp_ros pipeline.launch.py use_camera:=false camera_topic:=/my_cam/image_raw
  ros2 launch facekp_ros pipeline.launch.py params_file:=/path/to/my_pipeline.yaml
  ros2 launch facekp_ros pipeline.launch.py image_transport:=compressed compressed_format:=jpeg
  ros2 launch facekp_ros pipeline.launch.py lifecycle:=true   # then: ros2 lifecycle set ...

The camera runs in the namespace 'camera' (image_raw and camera_info side by side, as
image_pipeline and rviz2 expect); every node runs under `namespace`. With single_process
the camera is read inside pipeline_node: no raw image is ever on the wire. With lifecycle
the face nodes start unconfigured (models load on configure, work runs while active).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import (
    AndSubstitution,
    LaunchConfiguration,
    NotSubstitution,
    PathJoinSubstitution,
)
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare

SHARE = FindPackageShare('facekp_ros')


def generate_launch_description():
    params_file = LaunchConfiguration('params_file')
    camera_topic = LaunchConfiguration('camera_topic')
    inputs = [('image', camera_topic), ('camera_info', LaunchConfiguration('camera_info_topic'))]
    source = LaunchConfiguration('source')
    use_camera = LaunchConfiguration('use_camera')
    single_process = LaunchConfiguration('single_process')
    # How the face nodes read camera_topic and publish; these override params_file.
    io = {name: LaunchConfiguration(name) for name in (
        'image_transport', 'compressed_format', 'input_reliability', 'input_depth',
        'output_depth')}
    arguments = [
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of every node and topic.'),
        DeclareLaunchArgument(
            'params_file', description='Parameters of every node (see config/pipeline.yaml).',
            default_value=PathJoinSubstitution([SHARE, 'config', 'pipeline.yaml'])),
        DeclareLaunchArgument(
            'source', default_value='sample',
            description="What the camera reads: a camera index ('0') or /dev/videoN, a video, "
                        "an image or folder, a bag, or 'sample' (overrides params_file)."),
        DeclareLaunchArgument(
            'camera_topic', default_value='camera/image_raw',
            description='sensor_msgs/Image topic the face nodes read (relative: in namespace).'),
        DeclareLaunchArgument(
            'camera_info_topic', default_value='camera/camera_info',
            description='sensor_msgs/CameraInfo topic whose intrinsics the head poses use.'),
        DeclareLaunchArgument(
            'use_camera', default_value='true',
            description='Start the camera (camera_node, or inside pipeline_node); false to '
                        'use your own camera driver on camera_topic.'),
        DeclareLaunchArgument(
            'single_process', default_value='false',
            description='All stages in one process (pipeline_node) instead of separate nodes.'),
        DeclareLaunchArgument(
            'image_transport', default_value='raw',
            description="'compressed': read sensor_msgs/CompressedImage on "
                        "'<camera_topic>/compressed' (image_transport's convention)."),
        DeclareLaunchArgument(
            'compressed_format', default_value='none',
            description="'jpeg' or 'png': also publish image_anonymized/compressed and "
                        'image_annotated/compressed (encoded after hiding).'),
        DeclareLaunchArgument(
            'input_reliability', default_value='best_effort',
            description="QoS of the camera subscription: 'best_effort' or 'reliable'."),
        DeclareLaunchArgument('input_depth', default_value='1',
                              description='QoS history depth of the camera subscription.'),
        DeclareLaunchArgument('output_depth', default_value='5',
                              description='QoS history depth of every output.'),
        DeclareLaunchArgument(
            'lifecycle', default_value='false',
            description='Run the face nodes as managed (lifecycle) nodes, unconfigured until '
                        'a lifecycle manager or `ros2 lifecycle set` configures them.'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='Start rviz2 showing the annotated and anonymized '
                                          'images and the face markers.'),
    ]
    separate = UnlessCondition(single_process)
    managed = ['--lifecycle', LaunchConfiguration('lifecycle')]

    def face_node(executable, name):
        return Node(package='facekp_ros', executable=executable, name=name,
                    parameters=[params_file, io], remappings=inputs, condition=separate,
                    arguments=managed, output='screen')

    nodes = [
        PushRosNamespace(LaunchConfiguration('namespace')),
        Node(package='facekp_ros', executable='camera_node', name='camera', namespace='camera',
             parameters=[params_file, {'source': source}],
             condition=IfCondition(AndSubstitution(use_camera, NotSubstitution(single_process))),
             output='screen'),
        face_node('detector_node', 'face_detector'),
        face_node('keypoint_node', 'keypoint_estimator'),
        face_node('anonymizer_node', 'face_anonymizer'),
        face_node('visualizer_node', 'face_visualizer'),
        Node(package='facekp_ros', executable='pipeline_node', name='face_pipeline',
             parameters=[params_file, io, {'source': source}], arguments=managed,
             condition=IfCondition(AndSubstitution(single_process, use_camera)),
             output='screen'),
        Node(package='facekp_ros', executable='pipeline_node', name='face_pipeline',
             parameters=[params_file, io, {'source': ''}], remappings=inputs,
             arguments=managed,
             condition=IfCondition(AndSubstitution(single_process, NotSubstitution(use_camera))),
             output='screen'),
        Node(package='rviz2', executable='rviz2', name='rviz2', output='screen',
             arguments=['-d', PathJoinSubstitution([SHARE, 'config', 'facekp.rviz'])],
             condition=IfCondition(LaunchConfiguration('rviz'))),
    ]
    return LaunchDescription(arguments + [GroupAction(nodes)])
