"""The emotion classifier: our ONNX model, run by onnxruntime.

Everything the runtime needs to feed the model (class order, input size,
colour, face framing) comes from the model's metadata, written at export.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import cv2
import numpy as np

from facemoji.errors import ModelError
from facemoji.onnxrt import open_session
from facemoji.types import Face


def default_model_path() -> Path:
    return Path(str(importlib.resources.files("facemoji") / "models" / "emotion.onnx"))


class EmotionClassifier:
    """Classify faces into the seven expressions of the model's metadata."""

    def __init__(self, model_path: str | Path | None = None, threads: int = 2) -> None:
        path = Path(model_path) if model_path else default_model_path()
        if not path.is_file():
            raise ModelError(f"{path}: emotion model not found")
        try:
            self._session = open_session(path, threads)
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelError(f"{path}: not a readable ONNX model ({str(e).splitlines()[0][:120]})") from None
        meta = self._session.get_modelmeta().custom_metadata_map
        if "facemoji.classes" not in meta or "facemoji.input" not in meta:
            raise ModelError(f"{path}: not a facemoji emotion model (no facemoji metadata)")
        try:
            self.classes: tuple[str, ...] = tuple(json.loads(meta["facemoji.classes"]))
            spec = json.loads(meta["facemoji.input"])
            self.crop = json.loads(meta.get("facemoji.crop", '{"scale": 1.0, "dx": 0.0, "dy": 0.0}'))
        except (json.JSONDecodeError, TypeError) as e:
            raise ModelError(f"{path}: malformed facemoji metadata ({e})") from None
        self.size = int(spec["size"])
        self.gray = spec.get("color", "gray") == "gray"
        self.metadata = dict(meta)
        self.path = path
        self._input = self._session.get_inputs()[0].name

    def crop_faces(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Cut each face out as the model expects it: (N, C, S, S) float32 in 0..255."""
        src = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if self.gray else image
        h, w = src.shape[:2]
        s = self.size
        out = np.empty((len(faces), s, s) + (() if self.gray else (3,)), dtype=np.float32)
        sc, dx, dy = float(self.crop.get("scale", 1.0)), float(self.crop.get("dx", 0.0)), float(self.crop.get("dy", 0.0))
        for i, f in enumerate(faces):
            x1, y1, x2, y2 = f.box
            bw, bh = x2 - x1, y2 - y1
            side = max(2.0, sc * max(bw, bh))
            cx = (x1 + x2) / 2 + dx * bw
            cy = (y1 + y2) / 2 + dy * bh
            ix1, iy1 = int(round(cx - side / 2)), int(round(cy - side / 2))
            iside = max(2, int(round(side)))
            ix2, iy2 = ix1 + iside, iy1 + iside
            patch = src[max(0, iy1) : min(h, iy2), max(0, ix1) : min(w, ix2)]
            if patch.size == 0:
                patch = np.zeros((1, 1) + src.shape[2:], dtype=src.dtype)
            else:
                pads = (max(0, -iy1), max(0, iy2 - h), max(0, -ix1), max(0, ix2 - w))
                if any(pads):
                    patch = cv2.copyMakeBorder(patch, *pads, cv2.BORDER_REPLICATE)
            interp = cv2.INTER_AREA if patch.shape[0] > s else cv2.INTER_LINEAR
            out[i] = cv2.resize(patch, (s, s), interpolation=interp)
        if self.gray:
            return out[:, None]
        return out.transpose(0, 3, 1, 2)

    def predict_crops(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (N, K) for prepared crops (N, C, S, S) float32 in 0..255."""
        if len(crops) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return self._session.run(None, {self._input: np.ascontiguousarray(crops, dtype=np.float32)})[0]

    def predict(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Classify ``faces`` of an RGB image; fills each face's emotion and probabilities."""
        probs = self.predict_crops(self.crop_faces(image, faces))
        for f, p in zip(faces, probs, strict=True):
            f.probabilities = {c: float(v) for c, v in zip(self.classes, p, strict=True)}
            f.emotion = self.classes[int(np.argmax(p))]
        return probs
