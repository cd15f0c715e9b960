"""OpenCV's Haar cascade, the original design's detector (OpenCV 4.x wheels only)."""

from __future__ import annotations

import cv2
import numpy as np

from facemoji.errors import ModelError
from facemoji.types import Face


class HaarCascade:
    name = "haar"

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", min_neighbors: int = 5,
                 threshold: float = 0.0) -> None:
        if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
            raise ModelError("the haar detector needs OpenCV 4.x (this OpenCV has no Haar cascades); use centerface")
        self._clf = cv2.CascadeClassifier(cv2.data.haarcascades + cascade)
        if self._clf.empty():
            raise ModelError(f"cannot load the Haar cascade {cascade}")
        self.min_neighbors = min_neighbors

    def detect(self, image: np.ndarray) -> list[Face]:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        gray = cv2.equalizeHist(gray)
        min_side = max(24, min(image.shape[:2]) // 20)
        rects = self._clf.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=self.min_neighbors,
                                           minSize=(min_side, min_side))
        return [Face(box=(float(x), float(y), float(x + w), float(y + h)), score=1.0) for (x, y, w, h) in rects]
