"""Is every labelled face hidden? The product run exactly as a user runs it, scored by the
rule of ../shared/notes/privacy-scoring.md; prints markdown tables.

  python -m bench.bench_privacy [--data PATH] [--frames 300] [-- facekp options...]

Small-face frames (bench/privacy_frames.py, seeded, from faces68/test) are written as one
bag per encoding (colour bgr8, grey mono8, mono16, 16UC1 12-bit big-endian, IR-like mono8,
JPEG CompressedImage, JPEG foxglove_msgs/CompressedImage) and anonymized by `facekp bag`; a
depth bag of the same frames (16UC1, compressedDepth, 32FC1 with holes) must come out byte for
byte; faces68/test and the scenes go through
`facekp image --anonymize`. Options after `--` go to facekp (e.g. --small-face-zoom 2 for a
second pass at twice the size, or --detector-model stock for the package's own RetinaFace).
"""
import argparse
import collections
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from bench import privacy_frames as pf
from bench import recorded_types
from facekp_ros.core.image_codec import decode

REPO = pathlib.Path(__file__).resolve().parents[1]
STORE = recorded_types.typestore()  # Jazzy's types and foxglove_msgs
T = STORE.types
FOXGLOVE = 'foxglove jpeg'  # a row: the JPEG frames as foxglove_msgs/CompressedImage
SCENE_FACES = {'obamas': 2, 'the_beatles': 4, 'avengers2': 4, 'mona_lisa': 1, 'trump': 1}


def image_message(pixels, encoding: str, index: int):
    if encoding == FOXGLOVE:
        return T['foxglove_msgs/msg/CompressedImage'](
            timestamp=T['builtin_interfaces/msg/Time'](sec=index, nanosec=0), frame_id='cam',
            data=cv2.imencode('.jpg', pixels, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].reshape(-1),
            format='jpeg')
    ros_encoding, bigendian, image_format = pf.ENCODINGS[encoding]
    header = T['std_msgs/msg/Header'](
        stamp=T['builtin_interfaces/msg/Time'](sec=index, nanosec=0), frame_id='cam')
    if image_format:
        return T['sensor_msgs/msg/CompressedImage'](
            header=header, format=image_format,
            data=cv2.imencode('.jpg', pixels, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].reshape(-1))
    data = pixels.astype(pixels.dtype.newbyteorder('>' if bigendian else '<')).tobytes()
    return T['sensor_msgs/msg/Image'](
        header=header, height=pixels.shape[0], width=pixels.shape[1], encoding=ros_encoding,
        is_bigendian=bigendian, step=pixels.nbytes // pixels.shape[0],
        data=np.frombuffer(data, np.uint8))


def write_bag(path: pathlib.Path, frames: list, encoding: str) -> list:
    """The bag of frames in encoding; returns the exact inputs the product will see."""
    inputs = []
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        msg = image_message(pf.render(frames[0].bgr, _rendered(encoding)), encoding, 0)
        conn = writer.add_connection('/cam', msg.__msgtype__, typestore=STORE)
        for index, frame in enumerate(frames):
            msg = image_message(pf.render(frame.bgr, _rendered(encoding)), encoding, index)
            raw = STORE.serialize_cdr(msg, msg.__msgtype__)
            writer.write(conn, index, raw)
            inputs.append(decode(STORE.deserialize_cdr(raw, msg.__msgtype__)).pixels)
    return inputs


def _rendered(encoding: str) -> str:
    return 'jpeg' if encoding == FOXGLOVE else encoding


def read_bag(path: pathlib.Path) -> dict:
    with AnyReader([path]) as reader:
        return {stamp: decode(reader.deserialize(raw, c.msgtype)).pixels
                for c, stamp, raw in reader.messages()}


def facekp(*args) -> float:
    """Runs the facekp command; its wall time in s."""
    command = [shutil.which('facekp') or str(pathlib.Path(sys.executable).parent / 'facekp'),
               *args, '--quiet']
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise RuntimeError(f'{" ".join(command)} failed: {done.stderr}')
    return time.perf_counter() - start


class Tally:
    def __init__(self):
        self.faces = self.leaked = self.leaked_covered = self.frames = self.masked = 0
        self.empty_frames, self.false_area = 0, 0.0
        self.leaks = []

    def add(self, frame, inp, out, lossy: bool) -> None:
        self.frames += 1
        a, b = pf.grey_levels(inp, inp), pf.grey_levels(out, inp)
        self.masked += pf.fully_masked(b)
        if not frame.faces:
            self.empty_frames += 1
            self.false_area += pf.modified_share(a, b, lossy)
        for points in frame.faces:
            self.faces += 1
            score = pf.score_face(a, b, points, lossy)
            if not score.hidden:
                self.leaked += 1
                self.leaked_covered += score.covered >= 0.9
                self.leaks.append(frame.name)

    def row(self, name: str, ms: float | None) -> str:
        leak = 100 * self.leaked / max(self.faces, 1)
        false = 100 * self.false_area / max(self.empty_frames, 1)
        timing = f'{ms:.1f}' if ms is not None else ''
        return (f'| {name} | {self.faces} | {self.leaked} ({self.leaked_covered}) | {leak:.2f} % '
                f'| {false:.2f} % | {self.masked} | {timing} |')


HEADER = ('| input | labelled faces | leaked (of which masked but faint) | leak % | '
          'false-mask area (face-free frames) | fully masked frames | ms / frame |\n'
          '|---|---:|---:|---:|---:|---:|---:|')


def small_face_tables(frames, work: pathlib.Path, extra: list, encodings: list) -> None:
    print('### Small faces in 640x480 frames (faces68/test faces at 24-64 px)\n')
    print(HEADER)
    by_degradation = collections.defaultdict(Tally)
    all_leaks = {}
    for encoding in encodings:
        source, target = work / f'{encoding}_in', work / f'{encoding}_out'
        inputs = write_bag(source, frames, encoding)
        # The frames are unrelated stills: a face held over from one frame into the next
        # would only add false masks, so tracking hold-over is off here.
        seconds = facekp('bag', str(source), str(target), '--hold-frames', '0', *extra)
        outputs = read_bag(target)
        tally = Tally()
        for index, (frame, inp) in enumerate(zip(frames, inputs)):
            out = outputs[index]
            tally.add(frame, inp, out, lossy=_rendered(encoding) == 'jpeg')
            if encoding in ('colour', 'grey'):
                kind = 'several faces' if frame.name.startswith('many') else frame.degradation
                by_degradation[encoding, kind].add(frame, inp, out, encoding == 'jpeg')
        print(tally.row(encoding, 1e3 * seconds / len(frames)), flush=True)
        all_leaks[encoding] = tally.leaks
    print('\nms / frame: wall time of `facekp bag` (model loading included) / frames. "Masked '
          'but faint": the face lies under the mask (covered >= 0.9) but the change is under 8 '
          'grey levels and keeps over 35 % of its Laplacian (low-contrast input), which the '
          'rule counts as a leak.\n')
    print('### By degradation (colour / grey)\n')
    print(HEADER)
    for (encoding, kind), tally in sorted(by_degradation.items()):
        print(tally.row(f'{encoding}, {kind}', None))
    print('\nLeaked frames: ' + json.dumps({k: v for k, v in all_leaks.items() if v}) + '\n')


def depth_table(frames, work: pathlib.Path, extra: list) -> None:
    """Depth is not a face image: the frames' grey shapes as depth maps must come out byte for
    byte (16UC1 on a depth topic, compressedDepth, 32FC1 with holes on a depth frame_id)."""
    source, target = work / 'depth_in', work / 'depth_out'
    with Writer(source, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for index, frame in enumerate(frames):
            for topic, msg in _depth_messages(frame.bgr, index):
                if topic not in conns:
                    conns[topic] = writer.add_connection(topic, msg.__msgtype__,
                                                         typestore=STORE)
                writer.write(conns[topic], index, STORE.serialize_cdr(msg, msg.__msgtype__))
    seconds = facekp('bag', str(source), str(target), *extra)
    with AnyReader([source]) as before, AnyReader([target]) as after:
        inputs = {(c.topic, stamp): bytes(raw) for c, stamp, raw in before.messages()}
        outputs = {(c.topic, stamp): bytes(raw) for c, stamp, raw in after.messages()}
    same = sum(outputs.get(key) == raw for key, raw in inputs.items())
    total, written = len(inputs), len(outputs)
    print('### Depth bag (the frames as depth maps: 16UC1, compressedDepth PNG, 32FC1 with '
          '10 % holes)\n')
    print('| messages | written | byte-identical | ms / message |\n|---:|---:|---:|---:|')
    print(f'| {total} | {written} | {same} | {1e3 * seconds / total:.1f} |\n')


def _depth_messages(bgr, index: int) -> list:
    depth = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 16 + 400
    metres = depth.astype(np.float32) / 1000
    metres[np.random.default_rng(index).random(metres.shape) < 0.1] = np.nan
    config = np.array([1], '<i4').tobytes() + np.zeros(2, '<f4').tobytes()  # PNG, no quant.
    stamp = T['builtin_interfaces/msg/Time'](sec=index, nanosec=0)

    def raw(pixels, encoding, frame_id):
        return T['sensor_msgs/msg/Image'](
            header=T['std_msgs/msg/Header'](stamp=stamp, frame_id=frame_id),
            height=pixels.shape[0], width=pixels.shape[1], encoding=encoding, is_bigendian=0,
            step=pixels.nbytes // pixels.shape[0],
            data=np.frombuffer(pixels.tobytes(), np.uint8))
    packed = config + cv2.imencode('.png', depth)[1].tobytes()
    return [
        ('/camera/depth/image_rect_raw', raw(depth, '16UC1', 'camera_depth_optical_frame')),
        ('/camera/depth/image_rect_raw/compressedDepth', T['sensor_msgs/msg/CompressedImage'](
            header=T['std_msgs/msg/Header'](stamp=stamp, frame_id='camera_depth_optical_frame'),
            format='16UC1; compressedDepth png', data=np.frombuffer(packed, np.uint8))),
        ('/stereo/range', raw(metres, '32FC1', 'stereo_depth')),
    ]


def faces68_table(data: pathlib.Path, work: pathlib.Path, extra: list) -> None:
    out = work / 'faces68_out'
    seconds = facekp('image', str(data / 'faces68' / 'test'), '--anonymize', '--out', str(out),
                     '--no-keypoints', *extra)
    tally = Tally()
    for path, points in pf.read_labels(data, 'test'):
        inp = cv2.imread(str(path))
        result = cv2.imread(str(out / f'{path.stem}_anonymized{path.suffix}'))
        tally.add(pf.LabelledFrame(path.name, 'none', inp, [points]), inp, result, lossy=True)
    print('### faces68/test (500 photos, one labelled face each; JPEG outputs: lossy rule)\n')
    print(HEADER)
    print(tally.row('faces68/test', 1e3 * seconds / tally.frames) + '\n')


def scenes_table(data: pathlib.Path, work: pathlib.Path, extra: list) -> None:
    report = work / 'scenes.jsonl'
    facekp('image', str(data / 'scenes'), '--anonymize', '--out', str(work / 'scenes_out'),
           '--json', str(report), '--no-keypoints', *extra)
    print('### Scenes (no labels: faces reported / hidden only)\n')
    print('| scene | size | faces reported | also hidden (mask-only) | expected |')
    print('|---|---|---:|---:|---:|')
    for line in report.read_text().splitlines():
        record = json.loads(line)
        name = pathlib.Path(record['image']).stem
        print(f"| {name} | {record['width']}x{record['height']} | {len(record['faces'])} | "
              f"{len(record['mask_only'])} | {SCENE_FACES.get(name, '~11 (poster)')} |")


ROLLS = (0, 45, 90, 135, 180)
# The nodes' defaults: what a live 640x480 stream gets (turned scans at half scale, +-45).
LIVE_ROLL = ['--roll-coverage', '45', '--roll-scale', '0.5']


def _write_pngs(folder: pathlib.Path, frames) -> None:
    folder.mkdir()
    for frame in frames:
        cv2.imwrite(str(folder / f'{frame.name}.png'), frame.bgr)


def _anonymize_pngs(frames, work: pathlib.Path, name: str, options: list) -> Tally:
    """frames through `facekp image --anonymize` as lossless PNGs, scored; prints a row."""
    source, target = work / f'{name}_in', work / f'{name}_out'
    _write_pngs(source, frames)
    seconds = facekp('image', str(source), '--anonymize', '--out', str(target),
                     '--no-keypoints', *options)
    tally = Tally()
    for frame in frames:
        out = cv2.imread(str(target / f'{frame.name}_anonymized.png'))
        tally.add(frame, frame.bgr, out, lossy=False)
    print(tally.row(name, 1e3 * seconds / len(frames)), flush=True)
    return tally


def exif_portrait_table(data: pathlib.Path, work: pathlib.Path, extra: list) -> None:
    """The Beatles saved as a phone saves a sideways shot: turned pixels and an Orientation
    tag (3: upside down, 6 and 8: a portrait held either way)."""
    from PIL import Image
    upright = cv2.imread(str(data / 'scenes' / 'the_beatles.jpg'))[..., ::-1]
    stored = {3: np.rot90(upright, 2), 6: np.rot90(upright, 1), 8: np.rot90(upright, -1)}
    print('### Phone photos (the Beatles, 4 faces, stored turned with an EXIF Orientation '
          'tag)\n')
    print('| orientation | stored as | faces reported | output upright (3648x2406) | s |')
    print('|---:|---|---:|---|---:|')
    for orientation, pixels in stored.items():
        photo, out, report = (work / f'phone{orientation}.jpg', work / f'phone{orientation}'
                              '_out.jpg', work / f'phone{orientation}.json')
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(np.ascontiguousarray(pixels)).save(photo, exif=exif, quality=92)
        seconds = facekp('image', str(photo), '--anonymize', '--out', str(out), '--json',
                         str(report), '--no-keypoints', *extra)
        faces = len(json.loads(report.read_text())['faces'])
        # Upright: its pixels (faces hidden) are near the upright photo's, far from the
        # stored ones turned back the wrong way; read as stored, whatever tag it has.
        written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
        truth = upright[..., ::-1].astype(np.int16)
        shown = 'NO'
        if written is not None and written.shape[:2] == upright.shape[:2]:
            near, far = np.abs(written - truth).mean(), np.abs(written - truth[::-1, ::-1]).mean()
            shown = 'yes' if near < 0.5 * far else 'NO'
        print(f'| {orientation} | {pixels.shape[1]}x{pixels.shape[0]} | {faces} | {shown} | '
              f'{seconds:.1f} |')
    print()


def rolled_tables(data: pathlib.Path, work: pathlib.Path, extra: list, count: int) -> None:
    """faces68/test photos turned whole; tiny faces rolled up to +-60 degrees."""
    from facekp_ros.core.scan import turned_view
    photos = []
    for path, points in pf.read_labels(data, 'test')[:count]:
        photos.append((path.stem, cv2.imread(str(path)), points))
    print(f'### Rolled faces: {len(photos)} faces68/test photos turned whole (PNG, lossless '
          'rule)\n')
    print(HEADER)
    for degrees in ROLLS:
        frames = []
        for name, image, points in photos:
            view, to_image = turned_view(image, degrees)
            forward = cv2.invertAffineTransform(to_image)
            frames.append(pf.LabelledFrame(name, 'none', view,
                                           [points @ forward[:, :2].T + forward[:, 2]]))
        _anonymize_pngs(frames, work, f'turned {degrees} deg, facekp default', extra)
        if degrees <= 90:
            _anonymize_pngs(frames, work, f'turned {degrees} deg, live default (+-45)',
                            LIVE_ROLL + extra)
    print()
    print('### Tiny rolled faces (one 14-40 px face per frame, rolled up to +-60 degrees, '
          'every degradation; face-free frames for the false-mask area)\n')
    print(HEADER)
    for hw in ((480, 640), (720, 1280)):
        frames = pf.face_frames(data, 'test', count // 2, seed=11, prefix='tiny',
                                frame_hw=hw, widths=(14, 40), max_roll=60)
        frames += pf.empty_frames(data, 'test', count // 10) if hw == (480, 640) else []
        label = f'{hw[1]}x{hw[0]}'
        _anonymize_pngs(frames, work, f'{label}, facekp default', extra)
        _anonymize_pngs(frames, work, f'{label}, upright only (--roll-coverage 0)',
                        ['--roll-coverage', '0'] + extra)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', type=pathlib.Path, default=REPO.parent / 'shared' / 'data')
    parser.add_argument('--frames', type=int, default=300, help='one-face frames')
    parser.add_argument('--skip', nargs='*', default=[],
                        choices=['small', 'depth', 'faces68', 'scenes', 'exif', 'rolled'])
    parser.add_argument('--encodings', nargs='*', default=[*pf.ENCODINGS, FOXGLOVE],
                        choices=[*pf.ENCODINGS, FOXGLOVE], help='small-face bags to write')
    parser.add_argument('--rolled', type=int, default=200,
                        help='photos per roll, and tiny rolled-face frames per size x 2')
    parser.add_argument('facekp_options', nargs=argparse.REMAINDER,
                        help='after --: options for facekp')
    args = parser.parse_args()
    extra = [a for a in args.facekp_options if a != '--']
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    print(f'facekp options: {" ".join(extra) or "(defaults)"}; load average {load} on '
          f'{os.cpu_count()} cores\n')
    frames = (pf.face_frames(args.data, 'test', args.frames)
              + pf.face_frames(args.data, 'test', args.frames // 5, (3, 5), seed=7,
                               prefix='many')
              + pf.empty_frames(args.data, 'test', args.frames // 5))
    with tempfile.TemporaryDirectory() as folder:
        work = pathlib.Path(folder)
        if 'small' not in args.skip:
            small_face_tables(frames, work, extra, args.encodings)
        if 'depth' not in args.skip:
            depth_table(frames, work, extra)
        if 'faces68' not in args.skip:
            faces68_table(args.data, work, extra)
        if 'scenes' not in args.skip:
            scenes_table(args.data, work, extra)
        if 'exif' not in args.skip:
            exif_portrait_table(args.data, work, extra)
        if 'rolled' not in args.skip:
            rolled_tables(args.data, work, extra, args.rolled)


if __name__ == '__main__':
    main()
