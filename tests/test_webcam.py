"""``facemoji webcam`` on machines without a camera: a video file stands in for it (--source)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import popen_for_ctrl_c
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
    import signal
    import time

    from videos import render_frames, write_video

    frames, _ = render_frames([astronaut_crop()], lambda i, t: [(100 + 3 * (i % 100), 120, 180)], 60, 30)
    src = write_video(tmp_path / "long.mp4", frames * 5, 30)
    out = tmp_path / "rec.mp4"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = popen_for_ctrl_c([sys.executable, "-m", "facemoji", "webcam", "--source", str(src), "--record", str(out),
                             "--detect-every", "1"], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not [p for p in tmp_path.iterdir() if ".part" in p.name] and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopped (Ctrl-C) after" in err and "recording saved" in err and "Traceback" not in err
    n = int(err.split("stopped (Ctrl-C) after ")[1].split()[0])
    assert 0 < n < 300
    assert len(read_frames(out)) == n
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]
