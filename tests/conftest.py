"""Shared fixtures: real faces from packages and from FER2013 rows."""

from __future__ import annotations

import os
import signal
import subprocess
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
    if not path.exists():
        pytest.skip(f"FER2013 data not found at {path}")
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


def popen_for_ctrl_c(cmd: list[str], **kw) -> subprocess.Popen:
    """Start a command that a test will stop with SIGINT, as Ctrl-C in a terminal would.

    A shell script that runs the tests in the background (``cmd &``) makes its children ignore SIGINT, and Python
    then never turns SIGINT into KeyboardInterrupt; give the child the terminal's default instead.
    """
    return subprocess.Popen(cmd, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kw)
