"""``process_video`` as the Python API gives it, on a real clip cut short: refused unless asked to keep the readable
part (the command line's ``--allow-truncated``, tested in ``test_video.py``, passes the choice explicitly)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facemoji.errors import InputError
from facemoji.pipeline import Pipeline
from facemoji.video import process_video

CLIP = Path(__file__).resolve().parents[2] / "shared" / "clips" / "zwm_tearsofsteel_cuts.mp4"  # 240 frames


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
