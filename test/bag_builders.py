"""Bags for the `facekp bag` tests, written the way recorders write them: rosbags' Writer
(as rosbag2 does) with each type's .msg definition registered in the bag's typestore
(bench/recorded_types.py), so a reader knows the types from the bag alone."""
import subprocess
import sys

import cv2
import numpy as np
from images import faces68_test_image
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from bench import privacy_frames as pf
from bench import recorded_types

STORE = recorded_types.typestore()
T = STORE.types


def time(sec: int):
    return T['builtin_interfaces/msg/Time'](sec=sec, nanosec=0)


def header(sec: int, frame_id: str = 'cam'):
    return T['std_msgs/msg/Header'](stamp=time(sec), frame_id=frame_id)


def image(pixels, encoding: str, sec: int = 1, frame_id: str = 'cam', bigendian: int = 0):
    pixels = pixels.astype(pixels.dtype.newbyteorder('>' if bigendian else '<'))
    return T['sensor_msgs/msg/Image'](
        header=header(sec, frame_id), height=pixels.shape[0], width=pixels.shape[1],
        encoding=encoding, is_bigendian=bigendian, step=pixels.nbytes // pixels.shape[0],
        data=np.frombuffer(pixels.tobytes(), np.uint8))


def compressed(data: bytes, image_format: str, sec: int = 1):
    return T['sensor_msgs/msg/CompressedImage'](
        header=header(sec), format=image_format, data=np.frombuffer(data, np.uint8))


def jpeg(bgr) -> bytes:
    return cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def face_frames(data, count: int = 2):
    """[(640x480 bgr frame, (68, 2) points)]: a faces68 test face, about 150 px wide, on a
    blurred background of another one."""
    frames = []
    for index in range(count):
        face, points = faces68_test_image(data, index)
        scale = 150 / np.ptp(points[:, 0])
        face = cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        background, _ = faces68_test_image(data, index + 50)
        frame = cv2.GaussianBlur(cv2.resize(background, (640, 480)), (0, 0), 10)
        h, w = min(face.shape[0], 400), min(face.shape[1], 500)
        x, y = 100 + 40 * index, 40
        frame[y:y + h, x:x + w] = face[:h, :w]
        frames.append((frame, points * scale + (x, y)))
    return frames


def write(path, messages, plugin=StoragePlugin.MCAP, store=STORE):
    """A bag of messages [(topic, message)], one message per 100 ns, in that order."""
    with Writer(path, version=8, storage_plugin=plugin) as writer:
        conns = {}
        for index, (topic, msg) in enumerate(messages):
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=store)
            writer.write(conns[topic], index * 100, store.serialize_cdr(msg, msg.__msgtype__))


def read(path) -> list:
    """[(topic, msgtype, stamp, raw bytes, message)] as a reader sees the bag alone."""
    with AnyReader([path]) as reader:
        return [(c.topic, c.msgtype, stamp, bytes(raw), reader.deserialize(raw, c.msgtype))
                for c, stamp, raw in reader.messages()]


def hidden(before, after, points, lossy: bool) -> bool:
    """The privacy-scoring rule on one labelled face: pixels before and after."""
    inp, out = pf.grey_levels(before, before), pf.grey_levels(after, before)
    return pf.score_face(inp, out, points, lossy).hidden


def facekp_bag(*args):
    """The facekp command as a user runs it: (exit code, stdout, stderr)."""
    done = subprocess.run([sys.executable, '-m', 'facekp_ros.cli', 'bag', *map(str, args),
                           '--quiet'], capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout, done.stderr
