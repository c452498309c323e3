"""Images out of ROS 2 bags (sqlite3 or mcap) with rosbags: no ROS install needed."""
import pathlib

from rosbags.highlevel import AnyReader

from facekp_ros.image_bridge import check_image, decode_compressed, image_to_bgr8, read_pixels

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'


def image_connections(reader, topic: str = '') -> list:
    """The bag's connections of one image topic: topic, or the first image topic found."""
    images = [c for c in reader.connections if c.msgtype in (IMAGE, COMPRESSED)]
    if topic:
        images = [c for c in images if c.topic == topic]
    if not images:
        topics = ', '.join(sorted({f'{c.topic} ({c.msgtype})' for c in reader.connections}))
        wanted = f'topic {topic!r}' if topic else 'Image or CompressedImage topic'
        raise ValueError(f'bag has no {wanted}; its topics: {topics or "none"}')
    return [c for c in images if c.topic == images[0].topic]


def message_to_bgr8(msg, msgtype: str):
    """A deserialized rosbags Image / CompressedImage as uint8 BGR (ValueError when bad)."""
    if msgtype == COMPRESSED:
        return image_to_bgr8(*decode_compressed(msg))
    encoding = check_image(msg)
    return image_to_bgr8(read_pixels(msg, encoding), encoding)


def bag_frames(path: pathlib.Path, topic: str = ''):
    """Yields every frame of one image topic of the bag at path, in time order."""
    try:
        reader = AnyReader([pathlib.Path(path)])
        reader.open()
    except Exception as error:  # noqa: BLE001 - rosbags raises many types for a bad bag
        raise ValueError(f'cannot read bag {path}: {error}') from error
    try:
        connections = image_connections(reader, topic)
        for connection, _, raw in reader.messages(connections=connections):
            yield message_to_bgr8(reader.deserialize(raw, connection.msgtype),
                                  connection.msgtype)
    finally:
        reader.close()
