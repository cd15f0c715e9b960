"""The options of the pipeline, defined once.

:class:`Options` is what every front end asks the pipeline for: which detector and emotion model, how finely to
detect, what to draw and how to hide a face, and ``strict``. The command line builds it from its arguments
(:meth:`Options.add_arguments`, :meth:`Options.from_args`), the server and the batch configs hold one, and
:meth:`Options.pipeline` builds the :class:`~facemoji.pipeline.Pipeline` for photos or for frames. Its checks run
when it is made, so a bad value is one :class:`~facemoji.errors.InputError` line wherever it came from.

The model policy lives here too: photos get the ``full`` model (four views of each face), frames of videos and
cameras the ``fast`` one (one view, smoothed over time per face), unless a model is named.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Literal

from facemoji.errors import InputError
from facemoji.overlay import COVERS, MODES
from facemoji.overlay.emoji import DEFAULT_SCALE as DEFAULT_EMOJI_SCALE
from facemoji.stream.coverage import COVER_PAD, STRICT_PAD

if TYPE_CHECKING:
    from facemoji.pipeline import Pipeline

Kind = Literal["photo", "frames"]
ArgKind = Literal["photo", "frames", "mixed"]  # "mixed": a command that reads photos and videos (batch)
PHOTO_DETECT_SIZE = 640  # still photos: finer detection, speed matters less
FRAME_DETECT_SIZE = 320  # frames: the smallest whole-frame scan (larger frames are scanned finer, see facemoji.stream)
MODEL_FOR: dict[str, str] = {"photo": "full", "frames": "fast"}


def positive_float(text: str) -> float:
    """argparse type: a number above zero."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


@dataclass(frozen=True)
class Options:
    """How faces are found, read and hidden.

    ``model`` None and ``detect_size`` None follow the policy for the kind of picture (:meth:`model_for`,
    :meth:`detect_size_for`). ``strict``: cover hard faces too, at about half the speed (in video, every frame is
    detected, a profile pass is added and covers are padded; in photos, the profile pass and the padding).
    """

    detector: str = "centerface"
    model: str | None = None
    detect_size: int | None = None
    threshold: float = 0.5
    mode: str = "emoji"
    cover: str = "emoji"
    strict: bool = False
    emoji_scale: float = DEFAULT_EMOJI_SCALE
    threads: int = 2

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"unknown mode {self.mode!r} (choose {', '.join(MODES)})")
        if self.cover not in COVERS:
            raise InputError(f"unknown cover {self.cover!r} (choose {', '.join(COVERS)})")
        self.check_detect_size(self.detect_size)
        if not 0 < self.threshold < 1:
            raise InputError(f"--threshold must be between 0 and 1, got {self.threshold}")
        if not self.emoji_scale > 0:
            raise InputError(f"--emoji-scale must be positive, got {self.emoji_scale}")
        if self.threads < 1:
            raise InputError(f"--threads must be 1 or more, got {self.threads}")
        if not isinstance(self.strict, bool):
            raise InputError(f"strict must be true or false, got {self.strict!r}")

    def model_for(self, kind: Kind) -> str:
        """The emotion model for photos or for frames: the one named, else the policy's."""
        return self.model or MODEL_FOR[kind]

    def detect_size_for(self, kind: Kind) -> int:
        """The detector's size for photos or for frames (for frames, the smallest whole-frame scan)."""
        return self.detect_size or (PHOTO_DETECT_SIZE if kind == "photo" else FRAME_DETECT_SIZE)

    def pipeline(self, kind: Kind, background: bool = False) -> Pipeline:
        """A pipeline with these options for photos or for frames."""
        from facemoji.pipeline import Pipeline

        return Pipeline(options=self, kind=kind, background=background)

    def with_(self, **changes: Any) -> Options:
        """A copy with ``changes`` (checked like the original)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @staticmethod
    def check_detect_size(value: int | None, flag: str = "--detect-size") -> None:
        """The one check of a detection size (None: the policy's); ``flag`` names it in the error."""
        if value is not None and not 32 <= value <= 4096:
            raise InputError(f"{flag} must be between 32 and 4096, got {value}")

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser, kind: ArgKind, threads: int = 2, threads_why: str = "",
                      detect_size: bool = True, refuse: dict[str, str] | None = None) -> argparse._ArgumentGroup:
        """The options as command-line flags (one group, "detection and drawing"); returns the group.

        ``kind``: what the command reads, for the defaults its help shows ("mixed": photos and videos, as
        ``facemoji batch``). ``detect_size`` False leaves ``--detect-size`` out. ``refuse`` maps options this
        command cannot honour (e.g. ``{"strict": "the server does not pad live covers yet"}``) to the reason:
        their flags are not shown, and giving one is a one-line error (exit status 2), never ignored.
        """
        refuse = refuse or {}
        unknown = set(refuse) - set(Options.names())
        if unknown:
            raise ValueError(f"no such options to refuse: {', '.join(sorted(unknown))}")
        g = p.add_argument_group("detection and drawing")
        for name, (flag, kw) in _flags(kind, threads, threads_why).items():
            if name == "detect_size" and not detect_size:
                continue
            if name in refuse:
                g.add_argument(flag, action=_Refused, why=refuse[name], help=argparse.SUPPRESS,
                               nargs=0 if kw.get("action") == "store_true" else None, default=None)
            else:
                g.add_argument(flag, **kw)
        return g

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Options:
        """The options a command line asked for (flags that command does not have keep their defaults)."""
        kw = {name: getattr(args, name) for name in cls.names() if getattr(args, name, None) is not None}
        return cls(**kw)



class _Refused(argparse.Action):
    """A flag the command has but cannot honour: giving it ends the command with one error line, status 2."""

    def __init__(self, option_strings: list[str], dest: str, why: str = "", **kw: Any) -> None:
        super().__init__(option_strings, dest, **kw)
        self.why = why

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"facemoji: error: {option_string} is not available in '{parser.prog}': {self.why}", file=sys.stderr)
        raise SystemExit(2)


def _defaults(kind: ArgKind) -> tuple[str, str, str]:
    """What the help says of the model, the detection size and --strict for ``kind``."""
    frames_strict = ("detect on every frame, add a profile-face pass, cover every detection at once, pad the "
                     "covers and keep them on lost faces for a second; about 2-3x slower (docs/coverage.md)")
    photo_strict = ("add a profile-face pass (OpenCV's Haar profile cascade, both ways) and pad the covers by "
                    f"{round(100 * STRICT_PAD)} %% ({round(100 * COVER_PAD)} %% without it)")
    auto = (f"auto: from the frame, {FRAME_DETECT_SIZE} px and up, so that faces about 24 pixels wide are found at "
            "any resolution")
    if kind == "photo":
        return MODEL_FOR["photo"], f"{PHOTO_DETECT_SIZE}", photo_strict
    if kind == "frames":
        return MODEL_FOR["frames"], auto, frames_strict
    return (f"{MODEL_FOR['photo']} for photos, {MODEL_FOR['frames']} for videos",
            f"photos {PHOTO_DETECT_SIZE}, as 'facemoji image'; videos {auto}, as 'facemoji video'",
            f"photos: {photo_strict}; videos: {frames_strict}")


def _flags(kind: ArgKind, threads: int, threads_why: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each option's flag and its argparse settings, in the order the help lists them."""
    model, size, strict = _defaults(kind)
    return {
        "mode": ("--mode", {"choices": MODES, "default": "emoji", "help": "emoji: cover each face; boxes: frame "
                            "and emotion label (the original look); both (default: emoji)"}),
        "cover": ("--cover", {"choices": COVERS, "default": "emoji", "help": "how faces are hidden: emoji of the "
                              "expression (default), blur, pixelate, or solid (a dark disc); all cover the same "
                              "disc over each face"}),
        "strict": ("--strict", {"action": "store_true", "help": "cover hard faces too (turned to profile, "
                                "fast-moving, briefly lost): " + strict}),
        "detector": ("--detector", {"default": "centerface", "help": "centerface (default), haar (OpenCV 4.x "
                                    "Haar cascade), yunet (the shipped YuNet) or yunet:MODEL.onnx"}),
        "detect_size": ("--detect-size", {"type": int, "default": None, "metavar": "PX", "help": "longer side the "
                                          f"picture is scaled to for detection; smaller is faster (default: {size})"}),
        "threshold": ("--threshold", {"type": float, "default": 0.5,
                                      "help": "detector confidence threshold 0..1 (default: 0.5)"}),
        "model": ("--model", {"default": None, "metavar": "MODEL", "help": "emotion model: an ONNX file, or a "
                              "shipped one by name: full (four views of each face averaged: photos) or fast (one "
                              "view, about 3x quicker and 1.4 points less accurate on FER2013: video and cameras, "
                              f"which smooth each face over time) (default: {model})"}),
        "emoji_scale": ("--emoji-scale", {"type": positive_float, "default": DEFAULT_EMOJI_SCALE, "metavar": "X",
                                          "help": "emoji size relative to the face box diagonal "
                                          f"(default: {DEFAULT_EMOJI_SCALE})"}),
        "threads": ("--threads", {"type": int, "default": threads,
                                  "help": f"CPU threads for each model (default: {threads}{threads_why})"}),
    }

__all__ = ["FRAME_DETECT_SIZE", "MODEL_FOR", "PHOTO_DETECT_SIZE", "Options", "positive_float"]
