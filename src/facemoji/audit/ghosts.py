"""The output's covers, found from the pixels alone, and which of them lie on no face ("ghosts").

A cover is wherever the output differs from the original: the complement of
:func:`unchanged_mask`, opened (codec noise and thin edge ringing go), closed
(holes where a blurred or pixelated cover happens to match the original are
filled), then split into connected regions of at least ``(min_face / 2)**2``
pixels. Nothing of facemoji's own is used: no box, no track, no detector.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facemoji.detect.base import overlap_of_smaller

GHOST_OVERLAP = 0.2  # a cover is on a face when they share more than this share of the smaller box


def unchanged_mask(original: np.ndarray, output: np.ndarray, tolerance: int = 24) -> np.ndarray:
    """Boolean (H, W): where ``output`` still looks like ``original`` (every channel within ``tolerance``).

    Both are blurred a little first (3x3 box), so that codec noise and ringing at edges do not count as a change.
    """
    import cv2

    a = cv2.blur(original, (3, 3))
    b = cv2.blur(output, (3, 3))
    return cv2.absdiff(a, b).max(axis=2) <= tolerance


def showing_share(unchanged: np.ndarray, box: Sequence[float]) -> float:
    """Share of ``box`` (clipped to the picture) where ``unchanged`` is True; 0 for a box wholly outside."""
    h, w = unchanged.shape[:2]
    x1, y1 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x2, y2 = min(w, int(round(box[2]))), min(h, int(round(box[3])))
    if x1 >= x2 or y1 >= y2:
        return 0.0
    return float(unchanged[y1:y2, x1:x2].mean())


def _disc(side: int) -> np.ndarray:
    import cv2

    side = max(3, side | 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))


def cover_regions(unchanged: np.ndarray, min_face: int = 24) -> list[tuple[tuple[int, int, int, int], int]]:
    """The regions where the output was changed: (box x1, y1, x2, y2, changed pixels), largest first.

    Opening with a disc of about ``min_face / 8`` removes specks and lines of codec noise; closing with one of about
    ``min_face`` joins a cover's pieces. Regions under ``(min_face / 2)**2`` pixels are dropped.
    """
    import cv2

    changed = np.logical_not(unchanged).view(np.uint8)
    if not changed.any():
        return []
    changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, _disc(min_face // 8))
    changed = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, _disc(min_face))
    n, _, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
    min_area = (min_face / 2) ** 2
    out = []
    for x, y, w, h, area in stats[1:n]:
        if area >= min_area:
            out.append(((int(x), int(y), int(x + w), int(y + h)), int(area)))
    return sorted(out, key=lambda r: -r[1])


def on_a_face(box: Sequence[float], faces: Sequence[Sequence[float]], overlap: float = GHOST_OVERLAP) -> bool:
    """True when ``box`` shares more than ``overlap`` of the smaller box with one of ``faces``."""
    return any(overlap_of_smaller(tuple(box), tuple(f)) > overlap for f in faces)
