"""Plain data types shared by every stage."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Face:
    """One face in one image.

    ``box`` is ``(x1, y1, x2, y2)`` in pixels of the image it was found in,
    x to the right and y downwards; ``score`` the detector's confidence in
    0..1; ``landmarks`` five (x, y) points (eyes, nose, mouth corners) when
    the detector gives them. ``emotion`` and ``probabilities`` (class name ->
    probability, summing to 1) are filled in by the classifier; ``track_id``
    by the tracker on video.
    """

    box: tuple[float, float, float, float]
    score: float = 1.0
    landmarks: np.ndarray | None = field(default=None, repr=False)
    emotion: str | None = None
    probabilities: dict[str, float] | None = None
    track_id: int | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    def to_dict(self) -> dict:
        """The JSON record of a face (see ``docs/schema.json``)."""
        x1, y1, x2, y2 = (round(float(v), 1) for v in self.box)
        d: dict = {
            "box": {"x": x1, "y": y1, "width": round(x2 - x1, 1), "height": round(y2 - y1, 1)},
            "score": round(float(self.score), 4),
            "emotion": self.emotion,
            "probabilities": None
            if self.probabilities is None
            else {k: round(float(v), 4) for k, v in self.probabilities.items()},
        }
        if self.track_id is not None:
            d["track_id"] = int(self.track_id)
        return d
