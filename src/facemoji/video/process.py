"""The frame loop shared by videos and cameras, and the whole video-file path.

:class:`FaceFollower` runs the pipeline on a stream of frames: detection every
``detect_every`` frames, tracking in between, emotion smoothing per track.
:func:`process_video` decodes a video (one thread), follows and draws the
faces (the calling thread), and encodes the result with the input's audio
(another thread), writing to a temporary file that is renamed at the end.

:class:`Coverage` says how generously faces are covered: :data:`DEFAULT_COVERAGE`
leads the cover along each track's motion and widens it while the prediction
is unsure; :data:`STRICT_COVERAGE` (``--strict``) also detects on every frame,
adds a profile pass (OpenCV's Haar profile cascade, both ways) for turned
faces, pads every cover and keeps it on a lost face for a whole second.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facemoji.detect.base import overlap_of_smaller
from facemoji.errors import FacemojiError, InputError
from facemoji.overlay.emoji import emoji_box, paste_emoji_planes
from facemoji.pipeline import Pipeline
from facemoji.track import Tracker, cover_box
from facemoji.types import Face
from facemoji.video.yuv import YuvFrame

DETECTIONS_PER_SECOND = 10.0  # the "auto" default: detect about 10 times a second, track in between
DEFAULT_DETECT_EVERY = None  # None means auto
# expressions are read at most about this often per face (the shown one is smoothed over a third of a second)
READINGS_PER_SECOND = 5.0


def auto_detect_every(fps: float | None) -> int:
    """Frames between detections for about ``DETECTIONS_PER_SECOND`` a second: 3 at 30 fps, 2 at 15-24, 6 at 60."""
    if not fps or fps <= 0:
        return 3
    return max(1, min(6, int(fps / DETECTIONS_PER_SECOND + 0.5)))


def auto_classify_every(fps: float | None, detect_every: int) -> int:
    """Frames between expression readings: a whole number of detection intervals, at least
    ``1 / READINGS_PER_SECOND`` seconds apart where the frame rate allows (6 at 30 fps with detection every 3,
    2 at 15 fps with detection every 2, 6 at 30 fps with detection on every frame)."""
    if not fps or fps <= 0:
        return detect_every
    return detect_every * max(1, int(fps / (detect_every * READINGS_PER_SECOND)))


@dataclass(frozen=True)
class Coverage:
    """How faces are found and how generously they are covered (see :func:`facemoji.track.cover_box`).

    ``lead``: frames of motion the cover is led forward by; ``unsure``: share of the distance a face moved since
    its last detection that the cover is widened by on each side; ``adaptive``: detect on the next frame too
    (whatever ``detect_every`` says) while a track is new, was missed, was found away from where it was predicted
    (``ADAPTIVE_SURPRISE``), or moves more than ``ADAPTIVE_MOTION`` of its size between detections; ``pad``: share of the box added on every side;
    ``max_coast``: seconds a cover stays on a face the detector lost; ``detect_every``: frames between
    detections (None: the caller's choice); ``profile``: a second detection pass with the Haar profile cascade,
    every ``profile_every`` frames; ``focus``: between whole-frame scans, look for the tracked faces only in
    windows around them, each at the scale that shows its face about :data:`FOCUS_FACE_PX` pixels across, and
    wherever else the picture changed since it was last looked at (grey thumbnails compared cell by cell, see
    :meth:`FaceFollower.changed_regions`), at the whole scan's scale: no new face can appear where no pixel
    changed. The whole frame is scanned when there is no tracked face, when a tracked face was not found in its
    window (a cut, a face gone: on the next frame), when the windows would cover :data:`FOCUS_MAX_AREA` of the
    frame (a moving camera changes everything), and at least every ``full_every`` frames (by default four times
    ``detect_every``, 0.4 s at 30 fps), for faces that a window showed too small to be found.
    """

    lead: float = 1.0
    unsure: float = 0.5
    adaptive: bool = True
    pad: float = 0.0
    max_coast: float = 0.5
    detect_every: int | None = None
    profile: bool = False
    profile_every: int = 3
    focus: bool = True
    full_every: int | None = None


DEFAULT_COVERAGE = Coverage()
STRICT_COVERAGE = Coverage(lead=1.0, unsure=1.0, pad=0.08, max_coast=1.0, detect_every=1, profile=True, focus=False)
PROFILE_SIZE = 320  # longer side the frame is scaled to for the profile pass
ADAPTIVE_MOTION = 0.4  # share of its size a face may move between detections before detection runs every frame
ADAPTIVE_SURPRISE = 0.1  # a face found this far (share of its size) from its predicted box is detected again next
FOCUS_FACE_PX = 48  # in a window around a tracked face, the face is shown to the detector about this wide
FOCUS_FACE_MIN = 36  # ... or, to save the detector padding its picture, at least this wide
FOCUS_REACH = 0.5  # the window reaches this share of the face's size beyond its predicted box on every side
FOCUS_MAX_AREA = 0.35  # windows covering more of the frame than this: the whole frame is scanned instead
THUMB_SIDE = 64  # longer side of the grey thumbnails compared to tell where the picture changed
CHANGE_LEVEL = 8.0  # a thumbnail cell whose mean grey level moved more than this has changed
CHANGE_MARGIN = 0.5  # a changed patch is looked at with this share of its size (and a cell) around it


def _overlaps(box: tuple[float, ...], others: list[Face], limit: float = 0.3) -> bool:
    """Whether ``box`` overlaps any of ``others`` by more than ``limit`` of the smaller box."""
    return any(overlap_of_smaller(box, f.box) > limit for f in others)


class FaceFollower:
    """Detect (every ``detect_every`` frames), track and smooth: one call per frame, in order.

    :meth:`render` draws each face's cover over the box :func:`~facemoji.track.cover_box` gives for its track,
    per ``coverage`` (:data:`DEFAULT_COVERAGE`, or :data:`STRICT_COVERAGE`, which also sets ``detect_every``).
    """

    def __init__(self, pipeline: Pipeline, detect_every: int = 3, tracker: Tracker | None = None,
                 coverage: Coverage = DEFAULT_COVERAGE, classify_every: int | None = None) -> None:
        if detect_every < 1 or (coverage.detect_every is not None and coverage.detect_every < 1):
            raise ValueError("detect_every must be at least 1")
        if classify_every is not None and classify_every < 1:
            raise ValueError("classify_every must be at least 1")
        self.pipeline = pipeline
        # expressions are read on the caller's schedule (every ``classify_every`` frames, by default every
        # ``detect_every``) and for new faces; extra detections (strict, adaptive) only place the boxes
        self.classify_every = classify_every or detect_every
        self.detect_every = coverage.detect_every or detect_every
        self.coverage = coverage
        self.tracker = tracker or Tracker(classes=pipeline.classes, max_coast=coverage.max_coast)
        self.count = 0
        self.time = 0.0
        self.detected_at = 0.0  # time of the last frame the detector ran on
        self.full_every = max(1, coverage.full_every or 4 * self.detect_every)
        self.scanned_at = -self.full_every  # frame number of the last whole-frame scan
        self.scans = 0  # whole-frame scans so far (the rest of the detections looked only near tracked faces)
        self.region_scans = 0  # detections that also looked at parts of the frame that had changed
        self.readings = 0  # expression readings so far (every second one of mirrored faces)
        # the grey thumbnail of the picture as last looked at: whole at each whole-frame scan, cell by cell where
        # a changed part was looked at since; where the picture still matches it, no new face can be
        self._seen: np.ndarray | None = None
        self._scan_next = False
        self._focus = coverage.focus and getattr(pipeline.detector, "name", "") == "centerface"
        self.step_seconds = 1 / 30  # how long a frame shows; measured from the frames' times
        self._profile = None
        if coverage.profile:
            from facemoji.detect.haar import HaarFaces

            self._profile = HaarFaces(frontal=False, profile=True, max_side=PROFILE_SIZE, min_size=24,
                                      min_neighbors=5, scale_factor=1.2)

    def scan_side(self, width: int, height: int) -> int:
        """The longer side a whole-frame scan shows a ``width`` x ``height`` frame at: the detector's size."""
        return int(getattr(self.pipeline.detector, "size", 0) or max(width, height))

    def detect(self, image: np.ndarray | YuvFrame) -> list[Face]:
        """This frame's faces: the pipeline's detector, plus turned faces from the profile pass when it is on.

        A :class:`YuvFrame` is shrunk to the detector's size before its one conversion to RGB.
        """
        sx = sy = 1.0
        small = image
        if isinstance(image, YuvFrame):
            small, sx, sy = image.small_rgb(self.scan_side(image.width, image.height))
        faces = self.pipeline.detect(small)
        if self._profile is not None and self.count % self.coverage.profile_every == 0:
            for hit in self._profile.find(small, min_size=max(1, round(self._profile.min_size / max(sx, sy)))):
                if not _overlaps(hit.box, faces):
                    faces.append(Face(box=hit.box, score=0.5))
        return faces if sx == sy == 1.0 else [_scaled(f, sx, sy) for f in faces]

    def focus_windows(self, width: int, height: int, t: float) -> list[tuple[float, float, float, float, float]]:
        """Windows (x0, y0, x1, y1, scale) around the tracked faces' predicted boxes at ``t``, overlapping ones
        merged; the window holds the predicted box and the box last seen, and reaches :data:`FOCUS_REACH` of the
        face's size beyond them, plus half the distance the face was extrapolated; its scale shows its smallest
        face about :data:`FOCUS_FACE_PX` wide."""
        wins: list[list[float]] = []
        for tr in self.tracker.tracks:
            # the predicted box and the one last seen: a jittery detector can give the track a velocity that
            # shrinks or moves its prediction off the face, so the window keeps the face where it was in view too
            p1, q1, p2, q2 = tr.predict(t, self.coverage.max_coast)
            l1, k1, l2, k2 = tr.box
            x1, y1, x2, y2 = min(p1, l1), min(q1, k1), max(p2, l2), max(q2, k2)
            small = max(min(p2 - p1, l2 - l1), min(q2 - q1, k2 - k1), 1.0)  # the smaller face's longer side
            side = max(p2 - p1, q2 - q1, l2 - l1, k2 - k1, 1.0)
            m = FOCUS_REACH * side + 0.5 * float(np.abs(tr.velocity).max()) * max(0.0, t - tr.time)
            win = [max(0.0, x1 - m), max(0.0, y1 - m), min(float(width), x2 + m), min(float(height), y2 + m),
                   min(1.0, FOCUS_FACE_PX / small)]
            if win[2] > win[0] and win[3] > win[1]:
                wins.append(win)
        return [tuple(w) for w in _merge(wins)]  # type: ignore[misc]

    def changed_regions(self, thumb: np.ndarray, width: int, height: int,
                        away_from: list[tuple[float, ...]]) -> list[tuple[float, float, float, float]] | None:
        """Where the frame (its :func:`_thumbnail` ``thumb``) changed since it was last looked at, outside the
        windows ``away_from``: a box (x0, y0, x1, y1, in the frame's pixels) around each patch of thumbnail cells
        whose grey level moved more than :data:`CHANGE_LEVEL`, widened by :data:`CHANGE_MARGIN` of the patch's
        size and a cell. None when there is nothing to compare with yet."""
        if self._seen is None or self._seen.shape != thumb.shape:
            return None
        th, tw = thumb.shape
        sx, sy = tw / width, th / height
        changed = (np.abs(thumb - self._seen) > CHANGE_LEVEL).astype(np.uint8)
        for x0, y0, x1, y1, *_ in away_from:
            changed[int(y0 * sy) : int(np.ceil(y1 * sy)), int(x0 * sx) : int(np.ceil(x1 * sx))] = 0
        if not changed.any():
            return []
        _, _, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
        out = []
        for x, y, w, h, _ in stats[1:]:
            m = 1 + CHANGE_MARGIN * max(w, h)
            out.append((max(0.0, (x - m) / sx), max(0.0, (y - m) / sy),
                        min(float(width), (x + w + m) / sx), min(float(height), (y + h + m) / sy)))
        return out

    def detect_near(self, image: np.ndarray | YuvFrame, t: float, thumb: np.ndarray | None = None) -> list[Face] | None:
        """The tracked faces looked for only in windows around where they should be at ``t`` (see
        :meth:`focus_windows`) and, given the frame's ``thumb`` (:func:`_thumbnail`), new faces looked for
        wherever else the picture changed (:meth:`changed_regions`), at the whole-frame scan's scale. None when
        the windows would cover :data:`FOCUS_MAX_AREA` of the frame or more, where a whole-frame scan costs about
        as much, or when there is no earlier thumbnail to compare with."""
        height, width = image.shape[:2]
        wins = [[*w, True] for w in self.focus_windows(width, height, t)]  # True: a tracked face's window
        if thumb is not None:
            regions = self.changed_regions(thumb, width, height, wins)
            if regions is None:
                return None
            whole = min(1.0, self.scan_side(width, height) / max(width, height))
            wins = _merge(wins + [[*r, whole, False] for r in regions])
        if sum((w[2] - w[0]) * (w[3] - w[1]) for w in wins) >= FOCUS_MAX_AREA * width * height:
            return None
        found: list[Face] = []
        for x0, y0, x1, y1, scale, face_only in wins:
            side = max(1, round(max(x1 - x0, y1 - y0) * scale))
            # the detector pads its picture to a multiple of 32 pixels: where a face's window is shrunk (its
            # smallest face shown FOCUS_FACE_PX wide), shrink it to the multiple below if its faces stay at least
            # FOCUS_FACE_MIN pixels wide (a 100-pixel picture costs what a 128-pixel one does)
            if face_only and scale < 1 and side > 32 and side // 32 * 32 * FOCUS_FACE_PX >= FOCUS_FACE_MIN * side:
                side = side // 32 * 32
            if isinstance(image, YuvFrame):  # shrunk here, plane by plane, before the one conversion
                pic, sx, sy, ox, oy = image.small_region_rgb(x0, y0, x1, y1, side)
                side = max(pic.shape[:2])
            else:  # the detector shrinks it and gives boxes in the window's pixels
                ox, oy, sx, sy = int(x0), int(y0), 1.0, 1.0
                pic = image[oy : int(np.ceil(y1)), ox : int(np.ceil(x1))]
            if pic.size == 0:
                continue
            for f in self.pipeline.detector.detect(pic, side):
                f = _shifted(_scaled(f, sx, sy), ox, oy)
                if not _overlaps(f.box, found, 0.5):
                    found.append(f)
        if thumb is not None and self._seen is not None:
            # every window was looked at: there, this frame is the picture as last looked at (so the place a
            # tracked face has just left, inside its window then, does not count as changed afterwards)
            th, tw = thumb.shape
            for x0, y0, x1, y1, *_ in wins:
                rows = slice(int(np.ceil(y0 * th / height)), int(y1 * th / height))
                cols = slice(int(np.ceil(x0 * tw / width)), int(x1 * tw / width))
                self._seen[rows, cols] = thumb[rows, cols]
            self.region_scans += not all(w[5] for w in wins)
        return found

    def classify(self, image: np.ndarray | YuvFrame, faces: list[Face]) -> None:
        """Read the expression of ``faces`` (fills their emotion and probabilities).

        Readings alternate between the faces and their mirror images: each track's smoothing averages the two,
        which gives the one-view ``fast`` model the flip averaging the ``full`` one does in its graph. The
        validation part of the real photos, each shown for a second (five readings and the tracks' smoothing):
        82.8 % right and 8.8 % of neutral faces called angry, against 81.1 % and 10.4 % with every reading of the
        face as it is (the full model on the photos: 83.9 % and 7.2 %). Of a :class:`YuvFrame` only the region
        around the faces is converted to RGB.
        """
        mirrored = self.readings % 2 == 1
        self.readings += 1
        if not isinstance(image, YuvFrame):
            self.pipeline.classify(image, faces, mirrored)
            return
        reach = self.pipeline.classifier.crop_spec.reach
        x0, y0, x1, y1 = _around(faces, image.width, image.height, max(reach, 0.5))
        rgb, ox, oy = image.region_rgb(x0, y0, x1, y1)
        # boxes (and landmarks, for a model that aligns on the eyes) in the region's pixels; where a face's square
        # runs past the region, the region is the frame's edge
        moved = [_shifted(f, -ox, -oy) for f in faces]
        self.pipeline.classify(rgb, moved, mirrored)
        for f, m in zip(faces, moved, strict=True):
            f.emotion, f.probabilities = m.emotion, m.probabilities

    def step(self, image: np.ndarray | YuvFrame, t: float) -> list[Face]:
        """The tracked faces of ``image`` (RGB, or a :class:`YuvFrame`) seen at ``t`` seconds (ids, smoothed emotions)."""
        if self.tracker.frame_size is None:
            self.tracker.frame_size = (image.shape[1], image.shape[0])
        if self.count and t > self.time:
            self.step_seconds = min(0.5, t - self.time)
        self.time = t
        if self.count % self.detect_every == 0 or (self.coverage.adaptive and self._unsure(t)):
            faces = None
            tracked = len(self.tracker.tracks)
            thumb = _thumbnail(image) if self._focus else None
            if (self._focus and tracked and not self._scan_next
                    and self.count - self.scanned_at < self.full_every):
                faces = self.detect_near(image, t, thumb)
                # a tracked face not found near where it should be (it left, turned away, or the shot changed):
                # the whole frame is scanned at the next detection, which comes on the next frame (unsure track)
                self._scan_next = faces is not None and len(faces) < tracked
            if faces is None:
                self._scan_next = False
                faces = self.detect(image)
                self.scanned_at = self.count
                self.scans += 1
                self._seen = thumb
            self.detected_at = t
            if faces and (self.count % self.classify_every == 0 or self._new_faces(faces, t)):
                self.classify(image, faces)
            out = self.tracker.update(faces, t)
        else:
            out = self.tracker.predict(t)
        self.count += 1
        return out

    def _new_faces(self, faces: list[Face], t: float) -> bool:
        """Whether some of ``faces`` will start a track, or some track has no expression read yet."""
        if any(tr.smoother is None for tr in self.tracker.tracks):
            return True
        return len(faces) > len(self.tracker.tracks)

    def _unsure(self, t: float) -> bool:
        """Whether some track needs a detection now: new (no velocity yet), missed last time, or fast."""
        for tr in self.tracker.tracks:
            if tr.hits < 2 or tr.time < self.detected_at or tr.surprise > ADAPTIVE_SURPRISE:
                return True
            size = max(tr.box[2] - tr.box[0], tr.box[3] - tr.box[1], 1.0)
            travel = float(np.abs(tr.velocity).max()) * (t - tr.time + self.step_seconds * (self.detect_every - 1))
            if travel > ADAPTIVE_MOTION * size:
                return True
        return False

    def cover(self, faces: list[Face]) -> list[Face]:
        """The faces with their boxes widened to what should be covered (motion lead, uncertainty, padding)."""
        c = self.coverage
        out = []
        for f in faces:
            tr = self.tracker.get(f.track_id)
            velocity = tr.velocity if tr is not None and tr.hits > 1 else None
            since = self.time - tr.time if tr is not None else 0.0
            box = cover_box(f.box, velocity, since, self.step_seconds, pad=c.pad, lead=c.lead, unsure=c.unsure)
            out.append(replace(f, box=box))
        return out

    def render(self, image: np.ndarray | YuvFrame, faces: list[Face], mode: str | None = None) -> np.ndarray | YuvFrame:
        """``image`` with every face covered (or boxed, in ``boxes`` mode, where the tracked boxes are drawn).

        An RGB ``image`` is left as it is and a new array returned; a :class:`YuvFrame` is drawn on and returned,
        each cover converted to RGB and back over its own square only.
        """
        mode = mode or self.pipeline.mode
        if mode != "boxes":
            faces = self.cover(faces)
        if not isinstance(image, YuvFrame):
            return self.pipeline.render(image, faces, mode)
        if mode != "emoji":  # labels reach outside the covers: draw on the whole frame
            rgb = image.rgb()
            image.put_rgb(self.pipeline.render(rgb, faces, mode, copy=False), 0, 0)
            return image
        largest_first = sorted(faces, key=lambda f: -(f.width * f.height))  # as render() draws them
        if self.pipeline.cover == "emoji":  # blended straight onto the planes: no conversion to RGB and back
            for f in largest_first:
                paste_emoji_planes(image.y, image.u, image.v, f.emotion or "neutral", f.box, self.pipeline.emoji,
                                   self.pipeline.emoji_scale)
            return image
        for f in largest_first:  # the other covers (blur, pixelate, solid) work in RGB
            left, top, side = emoji_box(f.box, self.pipeline.emoji_scale)
            rgb, ox, oy = image.region_rgb(left - 1, top - 1, left + side + 1, top + side + 1)
            if rgb.size == 0:
                continue
            image.put_rgb(self.pipeline.render(rgb, [_shifted(f, -ox, -oy)], mode, copy=False), ox, oy)
        return image


def _thumbnail(image: np.ndarray | YuvFrame) -> np.ndarray:
    """The frame's grey levels shrunk to :data:`THUMB_SIDE` pixels on the longer side (area averages), float32."""
    h, w = image.shape[:2]
    s = THUMB_SIDE / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    if isinstance(image, YuvFrame):
        return cv2.resize(image.y, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return (cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small).astype(np.float32)


def _scaled(face: Face, sx: float, sy: float) -> Face:
    """``face`` found in a picture shrunk by ``sx``, ``sy``, in the full frame's pixels."""
    x1, y1, x2, y2 = face.box
    lm = None if face.landmarks is None else face.landmarks * np.array([sx, sy], np.float32)
    return replace(face, box=(x1 * sx, y1 * sy, x2 * sx, y2 * sy), landmarks=lm)


def _merge(wins: list[list[Any]]) -> list[list[Any]]:
    """Windows [x0, y0, x1, y1, scale, flags...] with every overlapping pair merged into one (which may then meet
    another): the box around both, the larger scale, each flag true only where both were."""
    wins = [list(w) for w in wins]
    while pair := next(((i, j) for i in range(len(wins)) for j in range(i + 1, len(wins))
                         if _meet(wins[i], wins[j])), None):
        a, b = wins[pair[0]], wins.pop(pair[1])
        wins[pair[0]] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]), max(a[4], b[4]),
                         *(x and y for x, y in zip(a[5:], b[5:], strict=True))]
    return wins


def _meet(a: list[float], b: list[float]) -> bool:
    """Whether two windows (x0, y0, x1, y1, ...) overlap."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _shifted(face: Face, dx: float, dy: float) -> Face:
    """``face`` moved by (``dx``, ``dy``) pixels."""
    x1, y1, x2, y2 = face.box
    lm = None if face.landmarks is None else face.landmarks + np.array([dx, dy], np.float32)
    return replace(face, box=(x1 + dx, y1 + dy, x2 + dx, y2 + dy), landmarks=lm)


def _around(faces: list[Face], width: int, height: int, reach: float) -> tuple[int, int, int, int]:
    """The region of a ``width`` x ``height`` frame that holds, for every face, the square reaching ``reach`` times
    its box's longer side from its centre (the classifier's crop), and two pixels more."""
    x0, y0, x1, y1 = width, height, 0, 0
    for f in faces:
        bx1, by1, bx2, by2 = f.box
        r = reach * max(bx2 - bx1, by2 - by1) + 2
        cx, cy = (bx1 + bx2) / 2, (by1 + by2) / 2
        x0, y0, x1, y1 = min(x0, cx - r), min(y0, cy - r), max(x1, cx + r), max(y1, cy + r)
    return int(max(0, x0)), int(max(0, y0)), int(min(width, np.ceil(x1))), int(min(height, np.ceil(y1)))


@dataclass
class Timeline:
    """Each track's shown emotion over time, as (emotion, start, end) segments."""

    segments: dict[int, list[list[Any]]] = field(default_factory=dict)

    def add(self, faces: list[Face], t: float, frame_duration: float) -> None:
        for f in faces:
            if f.track_id is None:
                continue
            segs = self.segments.setdefault(f.track_id, [])
            emotion = f.emotion or "unknown"
            if segs and segs[-1][0] == emotion and t - segs[-1][2] < 1.0:
                segs[-1][2] = t + frame_duration
            else:
                segs.append([emotion, t, t + frame_duration])

    def changes(self, track_id: int) -> int:
        """How many times the shown emotion of a track changed."""
        return max(0, len(self.segments.get(track_id, [])) - 1)

    def lines(self, limit: int = 20) -> list[str]:
        """``track 1: happy 0.0-3.2s, surprise 3.2-4.0s`` for the longest ``limit`` tracks, in id order."""
        def span(segs: list[list[Any]]) -> float:
            return sum(e - s for _, s, e in segs)

        ids = sorted(sorted(self.segments, key=lambda k: -span(self.segments[k]))[:limit])
        out = []
        for k in ids:
            segs = self.segments[k]
            parts = [f"{emo} {s:.1f}-{e:.1f}s" for emo, s, e in segs[:12]]
            more = f", ... ({len(segs) - 12} more)" if len(segs) > 12 else ""
            out.append(f"track {k}: " + ", ".join(parts) + more)
        if len(self.segments) > limit:
            out.append(f"... and {len(self.segments) - limit} shorter tracks")
        return out


@dataclass
class VideoReport:
    """What :func:`process_video` did."""

    input: str
    output: str | None
    frames: int
    frame_count: int | None
    fps: float | None
    size: tuple[int, int]
    seconds: float
    audio: str  # "copied", "transcoded to AAC", "none"
    timeline: Timeline
    faces_seen: int
    detect_every: int = 1

    @property
    def tracks(self) -> int:
        return len(self.timeline.segments)

    @property
    def speed(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class Interrupted(FacemojiError, KeyboardInterrupt):
    """Processing stopped part-way (Ctrl-C); nothing was written under the output name.

    Also a :class:`KeyboardInterrupt`, so code that stops on Ctrl-C still does.
    """

    def __init__(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total
        of = f" of {total} ({100 * done / total:.0f}%)" if total else ""
        super().__init__(f"interrupted after {done} frames{of}; no output written")


_END = object()


def _as_input_error(e: BaseException, src: str | Path, dst: str | Path | None, done: int) -> BaseException:
    """FFmpeg errors from the decode or encode threads, as one-line user errors."""
    import av

    if isinstance(e, av.FFmpegError):
        why = e.strerror if isinstance(getattr(e, "strerror", None), str) else str(e).splitlines()[0]
        return InputError(f"{dst or src}: processing failed after {done} frames ({why})")
    return e


def _put(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class _NoBar:
    """Stands in for a progress bar when none is shown (so tqdm is not even imported)."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        return None


def _progress_bar(show: bool, total: int | None, name: str) -> Any:
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=name, leave=False, dynamic_ncols=True, smoothing=0.1, file=None)


def process_video(src: str | Path, dst: str | Path | None, pipeline: Pipeline, *,
                  detect_every: int | None = DEFAULT_DETECT_EVERY,
                  mode: str | None = None, on_frame: Callable[[int, float, list[Face]], None] | None = None,
                  progress: bool = True, preset: str = "veryfast", crf: int | None = None, keep_audio: bool = True,
                  max_frames: int | None = None, allow_truncated: bool = False,
                  coverage: Coverage = DEFAULT_COVERAGE) -> VideoReport:
    """Emojify a video file into an H.264 MP4 at ``dst`` (or only analyze it when ``dst`` is None).

    ``detect_every`` K runs the detector on every K-th frame (None: :func:`auto_detect_every` of the frame rate).
    ``on_frame(index, time, faces)`` is called for every frame with the tracked faces.
    ``coverage`` :data:`STRICT_COVERAGE` trades speed for covering hard faces (see :class:`Coverage`).
    Raises :class:`InputError` for unusable input or output, :class:`Interrupted` on Ctrl-C;
    in both cases nothing is left under ``dst``.
    """
    from facemoji.video.io import (
        DEFAULT_CRF,
        FrameQueue,
        VideoReader,
        VideoWriter,
        check_output_path,
        is_url,
        queue_bytes,
    )

    if dst is not None:
        check_output_path(dst, (str(src),))
    # frames stay in the codec's 4:2:0 planes from the decoder to the encoder (see facemoji.video.yuv)
    reader = VideoReader(src, threads=0, with_audio=keep_audio and dst is not None, yuv=True)
    writer: VideoWriter | None = None
    stop = threading.Event()
    errors: list[BaseException] = []
    threads: list[threading.Thread] = []
    inq: queue.Queue = FrameQueue(queue_bytes(*reader.size, 1.5))  # bounded in bytes: a few frames at 4K
    outq: queue.Queue = FrameQueue(queue_bytes(*reader.size, 1.5))
    done = 0

    def halt() -> None:
        """Stop both threads and wait for them, so no one encodes or decodes while the files are closed."""
        stop.set()
        while True:  # make room, then tell the encoder to finish the frame in hand and return
            try:
                outq.get_nowait()
            except queue.Empty:
                break
        outq.put(_END)
        for th in threads:
            th.join(timeout=10)

    try:
        w, h = reader.size
        audio_mode = "none"
        if dst is not None:
            writer = VideoWriter(dst, w, h, reader.rate, time_base=reader.time_base, audio=reader.audio,
                                 preset=preset, crf=DEFAULT_CRF if crf is None else crf)
            if reader.audio is not None:
                audio_mode = "copied" if writer.audio_copy else "transcoded to AAC"
        if detect_every and coverage.detect_every is not None:  # an explicit choice wins over the preset's
            coverage = replace(coverage, detect_every=detect_every)
        every = detect_every or auto_detect_every(reader.fps)
        # on the automatic schedule, expressions are read less often than faces are detected; a chosen
        # --detect-every reads them on every detection, as before
        reads = auto_classify_every(reader.fps, every) if detect_every is None else None
        follower = FaceFollower(pipeline, every, coverage=coverage, classify_every=reads)
        timeline = Timeline()
        frame_dur = 1.0 / reader.fps if reader.fps else 1 / 30
        total = reader.frame_count if max_frames is None else min(reader.frame_count or max_frames, max_frames)

        def decode() -> None:
            try:
                for kind, item in reader.read():
                    if stop.is_set() or not _put(inq, (kind, item), stop):
                        return
            except BaseException as e:  # handed to the main thread
                errors.append(e)
            finally:
                _put(inq, _END, stop)

        def encode() -> None:
            assert writer is not None
            try:
                while True:
                    item = outq.get()
                    if item is _END:
                        return
                    kind, a, b = item
                    if kind == "video":
                        writer.write(a, b)
                    else:
                        writer.write_audio(a)
            except BaseException as e:
                errors.append(e)
                stop.set()
                # drain so the producer never blocks
                while outq.get() is not _END:
                    pass

        threads.append(threading.Thread(target=decode, name="facemoji-decode", daemon=True))
        if writer is not None:
            threads.append(threading.Thread(target=encode, name="facemoji-encode", daemon=True))
        for th in threads:
            th.start()
        start = time.perf_counter()
        faces_seen = 0
        last_time = 0.0
        with _progress_bar(progress, total, Path(str(src)).name[:30]) as bar:
            while True:
                try:
                    item = inq.get(timeout=0.2)
                except queue.Empty:
                    if errors or not threads[0].is_alive():
                        break
                    continue
                if item is _END or errors:
                    break
                kind, data = item
                if kind == "audio":
                    if writer is not None:
                        _put(outq, ("audio", data, None), stop)
                    continue
                if max_frames is not None and done >= max_frames:
                    break
                faces = follower.step(data.image, data.time)
                faces_seen += len(faces)
                timeline.add(faces, data.time, frame_dur)
                if on_frame is not None:
                    on_frame(data.index, data.time, faces)
                if writer is not None:
                    out = follower.render(data.image, faces, mode) if faces else data.image
                    if not _put(outq, ("video", out, data.pts), stop):
                        break
                done += 1
                last_time = data.time
                bar.update(1)
            stop.set()  # the decoder may be waiting to hand over more
            if writer is not None:
                outq.put(_END)
            for th in threads:
                th.join()
        if errors:
            raise _as_input_error(errors[0], src, dst, done)
        if done == 0:
            raise InputError(f"{src}: video has no frames")
        if not allow_truncated and max_frames is None and not is_url(str(src)):
            # a file that ends early: fewer frames than its header counts, or (where the count is only an
            # estimate, e.g. variable frame rate) frames that stop well before its announced duration
            expected, duration = reader.frame_count, reader.video_duration
            why = None
            if reader.frame_count_exact and expected and expected - done > 2 and done < 0.95 * expected:
                why = f"it announces {expected} frames but only {done} could be decoded"
            elif not reader.frame_count_exact and duration and last_time + 2 * frame_dur < 0.8 * duration:
                why = f"it announces {duration:.1f} s but frames stop at {last_time:.1f} s"
            if why:
                raise InputError(f"{src}: truncated or corrupt: {why} (--allow-truncated keeps them)")
        if writer is not None:
            writer.close()
        seconds = time.perf_counter() - start
        return VideoReport(str(src), str(dst) if dst is not None else None, done, reader.frame_count, reader.fps,
                           (w, h), seconds, audio_mode, timeline, faces_seen, follower.detect_every)
    except BaseException as e:
        halt()  # the normal path above has joined the threads already
        if writer is not None:
            writer.abort()
        if isinstance(e, KeyboardInterrupt):
            raise Interrupted(done, reader.frame_count) from None
        raise
    finally:
        reader.close()
