"""A small collection for the batch tests: real photos with faces, clips composed from them, and broken files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import run_facemoji
from videos import astronaut_crop, background, make_clip, pan, paste

GOOD_PHOTOS = ("photos/astronaut.jpg", "photos/group/two_faces.png", "photos/group/cameraman.png",
               "photos/named_wrong.bin")
GOOD_VIDEOS = ("clips/pan.mp4", "clips/sub/still.mov")
BROKEN = {  # relpath -> a word the recorded reason must contain
    "broken/empty.jpg": "empty",
    "broken/truncated.png": "truncated",
    "broken/text.jpg": "not an image or a video",
    "broken/garbage.jpg": "corrupt",
    "broken/cut.mp4": "corrupt",
}


def make_corpus(root: Path) -> Path:
    """Write the corpus under ``root`` and return it."""
    from skimage import data

    (root / "photos/group").mkdir(parents=True)
    (root / "clips/sub").mkdir(parents=True)
    (root / "broken").mkdir()
    astro = data.astronaut()
    Image.fromarray(astro).save(root / "photos/astronaut.jpg", quality=92)
    face = astronaut_crop()
    two = background((300, 480), seed=3)
    paste(two, face, (20, 40, 170))
    paste(two, face[:, ::-1], (270, 90, 150))
    Image.fromarray(two).save(root / "photos/group/two_faces.png")
    Image.fromarray(data.camera()).save(root / "photos/group/cameraman.png")
    Image.fromarray(astro[::2, ::2]).save(root / "photos/named_wrong.bin", format="PNG")  # content decides
    (root / "photos/notes.txt").write_text("not media, ignored in a folder walk\n")
    make_clip(root / "clips/pan.mp4", [face], lambda i, t: pan(i, t, 16), frames=16, fps=8, size=(320, 240))
    make_clip(root / "clips/sub/still.mov", [face], lambda i, t: [(80, 30, 160)], frames=12, fps=8,
              size=(320, 240))
    (root / "broken/empty.jpg").write_bytes(b"")
    png = (root / "photos/group/two_faces.png").read_bytes()
    (root / "broken/truncated.png").write_bytes(png[: len(png) // 3])
    (root / "broken/text.jpg").write_text("hello, I am not a picture\n")
    (root / "broken/garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0" + np.random.default_rng(1).bytes(3000))
    mp4 = (root / "clips/pan.mp4").read_bytes()
    (root / "broken/cut.mp4").write_bytes(mp4[: len(mp4) // 2])
    return root


def run_cli(args: list[str], timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return run_facemoji(*args, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kw)


def face_rows(out: Path):
    """The faces table as a pandas DataFrame in a stable order."""
    import pandas as pd

    df = pd.read_parquet(out / "faces")
    return df.sort_values(["relpath", "frame", "face"]).reset_index(drop=True)


def summary(out: Path):
    import pandas as pd

    return pd.read_parquet(out / "summary").set_index("relpath").sort_index()
