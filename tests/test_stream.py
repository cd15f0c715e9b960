"""One frame loop: video files, cameras and the videos of a batch all run through :class:`facemoji.stream.FrameLoop`.

Each test runs a front end for real on a real clip and counts the frames the loop handed on (the loop's own run,
wrapped to record what it returns): the video command, the camera window (with a file as its source, headless)
and a batch worker each drive it once per video, over every frame.
"""

from __future__ import annotations

import pytest

from facemoji.cli import main
from facemoji.stream import FaceFollower, FrameLoop
from facemoji.stream.loop import LoopStats


@pytest.fixture
def loop_runs(monkeypatch) -> list[LoopStats]:
    runs: list[LoopStats] = []
    real = FrameLoop.run

    def run(self, frames, max_frames=None):
        stats = real(self, frames, max_frames)
        runs.append(stats)
        return stats

    monkeypatch.setattr(FrameLoop, "run", run)
    return runs


def test_video_runs_on_the_frame_loop(pan_clip, tmp_path, loop_runs) -> None:
    assert main(["video", str(pan_clip.path), "-o", str(tmp_path / "out.mp4"), "-q"]) == 0
    assert [s.frames for s in loop_runs] == [pan_clip.frames] and loop_runs[0].faces > 0


def test_webcam_runs_on_the_frame_loop(pan_clip, tmp_path, loop_runs) -> None:
    rec = tmp_path / "rec.mp4"
    assert main(["webcam", "--source", str(pan_clip.path), "--headless", "--max-frames", "12", "--record",
                 str(rec), "-q", "--strict", "--cover", "solid"]) == 0
    assert [s.frames for s in loop_runs] == [12] and rec.is_file()


def test_batch_videos_run_on_the_frame_loop(pan_clip, tmp_path, loop_runs) -> None:
    from facemoji.batch.collect import Item
    from facemoji.batch.work import BatchConfig, Worker

    item = Item(str(pan_clip.path), "pan.mp4", "video", pan_clip.path.stat().st_size)
    row = Worker(BatchConfig(outdir=str(tmp_path))).run(item)
    assert row["status"] == "ok", row
    assert [s.frames for s in loop_runs] == [pan_clip.frames]


def test_frames_leave_the_loop_in_order_and_late(pipeline) -> None:
    """Frames come out in order, all of them, two behind the frames going in; a sink that says stop stops it."""
    from videos import astronaut_crop, background, paste

    img = background((240, 320), 1)
    paste(img, astronaut_crop(), (100, 40, 120))
    frames = [type("F", (), {"index": i, "time": i / 30, "image": img})() for i in range(8)]

    class Sink:
        def __init__(self, stop_after: int | None = None) -> None:
            self.seen: list[int] = []
            self.taken_then: list[int] = []
            self.stop_after = stop_after
            self.stopped_by = "test"

        def write(self, frame, image, faces) -> bool:
            self.seen.append(frame.index)
            self.taken_then.append(loop.stats.taken)
            return self.stop_after is None or len(self.seen) < self.stop_after

    sink = Sink()
    loop = FrameLoop(FaceFollower(pipeline, 3), sinks=[sink])
    stats = loop.run(frames)
    assert sink.seen == list(range(8)) and stats.frames == 8
    assert sink.taken_then[:6] == [3, 4, 5, 6, 7, 8]  # each frame went out once two more had come in
    stopper = Sink(stop_after=3)
    loop = FrameLoop(FaceFollower(pipeline, 3), sinks=[stopper])
    assert loop.run(frames).stopped_by == "test" and stopper.seen == [0, 1, 2]


def test_a_new_face_is_covered_from_its_first_frame(pipeline) -> None:
    """A face that comes into view is drawn on the frame it first shows on (the frame is still in hand when the
    next detection confirms the track), and on every frame after."""
    from facemoji.types import Face
    from videos import astronaut_crop, background, paste

    empty = background((240, 320), 1)
    with_face = empty.copy()
    paste(with_face, astronaut_crop(), (100, 40, 120))
    frames = [type("F", (), {"index": i, "time": i / 30, "image": empty if i < 4 else with_face})()
              for i in range(10)]
    shown: dict[int, list[Face]] = {}
    loop = FrameLoop(FaceFollower(pipeline, 3), draw=False, on_frame=lambda i, t, f: shown.__setitem__(i, f))
    loop.run(frames)
    assert all(not shown[i] for i in range(4))
    assert all(len(shown[i]) == 1 for i in range(4, 10)), shown


def test_the_audit_of_facemoji_itself_runs_on_the_frame_loop(pan_clip, tmp_path, loop_runs) -> None:
    """``facemoji audit CLIP``: the clip covered in memory through the loop, each frame audited, nothing written."""
    import json

    report = tmp_path / "audit.json"
    assert main(["audit", str(pan_clip.path), "-q", "--json", str(report)]) == 0
    rep = json.loads(report.read_text())
    assert [s.frames for s in loop_runs] == [pan_clip.frames] and rep["frames"] == pan_clip.frames
    assert rep["faces"] >= pan_clip.frames // 2 and rep["showing"] == 0 and rep["covers"] >= rep["faces"] // 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.json"]
    # given with a covered file, --strict is refused: it says how facemoji itself covers
    assert main(["audit", str(pan_clip.path), str(pan_clip.path), "--strict", "-q"]) == 2
