"""The pipeline: detect -> classify -> render, over RGB uint8 numpy arrays.

Every front end (CLI, Python API, video, webcam, HTTP server) drives one of these.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from facemoji.classify import EmotionClassifier
from facemoji.detect import Detector, get_detector
from facemoji.detect.base import overlap_of_smaller
from facemoji.imageio import as_rgb
from facemoji.onnxrt import no_telemetry
from facemoji.options import FRAME_DETECT_SIZE as VIDEO_DETECT_SIZE  # noqa: F401 - re-exported
from facemoji.options import PHOTO_DETECT_SIZE, Kind, Options  # noqa: F401 - PHOTO_DETECT_SIZE re-exported
from facemoji.overlay import MODES, EmojiSet, check_cover, render
from facemoji.overlay.emoji import DEFAULT_CACHE_BYTES, DEFAULT_SCALE
from facemoji.stream.coverage import COVER_PAD, STRICT_PAD
from facemoji.stream.track import cover_box
from facemoji.types import Face

PROFILE_OVERLAP = 0.3  # a profile hit overlapping a detected face by more than this (of the smaller box) is that face


class _Loading:
    """A model being built on a thread of its own; :meth:`result` waits for it and raises what building it raised."""

    def __init__(self, build: Callable[[], Any], name: str) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(build,), name=f"facemoji-load-{name}")
        self._thread.start()

    def _run(self, build: Callable[[], Any]) -> None:
        try:
            self._value = build()
        except BaseException as e:  # handed to the thread that asks for the model
            self._error = e

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


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
    >>> Pipeline(model="fast")                 # one view per face (video, cameras): a third of the model's time

    Images are RGB ``uint8`` arrays of shape (H, W, 3) (grayscale and RGBA
    arrays are accepted and converted); paths are read with EXIF rotation.
    ``mode`` is what is drawn (``emoji``: hide the faces, ``boxes``: the
    original design's frames and labels, ``both``); ``cover`` how faces are
    hidden (``emoji``, ``blur``, ``pixelate`` or ``solid``). Memory does not
    grow with use: resized emoji are cached up to ``emoji_cache_bytes``.

    The detector and the classifier are loaded in the constructor, which raises
    :class:`~facemoji.errors.ModelError` for a missing or unreadable model. With
    ``background=True`` they load on two threads instead and the constructor
    returns once onnxruntime is imported, so the caller can read its first
    image meanwhile (``facemoji image`` does this); a model that fails to load
    then raises its error at first use (``detect``, ``analyze``, ``process``,
    the ``detector``/``classifier`` attributes) or at :meth:`wait`.

    ``share``: a pipeline whose models this one reuses instead of loading its
    own, each where both ask for the same one (detector: name, size, threshold
    and threads; classifier: model and threads), and whose emoji set it draws
    from. Pipelines that share are then used from one thread at a time (the
    server keeps one per kind of picture and strictness this way).
    """

    def __init__(
        self,
        detector: str = "centerface",
        model: str | Path | None = None,
        detect_size: int | None = None,
        threshold: float = 0.5,
        mode: str = "emoji",
        emoji_scale: float = DEFAULT_SCALE,
        threads: int = 2,
        cover: str = "emoji",
        emoji_cache_bytes: int = DEFAULT_CACHE_BYTES,
        background: bool = False,
        options: Options | None = None,
        kind: Kind = "frames",
        share: Pipeline | None = None,
    ) -> None:
        if options is None:  # the Python API's arguments; its model defaults to the classifier's (full)
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r} (choose {', '.join(MODES)})")
            check_cover(cover)
            options = Options(detector=detector, model=None if model is None else str(model),
                              detect_size=detect_size, threshold=threshold, mode=mode, cover=cover,
                              emoji_scale=emoji_scale, threads=threads)
            model_name = options.model
        else:
            model_name = options.model_for(kind)
        self.options = options
        self.kind: Kind = kind
        o = options
        make_detector = partial(get_detector, o.detector, size=o.detect_size_for(kind), threshold=o.threshold, **(
            {"threads": o.threads} if o.detector == "centerface" else {}))
        make_classifier = partial(EmotionClassifier, model_name, threads=o.threads)
        # how each model is made: ``share`` hands over the ones it made the same way instead of a second copy
        self._model_keys = {"detector": (o.detector, o.detect_size_for(kind), o.threshold, o.threads),
                            "classifier": (model_name, o.threads)}
        shared = share._model_keys if share is not None else {}
        if background:
            # onnxruntime is imported here, before the threads start: an import holds the GIL from start to
            # end, so imported first it lets both threads go straight to building their sessions, which runs
            # mostly outside the GIL, while this thread reads its image (about 45 ms sooner on 2 cores)
            no_telemetry()
            make_detector = partial(_Loading, make_detector, "detector")
            make_classifier = partial(_Loading, make_classifier, "classifier")
        self._detector: Detector | _Loading = (
            share._detector if share is not None and shared["detector"] == self._model_keys["detector"]
            else make_detector())
        self._classifier: EmotionClassifier | _Loading = (
            share._classifier if share is not None and shared["classifier"] == self._model_keys["classifier"]
            else make_classifier())
        self.emoji = share.emoji if share is not None else EmojiSet(cache_bytes=emoji_cache_bytes)
        self.mode = o.mode
        self.cover = o.cover
        self.emoji_scale = o.emoji_scale
        self.timings = Timings()
        self._profile: Any = None  # strict: the Haar profile cascades, loaded at the first analyze

    @property
    def detector(self) -> Detector:
        if isinstance(self._detector, _Loading):
            self._detector = self._detector.result()
        return self._detector

    @detector.setter
    def detector(self, value: Detector) -> None:
        self._detector = value

    @property
    def classifier(self) -> EmotionClassifier:
        if isinstance(self._classifier, _Loading):
            self._classifier = self._classifier.result()
        return self._classifier

    @classifier.setter
    def classifier(self, value: EmotionClassifier) -> None:
        self._classifier = value

    def wait(self) -> Pipeline:
        """Wait for models still loading (``background=True``); raises their error if one failed. Returns self."""
        self.detector  # noqa: B018 - the properties wait
        self.classifier  # noqa: B018
        return self

    @property
    def classes(self) -> tuple[str, ...]:
        return self.classifier.classes

    def detect(self, image: np.ndarray) -> list[Face]:
        detector = self.detector  # waits for a background load, outside the timing
        t = time.perf_counter()
        faces = detector.detect(image)
        self.timings.detect = (time.perf_counter() - t) * 1000
        return faces

    def classify(self, image: np.ndarray, faces: list[Face], mirrored: bool = False) -> np.ndarray:
        classifier = self.classifier
        t = time.perf_counter()
        probs = classifier.predict(image, faces, mirrored)
        self.timings.classify = (time.perf_counter() - t) * 1000
        return probs

    def analyze(self, image: np.ndarray | str | Path) -> list[Face]:
        """Detect and classify every face; returns the faces, largest first.

        With ``strict`` options a profile pass (:meth:`profile_faces`) adds the turned faces the detector missed.
        """
        img = as_rgb(image)
        faces = self.detect(img)
        if self.options.strict:
            faces += self.profile_faces(img, faces)
        faces.sort(key=lambda f: -(f.width * f.height))
        self.classify(img, faces)
        return faces

    def profile_faces(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """Faces turned to profile that OpenCV's Haar profile cascade finds in ``image`` (turned either way: it also
        runs on the mirror image) and that overlap none of ``faces``, each with score 0.5, as strict video's pass."""
        if self._profile is None:
            from facemoji.detect.haar import HaarFaces

            self._profile = HaarFaces(frontal=False, profile=True, max_side=self.options.detect_size_for(self.kind),
                                      min_size=24, min_neighbors=5, scale_factor=1.2)
        t = time.perf_counter()
        found: list[Face] = []
        for hit in self._profile.find(image):
            if not any(overlap_of_smaller(hit.box, f.box) > PROFILE_OVERLAP for f in [*faces, *found]):
                found.append(Face(box=hit.box, score=0.5))
        self.timings.extra["profile"] = (time.perf_counter() - t) * 1000
        return found

    def cover_faces(self, faces: list[Face], mode: str | None = None) -> list[Face]:
        """The faces as they are covered: in a mode that covers, each box padded by
        :data:`~facemoji.stream.coverage.COVER_PAD` of its size on every side (with ``strict`` options
        :data:`~facemoji.stream.coverage.STRICT_PAD`), as video covers are; in ``boxes`` mode ``faces`` themselves."""
        if (mode or self.mode) == "boxes":
            return faces
        pad = STRICT_PAD if self.options.strict else COVER_PAD
        return [replace(f, box=cover_box(f.box, None, 0.0, 0.0, pad=pad)) for f in faces]  # a still face's cover

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
        """Analyze and render in one go: returns (new image, faces); the faces keep their detected boxes, the
        covers are drawn over :meth:`cover_faces`."""
        img = as_rgb(image)
        faces = self.analyze(img)
        # a path or a converted array is ours already: draw on it instead of copying it again
        owned = img is not image and not np.shares_memory(img, image) if isinstance(image, np.ndarray) else True
        return self.render(img, self.cover_faces(faces, mode), mode, cover, copy=not owned), faces
