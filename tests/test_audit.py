"""``facemoji audit``: independent detectors find the original's faces; each one still showing is reported.

(YuNet on large frames, covers on no face and a real clip: ``test_audit_yunet.py``.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facemoji.audit import Auditor, showing_share, unchanged_mask
from facemoji.cli import main
from videos import astronaut_crop, background, paste, write_video

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    from skimage import data

    p = tmp_path_factory.mktemp("audit") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(p)
    return p


@pytest.fixture(scope="module")
def face_box(photo) -> tuple[int, int, int, int]:
    """Where the audit's detectors find the astronaut's face (the only face in the photo): YuNet's box."""
    from facemoji.audit import FaceFinder

    faces, _ = FaceFinder().find(np.asarray(Image.open(photo)))
    assert [f.kind for f in faces] == ["yunet"]
    return tuple(int(round(v)) for v in faces[0].box)  # type: ignore[return-value]


def saved(tmp_path: Path, name: str, image: np.ndarray, **kw) -> Path:
    p = tmp_path / name
    Image.fromarray(image).save(p, **kw)
    return p


def run_audit(*args: str | Path) -> tuple[int, dict]:
    """In-process ``facemoji audit ... --json``; returns the exit status and the report."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        report = Path(d) / "r.json"
        rc = main(["audit", *map(str, args), "--json", str(report), "-q"])
        return rc, (json.loads(report.read_text()) if report.exists() else {})


def test_emojified_photo_passes(photo, tmp_path, capsys) -> None:
    out = tmp_path / "out.png"
    assert main(["image", str(photo), "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["audit", str(photo), str(out)]) == 0
    text = capsys.readouterr().out
    assert "1 face(s) found in the original, none showing" in text


def test_untouched_photo_is_reported_with_where_and_how_much(photo, face_box, tmp_path, capsys) -> None:
    copy = saved(tmp_path, "copy.jpg", np.asarray(Image.open(photo)), quality=85)  # JPEG noise, no cover
    assert main(["audit", str(photo), str(copy)]) == 3
    lines = capsys.readouterr().out.strip().splitlines()
    x1, y1, x2, y2 = face_box
    assert lines[0] == f"image: face at x={x1} y={y1} {x2 - x1}x{y2 - y1} (yunet): 100% showing"
    assert "1 showing in the output" in lines[-1]
    assert "1 more than half showing, 0 partly showing; 0 cover(s) in the output, 0 on no face" in lines[-1]
    assert len(lines) == 2  # JPEG noise makes no cover, so no ghost either


@pytest.mark.parametrize("covered", [0.0, 0.5, 0.8, 1.0])
def test_share_showing_is_measured(photo, face_box, tmp_path, covered) -> None:
    """Paint over the left ``covered`` share of the face box: the audit measures the rest as showing."""
    img = np.asarray(Image.open(photo)).copy()
    x1, y1, x2, y2 = face_box
    img[y1:y2, x1 : x1 + int(round(covered * (x2 - x1)))] = (250, 200, 30)
    rc, rep = run_audit(photo, saved(tmp_path, "painted.png", img))
    assert rep["faces"] == 1
    showing = rep["findings"][0]["showing"] if rep["findings"] else None
    if 1 - covered > rep["max_showing"]:
        assert rc == 3 and showing == pytest.approx(1 - covered, abs=0.03)
    else:
        assert rc == 0 and showing is None
    share = 1 - covered
    assert rep["partly"] == (0.1 < share <= 0.25)  # shares of 1, 0.5, 0.2 and 0: only 0.2 shows partly
    if abs(share - 0.5) > 0.1:
        assert rep["more_than_half"] == (share > 0.5)
    # the painted block is the one cover, and it lies on the face
    assert (rep["covers"], rep["ghosts"], rep["ghost_findings"]) == ((1, 0, []) if covered else (0, 0, []))
    rc, rep = run_audit(photo, saved(tmp_path, "painted.png", img), "--max-showing", "0.1")
    assert rc == (3 if covered < 0.9 else 0)


def test_codec_noise_is_not_a_cover() -> None:
    """A face with noise added (as re-encoding adds) still counts as unchanged; one under a flat cover does not."""
    img = background((240, 320), 7)
    paste(img, astronaut_crop(), (80, 30, 160))
    noisy = img.astype(np.int16) + np.random.default_rng(1).normal(0, 4, img.shape).astype(np.int16)
    noisy = np.clip(noisy, 0, 255).astype(np.uint8)
    box = (120, 60, 200, 150)
    assert showing_share(unchanged_mask(img, noisy), box) > 0.97
    flat = img.copy()
    flat[60:150, 120:200] = (255, 204, 51)
    assert showing_share(unchanged_mask(img, flat), box) < 0.03
    assert showing_share(unchanged_mask(img, flat), (-50, -50, -10, -10)) == 0.0  # wholly outside the picture


def test_no_faces_no_findings(tmp_path) -> None:
    bg = background((240, 320), 9)
    rc, rep = run_audit(saved(tmp_path, "a.png", bg), saved(tmp_path, "b.png", bg[:, :, ::-1].copy()))
    assert rc == 0 and rep["faces"] == 0 and rep["clean"]


def test_video_findings_have_frame_time_and_box(tmp_path) -> None:
    frames = []
    for i in range(12):
        img = background((240, 320), 5)
        paste(img, astronaut_crop(), (40 + 10 * i, 30, 160))
        frames.append(img)
    src = write_video(tmp_path / "src.mp4", frames, 24, audio=None)
    half = [f.copy() for f in frames]
    for f in half[6:]:
        f[:, :] = (255, 204, 51)  # the second half covered entirely
    out = write_video(tmp_path / "out.mp4", half, 24, audio=None)
    rc, rep = run_audit(src, out)
    assert rc == 3 and rep["kind"] == "video" and rep["frames"] == 12
    assert rep["findings"] and all(f["frame"] < 6 for f in rep["findings"])
    assert rep["showing"] == len(rep["findings"]) < rep["faces"]
    for f in rep["findings"]:
        assert f["time"] == pytest.approx(f["frame"] / 24, abs=1e-3)
        box = f["box"]
        cx = box["x"] + box["width"] / 2
        assert abs(cx - (40 + 10 * f["frame"] + 80)) < 30  # on the pasted face, which moves 10 px a frame
    rc, rep = run_audit(src, out, "--every", "2")
    assert rep["frames"] == 12 and all(f["frame"] % 2 == 0 for f in rep["findings"])


# ---- inputs that cannot be compared: exit 2, one line, no traceback ----

def one_line_error(capsys, *expect: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("facemoji: error: "), err
    for e in expect:
        assert e in err[0], err


def test_missing_file_from_a_real_process(photo, tmp_path) -> None:
    r = subprocess.run([sys.executable, "-m", "facemoji", "audit", str(photo), str(tmp_path / "nope.png")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == f"facemoji: error: {tmp_path / 'nope.png'}: no such file"


def test_mismatched_inputs(photo, tmp_path, capsys) -> None:
    big = np.asarray(Image.open(photo))
    small = saved(tmp_path, "small.png", big[:256, :256])
    assert main(["audit", str(photo), str(small)]) == 2
    one_line_error(capsys, "256x256", "512x512", "same size")

    assert main(["audit", str(photo), str(photo)]) == 2
    one_line_error(capsys, "original itself")

    frames = [background((120, 160), s) for s in range(10)]
    ten = write_video(tmp_path / "ten.mp4", frames, 10, audio=None)
    twelve = write_video(tmp_path / "twelve.mp4", frames + frames[:2], 10, audio=None)
    assert main(["audit", str(ten), str(twelve)]) == 2
    one_line_error(capsys, "12 frames", "10")
    wide = write_video(tmp_path / "wide.mp4", [background((120, 176), s) for s in range(10)], 10, audio=None)
    assert main(["audit", str(ten), str(wide)]) == 2
    one_line_error(capsys, "176x120", "160x120")

    assert main(["audit", str(photo), str(ten)]) == 2
    one_line_error(capsys, "image", "video")

    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video\n")
    assert main(["audit", str(ten), str(fake)]) == 2
    one_line_error(capsys, "fake.mp4")

    assert main(["audit", str(tmp_path), str(ten)]) == 2
    one_line_error(capsys, "folder")

    assert main(["audit", str(ten), str(ten.with_name("copy.mp4")), "--every", "0"]) == 2
    one_line_error(capsys, "--every")

    ten.with_name("copy.mp4").write_bytes(ten.read_bytes())
    assert main(["audit", str(ten), str(ten.with_name("copy.mp4")), "--tolerance", "300"]) == 2
    one_line_error(capsys, "tolerance")
    assert main(["audit", str(ten), str(ten.with_name("copy.mp4")), "--json", str(tmp_path / "no" / "r.json")]) == 2
    one_line_error(capsys, "does not exist")


def test_auditor_refuses_nonsense_settings() -> None:
    from facemoji.errors import InputError

    for kw in ({"max_showing": 1.0}, {"max_showing": -0.1}, {"min_face": 4}, {"tolerance": -1}):
        with pytest.raises(InputError):
            Auditor(**kw)
