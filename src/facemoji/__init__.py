"""facemoji: find every face, name its expression, cover it with the matching emoji.

The small API (images are RGB ``uint8`` numpy arrays of shape (H, W, 3), or paths)::

    import facemoji
    faces = facemoji.analyze("photo.jpg")        # [Face(box=(x1, y1, x2, y2), emotion='happy', ...)]
    out = facemoji.emojify("photo.jpg", faces)    # new RGB array with emoji over the faces
    out = facemoji.emojify("photo.jpg", cover="blur")  # or blur, pixelate, solid
    boxes = facemoji.face_locations(image)        # [(x1, y1, x2, y2), ...]

For many frames, build one :class:`Pipeline` and call ``pipeline.process(frame)``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facemoji.errors import FacemojiError, InputError, ModelError
from facemoji.labels import EMOTIONS
from facemoji.types import Face

if TYPE_CHECKING:
    from facemoji.pipeline import Pipeline

__version__ = "0.1.0"

ImageLike = "np.ndarray | str | Path"


@lru_cache(maxsize=4)
def _pipeline(detector: str, detect_size: int) -> Pipeline:
    from facemoji.pipeline import Pipeline

    return Pipeline(detector=detector, detect_size=detect_size)


def analyze(image: np.ndarray | str | Path, *, detector: str = "centerface", detect_size: int = 640) -> list[Face]:
    """Every face in an RGB image (or image file), with its emotion and the seven probabilities."""
    return _pipeline(detector, detect_size).analyze(image)


def face_locations(image: np.ndarray | str | Path, *, detector: str = "centerface",
                   detect_size: int = 640) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x1, y1, x2, y2)`` of every face, largest first, without classifying them."""
    from facemoji.imageio import as_rgb

    faces = _pipeline(detector, detect_size).detect(as_rgb(image))
    faces.sort(key=lambda f: -(f.width * f.height))
    return [tuple(int(round(v)) for v in f.box) for f in faces]


def emojify(image: np.ndarray | str | Path, faces: list[Face] | None = None, *, mode: str = "emoji",
            cover: str = "emoji", detector: str = "centerface", detect_size: int = 640) -> np.ndarray:
    """A new RGB image with each face covered by its emoji (``mode``: emoji, boxes or both).

    ``cover`` hides the faces another way: ``blur``, ``pixelate`` or ``solid``. ``faces`` defaults to
    ``analyze(image)``.
    """
    from facemoji.imageio import as_rgb

    pipe = _pipeline(detector, detect_size)
    img = as_rgb(image)
    if faces is None:
        faces = pipe.analyze(img)
    return pipe.render(img, faces, mode, cover)


def __getattr__(name: str):
    if name == "Pipeline":
        from facemoji.pipeline import Pipeline

        return Pipeline
    if name == "open_source":
        from facemoji.sources import open_source

        return open_source
    raise AttributeError(name)


__all__ = ["EMOTIONS", "Face", "FacemojiError", "InputError", "ModelError", "Pipeline", "analyze", "emojify",
           "face_locations", "open_source", "__version__"]
