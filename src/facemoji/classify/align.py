"""Face crops for the emotion model: the square crop around the detector's box, optionally aligned on the eyes.

The framing is the model's ``facemoji.crop`` metadata, a JSON object written at export:

- ``scale``, ``dx``, ``dy``: the crop is a square of side ``scale * max(w, h)`` of the detector's box, centred on
  the box centre shifted by ``dx * w`` and ``dy * h``;
- ``align`` (optional): ``"roll"`` rotates the crop about its centre so that the eyes are level;
  ``"eyes"`` also scales it so that the distance between the eyes is ``eye_distance`` of the crop's side;
  absent (or ``"none"``), the crop is the box crop alone;
- ``eye_distance``: for ``"eyes"``, the eye distance as a share of the crop's side. FER2013's 48-pixel frames,
  which the models learn from, have a median of 0.36 (CenterFace's eyes on the PublicTest faces).

Alignment needs the detector's five landmarks (``Face.landmarks``: the eye on the image's left first, then the
other eye, as CenterFace and YuNet give them). A face without them, or whose eyes are implausible (an eye outside
the box, eyes closer than 15% of the box's larger side, eyes tilted more than 60 degrees), gets the box crop.
With ``"eyes"``, the side is kept within 2/3 and 3/2 of the box crop's side, so a face turned to one side
(whose eyes look close together) is not blown up.

An aligned crop is one ``cv2.warpAffine`` with the border replicated, as the box crop replicates the border
where the square leaves the picture. When the crop shrinks the face, the region it covers is first shrunk with
pixel averaging (as ``cv2.resize`` with ``INTER_AREA`` does for the box crop), so both framings blur alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

ALIGN_MODES = ("none", "roll", "eyes")
DEFAULT_EYE_DISTANCE = 0.36  # FER2013 PublicTest: median eye distance / 48-pixel frame side (CenterFace's eyes)
MIN_EYE_SHARE = 0.15  # eye distance under this share of the box's larger side: landmarks not trusted
MAX_ROLL_DEGREES = 60.0
SIDE_RANGE = (2 / 3, 3 / 2)  # "eyes": the crop side stays within these multiples of the box crop's side


@dataclass(frozen=True)
class CropSpec:
    """The framing of a face crop (see the module docstring)."""

    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0
    align: str = "none"
    eye_distance: float = DEFAULT_EYE_DISTANCE

    @classmethod
    def from_metadata(cls, crop: dict, align: str | None = None) -> CropSpec:
        """The spec of a ``facemoji.crop`` object; ``align`` (if given) overrides its ``align`` key."""
        if not isinstance(crop, dict):
            raise ValueError(f"crop metadata must be a JSON object, got {type(crop).__name__}")
        mode = align if align is not None else crop.get("align", "none")
        mode = "none" if mode is None else str(mode)
        if mode not in ALIGN_MODES:
            raise ValueError(f"unknown face alignment {mode!r} (expected one of {', '.join(ALIGN_MODES)})")
        eye = float(crop.get("eye_distance", DEFAULT_EYE_DISTANCE))
        if not 0.05 <= eye <= 0.95:
            raise ValueError(f"eye_distance must be a share of the crop side between 0.05 and 0.95, got {eye}")
        scale = float(crop.get("scale", 1.0))
        if not scale > 0:
            raise ValueError(f"crop scale must be positive, got {scale}")
        return cls(scale, float(crop.get("dx", 0.0)), float(crop.get("dy", 0.0)), mode, eye)

    @property
    def reach(self) -> float:
        """How far from the box centre a crop can read, in multiples of the box's longer side."""
        half = self.scale / 2
        if self.align != "none":
            half *= math.sqrt(2) * (SIDE_RANGE[1] if self.align == "eyes" else 1.0)
        return half + abs(self.dx) + abs(self.dy)


def box_crop(src: np.ndarray, box: tuple[float, float, float, float], spec: CropSpec, size: int) -> np.ndarray:
    """The square crop around the box, resized to ``size`` x ``size`` (same dtype and channels as ``src``)."""
    h, w = src.shape[:2]
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    side = max(2.0, spec.scale * max(bw, bh))
    cx = (x1 + x2) / 2 + spec.dx * bw
    cy = (y1 + y2) / 2 + spec.dy * bh
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
    interp = cv2.INTER_AREA if patch.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


def eye_pair(box: tuple[float, float, float, float], landmarks: np.ndarray | None) -> np.ndarray | None:
    """The two eyes ((left, right) in the image, (2, 2) float64) when they can be trusted for alignment, else None."""
    if landmarks is None:
        return None
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (5, 2) or not np.isfinite(lm[:2]).all():
        return None
    eyes = lm[:2][np.argsort(lm[:2, 0], kind="stable")]
    x1, y1, x2, y2 = box
    if not ((eyes[:, 0] >= x1) & (eyes[:, 0] <= x2) & (eyes[:, 1] >= y1) & (eyes[:, 1] <= y2)).all():
        return None
    ex, ey = eyes[1] - eyes[0]
    if math.hypot(ex, ey) < MIN_EYE_SHARE * max(x2 - x1, y2 - y1):
        return None
    if abs(math.degrees(math.atan2(ey, ex))) > MAX_ROLL_DEGREES:
        return None
    return eyes


def align_transform(box: tuple[float, float, float, float], eyes: np.ndarray, spec: CropSpec,
                    size: int) -> np.ndarray:
    """The 2x3 matrix taking image points (x, y) to points of the aligned ``size`` x ``size`` crop.

    Points are continuous coordinates (a pixel's centre at +0.5), as boxes and landmarks are.
    """
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    side = max(2.0, spec.scale * max(bw, bh))
    centre = np.array([(x1 + x2) / 2 + spec.dx * bw, (y1 + y2) / 2 + spec.dy * bh])
    ex, ey = eyes[1] - eyes[0]
    dist = math.hypot(ex, ey)
    if spec.align == "eyes":
        side = float(np.clip(dist / spec.eye_distance, SIDE_RANGE[0] * side, SIDE_RANGE[1] * side))
    cos, sin = ex / dist, ey / dist
    rot = (size / side) * np.array([[cos, sin], [-sin, cos]])
    return np.hstack([rot, (size / 2 - rot @ centre)[:, None]])


def aligned_crop(src: np.ndarray, box: tuple[float, float, float, float], eyes: np.ndarray, spec: CropSpec,
                 size: int) -> np.ndarray:
    """The crop of ``box_crop`` rotated so the eyes are level (and, for ``"eyes"``, scaled on the eye distance)."""
    h, w = src.shape[:2]
    m = align_transform(box, eyes, spec, size)
    k = math.hypot(m[0, 0], m[0, 1])  # output pixels per image pixel
    inv = cv2.invertAffineTransform(m)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inv.T
    margin = 2 + 1 / k
    x0, y0 = (max(0, int(math.floor(v - margin))) for v in corners.min(0))
    xe, ye = min(w, int(math.ceil(corners[:, 0].max() + margin))), min(h, int(math.ceil(corners[:, 1].max() + margin)))
    if xe <= x0 or ye <= y0:  # the crop lies wholly outside the picture
        return box_crop(src, box, spec, size)
    patch = src[y0:ye, x0:xe]
    fx = fy = 1.0
    if k < 1:
        ph, pw = patch.shape[:2]
        nw, nh = max(1, round(pw * k)), max(1, round(ph * k))
        patch = cv2.resize(patch, (nw, nh), interpolation=cv2.INTER_AREA)
        fx, fy = nw / pw, nh / ph
    # patch point p' = (image point - (x0, y0)) * (fx, fy); then from continuous coordinates to pixel indices
    a = m[:, :2] / np.array([fx, fy])
    b = m[:, :2] @ np.array([x0, y0], np.float64) + m[:, 2]
    b = b + a @ np.array([0.5, 0.5]) - 0.5
    return cv2.warpAffine(patch, np.hstack([a, b[:, None]]), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def crop_face(src: np.ndarray, box: tuple[float, float, float, float], landmarks: np.ndarray | None,
              spec: CropSpec, size: int) -> np.ndarray:
    """One face as the model expects it: aligned when the spec asks and the landmarks allow, else the box crop."""
    if spec.align != "none":
        eyes = eye_pair(box, landmarks)
        if eyes is not None:
            return aligned_crop(src, box, eyes, spec, size)
    return box_crop(src, box, spec, size)
