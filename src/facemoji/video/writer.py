"""Writing video files with PyAV (FFmpeg), atomically.

:class:`VideoWriter` encodes RGB frames as H.264/yuv420p in MP4 to a
temporary file beside the destination (:class:`AtomicFile`), copies or
transcodes audio into it, and renames it into place only when everything has
been written. :func:`check_output_path` refuses unusable output paths before
any work starts.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from facemoji.errors import InputError
from facemoji.imageio import usual_file_mode
from facemoji.stream.yuv import YuvFrame
from facemoji.video.io import DEFAULT_CRF, X264_PARAMS, _first_line, is_url

# Audio is copied into the MP4 as it is only when it is AAC from a container that keeps proper
# timestamps; everything else (MP3 in AVI, Opus, Vorbis, PCM, FLAC ...) is re-encoded as AAC.
MP4_AUDIO_COPY = frozenset({"aac"})
COPY_FROM_FORMATS = ("mov", "mp4", "m4a", "3gp", "matroska", "webm")


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
