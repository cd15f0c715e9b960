"""Streams of frames: the one frame loop that videos, cameras, batch videos and the audit share.

| module | what |
| --- | --- |
| :mod:`~facemoji.stream.loop` | :class:`FrameLoop`: frames in, faces followed, covers drawn, frames out to sinks |
| :mod:`~facemoji.stream.follower` | :class:`FaceFollower`: where to look on each frame, shot changes, readings |
| :mod:`~facemoji.stream.track` | :class:`Tracker`: tracks, their confirmation and coasting, smoothed emotions |
| :mod:`~facemoji.stream.coverage` | :class:`Coverage`: default and strict settings, detection scale per frame size |
| :mod:`~facemoji.stream.regions` | thumbnails, changed regions, shot changes, windows |
| :mod:`~facemoji.stream.draw` | :func:`draw`: the covers, in RGB or on the 4:2:0 planes |
| :mod:`~facemoji.stream.yuv` | :class:`YuvFrame`: a decoded frame kept in the codec's planes |
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# names and the module each comes from: imported on first use, so that reading a frame's planes
# (facemoji.stream.yuv, which facemoji.video.io needs) does not load the models' runtime
_NAMES = {"DEFAULT_COVERAGE": "coverage", "STRICT_COVERAGE": "coverage", "Coverage": "coverage",
          "coverage_for": "coverage", "scan_side": "coverage", "FaceFollower": "follower", "FrameLoop": "loop",
          "LoopStats": "loop", "Sink": "loop", "Tracker": "track", "YuvFrame": "yuv", "draw": "draw"}


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"facemoji.stream.{_NAMES[name]}"), name)


__all__ = sorted(_NAMES)
