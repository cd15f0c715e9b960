"""open_source: images, folders, videos (rotated ones too) and cameras, all yielding frames the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import facemoji
from facemoji.errors import InputError
from facemoji.imageio import write_image
from facemoji.sources import Frame, ImageSource, VideoSource, open_source
from videos import astronaut_crop, pan, write_video


def test_video_source_metadata_and_frames(pan_clip) -> None:
    with open_source(pan_clip.path) as src:
        assert isinstance(src, VideoSource)
        assert src.fps == pytest.approx(15)
        assert src.size == (640, 480)
        assert src.frame_count == 30
        frames = list(src)
    assert len(frames) == 30
    assert all(isinstance(f, Frame) for f in frames)
    assert [f.index for f in frames] == list(range(30))
    assert frames[0].time == 0.0
    assert np.allclose(np.diff([f.time for f in frames]), 1 / 15, atol=1e-3)
    assert frames[5].image.shape == (480, 640, 3) and frames[5].image.dtype == np.uint8
    # the face was pasted at a known place: the frame there looks like the astronaut, not the background
    x, y, side = pan_clip.truth[0][0]
    patch = frames[0].image[y + side // 3 : y + side // 2, x + side // 3 : x + side // 2].astype(float)
    assert patch[..., 0].mean() > patch[..., 2].mean() + 20  # skin: more red than blue; the background is bluish


def test_rotated_video_comes_out_upright(tmp_path) -> None:
    """A phone video stored sideways with a display rotation is read the right way up."""
    upright = np.zeros((96, 64, 3), np.uint8)
    upright[:20] = (255, 0, 0)  # red band at the top
    stored = np.ascontiguousarray(np.rot90(upright, -1))  # what a sideways sensor records: 64 high, 96 wide
    path = write_video(tmp_path / "phone.mov", [stored] * 4, 10, audio=None, rotation=90)
    with open_source(path) as src:
        assert src.size == (64, 96)
        img = next(iter(src)).image
    assert img.shape == (96, 64, 3)
    assert img[:15, :, 0].mean() > 200 and img[:15, :, 1].mean() < 60
    assert img[-30:, :, 0].mean() < 40


def test_image_file_and_folder(tmp_path, astronaut) -> None:
    one = tmp_path / "one.png"
    write_image(one, astronaut)
    src = open_source(one)
    assert isinstance(src, ImageSource) and src.size == (512, 512) and src.frame_count == 1
    frames = list(src)
    assert len(frames) == 1 and np.array_equal(frames[0].image, astronaut)

    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(3):
        write_image(folder / f"{i:02d}.jpg", np.ascontiguousarray(astronaut[:, ::-1] if i % 2 else astronaut))
    (folder / "notes.txt").write_text("not an image")
    src = open_source(folder, fps=2)
    frames = list(src)
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.time for f in frames] == [0.0, 0.5, 1.0]
    assert src.frame_count == 3


def test_frames_from_every_kind_work_with_the_pipeline(pan_clip, tmp_path, pipeline) -> None:
    """The same loop serves a video and a folder; the astronaut is found in both."""
    folder = tmp_path / "f"
    folder.mkdir()
    from videos import render_frames

    imgs, _ = render_frames([astronaut_crop()], pan, 30, 15)
    write_image(folder / "a.png", imgs[3])
    for where in (pan_clip.path, folder):
        with open_source(str(where)) as src:
            frame = next(iter(src))
            assert len(pipeline.analyze(frame.image)) == 1


def test_package_exports_open_source() -> None:
    assert facemoji.open_source is open_source


def _bad(d: Path, kind: str) -> Path:
    if kind == "missing":
        return d / "missing.mp4"
    if kind == "empty folder":
        (d / "empty").mkdir()
        return d / "empty"
    if kind == "zero bytes":
        (d / "zero.mp4").write_bytes(b"")
        return d / "zero.mp4"
    (d / "junk.mkv").write_bytes(bytes(range(256)) * 40)
    return d / "junk.mkv"


@pytest.mark.parametrize(
    ("kind", "message"),
    [("missing", "no such file"), ("empty folder", "holds no images"), ("zero bytes", "empty file"),
     ("junk", "not a video")],
)
def test_bad_sources_raise_one_line_errors(tmp_path: Path, kind: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        open_source(_bad(tmp_path, kind))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_missing_camera_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="camera 57: no camera"):
        open_source(57)
    with pytest.raises(InputError, match="camera 58"):
        open_source("58")


def test_stream_url(tmp_path) -> None:
    """An HTTP stream (served from this machine) is a source like any other, marked live."""
    import functools
    import http.server
    import threading

    from videos import render_frames

    frames, _ = render_frames([astronaut_crop()], pan, 12, 15, size=(320, 240))
    write_video(tmp_path / "live.mkv", frames, 15)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/live.mkv"
        with open_source(url) as src:
            assert src.kind == "stream" and src.live and src.frame_count is None
            assert src.size == (320, 240)
            got = list(src)
        assert len(got) == 12 and got[-1].time == pytest.approx(11 / 15, abs=1e-3)
        with pytest.raises(InputError, match="not a video|cannot open"):
            open_source(f"http://127.0.0.1:{server.server_address[1]}/missing.mkv")
    finally:
        server.shutdown()
