"""Reading and writing video files with PyAV (FFmpeg).

:class:`VideoReader` opens anything FFmpeg can demux (files and stream URLs),
checks it is usable (a video stream, a sane size), and yields upright RGB
frames with their timestamps, plus, on request, the audio packets to carry
over. :class:`VideoWriter` encodes RGB frames as H.264/yuv420p in MP4 to a
temporary file beside the destination, copies or transcodes audio into it,
and renames it into place only when everything has been written.
"""

from __future__ import annotations

import contextlib
import os
import queue
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from facemoji.errors import InputError
from facemoji.imageio import usual_file_mode
from facemoji.stream.yuv import YuvFrame

# Resolution limits: above 8K on a side, or beyond 8K UHD's pixel count, is refused.
MAX_SIDE = 8192
MAX_PIXELS = 8192 * 4320

# Audio is copied into the MP4 as it is only when it is AAC from a container that keeps proper
# timestamps; everything else (MP3 in AVI, Opus, Vorbis, PCM, FLAC ...) is re-encoded as AAC.
MP4_AUDIO_COPY = frozenset({"aac"})
COPY_FROM_FORMATS = ("mov", "mp4", "m4a", "3gp", "matroska", "webm")

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


def check_output_path(path: str | os.PathLike, inputs: tuple[str, ...] = ()) -> Path:
    """Refuse output paths in missing folders, that are folders, or that would overwrite an input."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise InputError(f"{p}: is a folder; give an output file name such as {p / 'out.mp4'}")
    if not parent.exists():
        raise InputError(f"{p}: output folder {parent} does not exist")
    if not parent.is_dir():
        raise InputError(f"{p}: {parent} is not a folder")
    for src in inputs:
        if not is_url(src) and Path(src).exists() and p.exists() and os.path.samefile(src, p):
            raise InputError(f"{p}: output would overwrite the input; choose another -o")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{p}: cannot write in {parent} (permission denied)")
    return p


class AtomicFile:
    """A temporary file beside ``dest``, renamed onto it by :meth:`commit`, removed by :meth:`discard`."""

    def __init__(self, dest: str | os.PathLike, suffix: str = "") -> None:
        self.dest = Path(dest)
        parent = self.dest.parent if str(self.dest.parent) else Path(".")
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.dest.name}.", suffix=f".part{suffix}", dir=parent)
        except OSError as e:
            raise InputError(f"{self.dest}: cannot write there ({e.strerror or e})") from None
        os.close(fd)
        self.tmp = Path(tmp)
        self.done = False

    def commit(self) -> None:
        try:
            os.chmod(self.tmp, usual_file_mode())  # mkstemp makes files private; give the usual permissions
            os.replace(self.tmp, self.dest)
        except OSError as e:
            self.discard()
            raise InputError(f"{self.dest}: cannot write ({e.strerror or e})") from None
        self.done = True

    def discard(self) -> None:
        if not self.done:
            self.tmp.unlink(missing_ok=True)
            self.done = True


class VideoWriter:
    """Encode RGB frames to H.264 (yuv420p) MP4, written atomically.

    ``rate`` is the nominal frame rate; frames may carry explicit timestamps
    (``pts`` in ``time_base`` units) so variable-frame-rate inputs stay in
    sync with their audio. ``audio`` is an input audio stream whose packets
    are passed to :meth:`write_audio`: copied when MP4 can hold the codec,
    otherwise decoded and re-encoded as AAC.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, rate: Fraction | float | None,
                 *, time_base: Fraction | None = None, audio: Any = None, preset: str = "veryfast", crf: int = DEFAULT_CRF,
                 threads: int = 0, x264_params: str = X264_PARAMS) -> None:
        import av

        self.path = Path(path)
        self.file = AtomicFile(self.path, ".mp4")
        # yuv420p needs even sides: drop the odd last row/column
        self.width, self.height = width - width % 2, height - height % 2
        if self.width < 2 or self.height < 2:
            self.file.discard()
            raise InputError(f"{self.path}: frame size {width}x{height} is too small to encode")
        rate = Fraction(rate).limit_denominator(100000) if rate else Fraction(30)
        self.rate = rate
        self.time_base = time_base or Fraction(1, 1) / rate
        try:
            self.container = av.open(str(self.file.tmp), "w", format="mp4")
            self.video = self.container.add_stream("libx264", rate=rate)
            self.video.width, self.video.height = self.width, self.height
            self.video.pix_fmt = "yuv420p"
            self.video.time_base = self.time_base
            self.video.codec_context.time_base = self.time_base
            self.video.codec_context.thread_count = threads
            self.video.options = {"preset": preset, "crf": str(crf), **({"x264-params": x264_params} if x264_params else {})}
            self.audio_in = audio
            self.audio_out = None
            self.audio_copy = False
            self._resampler = None
            self._audio_next: int | None = None
            if audio is not None:
                self._add_audio(audio)
        except av.FFmpegError as e:
            self.abort()
            raise InputError(f"{self.path}: cannot start the video encoder ({_first_line(e)})") from None
        self.frames_written = 0
        self._last_pts: int | None = None

    def _add_audio(self, audio: Any) -> None:
        name = audio.codec_context.name
        fmt = audio.container.format.name if audio.container is not None else ""
        if name in MP4_AUDIO_COPY and any(f in fmt.split(",") for f in COPY_FROM_FORMATS):
            self.audio_out = self.container.add_stream_from_template(audio)
            self.audio_copy = True
            return
        import av

        rate = audio.codec_context.sample_rate or 48000
        if rate not in (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000):
            rate = 48000
        layout = "mono" if (audio.codec_context.channels or 2) == 1 else "stereo"
        self.audio_out = self.container.add_stream("aac", rate=rate, layout=layout)
        self.audio_out.bit_rate = 128000 if layout == "stereo" else 96000
        self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)

    def write(self, image: np.ndarray | YuvFrame, pts: int | None = None) -> None:
        """Encode one frame: an RGB array, or a :class:`YuvFrame` of the writer's size (taken as it is)."""
        if isinstance(image, YuvFrame):
            if (image.width, image.height) != (self.width, self.height):
                raise ValueError(f"frame is {image.width}x{image.height}, the video {self.width}x{self.height}")
        else:
            if image.shape[0] != self.height or image.shape[1] != self.width:
                image = image[: self.height, : self.width]
            # OpenCV's RGB -> YUV 4:2:0 (BT.601, limited range, as FFmpeg's default) is several times faster than
            # handing RGB to FFmpeg and letting it convert, which dominated the cost of a 1080p frame
            image = YuvFrame.from_rgb(image)
        frame = image.frame
        if pts is None:
            pts = round(self.frames_written / self.rate / self.time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # never go backwards (broken or duplicated timestamps)
        frame.pts = pts
        frame.time_base = self.time_base
        self._last_pts = pts
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        self.frames_written += 1

    def write_audio(self, packet: Any) -> None:
        if self.audio_out is None or packet.size == 0 and packet.pts is None:
            return
        if self.audio_copy:
            if packet.dts is None:
                return
            packet.stream = self.audio_out
            self.container.mux(packet)
            return
        for frame in packet.decode():
            self._encode_audio(frame)

    def _encode_audio(self, frame: Any) -> None:
        assert self._resampler is not None and self.audio_out is not None
        rate = self.audio_out.codec_context.sample_rate
        if self._audio_next is None:  # continue the samples from where the input's audio starts
            start = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else 0.0
            self._audio_next = max(0, round(start * rate))
        for f in self._resampler.resample(frame):
            self._encode_audio_frame(f)

    def _encode_audio_frame(self, f: Any) -> None:
        assert self.audio_out is not None and self._audio_next is not None
        rate = self.audio_out.codec_context.sample_rate
        f.pts, f.time_base = self._audio_next, Fraction(1, rate)
        self._audio_next += f.samples
        for p in self.audio_out.encode(f):
            self.container.mux(p)

    def close(self) -> None:
        """Flush the encoders, close the file and rename it onto the destination."""
        import av

        try:
            for packet in self.video.encode():
                self.container.mux(packet)
            if self.audio_out is not None and not self.audio_copy:
                assert self.audio_in is not None and self._resampler is not None
                for frame in self.audio_in.codec_context.decode(None):
                    self._encode_audio(frame)
                for f in self._resampler.resample(None) if self._audio_next is not None else []:
                    self._encode_audio_frame(f)
                for p in self.audio_out.encode(None):
                    self.container.mux(p)
            self.container.close()
        except (av.FFmpegError, OSError) as e:
            self.abort()
            raise InputError(f"{self.path}: writing the video failed ({_first_line(e)})") from None
        self.file.commit()

    def abort(self) -> None:
        """Stop without producing the output: the temporary file is removed."""
        with contextlib.suppress(Exception):
            self.container.close()
        self.file.discard()
