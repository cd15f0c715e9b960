"""Each of the seven emotions is drawn with its own emoji picture, and nothing else."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pytest
from PIL import Image

from facemoji.labels import EMOTIONS
from facemoji.overlay import EmojiSet, render
from facemoji.overlay.emoji import emoji_box
from facemoji.types import Face

BOX = (150.0, 120.0, 250.0, 240.0)


def expected(emotion: str, canvas: np.ndarray, box=BOX) -> np.ndarray:
    """The asset file composited over the canvas by Pillow, independently of the overlay code."""
    left, top, side = emoji_box(box)
    path = importlib.resources.files("facemoji") / "assets" / "emoji" / f"{emotion}.png"
    with Image.open(str(path)) as im:
        emoji = im.convert("RGBA").resize((side, side), Image.Resampling.LANCZOS)
    base = Image.fromarray(canvas).convert("RGBA")
    base.alpha_composite(emoji, (left, top))
    return np.asarray(base.convert("RGB"))


@pytest.fixture(scope="module")
def canvas() -> np.ndarray:
    return np.full((400, 400, 3), 128, np.uint8)


def test_the_seven_pictures_differ() -> None:
    files = importlib.resources.files("facemoji") / "assets" / "emoji"
    images = {}
    for e in EMOTIONS:
        with Image.open(str(files / f"{e}.png")) as im:
            images[e] = np.asarray(im.convert("RGBA").resize((64, 64))).astype(np.int16)
    for i, a in enumerate(EMOTIONS):
        for b in EMOTIONS[i + 1 :]:
            assert np.abs(images[a] - images[b]).mean() > 3, (a, b)


@pytest.mark.parametrize("emotion", EMOTIONS)
def test_each_emotion_is_drawn_with_its_own_emoji(emotion, canvas) -> None:
    out = render(canvas, [Face(box=BOX, emotion=emotion)], "emoji", EmojiSet())
    left, top, side = emoji_box(BOX)
    region = (slice(top, top + side), slice(left, left + side))
    dist = {e: float(np.abs(out[region].astype(np.int16) - expected(e, canvas)[region]).mean()) for e in EMOTIONS}
    assert min(dist, key=dist.get) == emotion, dist
    assert dist[emotion] < 4, dist  # close to the file's own pixels (resampling differs a little)
    others = sorted(v for e, v in dist.items() if e != emotion)
    assert others[0] > 2 * dist[emotion] + 2, dist
    assert (out[:top] == canvas[:top]).all()  # nothing drawn outside the emoji's square


def test_a_face_without_an_emotion_gets_the_neutral_emoji(canvas) -> None:
    out = render(canvas, [Face(box=BOX)], "emoji", EmojiSet())
    ref = render(canvas, [Face(box=BOX, emotion="neutral")], "emoji", EmojiSet())
    assert (out == ref).all()
