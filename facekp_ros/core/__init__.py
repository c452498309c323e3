"""ROS-free core: numpy, OpenCV and onnxruntime only. Never import rclpy or *_msgs here."""
