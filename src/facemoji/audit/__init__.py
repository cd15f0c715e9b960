"""Checking an emojified picture or video against its original with a detector that is not CenterFace.

:func:`audit` looks for faces in the ORIGINAL with OpenCV's Haar cascades
(frontal, and profile both ways; see :class:`~facemoji.detect.haar.HaarFaces`)
and, for every face found, measures how much of it still shows in the
EMOJIFIED output: the share of the face box whose pixels the output left
unchanged. Both files are decoded and compared frame by frame (matched by
index), after a light blur, with a tolerance for the noise a video codec adds
when it encodes the output a second time. A face counts as showing when more
than ``max_showing`` of its box is unchanged.

    from facemoji.audit import audit

    report = audit("clip.mp4", "clip.facemoji.mp4")
    for f in report.findings:
        print(f.frame, f.time, f.box, f"{f.showing:.0%}")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from facemoji.errors import InputError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_TOLERANCE = 24  # grey levels (any channel) a pixel may move and still count as unchanged
DEFAULT_MAX_SHOWING = 0.25  # a face with more than this share of its box unchanged is reported


@dataclass
class Finding:
    """A face of the original that still shows in the output."""

    frame: int
    time: float | None  # seconds from the start (None for an image)
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels
    showing: float  # share of the box left unchanged, 0..1
    kind: str  # which cascade found it: frontal, profile, profile-mirrored

    def to_dict(self) -> dict:
        x1, y1, x2, y2 = self.box
        return {"frame": self.frame, "time": None if self.time is None else round(self.time, 3),
                "box": {"x": x1, "y": y1, "width": x2 - x1, "height": y2 - y1},
                "showing": round(self.showing, 3), "detector": self.kind}


@dataclass
class AuditReport:
    """What :func:`audit` found."""

    original: str
    emojified: str
    kind: str  # "video" or "image"
    size: tuple[int, int]
    frames: int = 0  # frames compared
    faces: int = 0  # faces the independent detector found in the original (all frames)
    findings: list[Finding] = field(default_factory=list)
    fps: float | None = None
    tolerance: int = DEFAULT_TOLERANCE
    max_showing: float = DEFAULT_MAX_SHOWING
    every: int = 1

    @property
    def clean(self) -> bool:
        """True when no face of the original shows in the output."""
        return not self.findings

    def summary(self) -> str:
        what = f"{self.frames} frame{'s' if self.frames != 1 else ''}" if self.kind == "video" else "image"
        head = f"audit of {self.emojified} against {self.original}: {what}, {self.faces} face(s) found in the original"
        if self.clean:
            return f"{head}, none showing in the output"
        worst = max(self.findings, key=lambda f: f.showing)
        where = f" at frame {worst.frame}" if self.kind == "video" else ""
        share = 100 * len(self.findings) / max(1, self.faces)
        return (f"{head}, {len(self.findings)} showing in the output ({share:.0f}% of them; "
                f"worst {worst.showing:.0%} of the face{where})")

    def to_dict(self) -> dict:
        return {"original": self.original, "emojified": self.emojified, "kind": self.kind,
                "width": self.size[0], "height": self.size[1], "fps": self.fps, "frames": self.frames,
                "every": self.every, "faces": self.faces, "showing": len(self.findings), "clean": self.clean,
                "tolerance": self.tolerance, "max_showing": self.max_showing,
                "findings": [f.to_dict() for f in self.findings]}


def unchanged_mask(original: np.ndarray, output: np.ndarray, tolerance: int = DEFAULT_TOLERANCE) -> np.ndarray:
    """Boolean (H, W): where ``output`` still looks like ``original`` (every channel within ``tolerance``).

    Both are blurred a little first (3x3 box), so that codec noise and ringing at edges do not count as a change.
    """
    import cv2
    import numpy as np

    a = cv2.blur(original, (3, 3)).astype(np.int16)
    b = cv2.blur(output, (3, 3)).astype(np.int16)
    return np.abs(a - b).max(axis=2) <= tolerance


def showing_share(unchanged: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Share of ``box`` (clipped to the picture) where ``unchanged`` is True; 0 for a box wholly outside."""
    h, w = unchanged.shape[:2]
    x1, y1 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x2, y2 = min(w, int(round(box[2]))), min(h, int(round(box[3])))
    if x1 >= x2 or y1 >= y2:
        return 0.0
    return float(unchanged[y1:y2, x1:x2].mean())


class Auditor:
    """Finds the faces of original frames and measures how much of each the output frame shows."""

    def __init__(self, tolerance: int = DEFAULT_TOLERANCE, max_showing: float = DEFAULT_MAX_SHOWING,
                 min_face: int = 24, detect_size: int | None = 640) -> None:
        from facemoji.detect.haar import HaarFaces

        if not 0 <= tolerance <= 255:
            raise InputError(f"the tolerance must be between 0 and 255 grey levels, got {tolerance}")
        if not 0 <= max_showing < 1:
            raise InputError(f"the share that may show must be at least 0 and below 1, got {max_showing}")
        if min_face < 8:
            raise InputError(f"the smallest face to look for must be 8 pixels or more, got {min_face}")
        self.tolerance = tolerance
        self.max_showing = max_showing
        self.min_face = min_face
        self.detector = HaarFaces(min_size=min_face, max_side=detect_size)

    def check(self, original: np.ndarray, output: np.ndarray) -> list[tuple[tuple[int, int, int, int], float, str]]:
        """Every face of ``original``: (box, share showing in ``output``, cascade), showing or not."""
        hits = self.detector.find(original)
        if not hits:
            return []
        unchanged = unchanged_mask(original, output, self.tolerance)
        out = []
        for hit in hits:
            box = tuple(int(round(v)) for v in hit.box)
            out.append((box, showing_share(unchanged, hit.box), hit.kind))
        return out  # type: ignore[return-value]


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
          every: int = 1, progress: bool = False,
          on_frame: Callable[[int, int], None] | None = None) -> AuditReport:
    """Audit ``emojified`` against ``original`` (two images, or two videos of the same size and frame count).

    ``every`` K checks every K-th frame of a video only. ``on_frame(done, total)`` is called after each frame.
    Raises :class:`InputError` (one line) for missing, unreadable or mismatched inputs.
    """
    if every < 1:
        raise InputError(f"--every must be 1 or more, got {every}")
    for p in (original, emojified):
        _check_exists(p)
    if Path(original).resolve() == Path(emojified).resolve():
        raise InputError(f"{emojified}: is the original itself; give the emojified output as the second file")
    images = is_image_path(original), is_image_path(emojified)
    if images[0] != images[1]:
        which = original if images[0] else emojified
        raise InputError(f"{which}: is an image while the other file is a video; compare like with like")
    auditor = Auditor(tolerance, max_showing, min_face, detect_size)
    if images[0]:
        return _audit_image(original, emojified, auditor)
    return _audit_video(original, emojified, auditor, every, progress, on_frame)


def _report(original, emojified, kind, size, auditor: Auditor, **kw) -> AuditReport:
    return AuditReport(str(original), str(emojified), kind, size, tolerance=auditor.tolerance,
                       max_showing=auditor.max_showing, **kw)


def _audit_image(original: str | Path, emojified: str | Path, auditor: Auditor) -> AuditReport:
    from facemoji.imageio import read_image

    a, b = read_image(original), read_image(emojified)
    if a.shape != b.shape:
        raise InputError(f"{emojified}: is {b.shape[1]}x{b.shape[0]} but the original is {a.shape[1]}x{a.shape[0]}; "
                         "they must be the same size")
    report = _report(original, emojified, "image", (a.shape[1], a.shape[0]), auditor, frames=1)
    for box, share, kind in auditor.check(a, b):
        report.faces += 1
        if share > auditor.max_showing:
            report.findings.append(Finding(0, None, box, share, kind))
    return report


def _audit_video(original: str | Path, emojified: str | Path, auditor: Auditor, every: int, progress: bool,
                 on_frame: Callable[[int, int], None] | None) -> AuditReport:
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
        report = _report(original, emojified, "video", ra.size, auditor, fps=ra.fps, every=every)
        fa, fb = ra.frames(), rb.frames()
        with tqdm(total=total or None, unit="frame", desc="audit", disable=not progress, leave=False,
                  dynamic_ncols=True) as bar:
            while True:
                a = next(fa, None)
                b = next(fb, None)
                if a is None or b is None:
                    if a is not None or b is not None:
                        longer, shorter = (original, emojified) if a is not None else (emojified, original)
                        raise InputError(f"{shorter}: ends after {report.frames} frames while {longer} goes on; "
                                         "frames are matched by index, so the counts must agree")
                    break
                if a.index % every == 0:
                    for box, share, kind in auditor.check(a.image, b.image):
                        report.faces += 1
                        if share > auditor.max_showing:
                            report.findings.append(Finding(a.index, a.time, box, share, kind))
                report.frames += 1
                bar.update(1)
                if on_frame is not None:
                    on_frame(report.frames, total)
    if report.frames == 0:
        raise InputError(f"{original}: video has no frames")
    return report


__all__ = ["DEFAULT_MAX_SHOWING", "DEFAULT_TOLERANCE", "AuditReport", "Auditor", "Finding", "audit",
           "showing_share", "unchanged_mask"]
