"""The emotion classifier: our ONNX model, run by onnxruntime.

Everything the runtime needs to feed the model (class order, input size,
colour, face framing) comes from the model's metadata, written at export.
The framing (``facemoji.crop``: the square around the detector's box and the
optional alignment on the eyes, ``"align"``) is described in
``facemoji.classify.align``.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import cv2
import numpy as np

from facemoji.classify.align import ALIGN_MODES, CropSpec, crop_face
from facemoji.errors import ModelError
from facemoji.onnxrt import open_session
from facemoji.types import Face

# the shipped models, by name: one network, exported twice
SHIPPED_MODELS = {
    "full": "emotion.onnx",  # four views per face (flips and a zoom) averaged in the graph: photos
    "fast": "emotion_fast.onnx",  # one view, about a third of the time: video and cameras, which smooth over time
}


def default_model_path(name: str = "full") -> Path:
    """The shipped model ``name`` (see :data:`SHIPPED_MODELS`)."""
    return Path(str(importlib.resources.files("facemoji") / "models" / SHIPPED_MODELS[name]))


def model_path_of(model: str | Path | None, default: str = "full") -> Path:
    """The file for ``model``: a path, or a shipped model's name ("full", "fast"); None is ``default``."""
    if model is None:
        return default_model_path(default)
    if isinstance(model, str) and model in SHIPPED_MODELS and not Path(model).is_file():
        return default_model_path(model)
    return Path(model)


class EmotionClassifier:
    """Classify faces into the seven expressions of the model's metadata.

    ``model_path`` is an ONNX file or a shipped model's name: "full" (the default) or "fast" (see
    :data:`SHIPPED_MODELS`).
    ``align`` ("none", "roll" or "eyes") overrides the alignment the model's metadata asks for, so that any
    model can be measured with any framing; None keeps the metadata's.
    """

    def __init__(self, model_path: str | Path | None = None, threads: int = 2, align: str | None = None) -> None:
        if align is not None and align not in ALIGN_MODES:
            raise ModelError(f"unknown face alignment {align!r} (expected one of {', '.join(ALIGN_MODES)})")
        path = model_path_of(model_path or None)
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
            self.crop_spec = CropSpec.from_metadata(self.crop, align)
        except (json.JSONDecodeError, TypeError, ValueError) as e:
            raise ModelError(f"{path}: malformed facemoji metadata ({e})") from None
        self.size = int(spec["size"])
        self.gray = spec.get("color", "gray") == "gray"
        self.metadata = dict(meta)
        self.path = path
        self._input = self._session.get_inputs()[0].name

    def crop_faces(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Cut each face out as the model expects it: (N, C, S, S) float32 in 0..255."""
        src = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if self.gray else image
        s = self.size
        out = np.empty((len(faces), s, s) + (() if self.gray else (3,)), dtype=np.float32)
        for i, f in enumerate(faces):
            out[i] = crop_face(src, f.box, f.landmarks, self.crop_spec, s)
        if self.gray:
            return out[:, None]
        return out.transpose(0, 3, 1, 2)

    def predict_crops(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (N, K) for prepared crops (N, C, S, S) float32 in 0..255."""
        if len(crops) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return self._session.run(None, {self._input: np.ascontiguousarray(crops, dtype=np.float32)})[0]

    def predict(self, image: np.ndarray, faces: list[Face], mirrored: bool = False) -> np.ndarray:
        """Classify ``faces`` of an RGB image; fills each face's emotion and probabilities.

        ``mirrored`` shows the model each face mirrored left to right (the same for a model that averages the
        two views in its graph; video alternates them for the fast model, see ``FaceFollower.classify``).
        """
        crops = self.crop_faces(image, faces)
        probs = self.predict_crops(crops[..., ::-1] if mirrored else crops)
        for f, p in zip(faces, probs, strict=True):
            f.probabilities = {c: float(v) for c, v in zip(self.classes, p, strict=True)}
            f.emotion = self.classes[int(np.argmax(p))]
        return probs
