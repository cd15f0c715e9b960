"""The frame loop shared by videos and cameras, and the whole video-file path.

:class:`FaceFollower` runs the pipeline on a stream of frames: detection every
``detect_every`` frames, tracking in between, emotion smoothing per track.
:func:`process_video` decodes a video (one thread), follows and draws the
faces (the calling thread), and encodes the result with the input's audio
(another thread), writing to a temporary file that is renamed at the end.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facemoji.errors import FacemojiError, InputError
from facemoji.pipeline import Pipeline
from facemoji.track import Tracker
from facemoji.types import Face

DETECTIONS_PER_SECOND = 10.0  # the "auto" default: detect about 10 times a second, track in between
DEFAULT_DETECT_EVERY = None  # None means auto


def auto_detect_every(fps: float | None) -> int:
    """Frames between detections for about ``DETECTIONS_PER_SECOND`` a second: 3 at 30 fps, 2 at 15-24, 6 at 60."""
    if not fps or fps <= 0:
        return 3
    return max(1, min(6, int(fps / DETECTIONS_PER_SECOND + 0.5)))


class FaceFollower:
    """Detect (every ``detect_every`` frames), track and smooth: one call per frame, in order."""

    def __init__(self, pipeline: Pipeline, detect_every: int = 3, tracker: Tracker | None = None) -> None:
        if detect_every < 1:
            raise ValueError("detect_every must be at least 1")
        self.pipeline = pipeline
        self.detect_every = detect_every
        self.tracker = tracker or Tracker(classes=pipeline.classes)
        self.count = 0

    def step(self, image: np.ndarray, t: float) -> list[Face]:
        """The tracked faces of ``image`` seen at ``t`` seconds (ids, smoothed emotions)."""
        if self.tracker.frame_size is None:
            self.tracker.frame_size = (image.shape[1], image.shape[0])
        if self.count % self.detect_every == 0:
            faces = self.pipeline.detect(image)
            if faces:
                self.pipeline.classify(image, faces)
            out = self.tracker.update(faces, t)
        else:
            out = self.tracker.predict(t)
        self.count += 1
        return out

    def render(self, image: np.ndarray, faces: list[Face], mode: str | None = None) -> np.ndarray:
        return self.pipeline.render(image, faces, mode)


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


def process_video(src: str | Path, dst: str | Path | None, pipeline: Pipeline, *,
                  detect_every: int | None = DEFAULT_DETECT_EVERY,
                  mode: str | None = None, on_frame: Callable[[int, float, list[Face]], None] | None = None,
                  progress: bool = True, preset: str = "veryfast", crf: int = 23, keep_audio: bool = True,
                  max_frames: int | None = None, allow_truncated: bool = False) -> VideoReport:
    """Emojify a video file into an H.264 MP4 at ``dst`` (or only analyze it when ``dst`` is None).

    ``detect_every`` K runs the detector on every K-th frame (None: :func:`auto_detect_every` of the frame rate).
    ``on_frame(index, time, faces)`` is called for every frame with the tracked faces.
    Raises :class:`InputError` for unusable input or output, :class:`Interrupted` on Ctrl-C;
    in both cases nothing is left under ``dst``.
    """
    from tqdm import tqdm

    from facemoji.video.io import VideoReader, VideoWriter, check_output_path, is_url

    if dst is not None:
        check_output_path(dst, (str(src),))
    reader = VideoReader(src, threads=0, with_audio=keep_audio and dst is not None)
    writer: VideoWriter | None = None
    stop = threading.Event()
    errors: list[BaseException] = []
    threads: list[threading.Thread] = []
    inq: queue.Queue = queue.Queue(maxsize=16)
    outq: queue.Queue = queue.Queue(maxsize=16)
    done = 0

    def halt() -> None:
        """Stop both threads and wait for them, so no one encodes or decodes while the files are closed."""
        stop.set()
        while True:  # make room, then tell the encoder to finish the frame in hand and return
            try:
                outq.get_nowait()
            except queue.Empty:
                break
        outq.put(_END)
        for th in threads:
            th.join(timeout=10)

    try:
        w, h = reader.size
        audio_mode = "none"
        if dst is not None:
            writer = VideoWriter(dst, w, h, reader.rate, time_base=reader.time_base, audio=reader.audio,
                                 preset=preset, crf=crf)
            if reader.audio is not None:
                audio_mode = "copied" if writer.audio_copy else "transcoded to AAC"
        follower = FaceFollower(pipeline, detect_every or auto_detect_every(reader.fps))
        timeline = Timeline()
        frame_dur = 1.0 / reader.fps if reader.fps else 1 / 30
        total = reader.frame_count if max_frames is None else min(reader.frame_count or max_frames, max_frames)

        def decode() -> None:
            try:
                for kind, item in reader.read():
                    if stop.is_set() or not _put(inq, (kind, item), stop):
                        return
            except BaseException as e:  # handed to the main thread
                errors.append(e)
            finally:
                _put(inq, _END, stop)

        def encode() -> None:
            assert writer is not None
            try:
                while True:
                    item = outq.get()
                    if item is _END:
                        return
                    kind, a, b = item
                    if kind == "video":
                        writer.write(a, b)
                    else:
                        writer.write_audio(a)
            except BaseException as e:
                errors.append(e)
                stop.set()
                # drain so the producer never blocks
                while outq.get() is not _END:
                    pass

        threads.append(threading.Thread(target=decode, name="facemoji-decode", daemon=True))
        if writer is not None:
            threads.append(threading.Thread(target=encode, name="facemoji-encode", daemon=True))
        for th in threads:
            th.start()
        start = time.perf_counter()
        faces_seen = 0
        last_time = 0.0
        with tqdm(total=total, unit="frame", desc=Path(str(src)).name[:30], disable=not progress, leave=False,
                  dynamic_ncols=True, smoothing=0.1, file=None) as bar:
            while True:
                try:
                    item = inq.get(timeout=0.2)
                except queue.Empty:
                    if errors or not threads[0].is_alive():
                        break
                    continue
                if item is _END or errors:
                    break
                kind, data = item
                if kind == "audio":
                    if writer is not None:
                        _put(outq, ("audio", data, None), stop)
                    continue
                if max_frames is not None and done >= max_frames:
                    break
                faces = follower.step(data.image, data.time)
                faces_seen += len(faces)
                timeline.add(faces, data.time, frame_dur)
                if on_frame is not None:
                    on_frame(data.index, data.time, faces)
                if writer is not None:
                    out = follower.render(data.image, faces, mode) if faces else data.image
                    if not _put(outq, ("video", out, data.pts), stop):
                        break
                done += 1
                last_time = data.time
                bar.update(1)
            stop.set()  # the decoder may be waiting to hand over more
            if writer is not None:
                outq.put(_END)
            for th in threads:
                th.join()
        if errors:
            raise _as_input_error(errors[0], src, dst, done)
        if done == 0:
            raise InputError(f"{src}: video has no frames")
        if not allow_truncated and max_frames is None and not is_url(str(src)):
            # a file that ends early: fewer frames than its header counts, or (where the count is only an
            # estimate, e.g. variable frame rate) frames that stop well before its announced duration
            expected, duration = reader.frame_count, reader.video_duration
            why = None
            if reader.frame_count_exact and expected and expected - done > 2 and done < 0.95 * expected:
                why = f"it announces {expected} frames but only {done} could be decoded"
            elif not reader.frame_count_exact and duration and last_time + 2 * frame_dur < 0.8 * duration:
                why = f"it announces {duration:.1f} s but frames stop at {last_time:.1f} s"
            if why:
                raise InputError(f"{src}: truncated or corrupt: {why} (--allow-truncated keeps them)")
        if writer is not None:
            writer.close()
        seconds = time.perf_counter() - start
        return VideoReport(str(src), str(dst) if dst is not None else None, done, reader.frame_count, reader.fps,
                           (w, h), seconds, audio_mode, timeline, faces_seen, follower.detect_every)
    except BaseException as e:
        halt()  # the normal path above has joined the threads already
        if writer is not None:
            writer.abort()
        if isinstance(e, KeyboardInterrupt):
            raise Interrupted(done, reader.frame_count) from None
        raise
    finally:
        reader.close()
