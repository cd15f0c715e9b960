"""OpenCV's Haar cascades (OpenCV 4.x wheels only).

:class:`HaarCascade` is the original design's detector (one frontal cascade).
:class:`HaarFaces` runs the frontal cascade and the profile cascade, the
profile one on the image and on its mirror image (the cascade only knows
faces turned one way), and merges what they find. It shares nothing with
CenterFace, which makes it a fair second opinion: ``facemoji audit`` uses it
on the original to check an emojified output, and ``--strict`` video uses its
profile pass to catch turned faces CenterFace misses.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facemoji.detect.base import overlap_of_smaller
from facemoji.errors import ModelError
from facemoji.types import Face

FRONTAL = "haarcascade_frontalface_default.xml"
PROFILE = "haarcascade_profileface.xml"


def _load(cascade: str) -> cv2.CascadeClassifier:
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise ModelError("the haar detector needs OpenCV 4.x (this OpenCV has no Haar cascades); use centerface")
    clf = cv2.CascadeClassifier(cv2.data.haarcascades + cascade)
    if clf.empty():
        raise ModelError(f"cannot load the Haar cascade {cascade}")
    return clf


class HaarCascade:
    name = "haar"

    def __init__(self, cascade: str = FRONTAL, min_neighbors: int = 5, threshold: float = 0.0) -> None:
        self._clf = _load(cascade)
        self.min_neighbors = min_neighbors

    def detect(self, image: np.ndarray) -> list[Face]:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        gray = cv2.equalizeHist(gray)
        min_side = max(24, min(image.shape[:2]) // 20)
        rects = self._clf.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=self.min_neighbors,
                                           minSize=(min_side, min_side))
        return [Face(box=(float(x), float(y), float(x + w), float(y + h)), score=1.0) for (x, y, w, h) in rects]


@dataclass
class HaarHit:
    """One face found by :class:`HaarFaces`: its box (x1, y1, x2, y2) and which cascade found it."""

    box: tuple[float, float, float, float]
    kind: str  # "frontal", "profile" (turned one way) or "profile-mirrored" (turned the other way)



class HaarFaces:
    """Frontal and profile Haar cascades (profile also on the mirrored image), merged.

    ``max_side``: images larger than this on their longer side are scaled down
    first (faces under ``min_size`` pixels at that scale are not looked for).
    ``frontal``/``profile`` switch the passes. Boxes come back in the input's
    pixels; where two passes find the same face the frontal box is kept.
    """

    name = "haar-faces"

    def __init__(self, *, frontal: bool = True, profile: bool = True, min_neighbors: int = 5,
                 scale_factor: float = 1.15, min_size: int = 24, max_side: int | None = 640) -> None:
        if not (frontal or profile):
            raise ValueError("at least one of frontal and profile is needed")
        self._frontal = _load(FRONTAL) if frontal else None
        self._profile = _load(PROFILE) if profile else None
        self.min_neighbors = min_neighbors
        self.scale_factor = scale_factor
        self.min_size = min_size
        self.max_side = max_side

    def _run(self, clf: cv2.CascadeClassifier, gray: np.ndarray, min_size: int, max_size: int) -> np.ndarray:
        rects = clf.detectMultiScale(gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                                     minSize=(min_size, min_size), maxSize=(max_size, max_size))
        return np.asarray(rects, np.float64).reshape(-1, 4)

    def find(self, image: np.ndarray, min_size: int | None = None) -> list[HaarHit]:
        """Every face in the RGB ``image``, with the cascade that found it."""
        h, w = image.shape[:2]
        scale = 1.0
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        gw = gray.shape[1]
        lo = max(20, int(round((min_size or self.min_size) * scale)))
        hi = max(lo + 1, min(gray.shape[:2]))
        found: list[tuple[np.ndarray, str]] = []
        if self._frontal is not None:
            found += [(r, "frontal") for r in self._run(self._frontal, gray, lo, hi)]
        if self._profile is not None:
            found += [(r, "profile") for r in self._run(self._profile, gray, lo, hi)]
            for x, y, rw, rh in self._run(self._profile, np.ascontiguousarray(gray[:, ::-1]), lo, hi):
                found.append((np.array([gw - x - rw, y, rw, rh]), "profile-mirrored"))
        hits: list[HaarHit] = []
        for r, kind in found:  # frontal first: it wins over a profile box of the same face
            box = (r[0] / scale, r[1] / scale, (r[0] + r[2]) / scale, (r[1] + r[3]) / scale)
            if any(overlap_of_smaller(box, k.box) > 0.6 for k in hits):
                continue
            hits.append(HaarHit(tuple(float(v) for v in box), kind))  # type: ignore[arg-type]
        return hits

    def detect(self, image: np.ndarray) -> list[Face]:
        return [Face(box=hit.box, score=1.0) for hit in self.find(image)]
