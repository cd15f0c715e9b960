"""Auditing facemoji itself, frame by frame, without writing a file: the audit as a sink of the frame loop.

:func:`audit_covering` reads a video through :class:`~facemoji.sources.VideoSource`, runs the one frame loop
(:class:`~facemoji.stream.FrameLoop`) over it with the given options (``--cover``, ``--strict`` ...), and hands
each original frame and its covered version to an :class:`~facemoji.audit.Auditor`: the same report as auditing
the file ``facemoji video`` would write, without the second encoding (``facemoji audit CLIP``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facemoji.audit import Auditor, _report
from facemoji.audit.report import AuditReport
from facemoji.errors import InputError
from facemoji.options import Options


class AuditSink:
    """The frame loop's sink that audits every ``every``-th frame it is handed against the frame as it came in."""

    def __init__(self, auditor: Auditor, report: AuditReport, every: int = 1, bar: Any = None) -> None:
        self.auditor, self.report, self.every, self.bar = auditor, report, every, bar

    def write(self, frame: Any, image: Any, faces: list) -> bool:
        if frame.index % self.every == 0:
            self.report.add(*self.auditor.frame(frame.image, image, frame.index, frame.time))
        self.report.frames += 1
        if self.bar is not None:
            self.bar.update(1)
        return True


def audit_covering(path: str | Path, options: Options, auditor: Auditor, *, every: int = 1,
                   max_frames: int | None = None, progress: bool = False) -> AuditReport:
    """Cover the video at ``path`` with ``options`` in memory and audit every ``every``-th frame."""
    from tqdm import tqdm

    from facemoji.sources import VideoSource
    from facemoji.stream import FaceFollower, FrameLoop, coverage_for
    from facemoji.stream.coverage import auto_classify_every, auto_detect_every

    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    pipeline = options.pipeline("frames")
    with VideoSource(path) as source:  # RGB frames: the loop draws on copies, so each original stays as it came
        every_detect = auto_detect_every(source.fps)
        follower = FaceFollower(pipeline, every_detect, coverage=coverage_for(options),
                                classify_every=auto_classify_every(source.fps, every_detect))
        report = _report(path, f"facemoji video {path} (in memory)", "video", source.size, auditor, fps=source.fps,
                         every=every)
        total = source.frame_count if max_frames is None else min(source.frame_count or max_frames, max_frames)
        with tqdm(total=total or None, unit="frame", desc="audit", disable=not progress, leave=False,
                  dynamic_ncols=True) as bar:
            loop = FrameLoop(follower, sinks=[AuditSink(auditor, report, every, bar)])
            loop.run(source, max_frames)
    if report.frames == 0:
        raise InputError(f"{path}: video has no frames")
    return report


__all__ = ["AuditSink", "audit_covering"]
