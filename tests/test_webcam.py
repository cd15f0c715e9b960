"""``facemoji webcam`` on machines without a camera: a video file stands in for it (--source)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import interrupt_at_frame
from videos import astronaut_crop, core_box, covered_fraction, make_clip, pan, read_frames

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("cam") / "cam.mp4", [astronaut_crop()], pan, frames=30, fps=15)


def webcam(*args: str, display: bool = False, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if not display:
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "facemoji", "webcam", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=cwd)


def test_headless_source_with_recording(clip, tmp_path) -> None:
    out = tmp_path / "session.mp4"
    r = webcam("--source", str(clip.path), "--headless", "--max-frames", "20", "--record", str(out))
    assert r.returncode == 0, r.stderr
    assert "after 20 frames" in r.stderr and "1 face(s) tracked" in r.stderr and "Traceback" not in r.stderr
    frames = read_frames(out)
    assert len(frames) == 20 and frames[0].shape == (480, 640, 3)
    originals = read_frames(clip.path)
    for i, img in enumerate(frames):
        assert covered_fraction(img, originals[i], core_box(clip.truth[i][0])) > 0.85, f"frame {i}"
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_no_display_means_headless_and_the_source_end_stops_cleanly(clip, tmp_path) -> None:
    """Without --headless and without a display it runs to the end of the file (30 frames)."""
    r = webcam("--source", str(clip.path), "--mode", "both", "--record", str(tmp_path / "b.mp4"))
    assert r.returncode == 0, r.stderr
    assert "end of source" in r.stderr and "after 30 frames" in r.stderr
    frames = read_frames(tmp_path / "b.mp4")
    assert len(frames) == 30
    # the recording's timing follows the source: 30 frames over 2 s
    import av

    with av.open(str(tmp_path / "b.mp4")) as c:
        times = [float(f.time) for f in c.decode(video=0)]
    assert np.allclose(np.diff(times), 1 / 15, atol=2e-3)


def test_missing_camera_is_a_clean_error() -> None:
    r = webcam("--camera", "63", "--headless", "--max-frames", "5")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facemoji: error: camera 63: no camera"), r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "no-such-clip.mp4"], "no such file"),
        (["--camera", "-1"], "start at 0"),
        (["--max-frames", "0"], "--max-frames"),
        (["--record", "missing-folder/out.mp4"], "does not exist"),
        (["--snapshot-dir", "missing-folder"], "no such folder"),
    ],
)
def test_bad_arguments(args: list[str], message: str, tmp_path) -> None:
    r = webcam(*args, "--headless", cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facemoji: error: ") and message in lines[0], r.stderr
    assert list(tmp_path.iterdir()) == []


def test_keys_switch_mode_save_snapshots_and_quit(tmp_path, astronaut) -> None:
    from facemoji.cli.webcam import QUIT, handle_key

    assert handle_key(ord("m"), "emoji", astronaut, tmp_path) == "boxes"
    assert handle_key(ord("m"), "boxes", astronaut, tmp_path) == "both"
    assert handle_key(ord("M"), "both", astronaut, tmp_path) == "emoji"
    assert handle_key(ord("q"), "emoji", astronaut, tmp_path) is QUIT
    assert handle_key(27, "both", astronaut, tmp_path) is QUIT
    assert handle_key(ord("x"), "both", astronaut, tmp_path) == "both"
    assert list(tmp_path.iterdir()) == []
    assert handle_key(ord("s"), "emoji", astronaut, tmp_path) == "emoji"
    shots = list(tmp_path.glob("facemoji-*.png"))
    assert len(shots) == 1
    from facemoji.imageio import read_image

    assert np.array_equal(read_image(shots[0]), astronaut)


def test_ctrl_c_ends_the_session_and_keeps_a_complete_recording(tmp_path) -> None:
    """Ctrl-C while frame 31 is being worked on: that frame is finished and recorded, then the session ends."""
    from videos import render_frames, write_video

    frames, _ = render_frames([astronaut_crop()], lambda i, t: [(100 + 3 * (i % 100), 120, 180)], 60, 30)
    src = write_video(tmp_path / "long.mp4", frames * 5, 30)
    out = tmp_path / "rec.mp4"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    code, err = interrupt_at_frame(["webcam", "--source", src, "--record", out, "--detect-every", "1"], 30,
                                   tmp_path.parent / f"{tmp_path.name}.paused", env=env)
    assert code == 130, err
    assert "stopped (Ctrl-C) after 31 frames" in err and "recording saved" in err and "Traceback" not in err
    assert len(read_frames(out)) == 31
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


class ScriptedWindow:
    """Stands in for the OpenCV window: records what it is shown and answers key presses from a script."""

    def __init__(self, keys: dict[int, str | None], clock) -> None:
        self.keys = keys
        self.clock = clock
        self.enabled = True
        self.shown: list[tuple[np.ndarray, str, float]] = []
        self.closed = False

    def __call__(self, headless: bool) -> ScriptedWindow:  # used in place of the Display class
        assert not headless
        return self

    def show(self, rgb: np.ndarray, fps: float, mode: str, *rest: object) -> int | None:
        self.shown.append((rgb.copy(), mode, self.clock()))
        key = self.keys.get(len(self.shown) - 1, "")
        if key is None:
            return None  # the window was closed
        return ord(key) if key else -1

    def close(self) -> None:
        self.closed = True


def run_window(monkeypatch, keys: dict[int, str | None], *args: str) -> tuple[int, ScriptedWindow]:
    import time

    import facemoji.cli.webcam as webcam
    from facemoji.cli import main

    window = ScriptedWindow(keys, time.perf_counter)
    monkeypatch.setattr(webcam, "Display", window)
    monkeypatch.setattr(webcam, "has_display", lambda: True)
    return main(["webcam", *args]), window


def test_window_keys_switch_mode_snapshot_and_quit(clip, tmp_path, monkeypatch, capsys) -> None:
    """In the window: m at frame 3 and 6 (emoji -> boxes -> both), s at frame 4, q at frame 8."""
    code, window = run_window(monkeypatch, {3: "m", 4: "s", 6: "m", 8: "q"}, "--source", str(clip.path),
                              "--record", str(tmp_path / "rec.mp4"), "--snapshot-dir", str(tmp_path))
    err = capsys.readouterr().err
    assert code == 0, err
    assert "stopped (quit) after 9 frames" in err
    assert [m for _, m, _ in window.shown] == ["emoji"] * 4 + ["boxes"] * 3 + ["both"] * 2
    assert window.closed
    recorded = read_frames(tmp_path / "rec.mp4")
    assert len(recorded) == 9
    originals = read_frames(clip.path)
    for i in range(9):
        core = covered_fraction(recorded[i], originals[i], core_box(clip.truth[i][0]))
        if i <= 3 or i >= 7:  # emoji, then both: the face is hidden
            assert core > 0.85, (i, core)
        else:  # boxes: the face stays visible inside its frame
            assert core < 0.3, (i, core)
    shots = sorted(tmp_path.glob("facemoji-*.png"))
    assert len(shots) == 1 and "snapshot saved" in err
    from facemoji.imageio import read_image

    assert np.array_equal(read_image(shots[0]), window.shown[4][0])  # the emojified frame the key was pressed on


def test_closing_the_window_ends_the_session(clip, tmp_path, monkeypatch, capsys) -> None:
    code, window = run_window(monkeypatch, {5: None}, "--source", str(clip.path))
    assert code == 0
    assert "stopped (window closed) after 6 frames" in capsys.readouterr().err
    assert len(window.shown) == 6


def test_window_plays_a_file_at_its_own_speed(tmp_path, monkeypatch, capsys) -> None:
    """A file shown in the window is paced by its timestamps: frame k is not shown before k/fps seconds after the
    session's start (a machine can only be late, never early). Tiny faceless frames: unpaced, all 30 would be
    shown within a fraction of the clip's second."""
    import time
    import types

    import facemoji.cli.webcam as webcam
    from videos import write_video

    readings: list[float] = []

    def perf_counter() -> float:
        readings.append(time.perf_counter())
        return readings[-1]

    # the session's own clock, read first when the session starts
    monkeypatch.setattr(webcam, "time", types.SimpleNamespace(perf_counter=perf_counter, sleep=time.sleep))
    frames = [np.full((48, 64, 3), 40 + 6 * i, np.uint8) for i in range(30)]
    src = write_video(tmp_path / "small.mp4", frames, 30, audio=None)
    code, window = run_window(monkeypatch, {}, "--source", str(src))
    assert code == 0, capsys.readouterr().err
    start = readings[0]
    shown = [t - start for _, _, t in window.shown]
    assert len(shown) == 30
    for k, t in enumerate(shown):
        assert t >= k / 30 - 1e-3, (k, t)
    assert shown[-1] >= 29 / 30 - 1e-3
