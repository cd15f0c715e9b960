"""Rendering a frame's faces in one of three modes: emoji (cover the faces), boxes, both."""

from __future__ import annotations

import cv2
import numpy as np

from facemoji.overlay.cover import check_cover, cover_face
from facemoji.overlay.emoji import DEFAULT_SCALE, EmojiSet
from facemoji.types import Face

MODES = ("emoji", "boxes", "both")

# RGB colours of the boxes, one per class.
COLOURS = {
    "angry": (230, 57, 70), "disgust": (106, 153, 78), "fear": (131, 56, 236), "happy": (255, 190, 11),
    "sad": (58, 134, 255), "surprise": (251, 86, 7), "neutral": (200, 200, 200),
}


def draw_boxes(image: np.ndarray, faces: list[Face]) -> None:
    """The original design's look: a frame around each face and its emotion above it (in place)."""
    h, w = image.shape[:2]
    thick = max(2, round(min(h, w) / 250))
    for f in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        colour = COLOURS.get(f.emotion or "", (0, 255, 255))
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, thick, cv2.LINE_AA)
        if f.emotion is None:
            continue
        p = (f.probabilities or {}).get(f.emotion)
        label = f.emotion if p is None else f"{f.emotion} {p:.0%}"
        fs = max(0.45, (x2 - x1) / 220)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_DUPLEX, fs, 1)
        ty = y1 - 6 if y1 - th - base - 6 >= 0 else min(h - base - 2, y2 + th + 6)
        tx = min(max(0, x1), max(0, w - tw))
        cv2.rectangle(image, (tx, ty - th - 4), (tx + tw + 4, ty + base), colour, -1)
        cv2.putText(image, label, (tx + 2, ty - 2), cv2.FONT_HERSHEY_DUPLEX, fs, (0, 0, 0), 1, cv2.LINE_AA)


def render(image: np.ndarray, faces: list[Face], mode: str = "emoji", emoji: EmojiSet | None = None,
           scale: float = DEFAULT_SCALE, copy: bool = True, cover: str = "emoji") -> np.ndarray:
    """Return ``image`` with each face drawn in ``mode`` (``emoji``, ``boxes`` or ``both``).

    ``emoji`` and ``both`` hide each face with ``cover``: its emoji (default), ``blur``,
    ``pixelate`` or ``solid``. ``copy=False`` draws on ``image`` itself.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (choose {', '.join(MODES)})")
    check_cover(cover)
    out = image.copy() if copy else image
    if mode in ("emoji", "both"):
        if emoji is None and cover == "emoji":
            emoji = EmojiSet()
        # largest faces first, so a small face in front is drawn on top
        for f in sorted(faces, key=lambda f: -(f.width * f.height)):
            cover_face(out, f.box, cover, emotion=f.emotion, emoji=emoji, scale=scale)
    if mode in ("boxes", "both"):
        draw_boxes(out, faces)
    return out
