"""``facemoji image`` rule by rule, in this process: which inputs it takes, where each output goes, what it refuses,
what its JSON and its summary say (the end-to-end tests in ``test_cli_image.py`` run it as a user would)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from facemoji.cli import main
from facemoji.cli.image import OUTPUT_TAG, collect_inputs, output_path


@pytest.fixture(scope="module")
def face_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The astronaut, cropped to 400 x 300 around her face (a non-square picture)."""
    p = tmp_path_factory.mktemp("photo") / "astro.jpg"
    Image.fromarray(skdata.astronaut()[0:300, 50:450]).save(p, quality=95)
    return p


def tree(root: Path) -> Path:
    for rel in ("a.jpg", "sub/b.PNG", "sub/deep/c.webp", f"sub/b{OUTPUT_TAG}.png", "notes.txt"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".txt"):
            p.write_text("x")
        else:
            Image.new("RGB", (8, 8)).save(p)
    return root


def test_collect_inputs_walks_folders_for_pictures_and_skips_earlier_outputs(tmp_path: Path) -> None:
    root = tree(tmp_path / "in")
    found, bad = collect_inputs([str(root)])
    assert [f.relative_to(root).as_posix() for f, _ in found] == ["a.jpg", "sub/b.PNG", "sub/deep/c.webp"]
    assert {r for _, r in found} == {root} and bad == []
    found, _ = collect_inputs([str(root / "notes.txt")])  # a file named alone is taken whatever its name
    assert found == [(root / "notes.txt", root)]
    (tmp_path / "empty").mkdir()
    found, bad = collect_inputs([str(tmp_path / "empty"), str(tmp_path / "nope.jpg")])
    assert found == [] and bad == [(str(tmp_path / "empty"), "folder holds no images"),
                                   (str(tmp_path / "nope.jpg"), "no such file or folder")]


def test_output_paths(tmp_path: Path) -> None:
    root = tmp_path / "in"
    assert output_path(root / "x/a.jpg", root, None, False) == root / "x" / f"a{OUTPUT_TAG}.jpg"
    assert output_path(root / "a", root, None, True) == root / f"a{OUTPUT_TAG}.png"
    assert output_path(root / "a.jpg", root, str(tmp_path / "o.png"), True) == tmp_path / "o.png"
    assert output_path(root / "x/a.jpg", root, str(tmp_path / "out"), False) == tmp_path / "out" / "x" / "a.jpg"
    assert output_path(tmp_path / "elsewhere/a.jpg", root, str(tmp_path / "out"), False) == tmp_path / "out" / "a.jpg"
    (tmp_path / "dir.png").mkdir()  # a folder named like a picture is a folder
    assert output_path(root / "a.jpg", root, str(tmp_path / "dir.png"), True) == tmp_path / "dir.png" / "a.jpg"
    assert output_path(root / "a.jpg", root, str(tmp_path / "o.png"), False) == tmp_path / "o.png" / "a.jpg"


def run(*args: object, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main(["image", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_one_photo_beside_its_input_with_its_size_and_faces(face_photo: Path, tmp_path: Path, capsys) -> None:
    src = tmp_path / "p.jpg"
    src.write_bytes(face_photo.read_bytes())
    code, out, err = run(src, "--json", "-", capsys=capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["version"] == 1 and doc["errors"] == []
    (rec,) = doc["images"]
    assert (rec["width"], rec["height"]) == (400, 300)
    assert rec["output"] == str(tmp_path / f"p{OUTPUT_TAG}.jpg") and Path(rec["output"]).is_file()
    assert len(rec["faces"]) >= 1
    face = rec["faces"][0]
    assert f"{face['emotion']} {face['probabilities'][face['emotion']]:.0%}" in err
    assert err.strip().endswith(f"1 image(s), {len(rec['faces'])} face(s)")
    out_img = np.asarray(Image.open(rec["output"]))
    assert out_img.shape == (300, 400, 3) and (out_img != np.asarray(Image.open(src))).any()


def test_no_images_and_quiet(face_photo: Path, tmp_path: Path, capsys) -> None:
    code, out, err = run(face_photo, "--no-images", "--json", tmp_path / "f.json", "-q", capsys=capsys)
    assert code == 0 and out == "" and err == ""
    doc = json.loads((tmp_path / "f.json").read_text())
    assert "output" not in doc["images"][0]
    assert not list(face_photo.parent.glob(f"*{OUTPUT_TAG}*"))


def test_a_folder_mirrors_into_the_output_folder_and_bad_inputs_are_reported(tmp_path: Path, capsys) -> None:
    root = tree(tmp_path / "in")
    (root / "sub/broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    code, out, err = run(root, tmp_path / "missing.jpg", "-o", tmp_path / "out", "--json", "-", capsys=capsys)
    assert code == 1
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()) \
        == ["a.jpg", "sub/b.PNG", "sub/deep/c.webp"]
    doc = json.loads(out)
    errors = {e["path"]: e["error"] for e in doc["errors"]}
    assert errors[str(tmp_path / "missing.jpg")] == "no such file or folder"
    assert errors[str(root / "sub/broken.jpg")] == "not an image (or a format facemoji cannot read)"
    assert "3 image(s), 0 face(s), 2 failed" in err
    assert f"facemoji: error: {tmp_path / 'missing.jpg'}: no such file or folder" in err


def test_refusals(face_photo: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(face_photo, "--max-megapixels", "0", capsys=capsys)
    assert code == 1 and "--max-megapixels must be positive" in err
    code, _, err = run(face_photo, face_photo, "-o", tmp_path / "both.jpg", capsys=capsys)
    assert code == 1 and "several inputs need an output folder" in err
    code, _, err = run(face_photo, "-o", tmp_path / "no/such/dir/o.jpg", capsys=capsys)
    assert code == 1 and "does not exist" in err
    code, _, err = run(face_photo, "-o", face_photo, capsys=capsys)
    assert code == 1 and "would overwrite the input" in err
    code, _, err = run(tmp_path / "none.jpg", capsys=capsys)
    assert code == 1 and err.strip() == f"facemoji: error: {tmp_path / 'none.jpg'}: no such file or folder"
    code, _, err = run(face_photo, "--max-megapixels", "0.1", "-q", capsys=capsys)  # 0.12 megapixels
    assert code == 1 and "image too large (400x300" in err


def test_an_output_without_a_picture_suffix_is_written_as_png(face_photo: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "in").mkdir()
    src = tmp_path / "in" / "raw.tiff"
    Image.open(face_photo).save(src)
    code, _, _ = run(tmp_path / "in", "-o", tmp_path / "out", "-q", "--quality", "50", capsys=capsys)
    assert code == 0 and (tmp_path / "out" / "raw.tiff").is_file()


def test_many_photos_summarise_without_a_line_each(tmp_path: Path, capsys) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for i in range(21):
        Image.new("RGB", (16, 16), (i, i, i)).save(root / f"{i:02d}.png")
    code, _, err = run(root, "-o", tmp_path / "out", capsys=capsys)
    assert code == 0 and "no face" not in err and "21 image(s), 0 face(s)" in err
    code, _, err = run(root / "00.png", root / "01.png", "-o", tmp_path / "two", capsys=capsys)
    assert err.count("no face") == 2


def test_a_picture_of_exactly_the_megapixel_limit_is_read(tmp_path: Path, capsys) -> None:
    p = tmp_path / "wide.png"
    Image.new("RGB", (1000, 120), (90, 90, 90)).save(p)  # 0.12 megapixels
    code, _, err = run(p, "--max-megapixels", "0.12", "--no-images", "-q", capsys=capsys)
    assert code == 0, err
    code, _, err = run(p, "--max-megapixels", "0.1199", "--no-images", "-q", capsys=capsys)
    assert code == 1 and "image too large (1000x120" in err
