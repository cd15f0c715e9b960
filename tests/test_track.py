"""The tracker and the emotion smoothing, on boxes and probabilities whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from facemoji.labels import EMOTIONS
from facemoji.stream.track import EmotionSmoother, Tracker, cover_box, iou_matrix
from facemoji.types import Face


def onehot(name: str, strength: float = 0.8) -> dict[str, float]:
    rest = (1 - strength) / (len(EMOTIONS) - 1)
    return {c: (strength if c == name else rest) for c in EMOTIONS}


def face(x: float, y: float, side: float = 100, emotion: str | None = "happy") -> Face:
    probs = onehot(emotion) if emotion else None
    return Face(box=(x, y, x + side, y + side), score=0.9, emotion=emotion, probabilities=probs)


def test_iou_matrix_values() -> None:
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 110, 110]], float)
    m = iou_matrix(a, b)
    assert m.shape == (2, 3)
    assert m[0, 0] == pytest.approx(1.0)
    assert m[0, 1] == pytest.approx(50 / 150)
    assert m[0, 2] == 0 and m[1, 0] == 0
    assert iou_matrix(a[:0], b).shape == (0, 3)


def test_ids_stay_with_moving_faces() -> None:
    tr = Tracker()
    for i in range(30):
        out = tr.update([face(10 + 12 * i, 50), face(400, 300 - 5 * i)], i / 30)
        assert len(out) == 2
        top = min(out, key=lambda f: f.box[1])
        bottom = max(out, key=lambda f: f.box[1])
        assert (top.track_id, bottom.track_id) == (1, 2), f"frame {i}"


def test_crossing_faces_keep_their_ids() -> None:
    """Two faces moving towards each other at the same height swap sides; each id follows its face."""
    tr = Tracker()
    first = None
    for i in range(40):
        t = i / 30
        a, b = face(20 + 10 * i, 100), face(420 - 10 * i, 130)
        out = tr.update([b, a] if i % 2 else [a, b], t)  # detection order must not matter
        by_box = {(round(f.box[0]), round(f.box[1])): f.track_id for f in out}
        ids = (by_box[round(a.box[0]), round(a.box[1])], by_box[round(b.box[0]), round(b.box[1])])
        first = first or ids
        assert ids == first, f"ids swapped at frame {i}"


def test_coasting_then_ending() -> None:
    tr = Tracker(max_coast=0.5)
    for i in range(10):
        tr.update([face(100 + 6 * i, 100)], i / 30)  # 180 px/s to the right
    last_x = 100 + 6 * 9
    # detector misses the face for 0.3 s: the track coasts along its path
    out = tr.update([], 9 / 30 + 0.3)
    assert len(out) == 1 and out[0].track_id == 1
    assert out[0].box[0] == pytest.approx(last_x + 180 * 0.3, abs=3)
    assert out[0].emotion == "happy"
    # seen again near the prediction: same id
    out = tr.update([face(last_x + 180 * 0.35, 100)], 9 / 30 + 0.35)
    assert [f.track_id for f in out] == [1]
    # gone for longer than max_coast: the track ends, a face appearing later gets a new id
    assert tr.update([], 9 / 30 + 0.35 + 0.6) == []
    assert [t.id for t in tr.ended] == [1]
    out = tr.update([face(100, 100)], 2.0)
    assert [f.track_id for f in out] == [2]


def test_track_leaving_the_frame_ends_early() -> None:
    tr = Tracker(max_coast=0.5, frame_size=(640, 480))
    for i in range(5):
        tr.update([face(400 + 30 * i, 100)], i / 30)  # 900 px/s towards the right edge
    assert tr.predict(4 / 30 + 0.1)  # still partly inside
    assert tr.predict(4 / 30 + 0.2) == []  # predicted wholly outside: ended without waiting out the coast


def test_predict_between_detections_follows_velocity() -> None:
    tr = Tracker()
    tr.update([face(100, 100)], 0.0)
    tr.update([face(110, 100)], 0.1)  # 100 px/s
    out = tr.predict(0.2)
    assert out[0].box[0] == pytest.approx(120, abs=1)


def test_smoother_ignores_a_one_frame_blip() -> None:
    sm = EmotionSmoother(tau=0.33)
    fps = 30
    labels = []
    for i in range(60):
        p = onehot("surprise") if i == 30 else onehot("neutral")
        labels.append(sm.update(p, i / fps))
    assert set(labels) == {"neutral"}


@pytest.mark.parametrize("fps", [15, 30, 60])
def test_smoother_follows_a_real_change_within_half_a_second(fps: int) -> None:
    sm = EmotionSmoother(tau=0.33)
    switch_at = None
    for i in range(3 * fps):
        t = i / fps
        label = sm.update(onehot("neutral" if t < 1.0 else "happy", 0.6), t)
        if t >= 1.0 and label == "happy" and switch_at is None:
            switch_at = t - 1.0
        if t < 1.0:
            assert label == "neutral"
    assert switch_at is not None
    assert 0.05 < switch_at <= 0.5


def test_smoother_hysteresis_holds_a_close_call() -> None:
    """Two classes alternating as the leader by a hair must not make the label flicker."""
    sm = EmotionSmoother(tau=0.33, margin=0.08)
    labels = []
    for i in range(90):
        a, b = (0.40, 0.36) if (i // 3) % 2 else (0.36, 0.40)
        rest = (1 - a - b) / 5
        p = {c: rest for c in EMOTIONS} | {"happy": a, "neutral": b}
        labels.append(sm.update(p, i / 30))
    changes = sum(x != y for x, y in zip(labels, labels[1:], strict=False))
    assert changes == 0


def test_cover_box_of_a_still_face_is_the_box_plus_padding() -> None:
    box = (100.0, 50.0, 200.0, 170.0)
    assert cover_box(box, None, 0.0, 1 / 30) == box
    assert cover_box(box, np.zeros(4), 0.3, 1 / 30) == box
    assert cover_box(box, None, 0.0, 1 / 30, pad=0.1) == pytest.approx((90, 38, 210, 182))


def test_cover_box_leads_the_motion_and_widens_with_time_unseen() -> None:
    """A face moving right at 300 px/s: the cover reaches a frame ahead, and further the longer it went unseen."""
    box, v, step = (100.0, 50.0, 200.0, 170.0), np.array([300.0, 0, 300.0, 0]), 1 / 30
    x1, y1, x2, y2 = cover_box(box, v, 0.0, step, lead=1.0, unsure=0.5)
    assert (y1, y2) == (50, 170)  # no vertical motion, no vertical growth
    assert x2 == pytest.approx(200 + 10 + 5)  # one frame ahead (10 px) plus half a frame's travel of doubt
    assert x1 == pytest.approx(100 - 5)  # the trailing edge stays put, less the doubt
    later = cover_box(box, v, 0.1, step, lead=1.0, unsure=0.5)
    assert later[2] > x2 and later[0] < x1  # 0.1 s unseen: wider on both sides
    # a face moving left is led to the left; a growing face grows further
    assert cover_box(box, -v, 0.0, step)[0] < 100 - 10
    grow = cover_box(box, np.array([-60.0, -60.0, 60.0, 60.0]), 0.0, step)
    assert grow[0] < 100 and grow[1] < 50 and grow[2] > 200 and grow[3] > 170


def test_tracker_get_finds_live_tracks_only() -> None:
    tr = Tracker(max_coast=0.2)
    out = tr.update([face(10, 10)], 0.0)
    tid = out[0].track_id
    assert tr.get(tid) is tr.tracks[0] and tr.get(tid + 1) is None and tr.get(None) is None
    tr.predict(1.0)  # coasted past max_coast: ended
    assert tr.get(tid) is None


def test_a_face_that_turns_back_resets_the_velocity() -> None:
    """Found far from where it was predicted, a face's new velocity is taken as measured, not averaged in."""
    tr = Tracker(velocity_smoothing=0.5)
    for i in range(5):  # moving left at 100 px/s, seen every 0.1 s
        tr.update([face(300 - 10 * i, 50)], i / 10)
    assert tr.tracks[0].velocity[0] == pytest.approx(-100)
    assert tr.tracks[0].surprise < 0.05
    tr.update([face(290, 50)], 0.5)  # predicted at 250: it turned back, 30 px right of the last sighting
    track = tr.tracks[0]
    assert track.surprise == pytest.approx(0.4)
    assert track.velocity[0] == pytest.approx(300)  # smoothing would have given 100
    tr.update([face(320, 50)], 0.6)  # now as predicted: smoothing is back
    assert tr.tracks[0].surprise == pytest.approx(0.0) and tr.tracks[0].velocity[0] == pytest.approx(300)
