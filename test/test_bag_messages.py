"""`facekp bag` on every image in every message: foxglove_msgs images, images nested in
custom types and in arrays, depth copied unchanged, video refused, odd compressed formats;
each checked against the input (counts, bytes, faces hidden by the privacy-scoring rule)."""
import json

import bag_builders as bb
import cv2
import numpy as np
import pytest

from facekp_ros.bag_images import decode_image


def _pixels(msg):
    return decode_image(msg).pixels


@pytest.fixture(scope='module')
def faces(data):
    return bb.face_frames(data, count=2)


def foxglove_and_custom_messages(faces):
    """Topics as a Foxglove / mcap recording holds them, and a String topic."""
    messages = []
    for sec, (frame, _) in enumerate(faces):
        rgb = np.ascontiguousarray(frame[..., ::-1])
        messages += [
            ('/foxglove/compressed', bb.T['foxglove_msgs/msg/CompressedImage'](
                timestamp=bb.time(sec), frame_id='cam', data=np.frombuffer(bb.jpeg(frame),
                                                                           np.uint8),
                format='jpeg')),
            ('/foxglove/raw', bb.T['foxglove_msgs/msg/RawImage'](
                timestamp=bb.time(sec), frame_id='cam', width=640, height=480,
                encoding='rgb8', step=640 * 3, data=np.frombuffer(rgb.tobytes(), np.uint8))),
            ('/stereo', bb.T['rig_msgs/msg/StereoPair'](
                header=bb.header(sec), left=bb.image(frame, 'bgr8', sec),
                right=bb.image(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 'mono8', sec),
                baseline=0.12)),
            ('/rig', bb.T['rig_msgs/msg/Rig'](name='rig', cameras=[
                bb.T['rig_msgs/msg/Camera'](name=name, image=bb.compressed(bb.jpeg(frame),
                                                                           'jpeg', sec))
                for name in ('front', 'back')])),
            ('/chatter', bb.T['std_msgs/msg/String'](data=f'hello {sec}')),
        ]
    return messages


def test_every_image_in_every_message_is_anonymized(tmp_path, faces):
    source, target = tmp_path / 'in', tmp_path / 'out'
    bb.write(source, foxglove_and_custom_messages(faces))
    code, out, err = bb.facekp_bag(source, target)
    assert code == 0 and 'Traceback' not in err, err
    before, after = bb.read(source), bb.read(target)
    assert [(t, m) for t, m, *_ in after] == [(t, m) for t, m, *_ in before]  # counts, order
    hidden = 0
    for (topic, _, _, raw_in, msg_in), (_, _, _, raw_out, msg_out) in zip(before, after):
        if topic == '/chatter':
            assert raw_out == raw_in
            continue
        frame_index = msg_in.timestamp.sec if topic.startswith('/foxglove') \
            else msg_in.header.stamp.sec if topic == '/stereo' \
            else msg_in.cameras[0].image.header.stamp.sec
        points = faces[frame_index][1]
        if topic == '/stereo':
            pairs = [(msg_in.left, msg_out.left), (msg_in.right, msg_out.right)]
            assert msg_out.baseline == msg_in.baseline
        elif topic == '/rig':
            pairs = [(a.image, b.image) for a, b in zip(msg_in.cameras, msg_out.cameras)]
            assert [c.name for c in msg_out.cameras] == ['front', 'back']
        else:
            pairs = [(msg_in, msg_out)]
        for image_in, image_out in pairs:
            assert image_out.__msgtype__ == image_in.__msgtype__
            lossy = hasattr(image_in, 'format')
            if lossy:
                assert image_out.format == image_in.format
            else:
                assert image_out.encoding == image_in.encoding
            assert bb.hidden(_pixels(image_in), _pixels(image_out), points, lossy), topic
            hidden += 1
        assert raw_out != raw_in
    assert hidden == 2 * 6  # two frames, six images each
    report = json.loads((target / 'privacy_report.json').read_text())
    assert report['/chatter'] == {'msgtype': 'std_msgs/msg/String',
                                  'action': 'holds no image: copied unchanged'}
    assert report['/stereo']['image_fields'] == ['left', 'right']
    assert report['/rig']['image_fields'] == ['cameras[]/image']
    for topic in ('/foxglove/compressed', '/foxglove/raw', '/stereo', '/rig'):
        images = {'/stereo': 4, '/rig': 4}.get(topic, 2)
        assert report[topic]['action'] == 'anonymized'
        assert report[topic]['frames'] == images and report[topic]['faces_seen'] >= images
    assert '/stereo (rig_msgs/msg/StereoPair): anonymized (frames 4,' in out


def test_a_topic_of_video_frames_fails_the_bag_in_one_line(tmp_path, faces):
    source, target = tmp_path / 'in', tmp_path / 'out'
    video = bb.T['foxglove_msgs/msg/CompressedVideo'](
        timestamp=bb.time(0), frame_id='cam', data=np.zeros(100, np.uint8), format='h264')
    bb.write(source, [('/chatter', bb.T['std_msgs/msg/String'](data='x')),
                      ('/camera/h264', video)])
    code, out, err = bb.facekp_bag(source, target)
    assert code == 2 and 'Traceback' not in err
    assert err.strip().count('\n') == 0 and '/camera/h264' in err and 'video' in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in']  # nothing written


def compressed_depth(depth16) -> bytes:
    """image_transport's compressedDepth payload: its 12-byte ConfigHeader (format PNG = 1,
    two depth-quantization floats), then a 16-bit PNG."""
    config = np.array([1], '<i4').tobytes() + np.zeros(2, '<f4').tobytes()
    return config + cv2.imencode('.png', depth16)[1].tobytes()


def test_depth_is_copied_byte_identical_and_infrared_is_anonymized(tmp_path, faces):
    """Depth by compressedDepth format, by topic name, by frame_id and by --depth-topics is
    copied byte for byte, although it holds a face's shape; mono16 infrared and a 16UC1
    image on a camera topic are anonymized as before."""
    source, target = tmp_path / 'in', tmp_path / 'out'
    messages = []
    for sec, (frame, _) in enumerate(faces):
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        depth16 = (grey.astype(np.uint16) * 16 + 400)
        metres = depth16.astype(np.float32) / 1000
        metres[::7, ::5] = np.nan  # holes, as stereo depth has them
        messages += [
            ('/camera/depth/image_rect_raw', bb.image(depth16, '16UC1', sec, 'cam_depth')),
            ('/camera/depth/image_rect_raw/compressedDepth',
             bb.compressed(compressed_depth(depth16), '16UC1; compressedDepth png', sec)),
            ('/stereo/points_image', bb.image(metres, '32FC1', sec, 'camera_depth_optical')),
            ('/lidar/range', bb.image(metres, '32FC1', sec, 'lidar')),
            ('/foxglove/depth', bb.T['foxglove_msgs/msg/RawImage'](
                timestamp=bb.time(sec), frame_id='cam', width=640, height=480,
                encoding='16UC1', step=1280, data=np.frombuffer(depth16.tobytes(), np.uint8))),
            ('/ir/image_raw', bb.image(depth16, 'mono16', sec, 'ir', bigendian=1)),
            ('/camera/raw16', bb.image(depth16, '16UC1', sec, 'cam')),
        ]
    bb.write(source, messages, bb.StoragePlugin.SQLITE3)
    code, out, err = bb.facekp_bag(source, target, '--depth-topics', '/lidar/range')
    assert code == 0 and 'Traceback' not in err and 'left out' not in err, err
    before, after = bb.read(source), bb.read(target)
    assert [(t, s) for t, _, s, *_ in after] == [(t, s) for t, _, s, *_ in before]
    report = json.loads((target / 'privacy_report.json').read_text())
    depth = {'/camera/depth/image_rect_raw', '/camera/depth/image_rect_raw/compressedDepth',
             '/stereo/points_image', '/lidar/range', '/foxglove/depth'}
    for (topic, _, _, raw_in, msg_in), (_, _, _, raw_out, msg_out) in zip(before, after):
        if topic in depth:
            assert raw_out == raw_in, topic
            continue
        points = faces[msg_in.header.stamp.sec][1]
        assert bb.hidden(_pixels(msg_in), _pixels(msg_out), points, lossy=False), topic
        assert msg_out.encoding == msg_in.encoding
    for topic in depth:
        assert report[topic]['action'] == 'depth images copied unchanged', topic
        assert report[topic]['depth_frames'] == report[topic]['frames'] == 2
    for topic in ('/ir/image_raw', '/camera/raw16'):
        assert report[topic]['action'] == 'anonymized' and report[topic]['depth_frames'] == 0


@pytest.mark.parametrize('image_format, codec', [('', 'jpg'), ('image/jpeg', 'jpg'),
                                                 ('', 'png'), ('image/png', 'png'),
                                                 ('bgr8; compressed', 'jpg')])
def test_formats_that_name_no_codec_are_read_by_their_content(tmp_path, faces, image_format,
                                                               codec):
    source, target = tmp_path / 'in', tmp_path / 'out'
    frame, points = faces[0]
    data = cv2.imencode('.' + codec, frame)[1].tobytes()
    bb.write(source, [('/cam/compressed', bb.compressed(data, image_format)),
                      ('/chatter', bb.T['std_msgs/msg/String'](data='x'))])
    code, _, err = bb.facekp_bag(source, target)
    assert code == 0 and 'Traceback' not in err and 'left out' not in err, err
    (_, _, _, _, msg_in), chatter_in = bb.read(source)
    (_, _, _, _, msg_out), chatter_out = bb.read(target)
    assert chatter_out[3] == chatter_in[3]
    assert msg_out.format == image_format
    magic = {'jpg': b'\xff\xd8\xff', 'png': b'\x89PNG'}[codec]
    assert bytes(msg_out.data[:len(magic)]) == magic  # written in the codec it came in
    assert bb.hidden(_pixels(msg_in), _pixels(msg_out), points, lossy=codec == 'jpg')


def test_codec_of_reads_the_content_then_the_format():
    from facekp_ros.core.image_codec import ImageCodecError, codec_of

    assert codec_of('', b'\xff\xd8\xff\xe0') == 'jpg'
    assert codec_of('png', b'\xff\xd8\xff\xe0') == 'jpg'  # the data is what it is
    assert codec_of('image/png') == 'png' and codec_of('rgb8; jpeg compressed bgr8') == 'jpeg'
    assert codec_of('', b'RIFF\x10\x00\x00\x00WEBPVP8 ') == 'webp'
    with pytest.raises(ImageCodecError, match="format '' names no codec"):
        codec_of('', b'\x00\x01')


def test_depth_topics_reach_every_bag_of_a_multi_bag_run(tmp_path, faces):
    frame, _ = faces[0]
    metres = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32) / 100
    for name in ('a', 'b'):
        bb.write(tmp_path / 'in' / name, [('/lidar/range', bb.image(metres, '32FC1', 0, 'lidar'))])
    out = tmp_path / 'out'
    code, _, err = bb.facekp_bag(tmp_path / 'in', '--out', out, '--depth-topics', '/lidar/range')
    assert code == 0, err
    for name in ('a', 'b'):
        assert bb.read(out / name)[0][3] == bb.read(tmp_path / 'in' / name)[0][3]
    code, printed, _ = bb.facekp_bag(tmp_path / 'in', '--out', out, '--depth-topics',
                                     '/lidar/range')
    assert code == 0 and '2 already done' in printed
    code, printed, err = bb.facekp_bag(tmp_path / 'in', '--out', out)  # not depth any more
    assert code == 0 and '2 anonymized' in printed and 'settings changed' in err
    assert bb.read(out / 'a')[0][3] != bb.read(tmp_path / 'in' / 'a')[0][3]
