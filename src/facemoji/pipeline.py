"""The pipeline: detect -> classify -> render, over RGB uint8 numpy arrays.

Every front end (CLI, Python API, video, webcam, HTTP server) drives one of these.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facemoji.classify import EmotionClassifier
from facemoji.detect import get_detector
from facemoji.imageio import as_rgb
from facemoji.overlay import MODES, EmojiSet, check_cover, render
from facemoji.overlay.emoji import DEFAULT_CACHE_BYTES, DEFAULT_SCALE
from facemoji.types import Face

PHOTO_DETECT_SIZE = 640  # still photos: finer detection, speed matters less
VIDEO_DETECT_SIZE = 320  # frames: 320 px on the longer side keeps ~60 frames/s on 2 cores


@dataclass
class Timings:
    """Milliseconds spent in each stage of the last call."""

    detect: float = 0.0
    classify: float = 0.0
    overlay: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """Find faces, name their expression, and draw emoji over them.

    >>> pipe = Pipeline()                      # CenterFace + the shipped model
    >>> out, faces = pipe.process(rgb_frame)   # out: new RGB image; faces: list[Face]
    >>> Pipeline(cover="blur")                 # hide faces by blurring them instead

    Images are RGB ``uint8`` arrays of shape (H, W, 3) (grayscale and RGBA
    arrays are accepted and converted); paths are read with EXIF rotation.
    ``mode`` is what is drawn (``emoji``: hide the faces, ``boxes``: the
    original design's frames and labels, ``both``); ``cover`` how faces are
    hidden (``emoji``, ``blur``, ``pixelate`` or ``solid``). Memory does not
    grow with use: resized emoji are cached up to ``emoji_cache_bytes``.
    """

    def __init__(
        self,
        detector: str = "centerface",
        model: str | Path | None = None,
        detect_size: int = VIDEO_DETECT_SIZE,
        threshold: float = 0.5,
        mode: str = "emoji",
        emoji_scale: float = DEFAULT_SCALE,
        threads: int = 2,
        cover: str = "emoji",
        emoji_cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (choose {', '.join(MODES)})")
        check_cover(cover)
        self.detector = get_detector(detector, size=detect_size, threshold=threshold, **(
            {"threads": threads} if detector == "centerface" else {}))
        self.classifier = EmotionClassifier(model, threads=threads)
        self.emoji = EmojiSet(cache_bytes=emoji_cache_bytes)
        self.mode = mode
        self.cover = cover
        self.emoji_scale = emoji_scale
        self.timings = Timings()

    @property
    def classes(self) -> tuple[str, ...]:
        return self.classifier.classes

    def detect(self, image: np.ndarray) -> list[Face]:
        t = time.perf_counter()
        faces = self.detector.detect(image)
        self.timings.detect = (time.perf_counter() - t) * 1000
        return faces

    def classify(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        t = time.perf_counter()
        probs = self.classifier.predict(image, faces)
        self.timings.classify = (time.perf_counter() - t) * 1000
        return probs

    def analyze(self, image: np.ndarray | str | Path) -> list[Face]:
        """Detect and classify every face; returns the faces, largest first."""
        img = as_rgb(image)
        faces = self.detect(img)
        faces.sort(key=lambda f: -(f.width * f.height))
        self.classify(img, faces)
        return faces

    def render(self, image: np.ndarray, faces: list[Face], mode: str | None = None, cover: str | None = None,
               copy: bool = True) -> np.ndarray:
        """``image`` with ``faces`` drawn (a new array; with ``copy=False`` an RGB uint8 ``image`` is drawn on)."""
        t = time.perf_counter()
        out = render(as_rgb(image), faces, mode or self.mode, self.emoji, self.emoji_scale, copy=copy,
                     cover=cover or self.cover)
        self.timings.overlay = (time.perf_counter() - t) * 1000
        return out

    def process(self, image: np.ndarray | str | Path, mode: str | None = None,
                cover: str | None = None) -> tuple[np.ndarray, list[Face]]:
        """Analyze and render in one go: returns (new image, faces)."""
        img = as_rgb(image)
        faces = self.analyze(img)
        # a path or a converted array is ours already: draw on it instead of copying it again
        owned = img is not image and not np.shares_memory(img, image) if isinstance(image, np.ndarray) else True
        return self.render(img, faces, mode, cover, copy=not owned), faces
