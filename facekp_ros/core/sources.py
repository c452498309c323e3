"""Frame sources for the camera: device, video file, image folder, ROS 2 bag, built-in sample."""
import pathlib

import cv2
import numpy as np

SAMPLE_IMAGE = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'astronaut.jpg'
IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm'}
BAG_SUFFIXES = {'.mcap', '.db3'}


def sample_frame() -> np.ndarray:
    """640x480 with four faces: the sample portrait at four sizes, two mirrored."""
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
    """read() -> BGR frame, or None at the end of a non-looping source."""

    def __init__(self, frames, description: str, size=(0, 0), fps: float = 0.0, close=None):
        self._frames = frames
        self.description, self.fps = description, fps
        self._size, self._close = size, close

    def read(self):
        frame = next(self._frames, None)
        if frame is not None and all(self._size):
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        return frame

    def close(self) -> None:
        if self._close:
            self._close()


def _repeat(make_frames, loop: bool):
    while True:
        yielded = False
        for frame in make_frames():
            yielded = True
            yield frame
        if not (loop and yielded):
            return


def _capture(spec, loop: bool, is_device: bool):
    capture = cv2.VideoCapture(spec)
    if not capture.isOpened():
        kind = 'camera device' if is_device else 'video file'
        raise ValueError(f'cannot open {kind} {spec!r}: check that it exists, is readable and '
                         'not used by another program')

    def frames():
        while True:
            ok, frame = capture.read()
            if ok:
                yield frame
            elif is_device or not loop:
                return
            else:
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = capture.read()
                if not ok:
                    return
                yield frame

    return frames(), capture.get(cv2.CAP_PROP_FPS) or 0.0, capture.release


def _image_files(folder: pathlib.Path) -> list:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f'no images ({", ".join(sorted(IMAGE_SUFFIXES))}) in folder {folder}')
    return files


def _folder_frames(files):
    for path in files:
        frame = cv2.imread(str(path))
        if frame is not None:
            yield frame


def _is_bag(path: pathlib.Path) -> bool:
    return path.suffix in BAG_SUFFIXES or (path.is_dir() and (path / 'metadata.yaml').exists())


def open_source(source: str, width: int = 0, height: int = 0, loop: bool = True,
                bag_topic: str = '') -> FrameSource:
    """Opens source: 'sample', a device index or /dev/videoN, a video or image file, a
    folder of images, or a ROS 2 bag. Raises ValueError / FileNotFoundError naming it."""
    size = (width, height)
    if source == 'sample':
        frame = sample_frame()
        return FrameSource(_repeat(lambda: [frame.copy()], loop), 'built-in sample', size)
    if source.isdigit() or source.startswith('/dev/video'):
        frames, fps, release = _capture(int(source) if source.isdigit() else source, loop, True)
        return FrameSource(frames, f'camera {source}', size, fps, release)
    path = pathlib.Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"source {source!r} does not exist: give a device index, "
                                "/dev/videoN, a video, an image, a folder, a bag or 'sample'")
    if _is_bag(path):
        # Bags hold ROS messages: their reader lives outside the ROS-free core.
        from facekp_ros.bag_io import bag_frames
        return FrameSource(_repeat(lambda: bag_frames(path, bag_topic), loop), f'bag {path}',
                           size)
    if path.is_dir():
        files = _image_files(path)
        return FrameSource(_repeat(lambda: _folder_frames(files), loop), f'folder {path}', size)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        frame = cv2.imread(str(path))
        if frame is None:
            raise ValueError(f'cannot decode image {path}')
        return FrameSource(_repeat(lambda: [frame.copy()], loop), f'image {path}', size)
    frames, fps, release = _capture(str(path), loop, False)
    return FrameSource(frames, f'video {path}', size, fps, release)
