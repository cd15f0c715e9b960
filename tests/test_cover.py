"""Other ways to hide a face: blur, pixelate and solid hide it for real, on the same disc as the emoji."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import compose_faces, run_facemoji
from facemoji.overlay import COVERS, EmojiSet, emoji_box, render
from facemoji.overlay.cover import SOLID_COLOUR
from facemoji.types import Face
from videos import astronaut_crop, core_box, make_clip, read_frames

HIDING = ("blur", "pixelate", "solid")


def detail(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """High-frequency content of ``box``: mean absolute Laplacian of the grey picture."""
    x1, y1, x2, y2 = box
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[y1:y2, x1:x2].mean())


def inner(face: Face, h: int, w: int) -> tuple[int, int, int, int]:
    """The face box, cut at the picture's border."""
    x1, y1, x2, y2 = (int(round(v)) for v in face.box)
    return max(0, x1), max(0, y1), min(w, x2), min(h, y2)


@pytest.fixture(scope="module")
def pictures(astronaut, astronaut_face):
    """The astronaut, three faces, and two faces crossing the border."""
    return [
        astronaut,
        compose_faces(astronaut_face, [(20, 140, 170), (240, 60, 150), (440, 200, 180)]),
        compose_faces(astronaut_face, [(-110, 300, 240), (520, -60, 200)]),
    ]


@pytest.mark.parametrize("cover", HIDING)
def test_cover_hides_every_face(pipeline, pictures, cover):
    for img in pictures:
        h, w = img.shape[:2]
        faces = pipeline.analyze(img)
        assert faces, "the test picture has faces"
        out = pipeline.render(img, faces, "emoji", cover)
        assert out.shape == img.shape and out.dtype == np.uint8
        for f in faces:
            box = inner(f, h, w)
            x1, y1, x2, y2 = box
            region = out[y1:y2, x1:x2].reshape(-1, 3)
            if cover == "blur":
                assert detail(out, box) < 0.15 * detail(img, box), "blurred face keeps its fine detail"
            elif cover == "pixelate":
                # blocks of a tenth of the disc: a handful of flat colours where the photo had thousands
                _, _, side = emoji_box(f.box)
                blocks = (np.ceil((x2 - x1) / np.ceil(side / 10)) + 2) * (np.ceil((y2 - y1) / np.ceil(side / 10)) + 2)
                distinct = len(np.unique(region, axis=0))
                assert distinct <= blocks < len(np.unique(img[y1:y2, x1:x2].reshape(-1, 3), axis=0)) / 10
            else:
                assert (region == SOLID_COLOUR).all(), "solid cover is not uniform over the face"
        # the detector that found the faces finds none any more
        assert pipeline.detect(out) == []


@pytest.mark.parametrize("cover", COVERS)
def test_cover_changes_nothing_outside_the_emoji_disc(pipeline, pictures, cover):
    """The other covers keep to the disc; the emoji picture keeps to its square."""
    img = pictures[1]
    h, w = img.shape[:2]
    faces = pipeline.analyze(img)
    out = pipeline.render(img, faces, "emoji", cover)
    outside = np.ones((h, w), bool)
    for f in faces:
        left, top, side = emoji_box(f.box)
        if cover == "emoji":
            outside[max(0, top) : top + side, max(0, left) : left + side] = False
        else:
            cv2.circle(outside.view(np.uint8), (left + side // 2, top + side // 2), side // 2 + 2, 0, -1)
    assert (out[outside] == img[outside]).all()
    assert (out[~outside] != img[~outside]).any()


def test_each_cover_uses_the_emoji_scale(astronaut):
    face = [Face(box=(180.0, 60.0, 270.0, 175.0), emotion="happy")]
    for cover in COVERS:
        small = render(astronaut, face, "emoji", EmojiSet(), 1.0, cover=cover)
        large = render(astronaut, face, "emoji", EmojiSet(), 1.6, cover=cover)
        assert (small != astronaut).any(axis=2).sum() < (large != astronaut).any(axis=2).sum()


def test_unknown_cover_is_refused(astronaut):
    from facemoji.pipeline import Pipeline

    with pytest.raises(ValueError, match="unknown cover"):
        render(astronaut, [], "emoji", cover="smudge")
    with pytest.raises(ValueError, match="unknown cover"):
        Pipeline(cover="smudge")


def test_image_command_cover_option(tmp_path, astronaut):
    from PIL import Image

    src = tmp_path / "photo.png"
    Image.fromarray(astronaut).save(src)
    r = run_facemoji("image", src, "-o", tmp_path / "out.png", "--cover", "pixelate", "--json", tmp_path / "f.json")
    assert r.returncode == 0, r.stderr
    out = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    import json

    (face,) = json.loads((tmp_path / "f.json").read_text())["images"][0]["faces"]
    b = face["box"]
    x1, y1 = int(b["x"]), int(b["y"])
    x2, y2 = int(b["x"] + b["width"]), int(b["y"] + b["height"])
    assert len(np.unique(out[y1:y2, x1:x2].reshape(-1, 3), axis=0)) < 100
    assert (out[400:, :100] == astronaut[400:, :100]).all()

    bad = run_facemoji("image", src, "-o", tmp_path / "bad.png", "--cover", "smudge")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad.png").exists()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    def layout(i: int, t: float) -> list[tuple[int, int, int]]:
        return [(60 + 8 * i, 80, 200)]

    return make_clip(tmp_path_factory.mktemp("cover") / "walk.mp4", [astronaut_crop()], layout, frames=24, fps=12)


@pytest.mark.slow
@pytest.mark.parametrize(("command", "cover"), [("video", "solid"), ("webcam", "blur")])
def test_video_and_webcam_cover_option(tmp_path, clip, command, cover):
    out = tmp_path / "out.mp4"
    if command == "video":
        r = run_facemoji("video", clip.path, "-o", out, "--cover", cover, "-q")
    else:
        r = run_facemoji("webcam", "--source", clip.path, "--headless", "--record", out, "--cover", cover, "-q")
    assert r.returncode == 0, r.stderr
    src, dst = read_frames(clip.path), read_frames(out)
    assert len(dst) == len(src) == clip.frames
    for i in range(clip.frames):
        (square,) = clip.truth[i]
        x1, y1, x2, y2 = core_box(square)
        region = dst[i][y1:y2, x1:x2].astype(int)
        if cover == "solid":
            assert np.abs(region - SOLID_COLOUR).max(axis=2).mean() < 6, f"frame {i}: face not under a solid disc"
        else:
            assert detail(dst[i], (x1, y1, x2, y2)) < 0.25 * detail(src[i], (x1, y1, x2, y2)), f"frame {i}"


def test_webcam_key_c_cycles_the_cover():
    from facemoji.cli.webcam import next_cover

    seen = ["emoji"]
    for _ in range(len(COVERS)):
        seen.append(next_cover(ord("c"), seen[-1]))
    assert seen == [*COVERS, "emoji"]
    assert next_cover(ord("C"), "blur") == "pixelate"
    assert next_cover(ord("m"), "solid") == "solid"
