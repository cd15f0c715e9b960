"""Alpha-blending emoji over faces, clipped correctly at the image border."""

from __future__ import annotations

import importlib.resources
import math
from collections import OrderedDict

import cv2
import numpy as np

from facemoji.labels import EMOTIONS

# The emoji is a disc; it is sized so the disc covers the whole face box
# (its diagonal) and then a little more, as the original design did.
DEFAULT_SCALE = 1.08


def emoji_box(box: tuple[float, float, float, float], scale: float = DEFAULT_SCALE) -> tuple[int, int, int]:
    """Where the emoji goes for a face box: (left, top, side) in pixels."""
    x1, y1, x2, y2 = box
    side = max(4, int(math.ceil(math.hypot(x2 - x1, y2 - y1) * scale)))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


class EmojiSet:
    """The seven emoji as RGBA images, with a cache of resized copies."""

    def __init__(self, folder: str | None = None, cache_size: int = 128) -> None:
        from PIL import Image

        base = importlib.resources.files("facemoji") / "assets" / "emoji" if folder is None else None
        self.images: dict[str, np.ndarray] = {}
        for name in EMOTIONS:
            path = (base / f"{name}.png") if base is not None else f"{folder}/{name}.png"
            with Image.open(str(path)) as im:
                self.images[name] = np.asarray(im.convert("RGBA"))
        self._cache: OrderedDict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_size = cache_size

    def get(self, emotion: str, side: int) -> tuple[np.ndarray, np.ndarray]:
        """The emoji at ``side`` x ``side``: (RGB float32, alpha float32 in 0..1 with a channel axis)."""
        key = (emotion, side)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        src = self.images.get(emotion, self.images["neutral"])
        interp = cv2.INTER_AREA if side < src.shape[0] else cv2.INTER_CUBIC
        rgba = cv2.resize(src, (side, side), interpolation=interp).astype(np.float32)
        # cubic interpolation over-shoots; keep alpha in range and premultiply colour
        alpha = np.clip(rgba[..., 3:4] / 255.0, 0.0, 1.0)
        rgb = np.clip(rgba[..., :3], 0, 255) * alpha
        self._cache[key] = (rgb, alpha)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return rgb, alpha


def paste_emoji(image: np.ndarray, emotion: str, box: tuple[float, float, float, float], emoji: EmojiSet,
                scale: float = DEFAULT_SCALE) -> None:
    """Blend the emoji for ``emotion`` over ``box`` of ``image`` in place.

    The part of the emoji outside the image is cut away, so faces that touch
    or cross the border are covered as far as they are visible.
    """
    h, w = image.shape[:2]
    left, top, side = emoji_box(box, scale)
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(w, left + side), min(h, top + side)
    if x0 >= x1 or y0 >= y1:
        return
    rgb, alpha = emoji.get(emotion, side)
    ex0, ey0 = x0 - left, y0 - top
    ex1, ey1 = ex0 + (x1 - x0), ey0 + (y1 - y0)
    roi = image[y0:y1, x0:x1]
    a = alpha[ey0:ey1, ex0:ex1]
    blended = rgb[ey0:ey1, ex0:ex1] + roi.astype(np.float32) * (1.0 - a)
    np.clip(blended + 0.5, 0, 255, out=blended)
    roi[...] = blended.astype(np.uint8)
