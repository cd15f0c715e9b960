"""The one frame loop: frames in, faces followed, covers drawn, frames out.

:class:`FrameLoop` drives a :class:`~facemoji.stream.follower.FaceFollower` over any iterable of frames
(:class:`~facemoji.sources.Frame`: index, time, RGB array or :class:`~facemoji.stream.yuv.YuvFrame`) and hands each
frame, drawn, with the faces shown on it, to its sinks: a video writer (``facemoji video``, the videos of
``facemoji batch``), a window (``facemoji webcam``), a table of records (``--json``), an auditor. Every front end
that shows frames uses it, so they cannot drift apart.

Frames leave the loop ``delay`` frames after they enter it (two, by default; a window may ask for one): a track
seen for the first time is drawn only once a second detection confirms it (:class:`~facemoji.stream.track.Tracker`),
and the frame it first appeared on is still in hand when that happens, so a real face is covered from its first
frame while a hand or a microphone seen once is never covered at all; a face found just after a frame still in
hand (coming in at the border, out of motion blur) is drawn on that frame too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from facemoji.stream.follower import FaceFollower
from facemoji.stream.yuv import YuvFrame
from facemoji.types import Face

DELAY = 2  # frames a frame stays in the loop, waiting for the next detections to confirm its new faces


class FrameLike(Protocol):
    index: int
    time: float
    image: np.ndarray | YuvFrame


class Sink(Protocol):
    """Where drawn frames go. ``write`` returns False to stop the loop (a window closed, a writer failed)."""

    def write(self, frame: FrameLike, image: np.ndarray | YuvFrame, faces: list[Face]) -> bool | None: ...


@dataclass
class LoopStats:
    """What one run of the loop did."""

    frames: int = 0  # frames handed on to the sinks
    taken: int = 0  # frames taken in (a few more than handed on while some are in hand)
    faces: int = 0  # faces shown, summed over the frames
    last_time: float = 0.0
    stopped_by: str = "end of frames"


@dataclass
class FrameLoop:
    """Follow, draw and hand on every frame (see the module's description).

    ``draw``: whether sinks get drawn frames (False: analysis only, the frames go on as they came). ``mode`` and
    ``cover`` may be changed between frames (a window's keys do). ``on_frame(index, time, faces)`` is called for
    every frame with the faces shown on it, before the sinks.
    """

    follower: FaceFollower
    sinks: list[Any] = field(default_factory=list)
    draw: bool = True
    mode: str | None = None
    cover: str | None = None
    on_frame: Callable[[int, float, list[Face]], None] | None = None
    delay: int = DELAY
    stats: LoopStats = field(default_factory=LoopStats)
    stopping: bool = False  # set by a sink (Ctrl-C in a window): take no more frames, hand on the ones in hand

    def run(self, frames: Iterable[FrameLike], max_frames: int | None = None) -> LoopStats:
        """Run over ``frames`` (at most ``max_frames``); returns :attr:`stats`. Frames still in hand when the
        frames end (or a sink stops the loop) are handed on first."""
        pending: deque[tuple[FrameLike, list[Face]]] = deque()
        for frame in frames:
            if self.stopping:
                break
            if max_frames is not None and self.stats.taken >= max_frames:
                self.stats.stopped_by = f"--max-frames {max_frames}"
                break
            pending.append((frame, self.follower.step(frame.image, frame.time)))
            self.stats.taken += 1
            if len(pending) > self.delay and not self._emit(*pending.popleft()):
                pending.clear()
                break
        while pending:
            if not self._emit(*pending.popleft()):
                break
        return self.stats

    def _emit(self, frame: FrameLike, faces: list[Face]) -> bool:
        shown = self.follower.shown(faces, frame.time)
        if self.on_frame is not None:
            self.on_frame(frame.index, frame.time, shown)
        image = frame.image
        if self.draw and shown:
            image = self.follower.render(image, shown, self.mode, self.cover, t=frame.time)
        self.stats.frames += 1
        self.stats.faces += len(shown)
        self.stats.last_time = frame.time
        for sink in self.sinks:
            if sink.write(frame, image, shown) is False:
                self.stats.stopped_by = getattr(sink, "stopped_by", "stopped")
                return False
        return True


__all__ = ["DELAY", "FrameLoop", "LoopStats", "Sink"]
