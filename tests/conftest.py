"""Shared fixtures and helpers: real faces from packages and from FER2013 rows, and the `facemoji` command run as a
user runs it (:func:`run_facemoji`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(os.environ.get("FACEMOJI_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DATA = SHARED / "data"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo (RGB 512x512, one frontal face near (225, 120))."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def pipeline():
    from facemoji.pipeline import Pipeline

    return Pipeline(detect_size=640)


def _fer_rows(name: str) -> dict[str, np.ndarray]:
    path = DATA / f"fer2013_{name}.npz"
    if not DATA.is_dir() and os.environ.get("FACEMOJI_REQUIRE_DATA") != "1":
        # a checkout with no data folder beside it (a clone elsewhere): said in the summary, not quietly
        pytest.skip(f"no FER2013 data folder at {DATA} (set FACEMOJI_SHARED to the folder that holds data/)")
    if not path.exists():  # a failure, not a skip: a data folder that lacks a file must not switch tests off
        pytest.fail(f"FER2013 data not found at {path} (set FACEMOJI_SHARED to the folder that holds data/)")
    with np.load(path) as d:
        return {k: d[k] for k in d.files}


@pytest.fixture(scope="session")
def fer_public() -> dict[str, np.ndarray]:
    return _fer_rows("publictest")


@pytest.fixture(scope="session")
def fer_train() -> dict[str, np.ndarray]:
    return _fer_rows("train")


def compose_faces(face: np.ndarray, layout: list[tuple[int, int, int]], size: tuple[int, int] = (480, 640),
                  background: int = 90) -> np.ndarray:
    """Paste a face crop (RGB) at several (x, y, side) squares on a plain background."""
    import cv2

    h, w = size
    canvas = np.full((h, w, 3), background, np.uint8)
    for x, y, side in layout:
        patch = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
        x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + side), min(h, y + side)
        canvas[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]
    return canvas


@pytest.fixture(scope="session")
def astronaut_face(astronaut) -> np.ndarray:
    """A square crop around the astronaut's head, with some margin (RGB 200x200)."""
    return astronaut[20:220, 125:325].copy()


@pytest.fixture(scope="session")
def pan_clip(tmp_path_factory):
    """A 640x480 H.264 clip (``videos.Clip``): the astronaut's face panning across, 30 frames at 15 fps. Shared by
    the modules that only read it; a test that writes beside its input makes a clip of its own."""
    from videos import astronaut_crop, make_clip, pan

    return make_clip(tmp_path_factory.mktemp("pan") / "pan.mp4", [astronaut_crop()], pan, frames=30, fps=15)


def facemoji_command(*args: object) -> list[str]:
    """``python -m facemoji ARGS`` as an argument list, every argument as a string (for ``subprocess.Popen``)."""
    return [sys.executable, "-m", "facemoji", *map(str, args)]


def run_facemoji(*args: object, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m facemoji ARGS`` in a fresh process, as a user would: stdout and stderr captured as text.

    Arguments may be paths or numbers; keyword arguments go to :func:`subprocess.run` (``cwd``, ``env``...).
    """
    return subprocess.run(facemoji_command(*args), capture_output=True, text=True, timeout=timeout, **kw)


def popen_for_ctrl_c(cmd: list[str], **kw) -> subprocess.Popen:
    """Start a command that a test will stop with SIGINT, as Ctrl-C in a terminal would.

    A shell script that runs the tests in the background (``cmd &``) makes its children ignore SIGINT, and Python
    then never turns SIGINT into KeyboardInterrupt; give the child the terminal's default instead.
    """
    return subprocess.Popen(cmd, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kw)


# A `facemoji` command that holds still at a given frame until Ctrl-C reaches it, so that a test can interrupt it
# part-way on any machine, fast or slow: the test waits for the marker file (an event), not for a while.
_PAUSED_CLI = r"""
import signal, sys, time
from pathlib import Path

import facemoji.stream.follower as vp
from facemoji.cli import main

at, marker = int(sys.argv[1]), Path(sys.argv[2])
step = vp.FaceFollower.step


def paused_step(self, image, t):
    if self.count == at:
        handler = signal.getsignal(signal.SIGINT)
        marker.write_text(str(at))
        deadline = time.monotonic() + 120
        # wait for Ctrl-C: it raises KeyboardInterrupt here, or a command's own handler takes it (and is replaced)
        while signal.getsignal(signal.SIGINT) is handler and time.monotonic() < deadline:
            time.sleep(0.01)
    return step(self, image, t)


vp.FaceFollower.step = paused_step
sys.argv = ["facemoji", *sys.argv[3:]]
sys.exit(main())
"""


def interrupt_at_frame(args: list[str], frame: int, marker: Path, timeout: float = 120, **kw) -> tuple[int, str]:
    """Run ``facemoji ARGS``, wait until it reaches ``frame``, press Ctrl-C; returns (exit status, stderr)."""
    import sys
    import time

    proc = popen_for_ctrl_c([sys.executable, "-c", _PAUSED_CLI, str(frame), str(marker), *map(str, args)],
                            stderr=subprocess.PIPE, text=True, **kw)
    try:
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"never reached frame {frame}: {proc.communicate(timeout=timeout)[1][-2000:]}")
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    return proc.returncode, err


def jpeg(img: np.ndarray, quality: int = 90) -> bytes:
    """An RGB array as JPEG bytes, as a browser or a script would upload it."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _png(width: int, height: int, depth: int, colour: int, idat: bytes) -> bytes:
    """PNG bytes: the signature, an IHDR of the given size, bit depth and colour type, one IDAT, IEND."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A 1-bit PNG of width x height white pixels that compresses to a few kilobytes whatever its size."""
    import zlib

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    z = zlib.compressobj(9)
    return _png(width, height, 1, 0, b"".join(z.compress(row) for _ in range(height)) + z.flush())


def png_header(width: int, height: int, depth: int = 8, colour: int = 0) -> bytes:
    """A PNG that is all header (its pixel data empty): what a reader of sizes sees of any picture that big, in
    bytes; ``colour`` is PNG's colour type (0 grey, 2 RGB, 6 RGBA)."""
    import zlib

    return _png(width, height, depth, colour, zlib.compress(b""))
