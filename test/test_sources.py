"""Camera sources: sample, image folder, video file, bag, and clear errors."""
import cv2
import numpy as np
import pytest

from facekp_ros.core.sources import open_source, sample_frame


def test_sample_has_four_faces_and_loops():
    source = open_source('sample')
    first, second = source.read(), source.read()
    assert first.shape == (480, 640, 3) and np.array_equal(first, second)
    from facekp_ros.core.retinaface import RetinaFaceDetector
    assert len(RetinaFaceDetector().detect(first)) == 4


def test_folder_is_read_in_order_resized_and_ends_without_loop(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f'{i}.png'), np.full((20, 30, 3), i * 50, np.uint8))
    source = open_source(str(tmp_path), width=60, height=40, loop=False)
    frames = [source.read() for _ in range(4)]
    assert [f[0, 0, 0] for f in frames[:3]] == [0, 50, 100] and frames[3] is None
    assert frames[0].shape == (40, 60, 3)


def test_video_file_loops(tmp_path):
    path = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 60 * i, np.uint8))
    writer.release()
    source = open_source(str(path), loop=True)
    frames = [source.read() for _ in range(5)]
    assert all(f.shape == (48, 64, 3) for f in frames)
    assert abs(int(frames[3][0, 0, 0]) - int(frames[0][0, 0, 0])) < 10  # back to the start
    assert source.fps == pytest.approx(10, abs=1)
    source.close()


def test_bag_images_raw_and_compressed(tmp_path):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    Image = store.types['sensor_msgs/msg/Image']
    Compressed = store.types['sensor_msgs/msg/CompressedImage']
    Header = store.types['std_msgs/msg/Header']
    Time = store.types['builtin_interfaces/msg/Time']
    frame = sample_frame()
    header = Header(stamp=Time(sec=1, nanosec=0), frame_id='cam')
    raw = Image(header=header, height=480, width=640, encoding='rgb8', is_bigendian=0,
                step=640 * 3, data=np.ascontiguousarray(frame[..., ::-1]).reshape(-1))
    jpeg = Compressed(header=header, format='jpeg',
                      data=np.frombuffer(cv2.imencode('.jpg', frame)[1].tobytes(), np.uint8))
    bag = tmp_path / 'bag'
    with Writer(bag, version=8) as writer:
        raw_conn = writer.add_connection('/cam/raw', Image.__msgtype__, typestore=store)
        jpg_conn = writer.add_connection('/cam/jpg', Compressed.__msgtype__, typestore=store)
        for t in range(2):
            writer.write(raw_conn, t, store.serialize_cdr(raw, Image.__msgtype__))
            writer.write(jpg_conn, t, store.serialize_cdr(jpeg, Compressed.__msgtype__))
    raw_frame = open_source(str(bag), bag_topic='/cam/raw', loop=False).read()
    assert np.array_equal(raw_frame, frame)
    jpg_frame = open_source(str(bag), bag_topic='/cam/jpg', loop=False).read()
    assert np.abs(jpg_frame.astype(int) - frame).mean() < 5
    with pytest.raises(ValueError, match="no topic '/other'.*topics: /cam/jpg"):
        open_source(str(bag), bag_topic='/other').read()


def test_errors_name_the_source(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.mp4'):
        open_source(str(tmp_path / 'nope.mp4'))
    with pytest.raises(ValueError, match='no images'):
        open_source(str(tmp_path))
    (tmp_path / 'broken.mp4').write_bytes(b'not a video')
    with pytest.raises(ValueError, match='cannot open video file'):
        open_source(str(tmp_path / 'broken.mp4'))
    with pytest.raises(ValueError, match='cannot open camera device'):
        open_source('/dev/video99')
