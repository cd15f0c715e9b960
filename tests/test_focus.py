"""Focused detection in videos: between whole-frame scans, tracked faces are looked for near where they should be.

The frames are scikit-image's astronaut pasted over a soft background (``videos.py``), as RGB arrays and as the
4:2:0 frames the video path uses.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from facemoji.stream import DEFAULT_COVERAGE, STRICT_COVERAGE, FaceFollower
from facemoji.stream.yuv import YuvFrame
from videos import astronaut_crop, background, paste

FPS = 30


def iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def frame_with(squares: list[tuple[int, int, int]], size=(640, 480)) -> np.ndarray:
    img = background((size[1], size[0]), 1)
    face = astronaut_crop()
    for sq in squares:
        paste(img, face, sq)
    return img


@pytest.mark.parametrize("as_yuv", [False, True])
def test_a_focused_detection_finds_the_face_where_a_whole_scan_does(pipeline, as_yuv) -> None:
    img = frame_with([(380, 150, 150)])
    frame = YuvFrame.from_rgb(img) if as_yuv else img
    follower = FaceFollower(pipeline, detect_every=3)
    follower.step(frame, 0.0)  # a whole-frame scan starts the track
    assert follower.scans == 1 and len(follower.tracker.tracks) == 1
    near = follower.detect_near(frame, 1 / FPS)
    whole = follower.detect(frame)
    assert near is not None and len(near) == len(whole) == 1
    assert iou(near[0].box, whole[0].box) > 0.85
    # the window is a small part of the frame, and the detector's picture of it is small
    (x0, y0, x1, y1, scale), = follower.focus_windows(640, 480, 1 / FPS)
    assert (x1 - x0) * (y1 - y0) < 0.25 * 640 * 480
    assert max(x1 - x0, y1 - y0) * scale < pipeline.detector.size / 2


def test_only_changed_parts_are_looked_at_between_whole_frame_scans(pipeline) -> None:
    still = [frame_with([(380, 150, 150)])] * 30
    follower = FaceFollower(pipeline, detect_every=3)
    detections = 0
    for i, img in enumerate(still):
        faces = follower.step(img, i / FPS)
        detections += follower.detected_at == i / FPS
        assert len(faces) == 1
    # nothing changed away from the face: whole scans at frames 0, 12 and 24 only, and the other detections
    # looked near the face only
    assert follower.full_every == 12 and follower.scans == 3 and follower.region_scans == 0
    assert detections >= 10
    # a grey block wandering over the background (no face): the parts it changed are looked at, at every
    # detection, and still no whole scan
    moving = FaceFollower(pipeline, detect_every=3)
    for i, img in enumerate(still):
        img = img.copy()
        img[300:360, 20 + 8 * i : 80 + 8 * i] = 128
        assert len(moving.step(img, i / FPS)) == 1
    assert moving.scans == 3 and moving.region_scans >= 6
    # the whole picture changing (a camera moving): every detection scans the whole frame
    panning = FaceFollower(pipeline, detect_every=3)
    for i, img in enumerate(still):
        img = np.roll(img, 6 * i, axis=1)
        panning.step(img, i / FPS)
    assert panning.scans >= 9
    # with focus off, every detection scans the whole frame
    plain = FaceFollower(pipeline, detect_every=3, coverage=replace(DEFAULT_COVERAGE, focus=False))
    plain_detections = 0
    for i, img in enumerate(still):
        plain.step(img, i / FPS)
        plain_detections += plain.detected_at == i / FPS
    assert plain.scans == plain_detections >= 10


def test_a_new_face_away_from_the_tracked_one_is_found_by_the_next_scan(pipeline) -> None:
    one = frame_with([(40, 150, 150)])
    two = frame_with([(40, 150, 150), (440, 200, 150)])
    follower = FaceFollower(pipeline, detect_every=3)
    found_at = None
    for i in range(30):
        faces = follower.step(one if i < 8 else two, i / FPS)
        if found_at is None and len(faces) == 2:
            found_at = i
    # the new face changed the picture away from the tracked one: the next detection (frame 9) looks there
    assert found_at is not None and found_at <= 8 + follower.detect_every
    assert len(follower.tracker.tracks) == 2


def test_strict_scans_the_whole_frame_every_time(pipeline) -> None:
    img = frame_with([(380, 150, 150)])
    follower = FaceFollower(pipeline, detect_every=3, coverage=STRICT_COVERAGE)
    for i in range(6):
        follower.step(img, i / FPS)
    assert follower.scans == 6


def test_after_a_cut_the_new_face_elsewhere_is_found_within_three_frames(pipeline) -> None:
    """A tracked face missing from its window makes the next detection scan the whole frame."""
    before = frame_with([(40, 150, 150)])
    after = frame_with([(440, 200, 150)])
    cut = 7  # right after the scan of frame 6: the next scheduled scan would be at frame 12
    follower = FaceFollower(pipeline, detect_every=3)
    found_at = None
    for i in range(20):
        faces = follower.step(before if i < cut else after, i / FPS)
        if i >= cut and found_at is None and any(f.box[0] > 400 for f in faces):
            found_at = i
    assert found_at is not None and found_at - cut <= 3


def test_windows_merge_only_where_that_shows_the_detector_no_more_pixels() -> None:
    from facemoji.stream.regions import cost, merge

    # two overlapping windows at one scale: one window around both costs less than the two apart
    same = merge([[0, 0, 100, 100, 0.5], [50, 0, 150, 100, 0.5]])
    assert same == [[0, 0, 150, 100, 0.5]]
    # a small face's window at full scale beside a large face's at a third: merged, the large face's whole
    # neighbourhood would be shown at full scale (about 4 times the pixels), so they stay apart
    small, large = [270, 170, 390, 290, 1.0], [305, 75, 605, 375, 0.32]
    assert merge([small, large]) == [small, large]
    both = [270, 75, 605, 375, 1.0]
    assert cost(both) > 4 * (cost(small) + cost(large))
    # windows that do not meet never merge; a chain of cheap merges still ends in one window
    assert len(merge([[0, 0, 10, 10, 1.0], [20, 0, 30, 10, 1.0]])) == 2
    assert len(merge([[0, 0, 100, 100, 0.5], [60, 0, 160, 100, 0.5], [120, 0, 220, 100, 0.5]])) == 1


def test_faces_of_different_sizes_side_by_side_are_each_found_once_in_their_own_window(pipeline) -> None:
    squares = [(380, 150, 150), (335, 200, 60)]  # a small face just left of a large one, their windows overlapping
    img = frame_with(squares)
    follower = FaceFollower(pipeline, detect_every=3)
    follower.step(img, 0.0)
    assert len(follower.tracker.tracks) == 2
    from facemoji.stream.regions import meet

    wins = follower.focus_windows(640, 480, 1 / FPS)
    assert len(wins) == 2 and meet(*wins) and wins[0][4] != wins[1][4]  # they meet, but are looked at apart
    near = follower.detect_near(img, 1 / FPS)
    assert near is not None and len(near) == 2  # a face in both windows is kept once, and whole
    whole = follower.detect(img)
    assert len(whole) == 2
    for f in whole:
        assert max(iou(f.box, g.box) for g in near) > 0.8


def test_covers_reach_past_the_detectors_box_more_so_in_strict(pipeline) -> None:
    """The detector's box runs from the brows to the chin: the cover reaches a tenth of the face further on every
    side (a bowed head's forehead), with --strict more."""
    img = frame_with([(380, 150, 150)])
    reach = {}
    for name, coverage in (("default", DEFAULT_COVERAGE), ("strict", STRICT_COVERAGE)):
        follower = FaceFollower(pipeline, detect_every=3, coverage=coverage)
        for i in range(3):
            faces = follower.step(img, i / FPS)
        (face,) = follower.shown(faces)
        (covered,) = follower.cover([face])
        side = face.box[2] - face.box[0]
        reach[name] = min(face.box[0] - covered.box[0], face.box[1] - covered.box[1],
                          covered.box[2] - face.box[2], covered.box[3] - face.box[3]) / side
    assert reach["default"] >= 0.1 - 1e-6 and reach["strict"] > reach["default"]
