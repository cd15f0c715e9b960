"""The tracker's hygiene rules, one by one, on boxes whose truth is known.

Which detections become drawn covers (confirmation), which tracks end (a miss while unconfirmed, a whole-frame
scan, a shot change, the coasting time, the frame's edge), what weak detections may do, when two tracks merge,
how long an ended track is still known to the frame loop, and the matching and prediction under them. Each test
pins one number or one rule of :mod:`facemoji.stream.track`, so that changing it fails here in a second.
"""

from __future__ import annotations

import numpy as np
import pytest

from facemoji.labels import EMOTIONS
from facemoji.stream.track import RECENT_CALLS, Track, Tracker, cover_box, iou_matrix
from facemoji.types import Face


def det(x: float, y: float, side: float = 100, score: float = 0.6, emotion: str | None = None) -> Face:
    probs = None
    if emotion:
        probs = {c: (0.8 if c == emotion else 0.2 / 6) for c in EMOTIONS}
    return Face(box=(x, y, x + side, y + side), score=score, probabilities=probs)


def ids(faces: list[Face]) -> list[int]:
    return sorted(f.track_id for f in faces)


# --- confirmation -------------------------------------------------------------------------------------------


def test_a_track_is_confirmed_by_its_second_detection() -> None:
    tr = Tracker()
    (f,) = tr.update([det(100, 100)], 0.0)
    assert not tr.confirmed(f.track_id)
    (g,) = tr.update([det(102, 100)], 0.1)
    assert g.track_id == f.track_id and tr.confirmed(g.track_id)
    assert tr.get(g.track_id).hits == 2


@pytest.mark.parametrize("score, confirmed", [(0.8, True), (0.79, False), (0.95, True)])
def test_one_detection_scoring_the_confirm_score_is_enough(score: float, confirmed: bool) -> None:
    tr = Tracker()
    (f,) = tr.update([det(100, 100, score=score)], 0.0)
    assert tr.confirmed(f.track_id) is confirmed


def test_confirm_hits_is_the_number_of_detections_needed() -> None:
    tr = Tracker(confirm_hits=3)
    for i, expected in enumerate([False, False, True, True]):
        (f,) = tr.update([det(100 + i, 100)], i / 10)
        assert tr.confirmed(f.track_id) is expected, f"after {i + 1} detections"
    one = Tracker(confirm_hits=1)
    (f,) = one.update([det(100, 100, score=0.51)], 0.0)
    assert one.confirmed(f.track_id)


def test_confirm_hits_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Tracker(confirm_hits=0)
    Tracker(confirm_hits=1)  # one is the smallest allowed


def test_unknown_track_ids_are_not_confirmed() -> None:
    tr = Tracker()
    tr.update([det(100, 100, score=0.9)], 0.0)
    assert not tr.confirmed(None) and not tr.confirmed(99)


# --- which tracks end -----------------------------------------------------------------------------------------


def test_an_unconfirmed_track_ends_at_the_first_detection_that_misses_it() -> None:
    tr = Tracker()
    (f,) = tr.update([det(100, 100)], 0.0)
    assert tr.update([], 0.1) == []
    assert [t.id for t in tr.ended] == [f.track_id] and tr.ended[0].dropped
    assert tr.ended_count == 1


def test_a_confirmed_track_coasts_through_a_missed_detection() -> None:
    tr = Tracker(max_coast=0.5)
    tr.update([det(100, 100)], 0.0)
    tr.update([det(110, 100)], 0.1)  # confirmed, moving 100 px/s to the right
    (f,) = tr.update([], 0.2)
    assert f.box[0] == pytest.approx(120)  # where it should be now
    assert tr.ended == []


@pytest.mark.parametrize("hits, survives", [(4, False), (5, True), (6, True)])
def test_a_whole_frame_scan_ends_all_but_established_tracks(hits: int, survives: bool) -> None:
    tr = Tracker(max_coast=0.5)
    for i in range(hits):
        tr.update([det(100, 100)], i / 10)
    out = tr.update([], hits / 10, whole=True)
    assert (len(out) == 1) is survives
    stricter = Tracker(max_coast=0.5, established_hits=hits + 1)  # the rule follows established_hits
    for i in range(hits):
        stricter.update([det(100, 100)], i / 10)
    assert stricter.update([], hits / 10, whole=True) == []


def test_a_whole_scan_that_is_not_a_cut_keeps_confirmed_tracks_a_partial_look_missed() -> None:
    tr = Tracker()
    tr.update([det(100, 100)], 0.0)
    tr.update([det(100, 100)], 0.1)
    assert len(tr.update([], 0.2, whole=False)) == 1  # a look near other faces: it coasts
    assert tr.update([], 0.3, whole=True) == []  # three hits only: a whole scan ends it


def test_a_cut_ends_even_established_tracks_it_does_not_find() -> None:
    tr = Tracker()
    for i in range(8):
        tr.update([det(100, 100), det(400, 100)], i / 10)
    out = tr.update([det(400, 100)], 0.8, whole=True, cut=True)
    assert len(out) == 1 and out[0].box[0] == pytest.approx(400)
    assert len(tr.ended) == 1


def test_a_cut_with_a_partial_look_does_not_end_established_tracks() -> None:
    tr = Tracker()
    for i in range(8):
        tr.update([det(100, 100)], i / 10)
    assert len(tr.update([], 0.8, whole=False, cut=True)) == 1


def test_coasting_ends_after_max_coast() -> None:
    tr = Tracker(max_coast=0.5)
    tr.update([det(100, 100, score=0.9)], 0.0)
    assert len(tr.predict(0.5)) == 1  # exactly the coasting time: still shown
    assert tr.predict(0.52) == []
    assert tr.ended_count == 1


def test_a_track_predicted_out_of_the_frame_ends_before_its_coasting_time() -> None:
    for frame_size, alive in [((640, 480), False), ((2000, 480), True)]:
        tr = Tracker(max_coast=2.0, frame_size=frame_size)
        tr.update([det(500, 100)], 0.0)
        tr.update([det(560, 100)], 0.1)  # 600 px/s to the right
        assert (len(tr.predict(0.3)) == 1) is alive  # at x = 680: outside a 640-wide frame


@pytest.mark.parametrize("start, then", [((20, 200), (-40, 200)), ((200, 20), (200, -40)), ((200, 360), (200, 420)),
                                         ((520, 200), (580, 200))])
def test_every_edge_of_the_frame_counts(start: tuple, then: tuple) -> None:
    tr = Tracker(max_coast=2.0, frame_size=(640, 480))
    tr.update([det(*start)], 0.0)
    tr.update([det(*then)], 0.1)
    assert len(tr.predict(0.1)) == 1  # on its edge, just seen
    assert tr.predict(0.3) == []  # 120 px further: wholly outside


def test_a_track_seen_this_frame_on_the_edge_is_kept() -> None:
    tr = Tracker(frame_size=(640, 480))
    assert len(tr.update([det(600, 100)], 0.0)) == 1  # partly in view, found now: never ended for its place


def test_end_all_and_finish_end_every_live_track() -> None:
    tr = Tracker()
    tr.update([det(100, 100), det(400, 100)], 0.0)
    tr.finish()
    assert tr.tracks == [] and len(tr.ended) == 2 and tr.ended_count == 2


# --- weak detections ------------------------------------------------------------------------------------------


def test_weak_detections_never_start_a_track() -> None:
    tr = Tracker()
    assert tr.update([det(100, 100, score=0.35)], 0.0, new_score=0.5) == []
    assert tr.tracks == []
    assert len(tr.update([det(100, 100, score=0.5)], 0.1, new_score=0.5)) == 1  # at the threshold: it does


def test_weak_detections_keep_a_confirmed_track_going() -> None:
    tr = Tracker(max_coast=0.3)
    tr.update([det(100, 100)], 0.0)
    tr.update([det(100, 100)], 0.1)
    for i in range(2, 10):  # far longer than the coasting time, found only weakly
        (f,) = tr.update([det(100 + i, 100, score=0.35)], i / 10, new_score=0.5)
    assert f.box[0] == pytest.approx(109) and f.score == pytest.approx(0.35)


def test_a_weak_detection_is_the_second_sighting_that_confirms_a_track() -> None:
    """A small face scores about the threshold, now above it, now below: born above it, it is confirmed when a
    weaker detection finds it again; weak detections alone never start a track, however often they come."""
    tr = Tracker()
    tr.update([det(100, 100)], 0.0, new_score=0.5)
    assert not tr.confirmed(1)
    (f,) = tr.update([det(102, 100, score=0.35)], 0.1, new_score=0.5)
    assert f.track_id == 1 and tr.confirmed(1)
    weak = Tracker()
    for i in range(5):
        assert weak.update([det(100, 100, score=0.35)], i / 10, new_score=0.5) == []
    assert weak.tracks == []


# --- merging --------------------------------------------------------------------------------------------------


def test_two_tracks_on_one_face_merge_into_the_older() -> None:
    tr = Tracker(confirm_hits=1)
    tr.update([det(100, 100), det(110, 100)], 0.0)  # one face detected twice, slightly off: two tracks
    assert ids(tr.update([det(400, 400)], 0.1)) == [1, 3]  # both coast onto one face: the younger ends
    assert [t.id for t in tr.ended] == [2]


def test_merge_needs_more_than_merge_iou() -> None:
    for merge_iou, merged in [(0.5, True), (0.95, False)]:
        tr = Tracker(merge_iou=merge_iou, confirm_hits=1)
        tr.update([det(100, 100), det(110, 100)], 0.0)  # IoU 0.82
        tr.update([det(400, 400)], 0.1)  # neither is found now, both coast
        assert (len(tr.tracks) == 2) is merged, merge_iou


def test_faces_found_by_the_same_detection_never_merge() -> None:
    tr = Tracker(confirm_hits=1)
    out = tr.update([det(100, 100), det(110, 100)], 0.0)  # two faces, one in front of the other
    assert len(out) == 2


def test_merging_keeps_the_confirmation_of_the_merged_track() -> None:
    tr = Tracker()
    a = Track(7, np.array([100.0, 100, 200, 200]), 0.0, hits=1)  # an unconfirmed older track ...
    b = Track(8, np.array([105.0, 100, 205, 200]), 0.0, hits=3)  # ... and a younger one seen three times
    tr.tracks = [a, b]
    tr._merge(0.1)
    assert b.dropped and not a.dropped and a.confirmed
    c = Track(9, np.array([100.0, 100, 200, 200]), 0.0, hits=1)
    d = Track(10, np.array([105.0, 100, 205, 200]), 0.0, hits=1)
    tr.tracks = [c, d]
    tr._merge(0.1)
    assert d.dropped and not c.confirmed


def test_a_confirmed_track_outranks_an_older_unconfirmed_one() -> None:
    tr = Tracker()
    a = Track(1, np.array([100.0, 100, 200, 200]), 0.0, hits=1)
    b = Track(2, np.array([105.0, 100, 205, 200]), 0.0, hits=2, confirmed=True)
    tr.tracks = [a, b]
    tr._merge(0.1)
    assert a.dropped and not b.dropped


# --- the loop's view: recent tracks, first boxes ---------------------------------------------------------------


def test_an_ended_track_is_known_for_recent_calls() -> None:
    tr = Tracker()
    (f,) = tr.update([det(100, 100, score=0.9)], 0.0)
    tr.update([], 0.1, whole=True)  # ends it
    for call in range(RECENT_CALLS + 1):  # the call that ended it, and RECENT_CALLS after it
        assert tr.recent(f.track_id) is not None, f"{call} calls later"
        assert tr.confirmed(f.track_id)
        tr.predict(0.2 + call / 10)
    assert tr.recent(f.track_id) is None
    assert RECENT_CALLS == 4


def test_a_new_track_remembers_its_first_box_and_time() -> None:
    tr = Tracker()
    tr.update([det(100, 100)], 0.3)
    tr.update([det(150, 100)], 0.4)
    (t,) = tr.tracks
    assert t.first_time == 0.3 and tuple(t.first_box) == (100, 100, 200, 200)
    assert tuple(t.box) == (150, 100, 250, 200) and t.time == 0.4


def test_ids_count_up_from_one() -> None:
    tr = Tracker(confirm_hits=1)
    assert ids(tr.update([det(0, 0), det(300, 0), det(0, 300)], 0.0)) == [1, 2, 3]
    tr.update([], 0.1, whole=True)
    assert ids(tr.update([det(300, 300)], 0.2)) == [4]


def test_emotions_are_smoothed_per_track() -> None:
    tr = Tracker()
    (f,) = tr.update([det(100, 100, emotion="happy")], 0.0)
    assert f.emotion == "happy" and f.probabilities["happy"] == pytest.approx(0.8)
    (g,) = tr.update([det(100, 100, emotion="sad")], 0.01)  # a blip: the label holds
    assert g.emotion == "happy" and 0.2 / 6 < g.probabilities["sad"] < 0.8
    (h,) = tr.update([det(100, 100)], 0.02)  # no reading: the smoothed one stays
    assert h.emotion == "happy"
    assert Tracker().update([det(0, 0)], 0.0)[0].probabilities is None


# --- matching and prediction -----------------------------------------------------------------------------------


def test_iou_matrix_uses_every_coordinate() -> None:
    a = np.array([[0.0, 0, 10, 10]])
    for b, want in [([0, 5, 10, 15], 50 / 150), ([5, 0, 15, 10], 50 / 150), ([0, 0, 10, 5], 0.5), ([0, 0, 5, 10], 0.5),
                    ([2, 2, 8, 8], 0.36)]:
        assert iou_matrix(a, np.array([b], float))[0, 0] == pytest.approx(want), b


def test_matching_by_overlap_needs_the_iou_threshold() -> None:
    # 60 px apart on 100-px faces: IoU 0.25, centres 0.6 of a face apart
    for threshold, same in [(0.2, True), (0.3, True), (0.9, True)]:
        tr = Tracker(iou_threshold=threshold)
        tr.update([det(100, 100)], 0.0)
        (f,) = tr.update([det(160, 100)], 0.1)
        assert (f.track_id == 1) is same  # the centre fallback (0.6 < 0.75) takes what overlap leaves


def test_centre_fallback_reaches_three_quarters_of_a_face() -> None:
    for dx, same in [(70, True), (80, False)]:
        tr = Tracker()
        tr.update([det(100, 100)], 0.0)
        out = tr.update([det(100 + dx, 100)], 0.1)
        assert (out[0].track_id == 1) is same, dx


def test_centre_fallback_refuses_a_face_of_another_size() -> None:
    for side, same in [(190, True), (210, False)]:
        tr = Tracker(iou_threshold=0.99)
        tr.update([det(100, 100)], 0.0)
        c = 150 - side / 2  # the same centre
        out = tr.update([det(c, c, side)], 0.1)
        assert (out[0].track_id == 1) is same, side


def test_the_best_overlap_wins() -> None:
    tr = Tracker(confirm_hits=1)
    tr.update([det(100, 100), det(400, 100)], 0.0)
    out = tr.update([det(390, 100), det(110, 100)], 0.1)
    by_x = {round(f.box[0]): f.track_id for f in out}
    assert by_x == {110: 1, 390: 2}


def test_velocity_is_smoothed_and_reset_by_a_surprise() -> None:
    tr = Tracker(velocity_smoothing=0.5)
    tr.update([det(100, 100)], 0.0)
    tr.update([det(110, 100)], 0.1)
    (t,) = tr.tracks
    assert t.velocity[0] == pytest.approx(100)  # the first velocity is taken whole
    tr.update([det(120, 100)], 0.2)  # as predicted: smoothed with the old one
    assert t.velocity[0] == pytest.approx(100) and t.surprise == pytest.approx(0.0)
    tr.update([det(136, 100)], 0.3)  # 6 px off the prediction: 0.06 of a face, smoothed
    assert t.velocity[0] == pytest.approx(0.5 * 100 + 0.5 * 160) and t.surprise == pytest.approx(0.06)
    tr.update([det(100, 100)], 0.4)  # back where it was: a surprise, the old velocity is no guide
    assert t.velocity[0] == pytest.approx(-360) and t.surprise > 0.15


def test_predict_extrapolates_at_most_max_dt_and_keeps_a_box() -> None:
    t = Track(1, np.array([100.0, 100, 200, 200]), 1.0, velocity=np.array([100.0, 0, 100, 0]))
    assert tuple(t.predict(1.2)) == pytest.approx((120, 100, 220, 200))
    assert tuple(t.predict(3.0, max_dt=0.5)) == pytest.approx((150, 100, 250, 200))
    assert tuple(t.predict(0.5)) == pytest.approx((100, 100, 200, 200))  # never backwards in time
    shrinking = Track(2, np.array([100.0, 100, 110, 140]), 0.0, velocity=np.array([0.0, 0, -100, 0]))
    box = shrinking.predict(0.5)
    assert box[2] - box[0] == pytest.approx(2.0) and box[3] - box[1] == pytest.approx(40)


def test_cover_box_without_velocity_is_the_padded_box() -> None:
    assert cover_box((100, 100, 200, 150), None, 0.3, 1 / 30, pad=0.1) == pytest.approx((90, 95, 210, 155))
    assert cover_box((100, 100, 200, 150), np.zeros(4), 0.3, 1 / 30, pad=0.0) == pytest.approx((100, 100, 200, 150))


def test_cover_box_edges_each_follow_their_own_velocity() -> None:
    v = np.array([-30.0, 60, 90, -120])
    got = cover_box((100, 100, 200, 200), v, 0.0, 0.1, lead=1.0, unsure=0.0)
    assert got == pytest.approx((97, 100, 209, 200))
    got = cover_box((100, 100, 200, 200), v, 0.1, 0.1, lead=0.0, unsure=1.0)
    assert got == pytest.approx((94, 88, 218, 224))


def test_iou_matrix_on_boxes_that_are_not_at_the_origin_or_square() -> None:
    a = np.array([[0.0, 20, 10, 60]])  # 10 wide, 40 tall
    for b, want in [([0, 40, 10, 80], 200 / 600), ([5, 20, 15, 60], 200 / 600), ([0, 20, 10, 40], 0.5)]:
        assert iou_matrix(a, np.array([b], float))[0, 0] == pytest.approx(want), b
        assert iou_matrix(np.array([b], float), a)[0, 0] == pytest.approx(want), b


def test_a_detection_twice_the_size_on_the_same_centre_is_matched_by_overlap() -> None:
    tr = Tracker()  # IoU of a box with one 2.1 times its size on the same centre: 0.23, above 0.2
    tr.update([det(100, 100)], 0.0)
    (f,) = tr.update([det(45, 45, 210)], 0.1)
    assert f.track_id == 1  # the centre fallback alone would refuse the size ratio


def test_a_tall_face_is_matched_by_the_centre_relative_to_its_height() -> None:
    tr = Tracker()
    tall = Face(box=(100.0, 100.0, 200.0, 300.0), score=0.6)
    tr.update([tall], 0.0)
    moved = Face(box=(220.0, 100.0, 320.0, 300.0), score=0.6)  # 120 px sideways: no overlap, 0.6 of its height
    (f,) = tr.update([moved], 0.1)
    assert f.track_id == 1


def test_cover_box_treats_a_time_before_the_detection_as_now() -> None:
    v = np.array([100.0, 0, 100, 0])
    assert cover_box((0, 0, 10, 10), v, -0.5, 0.1) == cover_box((0, 0, 10, 10), v, 0.0, 0.1)


def test_the_smoother_reads_missing_classes_as_zero() -> None:
    from facemoji.stream.track import EmotionSmoother

    sm = EmotionSmoother()
    assert sm.update({"happy": 0.4}, 0.0) == "happy"
    assert sm.as_dict()["sad"] == 0.0 and sm.as_dict()["happy"] == 0.4
