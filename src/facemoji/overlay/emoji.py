"""Alpha-blending emoji over faces, clipped correctly at the image border.

Memory stays bounded whatever the picture size: the resized emoji are kept as
8-bit premultiplied colour and alpha in a cache bounded in bytes, and blending
works on the face's region only, in 8-bit arithmetic.
"""

from __future__ import annotations

import importlib.resources
import math
from pathlib import Path

import cv2
import numpy as np

from facemoji.labels import EMOTIONS
from facemoji.overlay.cache import ByteLRU

# The emoji is a disc; it is sized so the disc covers the whole face box
# (its diagonal) and then a little more, as the original design did.
DEFAULT_SCALE = 1.08

# Resized emoji kept for faces that hold their size: 16 MiB holds, for example, twenty-five
# 400-pixel emoji or one 1600-pixel one (a face filling most of a 4K frame).
DEFAULT_CACHE_BYTES = 16 << 20


def emoji_box(box: tuple[float, float, float, float], scale: float = DEFAULT_SCALE) -> tuple[int, int, int]:
    """Where the emoji goes for a face box: (left, top, side) in pixels. The side is the box's diagonal times
    ``scale``, rounded up to a step of 2 pixels for every 48 (2 below 96, 4 below 144, ...; at most 4 % larger): a
    tracked face's box changes by a pixel or two from frame to frame, and within a step the emoji resized for the
    last frame is taken again from the cache instead of being made anew."""
    x1, y1, x2, y2 = box
    side = max(4, int(math.ceil(math.hypot(x2 - x1, y2 - y1) * scale)))
    step = 2 * max(1, side // 48)
    side = step * -(-side // step)
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


def blend(roi: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> None:
    """``roi = colour * alpha + roi * (1 - alpha)`` in place; uint8 throughout, ``alpha`` 0..255 per channel.

    OpenCV's saturating 8-bit arithmetic on the region only; an opaque pixel takes exactly the colour.
    """
    over = cv2.multiply(colour, alpha, scale=1 / 255)
    under = cv2.multiply(roi, cv2.bitwise_not(alpha), scale=1 / 255)
    cv2.add(over, under, dst=roi)


def blend_premultiplied(roi: np.ndarray, colour: np.ndarray, inverse_alpha: np.ndarray) -> None:
    """``roi = colour + roi * inverse_alpha / 255`` in place, for colour already multiplied by its alpha."""
    cv2.add(cv2.multiply(roi, inverse_alpha, scale=1 / 255), colour, dst=roi)


def read_rgba(data: bytes, name: str) -> np.ndarray:
    """An image file's bytes as RGBA uint8 (opaque where the file has no alpha), decoded by OpenCV, which the
    runtime loads anyway (Pillow stays out of the video and camera paths' start-up)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{name}: not a readable image")
    if img.dtype != np.uint8:  # 16-bit PNG
        img = (img // 257).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGRA)
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)


class EmojiSet:
    """The seven emoji as RGBA images, with a cache of resized copies bounded in bytes."""

    def __init__(self, folder: str | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        base = importlib.resources.files("facemoji") / "assets" / "emoji" if folder is None else None
        self.images: dict[str, np.ndarray] = {}
        for name in EMOTIONS:
            path = (base / f"{name}.png") if base is not None else Path(f"{folder}/{name}.png")
            self.images[name] = read_rgba(path.read_bytes(), str(path))
        self.cache = ByteLRU(cache_bytes)

    def _resized(self, emotion: str, side: int) -> np.ndarray:
        """The emoji for ``emotion`` (neutral's for an unknown one) as RGBA uint8 at ``side`` x ``side``."""
        src = self.images.get(emotion, self.images["neutral"])
        interp = cv2.INTER_AREA if side < src.shape[0] else cv2.INTER_CUBIC
        return cv2.resize(src, (side, side), interpolation=interp)  # uint8: cubic over-shoot saturates

    def get(self, emotion: str, side: int) -> tuple[np.ndarray, np.ndarray]:
        """The emoji at ``side`` x ``side``: (RGB multiplied by alpha, 255 - alpha on three channels), uint8."""
        key = (emotion, side)
        hit = self.cache.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        rgba = self._resized(emotion, side)
        alpha = cv2.extractChannel(rgba, 3)
        alpha3 = cv2.merge([alpha, alpha, alpha])
        value = (cv2.multiply(cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB), alpha3, scale=1 / 255),
                 cv2.bitwise_not(alpha3, dst=alpha3))
        self.cache.put(key, value)
        return value

    def get_yuv(self, emotion: str, side: int) -> tuple[np.ndarray, ...]:
        """The emoji at ``side`` x ``side`` (even) for 4:2:0 planes, as OpenCV's BT.601 limited-range conversion
        gives them: (Y times alpha, 255 - alpha), then at half size (U times alpha, V times alpha, 255 - alpha),
        each chroma sample the mean of its 2 x 2 pixels, so blending on the planes is blending in RGB and
        converting (up to rounding). uint8, cached with the RGB ones."""
        key = (emotion, side, "yuv")
        hit = self.cache.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        rgba = self._resized(emotion, side)
        rgb = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
        alpha = cv2.extractChannel(rgba, 3)
        a = alpha.astype(np.float32) / 255
        y = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)[:side].astype(np.float32)
        # every pixel's own chroma: the conversion of the picture with each pixel doubled both ways
        doubled = cv2.resize(rgb, (2 * side, 2 * side), interpolation=cv2.INTER_NEAREST)  # each pixel 2 x 2
        planes = cv2.cvtColor(doubled, cv2.COLOR_RGB2YUV_I420)
        uv = planes[2 * side :].reshape(2, side, side).astype(np.float32)
        half = (side // 2, side // 2)

        def u8(x: np.ndarray) -> np.ndarray:
            return np.clip(np.rint(x), 0, 255).astype(np.uint8)

        value = (u8(y * a), cv2.bitwise_not(alpha),
                 u8(cv2.resize(uv[0] * a, half, interpolation=cv2.INTER_AREA)),
                 u8(cv2.resize(uv[1] * a, half, interpolation=cv2.INTER_AREA)),
                 u8(255 - 255 * cv2.resize(a, half, interpolation=cv2.INTER_AREA)))
        self.cache.put(key, value)
        return value


def paste_emoji_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray, emotion: str,
                       box: tuple[float, float, float, float], emoji: EmojiSet, scale: float = DEFAULT_SCALE) -> None:
    """Blend the emoji for ``emotion`` over ``box`` straight onto a frame's 4:2:0 planes (in place).

    The emoji's square is moved to even coordinates and made even-sided (at most a pixel each way), so each
    chroma sample lies wholly inside or outside it; as :func:`paste_emoji`, the part outside the frame is cut.
    """
    left, top, side = emoji_box(box, scale)
    side += max(left % 2, top % 2)  # a square moved a pixel up or left reaches a pixel further to stay over the face
    left, top, side = left - left % 2, top - top % 2, side + side % 2
    where = clip_square(y.shape, left, top, side)
    if where is None:
        return
    rows, cols, er, ec = where
    yc, ya, uc, vc, ca = emoji.get_yuv(emotion, side)
    blend_premultiplied(y[rows, cols], yc[er, ec], ya[er, ec])
    half = [slice(sl.start // 2, sl.stop // 2) for sl in (rows, cols, er, ec)]  # all even: the frame's sides too
    for plane, colour in ((u, uc), (v, vc)):
        blend_premultiplied(plane[half[0], half[1]], colour[half[2], half[3]], ca[half[2], half[3]])


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
    rgb, inverse_alpha = emoji.get(emotion, side)
    blend_premultiplied(image[rows, cols], rgb[er, ec], inverse_alpha[er, ec])
