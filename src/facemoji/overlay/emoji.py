"""Alpha-blending emoji over faces, clipped correctly at the image border.

Memory stays bounded whatever the picture size: the resized emoji are kept as
8-bit premultiplied RGBA in a cache bounded in bytes, and blending works on the
face's region only, in 16-bit integers.
"""

from __future__ import annotations

import importlib.resources
import math

import cv2
import numpy as np

from facemoji.labels import EMOTIONS
from facemoji.overlay.cache import ByteLRU

# The emoji is a disc; it is sized so the disc covers the whole face box
# (its diagonal) and then a little more, as the original design did.
DEFAULT_SCALE = 1.08

# Resized emoji kept for faces that hold their size: 32 MiB holds, for example, fifty
# 400-pixel emoji or two 2000-pixel ones (a face filling a 4K frame).
DEFAULT_CACHE_BYTES = 32 << 20


def emoji_box(box: tuple[float, float, float, float], scale: float = DEFAULT_SCALE) -> tuple[int, int, int]:
    """Where the emoji goes for a face box: (left, top, side) in pixels."""
    x1, y1, x2, y2 = box
    side = max(4, int(math.ceil(math.hypot(x2 - x1, y2 - y1) * scale)))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def clip_square(shape: tuple[int, ...], left: int, top: int, side: int) -> tuple[slice, slice, slice, slice] | None:
    """The part of a ``side`` square at (left, top) inside an image of ``shape``.

    Returns (image rows, image columns, square rows, square columns), or None when they do not meet.
    """
    h, w = shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(w, left + side), min(h, top + side)
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1), slice(y0 - top, y1 - top), slice(x0 - left, x1 - left)


def blend(roi: np.ndarray, colour: np.ndarray, alpha: np.ndarray, premultiplied: bool = False) -> None:
    """``roi = colour * alpha + roi * (1 - alpha)`` in place, all uint8 (alpha 0..255, shape (h, w, 1)).

    With ``premultiplied``, ``colour`` already holds ``colour * alpha``. Integer arithmetic,
    rounded to nearest; an opaque pixel (alpha 255) takes exactly the colour.
    """
    acc = np.multiply(roi, 255 - alpha, dtype=np.uint16)
    if premultiplied:
        acc += np.multiply(colour, 255, dtype=np.uint16)
    else:
        acc += np.multiply(colour, alpha, dtype=np.uint16)
    acc += 128  # x / 255 rounded, exactly, for x <= 255 * 255: (x + 128 + ((x + 128) >> 8)) >> 8
    acc += acc >> 8
    acc >>= 8
    roi[...] = acc


class EmojiSet:
    """The seven emoji as RGBA images, with a cache of resized copies bounded in bytes."""

    def __init__(self, folder: str | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        from PIL import Image

        base = importlib.resources.files("facemoji") / "assets" / "emoji" if folder is None else None
        self.images: dict[str, np.ndarray] = {}
        for name in EMOTIONS:
            path = (base / f"{name}.png") if base is not None else f"{folder}/{name}.png"
            with Image.open(str(path)) as im:
                self.images[name] = np.asarray(im.convert("RGBA"))
        self.cache = ByteLRU(cache_bytes)

    def get(self, emotion: str, side: int) -> tuple[np.ndarray, np.ndarray]:
        """The emoji at ``side`` x ``side``: (premultiplied RGB uint8, alpha uint8 with a channel axis)."""
        key = (emotion, side)
        hit = self.cache.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        src = self.images.get(emotion, self.images["neutral"])
        interp = cv2.INTER_AREA if side < src.shape[0] else cv2.INTER_CUBIC
        rgba = cv2.resize(src, (side, side), interpolation=interp)  # uint8: cubic over-shoot saturates
        alpha = np.ascontiguousarray(rgba[..., 3:4])
        rgb = rgba[..., :3]
        blend(rgb, np.zeros_like(rgb), 255 - alpha)  # premultiply in place: rgb * alpha / 255
        value = (np.ascontiguousarray(rgb), alpha)
        self.cache.put(key, value)
        return value


def paste_emoji(image: np.ndarray, emotion: str, box: tuple[float, float, float, float], emoji: EmojiSet,
                scale: float = DEFAULT_SCALE) -> None:
    """Blend the emoji for ``emotion`` over ``box`` of ``image`` in place.

    The part of the emoji outside the image is cut away, so faces that touch
    or cross the border are covered as far as they are visible.
    """
    left, top, side = emoji_box(box, scale)
    where = clip_square(image.shape, left, top, side)
    if where is None:
        return
    rows, cols, er, ec = where
    rgb, alpha = emoji.get(emotion, side)
    blend(image[rows, cols], rgb[er, ec], alpha[er, ec], premultiplied=True)
