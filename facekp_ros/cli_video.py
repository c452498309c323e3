"""`facekp video`: video files (PyAV), cameras and folders of frames through the pipeline,
in order, with clean stops."""
import json
import os
import pathlib
import signal
import sys
import threading
from fractions import Fraction

import cv2
from tqdm import tqdm

from facekp_ros.cli_media import CliError, frame_record, is_camera, plan_outputs
from facekp_ros.core.image_codec import from_bgr8
from facekp_ros.core.pipeline import FacePipeline
from facekp_ros.core.worker import FrameWorker
from facekp_ros.media_files import WriteError, partial_path, remove_leftovers
from facekp_ros.sources import open_source
from facekp_ros.video_files import SUFFIXES, Frame, VideoInput, VideoOutput


class CaptureInput:
    """A camera or a folder of frames (OpenCV) with VideoInput's interface: frames at the
    source's fixed rate, no audio, no tags."""

    def __init__(self, name: str):
        try:
            self.source = open_source(name, loop=False)
        except (OSError, ValueError) as error:
            raise CliError(str(error)) from error
        self.fps = self.source.fps if 0 < self.source.fps < 240 else 30.0  # unknown: 30
        self.time_base = 1 / Fraction(self.fps).limit_denominator(1001)
        self.tags, self.audio, self.expected = {}, [], None

    def items(self):
        for index, pixels in enumerate(self.source):
            yield Frame(index, pixels, index, index / self.fps)

    def ended_early(self) -> str:
        return ''

    def close(self) -> None:
        self.source.close()


def open_video(name: str, args):
    if is_camera(name) or pathlib.Path(name).is_dir():
        return CaptureInput(name)
    try:
        return VideoInput(pathlib.Path(name), args.keep_audio, args.keep_metadata)
    except ValueError as error:
        raise CliError(str(error)) from error


class VideoRun:
    """One video through the pipeline: detection of frame N+1 on one thread while frame N
    gets keypoints, anonymization and is written on another; frames and audio packets stay
    in the file's order. The first write error stops the writing (self.failure)."""

    def __init__(self, pipeline, source_name: str, output: VideoOutput, args, json_file):
        self.pipeline, self.output, self.args = pipeline, output, args
        self.source_name, self.json_file = source_name, json_file
        self.errors, self.failure, self.shape = [], None, None
        self.worker = FrameWorker('video', [self._detect, self._finish], self._failed,
                                  newest_only=False)

    def _detect(self, item):
        if not isinstance(item, Frame):
            return None  # an audio packet, muxed in turn by _finish
        image = from_bgr8(item.pixels)
        return image, self.pipeline.detect(image)

    def _finish(self, item, detected) -> None:
        if self.failure is not None:
            return
        try:
            if isinstance(item, Frame):
                self._write(item, *detected)
            else:
                self.output.packet(item)
        except WriteError as error:
            self.failure = error

    def _write(self, item: Frame, image, detections) -> None:
        result = self.pipeline.finish(image, detections, item.t_s)
        out = result.anonymized.pixels if self.args.anonymize else result.annotated
        self.shape = self.shape or out.shape
        # A video has one frame size: a frame of another is scaled to it.
        self.output.frame(out if out.shape == self.shape
                          else cv2.resize(out, self.shape[1::-1]), item.pts)
        if self.json_file:
            record = {'video': self.source_name, 'frame': item.index,
                      't_s': round(item.t_s, 6), **frame_record(self.pipeline, result)}
            self.json_file.write(json.dumps(record) + '\n')

    def _failed(self, item, error) -> None:
        self.errors.append(f'frame {getattr(item, "index", "?")}: {error}')

    def drain(self) -> None:
        while not self.worker.idle():
            threading.Event().wait(0.01)
        self.worker.stop()


def run_video(pipeline, source_name: str, target: pathlib.Path, args, json_file) -> int:
    """Frames written; CliError when the input cannot be opened, WriteError when the output
    cannot be written (nothing is then left at target), InputEndedEarlyError after writing what
    could be read."""
    source = open_video(source_name, args)
    output = VideoOutput(target, source)
    run = VideoRun(pipeline, source_name, output, args, json_file)
    try:
        with tqdm(total=source.expected, unit='frame', desc=str(source_name),
                  disable=args.quiet) as progress:
            for item in source.items():
                if run.failure is not None:
                    break
                run.worker.submit(item)
                progress.update(isinstance(item, Frame))
        run.drain()
        if run.failure is not None:
            raise run.failure
        output.commit()
    except BaseException:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: no half clean-up
        # A frame still being detected or written is not waited for (a second at most for the
        # whole stop): then the file is only unlinked, as that thread may still write to it.
        output.abort(close=run.worker.stop(timeout_s=0.1))
        raise
    finally:
        source.close()
    for error in run.errors:
        print(f'facekp: {source_name}: {error}', file=sys.stderr)
    if output.note:
        print(f'facekp: {target}: {output.note}', file=sys.stderr)
    early = source.ended_early()
    if early:
        raise InputEndedEarlyError(f'{source_name}: {early}; the {output.written} frame(s) read '
                              f'are in {target}')
    return output.written


class InputEndedEarlyError(Exception):
    """A video shorter than its file said (truncated): exit code 1."""


def run_videos(args, config) -> int:
    for item in args.inputs:
        if not is_camera(item) and not pathlib.Path(item).exists():
            raise CliError(f'cannot read video {item}: no such file or folder')
    kind = 'anonymized' if args.anonymize else 'annotated'
    jobs = [(item, pathlib.Path(f'camera{pathlib.Path(item).name}_{kind}.mp4') if is_camera(item)
             else pathlib.Path(item).with_name(f'{pathlib.Path(item).stem}_{kind}.mp4'))
            for item in args.inputs]
    planned = plan_outputs(jobs, args.out, kind)
    for _, target in planned:
        if target.suffix.lower() not in SUFFIXES:
            raise CliError(f'cannot write {target}: facekp video writes H.264 in '
                           + ', '.join(SUFFIXES))
    pipeline = FacePipeline(config)
    json_path = pathlib.Path(args.json) if args.json else None
    if json_path:
        remove_leftovers(json_path)
    json_file = open(partial_path(json_path), 'w') if json_path else None
    failed = 0
    try:
        for source, target in planned:
            pipeline.reset()
            remove_leftovers(target)
            try:
                written = run_video(pipeline, str(source), target, args, json_file)
            except CliError as error:
                if len(planned) == 1:
                    raise
                print(f'facekp: {source}: {error}', file=sys.stderr)
                failed += 1
                continue
            except (WriteError, InputEndedEarlyError) as error:
                print(f'facekp: {error}', file=sys.stderr)
                failed += 1
                continue
            print(f'{source}: {written} frame(s) written to {target}')
        if json_file:
            json_file.close()
            os.replace(json_file.name, json_path)
    finally:
        if json_file:
            json_file.close()
            pathlib.Path(json_file.name).unlink(missing_ok=True)
    return 1 if failed else 0

