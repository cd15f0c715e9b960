"""Emotion smoothing against classifiers whose per-frame answers really do flicker.

The classifier's probabilities are replaced by a known sequence that swaps its top class on every detection, so
the raw label flickers by construction; the shown label must change far less, in the tracker itself and on the
whole video path (decode, detect, track, render), and a real change of expression must still come through.
"""

from __future__ import annotations

import numpy as np
import pytest

from facemoji.labels import EMOTIONS
from facemoji.pipeline import Pipeline
from facemoji.stream.track import EmotionSmoother, Tracker
from facemoji.types import Face
from facemoji.video import process_video
from videos import astronaut_crop, make_clip, read_frames, still

HAPPY, SURPRISE = EMOTIONS.index("happy"), EMOTIONS.index("surprise")


def probs(top: int, second: int, p_top: float = 0.55, p_second: float = 0.40) -> np.ndarray:
    p = np.full(len(EMOTIONS), (1 - p_top - p_second) / (len(EMOTIONS) - 2))
    p[top], p[second] = p_top, p_second
    return p


def flicker(n: int, a: int = HAPPY, b: int = SURPRISE) -> list[np.ndarray]:
    """``n`` frames whose top class alternates a, b, a, b ... (close, but a clear winner on each frame)."""
    return [probs(a, b) if i % 2 == 0 else probs(b, a) for i in range(n)]


def changes(labels: list) -> int:
    return sum(x != y for x, y in zip(labels, labels[1:], strict=False))


def raw_labels(seq: list[np.ndarray]) -> list[str]:
    return [EMOTIONS[int(np.argmax(p))] for p in seq]


def test_smoother_holds_a_flickering_label_steady() -> None:
    seq = flicker(60)
    assert changes(raw_labels(seq)) == 59  # the premise: the raw label changes on every frame
    sm = EmotionSmoother()
    shown = [sm.update(p, i / 15) for i, p in enumerate(seq)]
    assert changes(shown) == 0, shown
    assert shown[0] == "happy"


def test_smoother_ignores_single_frame_blips_but_follows_a_real_change() -> None:
    fps = 30
    seq = [probs(HAPPY, SURPRISE, 0.8, 0.1) for _ in range(60)]
    for i in (10, 20, 21, 35):  # blips of one or two frames
        seq[i] = probs(SURPRISE, HAPPY, 0.9, 0.05)
    seq += [probs(SURPRISE, HAPPY, 0.8, 0.1) for _ in range(30)]  # the expression really changes at frame 60
    sm = EmotionSmoother()
    shown = [sm.update(p, i / fps) for i, p in enumerate(seq)]
    assert changes(raw_labels(seq)) == 7
    assert shown[:60] == ["happy"] * 60, shown
    switch = shown.index("surprise")
    assert 60 < switch <= 60 + 0.5 * fps  # within half a second
    assert shown[switch:] == ["surprise"] * (len(shown) - switch)


def test_smoothing_is_frame_rate_independent() -> None:
    """The same two seconds seen at 10 and at 60 frames/s switch at about the same moment."""
    def switch_time(fps: int) -> float:
        sm = EmotionSmoother()
        for i in range(2 * fps):
            t = i / fps
            if sm.update(probs(HAPPY if t < 1 else SURPRISE, SURPRISE if t < 1 else HAPPY, 0.8, 0.1), t) == "surprise":
                return t
        raise AssertionError("never switched")

    a, b = switch_time(10), switch_time(60)
    assert 1.0 < a <= 1.5 and 1.0 < b <= 1.5
    assert abs(a - b) <= 0.1 + 1e-9


def test_tracker_shows_the_smoothed_label_not_each_frames_raw_one() -> None:
    """Two faces, each flickering between two classes at its own phase: every track's label stays put."""
    tracker = Tracker()
    seq_a, seq_b = flicker(40), flicker(40, EMOTIONS.index("sad"), EMOTIONS.index("neutral"))
    shown: dict[int, list[str]] = {}
    for i in range(40):
        dets = [
            Face(box=(100 + i, 100, 200 + i, 220), emotion=raw_labels([seq_a[i]])[0],
                 probabilities=dict(zip(EMOTIONS, seq_a[i].tolist(), strict=True))),
            Face(box=(400 - i, 150, 480 - i, 250), emotion=raw_labels([seq_b[i]])[0],
                 probabilities=dict(zip(EMOTIONS, seq_b[i].tolist(), strict=True))),
        ]
        for f in tracker.update(dets, i / 15):
            shown.setdefault(f.track_id, []).append(f.emotion)
            assert abs(sum(f.probabilities.values()) - 1) < 1e-6
    assert sorted(shown) == [1, 2]
    assert shown[1] == ["happy"] * 40 and shown[2] == ["sad"] * 40, shown


class ScriptedPipeline(Pipeline):
    """The real detector, tracker and renderer; the classifier's answers come from a script, one per detection."""

    def __init__(self, script: list[np.ndarray]) -> None:
        super().__init__()
        self.script = script
        self.calls = 0

    def classify(self, image: np.ndarray, faces: list[Face], mirrored: bool = False) -> np.ndarray:
        out = []  # the script stands for both views alike
        for f in faces:
            p = self.script[min(self.calls, len(self.script) - 1)]
            self.calls += 1
            f.probabilities = dict(zip(self.classes, p.tolist(), strict=True))
            f.emotion = self.classes[int(np.argmax(p))]
            out.append(p)
        return np.array(out)


@pytest.fixture(scope="module")
def still_clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("smooth") / "still.mp4", [astronaut_crop()], still, frames=40, fps=15,
                     audio=None)


def test_video_path_smooths_a_flickering_classifier(still_clip, tmp_path) -> None:
    """Every detection's raw label flips; the emoji drawn into the video and the records stay one emotion."""
    pipe = ScriptedPipeline(flicker(40))
    tracked: list[list[Face]] = []
    report = process_video(still_clip.path, tmp_path / "out.mp4", pipe, detect_every=1, progress=False,
                           on_frame=lambda i, t, faces: tracked.append(faces))
    shown = [f.emotion for faces in tracked for f in faces]
    assert pipe.calls == 40 and len(shown) == 40  # one face classified on every frame
    assert changes(raw_labels(flicker(40))) == 39
    assert changes(shown) == 0 and shown[0] == "happy", shown
    assert report.timeline.changes(1) == 0
    # the pictures agree: every output frame carries the happy emoji, never the surprised one
    inputs, outputs = read_frames(still_clip.path), read_frames(tmp_path / "out.mp4")
    x, y, side = still_clip.truth[0][0]
    core = (slice(y + side // 4, y + 3 * side // 4), slice(x + side // 4, x + 3 * side // 4))
    def dist(inp: np.ndarray, out: np.ndarray, box: tuple, emotion: str) -> float:
        drawn = pipe.render(inp, [Face(box=box, emotion=emotion)])
        return float(np.abs(drawn[core].astype(np.int16) - out[core]).mean())

    from facemoji.stream.coverage import COVER_PAD

    for i, (inp, out, faces) in enumerate(zip(inputs, outputs, tracked, strict=True)):
        x1, y1, x2, y2 = faces[0].box  # the tracked box; the cover reaches COVER_PAD of it further on every side
        w, h = x2 - x1, y2 - y1
        box = (x1 - COVER_PAD * w, y1 - COVER_PAD * h, x2 + COVER_PAD * w, y2 + COVER_PAD * h)
        assert dist(inp, out, box, "happy") < 0.5 * dist(inp, out, box, "surprise"), f"frame {i}"


def test_video_path_follows_a_real_change(still_clip) -> None:
    """Happy for 20 detections, then surprise: the shown label switches once, within half a second."""
    script = [probs(HAPPY, SURPRISE, 0.8, 0.1)] * 20 + [probs(SURPRISE, HAPPY, 0.8, 0.1)] * 20
    pipe = ScriptedPipeline(script)
    shown: list[str] = []
    process_video(still_clip.path, None, pipe, detect_every=1, progress=False,
                  on_frame=lambda i, t, faces: shown.extend(f.emotion for f in faces))
    assert changes(shown) == 1, shown
    assert shown[19] == "happy" and 20 < shown.index("surprise") <= 20 + 0.5 * 15
