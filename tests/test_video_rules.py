"""``process_video`` as the Python API gives it, on a real clip cut short: refused unless asked to keep the readable
part (the command line's ``--allow-truncated``, tested in ``test_video.py``, passes the choice explicitly)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED
from facemoji.errors import InputError
from facemoji.pipeline import Pipeline
from facemoji.video import process_video

CLIP = SHARED / "clips" / "zwm_tearsofsteel_cuts.mp4"  # 240 frames


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CLIP.exists():
        pytest.skip(f"{CLIP} is not here")
    import av

    d = tmp_path_factory.mktemp("cut")
    whole = d / "faststart.mp4"  # the index first, as phones and the web write it, so that a cut file still opens
    with av.open(str(CLIP)) as src, av.open(str(whole), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    p = d / "cut.mp4"
    data = whole.read_bytes()
    p.write_bytes(data[: len(data) * 2 // 5])
    return p


def test_a_clip_cut_short_is_refused_by_default(cut: Path) -> None:
    pipe = Pipeline(model="fast", threads=1)
    with pytest.raises(InputError, match="truncated or corrupt"):
        process_video(cut, None, pipe, progress=False)
    report = process_video(cut, None, pipe, progress=False, allow_truncated=True)
    assert 0 < report.frames < 200 and report.frame_count == 240


def test_a_file_may_lose_two_frames_of_its_count_but_not_three() -> None:
    from types import SimpleNamespace

    from facemoji.video.process import _check_complete

    def source(count: int, exact: bool = True, duration: float = 1.0):
        reader = SimpleNamespace(frame_count=count, frame_count_exact=exact, video_duration=duration)
        return SimpleNamespace(name="clip.mp4", reader=reader)

    _check_complete(source(30), 28, 0.93, 1 / 30)  # two frames short: the last packets of many encoders
    with pytest.raises(InputError, match="announces 30 frames but only 27"):
        _check_complete(source(30), 27, 0.9, 1 / 30)
    _check_complete(source(1000), 960, 32.0, 1 / 30)  # 96 % of a long file: kept
    with pytest.raises(InputError, match="announces 10.0 s but frames stop at 7.0 s"):
        _check_complete(source(300, exact=False, duration=10.0), 210, 7.0, 1 / 30)
    _check_complete(source(300, exact=False, duration=10.0), 270, 9.0, 1 / 30)
    _check_complete(SimpleNamespace(name="rtsp://cam/1", reader=source(30).reader), 3, 0.1, 1 / 30)  # a stream
