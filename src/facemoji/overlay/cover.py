"""Ways to hide a face: its emoji, a heavy blur, coarse pixels, or a solid disc.

Every style covers the same disc as the emoji (centred on the face box, its
diameter the box diagonal times the emoji scale), so the boxes, tracking and
padding that decide where emoji go decide where the other covers go too.
Each works on the face's region only, so its cost and memory follow the
face's size, not the picture's.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from facemoji.overlay.cache import ByteLRU
from facemoji.overlay.emoji import DEFAULT_SCALE, EmojiSet, blend, clip_square, emoji_box, paste_emoji

COVERS = ("emoji", "blur", "pixelate", "solid")

# blur: the region is shrunk so the disc is this many pixels across, smoothed and enlarged again
# (a Gaussian of about a tenth of the disc, at a cost that does not grow with the face)
BLUR_CELLS = 12
# pixelate: blocks across the disc (about 7 across the face itself)
PIXEL_BLOCKS = 10
SOLID_COLOUR = (24, 24, 24)
# discs of the sizes in use, so a face that holds its size does not draw its disc again on every frame
_DISCS = ByteLRU(8 << 20)


def check_cover(cover: str) -> str:
    """``cover`` if it is one of :data:`COVERS`, else a ValueError that lists them."""
    if cover not in COVERS:
        raise ValueError(f"unknown cover {cover!r} (choose {', '.join(COVERS)})")
    return cover


def disc(side: int) -> np.ndarray:
    """An anti-aliased filled disc in a ``side`` square: uint8 alpha 0..255, the same on three channels (read-only)."""
    mask = _DISCS.get(side)
    if mask is not None:
        return mask  # type: ignore[return-value]
    shift = 4  # sub-pixel centre and radius, so even and odd sides are both centred
    mask = np.zeros((side, side, 3), np.uint8)
    c = round((side - 1) / 2 * (1 << shift))
    cv2.circle(mask, (c, c), round(side / 2 * (1 << shift)), (255, 255, 255), -1, cv2.LINE_AA, shift)
    mask.flags.writeable = False
    _DISCS.put(side, mask)
    return mask


def _blurred(patch: np.ndarray, side: int) -> np.ndarray:
    h, w = patch.shape[:2]
    f = BLUR_CELLS / side
    small = cv2.resize(patch, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.2, borderType=cv2.BORDER_REPLICATE)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _pixelated(patch: np.ndarray, side: int, left: int, top: int, x0: int, y0: int) -> np.ndarray:
    """Blocks of ``side / PIXEL_BLOCKS`` on a grid anchored at the disc's corner (so they do not crawl at a border)."""
    h, w = patch.shape[:2]
    block = max(2, math.ceil(side / PIXEL_BLOCKS))
    # grid lines at left + k * block: pad the patch out to whole blocks, average, and cut back
    ox, oy = (x0 - left) % block, (y0 - top) % block
    nx, ny = math.ceil((ox + w) / block), math.ceil((oy + h) / block)
    padded = cv2.copyMakeBorder(patch, oy, ny * block - oy - h, ox, nx * block - ox - w, cv2.BORDER_REPLICATE)
    small = cv2.resize(padded, (nx, ny), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (nx * block, ny * block), interpolation=cv2.INTER_NEAREST)
    return big[oy : oy + h, ox : ox + w]


def cover_face(image: np.ndarray, box: tuple[float, float, float, float], cover: str = "emoji", *,
               emotion: str | None = None, emoji: EmojiSet | None = None, scale: float = DEFAULT_SCALE) -> None:
    """Hide the face in ``box`` of ``image`` (RGB uint8, in place) with ``cover``; cut at the image border."""
    if cover == "emoji":
        paste_emoji(image, emotion or "neutral", box, emoji if emoji is not None else EmojiSet(), scale)
        return
    check_cover(cover)
    left, top, side = emoji_box(box, scale)
    where = clip_square(image.shape, left, top, side)
    if where is None:
        return
    rows, cols, er, ec = where
    roi = image[rows, cols]
    alpha = disc(side)[er, ec]
    if cover == "blur":
        colour = _blurred(roi, side)
    elif cover == "pixelate":
        colour = _pixelated(roi, side, left, top, cols.start, rows.start)
    else:
        colour = np.empty_like(roi)
        colour[...] = SOLID_COLOUR
    blend(roi, colour, alpha)
