"""OpenCV's YuNet detector with a model file the user supplies (none ships with facemoji)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facemoji.errors import ModelError
from facemoji.types import Face


class YuNet:
    name = "yunet"

    def __init__(self, model_path: str, threshold: float = 0.6, size: int = 320) -> None:
        if not Path(model_path).is_file():
            raise ModelError(f"{model_path}: YuNet model file not found")
        if not hasattr(cv2, "FaceDetectorYN"):
            raise ModelError("this OpenCV has no FaceDetectorYN")
        try:
            self._det = cv2.FaceDetectorYN.create(model_path, "", (size, size), threshold, 0.3, 5000)
            # OpenCV accepts any ONNX file here and fails only on the first image: try one now
            self._det.setInputSize((32, 32))
            self._det.detect(np.zeros((32, 32, 3), np.uint8))
        except cv2.error as e:
            raise ModelError(f"{model_path}: not a YuNet model ({str(e).strip().splitlines()[-1]})") from None
        self.size = size

    def detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        self._det.setInputSize((w, h))
        _, rows = self._det.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        faces = []
        for r in [] if rows is None else rows:
            x, y, bw, bh = r[:4]
            faces.append(Face(box=(float(x), float(y), float(x + bw), float(y + bh)), score=float(r[-1]),
                              landmarks=np.asarray(r[4:14], dtype=np.float32).reshape(5, 2)))
        return faces
