"""`facekp image` on photos as phones save them: EXIF orientation, tags, animations."""
import io
import json
import signal
import subprocess
import sys
import time

import av
import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from facekp_ros.cli import main
from facekp_ros.core.image_codec import from_array, to_eight_bit
from facekp_ros.media_files import ORIENTATION_TAG, read_still
from facekp_ros.sources import sample_frame

# How each EXIF orientation stores an upright picture: the inverse of the viewer's turn.
_STORED = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1],
           4: lambda a: a[::-1], 5: lambda a: a.swapaxes(0, 1),
           6: lambda a: np.rot90(a, 1), 7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
           8: lambda a: np.rot90(a, -1)}


def phone_photo(path, upright_rgb: np.ndarray, orientation: int, gps: bool = True) -> None:
    """A JPEG as a phone camera writes it: the sensor's pixels (sideways for a portrait),
    an Orientation tag saying how to show them, make, model and a GPS position."""
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    exif[0x010F], exif[0x0110] = 'Apple', 'iPhone 12'
    if gps:
        exif[0x8825] = {1: 'N', 2: (52.0, 30.0, 7.5), 3: 'W', 4: (0.0, 7.0, 39.0)}
    stored = np.ascontiguousarray(_STORED[orientation](upright_rgb))
    Image.fromarray(stored).save(path, exif=exif, quality=92)


@pytest.mark.parametrize('orientation', range(1, 9))
def test_every_orientation_is_turned_as_pillow_shows_it(tmp_path, orientation):
    upright = np.zeros((40, 64, 3), np.uint8)
    upright[:10, :20] = (255, 0, 0)  # a red corner at the top left, a gradient along x
    upright[..., 1] = np.arange(64, dtype=np.uint8)[None, :] * 4
    path = tmp_path / f'o{orientation}.jpg'
    phone_photo(path, upright, orientation)
    with Image.open(path) as image:
        shown = np.asarray(ImageOps.exif_transpose(image))
    still = read_still(path)
    assert still.orientation == orientation and still.frames == 1
    assert still.pixels.shape == upright.shape
    assert np.abs(still.pixels[..., ::-1].astype(int) - shown).max() <= 1  # BGR vs RGB


@pytest.fixture(scope='module')
def beatles(data):
    """The Beatles photo (4 faces) and its upright run: boxes from `facekp image`."""
    with Image.open(data / 'scenes' / 'the_beatles.jpg') as image:
        return np.asarray(image.convert('RGB'))


def _run(tmp_path, photo, name):
    out, faces = tmp_path / f'{name}_out.jpg', tmp_path / f'{name}.json'
    # No turned scans: the faces are found only if the search runs on the upright view.
    assert main(['image', str(photo), '--anonymize', '--out', str(out), '--json', str(faces),
                 '--roll-coverage', '0', '--quiet']) == 0
    return cv2.imread(str(out), cv2.IMREAD_UNCHANGED), json.loads(faces.read_text()), out


@pytest.mark.parametrize('orientation', [6, 3])
def test_a_phone_portrait_is_searched_upright_and_written_upright(tmp_path, beatles,
                                                                  orientation, capsys):
    photo = tmp_path / f'beatles_{orientation}.jpg'
    phone_photo(photo, beatles, orientation)
    assert cv2.imread(str(photo), cv2.IMREAD_UNCHANGED).shape[:2] != beatles.shape[:2] \
        or orientation == 3  # stored sideways, as the phone left it
    out, record, path = _run(tmp_path, photo, 'phone')
    members = record['faces']
    assert len(members) == 4 and record['exif_orientation'] == orientation
    assert (record['height'], record['width']) == beatles.shape[:2] == out.shape[:2]
    with Image.open(path) as written:  # upright pixels and no tag that would turn them again
        assert written.getexif().get(ORIENTATION_TAG, 1) == 1
    # Upright: the output is close to the upright photo (faces hidden), far from it turned.
    truth = beatles[..., ::-1].astype(np.int16)
    assert np.abs(out - truth).mean() < 0.5 * np.abs(out - truth[::-1, ::-1]).mean()
    # Each face was hidden where it is in the upright photo.
    for face in members:
        box = face['box']
        x, y, w, h = (int(box[k]) for k in ('x', 'y', 'width', 'height'))
        inner = (slice(y + h // 4, y + 3 * h // 4), slice(x + w // 4, x + 3 * w // 4))
        assert np.abs(out[inner] - truth[inner]).mean() > 8
    assert f'EXIF orientation {orientation}: turned upright' in capsys.readouterr().out


def test_an_animated_gif_is_refused_in_one_line(tmp_path, capsys):
    frames = [Image.fromarray(np.full((40, 60, 3), 80 * i, np.uint8)) for i in range(3)]
    gif = tmp_path / 'wave.gif'
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert main(['image', str(gif), '--out', str(tmp_path / 'o.png'), '--quiet']) == 2
    err = capsys.readouterr().err
    assert '3 frames' in err and 'facekp video' in err and 'Traceback' not in err
    assert not (tmp_path / 'o.png').exists()


@pytest.fixture
def small_disk(tmp_path):
    """A real 64 KiB file system (tmpfs): writes past it fail with ENOSPC, as on a full disk."""
    mount = tmp_path / 'small_disk'
    mount.mkdir()
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(mount)],
                          capture_output=True)
    if done.returncode:
        pytest.skip(f'cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}')
    yield mount
    subprocess.run(['umount', str(mount)], check=True)


def test_a_full_disk_exits_1_in_one_line_and_leaves_no_file(data, small_disk, capsys):
    (small_disk / 'filler').write_bytes(b'\0' * 40_000)  # 24 KiB left: less than the photo
    out = small_disk / 'obamas_anonymized.png'
    code = main(['image', str(data / 'scenes' / 'obamas.jpg'), '--anonymize', '--out', str(out),
                 '--quiet'])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == f'facekp: cannot write {out}: No space left on device\n'
    assert sorted(p.name for p in small_disk.iterdir()) == ['filler']  # no partial file
    assert 'face(s)' not in captured.out  # nothing claimed as done


def test_a_read_only_folder_is_refused_before_any_work(data, tmp_path, capsys):
    folder = tmp_path / 'ro'
    folder.mkdir()
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', str(folder)],
                          capture_output=True)
    if done.returncode:
        pytest.skip('cannot mount a read-only tmpfs here (needs root)')
    try:
        code = main(['image', str(data / 'scenes' / 'obamas.jpg'), '--out',
                     str(folder / 'o.jpg')])
    finally:
        subprocess.run(['umount', str(folder)], check=True)
    err = capsys.readouterr().err
    assert code == 2 and err.count('\n') == 1 and 'not writable' in err


def test_16_bit_into_jpeg_is_mapped_on_the_view_range(tmp_path, capsys):
    # A 12-bit grey camera frame in 16 bits (values 0..4080): cut at 255 it was all white.
    grey16 = cv2.cvtColor(sample_frame(), cv2.COLOR_BGR2GRAY).astype(np.uint16) * 16
    source, out = tmp_path / 'ir16.png', tmp_path / 'ir16.jpg'
    cv2.imwrite(str(source), grey16)
    assert main(['image', str(source), '--anonymize', '--out', str(out), '--quiet']) == 0
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint8 and written.shape == grey16.shape
    expected = to_eight_bit(from_array(grey16)).astype(int)
    background = grey16 == 96 * 16  # the sample's flat background, never hidden
    assert np.abs(written[background] - expected[background]).mean() < 3
    assert (written == 255).mean() < 0.05 and written.std() > 20
    assert 'uint16 pixels written as 8 bits' in capsys.readouterr().err
    png = tmp_path / 'ir16_out.png'  # a format that holds 16 bits keeps them
    assert main(['image', str(source), '--anonymize', '--out', str(png), '--quiet']) == 0
    assert cv2.imread(str(png), cv2.IMREAD_UNCHANGED).dtype == np.uint16


XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
       b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:dc="http://purl.org/dc/'
       b'elements/1.1/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
       b'exif:GPSLatitude="52,30.1N" exif:GPSLongitude="0,7.6W"><dc:creator><rdf:Seq><rdf:li>'
       b'Ann Example</rdf:li></rdf:Seq></dc:creator><photoshop:City>Cambridge</photoshop:City>'
       b'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def camera_jpeg(path, upright_rgb: np.ndarray) -> None:
    """A JPEG as a camera writes it (piexif): a sideways portrait tagged 6, make, model,
    exposure, dates, a GPS position, a thumbnail of the photo, and an XMP packet with the
    author, the position again and the city."""
    import piexif

    stored = np.ascontiguousarray(np.rot90(upright_rgb, 1))
    thumb = Image.fromarray(stored).resize((120, 160))
    buffer = io.BytesIO()
    thumb.save(buffer, 'JPEG')
    exif = piexif.dump({
        '0th': {piexif.ImageIFD.Make: b'Canon', piexif.ImageIFD.Model: b'EOS R6',
                piexif.ImageIFD.Orientation: 6, piexif.ImageIFD.DateTime: b'2026:05:01 10:20:30'},
        'Exif': {piexif.ExifIFD.DateTimeOriginal: b'2026:05:01 10:20:30',
                 piexif.ExifIFD.ExposureTime: (1, 250)},
        'GPS': {piexif.GPSIFD.GPSLatitudeRef: b'N', piexif.GPSIFD.GPSLatitude:
                ((52, 1), (12, 1), (1, 1)), piexif.GPSIFD.GPSLongitudeRef: b'E',
                piexif.GPSIFD.GPSLongitude: ((0, 1), (7, 1), (39, 1))},
        '1st': {piexif.ImageIFD.JPEGInterchangeFormat: 0}, 'thumbnail': buffer.getvalue()})
    Image.fromarray(stored).save(path, exif=exif, xmp=XMP, quality=90)


@pytest.mark.parametrize('suffix', ['.jpg', '.png'])
def test_keep_metadata_keeps_tags_but_not_location_or_thumbnail(tmp_path, suffix):
    import piexif

    upright = cv2.cvtColor(sample_frame(), cv2.COLOR_BGR2RGB)
    photo = tmp_path / 'camera.jpg'
    camera_jpeg(photo, upright)
    assert piexif.load(str(photo))['thumbnail'] and piexif.load(str(photo))['GPS']
    plain, kept = tmp_path / f'plain{suffix}', tmp_path / f'kept{suffix}'
    assert main(['image', str(photo), '--anonymize', '--out', str(plain), '--quiet']) == 0
    assert main(['image', str(photo), '--anonymize', '--out', str(kept), '--keep-metadata',
                 '--quiet']) == 0
    with Image.open(plain) as image:  # the default: nothing but pixels
        assert len(image.getexif()) == 0 and not image.info.get('xmp')
    with Image.open(kept) as image:
        exif, xmp = image.getexif(), image.info.get('xmp') or image.info['XML:com.adobe.xmp']
        assert image.size == (640, 480)  # upright
    xmp = xmp.encode() if isinstance(xmp, str) else xmp
    assert (exif[0x010F], exif[0x0110]) == ('Canon', 'EOS R6')
    assert exif.get(ORIENTATION_TAG, 1) == 1 and 0x8825 not in exif
    assert exif.get_ifd(0x8769)[0x9003] == '2026:05:01 10:20:30'  # DateTimeOriginal
    raw = exif.tobytes()
    assert b'\xff\xd8\xff' not in raw  # no thumbnail: it would show the faces
    assert b'Ann Example' in xmp and b'GPS' not in xmp and b'Cambridge' not in xmp


def test_keep_metadata_on_a_video_drops_its_location(tmp_path):
    imageio_ffmpeg = pytest.importorskip('imageio_ffmpeg')
    clip = tmp_path / 'phone.mp4'
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), '-v', 'error', '-f', 'lavfi', '-i',
                    'testsrc=size=64x48:rate=10', '-frames:v', '3', '-c:v', 'libx264',
                    '-metadata', 'title=Garden', '-metadata', 'location=+52.2053+000.1218/',
                    '-metadata', 'creation_time=2026-05-01T10:20:30Z', str(clip)], check=True)
    with av.open(str(clip)) as source:
        assert 'location' in source.metadata
    for options, expected in (([], {'creation_time'}),
                              (['--keep-metadata'], {'creation_time', 'title'})):
        out = tmp_path / f'out{len(options)}.mp4'
        assert main(['video', str(clip), '--out', str(out), '--quiet', *options]) == 0
        with av.open(str(out)) as written:
            tags = set(written.metadata) - {'major_brand', 'minor_version', 'compatible_brands',
                                             'encoder'}  # the muxer's own
        assert tags == expected


def test_ctrl_c_between_or_during_images_leaves_only_whole_files(data, tmp_path):
    folder, out = tmp_path / 'shots', tmp_path / 'out'
    folder.mkdir()
    for index in range(30):
        (folder / f'{index:02d}.jpg').write_bytes((data / 'scenes' / 'obamas.jpg').read_bytes())
    # As from a terminal: a test run started in the background has SIGINT ignored, and a
    # child would inherit that.
    process = subprocess.Popen([sys.executable, '-m', 'facekp_ros.cli', 'image', str(folder),
                                '--anonymize', '--out', str(out), '--quiet'],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(p.name.endswith('.jpg') for p in out.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 130
    assert err.strip() == 'facekp: stopped by SIGINT; unfinished outputs removed'
    written = sorted(out.iterdir())
    assert 0 < len(written) < 30 and all(p.name.endswith('_anonymized.jpg') for p in written)
    assert all(cv2.imread(str(p)).shape == (500, 759, 3) for p in written)  # each whole
