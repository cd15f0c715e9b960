"""Following faces from frame to frame, and keeping each face's emoji steady.

:class:`Tracker` gives every face an integer id that it keeps while it moves:
detections are matched to tracks greedily by overlap (IoU) of the box each
track is predicted to have now (constant velocity), with a centre-distance
fallback for fast or small faces. A track the detector misses keeps going at
its predicted position ("coasting") for up to ``max_coast`` seconds, so its
emoji stays on the face through a missed detection or two; then it ends.

Track hygiene: a track is *confirmed* once a second detection finds it again, or at once when its first
detection scores ``confirm_score`` or more; only confirmed tracks coast. A track still unconfirmed when the next
detection misses it ends there (a hand, a microphone, a shoulder seen once), and a detection that covered the
whole frame (a whole-frame scan) ends every track it did not find again but established ones (found five times:
they coast through a turn of the head), and a shot change ends every track not found on its first frame. Detections below
``new_score`` never start a track: they keep tracks going, and can be the second sighting that confirms one (a
small face in a crowd scores about the threshold, now above it, now below). Two tracks that come to lie on one face
merge into the older.

:class:`EmotionSmoother` turns each frame's seven probabilities into a steady
label: an exponential moving average with time constant ``tau`` seconds
(frame-rate independent), plus hysteresis: the shown emotion only changes
when another class leads it by ``margin``. With the defaults a clean switch
of expression shows within about 0.3 s, while single-frame blips never do.

:func:`cover_box` is the box to cover for a tracked face: the tracked box,
led forward along the track's motion and widened by how unsure the
prediction is (it grows with the time since the last detection and with the
face's speed), so a cover on a moving face does not trail behind it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from facemoji.labels import EMOTIONS
from facemoji.types import Face

RECENT_CALLS = 4  # ended tracks are still known for this many calls (the frame loop's delay and then some)

__all__ = ["EmotionSmoother", "Track", "Tracker", "cover_box", "iou_matrix"]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float64)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def cover_box(box: tuple[float, float, float, float] | np.ndarray, velocity: np.ndarray | None, since: float,
              step: float, *, pad: float = 0.0, lead: float = 1.0,
              unsure: float = 0.5) -> tuple[float, float, float, float]:
    """The box to cover for a face tracked at ``box`` (x1, y1, x2, y2) moving at ``velocity`` (box units a second).

    ``since``: seconds since a detector last saw the face; ``step``: seconds a frame stays on screen. Each edge is
    stretched forward by ``lead`` frames of its motion (the face goes on moving while the frame shows), outwards
    by ``unsure`` times the distance the edge moved since the detection plus one frame (the velocity is an
    estimate: a face that speeds up or turns gets ahead of it), and by ``pad`` times the box's size on every side.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    out = [x1 - pad * w, y1 - pad * h, x2 + pad * w, y2 + pad * h]
    if velocity is None:
        return (out[0], out[1], out[2], out[3])
    v = np.asarray(velocity, np.float64)
    ahead = v * lead * step
    spread = np.abs(v) * unsure * (max(0.0, since) + step)
    out[0] = min(out[0], out[0] + ahead[0]) - spread[0]
    out[1] = min(out[1], out[1] + ahead[1]) - spread[1]
    out[2] = max(out[2], out[2] + ahead[2]) + spread[2]
    out[3] = max(out[3], out[3] + ahead[3]) + spread[3]
    return (out[0], out[1], out[2], out[3])


class EmotionSmoother:
    """Exponential moving average of class probabilities over time, with hysteresis on the label."""

    def __init__(self, classes: tuple[str, ...] = EMOTIONS, tau: float = 0.33, margin: float = 0.08) -> None:
        self.classes = tuple(classes)
        self.tau = tau
        self.margin = margin
        self.probs: np.ndarray | None = None
        self.label: str | None = None
        self.time: float | None = None

    def update(self, probs: np.ndarray | dict[str, float], t: float) -> str:
        """Fold in one frame's probabilities seen at time ``t`` (seconds); returns the label to show."""
        p = np.array([probs.get(c, 0.0) for c in self.classes] if isinstance(probs, dict) else probs, np.float64)
        if self.probs is None or self.time is None:
            self.probs = p
        else:
            dt = max(0.0, t - self.time)
            alpha = 1.0 - math.exp(-dt / self.tau) if self.tau > 0 else 1.0
            self.probs = self.probs + alpha * (p - self.probs)
        self.time = t
        best = int(np.argmax(self.probs))
        if self.label is None:
            self.label = self.classes[best]
        else:
            cur = self.classes.index(self.label)
            if best != cur and self.probs[best] >= self.probs[cur] + self.margin:
                self.label = self.classes[best]
        return self.label

    def as_dict(self) -> dict[str, float] | None:
        if self.probs is None:
            return None
        return {c: float(v) for c, v in zip(self.classes, self.probs, strict=True)}


@dataclass
class Track:
    """One face followed over time."""

    id: int
    box: np.ndarray  # (4,) x1 y1 x2 y2 at ``time``
    time: float  # when ``box`` was last set by a detection
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # box units per second
    score: float = 1.0
    hits: int = 1
    first_time: float = 0.0
    smoother: EmotionSmoother | None = None
    landmarks: np.ndarray | None = None
    surprise: float = 0.0  # at the last detection: its distance from the predicted box, in face sizes
    confirmed: bool = False  # seen on two detections, or once with a score of ``Tracker.confirm_score``
    first_box: np.ndarray | None = None  # the box of its first detection, at ``first_time``
    dropped: bool = False  # ended by the latest detection (missed while unconfirmed, or by a whole-frame look)

    def predict(self, t: float, max_dt: float = 0.5) -> np.ndarray:
        """The box expected at time ``t``: constant velocity, extrapolating at most ``max_dt`` seconds."""
        dt = min(max(0.0, t - self.time), max_dt)
        box = self.box + self.velocity * dt
        # a box cannot shrink below a sliver or turn inside out
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        w, h = max(box[2] - box[0], 2.0), max(box[3] - box[1], 2.0)
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


class Tracker:
    """Greedy IoU tracker with constant-velocity prediction and coasting.

    Call :meth:`update` with a frame's detections (classified or not) and
    its time; call :meth:`predict` on frames where detection was skipped.
    Both return one :class:`Face` per live track, ``track_id`` set, with the
    smoothed emotion and probabilities when the detections carried some.
    """

    def __init__(self, iou_threshold: float = 0.2, max_coast: float = 0.5, tau: float = 0.33, margin: float = 0.08,
                 classes: tuple[str, ...] = EMOTIONS, velocity_smoothing: float = 0.5,
                 frame_size: tuple[int, int] | None = None, confirm_hits: int = 2, confirm_score: float = 0.8,
                 merge_iou: float = 0.5, established_hits: int = 5) -> None:
        if confirm_hits < 1:
            raise ValueError("confirm_hits must be at least 1")
        self.confirm_hits = confirm_hits
        self.confirm_score = confirm_score
        self.established_hits = established_hits
        self.merge_iou = merge_iou  # two tracks whose boxes overlap this much (IoU) are one face
        self.iou_threshold = iou_threshold
        self.max_coast = max_coast
        self.tau = tau
        self.margin = margin
        self.classes = classes
        self.velocity_smoothing = velocity_smoothing
        self.surprise_reset = 0.15  # a detection this far (in face sizes) from the prediction resets the velocity
        self.frame_size = frame_size  # (width, height): tracks predicted wholly outside end early
        self.tracks: list[Track] = []
        self.next_id = 1
        self.ended: list[Track] = []  # tracks ended by the latest update or predict
        self.ended_count = 0
        self._ended_before: deque[list[Track]] = deque(maxlen=RECENT_CALLS)  # ... and by the calls before it

    def confirmed(self, track_id: int | None) -> bool:
        """Whether the track ``track_id`` (live, or ended by the latest call) is confirmed."""
        tr = self.recent(track_id)
        return tr is not None and tr.confirmed

    def _confirm(self, tr: Track) -> None:
        tr.confirmed = tr.confirmed or tr.hits >= self.confirm_hits or tr.score >= self.confirm_score

    def _match(self, dets: np.ndarray, preds: np.ndarray) -> list[tuple[int, int]]:
        """Greedy matching: highest IoU pairs first, then the nearest centres for what is left."""
        pairs: list[tuple[int, int]] = []
        if len(dets) == 0 or len(preds) == 0:
            return pairs
        iou = iou_matrix(preds, dets)
        used_t: set[int] = set()
        used_d: set[int] = set()
        for flat in np.argsort(-iou, axis=None):
            ti, di = divmod(int(flat), len(dets))
            if iou[ti, di] < self.iou_threshold:
                break
            if ti in used_t or di in used_d:
                continue
            pairs.append((ti, di))
            used_t.add(ti)
            used_d.add(di)
        # centre distance relative to the face size, for faces that moved more than their overlap allows
        cp = (preds[:, :2] + preds[:, 2:]) / 2
        cd = (dets[:, :2] + dets[:, 2:]) / 2
        size = np.maximum(preds[:, 2] - preds[:, 0], preds[:, 3] - preds[:, 1])
        dist = np.linalg.norm(cp[:, None, :] - cd[None, :, :], axis=2) / np.maximum(size[:, None], 1.0)
        dsize = np.maximum(dets[:, 2] - dets[:, 0], dets[:, 3] - dets[:, 1])
        ratio = np.maximum(size[:, None], dsize[None, :]) / np.maximum(np.minimum(size[:, None], dsize[None, :]), 1.0)
        for flat in np.argsort(dist, axis=None):
            ti, di = divmod(int(flat), len(dets))
            if dist[ti, di] > 0.75:
                break
            if ti in used_t or di in used_d or ratio[ti, di] > 2.0:
                continue
            pairs.append((ti, di))
            used_t.add(ti)
            used_d.add(di)
        return pairs

    def update(self, detections: list[Face], t: float, whole: bool = False, new_score: float = 0.0,
               cut: bool = False) -> list[Face]:
        """Match this frame's detections (seen at time ``t`` seconds) to the tracks; returns the live faces.

        ``whole``: the detections come from the whole frame, so a track they do not find ends now unless it is
        established (found ``established_hits`` times: a face that turned away coasts for ``max_coast``); ``cut``:
        the frame starts a new shot, and every track they do not find ends. Detections scoring below
        ``new_score`` never start a track (they keep one going, or confirm it as its second sighting).
        """
        self._new_call()
        weak = [d.score < new_score for d in detections]
        dets = np.array([d.box for d in detections], np.float64).reshape(-1, 4)
        preds = np.array([tr.predict(t, self.max_coast) for tr in self.tracks]).reshape(-1, 4)
        # a weak detection may be a track's second sighting (a small face scores about the threshold, now above
        # it, now below), but it never starts a track
        pairs = self._match(dets, preds)
        matched_d = {di for _, di in pairs}
        matched_t = {ti for ti, _ in pairs}
        for ti, di in pairs:
            tr, det = self.tracks[ti], detections[di]
            dt = t - tr.time
            new_box = dets[di]
            if dt > 1e-6:
                # how far the detection landed from where the track was predicted, relative to the face's size:
                # a face that sped up, stopped or turned back; its old velocity is then no guide
                size = max(new_box[2] - new_box[0], new_box[3] - new_box[1], 1.0)
                tr.surprise = float(np.abs(new_box - preds[ti]).max()) / size
                v = (new_box - tr.box) / dt
                k = self.velocity_smoothing if tr.hits > 1 and tr.surprise < self.surprise_reset else 0.0
                tr.velocity = k * tr.velocity + (1 - k) * v
            tr.box, tr.time, tr.score, tr.landmarks = new_box, t, det.score, det.landmarks
            tr.hits += 1
            self._confirm(tr)
            self._feed_emotion(tr, det, t)
        # the unconfirmed tracks this detection missed were seen once only; after a whole-frame look, also the
        # ones seen only a few times (a ghost that was seen twice); established faces coast through a turn
        for ti, tr in enumerate(self.tracks):
            if ti in matched_t:
                continue
            if not tr.confirmed or whole and (cut or tr.hits < self.established_hits):
                tr.dropped = True  # ends in _live below
        for di, det in enumerate(detections):
            if di not in matched_d and not weak[di]:
                tr = Track(self.next_id, dets[di].copy(), t, score=det.score, first_time=t, landmarks=det.landmarks,
                           first_box=dets[di].copy())
                self.next_id += 1
                self._confirm(tr)
                self._feed_emotion(tr, det, t)
                self.tracks.append(tr)
        self._merge(t)
        return self._live(t, seen={id(tr) for tr in self.tracks if tr.time == t}, reset=False)

    def _merge(self, t: float) -> None:
        """Two live tracks on one face (boxes overlapping by ``merge_iou``, not both found by this detection: two
        faces crossing each have their own, and a face hidden behind another is smaller): the younger ends."""
        live = sorted((tr for tr in self.tracks if not tr.dropped), key=lambda tr: (not tr.confirmed, tr.id))
        for i, a in enumerate(live):
            if a.dropped:
                continue
            for b in live[i + 1 :]:
                if b.dropped or a.time == t and b.time == t:
                    continue
                if iou_matrix(a.predict(t)[None], b.predict(t)[None])[0, 0] > self.merge_iou:
                    b.dropped = True
                    if b.hits > 1 or b.confirmed:
                        a.confirmed = True

    def predict(self, t: float) -> list[Face]:
        """The live tracks at time ``t`` without new detections (frames where detection is skipped)."""
        return self._live(t, seen=set())

    def _new_call(self) -> None:
        self._ended_before.appendleft(self.ended)
        self.ended = []

    def end_all(self) -> None:
        """End every track now (the end of the frames)."""
        self._new_call()
        self.ended = self.tracks
        self.ended_count += len(self.tracks)
        self.tracks = []

    def _feed_emotion(self, tr: Track, det: Face, t: float) -> None:
        if det.probabilities is None:
            return
        if tr.smoother is None:
            tr.smoother = EmotionSmoother(self.classes, self.tau, self.margin)
        tr.smoother.update(det.probabilities, t)

    def _live(self, t: float, seen: set[int], reset: bool = True) -> list[Face]:
        if reset:
            self._new_call()
        keep: list[Track] = []
        faces: list[Face] = []
        for tr in self.tracks:
            missing = t - tr.time
            if tr.dropped:
                self.ended.append(tr)
                self.ended_count += 1
                continue
            box = tr.box if id(tr) in seen else tr.predict(t, self.max_coast)
            gone = missing > self.max_coast + 1e-9
            if not gone and self.frame_size is not None and missing > 0:
                w, h = self.frame_size
                gone = box[2] <= 0 or box[3] <= 0 or box[0] >= w or box[1] >= h
            if gone:
                self.ended.append(tr)
                self.ended_count += 1
                continue
            keep.append(tr)
            sm = tr.smoother
            faces.append(Face(box=tuple(float(v) for v in box), score=tr.score, landmarks=tr.landmarks,
                              emotion=sm.label if sm else None, probabilities=sm.as_dict() if sm else None,
                              track_id=tr.id))
        self.tracks = keep
        return faces

    def get(self, track_id: int | None) -> Track | None:
        """The live track with id ``track_id``, if any."""
        for tr in self.tracks:
            if tr.id == track_id:
                return tr
        return None

    def recent(self, track_id: int | None) -> Track | None:
        """The track with id ``track_id``, live or ended by one of the latest :data:`RECENT_CALLS` calls (a frame
        still in the frame loop's hand), if any."""
        ended = (tr for calls in (self.ended, *self._ended_before) for tr in calls)
        return self.get(track_id) or next((tr for tr in ended if tr.id == track_id), None)

    def finish(self) -> None:
        """End every live track (at the end of a video)."""
        self.end_all()
