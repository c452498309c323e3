"""Camera sources: sample, image folder, image file, video file, bags, and clear errors."""
import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from facekp_ros.sources import open_source, sample_frame

STORE = get_typestore(Stores.ROS2_JAZZY)
T = STORE.types


def grey(value: int, shape=(20, 30)) -> np.ndarray:
    return np.full((*shape, 3), value, np.uint8)


def write_folder(folder, values) -> None:
    folder.mkdir(exist_ok=True)
    for index, value in enumerate(values):
        cv2.imwrite(str(folder / f'frame{index}.png'), grey(value))


def write_video(path, values, fps=10) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, (64, 48))
    for value in values:
        writer.write(grey(value, (48, 64)))
    writer.release()


def image_msgs(frame):
    """An rgb8 Image and a JPEG CompressedImage of frame, as rosbags messages."""
    header = T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](sec=1, nanosec=0),
                                      frame_id='cam')
    raw = T['sensor_msgs/msg/Image'](
        header=header, height=frame.shape[0], width=frame.shape[1], encoding='rgb8',
        is_bigendian=0, step=frame.shape[1] * 3,
        data=np.ascontiguousarray(frame[..., ::-1]).reshape(-1))
    jpeg = T['sensor_msgs/msg/CompressedImage'](
        header=header, format='jpeg', data=cv2.imencode('.jpg', frame)[1].reshape(-1))
    return raw, jpeg


def write_bag(path, topics: dict, count: int = 2, plugin=StoragePlugin.SQLITE3) -> None:
    """count messages on each of topics {name: message}, 0.1 s apart."""
    with Writer(path, version=8, storage_plugin=plugin) as writer:
        connections = {topic: writer.add_connection(topic, msg.__msgtype__, typestore=STORE)
                       for topic, msg in topics.items()}
        for index in range(count):
            for topic, msg in topics.items():
                writer.write(connections[topic], index * 100_000_000,
                             STORE.serialize_cdr(msg, msg.__msgtype__))


def test_sample_is_one_frame_with_four_faces_repeated_as_copies():
    from facekp_ros.core.retinaface import RetinaFaceDetector

    source = open_source('sample')
    first, second = source.read(), source.read()
    assert first.shape == (480, 640, 3) and first.dtype == np.uint8
    assert np.array_equal(first, second) and first is not second
    assert len(RetinaFaceDetector().detect(first)) == 4
    assert source.description == 'built-in sample'


def test_folder_is_read_in_natural_order_and_ends_without_loop(tmp_path):
    for index, value in ((2, 20), (10, 100), (1, 10)):
        cv2.imwrite(str(tmp_path / f'frame{index}.png'), grey(value))
    (tmp_path / 'notes.txt').write_text('not an image')
    with open_source(str(tmp_path), loop=False) as source:
        assert [int(frame[0, 0, 0]) for frame in source] == [10, 20, 100]
        assert source.read() is None


def test_folder_loops_and_skips_undecodable_images_saying_which(tmp_path):
    write_folder(tmp_path, (0, 50))
    (tmp_path / 'frame1.png').write_bytes(b'not a png')
    skipped = []
    source = open_source(str(tmp_path), loop=True, on_skip=skipped.append)
    assert [int(source.read()[0, 0, 0]) for _ in range(3)] == [0, 0, 0]
    assert source.skipped == 2 and 'frame1.png' in skipped[0]  # once per pass


def test_resize_to_both_sides_or_to_one_keeping_the_aspect_ratio(tmp_path):
    write_folder(tmp_path, (0,))  # 30 x 20
    assert open_source(str(tmp_path), width=60, height=40).read().shape == (40, 60, 3)
    assert open_source(str(tmp_path), width=90).read().shape == (60, 90, 3)
    assert open_source(str(tmp_path), height=10).read().shape == (10, 15, 3)


def test_image_file_repeats_and_ends_after_one_frame_without_loop(tmp_path):
    path = tmp_path / 'still.jpg'
    cv2.imwrite(str(path), sample_frame())
    assert open_source(str(path)).read().shape == (480, 640, 3)
    source = open_source(str(path), loop=False)
    assert source.read() is not None and source.read() is None


def test_video_file_plays_to_its_end_or_loops(tmp_path):
    path = tmp_path / 'clip.avi'
    write_video(path, (0, 120, 240))
    with open_source(str(path), loop=False) as source:
        frames = list(source)
    assert len(frames) == 3 and all(f.shape == (48, 64, 3) for f in frames)
    assert source.fps == pytest.approx(10, abs=0.5)
    with open_source(str(path), loop=True) as source:
        values = [int(source.read()[0, 0, 0]) for _ in range(5)]
    assert values[3] == pytest.approx(values[0], abs=10)  # back to the start
    assert values[4] == pytest.approx(values[1], abs=10)


@pytest.mark.parametrize('plugin', [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
def test_bag_image_and_compressed_topics(tmp_path, plugin):
    frame = sample_frame()
    raw, jpeg = image_msgs(frame)
    text = T['std_msgs/msg/String'](data='hello')
    bag = tmp_path / 'bag'
    write_bag(bag, {'/chatter': text, '/cam/raw': raw, '/cam/jpeg': jpeg}, plugin=plugin)
    with open_source(str(bag), loop=False) as source:  # the first image topic: /cam/raw
        frames = list(source)
    assert len(frames) == 2 and np.array_equal(frames[0], frame)
    assert source.fps == pytest.approx(10, rel=0.01)
    with open_source(str(bag), bag_topic='/cam/jpeg', loop=False) as source:
        assert np.abs(source.read().astype(int) - frame).mean() < 5
    bag_file = next(bag.glob('*.mcap' if plugin == StoragePlugin.MCAP else '*.db3'))
    assert np.array_equal(open_source(str(bag_file), bag_topic='/cam/raw').read(), frame)


def test_bag_messages_that_cannot_be_decoded_are_skipped_saying_which(tmp_path):
    good, _ = image_msgs(grey(10))
    broken = T['sensor_msgs/msg/Image'](header=good.header, height=20, width=30,
                                        encoding='bgr8', is_bigendian=0, step=90,
                                        data=np.zeros(10, np.uint8))
    with Writer(tmp_path / 'bag', version=8) as writer:
        connection = writer.add_connection('/cam/raw', good.__msgtype__, typestore=STORE)
        for stamp_ns, msg in enumerate((good, broken, good)):
            writer.write(connection, stamp_ns, STORE.serialize_cdr(msg, msg.__msgtype__))
    skipped = []
    with open_source(str(tmp_path / 'bag'), loop=False, on_skip=skipped.append) as source:
        assert len(list(source)) == 2 and source.skipped == 1
    assert skipped[0].startswith(f"bag {tmp_path / 'bag'}: skipped /cam/raw message at 1 ns")


def test_bag_errors_list_its_topics(tmp_path):
    bag = tmp_path / 'bag'
    raw, _ = image_msgs(grey(10))
    write_bag(bag, {'/cam/raw': raw, '/chatter': T['std_msgs/msg/String'](data='x')})
    with pytest.raises(ValueError, match="no topic '/other'.*/cam/raw.*bag_topic"):
        open_source(str(bag), bag_topic='/other')
    text_only = tmp_path / 'text_only'
    write_bag(text_only, {'/chatter': T['std_msgs/msg/String'](data='x')})
    with pytest.raises(ValueError, match='no Image or CompressedImage topic.*/chatter'):
        open_source(str(text_only))
    (tmp_path / 'broken.mcap').write_bytes(b'not a bag')
    with pytest.raises(ValueError, match='cannot read bag .*broken.mcap'):
        open_source(str(tmp_path / 'broken.mcap'))


def test_errors_name_the_source_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="'.*nope.mp4' does not exist: give a camera"):
        open_source(str(tmp_path / 'nope.mp4'))
    with pytest.raises(ValueError, match='no images .* in folder'):
        open_source(str(tmp_path))
    (tmp_path / 'broken.mp4').write_bytes(b'not a video')
    with pytest.raises(ValueError, match='cannot open video file .*broken.mp4: check'):
        open_source(str(tmp_path / 'broken.mp4'))
    (tmp_path / 'broken.jpg').write_bytes(b'not an image')
    with pytest.raises(ValueError, match='cannot decode image .*broken.jpg'):
        open_source(str(tmp_path / 'broken.jpg'))
    write_video(tmp_path / 'empty.avi', ())
    with pytest.raises(ValueError, match='empty.avi'):
        open_source(str(tmp_path / 'empty.avi'))
    with pytest.raises(FileNotFoundError, match='no camera at /dev/video99'):
        open_source('/dev/video99')
    with pytest.raises(ValueError, match='cannot open camera 99: check that the camera'):
        open_source('99')
    with pytest.raises(ValueError, match='source is empty'):
        open_source('')
    with pytest.raises(ValueError, match='width and height'):
        open_source('sample', width=-1)


def test_folder_of_undecodable_images_fails_when_opened(tmp_path):
    (tmp_path / 'a.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match='folder .* no frame that can be decoded: a.png'):
        open_source(str(tmp_path), on_skip=lambda reason: None)
