"""The audit's YuNet on frames of any size, covers on no face ("ghosts"), and a real clip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facemoji.cli import main
from videos import background

pytestmark = pytest.mark.timeout(120)

CLIPS = Path(__file__).resolve().parents[1].parent / "shared" / "clips"
# YuNet's box for the astronaut's face in the 512x512 photo itself (x1, y1, x2, y2), and her eyes (x, y)
ASTRONAUT_BOX = (181, 54, 274, 178)
ASTRONAUT_EYES = ((203, 104), (248, 104))


def iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def shifted(box, dx: int, dy: int, scale: float = 1.0) -> tuple[float, ...]:
    return tuple(v * scale + (dx if i % 2 == 0 else dy) for i, v in enumerate(box))


@pytest.fixture(scope="module")
def tiles():
    from facemoji.detect.yunet import YuNetTiles

    return YuNetTiles(threshold=0.35)


def test_shipped_yunet_finds_the_astronaut(astronaut) -> None:
    from facemoji.detect import get_detector

    faces = get_detector("yunet").detect(astronaut)  # no model file given: the one shipped with facemoji
    assert len(faces) == 1 and faces[0].score > 0.9
    assert iou(faces[0].box, ASTRONAUT_BOX) > 0.9


@pytest.mark.parametrize("size, at", [((1920, 1080), (1100, 300)), ((3840, 2160), (2900, 1500)),
                                      ((720, 1500), (150, 900)), ((800, 560), (250, 30))])
def test_yunet_boxes_land_on_the_face_in_large_and_non_square_frames(tiles, astronaut, size, at) -> None:
    """The astronaut in a larger canvas (landscape 1080p, a tall portrait, barely larger than the network's input)
    at a known offset: one face, its box and eyes where the photo puts them, in the canvas's own pixels."""
    w, h = size
    canvas = np.full((h, w, 3), 90, np.uint8)
    canvas[at[1] : at[1] + 512, at[0] : at[0] + 512] = astronaut
    faces = tiles.detect(canvas)
    assert len(faces) == 1, [f.box for f in faces]
    assert iou(faces[0].box, shifted(ASTRONAUT_BOX, *at)) > 0.8, faces[0].box
    eyes = faces[0].landmarks[:2]
    want = np.array([(x + at[0], y + at[1]) for x, y in ASTRONAUT_EYES])
    assert np.abs(eyes - want).max() < 8, eyes


def test_small_faces_are_found_in_a_1080p_frame_by_the_tiles(tiles, astronaut_face) -> None:
    """Three faces about 28 pixels high in 1920x1080, one of them cut by a tile's edge (the tiles of 640 start at x
    0, 427, 853 and 1280): the whole frame letterboxed into 640x640 (a third of the size) does not see them, the
    tiles do, each once, where they are."""
    from videos import paste

    canvas = background((1080, 1920), 3)
    squares = [(150, 200, 56), (1040, 500, 56), (1700, 900, 56)]  # the middle one crosses x = 1067, a tile's edge
    for sq in squares:
        paste(canvas, astronaut_face, sq)
    whole = tiles.detector.detect(canvas)
    assert not [f for f in whole if f.score > 0.6]
    faces = sorted(tiles.detect(canvas), key=lambda f: f.box[0])
    assert len(faces) == 3, [(f.box, f.score) for f in faces]
    for f, (x, y, side) in zip(faces, squares, strict=True):
        cx, cy = f.center
        assert x < cx < x + side and y < cy < y + side
        assert 18 < f.height < 40 and f.score > 0.7


def scene(astronaut) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The astronaut's photo on the left of a plain 1280x720 frame, and her face's box."""
    frame = background((720, 1280), 11)
    frame[100:612, 40:552] = astronaut
    return frame, tuple(int(v) for v in shifted(ASTRONAUT_BOX, 40, 100))  # type: ignore[return-value]


def audit_images(tmp_path: Path, original: np.ndarray, output: np.ndarray, *args: str) -> tuple[int, dict]:
    a, b, report = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "r.json"
    Image.fromarray(original).save(a)
    Image.fromarray(output).save(b)
    rc = main(["audit", str(a), str(b), "--json", str(report), "-q", *args])
    return rc, json.loads(report.read_text())


def test_a_cover_on_empty_background_is_a_ghost(tmp_path, astronaut) -> None:
    frame, _ = scene(astronaut)
    out = frame.copy()
    out[300:380, 900:980] = (255, 204, 51)  # a solid square where there is no face
    rc, rep = audit_images(tmp_path, frame, out)
    assert (rep["faces"], rep["showing"], rep["covers"], rep["ghosts"]) == (1, 1, 1, 1)
    assert rep["ghost_share"] == 1.0 and rc == 3  # the face is not covered: that alone decides the exit status
    g = rep["ghost_findings"][0]
    assert g["frame"] == 0 and g["time"] is None
    assert abs(g["box"]["x"] - 900) <= 3 and abs(g["box"]["width"] - 80) <= 6
    assert rep["per_frame"] == [{"frame": 0, "faces": 1, "showing": 1, "more_than_half": 1, "partly": 0,
                                 "covers": 1, "ghosts": 1}]


def test_a_cover_on_the_face_is_no_ghost_and_hides_it(tmp_path, astronaut) -> None:
    frame, (x1, y1, x2, y2) = scene(astronaut)
    out = frame.copy()
    out[y1 - 10 : y2 + 10, x1 - 10 : x2 + 10] = (255, 204, 51)
    rc, rep = audit_images(tmp_path, frame, out)
    assert (rc, rep["faces"], rep["showing"], rep["partly"], rep["covers"], rep["ghosts"]) == (0, 1, 0, 0, 1, 0)
    assert rep["clean"] and rep["findings"] == [] and rep["ghost_findings"] == []


def test_an_unchanged_copy_shows_the_face(tmp_path, astronaut) -> None:
    frame, box = scene(astronaut)
    rc, rep = audit_images(tmp_path, frame, frame.copy())
    assert (rc, rep["faces"], rep["showing"], rep["more_than_half"], rep["covers"], rep["ghosts"]) == (3, 1, 1, 1, 0, 0)
    f = rep["findings"][0]
    assert f["showing"] == 1.0 and f["detector"] == "yunet" and f["score"] > 0.9
    assert iou((f["box"]["x"], f["box"]["y"], f["box"]["x"] + f["box"]["width"], f["box"]["y"] + f["box"]["height"]),
               box) > 0.8


def test_max_ghosts_sets_exit_status_4(tmp_path, astronaut) -> None:
    frame, (x1, y1, x2, y2) = scene(astronaut)
    out = frame.copy()
    out[y1 - 10 : y2 + 10, x1 - 10 : x2 + 10] = (255, 204, 51)  # the face covered
    out[300:380, 900:980] = (40, 40, 40)  # and a cover on nothing: half the covers are ghosts
    rc, rep = audit_images(tmp_path, frame, out)
    assert (rc, rep["covers"], rep["ghosts"], rep["ghost_share"], rep["max_ghosts"]) == (0, 2, 1, 0.5, None)
    assert audit_images(tmp_path, frame, out, "--max-ghosts", "0.4")[0] == 4
    assert audit_images(tmp_path, frame, out, "--max-ghosts", "0.5")[0] == 0
    rc, rep = audit_images(tmp_path, frame, out, "--detector", "haar")
    assert rep["detector"] == "haar" and rep["ghosts"] == 1


def test_a_real_clip_against_an_unchanged_copy(tmp_path, capsys) -> None:
    """The first 30 frames of a real webcam clip (1080x720) against a byte copy of it: her face is found in every
    frame and shows in every frame; nothing was covered, so no cover and no ghost."""
    clip = CLIPS / "tfjs_facemesh_webcam_glasses.mp4"
    if not clip.exists():
        pytest.skip(f"no real clips at {CLIPS}")
    copy = tmp_path / "copy.mp4"  # a copy in the test's own folder, removed with it: the audit refuses one file twice
    shutil.copyfile(clip, copy)
    report = tmp_path / "r.json"
    rc = main(["audit", str(clip), str(copy), "--max-frames", "30", "--json", str(report)])
    rep = json.loads(report.read_text())
    assert rc == 3 and rep["frames"] == 30 and len(rep["per_frame"]) == 30
    assert all(c["faces"] >= 1 for c in rep["per_frame"])
    assert rep["showing"] == rep["faces"] == rep["more_than_half"] >= 30
    assert (rep["covers"], rep["ghosts"], rep["ghost_share"]) == (0, 0, 0.0)
    assert {f["detector"] for f in rep["findings"]} == {"yunet"}
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("frame 0 (0.00 s): face at") and out[-1].startswith("audit of")
