"""The ``facemoji`` command. Each sub-command lives in its own module with
``add_parser(subparsers)`` and ``run(args) -> int``; heavy imports happen
inside ``run`` so ``--help`` and start-up stay fast."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from facemoji import __version__
from facemoji.errors import FacemojiError

# commands that leave nothing behind for the interpreter's shutdown (no atexit work such as Ray's, every output
# written, closed and renamed by the time they return): the console script ends their process at once, which saves
# tearing down onnxruntime's sessions and every module (60-90 ms of each run here)
QUICK_EXIT = frozenset({"image", "demo", "video", "audit"})

COMMANDS = ("image", "demo", "video", "audit", "batch", "webcam", "serve", "train", "export", "evaluate")

DESCRIPTION = """\
facemoji finds every face in a photo, a video or a live camera, recognises its
expression (angry, disgust, fear, happy, sad, surprise, neutral) and covers it
with the matching emoji. Everything runs on this machine; nothing is downloaded.

examples:
  facemoji demo -o demo.jpg                   emojify a bundled sample photo
  facemoji image photos/ -o out/ --json -     a folder of photos, records on stdout
  facemoji image me.jpg --mode both           boxes and labels as well as emoji
  facemoji video clip.mp4 -o clip_emoji.mp4   a video, audio kept
  facemoji batch photos/ clips/ -o out/       a whole collection, faces as Parquet tables
  facemoji audit clip.mp4 clip_emoji.mp4      check that no face still shows
  facemoji webcam                             live camera window
  facemoji serve                              web page and HTTP API on 127.0.0.1:8000
"""


def command_of(argv: list[str]) -> str | None:
    """The sub-command named by ``argv`` (its first word that is not an option), if it is one of :data:`COMMANDS`."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, just that sub-command's module is imported (start-up time)."""
    parser = argparse.ArgumentParser(
        prog="facemoji", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"facemoji {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        try:
            mod = importlib.import_module(f"facemoji.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"facemoji.cli.{name}":
                continue  # command not built yet
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_of(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except FacemojiError as e:
        print(f"facemoji: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("facemoji: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        return 1


def console() -> None:
    """The ``facemoji`` console script (and ``python -m facemoji``): :func:`main`, then the exit.

    After a command of :data:`QUICK_EXIT` the standard streams are flushed and the process ends without the
    interpreter's shutdown; any other command exits as usual.
    """
    code = main()
    if command_of(sys.argv[1:]) in QUICK_EXIT:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe: nothing more can be said
                pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
