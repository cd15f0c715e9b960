"""Pieces of frames: grey thumbnails, windows, shot changes, and faces moved between a picture and its parts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import cv2
import numpy as np

from facemoji.detect.base import overlap_of_smaller
from facemoji.stream.coverage import CHANGE_LEVEL, CHANGE_MARGIN, CUT_LEVEL, CUT_SHARE, THUMB_SIDE
from facemoji.stream.yuv import YuvFrame
from facemoji.types import Face


def overlaps(box: tuple[float, ...], others: list[Face], limit: float = 0.3) -> bool:
    """Whether ``box`` overlaps any of ``others`` by more than ``limit`` of the smaller box."""
    return any(overlap_of_smaller(box, f.box) > limit for f in others)


def thumbnail(image: np.ndarray | YuvFrame) -> np.ndarray:
    """The frame's grey levels shrunk to :data:`THUMB_SIDE` pixels on the longer side (area averages), float32."""
    h, w = image.shape[:2]
    s = THUMB_SIDE / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    if isinstance(image, YuvFrame):
        return cv2.resize(image.y, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return (cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small).astype(np.float32)


def scaled(face: Face, sx: float, sy: float) -> Face:
    """``face`` found in a picture shrunk by ``sx``, ``sy``, in the full frame's pixels."""
    x1, y1, x2, y2 = face.box
    lm = None if face.landmarks is None else face.landmarks * np.array([sx, sy], np.float32)
    return replace(face, box=(x1 * sx, y1 * sy, x2 * sx, y2 * sy), landmarks=lm)


def merge(wins: list[list[Any]]) -> list[list[Any]]:
    """Windows [x0, y0, x1, y1, scale, flags...] with every overlapping pair merged into one (which may then meet
    another) where the detector's work does not grow by it (:func:`worth_merging`): the box around both, the larger
    scale, each flag true only where both were. Windows left overlapping are looked at apart; the faces they share
    are found twice and kept once (the better-scored: a face cut by one window's edge is whole in the other)."""
    wins = [list(w) for w in wins]
    while pair := next(((i, j) for i in range(len(wins)) for j in range(i + 1, len(wins))
                         if worth_merging(wins[i], wins[j])), None):
        a, b = wins[pair[0]], wins.pop(pair[1])
        wins[pair[0]] = [*around_both(a, b), *(x and y for x, y in zip(a[5:], b[5:], strict=True))]
    return wins


def around_both(a: list[Any], b: list[Any]) -> list[float]:
    """The window [x0, y0, x1, y1, scale] around windows ``a`` and ``b``, at the larger of their scales."""
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]), max(a[4], b[4])]


def cost(win: list[Any]) -> float:
    """The detector's work on a window [x0, y0, x1, y1, scale, ...]: the pixels it is shown (its time is about
    proportional to them)."""
    return (win[2] - win[0]) * (win[3] - win[1]) * win[4] * win[4]


def worth_merging(a: list[Any], b: list[Any]) -> bool:
    """Whether windows ``a`` and ``b`` overlap and one window around both, at the larger scale, shows the detector
    no more pixels than the two apart. In a crowd, a 30-pixel face beside a 90-pixel one would otherwise have the
    large face's whole neighbourhood looked at at the small face's scale (a third of a 1080p crowd's detection
    work)."""
    return meet(a, b) and cost(around_both(a, b)) <= cost(a) + cost(b)


def meet(a: list[float], b: list[float]) -> bool:
    """Whether two windows (x0, y0, x1, y1, ...) overlap."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def shifted(face: Face, dx: float, dy: float) -> Face:
    """``face`` moved by (``dx``, ``dy``) pixels."""
    x1, y1, x2, y2 = face.box
    lm = None if face.landmarks is None else face.landmarks + np.array([dx, dy], np.float32)
    return replace(face, box=(x1 + dx, y1 + dy, x2 + dx, y2 + dy), landmarks=lm)


def around(faces: list[Face], width: int, height: int, reach: float) -> tuple[int, int, int, int]:
    """The region of a ``width`` x ``height`` frame that holds, for every face, the square reaching ``reach`` times
    its box's longer side from its centre (the classifier's crop), and two pixels more."""
    x0, y0, x1, y1 = width, height, 0, 0
    for f in faces:
        bx1, by1, bx2, by2 = f.box
        r = reach * max(bx2 - bx1, by2 - by1) + 2
        cx, cy = (bx1 + bx2) / 2, (by1 + by2) / 2
        x0, y0, x1, y1 = min(x0, cx - r), min(y0, cy - r), max(x1, cx + r), max(y1, cy + r)
    return int(max(0, x0)), int(max(0, y0)), int(min(width, np.ceil(x1))), int(min(height, np.ceil(y1)))


def is_cut(thumb: np.ndarray, previous: np.ndarray | None) -> bool:
    """Whether the frame of ``thumb`` starts a new shot after the frame of ``previous`` (:func:`thumbnail`): its
    grey levels moved :data:`CUT_LEVEL` on average and :data:`CUT_SHARE` of the cells moved by more than twice
    :data:`CHANGE_LEVEL` (the nine clips' cuts moved 57-73 levels, their steadiest shots at most 12)."""
    if previous is None or previous.shape != thumb.shape:
        return False
    moved = np.abs(thumb - previous)
    return float(moved.mean()) > CUT_LEVEL and float((moved > 3 * CHANGE_LEVEL).mean()) > CUT_SHARE


def changed_regions(thumb: np.ndarray, seen: np.ndarray | None, width: int, height: int,
                    away_from: list[Any]) -> list[tuple[float, float, float, float]] | None:
    """Where the frame (its :func:`thumbnail` ``thumb``) changed since ``seen`` (the thumbnail of the picture as
    last looked at), outside the windows ``away_from``: a box (x0, y0, x1, y1, in the frame's pixels) around each
    patch of thumbnail cells whose grey level moved more than :data:`CHANGE_LEVEL`, widened by
    :data:`CHANGE_MARGIN` of the patch's size and a cell. None when there is nothing to compare with yet."""
    if seen is None or seen.shape != thumb.shape:
        return None
    th, tw = thumb.shape
    sx, sy = tw / width, th / height
    changed = (np.abs(thumb - seen) > CHANGE_LEVEL).astype(np.uint8)
    for x0, y0, x1, y1, *_ in away_from:
        changed[int(y0 * sy) : int(np.ceil(y1 * sy)), int(x0 * sx) : int(np.ceil(x1 * sx))] = 0
    if not changed.any():
        return []
    _, _, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
    out = []
    for x, y, w, h, _ in stats[1:]:
        m = 1 + CHANGE_MARGIN * max(w, h)
        out.append((max(0.0, (x - m) / sx), max(0.0, (y - m) / sy),
                    min(float(width), (x + w + m) / sx), min(float(height), (y + h + m) / sy)))
    return out
