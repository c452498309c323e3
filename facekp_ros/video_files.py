"""Video files for `facekp video`, through PyAV (FFmpeg's libraries): frames decoded upright
with their own times, written as H.264 at the same times with the audio copied and the
creation time kept, whole or not at all (beside the final name, checked, renamed).

PyAV, not a pipe into the ffmpeg program: a pipe of raw frames carries no timestamps, so a
variable-frame-rate video would come out at a fixed rate (issue 18).
"""
import os
import pathlib
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from facekp_ros.media_files import WriteError, partial_path

# Container tags copied to the output. The rest can name a place (com.apple.quicktime.location
# .ISO6709, location) or a device; the creation time keeps the video in line with others.
KEPT_TAGS = ('creation_time',)
CRF = 18  # x264 quality: visually lossless outside the hidden faces
PRESET = 'veryfast'  # ~3x the speed of 'medium' at 640x480, a few % larger files


@dataclass
class Frame:
    index: int
    pixels: np.ndarray  # uint8 BGR, upright
    pts: int  # in the input stream's time_base
    t_s: float


class VideoInput:
    """A video file's frames (upright, with times) and, when kept, its audio packets, in the
    file's order. ValueError when it cannot be opened."""

    def __init__(self, path: pathlib.Path, keep_audio: bool):
        try:
            self.container = av.open(str(path))
        except av.FFmpegError as error:
            raise ValueError(f'cannot open video {path}: {error}') from None
        if not self.container.streams.video:
            self.container.close()
            raise ValueError(f'{path} has no video stream')
        self.path = path
        self.video = self.container.streams.video[0]
        self.video.thread_type = 'AUTO'
        self.audio = list(self.container.streams.audio) if keep_audio else []
        self.expected = self.video.frames or None  # what the container says; 0 = not said
        self.read, self.problem = 0, ''

    @property
    def fps(self) -> float:
        rate = self.video.average_rate or self.video.guessed_rate
        return float(rate) if rate else 30.0

    @property
    def time_base(self) -> Fraction:
        return self.video.time_base or Fraction(1, 90000)

    @property
    def tags(self) -> dict:
        return {k: v for k, v in self.container.metadata.items() if k in KEPT_TAGS}

    def items(self):
        """Frame objects and audio packets, as demuxed; stops early on a broken file (the
        reason in self.problem)."""
        try:
            for packet in self.container.demux(self.video, *self.audio):
                if packet.stream.type == 'audio':
                    if packet.dts is not None:  # the demuxer's empty flush packet has none
                        yield packet
                    continue
                for frame in packet.decode():
                    yield self._frame(frame)
        except av.FFmpegError as error:
            self.problem = f'{error}'

    def _frame(self, frame) -> Frame:
        pixels = frame.to_ndarray(format='bgr24')
        if frame.rotation % 360:  # the display matrix: turn counter-clockwise to show it
            pixels = np.ascontiguousarray(np.rot90(pixels, round(frame.rotation / 90)))
        pts = frame.pts if frame.pts is not None else self.read
        t_s = float(pts * frame.time_base) if frame.time_base else self.read / self.fps
        self.read += 1
        return Frame(self.read - 1, pixels, pts, t_s)

    def ended_early(self) -> str:
        """'' when every frame the file announced was read, else what happened."""
        if self.problem or (self.expected and self.read < self.expected):
            return (f'read {self.read} of {self.expected or "?"} frames: the input ended '
                    f'early{": " + self.problem if self.problem else ""}')
        return ''

    def close(self) -> None:
        self.container.close()


class VideoOutput:
    """An H.264 .mp4 (or .mkv/.mov) written beside target, renamed onto it by commit().
    source: a VideoInput, or anything with its fps, time_base, tags and audio streams."""

    def __init__(self, target: pathlib.Path, source):
        self.target, self.source = target, source
        self.partial = partial_path(target, target.suffix)
        self.container, self.stream, self.written, self.note = None, None, 0, ''
        self.audio, self.early_audio = {}, []  # audio before the first frame waits for it

    def _open(self, shape) -> None:
        height, width = shape[:2]
        # 4:2:0 chroma needs even sides; a row or column repeated keeps every pixel.
        self.size = (width + width % 2, height + height % 2)
        if self.size != (width, height):
            self.note = (f'{width}x{height} padded to {self.size[0]}x{self.size[1]} (H.264 in '
                         '4:2:0 needs even sides)')
        self.container = av.open(str(self.partial), 'w')
        self.container.metadata.update(self.source.tags)
        stream = self.container.add_stream('libx264', rate=Fraction(self.source.fps)
                                           .limit_denominator(1001))
        stream.width, stream.height = self.size
        stream.pix_fmt = 'yuv420p'
        stream.time_base = self.source.time_base
        stream.codec_context.time_base = stream.time_base
        stream.options = {'crf': str(CRF), 'preset': PRESET}
        self.stream = stream
        for audio in self.source.audio:
            self.audio[audio.index] = self.container.add_stream_from_template(audio)

    def frame(self, pixels: np.ndarray, pts: int) -> None:
        if self.container is None:
            self._guard(self._open, pixels.shape)
            for packet in self.early_audio:
                self.packet(packet)
            self.early_audio = []
        height, width = pixels.shape[:2]
        if (width, height) != self.size:
            pixels = np.pad(pixels, ((0, self.size[1] - height), (0, self.size[0] - width),
                                     (0, 0)), mode='edge')
        frame = av.VideoFrame.from_ndarray(pixels, format='bgr24')
        frame.pts, frame.time_base = pts, self.stream.time_base
        self._guard(lambda: self.container.mux(self.stream.encode(frame)))
        self.written += 1

    def packet(self, packet) -> None:
        if self.container is None:
            self.early_audio.append(packet)
            return
        packet.stream = self.audio[packet.stream.index]
        self._guard(self.container.mux, packet)

    def _guard(self, call, *args) -> None:
        try:
            call(*args)
        except (av.FFmpegError, OSError) as error:
            reason = os.strerror(error.errno) if getattr(error, 'errno', None) else error
            raise WriteError(f'cannot write {self.target}: {reason}') from None

    def commit(self) -> None:
        """Flush, close, check the file (it opens, holds every frame at the right size), then
        rename it onto target; WriteError and no file otherwise."""
        try:
            if self.container is None:
                raise WriteError(f'cannot write {self.target}: no frame to write')
            self._guard(lambda: self.container.mux(self.stream.encode(None)))
            self._guard(self.container.close)
            self.container = None
            problem = self._check()
            if problem:
                raise WriteError(f'cannot write {self.target}: {problem}')
            os.replace(self.partial, self.target)
        finally:
            self.abort()

    def _check(self) -> str:
        with open(self.partial, 'rb') as file:
            os.fsync(file.fileno())
        try:
            with av.open(str(self.partial)) as written:
                video = written.streams.video[0]
                frames, size = video.frames, (video.width, video.height)
        except (av.FFmpegError, IndexError) as error:
            return f'the written file does not open: {error}'
        if frames != self.written or size != self.size:
            return (f'it holds {frames} frames of {size[0]}x{size[1]}, {self.written} of '
                    f'{self.size[0]}x{self.size[1]} were written')
        return ''

    def abort(self) -> None:
        """Drop the partial file (Ctrl-C, an error)."""
        if self.container is not None:
            try:
                self.container.close()
            except (av.FFmpegError, OSError):
                pass  # the file goes anyway
            self.container = None
        self.partial.unlink(missing_ok=True)
