"""Checking an emojified picture or video against its original with detectors that are not CenterFace.

:func:`audit` looks both ways, frame by frame (matched by index):

1. faces that show: it finds the faces of the ORIGINAL with YuNet (the model that ships with facemoji, the whole
   frame letterboxed and large frames also in overlapping tiles) and OpenCV's Haar cascades (frontal, and profile
   both ways) as a second opinion (:mod:`facemoji.audit.faces`), and measures for each how much still shows in the
   EMOJIFIED output: the share of its box whose pixels the output left unchanged, after a light blur, with a
   tolerance for the noise a video codec adds when it encodes the output a second time. A face shows when more than
   ``max_showing`` of its box is unchanged; faces more than half unchanged and faces partly showing (more than
   :data:`PARTLY_SHOWING` but no more than ``max_showing``) are counted too.
2. covers on no face ("ghosts"): it finds the covers of the output from the pixels alone, as the regions where the
   output differs from the original (:mod:`facemoji.audit.ghosts`), and counts those with not even a weak face
   of the original beneath them.

    from facemoji.audit import audit

    report = audit("clip.mp4", "clip.facemoji.mp4")
    for f in report.findings:
        print(f.frame, f.time, f.box, f"{f.showing:.0%}")
    print(report.covers, report.ghosts, f"{report.ghost_share:.0%}")
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from facemoji.audit.faces import FaceFinder
from facemoji.audit.ghosts import cover_regions, on_a_face, showing_share, unchanged_mask
from facemoji.audit.report import (
    DEFAULT_FACE_THRESHOLD,
    DEFAULT_GHOST_THRESHOLD,
    DEFAULT_MAX_SHOWING,
    DEFAULT_TOLERANCE,
    DETECTORS,
    MORE_THAN_HALF,
    PARTLY_SHOWING,
    AuditReport,
    Finding,
    FrameCounts,
    Ghost,
)
from facemoji.errors import InputError

if TYPE_CHECKING:
    import numpy as np


class Auditor:
    """Finds the faces of original frames, measures how much of each the output frame shows, and finds the output's
    covers that lie on no face."""

    def __init__(self, tolerance: int = DEFAULT_TOLERANCE, max_showing: float = DEFAULT_MAX_SHOWING,
                 min_face: int = 24, detect_size: int | None = 640, *, detector: str = "both",
                 face_threshold: float = DEFAULT_FACE_THRESHOLD,
                 ghost_threshold: float = DEFAULT_GHOST_THRESHOLD) -> None:
        if not 0 <= tolerance <= 255:
            raise InputError(f"the tolerance must be between 0 and 255 grey levels, got {tolerance}")
        if not 0 <= max_showing < 1:
            raise InputError(f"the share that may show must be at least 0 and below 1, got {max_showing}")
        if min_face < 8:
            raise InputError(f"the smallest face to look for must be 8 pixels or more, got {min_face}")
        self.tolerance = tolerance
        self.max_showing = max_showing
        self.min_face = min_face
        self.finder = FaceFinder(detector, face_threshold=face_threshold, ghost_threshold=ghost_threshold,
                                 min_face=min_face, detect_size=detect_size)

    def check(self, original: np.ndarray, output: np.ndarray) -> list[tuple[tuple[int, int, int, int], float, str]]:
        """Every face of ``original`` that must be covered: (box, share showing in ``output``, detector)."""
        faces, _ = self.finder.find(original)
        if not faces:
            return []
        unchanged = unchanged_mask(original, output, self.tolerance)
        return [(_int_box(f.box), showing_share(unchanged, f.box), f.kind) for f in faces]

    def frame(self, original: np.ndarray, output: np.ndarray, index: int = 0,
              time: float | None = None) -> tuple[FrameCounts, list[Finding], list[Ghost]]:
        """One pair of frames: the counts, the faces that show and the covers on no face."""
        faces, weak = self.finder.find(original)
        unchanged = unchanged_mask(original, output, self.tolerance)
        counts = FrameCounts(index, faces=len(faces))
        findings = []
        for f in faces:
            share = showing_share(unchanged, f.box)
            counts.more_than_half += share > MORE_THAN_HALF
            if share > self.max_showing:
                counts.showing += 1
                findings.append(Finding(index, time, _int_box(f.box), share, f.kind, f.score))
            elif share > PARTLY_SHOWING:
                counts.partly += 1
        ghosts = []
        for box, area in cover_regions(unchanged, self.min_face):
            counts.covers += 1
            if not on_a_face(box, weak) and not on_a_face(box, self.finder.haar_around(original, box)):
                ghosts.append(Ghost(index, time, box, area))
        counts.ghosts = len(ghosts)
        return counts, findings, ghosts


def _int_box(box) -> tuple[int, int, int, int]:
    return tuple(int(round(v)) for v in box)  # type: ignore[return-value]


def is_image_path(path: str | Path) -> bool:
    from facemoji.imageio import IMAGE_SUFFIXES

    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _check_exists(path: str | Path) -> None:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder; give a video or image file")


def audit(original: str | Path, emojified: str | Path, *, tolerance: int = DEFAULT_TOLERANCE,
          max_showing: float = DEFAULT_MAX_SHOWING, min_face: int = 24, detect_size: int | None = 640,
          every: int = 1, progress: bool = False, on_frame: Callable[[int, int], None] | None = None,
          detector: str = "both", face_threshold: float = DEFAULT_FACE_THRESHOLD,
          ghost_threshold: float = DEFAULT_GHOST_THRESHOLD, max_ghosts: float | None = None,
          max_frames: int | None = None) -> AuditReport:
    """Audit ``emojified`` against ``original`` (two images, or two videos of the same size and frame count).

    ``detector``: ``yunet``, ``haar`` or ``both`` (YuNet, with Haar as a second opinion). ``face_threshold``: YuNet's
    confidence for a face that must be covered; ``ghost_threshold``: the lower one for a face beneath a cover.
    ``every`` K checks every K-th frame of a video only; ``max_frames`` N compares the first N frames only.
    ``max_ghosts`` is kept in the report (:attr:`AuditReport.too_many_ghosts`). ``on_frame(done, total)`` is called
    after each frame. Raises :class:`InputError` (one line) for missing, unreadable or mismatched inputs.
    """
    if every < 1:
        raise InputError(f"--every must be 1 or more, got {every}")
    if max_frames is not None and max_frames < 1:
        raise InputError(f"--max-frames must be 1 or more, got {max_frames}")
    if max_ghosts is not None and not 0 <= max_ghosts < 1:
        raise InputError(f"the share of covers that may lie on no face must be at least 0 and below 1, got "
                         f"{max_ghosts}")
    for p in (original, emojified):
        _check_exists(p)
    if Path(original).resolve() == Path(emojified).resolve():
        raise InputError(f"{emojified}: is the original itself; give the emojified output as the second file")
    images = is_image_path(original), is_image_path(emojified)
    if images[0] != images[1]:
        which = original if images[0] else emojified
        raise InputError(f"{which}: is an image while the other file is a video; compare like with like")
    auditor = Auditor(tolerance, max_showing, min_face, detect_size, detector=detector,
                      face_threshold=face_threshold, ghost_threshold=ghost_threshold)
    if images[0]:
        report = _audit_image(original, emojified, auditor)
    else:
        report = _audit_video(original, emojified, auditor, every, progress, on_frame, max_frames)
    report.max_ghosts = max_ghosts
    return report


def _report(original, emojified, kind, size, auditor: Auditor, **kw) -> AuditReport:
    f = auditor.finder
    return AuditReport(str(original), str(emojified), kind, size, tolerance=auditor.tolerance,
                       max_showing=auditor.max_showing, detector=f.detector, face_threshold=f.face_threshold,
                       ghost_threshold=f.ghost_threshold, **kw)


def _audit_image(original: str | Path, emojified: str | Path, auditor: Auditor) -> AuditReport:
    from facemoji.imageio import read_image

    a, b = read_image(original), read_image(emojified)
    if a.shape != b.shape:
        raise InputError(f"{emojified}: is {b.shape[1]}x{b.shape[0]} but the original is {a.shape[1]}x{a.shape[0]}; "
                         "they must be the same size")
    report = _report(original, emojified, "image", (a.shape[1], a.shape[0]), auditor, frames=1)
    report.add(*auditor.frame(a, b))
    return report


def _audit_video(original: str | Path, emojified: str | Path, auditor: Auditor, every: int, progress: bool,
                 on_frame: Callable[[int, int], None] | None, max_frames: int | None) -> AuditReport:
    from tqdm import tqdm

    from facemoji.video.io import VideoReader

    with VideoReader(original, threads=0) as ra, VideoReader(emojified, threads=0) as rb:
        if ra.size != rb.size:
            (aw, ah), (bw, bh) = ra.size, rb.size
            raise InputError(f"{emojified}: is {bw}x{bh} but the original is {aw}x{ah}; they must be the same size")
        if ra.frame_count_exact and rb.frame_count_exact and ra.frame_count != rb.frame_count:
            raise InputError(f"{emojified}: has {rb.frame_count} frames but the original has {ra.frame_count}; "
                             "frames are matched by index, so the counts must agree")
        total = ra.frame_count or 0
        if max_frames is not None:
            total = min(total, max_frames) if total else max_frames
        report = _report(original, emojified, "video", ra.size, auditor, fps=ra.fps, every=every)
        fa, fb = ra.frames(), rb.frames()
        with tqdm(total=total or None, unit="frame", desc="audit", disable=not progress, leave=False,
                  dynamic_ncols=True) as bar:
            while max_frames is None or report.frames < max_frames:
                a = next(fa, None)
                b = next(fb, None)
                if a is None or b is None:
                    if a is not None or b is not None:
                        longer, shorter = (original, emojified) if a is not None else (emojified, original)
                        raise InputError(f"{shorter}: ends after {report.frames} frames while {longer} goes on; "
                                         "frames are matched by index, so the counts must agree")
                    break
                if a.index % every == 0:
                    report.add(*auditor.frame(a.image, b.image, a.index, a.time))
                report.frames += 1
                bar.update(1)
                if on_frame is not None:
                    on_frame(report.frames, total)
    if report.frames == 0:
        raise InputError(f"{original}: video has no frames")
    return report


__all__ = ["DEFAULT_FACE_THRESHOLD", "DEFAULT_GHOST_THRESHOLD", "DEFAULT_MAX_SHOWING", "DEFAULT_TOLERANCE",
           "DETECTORS", "MORE_THAN_HALF", "PARTLY_SHOWING", "AuditReport", "Auditor", "FaceFinder", "Finding",
           "FrameCounts", "Ghost", "audit", "cover_regions", "on_a_face", "showing_share", "unchanged_mask"]
