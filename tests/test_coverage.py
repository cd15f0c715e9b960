"""Hard moving faces stay covered: ``facemoji video`` then ``facemoji audit`` on composed clips.

The clips (see ``hard_faces.py``) put scikit-image's astronaut through what
real footage does to a face detector: a zoom until the face fills the frame,
a turn towards profile, two faces crossing (once, and three times back and
forth), a fast motion-blurred pan that brings the face in and out through the
frame's edges (and a faster one). The audit, which uses
OpenCV's Haar cascades rather than facemoji's own detector, must find no face
showing in facemoji's output, and must find the faces in an untouched copy
(so each test would fail if the covering failed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facemoji.cli import main
from hard_faces import CLIPS, FPS, HARDER, clip_frames, make_hard_clip
from videos import read_frames, write_video

pytestmark = pytest.mark.timeout(300)

AUDIT = ("--min-face", "40")  # the clips' faces are larger; skipping small scales keeps the audit quick


@pytest.fixture(scope="module")
def hard_clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hard")
    return {name: make_hard_clip(name, folder) for name in [*CLIPS, *HARDER]}


def audit(original: Path, output: Path, report: Path, *extra: str) -> tuple[int, dict]:
    rc = main(["audit", str(original), str(output), "--json", str(report), "-q", *AUDIT, *extra])
    return rc, json.loads(report.read_text())


def untouched_copy(src: Path, dst: Path) -> Path:
    """The original decoded and encoded again: what an output that covers nothing looks like, codec noise included."""
    return write_video(dst, read_frames(src), FPS, audio=None)


@pytest.mark.parametrize("name", [*CLIPS, *HARDER])  # the harder two left faces showing before the cover led
def test_emoji_video_leaves_no_face_showing(hard_clips, tmp_path, name) -> None:
    src = hard_clips[name]
    out = tmp_path / f"{name}.facemoji.mp4"
    assert main(["video", str(src), "-o", str(out), "-q"]) == 0
    rc, rep = audit(src, out, tmp_path / "audit.json")
    assert rep["faces"] >= 5, f"the independent detector should see the face in several frames of {name}"
    assert rep["findings"] == [], f"{name}: faces left showing: {rep['findings']}"
    assert rep["clean"] and rc == 0

    # the same audit on an untouched copy finds faces showing: the check above can fail
    copy = untouched_copy(src, tmp_path / f"{name}.copy.mp4")
    rc, rep = audit(src, copy, tmp_path / "copy.json", "--every", "2")
    assert rc == 3 and not rep["clean"]
    assert rep["showing"] == rep["faces"] >= 2
    assert min(f["showing"] for f in rep["findings"]) > 0.9  # codec noise stays under the tolerance


def test_strict_covers_the_turning_face_too(hard_clips, tmp_path) -> None:
    src = hard_clips["turn"]
    out = tmp_path / "turn.strict.mp4"
    assert main(["video", str(src), "-o", str(out), "-q", "--strict"]) == 0
    rc, rep = audit(src, out, tmp_path / "audit.json")
    assert rep["faces"] >= 8
    assert rc == 0, rep["findings"]


def test_a_cover_that_trails_is_reported(hard_clips, tmp_path) -> None:
    """Covering the pan's face where it was two frames earlier (a lagging cover) leaves part of it showing."""
    from facemoji.detect.haar import HaarFaces

    src = hard_clips["pan"]
    frames = read_frames(src)
    det = HaarFaces(min_size=40)
    boxes = [det.find(f) for f in frames]
    out = [f.copy() for f in frames]
    for i in range(len(frames)):
        for hit in boxes[i - 2] if i >= 2 else []:  # the cover two frames late
            x1, y1, x2, y2 = (int(v) for v in hit.box)
            out[i][max(0, y1):y2, max(0, x1):x2] = (255, 200, 0)
    lagging = write_video(tmp_path / "lagging.mp4", out, FPS, audio=None)
    rc, rep = audit(src, lagging, tmp_path / "audit.json")
    assert rc == 3
    late = [f for f in rep["findings"] if boxes[f["frame"] - 2]]
    assert len(late) >= 4 and all(0.25 < f["showing"] < 0.9 for f in late)  # partly covered, and measured so


def test_detection_runs_every_frame_only_while_faces_move_fast(hard_clips, pipeline) -> None:
    """A still face is detected every third frame; a face in a fast pan on every frame it is seen."""
    from facemoji.stream import FaceFollower

    def detected_frames(frames: list[np.ndarray]) -> list[int]:
        follower = FaceFollower(pipeline, detect_every=3)
        hits = []
        for i, img in enumerate(frames):
            follower.step(img, i / FPS)
            if follower.detected_at == i / FPS:
                hits.append(i)
        return hits

    still = clip_frames("grow")[20:21] * 15  # one frame of the zoom, held
    assert detected_frames(still) == [0, 1, 3, 6, 9, 12]  # frame 1: the new face's speed is not known yet
    pan = clip_frames("pan")
    seen = detected_frames(pan)
    first = next(i for i in seen if i % 3)  # the face entered and detection went on to every frame
    assert set(range(first, 30)) <= set(seen)
