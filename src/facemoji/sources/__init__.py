"""One way to get frames, whatever they come from.

:func:`open_source` takes an image file, a folder of images, a video file, a
stream URL (``rtsp://``, ``http://`` ...) or a camera (an ``int`` or a digit
string such as ``"0"``), and returns a :class:`Source`: iterate it for
:class:`Frame` objects (``index``, ``time`` in seconds, ``image`` RGB uint8),
read ``fps``, ``size`` (width, height) and ``frame_count`` where known::

    from facemoji.sources import open_source
    with open_source("clip.mp4") as src:
        print(src.fps, src.size, src.frame_count)
        for frame in src:
            faces = pipeline.analyze(frame.image)

Every problem opening or reading a source raises
:class:`~facemoji.errors.InputError` with a one-line message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facemoji.errors import InputError
from facemoji.imageio import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, read_image
from facemoji.video.io import is_url

__all__ = ["CameraSource", "CameraStopped", "Frame", "ImageSource", "Source", "VideoSource", "open_source"]


@dataclass
class Frame:
    """One frame: its position in the source, its time in seconds from the first frame, and the RGB pixels."""

    index: int
    time: float
    image: np.ndarray
    pts: int | None = None  # presentation timestamp in the video stream's time base, when there is one


class CameraStopped(InputError):
    """A camera or live stream stopped delivering frames part-way."""


class Source:
    """Base class: an iterable of :class:`Frame` with what is known about the frames."""

    kind: str = "source"
    name: str = ""
    fps: float | None = None
    size: tuple[int, int] | None = None  # (width, height)
    frame_count: int | None = None
    live: bool = False  # a camera or stream: frames come in real time and never "end" by themselves

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, fps={self.fps}, size={self.size}, "
                f"frame_count={self.frame_count})")


class VideoSource(Source):
    """A video file or a stream URL, decoded with FFmpeg (PyAV), upright per its rotation metadata."""

    kind = "video"

    def __init__(self, path: str | os.PathLike, threads: int = 0, yuv: bool = False, with_audio: bool = False) -> None:
        from facemoji.video.io import VideoReader

        self.name = str(path)
        self.live = is_url(self.name)
        if self.live:
            self.kind = "stream"
        # yuv: frames stay in the codec's 4:2:0 planes (facemoji.stream.yuv.YuvFrame) instead of RGB arrays
        self.reader = VideoReader(path, threads=threads, yuv=yuv, with_audio=with_audio)
        self.fps = self.reader.fps
        self.size = self.reader.size
        self.frame_count = None if self.live else self.reader.frame_count
        self.duration = self.reader.duration

    def __iter__(self) -> Iterator[Frame]:
        for f in self.reader.frames():
            yield Frame(f.index, f.time, f.image, f.pts)

    def read(self) -> Iterator[tuple[str, object]]:
        """Frames and, opened ``with_audio``, the audio packets between them, in file order: ``("video", Frame)``
        and ``("audio", packet)``."""
        for kind, item in self.reader.read():
            yield kind, Frame(item.index, item.time, item.image, item.pts) if kind == "video" else item

    def close(self) -> None:
        self.reader.close()


class ImageSource(Source):
    """Still images (one file, or every image in a folder, sorted by path) as frames ``1 / fps`` seconds apart."""

    kind = "images"

    def __init__(self, paths: list[Path], name: str, fps: float | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.paths = paths
        self.name = name
        self.fps = fps
        self.frame_count = len(paths)
        self.max_pixels = max_pixels
        if len(paths) == 1:
            img = read_image(paths[0], max_pixels)
            self._first: np.ndarray | None = img
            self.size = (img.shape[1], img.shape[0])
        else:
            self._first = None

    def __iter__(self) -> Iterator[Frame]:
        step = 1.0 / self.fps if self.fps else 1.0
        for i, p in enumerate(self.paths):
            img = self._first if (i == 0 and self._first is not None) else read_image(p, self.max_pixels)
            yield Frame(i, i * step, img)


class CameraSource(Source):
    """A local camera through OpenCV; times are seconds since the first frame arrived."""

    kind = "camera"
    live = True

    def __init__(self, index: int, width: int | None = None, height: int | None = None,
                 max_failures: int = 50) -> None:
        import cv2

        self.index = index
        self.name = f"camera {index}"
        self.max_failures = max_failures
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            self.cap = cv2.VideoCapture(index)
            ok = self.cap.isOpened()
            if ok and width and height:
                self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
                self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            first = (False, None)
            for _ in range(40 if ok else 0):  # some cameras need a moment before the first frame
                first = self.cap.read()
                if first[0] and first[1] is not None:
                    break
                time.sleep(0.05)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not ok or not first[0] or first[1] is None:
            self.cap.release()
            raise InputError(f"camera {index}: no camera there, or it cannot be opened (is it in use? "
                             "try --camera N, or --source FILE)")
        self._first = cv2.cvtColor(first[1], cv2.COLOR_BGR2RGB)
        self.size = (self._first.shape[1], self._first.shape[0])
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else None

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        start = time.monotonic()
        yield Frame(0, 0.0, self._first)
        index, failures = 1, 0
        while True:
            ok, bgr = self.cap.read()
            if not ok or bgr is None:
                failures += 1
                if failures >= self.max_failures:
                    raise CameraStopped(f"camera {self.index}: stopped delivering frames after {index} frames")
                time.sleep(0.02)
                continue
            failures = 0
            yield Frame(index, time.monotonic() - start, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1

    def close(self) -> None:
        self.cap.release()


def _camera_index(x: object) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, str) and x.strip().isdigit() and not Path(x).exists():
        return int(x.strip())
    return None


def open_source(x: str | os.PathLike | int, *, fps: float | None = None, threads: int = 0,
                max_pixels: int = DEFAULT_MAX_PIXELS) -> Source:
    """Open an image, a folder of images, a video file, a stream URL or a camera index as a :class:`Source`.

    ``fps`` sets the spacing of image frames (default 1 frame a second).
    """
    cam = _camera_index(x)
    if cam is not None:
        if cam < 0:
            raise InputError(f"camera {cam}: camera numbers start at 0")
        return CameraSource(cam)
    name = str(x)
    if is_url(name):
        return VideoSource(name, threads=threads)
    p = Path(name)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"{p}: folder holds no images")
        return ImageSource(files, name, fps, max_pixels)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource([p], name, fps, max_pixels)
    return VideoSource(p, threads=threads)
