"""Options and helpers shared by several commands.

The pipeline's flags and their checks are :class:`facemoji.options.Options`'s: a command adds them with
``Options.add_arguments(parser, kind)`` and builds its pipeline with :func:`options_from_args` and
``options.pipeline(kind)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO, NoReturn

from facemoji.errors import InputError
from facemoji.options import Kind, Options, positive_float  # noqa: F401 - positive_float: the commands' argparse type

EXIT_USAGE = 2  # as argparse's own errors


def options_from_args(args: argparse.Namespace) -> Options:
    """The options the command line asked for; a value :class:`Options` refuses ends the command with one
    ``facemoji: error:`` line and exit status 2, as a malformed argument does."""
    try:
        return Options.from_args(args)
    except InputError as e:
        usage_error(e)


def usage_error(e: InputError) -> NoReturn:
    """End the command for an argument that cannot be used: one ``facemoji: error:`` line, exit status 2."""
    print(f"facemoji: error: {e}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE) from None


def add_pipeline_options(p: argparse.ArgumentParser, detect_size: int, model: str = "full",
                         threads: int = 2, threads_why: str = "") -> None:
    """The shared flags with a fixed detection size and model, for the commands that do not call
    ``Options.add_arguments`` themselves yet (``serve``, ``webcam``); ``--strict``, which they do not honour yet,
    is refused."""
    Options.add_arguments(p, "photo" if model == "full" else "frames", threads, threads_why,
                          refuse={"strict": "this command does not cover hard faces differently yet"})
    p.set_defaults(detect_size=detect_size, model=model)


def build_pipeline(args: argparse.Namespace, background: bool = False, kind: Kind = "frames"):
    """The pipeline the options ask for (``background``: see :class:`~facemoji.pipeline.Pipeline`)."""
    return options_from_args(args).pipeline(kind, background=background)


def open_json_out(target: str | None) -> IO[str] | None:
    if target is None:
        return None
    if target == "-":
        return sys.stdout
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
