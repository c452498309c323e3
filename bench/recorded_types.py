"""Message types that recordings hold beside the standard ones, as .msg definitions, and a
typestore that knows them: what Foxglove's tools and mcap recorders, and a custom camera
rig, put in a bag. Registered in the writer's typestore, they are stored in the bag, so a
reader (and facekp) knows them from the bag alone."""
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

# foxglove_msgs as the foxglove schemas define them (current field order, with frame_id).
FOXGLOVE = {
    'foxglove_msgs/msg/CompressedImage':
        'builtin_interfaces/Time timestamp\nstring frame_id\nuint8[] data\nstring format\n',
    'foxglove_msgs/msg/RawImage':
        'builtin_interfaces/Time timestamp\nstring frame_id\nuint32 width\nuint32 height\n'
        'string encoding\nuint32 step\nuint8[] data\n',
    'foxglove_msgs/msg/CompressedVideo':
        'builtin_interfaces/Time timestamp\nstring frame_id\nuint8[] data\nstring format\n',
}
# A custom stereo message and a message with an array of images (a camera rig).
CUSTOM = {
    'rig_msgs/msg/StereoPair':
        'std_msgs/Header header\nsensor_msgs/Image left\nsensor_msgs/Image right\n'
        'float64 baseline\n',
    'rig_msgs/msg/Rig': 'string name\nrig_msgs/Camera[] cameras\n',
    'rig_msgs/msg/Camera': 'string name\nsensor_msgs/CompressedImage image\n',
}


def typestore():
    """Jazzy's types and the ones above."""
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for name, text in {**FOXGLOVE, **CUSTOM}.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store
