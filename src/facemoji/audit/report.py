"""What an audit found: faces of the original that still show, covers of the output on no face, per frame and in all."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_TOLERANCE = 24  # grey levels (any channel) a pixel may move and still count as unchanged
DEFAULT_MAX_SHOWING = 0.25  # a face with more than this share of its box unchanged is reported
PARTLY_SHOWING = 0.1  # a face with more than this share unchanged, but no more than max_showing, shows partly
MORE_THAN_HALF = 0.5
DETECTORS = ("yunet", "haar", "both")
DEFAULT_FACE_THRESHOLD = 0.7  # YuNet's confidence for a face that must be covered
DEFAULT_GHOST_THRESHOLD = 0.35  # YuNet's confidence for a face beneath a cover


def _box_dict(box: tuple[int, int, int, int]) -> dict:
    x1, y1, x2, y2 = box
    return {"x": x1, "y": y1, "width": x2 - x1, "height": y2 - y1}


def _time(t: float | None) -> float | None:
    return None if t is None else round(t, 3)


@dataclass
class Finding:
    """A face of the original that still shows in the output."""

    frame: int
    time: float | None  # seconds from the start (None for an image)
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels
    showing: float  # share of the box left unchanged, 0..1
    kind: str  # which detector found it: yunet, or a Haar cascade (frontal, profile, profile-mirrored)
    score: float | None = None  # YuNet's confidence; None for a Haar cascade

    def to_dict(self) -> dict:
        return {"frame": self.frame, "time": _time(self.time), "box": _box_dict(self.box),
                "showing": round(self.showing, 3), "detector": self.kind,
                "score": None if self.score is None else round(self.score, 3)}


@dataclass
class Ghost:
    """A cover of the output (a region where it differs from the original) with no face of the original beneath."""

    frame: int
    time: float | None
    box: tuple[int, int, int, int]  # the changed region's bounding box, x1, y1, x2, y2
    area: int  # changed pixels in it

    def to_dict(self) -> dict:
        return {"frame": self.frame, "time": _time(self.time), "box": _box_dict(self.box), "area": self.area}


@dataclass
class FrameCounts:
    """One checked frame: faces found in the original and how they fare, covers found in the output."""

    frame: int
    faces: int = 0
    showing: int = 0  # more than max_showing of the face unchanged
    more_than_half: int = 0  # more than half unchanged (counted among ``showing`` too, when max_showing < 0.5)
    partly: int = 0  # more than PARTLY_SHOWING unchanged, but no more than max_showing
    covers: int = 0
    ghosts: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class AuditReport:
    """What :func:`facemoji.audit.audit` found."""

    original: str
    emojified: str
    kind: str  # "video" or "image"
    size: tuple[int, int]
    frames: int = 0  # frames compared
    faces: int = 0  # faces the independent detectors found in the original (all frames)
    findings: list[Finding] = field(default_factory=list)  # faces showing more than max_showing
    more_than_half: int = 0  # faces with more than half their box unchanged
    partly: int = 0  # faces with more than PARTLY_SHOWING but at most max_showing unchanged
    covers: int = 0  # regions where the output differs from the original (all frames)
    ghost_findings: list[Ghost] = field(default_factory=list)  # covers with no face beneath
    per_frame: list[FrameCounts] = field(default_factory=list)
    fps: float | None = None
    tolerance: int = DEFAULT_TOLERANCE
    max_showing: float = DEFAULT_MAX_SHOWING
    max_ghosts: float | None = None
    every: int = 1
    detector: str = "both"
    face_threshold: float = DEFAULT_FACE_THRESHOLD
    ghost_threshold: float = DEFAULT_GHOST_THRESHOLD

    @property
    def clean(self) -> bool:
        """True when no face of the original shows in the output."""
        return not self.findings

    @property
    def ghosts(self) -> int:
        return len(self.ghost_findings)

    @property
    def ghost_share(self) -> float:
        """Share of the output's covers that lie on no face of the original (0 without covers)."""
        return self.ghosts / self.covers if self.covers else 0.0

    @property
    def too_many_ghosts(self) -> bool:
        """True when ``max_ghosts`` is set and the share of covers on no face exceeds it."""
        return self.max_ghosts is not None and self.ghost_share > self.max_ghosts

    def add(self, counts: FrameCounts, findings: list[Finding], ghosts: list[Ghost]) -> None:
        """Count one checked frame in."""
        self.per_frame.append(counts)
        self.faces += counts.faces
        self.more_than_half += counts.more_than_half
        self.partly += counts.partly
        self.covers += counts.covers
        self.findings += findings
        self.ghost_findings += ghosts

    def summary(self) -> str:
        what = f"{self.frames} frame{'s' if self.frames != 1 else ''}" if self.kind == "video" else "image"
        head = f"audit of {self.emojified} against {self.original}: {what}, {self.faces} face(s) found in the original"
        if self.clean:
            faces = f"{head}, none showing in the output"
        else:
            worst = max(self.findings, key=lambda f: f.showing)
            where = f" at frame {worst.frame}" if self.kind == "video" else ""
            share = 100 * len(self.findings) / max(1, self.faces)
            faces = (f"{head}, {len(self.findings)} showing in the output ({share:.0f}% of them; "
                     f"worst {worst.showing:.0%} of the face{where})")
        return (f"{faces}; {self.more_than_half} more than half showing, {self.partly} partly showing; "
                f"{self.covers} cover(s) in the output, {self.ghosts} on no face ({self.ghost_share:.0%})")

    def to_dict(self) -> dict:
        return {"original": self.original, "emojified": self.emojified, "kind": self.kind,
                "width": self.size[0], "height": self.size[1], "fps": self.fps, "frames": self.frames,
                "every": self.every, "faces": self.faces, "showing": len(self.findings), "clean": self.clean,
                "more_than_half": self.more_than_half, "partly": self.partly, "covers": self.covers,
                "ghosts": self.ghosts, "ghost_share": round(self.ghost_share, 4),
                "tolerance": self.tolerance, "max_showing": self.max_showing, "partly_above": PARTLY_SHOWING,
                "max_ghosts": self.max_ghosts, "detector": self.detector, "face_threshold": self.face_threshold,
                "ghost_threshold": self.ghost_threshold,
                "findings": [f.to_dict() for f in self.findings],
                "ghost_findings": [g.to_dict() for g in self.ghost_findings],
                "per_frame": [c.to_dict() for c in self.per_frame]}
