"""Reading video files with PyAV (FFmpeg), and what reading and writing share.

:class:`VideoReader` opens anything FFmpeg can demux (files and stream URLs),
checks it is usable (a video stream, a sane size), and yields upright RGB
frames with their timestamps, plus, on request, the audio packets to carry
over. :class:`FrameQueue` bounds the frames waiting between the decoder, the
face work and the encoder by their bytes. The encoder's settings
(:data:`DEFAULT_CRF`, :data:`X264_PARAMS`) live here too, for the command line;
the writing side is :mod:`facemoji.video.writer`, which imports this module
(never the other way round).
"""

from __future__ import annotations

import contextlib
import os
import queue
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from facemoji.errors import InputError
from facemoji.stream.yuv import YuvFrame

# Resolution limits: above 8K on a side, or beyond 8K UHD's pixel count, is refused.
MAX_SIDE = 8192
MAX_PIXELS = 8192 * 4320

# Frames waiting between the decoder, the face work and the encoder: each queue holds at most this many bytes of
# pixels, or two frames where two are more than that, so memory does not grow with the resolution: as 4:2:0
# frames, about 18 at 640x480, 6 at 720p, 2 at 1080p and at 4K. Deeper queues did not run faster.
QUEUE_BYTES = 8 << 20

# x264 settings beside the preset and CRF. Without B-frames and with a lookahead of 5 frames instead of the
# preset's 10, x264 keeps far fewer frames in memory (about 270 MiB less at 4K, 70 MiB at 1080p). At the same
# CRF that lowers the quality, so the default CRF is 21 instead of x264's usual 23: a little better quality
# (PSNR) than x264's defaults at CRF 23, in files about a fifth larger (docs/benchmarks.md).
X264_PARAMS = "bframes=0:rc-lookahead=5"
DEFAULT_CRF = 21

URL_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "rtmps://", "http://", "https://", "udp://", "tcp://", "srt://")


def _pixel_bytes(item: object) -> int:
    if isinstance(item, tuple):
        return sum(_pixel_bytes(x) for x in item)
    if isinstance(item, (np.ndarray, YuvFrame)):
        return item.nbytes
    image = getattr(item, "image", None)
    return image.nbytes if isinstance(image, (np.ndarray, YuvFrame)) else 0


class FrameQueue(queue.Queue):
    """A thread-safe FIFO bounded by the bytes of the frames it holds, not by how many items it holds.

    Items are anything :class:`VideoReader` or a frame loop pass along: arrays, :class:`VideoFrameData`,
    tuples of them, audio packets and end markers (which count as nothing). ``put`` waits while the
    frames held reach ``max_bytes``; an empty queue always takes an item, so a frame larger than the
    budget still passes, one at a time.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(maxsize=max(1, int(max_bytes)))
        self.nbytes = 0

    def _init(self, maxsize: int) -> None:
        self.queue: deque[tuple[Any, int]] = deque()

    def _qsize(self) -> int:
        # bytes held, plus one per item so that a queue of audio packets is not taken for empty
        return self.nbytes + len(self.queue)

    def _put(self, item: Any) -> None:
        n = _pixel_bytes(item)
        self.queue.append((item, n))
        self.nbytes += n

    def _get(self) -> Any:
        item, n = self.queue.popleft()
        self.nbytes -= n
        return item


def queue_bytes(width: int, height: int, bytes_per_pixel: float = 3) -> int:
    """The byte budget of a queue of frames of ``width`` x ``height``: :data:`QUEUE_BYTES`, or two frames.

    ``bytes_per_pixel``: 3 for RGB, 1.5 for YUV 4:2:0 (:class:`~facemoji.stream.yuv.YuvFrame`).
    """
    return max(QUEUE_BYTES, int(2 * width * height * bytes_per_pixel))


def is_url(text: str) -> bool:
    return str(text).lower().startswith(URL_PREFIXES)


def _first_line(e: BaseException) -> str:
    strerror = getattr(e, "strerror", None)
    if isinstance(strerror, str) and strerror:
        return strerror
    text = str(e).strip()
    return text.splitlines()[0] if text else e.__class__.__name__


@dataclass
class VideoFrameData:
    """One decoded frame: upright pixels (RGB, or a :class:`YuvFrame` from a reader opened with ``yuv=True``),
    timestamp (stream time base) and seconds from the start."""

    index: int
    time: float
    image: np.ndarray | YuvFrame
    pts: int | None


class VideoReader:
    """Decode the first video stream of a file or URL into upright RGB frames.

    With ``yuv=True`` the frames come as :class:`YuvFrame` (8-bit 4:2:0 planes, even sides) instead: no
    whole-frame conversion to RGB, and half the memory.

    Raises :class:`InputError` (one line) when the input is missing, not a
    video, has no video stream, or is larger than ``MAX_SIDE``/``MAX_PIXELS``.
    """

    def __init__(self, source: str | os.PathLike, *, threads: int = 0, with_audio: bool = False,
                 max_side: int = MAX_SIDE, max_pixels: int = MAX_PIXELS, yuv: bool = False) -> None:
        import av

        self.name = str(source)
        self.yuv = yuv
        if not is_url(self.name):
            p = Path(source)
            if not p.exists():
                raise InputError(f"{p}: no such file")
            if p.is_dir():
                raise InputError(f"{p}: is a folder, not a video")
            if p.stat().st_size == 0:
                raise InputError(f"{p}: empty file (0 bytes)")
        try:
            options = {"rw_timeout": "10000000"} if is_url(self.name) else {}
            self.container = av.open(self.name, options=options, timeout=(10.0, 10.0))
        except av.FFmpegError as e:
            raise InputError(f"{self.name}: not a video FFmpeg can read, or corrupt ({_first_line(e)})") from None
        except OSError as e:
            raise InputError(f"{self.name}: cannot open ({e.strerror or _first_line(e)})") from None
        try:
            if not self.container.streams.video:
                kinds = sorted({s.type for s in self.container.streams})
                what = f"only {', '.join(kinds)}" if kinds else "no streams at all: empty, or not a video"
                raise InputError(f"{self.name}: has no video stream ({what})")
            self.stream = self.container.streams.video[0]
            cc = self.stream.codec_context
            w, h = int(cc.width or 0), int(cc.height or 0)
            if w <= 0 or h <= 0:
                raise InputError(f"{self.name}: video stream has no picture size (corrupt?)")
            if max(w, h) > max_side or w * h > max_pixels:
                raise InputError(f"{self.name}: video resolution {w}x{h} is too large (the limit is {max_side} "
                                 f"pixels a side and {max_pixels / 1e6:.0f} megapixels)")
            if threads >= 0:
                self.stream.thread_type = "AUTO"
                self.stream.codec_context.thread_count = threads
            self.coded_size = (w, h)
            rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
            self.rate: Fraction | None = Fraction(rate) if rate and 0 < float(rate) < 1000 else None
            self.fps = float(self.rate) if self.rate else None
            self.time_base: Fraction = self.stream.time_base or Fraction(1, 90000)
            self.frame_count = int(self.stream.frames) if self.stream.frames else None
            self.frame_count_exact = self.frame_count is not None  # from the header (MP4/MOV), not estimated
            self.duration = self._duration()
            # the video stream's own length (the container's may include a longer audio track)
            self.video_duration = float(self.stream.duration * self.time_base) if self.stream.duration else None
            if self.frame_count is None and self.duration and self.fps:
                self.frame_count = max(1, round(self.duration * self.fps))
            self.audio = self.container.streams.audio[0] if with_audio and self.container.streams.audio else None
            self.frames_read = 0
            self.first_pts: int | None = None
            self._pending: list[tuple[str, Any]] = []
            self._demux = self.container.demux(*([self.stream] + ([self.audio] if self.audio is not None else [])))
            self._peek()
        except BaseException:
            self.container.close()
            raise

    def _duration(self) -> float | None:
        if self.stream.duration and self.time_base:
            return float(self.stream.duration * self.time_base)
        if self.container.duration:
            return self.container.duration / 1_000_000
        return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _peek(self) -> None:
        """Decode up to the first frame now, so size and rotation are known and empty videos are refused."""
        for kind, item in self._items():
            self._pending.append((kind, item))
            if kind == "video":
                self.size = self._first_size
                self.rotation = (self._first_rotation // 90 % 4) * 90
                return
        raise InputError(f"{self.name}: video has no frames (empty, or truncated before the first frame)")

    def _items(self) -> Iterator[tuple[str, Any]]:
        import av

        try:
            for packet in self._demux:
                if packet.stream is self.stream:
                    for frame in self.stream.decode(packet):
                        yield "video", self._wrap(frame)
                elif packet.dts is not None or packet.size:
                    yield "audio", packet
        except av.FFmpegError as e:
            if self.frames_read == 0:
                raise InputError(f"{self.name}: cannot decode video ({_first_line(e)})") from None
            raise InputError(f"{self.name}: corrupt or truncated video: decoding failed after "
                             f"{self.frames_read} frames ({_first_line(e)})") from None

    def read(self) -> Iterator[tuple[str, Any]]:
        """Everything in file order: ``("video", VideoFrameData)`` and, with audio, ``("audio", packet)``."""
        pending, self._pending = self._pending, []
        yield from pending
        yield from self._items()

    def frames(self) -> Iterator[VideoFrameData]:
        """Every frame, upright RGB, in presentation order."""
        for kind, item in self.read():
            if kind == "video":
                yield item

    def _to_rgb(self, frame: Any) -> np.ndarray | YuvFrame:
        rot = getattr(frame, "rotation", 0) or 0
        k = int(round(rot / 90.0)) % 4
        if self.frames_read == 0:
            self._first_rotation = k * 90
            self._first_size = (frame.height, frame.width) if k % 2 else (frame.width, frame.height)
        if self.yuv and not k:
            return YuvFrame.copy_of(frame)
        img = frame.to_ndarray(format="rgb24")
        if k:
            img = np.ascontiguousarray(np.rot90(img, k))
        return YuvFrame.from_rgb(img) if self.yuv else img

    def _wrap(self, frame: Any) -> VideoFrameData:
        import av

        try:
            img = self._to_rgb(frame)
        except av.FFmpegError as e:
            raise InputError(f"{self.name}: cannot convert frame {self.frames_read} ({_first_line(e)})") from None
        pts = frame.pts
        if self.frames_read == 0:
            self.first_pts = pts
        if pts is not None and self.first_pts is not None:
            t = float((pts - self.first_pts) * self.time_base)
        else:
            t = self.frames_read / (self.fps or 30.0)
        data = VideoFrameData(self.frames_read, t, img, pts)
        self.frames_read += 1
        return data
