"""The detector interface and shared helpers."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from facemoji.types import Face


@runtime_checkable
class Detector(Protocol):
    """Anything with ``detect(image_rgb) -> list[Face]`` is a detector."""

    name: str

    def detect(self, image: np.ndarray) -> list[Face]: ...


@runtime_checkable
class ScalableDetector(Protocol):
    """A detector the frame loop can point at parts of a frame: ``detect(picture, side, threshold)`` shows the
    picture to the network ``side`` pixels on its longer side and keeps faces scoring above ``threshold`` (None:
    its own). The frame loop looks only near tracked faces and where the picture changed, each at its own scale,
    and keeps tracks going with weaker detections, with detectors that have this; others see whole frames."""

    name: str
    size: int
    threshold: float

    def detect(self, image: np.ndarray, size: int | None = None, threshold: float | None = None) -> list[Face]: ...


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; returns kept indices, best first."""
    if len(boxes) == 0:
        return []
    x1, y1, x2, y2 = boxes.T
    areas = np.maximum(0, x2 - x1) * np.maximum(0, y2 - y1)
    order = np.argsort(-scores)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ix1 = np.maximum(x1[i], x1[rest])
        iy1 = np.maximum(y1[i], y1[rest])
        ix2 = np.minimum(x2[i], x2[rest])
        iy2 = np.minimum(y2[i], y2[rest])
        inter = np.maximum(0, ix2 - ix1) * np.maximum(0, iy2 - iy1)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return keep


def overlap_of_smaller(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection of boxes ``a`` and ``b`` (x1, y1, x2, y2) over the smaller one's area: 1 when one lies inside the
    other. Unlike IoU it says that a small box of one detector is the same face as a larger box of another."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(small, 1e-9)
