"""The video-file path: decode on one thread, the frame loop on this one, encode on another.

:func:`process_video` reads a video through :class:`~facemoji.sources.VideoSource` (frames kept in the codec's
4:2:0 planes, audio packets passed through), runs the one frame loop (:class:`~facemoji.stream.FrameLoop`) over it
and encodes the drawn frames with the input's audio into a temporary file that is renamed at the end. The frame
loop, the follower and the coverage settings live in :mod:`facemoji.stream`; this module adds the threads, the
timeline of each face's emotion and the report.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from facemoji.errors import FacemojiError, InputError
from facemoji.pipeline import Pipeline
from facemoji.stream.coverage import (
    DEFAULT_COVERAGE,
    STRICT_COVERAGE,
    Coverage,
    auto_classify_every,
    auto_detect_every,
)
from facemoji.stream.follower import FaceFollower
from facemoji.stream.loop import FrameLoop
from facemoji.types import Face

DEFAULT_DETECT_EVERY = None  # None means auto

__all__ = ["DEFAULT_COVERAGE", "STRICT_COVERAGE", "Coverage", "FaceFollower", "Interrupted", "Timeline",
           "VideoReport", "auto_detect_every", "process_video"]


@dataclass
class Timeline:
    """Each track's shown emotion over time, as (emotion, start, end) segments."""

    segments: dict[int, list[list[Any]]] = field(default_factory=dict)

    def add(self, faces: list[Face], t: float, frame_duration: float) -> None:
        for f in faces:
            if f.track_id is None:
                continue
            segs = self.segments.setdefault(f.track_id, [])
            emotion = f.emotion or "unknown"
            if segs and segs[-1][0] == emotion and t - segs[-1][2] < 1.0:
                segs[-1][2] = t + frame_duration
            else:
                segs.append([emotion, t, t + frame_duration])

    def changes(self, track_id: int) -> int:
        """How many times the shown emotion of a track changed."""
        return max(0, len(self.segments.get(track_id, [])) - 1)

    def lines(self, limit: int = 20) -> list[str]:
        """``track 1: happy 0.0-3.2s, surprise 3.2-4.0s`` for the longest ``limit`` tracks, in id order."""
        def span(segs: list[list[Any]]) -> float:
            return sum(e - s for _, s, e in segs)

        ids = sorted(sorted(self.segments, key=lambda k: -span(self.segments[k]))[:limit])
        out = []
        for k in ids:
            segs = self.segments[k]
            parts = [f"{emo} {s:.1f}-{e:.1f}s" for emo, s, e in segs[:12]]
            more = f", ... ({len(segs) - 12} more)" if len(segs) > 12 else ""
            out.append(f"track {k}: " + ", ".join(parts) + more)
        if len(self.segments) > limit:
            out.append(f"... and {len(self.segments) - limit} shorter tracks")
        return out


@dataclass
class VideoReport:
    """What :func:`process_video` did."""

    input: str
    output: str | None
    frames: int
    frame_count: int | None
    fps: float | None
    size: tuple[int, int]
    seconds: float
    audio: str  # "copied", "transcoded to AAC", "none"
    timeline: Timeline
    faces_seen: int
    detect_every: int = 1

    @property
    def tracks(self) -> int:
        return len(self.timeline.segments)

    @property
    def speed(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class Interrupted(FacemojiError, KeyboardInterrupt):
    """Processing stopped part-way (Ctrl-C); nothing was written under the output name.

    Also a :class:`KeyboardInterrupt`, so code that stops on Ctrl-C still does.
    """

    def __init__(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total
        of = f" of {total} ({100 * done / total:.0f}%)" if total else ""
        super().__init__(f"interrupted after {done} frames{of}; no output written")


_END = object()


def _as_input_error(e: BaseException, src: str | Path, dst: str | Path | None, done: int) -> BaseException:
    """FFmpeg errors from the decode or encode threads, as one-line user errors."""
    import av

    if isinstance(e, av.FFmpegError):
        why = e.strerror if isinstance(getattr(e, "strerror", None), str) else str(e).splitlines()[0]
        return InputError(f"{dst or src}: processing failed after {done} frames ({why})")
    return e


def _put(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class _NoBar:
    """Stands in for a progress bar when none is shown (so tqdm is not even imported)."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        return None


def _progress_bar(show: bool, total: int | None, name: str) -> Any:
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=name, leave=False, dynamic_ncols=True, smoothing=0.1, file=None)


def process_video(src: str | Path, dst: str | Path | None, pipeline: Pipeline, *,
                  detect_every: int | None = DEFAULT_DETECT_EVERY,
                  mode: str | None = None, on_frame: Callable[[int, float, list[Face]], None] | None = None,
                  progress: bool = True, preset: str = "veryfast", crf: int | None = None, keep_audio: bool = True,
                  max_frames: int | None = None, allow_truncated: bool = False,
                  coverage: Coverage = DEFAULT_COVERAGE) -> VideoReport:
    """Emojify a video file into an H.264 MP4 at ``dst`` (or only analyze it when ``dst`` is None).

    ``detect_every`` K runs the detector on every K-th frame (None: :func:`auto_detect_every` of the frame rate).
    ``on_frame(index, time, faces)`` is called for every frame with the faces shown on it.
    ``coverage`` :data:`STRICT_COVERAGE` trades speed for covering hard faces (see :class:`Coverage`).
    Raises :class:`InputError` for unusable input or output, :class:`Interrupted` on Ctrl-C;
    in both cases nothing is left under ``dst``.
    """
    from facemoji.sources import VideoSource
    from facemoji.video.io import DEFAULT_CRF
    from facemoji.video.writer import VideoWriter, check_output_path

    if dst is not None:
        check_output_path(dst, (str(src),))
    # frames stay in the codec's 4:2:0 planes from the decoder to the encoder (see facemoji.stream.yuv)
    source = VideoSource(src, threads=0, yuv=True, with_audio=keep_audio and dst is not None)
    reader = source.reader
    writer: VideoWriter | None = None
    pipe = _Threads(reader.size)
    try:
        w, h = reader.size
        audio_mode = "none"
        if dst is not None:
            writer = VideoWriter(dst, w, h, reader.rate, time_base=reader.time_base, audio=reader.audio,
                                 preset=preset, crf=DEFAULT_CRF if crf is None else crf)
            if reader.audio is not None:
                audio_mode = "copied" if writer.audio_copy else "transcoded to AAC"
        follower = _follower(pipeline, reader.fps, detect_every, coverage)
        timeline = Timeline()
        frame_dur = 1.0 / reader.fps if reader.fps else 1 / 30
        total = reader.frame_count if max_frames is None else min(reader.frame_count or max_frames, max_frames)

        def shown(index: int, t: float, faces: list[Face]) -> None:
            timeline.add(faces, t, frame_dur)
            if on_frame is not None:
                on_frame(index, t, faces)

        loop = FrameLoop(follower, draw=writer is not None, mode=mode, on_frame=shown)
        pipe.loop = loop
        pipe.start(source, writer)
        start = time.perf_counter()
        with _progress_bar(progress, total, Path(str(src)).name[:30]) as bar:
            loop.sinks.append(_Encode(pipe, bar))
            stats = loop.run(pipe.frames(), max_frames)
            pipe.finish()
        if pipe.errors:
            raise _as_input_error(pipe.errors[0], src, dst, stats.frames)
        if stats.frames == 0:
            raise InputError(f"{src}: video has no frames")
        if not allow_truncated and max_frames is None:
            _check_complete(source, stats.frames, stats.last_time, frame_dur)
        if writer is not None:
            writer.close()
        seconds = time.perf_counter() - start
        return VideoReport(str(src), str(dst) if dst is not None else None, stats.frames, reader.frame_count,
                           reader.fps, (w, h), seconds, audio_mode, timeline, stats.faces, follower.detect_every)
    except BaseException as e:
        pipe.halt()  # the normal path above has joined the threads already
        if writer is not None:
            writer.abort()
        if isinstance(e, KeyboardInterrupt):
            raise Interrupted(pipe.loop.stats.taken if pipe.loop else pipe.done, reader.frame_count) from None
        raise
    finally:
        source.close()


def _follower(pipeline: Pipeline, fps: float | None, detect_every: int | None, coverage: Coverage) -> FaceFollower:
    """The follower for a video at ``fps``: a chosen ``detect_every`` wins over the coverage's; on the automatic
    schedule expressions are read less often than faces are detected, a chosen one reads them on every detection."""
    if detect_every and coverage.detect_every is not None:
        coverage = replace(coverage, detect_every=detect_every)
    every = detect_every or auto_detect_every(fps)
    reads = auto_classify_every(fps, every) if detect_every is None else None
    return FaceFollower(pipeline, every, coverage=coverage, classify_every=reads)


def _check_complete(source: Any, done: int, last_time: float, frame_dur: float) -> None:
    """Refuse a file that ends early: fewer frames than its header counts, or (where the count is only an estimate,
    e.g. variable frame rate) frames that stop well before its announced duration."""
    from facemoji.video.io import is_url

    reader = source.reader
    if is_url(source.name):
        return
    expected, duration = reader.frame_count, reader.video_duration
    why = None
    if reader.frame_count_exact and expected and expected - done > 2 and done < 0.95 * expected:
        why = f"it announces {expected} frames but only {done} could be decoded"
    elif not reader.frame_count_exact and duration and last_time + 2 * frame_dur < 0.8 * duration:
        why = f"it announces {duration:.1f} s but frames stop at {last_time:.1f} s"
    if why:
        raise InputError(f"{source.name}: truncated or corrupt: {why} (--allow-truncated keeps them)")


class _Threads:
    """The decoding and encoding threads around the frame loop, with queues bounded in bytes."""

    def __init__(self, size: tuple[int, int]) -> None:
        from facemoji.video.io import FrameQueue, queue_bytes

        self.inq: queue.Queue = FrameQueue(queue_bytes(*size, 1.5))  # a few frames at 4K
        self.outq: queue.Queue = FrameQueue(queue_bytes(*size, 1.5))
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self.writer: Any = None
        self.loop: FrameLoop | None = None
        self.done = 0

    def start(self, source: Any, writer: Any) -> None:
        self.writer = writer
        self.threads.append(threading.Thread(target=self._decode, args=(source,), name="facemoji-decode",
                                             daemon=True))
        if writer is not None:
            self.threads.append(threading.Thread(target=self._encode, name="facemoji-encode", daemon=True))
        for th in self.threads:
            th.start()

    def _decode(self, source: Any) -> None:
        try:
            for item in source.read():
                if self.stop.is_set() or not _put(self.inq, item, self.stop):
                    return
        except BaseException as e:  # handed to the main thread
            self.errors.append(e)
        finally:
            _put(self.inq, _END, self.stop)

    def _encode(self) -> None:
        try:
            while True:
                item = self.outq.get()
                if item is _END:
                    return
                kind, a, b = item
                if kind == "video":
                    self.writer.write(a, b)
                else:
                    self.writer.write_audio(a)
        except BaseException as e:
            self.errors.append(e)
            self.stop.set()
            while self.outq.get() is not _END:  # drain so the producer never blocks
                pass

    def frames(self) -> Iterator[Any]:
        """The decoded frames, in order; audio packets go straight on to the encoder."""
        while True:
            try:
                item = self.inq.get(timeout=0.2)
            except queue.Empty:
                if self.errors or not self.threads[0].is_alive():
                    return
                continue
            if item is _END or self.errors:
                return
            kind, data = item
            if kind == "audio":
                if self.writer is not None:
                    _put(self.outq, ("audio", data, None), self.stop)
                continue
            yield data

    def send(self, image: Any, pts: int | None) -> bool:
        return _put(self.outq, ("video", image, pts), self.stop)

    def finish(self) -> None:
        """After the last frame: stop the decoder, let the encoder finish, wait for both."""
        self.stop.set()  # the decoder may be waiting to hand over more
        if self.writer is not None:
            self.outq.put(_END)
        for th in self.threads:
            th.join()

    def halt(self) -> None:
        """Stop both threads and wait for them, so no one encodes or decodes while the files are closed."""
        self.stop.set()
        while True:  # make room, then tell the encoder to finish the frame in hand and return
            try:
                self.outq.get_nowait()
            except queue.Empty:
                break
        self.outq.put(_END)
        for th in self.threads:
            th.join(timeout=10)


class _Encode:
    """The frame loop's sink on the video path: drawn frames to the encoder thread, and the progress bar."""

    def __init__(self, threads: _Threads, bar: Any) -> None:
        self.threads, self.bar = threads, bar
        self.stopped_by = "encoder stopped"

    def write(self, frame: Any, image: Any, faces: list[Face]) -> bool:
        if self.threads.writer is not None and not self.threads.send(image, frame.pts):
            return False
        self.threads.done += 1
        self.bar.update(1)
        return True
