"""Options and helpers shared by several commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO

from facemoji.overlay import COVERS, MODES


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


def add_pipeline_options(p: argparse.ArgumentParser, detect_size: int, model: str = "full",
                         threads: int = 2, threads_why: str = "") -> None:
    """The options every command that runs the pipeline shares; ``model``: the shipped model it uses by default
    ("full": four views per face, for photos; "fast": one view, for video and cameras)."""
    g = p.add_argument_group("detection and drawing")
    g.add_argument("--mode", choices=MODES, default="emoji",
                   help="emoji: cover each face; boxes: frame and emotion label (the original look); both (default: emoji)")
    g.add_argument("--cover", choices=COVERS, default="emoji",
                   help="how faces are hidden: emoji of the expression (default), blur, pixelate, or solid (a dark "
                   "disc); all cover the same disc over each face")
    g.add_argument("--detector", default="centerface",
                   help="centerface (default), haar (OpenCV 4.x Haar cascade), or yunet:MODEL.onnx")
    g.add_argument("--detect-size", type=int, default=detect_size, metavar="PX",
                   help=f"longer side the image is scaled to for detection; smaller is faster (default: {detect_size})")
    g.add_argument("--threshold", type=float, default=0.5, help="detector confidence threshold 0..1 (default: 0.5)")
    g.add_argument("--model", default=model, metavar="MODEL",
                   help="emotion model: an ONNX file, or a shipped one by name: full (four views of each face "
                   "averaged: photos) or fast (one view, about 3x quicker and 1.4 points less accurate on FER2013: "
                   f"video and cameras, which smooth each face over time) (default: {model})")
    g.add_argument("--emoji-scale", type=positive_float, default=None, metavar="X",
                   help="emoji size relative to the face box diagonal (default: 1.08)")
    g.add_argument("--threads", type=int, default=threads,
                   help=f"CPU threads for each model (default: {threads}{threads_why})")


def build_pipeline(args: argparse.Namespace, background: bool = False):
    """The pipeline the options ask for (``background``: see :class:`~facemoji.pipeline.Pipeline`)."""
    from facemoji.errors import InputError
    from facemoji.pipeline import Pipeline

    if not 32 <= args.detect_size <= 4096:
        raise InputError(f"--detect-size must be between 32 and 4096, got {args.detect_size}")
    if not 0 < args.threshold < 1:
        raise InputError(f"--threshold must be between 0 and 1, got {args.threshold}")
    kw = {} if args.emoji_scale is None else {"emoji_scale": args.emoji_scale}
    return Pipeline(detector=args.detector, model=args.model, detect_size=args.detect_size, threshold=args.threshold,
                    mode=args.mode, threads=args.threads, cover=args.cover, background=background, **kw)


def open_json_out(target: str | None) -> IO[str] | None:
    if target is None:
        return None
    if target == "-":
        return sys.stdout
    from facemoji.errors import InputError

    p = Path(target)
    if not p.parent.is_dir():
        raise InputError(f"{p}: output folder {p.parent} does not exist")
    return None  # written atomically at the end by the caller


def dump_json(obj, target: str) -> None:
    from facemoji.imageio import atomic_write_bytes

    text = json.dumps(obj, indent=2) + "\n"
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_write_bytes(target, text.encode())
