"""Frame sources for the camera: device, video file, image folder, ROS 2 bag, built-in sample.

No rclpy here: bags are read with rosbags (pure Python). Every source yields uint8 BGR frames.
"""
import logging
import pathlib
import re
from collections.abc import Callable, Iterator

import cv2
import numpy as np

SAMPLE_IMAGE = pathlib.Path(__file__).resolve().parent / 'data' / 'astronaut.jpg'
IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm'}
BAG_SUFFIXES = {'.mcap', '.db3'}
SOURCE_KINDS = ("a camera index ('0') or /dev/videoN, a video file, an image file, a folder "
                "of images, a ROS 2 bag (its folder, .mcap or .db3) or 'sample'")

# A pass over a source yields decoded frames, and for an item it cannot decode a str saying
# why: that item is skipped and reported, the stream goes on.
Items = Iterator[np.ndarray | str]

_log = logging.getLogger(__name__)


def sample_frame() -> np.ndarray:
    """The built-in 640x480 frame with four faces: the sample portrait's head and shoulders
    at four sizes (300, 220, 200 and 150 px squares), the second and fourth mirrored."""
    photo = cv2.imread(str(SAMPLE_IMAGE))
    if photo is None:
        raise FileNotFoundError(f'built-in sample missing: {SAMPLE_IMAGE} (reinstall facekp_ros)')
    photo = photo[0:260, 93:353]  # head and shoulders
    frame = np.full((480, 640, 3), 96, np.uint8)
    for (x, y, side), mirror in (((10, 10, 300), False), ((330, 20, 220), True),
                                 ((340, 260, 200), False), ((60, 320, 150), True)):
        tile = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
        frame[y:y + side, x:x + side] = tile[:, ::-1] if mirror else tile
    return frame


class FrameSource:
    """The frames of one source: read() -> uint8 BGR frame, or None once a non-looping source
    has ended. Also an iterator over its frames and a context manager that closes it.

    The first frame is read at once, so a source that yields nothing fails when opened.
    """

    def __init__(self, items: Items, description: str, size=(0, 0), fps: float = 0.0,
                 close: Callable[[], None] | None = None,
                 on_skip: Callable[[str], None] | None = None):
        self.description = description
        self.fps = fps  # frames per second the source was recorded at; 0 when unknown
        self.skipped = 0
        self._items, self._size, self._close = items, size, close
        self._on_skip = on_skip or _log.warning
        self._last_problem = ''
        self._pending = self._next_frame()
        if self._pending is None:
            self.close()
            raise ValueError(f'{description} has no frame that can be decoded'
                             + (f': {self._last_problem}' if self._last_problem else ''))

    def read(self) -> np.ndarray | None:
        frame, self._pending = self._pending, None
        if frame is None:
            frame = self._next_frame()
        return None if frame is None else self._resized(frame)

    def close(self) -> None:
        if self._close:
            self._close()

    def __iter__(self):
        return self

    def __next__(self) -> np.ndarray:
        frame = self.read()
        if frame is None:
            raise StopIteration
        return frame

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _next_frame(self) -> np.ndarray | None:
        for item in self._items:
            if not isinstance(item, str):
                return item
            self.skipped += 1
            self._last_problem = item
            self._on_skip(f'{self.description}: skipped {item}')
        return None

    def _resized(self, frame: np.ndarray) -> np.ndarray:
        """frame at width x height; with only one of them set, the aspect ratio is kept."""
        width, height = self._size
        rows, cols = frame.shape[:2]
        width = width or (round(cols * height / rows) if height else cols)
        height = height or round(rows * width / cols)
        if (width, height) == (cols, rows):
            return frame
        # INTER_AREA averages when shrinking but acts like nearest-neighbour when enlarging.
        interpolation = cv2.INTER_AREA if width < cols else cv2.INTER_LINEAR
        return cv2.resize(frame, (width, height), interpolation=interpolation)


def _repeat(make_items: Callable[[], Items], loop: bool) -> Items:
    """The items of make_items(), again and again when loop, while a pass yields a frame."""
    while True:
        yielded_a_frame = False
        for item in make_items():
            yielded_a_frame = yielded_a_frame or not isinstance(item, str)
            yield item
        if not (loop and yielded_a_frame):
            return


def _still(frame: np.ndarray) -> Callable[[], Items]:
    return lambda: iter([frame.copy()])  # a copy: whoever draws on a frame spoils no other


def _capture(spec, description: str, is_device: bool):
    """(make_items, fps, release) of a cv2.VideoCapture on a camera or a video file."""
    capture = cv2.VideoCapture(spec)
    if not capture.isOpened():
        capture.release()
        fix = ('check that the camera is connected, that you may read it (group video) and '
               'that no other program holds it' if is_device else
               'check that it is a video OpenCV can decode (try it with ffplay)')
        raise ValueError(f'cannot open {description}: {fix}')

    def make_items() -> Items:
        if not is_device:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)  # every pass starts at the beginning
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame

    return make_items, capture.get(cv2.CAP_PROP_FPS) or 0.0, capture.release


def _natural_key(path: pathlib.Path) -> list:
    """Sort key putting frame2.png before frame10.png."""
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', path.name)]


def image_files(folder: pathlib.Path) -> list:
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                    and not p.name.startswith('.')), key=_natural_key)
    if not files:
        raise ValueError(f'no images ({", ".join(sorted(IMAGE_SUFFIXES))}) in folder {folder}: '
                         f'give a folder that holds some, or {SOURCE_KINDS}')
    return files


def _read_images(files: list) -> Items:
    for path in files:
        frame = cv2.imread(str(path))
        yield f'{path.name}: not an image OpenCV can decode' if frame is None else frame


def _bag(path: pathlib.Path, topic: str):
    """(make_items, fps, close) of one image topic of a bag: topic, or its first image topic.

    fps is the topic's average rate over the whole bag.
    """
    # bag_io needs rosbags: imported only for bags.
    from facekp_ros.bag_io import decode_message, image_connections, open_reader

    reader = open_reader(path)
    try:
        connections = image_connections(reader, topic)
    except ValueError as error:
        reader.close()
        raise ValueError(f'{path}: {error}: set bag_topic to one of its image topics '
                         'or record one') from error

    def make_items() -> Items:
        for connection, stamp_ns, raw in reader.messages(connections=connections):
            try:
                yield decode_message(reader, connection, raw)[1].bgr8
            except ValueError as error:
                yield f'{connection.topic} message at {stamp_ns} ns: {error}'

    count = sum(c.msgcount for c in connections)
    fps = (count - 1) / (reader.duration * 1e-9) if count > 1 and reader.duration > 1 else 0.0
    return make_items, fps, reader.close


def _is_bag(path: pathlib.Path) -> bool:
    return path.suffix in BAG_SUFFIXES or (path.is_dir() and (path / 'metadata.yaml').exists())


def _open_device(source: str) -> tuple:
    """(make_items, description, fps, close) of a camera index or /dev/videoN."""
    if not source.isdigit() and not pathlib.Path(source).exists():
        raise FileNotFoundError(f'no camera at {source}: `ls /dev/video*` lists them')
    description = f'camera {source}'
    make_items, fps, release = _capture(int(source) if source.isdigit() else source,
                                        description, is_device=True)
    return make_items, description, fps, release


def _open_path(source: str, bag_topic: str) -> tuple:
    """(make_items, description, fps, close) of a bag, folder, image or video file."""
    path = pathlib.Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f'source {source!r} does not exist: give {SOURCE_KINDS}')
    if _is_bag(path):
        make_items, fps, close = _bag(path, bag_topic)
        return make_items, f'bag {path}', fps, close
    if path.is_dir():
        files = image_files(path)
        return lambda: _read_images(files), f'folder {path}', 0.0, None
    if path.suffix.lower() in IMAGE_SUFFIXES:
        frame = cv2.imread(str(path))
        if frame is None:
            raise ValueError(f'cannot decode image {path}: give an image OpenCV can read')
        return _still(frame), f'image {path}', 0.0, None
    description = f'video file {path}'
    make_items, fps, release = _capture(str(path), description, is_device=False)
    return make_items, description, fps, release


def open_source(source: str, width: int = 0, height: int = 0, loop: bool = True,
                bag_topic: str = '', on_skip: Callable[[str], None] | None = None
                ) -> FrameSource:
    """Opens source: 'sample', a camera index or /dev/videoN, a video or image file, a folder
    of images (in natural order), or a ROS 2 bag (bag_topic, or its first image topic).

    Frames are resized to width x height when given (one of them alone keeps the aspect
    ratio). loop starts files, folders and bags again at their end. Undecodable items are
    skipped and passed to on_skip (default: a logging warning). Raises FileNotFoundError or
    ValueError naming the source and what to do.
    """
    if width < 0 or height < 0:
        raise ValueError(f'width and height must be 0 (native) or positive, not '
                         f'{width} x {height}')
    if not source:
        raise ValueError(f'source is empty: give {SOURCE_KINDS}')
    if source == 'sample':
        opened = _still(sample_frame()), 'built-in sample', 0.0, None
    elif source.isdigit() or source.startswith('/dev/video'):
        opened = _open_device(source)
    else:
        opened = _open_path(source, bag_topic)
    make_items, description, fps, close = opened
    return FrameSource(_repeat(make_items, loop), description, (width, height), fps, close,
                       on_skip)
