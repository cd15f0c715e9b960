"""Real photographs labelled by hand (``realfaces_*.npz``): people, a split by person, crops as the runtime makes them.

The file holds grayscale crops around the largest face CenterFace found in each photo, with the detector's box
in the crop's pixels (``box``), so the runtime's own framing can be applied to them. Its ``names`` are the source
file names: LFW names end in ``_NNNN.jpg`` after the person's name; film stills start with the actor's name
followed by ``_``. Training and validation must not share a person.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VAL_SHARE = 0.2


def person_of(name: str, source: str) -> str:
    """The person a photo shows, from its file name (each stock photo counts as its own person)."""
    if source == "imfdb":
        return name.split("_")[0]
    if source == "lfw":
        return re.sub(r"_\d+\.\w+$", "", name)
    return name


def is_validation(person: str, share: float = VAL_SHARE) -> bool:
    """A fixed, seedless draw per person: the same person always falls on the same side."""
    return zlib.crc32(person.encode()) % 1000 < share * 1000


@dataclass
class RealFaces:
    x: np.ndarray  # (N, S, S) uint8 crops
    y: np.ndarray  # (N,) int64, FER2013 class order
    box: np.ndarray  # (N, 4) float32 detector box in crop pixels
    names: np.ndarray
    source: np.ndarray
    person: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask: np.ndarray) -> RealFaces:
        return RealFaces(self.x[mask], self.y[mask], self.box[mask], self.names[mask], self.source[mask],
                         self.person[mask])

    def split(self, share: float = VAL_SHARE) -> tuple[RealFaces, RealFaces]:
        """(training part, validation part), disjoint by person."""
        val = np.array([is_validation(p, share) for p in self.person], dtype=bool)
        return self.subset(~val), self.subset(val)


def load_realfaces(path: str | Path) -> RealFaces:
    from facemoji.train.data import DataError

    try:
        with np.load(path, allow_pickle=False) as d:
            x, y, box = d["x"], d["y"].astype(np.int64), d["box"].astype(np.float32)
            names, source = d["names"].astype(str), d["source"].astype(str)
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"{path}: not a real-faces .npz with x, y, box, names, source ({e})") from None
    person = np.array([person_of(n, s) for n, s in zip(names, source, strict=True)])
    return RealFaces(x, y, box, names, source, person)


def runtime_crops(faces: RealFaces, classifier, landmarks: np.ndarray | None = None) -> np.ndarray:
    """Each face cut out exactly as the runtime's classifier cuts a detected face: (N, 1, S, S) float32.

    ``landmarks`` (N, 5, 2), the detector's five points in the crops' pixels (NaN where none), let the
    classifier align the faces when its framing asks for it.
    """
    return cut_faces(faces.x, faces.box, classifier, landmarks)


def cut_faces(images: np.ndarray, boxes: np.ndarray, classifier, landmarks: np.ndarray | None = None) -> np.ndarray:
    """The face in ``boxes[i]`` (with ``landmarks[i]``) of each grayscale image (N, H, W) cut out as the runtime's
    classifier cuts a detected face: (N, 1, S, S) float32."""
    from facemoji.types import Face

    out = []
    for i, (img, b) in enumerate(zip(images, boxes, strict=True)):
        rgb = np.repeat(img[:, :, None], 3, axis=2)
        lm = None if landmarks is None else landmarks[i]
        out.append(classifier.crop_faces(rgb, [Face(box=tuple(float(v) for v in b), score=1.0, landmarks=lm)]))
    return np.concatenate(out) if out else np.zeros((0, 1, classifier.size, classifier.size), np.float32)


def validation_mask(faces: RealFaces, share: float = VAL_SHARE) -> np.ndarray:
    """Which faces fall in the validation part of :meth:`RealFaces.split` (per-face arrays are split with it)."""
    return np.array([is_validation(p, share) for p in faces.person], dtype=bool)


def load_landmarks(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CenterFace's detections of stored faces (``scripts/face_landmarks.py``): landmarks (N, 5, 2), box (N, 4),
    found (N,)."""
    with np.load(path) as d:
        return d["landmarks"], d["box"], d["found"]


def frame_crops(frames: np.ndarray, landmarks: np.ndarray, boxes: np.ndarray, found: np.ndarray,
                classifier) -> np.ndarray:
    """FER2013-style frames (N, S, S) uint8 cut as the runtime cuts a detected face: from CenterFace's box on each
    frame with its five points (:func:`load_landmarks`), in ``classifier``'s framing (aligned when it asks).
    Frames where CenterFace found nothing stay whole. Returns (N, S, S) uint8."""
    if not len(landmarks) == len(boxes) == len(found) == len(frames):
        raise ValueError(f"{len(found)} detections for {len(frames)} faces")
    out = frames.copy()
    if found.any():
        out[found] = as_uint8(cut_faces(frames[found], boxes[found], classifier, landmarks[found]))
    return out


def as_uint8(crops: np.ndarray) -> np.ndarray:
    """Grayscale crops (N, 1, S, S) float32 in 0..255 as uint8 faces (N, S, S)."""
    return np.clip(np.rint(crops[:, 0]), 0, 255).astype(np.uint8)
