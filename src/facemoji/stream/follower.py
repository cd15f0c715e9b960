"""Following the faces of a stream of frames: :class:`FaceFollower` detects, tracks, reads and places covers.

One call of :meth:`FaceFollower.step` per frame, in order. It decides where to look (the whole frame, at the scale
:func:`~facemoji.stream.coverage.scan_side` gives for the frame's size; or windows around the tracked faces and
wherever the picture changed), notices shot changes, feeds the :class:`~facemoji.stream.track.Tracker`, and reads
expressions on its own schedule. :meth:`FaceFollower.shown` keeps the faces whose tracks are confirmed: the frame
loop (:mod:`facemoji.stream.loop`) draws those, one frame late, so that a face confirmed on the next frame is
covered on its first one too.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from facemoji.detect.base import ScalableDetector, overlap_of_smaller
from facemoji.pipeline import Pipeline
from facemoji.stream.coverage import (
    ADAPTIVE_MOTION,
    ADAPTIVE_SURPRISE,
    BACKFILL_PAD,
    BACKFILL_SECONDS,
    CHEAP_SCAN_SIDE,
    DEFAULT_COVERAGE,
    FOCUS_FACE_MIN,
    FOCUS_FACE_PX,
    FOCUS_MAX_AREA,
    FOCUS_REACH,
    KEEP_SCORE,
    PROFILE_SIZE,
    TURNED_FACE_PX,
    WHOLE_GAP,
    Coverage,
    scan_side,
)
from facemoji.stream.draw import draw
from facemoji.stream.regions import around, changed_regions, is_cut, merge, overlaps, scaled, shifted, thumbnail
from facemoji.stream.track import Tracker, cover_box
from facemoji.stream.yuv import YuvFrame
from facemoji.types import Face


class FaceFollower:
    """Detect (every ``detect_every`` frames), track and smooth: one call per frame, in order.

    :meth:`render` draws each face's cover over the box :func:`~facemoji.stream.track.cover_box` gives for its track,
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
        self.tracker = tracker or Tracker(classes=pipeline.classes, max_coast=coverage.max_coast,
                                          confirm_hits=coverage.confirm_hits, confirm_score=coverage.confirm_score)
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
        self._scalable = isinstance(pipeline.detector, ScalableDetector)
        self._focus = coverage.focus and self._scalable
        self._last_thumb: np.ndarray | None = None  # the previous frame's thumbnail, to notice shot changes
        self.cuts = 0  # shot changes noticed
        self.step_seconds = 1 / 30  # how long a frame shows; measured from the frames' times
        self._profile = None
        self._turned = None  # the profile cascade, looking for a lost face where its track should be
        if coverage.profile or coverage.profile_lost:
            from facemoji.detect.haar import HaarFaces

            self._turned = HaarFaces(frontal=False, profile=True, max_side=None, min_size=TURNED_FACE_PX // 2,
                                     min_neighbors=4, scale_factor=1.15)
        if coverage.profile:
            self._profile = HaarFaces(frontal=False, profile=True, max_side=PROFILE_SIZE, min_size=24,
                                      min_neighbors=5, scale_factor=1.2)

    def scan_side(self, width: int, height: int) -> int:
        """The longer side a whole-frame scan shows a ``width`` x ``height`` frame at: the chosen detection size,
        else one that follows the frame's size (:func:`~facemoji.stream.coverage.scan_side`)."""
        if not self._scalable:
            return int(getattr(self.pipeline.detector, "size", 0) or max(width, height))
        return scan_side(width, height, self.pipeline.options.detect_size)

    def _find(self, picture: np.ndarray, side: int) -> list[Face]:
        """Faces of ``picture`` shown to the detector ``side`` pixels wide; with a scalable detector, down to
        :data:`KEEP_SCORE` (weaker ones only keep confirmed tracks going)."""
        det = self.pipeline.detector
        if self._scalable:
            return det.detect(picture, side, min(KEEP_SCORE, det.threshold))  # type: ignore[call-arg]
        return det.detect(picture)

    def detect(self, image: np.ndarray | YuvFrame) -> list[Face]:
        """This frame's faces, the whole frame at :meth:`scan_side`, plus turned faces from the profile pass when it
        is on. A :class:`YuvFrame` is shrunk to the scan's size before its one conversion to RGB.
        """
        sx = sy = 1.0
        small = image
        side = self.scan_side(image.shape[1], image.shape[0])
        if isinstance(image, YuvFrame):
            small, sx, sy = image.small_rgb(side)
        faces = self._find(small, side)
        if self._profile is not None and self.count % self.coverage.profile_every == 0:
            for hit in self._profile.find(small, min_size=max(1, round(self._profile.min_size / max(sx, sy)))):
                if not overlaps(hit.box, faces):
                    faces.append(Face(box=hit.box, score=0.5))
        return faces if sx == sy == 1.0 else [scaled(f, sx, sy) for f in faces]

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
        return [tuple(w) for w in merge(wins)]  # type: ignore[misc]

    def detect_near(self, image: np.ndarray | YuvFrame, t: float, thumb: np.ndarray | None = None) -> list[Face] | None:
        """The tracked faces looked for only in windows around where they should be at ``t`` (see
        :meth:`focus_windows`) and, given the frame's ``thumb`` (:func:`~facemoji.stream.regions.thumbnail`), new faces looked for
        wherever else the picture changed (:func:`~facemoji.stream.regions.changed_regions`), at the whole-frame scan's scale. None when
        the windows would cover :data:`FOCUS_MAX_AREA` of the frame or more, where a whole-frame scan costs about
        as much, or when there is no earlier thumbnail to compare with."""
        height, width = image.shape[:2]
        wins = [[*w, True] for w in self.focus_windows(width, height, t)]  # True: a tracked face's window
        if thumb is not None:
            regions = changed_regions(thumb, self._seen, width, height, wins)
            if regions is None:
                return None
            whole = min(1.0, self.scan_side(width, height) / max(width, height))
            wins = merge(wins + [[*r, whole, False] for r in regions])
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
            found += [shifted(scaled(f, sx, sy), ox, oy) for f in self._find(pic, side)]
        kept: list[Face] = []
        for f in sorted(found, key=lambda f: -f.score):  # a face cut by one window's edge, whole in another
            if not overlaps(f.box, kept, 0.5):
                kept.append(f)
        found = kept
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
        x0, y0, x1, y1 = around(faces, image.width, image.height, max(reach, 0.5))
        rgb, ox, oy = image.region_rgb(x0, y0, x1, y1)
        # boxes (and landmarks, for a model that aligns on the eyes) in the region's pixels; where a face's square
        # runs past the region, the region is the frame's edge
        moved = [shifted(f, -ox, -oy) for f in faces]
        self.pipeline.classify(rgb, moved, mirrored)
        for f, m in zip(faces, moved, strict=True):
            f.emotion, f.probabilities = m.emotion, m.probabilities

    def step(self, image: np.ndarray | YuvFrame, t: float) -> list[Face]:
        """The tracked faces of ``image`` (RGB, or a :class:`YuvFrame`) seen at ``t`` seconds (ids, smoothed
        emotions), confirmed or not (:meth:`shown` keeps the ones to draw)."""
        if self.tracker.frame_size is None:
            self.tracker.frame_size = (image.shape[1], image.shape[0])
        if self.count and t > self.time:
            self.step_seconds = min(0.5, t - self.time)
        self.time = t
        thumb = thumbnail(image)
        cut = is_cut(thumb, self._last_thumb)
        self._last_thumb = thumb
        self.cuts += cut
        if cut or self.count % self.detect_every == 0 or (self.coverage.adaptive and self._unsure(t)):
            out = self._detect_step(image, t, thumb, cut)
        else:
            out = self.tracker.predict(t)
        self.count += 1
        return out

    def _detect_step(self, image: np.ndarray | YuvFrame, t: float, thumb: np.ndarray, cut: bool) -> list[Face]:
        """A frame the detector looks at: near the tracked faces and where the picture changed, or the whole frame
        (no tracked face, a tracked face missed last time, a shot change, or its turn); then the tracker."""
        faces = None
        since = self.count - self.scanned_at
        if self._focus and self.tracker.tracks and not cut and not self._scan_next and since < self.full_every:
            # on the regular schedule, also where the picture changed; extra detections only place tracked faces
            regular = self.count % self.detect_every == 0
            faces = self.detect_near(image, t, thumb if regular else None)
            if (faces is None and since < WHOLE_GAP * self.detect_every
                    and self.scan_side(image.shape[1], image.shape[0]) > CHEAP_SCAN_SIDE):
                # everything moves (a crowd, a pan) in a large frame: whole scans, which cost more than a cheap
                # one there, come no closer than WHOLE_GAP detections apart
                faces = self.detect_near(image, t, None)
        whole = faces is None
        if whole:
            faces = self.detect(image)
            self.scanned_at = self.count
            self.scans += 1
            self._seen = thumb
        self.detected_at = t
        if self._turned is not None:
            faces += self._turned_faces(image, faces, t)
        if faces and (self.count % self.classify_every == 0 or self._new_faces(faces, t)):
            self.classify(image, faces)
        # a whole-frame look that does not find a track again ends it; weak detections only keep tracks going
        out = self.tracker.update(faces, t, whole=whole, cut=cut, new_score=self.pipeline.detector.threshold
                                  if self._scalable else 0.0)
        self._scan_next = not whole and self._missed_many(t, image.shape[1], image.shape[0])
        return out

    def _turned_faces(self, image: np.ndarray | YuvFrame, faces: list[Face], t: float) -> list[Face]:
        """For each confirmed track no detection found, the profile cascade (both ways) in the window where it
        should be, the face shown about :data:`TURNED_FACE_PX` wide: a face that turned away from the detector is
        still a face to cover. Returns the turned faces found (in the frame's pixels, score 0.5)."""
        assert self._turned is not None
        height, width = image.shape[:2]
        found: list[Face] = []
        for tr in self.tracker.tracks:
            box = tuple(tr.predict(t, self.coverage.max_coast))
            if not tr.confirmed or overlaps(box, faces, 0.2):
                continue
            side = max(box[2] - box[0], box[3] - box[1], 1.0)
            m = FOCUS_REACH * side
            x0, y0 = max(0.0, box[0] - m), max(0.0, box[1] - m)
            x1, y1 = min(float(width), box[2] + m), min(float(height), box[3] + m)
            target = max(32, round(max(x1 - x0, y1 - y0) * TURNED_FACE_PX / side))
            if isinstance(image, YuvFrame):
                pic, sx, sy, ox, oy = image.small_region_rgb(x0, y0, x1, y1, target)
            else:
                ox, oy = int(x0), int(y0)
                pic = image[oy : int(np.ceil(y1)), ox : int(np.ceil(x1))]
                sx = sy = 1.0
            if pic.size == 0:
                continue
            for hit in self._turned.find(pic):
                f = shifted(scaled(Face(box=hit.box, score=0.5), sx, sy), ox, oy)
                if overlap_of_smaller(f.box, box) > 0.3:
                    found.append(f)
                    break
        return found

    def _missed_many(self, t: float, width: int, height: int) -> bool:
        """Whether, after a look near the tracked faces, the whole frame should be scanned on the next detection
        (which comes on the next frame: a missed track is unsure): a confirmed face was not found near where it
        should be (it left, turned away, or the picture changed) and a whole scan is cheap (small frames), or
        half the confirmed faces were missed (a change the shot detector did not catch). Elsewhere a missed face
        is looked for in its window again, and the regular whole scans end it if it is gone."""
        confirmed = [tr for tr in self.tracker.tracks if tr.confirmed]
        missed = sum(tr.time < t for tr in confirmed)
        cheap = self.scan_side(width, height) <= CHEAP_SCAN_SIDE
        return missed > 0 and (cheap or 2 * missed >= len(confirmed))

    def shown(self, faces: list[Face], t: float | None = None) -> list[Face]:
        """The ones of ``faces`` (from :meth:`step` for the frame at ``t``, this one or a few before) to draw:
        confirmed tracks; and, for a frame still in hand (``t`` given), the confirmed faces first seen just after
        it (:data:`BACKFILL_SECONDS`): a face coming into view (at the border, out of motion blur) was there a
        frame before it was found. Their box is the first one seen, taken back along the track's motion and
        widened by :data:`BACKFILL_PAD` of its size."""
        out = [f for f in faces if self.tracker.confirmed(f.track_id)]
        if t is None:
            return out
        have = {f.track_id for f in faces}
        for tr in self.tracker.tracks:
            dt = tr.first_time - t
            if not tr.confirmed or tr.id in have or tr.first_box is None or not 0 < dt <= BACKFILL_SECONDS:
                continue
            box = tr.first_box - (tr.velocity * dt if tr.hits > 1 else 0.0)
            w, h = box[2] - box[0], box[3] - box[1]
            box = box + BACKFILL_PAD * np.array([-w, -h, w, h])
            sm = tr.smoother
            out.append(Face(box=tuple(float(v) for v in box), score=tr.score, emotion=sm.label if sm else None,
                            probabilities=sm.as_dict() if sm else None, track_id=tr.id))
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

    def cover(self, faces: list[Face], t: float | None = None) -> list[Face]:
        """The faces (of the frame at ``t``, by default the latest) with their boxes widened to what should be
        covered (motion lead, uncertainty, padding)."""
        c = self.coverage
        t = self.time if t is None else t
        out = []
        for f in faces:
            tr = self.tracker.recent(f.track_id)
            velocity = tr.velocity if tr is not None and tr.hits > 1 else None
            since = t - tr.time if tr is not None else 0.0
            box = cover_box(f.box, velocity, since, self.step_seconds, pad=c.pad, lead=c.lead, unsure=c.unsure)
            out.append(replace(f, box=box))
        return out

    def render(self, image: np.ndarray | YuvFrame, faces: list[Face], mode: str | None = None,
               cover: str | None = None, t: float | None = None) -> np.ndarray | YuvFrame:
        """``image`` (the frame at ``t``, by default the latest) with every face covered (see
        :func:`~facemoji.stream.draw.draw`); in ``boxes`` mode the tracked boxes are drawn, in the others the
        covers of :meth:`cover`."""
        mode = mode or self.pipeline.mode
        return draw(image, faces if mode == "boxes" else self.cover(faces, t), self.pipeline, mode, cover)
