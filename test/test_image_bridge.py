"""Image / CompressedImage <-> numpy through the codec (core.image_codec), on real messages."""
import sys

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from facekp_ros import image_bridge
from facekp_ros.core.image_codec import MAX_SIDE, from_array, to_bgr8
from facekp_ros.core.image_encodings import ImageCodecError, ImageEncodingError, parse_encoding

HOST_BIG_ENDIAN = int(sys.byteorder == 'big')
NAMED = ['bgr8', 'rgb8', 'bgra8', 'rgba8', 'mono8', 'mono16', 'bgr16', 'rgb16', 'bgra16',
         'rgba16', 'yuv422', 'yuv422_yuy2', 'uyvy', 'yuyv', 'bayer_rggb8', 'bayer_bggr8',
         'bayer_gbrg8', 'bayer_grbg8', 'bayer_rggb16']
GENERIC = ['8UC1', '8UC2', '8UC3', '8UC4', '8SC1', '16UC1', '16SC3', '32SC1', '32FC1', '32FC3',
           '64FC1', '64FC4', '8U']
BAYER_PATTERNS = ['rggb', 'bggr', 'gbrg', 'grbg']


@pytest.fixture(scope='module')
def bridge():
    return image_bridge


def _header():
    header = Header(frame_id='camera')
    header.stamp.sec, header.stamp.nanosec = 17, 250
    return header


def _msg(encoding, height, width, step, data, is_bigendian=HOST_BIG_ENDIAN):
    return Image(header=_header(), encoding=encoding, height=height, width=width, step=step,
                 is_bigendian=is_bigendian, data=bytes(data))


def _gradient(height=24, width=32):
    """Smooth BGR test image whose channels and axes all differ, so swaps are caught."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 7 % 256, yy * 9 % 256, 40 + xx * 3 + yy * 2], -1).astype(np.uint8)


def _random(encoding, height=6, width=8, seed=0):
    enc = parse_encoding(encoding)
    rng = np.random.default_rng(seed)
    shape = enc.shape(height, width)
    if enc.dtype.kind == 'f':
        return rng.normal(0, 1e3, shape).astype(enc.dtype)
    info = np.iinfo(enc.dtype)
    return rng.integers(info.min, info.max, shape, dtype=enc.dtype, endpoint=True)


def _mosaic(bgr, pattern):
    """The Bayer image a sensor with this 2x2 colour pattern would record of bgr."""
    plane = {'b': 0, 'g': 1, 'r': 2}
    raw = np.empty(bgr.shape[:2], bgr.dtype)
    for index, colour in enumerate(pattern):
        dy, dx = divmod(index, 2)
        raw[dy::2, dx::2] = bgr[dy::2, dx::2, plane[colour]]
    return raw


def _owns_its_memory(array, msg):
    return array.flags.writeable and not np.shares_memory(array, np.frombuffer(msg.data, np.uint8))


@pytest.mark.parametrize('encoding', NAMED + GENERIC)
def test_round_trip_keeps_pixels_and_fills_every_field(bridge, encoding):
    array = _random(encoding)
    header = _header()
    msg = bridge.cv2_to_imgmsg(array, encoding, header=header)
    pixel_bytes = parse_encoding(encoding).pixel_bytes
    assert (msg.encoding, msg.height, msg.width) == (encoding, 6, 8)
    assert msg.step == 8 * pixel_bytes and len(msg.data) == msg.step * 6
    assert msg.is_bigendian == HOST_BIG_ENDIAN
    assert msg.header == header and msg.header is not header
    back = bridge.imgmsg_to_cv2(msg)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert _owns_its_memory(back, msg)


def test_passthrough_names_the_encoding_after_the_array(bridge):
    assert bridge.cv2_to_imgmsg(np.zeros((2, 3), np.uint16)).encoding == '16UC1'
    assert bridge.cv2_to_imgmsg(np.zeros((2, 3, 3), np.float32)).encoding == '32FC3'
    assert bridge.cv2_to_imgmsg(np.zeros((2, 3, 1), np.uint8)).encoding == '8UC1'


def test_non_native_arrays_are_stored_in_host_order(bridge):
    values = np.array([[1, 258, 65535]], np.uint16)
    msg = bridge.cv2_to_imgmsg(values.astype(values.dtype.newbyteorder('S')), 'mono16')
    assert msg.is_bigendian == HOST_BIG_ENDIAN
    np.testing.assert_array_equal(bridge.imgmsg_to_cv2(msg), values)


def test_header_is_copied_not_shared(bridge):
    header = _header()
    msg = bridge.cv2_to_imgmsg(np.zeros((2, 2, 3), np.uint8), 'bgr8', header)
    header.frame_id = 'changed later'
    assert msg.header.frame_id == 'camera'
    assert bridge.cv2_to_imgmsg(np.zeros((2, 2), np.uint8)).header == Header()


@pytest.mark.parametrize('encoding', ['bgr8', 'mono16', '32FC1', 'yuv422', '64FC3'])
def test_row_padding_is_cropped_whatever_its_alignment(bridge, encoding):
    array = _random(encoding, height=5, width=4)
    row_bytes = array[0].nbytes
    step = row_bytes + 7  # odd padding: rows start unaligned for multi-byte types
    data = b''.join(row.tobytes() + b'\xab' * 7 for row in array)
    msg = _msg(encoding, 5, 4, step, data)
    back = bridge.imgmsg_to_cv2(msg)
    np.testing.assert_array_equal(back, array)
    assert back.flags.c_contiguous and _owns_its_memory(back, msg)


def test_extra_trailing_data_is_ignored(bridge):
    array = _random('mono8', 3, 4)
    np.testing.assert_array_equal(
        bridge.imgmsg_to_cv2(_msg('mono8', 3, 4, 4, array.tobytes() + b'\0' * 5)), array)


@pytest.mark.parametrize('encoding', ['mono16', '16UC1', '32FC1', 'bgr16', '64FC1'])
def test_byte_order_follows_is_bigendian(bridge, encoding):
    array = _random(encoding, 4, 5)
    big = _msg(encoding, 4, 5, array[0].nbytes, array.astype(array.dtype.newbyteorder('>')), 1)
    little = _msg(encoding, 4, 5, array[0].nbytes, array.astype(array.dtype.newbyteorder('<')), 0)
    for msg in (big, little):
        back = bridge.imgmsg_to_cv2(msg)
        assert back.dtype.isnative
        np.testing.assert_array_equal(back, array)


def test_one_byte_data_ignores_is_bigendian(bridge):
    array = _random('bgr8', 3, 4)
    np.testing.assert_array_equal(bridge.imgmsg_to_cv2(_msg('bgr8', 3, 4, 12, array, 1)), array)


@pytest.mark.parametrize('names, to_yuv, suffix', [
    (('yuv422', 'uyvy'), cv2.COLOR_BGR2YUV_UYVY, 'UYVY'),
    (('yuv422_yuy2', 'yuyv'), cv2.COLOR_BGR2YUV_YUY2, 'YUY2'),
])
def test_yuv422_matches_opencv_in_both_byte_orders(bridge, names, to_yuv, suffix):
    bgr = _gradient()
    yuv = cv2.cvtColor(bgr, to_yuv)
    for name in names:
        msg = bridge.cv2_to_imgmsg(yuv, name)
        np.testing.assert_array_equal(bridge.imgmsg_to_cv2(msg), yuv)
        out = bridge.to_bgr8(msg)
        assert np.abs(out.astype(int) - bgr).mean() < 3  # the colours really come back
        for target, code in (('bgr8', 'BGR'), ('rgb8', 'RGB'), ('mono8', 'GRAY'),
                             ('bgra8', 'BGRA')):
            expected = cv2.cvtColor(yuv, getattr(cv2, f'COLOR_YUV2{code}_{suffix}'))
            np.testing.assert_array_equal(bridge.imgmsg_to_cv2(msg, target), expected)
        np.testing.assert_array_equal(out, bridge.imgmsg_to_cv2(msg, 'bgr8'))


def test_yuv422_byte_orders_are_not_interchangeable(bridge):
    uyvy = cv2.cvtColor(_gradient(), cv2.COLOR_BGR2YUV_UYVY)
    right = bridge.to_bgr8(bridge.cv2_to_imgmsg(uyvy, 'yuv422'))
    wrong = bridge.to_bgr8(bridge.cv2_to_imgmsg(uyvy, 'yuv422_yuy2'))
    assert np.abs(right.astype(int) - wrong).mean() > 20


@pytest.mark.parametrize('pattern', BAYER_PATTERNS)
def test_bayer_is_demosaiced_to_the_recorded_colours(bridge, pattern):
    bgr = _gradient()
    msg = bridge.cv2_to_imgmsg(_mosaic(bgr, pattern), f'bayer_{pattern}8')
    out = bridge.to_bgr8(msg)
    # Bilinear demosaicing is exact on a linear gradient away from the border.
    np.testing.assert_array_equal(out[2:-2, 2:-2], bgr[2:-2, 2:-2])
    np.testing.assert_array_equal(bridge.imgmsg_to_cv2(msg, 'bgr8'), out)
    np.testing.assert_array_equal(bridge.imgmsg_to_cv2(msg, 'rgb8'), out[..., ::-1])
    assert bridge.imgmsg_to_cv2(msg, 'mono8').shape == bgr.shape[:2]


def test_bayer16_is_stretched_then_demosaiced(bridge):
    bgr = _gradient()
    msg = bridge.cv2_to_imgmsg(_mosaic(bgr.astype(np.uint16) * 16, 'rggb'), 'bayer_rggb16')
    out = bridge.to_bgr8(msg)[2:-2, 2:-2].astype(int)
    inner = bgr[2:-2, 2:-2].astype(int)
    # A 12-bit mosaic in 16 bits: the colours come out in order and at full contrast.
    assert np.corrcoef(out.reshape(-1), inner.reshape(-1))[0, 1] > 0.99
    assert out.max() >= 250


def _to_bgr8_cases():
    bgr = _gradient(6, 8)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    return [
        ('bgr8', bgr, bgr), ('rgb8', bgr[..., ::-1], bgr), ('bgra8', bgra, bgr),
        ('rgba8', bgra[..., [2, 1, 0, 3]], bgr), ('8UC3', bgr, bgr), ('8UC4', bgra, bgr),
        ('mono8', gray, np.dstack([gray] * 3)), ('8UC1', gray, np.dstack([gray] * 3)),
    ]


@pytest.mark.parametrize('encoding, array, expected', _to_bgr8_cases())
def test_to_bgr8_gives_a_fresh_bgr_image(bridge, encoding, array, expected):
    msg = bridge.cv2_to_imgmsg(np.ascontiguousarray(array), encoding)
    out = bridge.to_bgr8(msg)
    assert out.dtype == np.uint8 and out.shape == expected.shape and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)
    assert _owns_its_memory(out, msg)


@pytest.mark.parametrize('encoding, full_scale', [('mono16', 65535), ('16UC1', 4095),
                                                  ('16UC1', 1023), ('bgr16', 65535)])
def test_to_bgr8_shows_16_bit_images_at_full_contrast(bridge, encoding, full_scale):
    """A 10- or 12-bit sensor in 16 bits is not a black image: the frame's own range counts."""
    gray = cv2.cvtColor(_gradient(40, 60), cv2.COLOR_BGR2GRAY).astype(np.float64)
    wide = np.rint(gray / 255 * full_scale).astype(np.uint16)
    wide = wide if encoding != 'bgr16' else np.dstack([wide] * 3)
    out = bridge.to_bgr8(bridge.cv2_to_imgmsg(wide, encoding))[..., 0].astype(int)
    low, high = np.percentile(gray, [0.5, 99.5])
    expected = np.clip((gray - low) * 255 / (high - low), 0, 255)
    assert np.abs(out - expected).max() <= 4  # the range is taken on every 4th pixel
    assert out.min() == 0 and out.max() == 255


@pytest.mark.parametrize('encoding', ['32FC1', '64FC1'])
def test_to_bgr8_stretches_float_images_and_fills_holes_from_their_neighbours(bridge,
                                                                            encoding):
    depth = np.linspace(0.5, 4.5, 400).reshape(20, 20).astype(parse_encoding(encoding).dtype)
    depth[0, 0], depth[0, 1], depth[0, 2] = np.nan, np.inf, -np.inf
    depth[15, 15] = np.nan
    out = bridge.to_bgr8(bridge.cv2_to_imgmsg(depth, encoding))
    # Holes look like the finite pixels around them: no black or white speckle.
    assert out[0, :3, 0].max() <= out[2, 3, 0] and out[0, 3, 0] <= 10
    assert abs(int(out[15, 15, 0]) - int(out[15, 14, 0])) <= 2
    assert 100 < out[10, 10, 0] < 160 and out[-1, -1, 0] == 255
    order = out[1:15, :, 0].astype(int).reshape(-1)
    assert (np.diff(order) >= 0).all()  # order kept
    assert (out[..., 0] == out[..., 2]).all()


def test_to_bgr8_of_constant_or_all_nan_float_image_is_black(bridge):
    for value in (3.0, np.nan):
        image = np.full((2, 3), value, np.float32)
        assert not bridge.to_bgr8(bridge.cv2_to_imgmsg(image, '32FC1')).any()


def test_to_bgr8_stretches_signed_images(bridge):
    signed = np.repeat(np.array([[-100, 0, 155]], np.int16), 4, axis=0)
    out = bridge.to_bgr8(bridge.cv2_to_imgmsg(signed, '16SC1'))
    np.testing.assert_array_equal(out[0, :, 1], [0, 100, 255])


def test_image_files_keep_their_encoding():
    assert from_array(np.zeros((2, 2), np.uint16)).encoding.name == 'mono16'
    assert from_array(np.zeros((2, 2, 4), np.uint8)).encoding.name == 'bgra8'
    assert from_array(np.zeros((2, 2), np.float32)).encoding.name == '32FC1'
    assert to_bgr8(np.zeros((2, 2), np.uint8), parse_encoding('mono8')).shape == (2, 2, 3)


def test_to_bgr8_rejects_a_two_channel_generic_type(bridge):
    with pytest.raises(ValueError, match='8UC2.*channels'):
        bridge.to_bgr8(bridge.cv2_to_imgmsg(np.zeros((2, 2, 2), np.uint8), '8UC2'))


@pytest.mark.parametrize('source, target, convert', [
    ('rgb8', 'bgr8', lambda a: a[..., ::-1]),
    ('bgr8', 'mono8', lambda a: cv2.cvtColor(a, cv2.COLOR_BGR2GRAY)),
    ('bgr8', 'rgba8', lambda a: cv2.cvtColor(a, cv2.COLOR_BGR2RGBA)),
    ('bgra8', 'rgb8', lambda a: a[..., 2::-1]),
    ('mono8', 'bgr8', lambda a: np.dstack([a] * 3)),
    ('mono8', 'mono16', lambda a: a.astype(np.uint16) * 257),
    ('mono16', 'mono8', lambda a: np.rint(a / 257).astype(np.uint8)),
    ('rgb8', 'bgr16', lambda a: a[..., ::-1].astype(np.uint16) * 257),
    ('16UC1', '8UC1', lambda a: np.rint(a / 257).astype(np.uint8)),
    ('8UC3', '32FC3', lambda a: a.astype(np.float32)),
    ('bgr8', '8UC3', lambda a: a),
    ('bgr8', 'bgr8', lambda a: a),
])
def test_desired_encoding_converts_like_cv_bridge(bridge, source, target, convert):
    array = _random(source, seed=3)
    msg = bridge.cv2_to_imgmsg(array, source)
    out = bridge.imgmsg_to_cv2(msg, target)
    expected = convert(array)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)
    assert _owns_its_memory(out, msg)


def test_float_to_integer_conversion_rounds_saturates_and_zeroes_nan(bridge):
    values = np.array([[-1.0, 0.4, 0.5, 1.5, 70000.0, np.nan]], np.float32)
    out = bridge.imgmsg_to_cv2(bridge.cv2_to_imgmsg(values, '32FC1'), '16UC1')
    np.testing.assert_array_equal(out, [[0, 0, 0, 2, 65535, 0]])


@pytest.mark.parametrize('source, target, words', [
    ('32FC1', 'bgr8', 'not a colour encoding'),
    ('8UC3', '8UC1', '3 vs 1 channels'),
    ('bgr8', 'mono16', None),  # allowed: colour change, then 8 -> 16 bit
    ('mono8', 'yuv422', 'unsupported conversion from mono8 to yuv422'),
    ('bayer_rggb8', 'bgra8', 'unsupported conversion'),
    ('bgr8', 'rgb9', "unknown image encoding 'rgb9' in argument 'desired_encoding'"),
])
def test_impossible_conversions_say_why(bridge, source, target, words):
    msg = bridge.cv2_to_imgmsg(_random(source), source)
    if words is None:
        assert bridge.imgmsg_to_cv2(msg, target).dtype == np.uint16
        return
    with pytest.raises(ValueError, match=words):
        bridge.imgmsg_to_cv2(msg, target)


def _good():
    return dict(encoding='bgr8', height=4, width=6, step=18, data=bytes(72))


@pytest.mark.parametrize('change, words', [
    (dict(encoding='rgb9'), "unknown image encoding 'rgb9' in field 'encoding'"),
    (dict(encoding=''), "unknown image encoding '' in field 'encoding'"),
    (dict(encoding='8UC0'), 'unknown image encoding'),
    (dict(width=0, step=0, data=b''), "field 'width' is 0"),
    (dict(height=0, data=b''), "field 'height' is 0"),
    (dict(width=MAX_SIDE + 1), f"field 'width' is {MAX_SIDE + 1}, more than"),
    (dict(height=100_000), "field 'height' is 100000, more than"),
    (dict(step=17), r"field 'step' is 17, less than width \* bytes per pixel = 6 \* 3 = 18"),
    (dict(data=bytes(71)), r"field 'data' has 71 bytes, fewer than step \* height = 18 \* 4"),
    (dict(step=2 ** 28, height=2), 'MiB'),
    (dict(encoding='yuv422', width=5, step=10, data=bytes(40)), "field 'width' is 5, odd"),
    (dict(encoding='mono16', step=11, data=bytes(44)), "field 'step' is 11"),
])
def test_bad_messages_raise_value_error_naming_the_field(bridge, change, words):
    msg = _msg(**{**_good(), **change})
    for convert in (bridge.imgmsg_to_cv2, bridge.to_bgr8):
        with pytest.raises(ValueError, match=words):
            convert(msg)
    with pytest.raises(ImageCodecError):
        bridge.imgmsg_to_cv2(msg, 'rgb8')


@pytest.mark.parametrize('array, encoding, words', [
    (np.zeros((4, 6), np.uint8), 'bgr8', 'bgr8 needs 3 channel'),
    (np.zeros((4, 6, 3), np.float32), 'bgr8', r'needs 3 channel\(s\) of uint8.*float32'),
    (np.zeros((4, 6, 3), np.uint8), 'mono16', 'mono16 needs 1'),
    (np.zeros((4, 6), np.uint8), 'yuv422', 'yuv422 needs 2'),
    (np.zeros((4, 6), np.int64), 'passthrough', 'dtype int64 has no image encoding'),
    (np.zeros((4, 6), bool), 'mono8', 'dtype bool'),
    (np.zeros((2, 4, 6, 3), np.uint8), 'bgr8', 'not an image'),
    (np.zeros((0, 6, 3), np.uint8), 'bgr8', 'not an image'),
    (np.zeros((4, 6), np.uint8), 'grey8', "unknown image encoding 'grey8' in argument"),
])
def test_cv2_to_imgmsg_rejects_mismatched_arrays(bridge, array, encoding, words):
    with pytest.raises(ValueError, match=words) as caught:
        bridge.cv2_to_imgmsg(array, encoding)
    if caught.type is ImageEncodingError:  # a TypeError too, as cv_bridge's CvBridgeError is
        assert isinstance(caught.value, TypeError)


def test_non_arrays_are_a_type_error(bridge):
    with pytest.raises(TypeError, match='numpy array'):
        bridge.cv2_to_imgmsg([[1, 2]], 'mono8')
    with pytest.raises(TypeError, match='numpy array'):
        bridge.cv2_to_compressed_imgmsg([[1, 2]])
    with pytest.raises(TypeError, match='Image or CompressedImage'):
        bridge.to_bgr8(np.zeros((2, 2, 3), np.uint8))


@pytest.mark.parametrize('dst_format, image', [
    ('png', _gradient()), ('png', cv2.cvtColor(_gradient(), cv2.COLOR_BGR2GRAY)),
    ('png', cv2.cvtColor(_gradient(), cv2.COLOR_BGR2BGRA)),
    ('png', _gradient()[..., 0].astype(np.uint16) * 257), ('bmp', _gradient()),
])
def test_lossless_compressed_round_trip_is_exact(bridge, dst_format, image):
    msg = bridge.cv2_to_compressed_imgmsg(image, dst_format, header=_header())
    assert isinstance(msg, CompressedImage)
    assert msg.format == dst_format and msg.header == _header()
    back = bridge.compressed_imgmsg_to_cv2(msg)
    assert back.dtype == image.dtype
    np.testing.assert_array_equal(back, image)


@pytest.mark.parametrize('dst_format', ['jpg', 'jpeg', 'rgb8; jpeg compressed bgr8'])
def test_jpeg_round_trip_is_close_and_keeps_the_format_string(bridge, dst_format):
    bgr = _gradient()
    msg = bridge.cv2_to_compressed_imgmsg(bgr, dst_format)
    assert msg.format == dst_format and bytes(msg.data[:2]) == b'\xff\xd8'
    back = bridge.compressed_imgmsg_to_cv2(msg)
    assert back.shape == bgr.shape and np.abs(back.astype(int) - bgr).mean() < 3
    np.testing.assert_array_equal(bridge.to_bgr8(msg), back)
    np.testing.assert_array_equal(bridge.compressed_imgmsg_to_cv2(msg, 'rgb8'), back[..., ::-1])


def test_compressed_mono_converts_from_mono_not_from_bgr(bridge):
    gray = cv2.cvtColor(_gradient(), cv2.COLOR_BGR2GRAY)
    msg = bridge.cv2_to_compressed_imgmsg(gray, 'png')
    np.testing.assert_array_equal(bridge.compressed_imgmsg_to_cv2(msg, 'bgr8'),
                                  np.dstack([gray] * 3))
    np.testing.assert_array_equal(bridge.to_bgr8(msg), np.dstack([gray] * 3))
    wide = bridge.cv2_to_compressed_imgmsg(gray.astype(np.uint16) * 257, 'png')
    np.testing.assert_array_equal(bridge.compressed_imgmsg_to_cv2(wide, 'mono8'), gray)


def test_compressed_rgb_payload_is_honoured(bridge):
    bgr = _gradient()
    msg = bridge.cv2_to_compressed_imgmsg(bgr[..., ::-1], 'png')
    msg.format = 'rgb8; png compressed rgb8'  # image_transport: the payload is RGB-ordered
    np.testing.assert_array_equal(bridge.to_bgr8(msg), bgr)
    np.testing.assert_array_equal(bridge.compressed_imgmsg_to_cv2(msg, 'bgr8'), bgr)


@pytest.mark.parametrize('data, image_format, words', [
    (b'', 'jpeg', "field 'data' is empty"),
    (b'not an image at all' * 4, 'jpeg', "field 'data' .*76 bytes.*'jpeg'.*decode"),
    (b'\x00' * 16, '16UC1; compressedDepth png', 'compressedDepth'),
])
def test_bad_compressed_messages_raise_value_error(bridge, data, image_format, words):
    msg = CompressedImage(format=image_format, data=data)
    for convert in (bridge.compressed_imgmsg_to_cv2, bridge.to_bgr8):
        with pytest.raises(ValueError, match=words):
            convert(msg)


@pytest.mark.parametrize('dst_format, words', [
    ('nosuchcodec', "cannot encode a .* array as 'nosuchcodec'"),
    ('', 'names no codec'), ('16UC1; compressedDepth', 'compressedDepth'),
])
def test_bad_compression_formats_raise_value_error(bridge, dst_format, words):
    with pytest.raises(ValueError, match=words):
        bridge.cv2_to_compressed_imgmsg(_gradient(), dst_format)


def test_jpeg_refuses_two_channels(bridge):
    with pytest.raises(ImageEncodingError, match="as 'jpg'"):
        bridge.cv2_to_compressed_imgmsg(np.zeros((4, 4, 2), np.uint8), 'jpg')


def test_real_cv_bridge_agrees_with_the_codec():
    """Runs where vision_opencv's cv_bridge is installed (a ROS install): the same messages
    and arrays for the encodings both know."""
    cv_bridge = pytest.importorskip('cv_bridge')
    real = cv_bridge.CvBridge()
    for encoding in ['bgr8', 'rgb8', 'mono8', 'mono16', '32FC1', 'yuv422', 'bayer_grbg8']:
        array = _random(encoding)
        msg = image_bridge.cv2_to_imgmsg(array, encoding)
        assert real.cv2_to_imgmsg(array, encoding) == msg
        np.testing.assert_array_equal(real.imgmsg_to_cv2(msg), image_bridge.imgmsg_to_cv2(msg))
    for target in ['bgr8', 'mono8', 'rgba8', 'mono16']:
        msg = image_bridge.cv2_to_imgmsg(_random('rgb8'), 'rgb8')
        np.testing.assert_array_equal(real.imgmsg_to_cv2(msg, target),
                                      image_bridge.imgmsg_to_cv2(msg, target))
