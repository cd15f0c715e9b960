"""`facemoji image` and `facemoji demo` as a user runs them: real processes, real files."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path

import jsonschema
import numpy as np
from PIL import Image

from conftest import compose_faces, run_facemoji
from facemoji.imageio import read_image
from facemoji.labels import EMOTIONS

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "docs" / "schema.json").read_text())


facemoji = functools.partial(run_facemoji, timeout=120)


def one_line_error(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("facemoji: error:")]
    assert errors, proc.stderr


def test_single_photo_with_json_to_stdout(tmp_path, astronaut):
    src = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut).save(src, quality=95)
    before = src.read_bytes()
    out = tmp_path / "out.png"
    proc = facemoji("image", src, "-o", out, "--json", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["errors"] == [] and len(doc["images"]) == 1
    rec = doc["images"][0]
    assert rec["width"] == 512 and len(rec["faces"]) == 1 and rec["output"] == str(out)
    assert src.read_bytes() == before  # input untouched
    result = read_image(out)
    b = rec["faces"][0]["box"]
    x1, y1 = int(b["x"]), int(b["y"])
    x2, y2 = int(b["x"] + b["width"]), int(b["y"] + b["height"])
    assert np.abs(result[y1:y2, x1:x2].astype(int) - astronaut[y1:y2, x1:x2]).mean() > 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["astronaut.jpg", "out.png"]  # no temp file left


def test_default_output_goes_beside_the_input(tmp_path, astronaut):
    src = tmp_path / "me.png"
    Image.fromarray(astronaut).save(src)
    proc = facemoji("image", src, "--mode", "both", "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "me.facemoji.png").exists()
    # written under a private temporary name, but the result gets the permissions any new file gets
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "me.facemoji.png").stat().st_mode & 0o777 == 0o666 & ~mask
    assert not list(tmp_path.glob("*.part"))
    # running again on the folder does not pick up its own outputs
    proc = facemoji("image", tmp_path, "--json", tmp_path / "f.json", "--no-images")
    doc = json.loads((tmp_path / "f.json").read_text())
    assert [Path(r["path"]).name for r in doc["images"]] == ["me.png"]


def test_folder_batch_goes_past_bad_files_and_lists_them(tmp_path, astronaut, astronaut_face):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    Image.fromarray(astronaut).save(photos / "a.jpg")
    Image.fromarray(compose_faces(astronaut_face, [(20, 140, 170), (240, 60, 150), (440, 200, 180)])).save(
        photos / "sub" / "three.png")
    Image.fromarray(astronaut[300:, 300:]).save(photos / "noface.webp")
    (photos / "broken.jpg").write_bytes((photos / "a.jpg").read_bytes()[:3000])
    (photos / "empty.png").write_bytes(b"")
    (photos / "text.bmp").write_text("not an image")
    out = tmp_path / "out"
    js = tmp_path / "faces.json"
    proc = facemoji("image", photos, tmp_path / "missing.jpg", "-o", out, "--json", js)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    doc = json.loads(js.read_text())
    jsonschema.validate(doc, SCHEMA)
    counts = {Path(r["path"]).name: len(r["faces"]) for r in doc["images"]}
    assert counts == {"a.jpg": 1, "three.png": 3, "noface.webp": 0}
    failed = {Path(e["path"]).name for e in doc["errors"]}
    assert failed == {"broken.jpg", "empty.png", "text.bmp", "missing.jpg"}
    assert (out / "sub" / "three.png").exists() and (out / "a.jpg").exists() and (out / "noface.webp").exists()
    tail = proc.stderr.strip().splitlines()[-4:]
    assert all(line.startswith("facemoji: error:") for line in tail)


def test_bad_single_inputs_give_one_line_errors(tmp_path, astronaut):
    one_line_error(facemoji("image", tmp_path / "nope.jpg"))
    (tmp_path / "zero.jpg").write_bytes(b"")
    one_line_error(facemoji("image", tmp_path / "zero.jpg"))
    Image.new("1", (12000, 10000)).save(tmp_path / "bomb.png")
    proc = facemoji("image", tmp_path / "bomb.png")
    one_line_error(proc)
    assert "too large" in proc.stderr
    Image.fromarray(astronaut).save(tmp_path / "ok.jpg")
    one_line_error(facemoji("image", tmp_path / "ok.jpg", "-o", tmp_path / "no" / "such" / "dir.jpg"))
    one_line_error(facemoji("image", tmp_path / "ok.jpg", "--detect-size", "5"))
    one_line_error(facemoji("image", tmp_path / "ok.jpg", "--model", tmp_path / "ok.jpg"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.png", "ok.jpg", "zero.jpg"]


def test_help_and_demo(tmp_path):
    proc = facemoji("--help")
    assert proc.returncode == 0 and "image" in proc.stdout and "video" in proc.stdout
    proc = facemoji("demo", "-o", tmp_path / "demo.jpg")
    assert proc.returncode == 0, proc.stderr
    assert "face at" in proc.stdout
    assert read_image(tmp_path / "demo.jpg").shape == (512, 1032, 3)


def limited(limit_bytes: int):
    """A preexec_fn: the child may write files of at most ``limit_bytes`` (a disk that fills up part-way)."""
    import resource
    import signal

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return apply


def test_full_disk_leaves_the_old_output_intact(tmp_path, astronaut):
    src = tmp_path / "in.png"
    Image.fromarray(astronaut).save(src)
    out = tmp_path / "out.png"
    out.write_bytes(b"yesterday's result\n")
    proc = facemoji("image", src, "-o", out, preexec_fn=limited(50_000))
    one_line_error(proc)
    assert "cannot write" in proc.stderr
    assert out.read_bytes() == b"yesterday's result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "out.png"]


def test_input_is_never_overwritten(tmp_path, astronaut):
    src = tmp_path / "a.jpg"
    Image.fromarray(astronaut).save(src, quality=90)
    before = src.read_bytes()
    (tmp_path / "link.jpg").symlink_to(src)
    for target in (src, tmp_path / "link.jpg", Path(os.path.relpath(src))):
        proc = facemoji("image", src, "-o", target)
        one_line_error(proc)
        assert "overwrite the input" in proc.stderr
        assert src.read_bytes() == before
    # a folder processed into itself: every file refused, none changed
    proc = facemoji("image", tmp_path, "-o", tmp_path, "--json", tmp_path / "f.json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "overwrite the input" in proc.stderr
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "f.json", "link.jpg"]


def test_max_megapixels(tmp_path, astronaut):
    """The 512x512 astronaut is 0.26 megapixels: refused under a 0.2 limit, before any output; fine under 0.3."""
    Image.fromarray(astronaut).save(tmp_path / "big.png")
    Image.fromarray(astronaut[::2, ::2]).save(tmp_path / "small.png")  # 0.07 megapixels
    proc = facemoji("image", tmp_path / "big.png", "-o", tmp_path / "o.png", "--max-megapixels", "0.2")
    one_line_error(proc)
    assert "too large" in proc.stderr and "512x512" in proc.stderr
    assert not (tmp_path / "o.png").exists()
    proc = facemoji("image", tmp_path / "big.png", "-o", tmp_path / "o.png", "--max-megapixels", "0.3")
    assert proc.returncode == 0, proc.stderr
    assert read_image(tmp_path / "o.png").shape == (512, 512, 3)
    # in a batch the big one is listed as failed and the small one is done
    out = tmp_path / "out"
    proc = facemoji("image", tmp_path / "big.png", tmp_path / "small.png", "-o", out, "--max-megapixels", "0.2",
                    "--json", tmp_path / "f.json")
    assert proc.returncode == 1
    doc = json.loads((tmp_path / "f.json").read_text())
    assert [Path(r["path"]).name for r in doc["images"]] == ["small.png"]
    assert [Path(e["path"]).name for e in doc["errors"]] == ["big.png"] and "too large" in doc["errors"][0]["error"]
    assert sorted(p.name for p in out.iterdir()) == ["small.png"]
    one_line_error(facemoji("image", tmp_path / "small.png", "--max-megapixels", "0"))


def test_quality_changes_size_and_fidelity(tmp_path, astronaut):
    src = tmp_path / "in.png"
    Image.fromarray(astronaut).save(src)
    sizes, errors = {}, {}
    for ext in ("jpg", "webp"):
        for q in (15, 95):
            out = tmp_path / f"q{q}.{ext}"
            proc = facemoji("image", src, "-o", out, "--quality", q, "-q")
            assert proc.returncode == 0, proc.stderr
            sizes[ext, q] = out.stat().st_size
            got = read_image(out).astype(int)
            # away from the face (which the emoji changes): how far from the original pixels
            errors[ext, q] = np.abs(got[300:, :] - astronaut[300:, :]).mean()
        assert sizes[ext, 15] < 0.5 * sizes[ext, 95], sizes
        assert errors[ext, 15] > 1.5 * errors[ext, 95], errors


def test_emoji_scale_changes_the_covered_area(tmp_path, astronaut):
    """The emoji's side grows with --emoji-scale, so the changed area grows with its square (the reported box is
    the detector's; the cover's is padded by COVER_PAD on every side)."""
    from facemoji.stream.coverage import COVER_PAD

    src = tmp_path / "in.png"
    Image.fromarray(astronaut).save(src)
    area = {}
    for scale in ("0.8", "1.2"):
        out = tmp_path / f"s{scale}.png"
        proc = facemoji("image", src, "-o", out, "--emoji-scale", scale, "--json", tmp_path / f"s{scale}.json")
        assert proc.returncode == 0, proc.stderr
        changed = np.abs(read_image(out).astype(int) - astronaut).max(axis=2) > 30
        ys, xs = np.nonzero(changed)
        area[scale] = (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1, changed.sum())
        box = json.loads((tmp_path / f"s{scale}.json").read_text())["images"][0]["faces"][0]["box"]
        side = float(scale) * np.hypot(box["width"], box["height"]) * (1 + 2 * COVER_PAD)
        assert abs(area[scale][0] - side) <= 0.08 * side, (scale, area[scale], side)  # the emoji's width
    ratio = area["1.2"][2] / area["0.8"][2]
    assert 0.8 * 1.5**2 < ratio < 1.2 * 1.5**2, area
    for bad in ("0", "-1", "big"):
        proc = facemoji("image", src, "--emoji-scale", bad)
        assert proc.returncode == 2 and "--emoji-scale" in proc.stderr and "Traceback" not in proc.stderr


def _yunet_model() -> Path:
    """A YuNet model file: $FACEMOJI_YUNET_MODEL, else the one that ships with facemoji."""
    import facemoji

    env = os.environ.get("FACEMOJI_YUNET_MODEL")
    return Path(env) if env else Path(facemoji.__file__).parent / "models" / "yunet" / "yunet_n_640_640.onnx"


def test_yunet_with_a_real_model_file_finds_the_astronaut(tmp_path, astronaut):
    model = _yunet_model()
    src = tmp_path / "a.png"
    Image.fromarray(astronaut).save(src)
    proc = facemoji("image", src, "-o", tmp_path / "o.png", "--detector", f"yunet:{model}", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    faces = json.loads(proc.stdout)["images"][0]["faces"]
    assert len(faces) == 1
    b = faces[0]["box"]
    cx, cy = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
    assert 190 < cx < 260 and 70 < cy < 170  # the astronaut's head


def test_yunet_with_a_model_that_is_not_yunet_is_a_clear_error(tmp_path, astronaut):
    """A real ONNX file of another network (CenterFace's) and a file that is no model at all."""
    from facemoji.detect.centerface import centerface_model_path

    src = tmp_path / "a.png"
    Image.fromarray(astronaut).save(src)
    for model in (centerface_model_path(), src):
        proc = facemoji("image", src, "-o", tmp_path / "o.png", "--detector", f"yunet:{model}")
        one_line_error(proc)
        assert "not a YuNet model" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def _changed(out: Path, original: np.ndarray) -> np.ndarray:
    return np.abs(read_image(out).astype(int) - original.astype(int)).max(axis=2) > 30


def _box(face: dict) -> tuple[int, int, int, int]:
    b = face["box"]
    return int(b["x"]), int(b["y"]), int(b["x"] + b["width"]), int(b["y"] + b["height"])


def test_strict_pads_the_covers_and_keeps_the_reported_boxes(tmp_path, astronaut):
    """--strict photos: each cover reaches 15 % of its box past it on every side instead of 10 % (the disc grows by
    about (1.3 / 1.2) ** 2, 17 %); the faces and the JSON (boxes, width, height) stay those of the detector, also for
    a picture that is not square."""
    import cv2

    from facemoji.overlay.cover import SOLID_COLOUR

    photos = tmp_path / "photos"
    photos.mkdir()
    squeezed = cv2.resize(astronaut, (300, 512), interpolation=cv2.INTER_AREA)  # a narrower face, 300 wide
    pictures = {"astronaut.png": astronaut, "squeezed.png": squeezed}
    for name, img in pictures.items():
        Image.fromarray(img).save(photos / name)
    docs = {}
    for how, extra in (("default", []), ("strict", ["--strict"])):
        proc = facemoji("image", photos, "-o", tmp_path / how, "--cover", "solid", "--json", tmp_path / f"{how}.json",
                        *extra)
        assert proc.returncode == 0, proc.stderr
        docs[how] = {Path(r["path"]).name: r for r in json.loads((tmp_path / f"{how}.json").read_text())["images"]}
        jsonschema.validate(json.loads((tmp_path / f"{how}.json").read_text()), SCHEMA)
    for name, img in pictures.items():
        plain, strict = docs["default"][name], docs["strict"][name]
        assert (strict["width"], strict["height"]) == (img.shape[1], img.shape[0]) == (plain["width"], plain["height"])
        assert len(plain["faces"]) == len(strict["faces"]) == 1, name
        assert strict["faces"][0]["box"] == plain["faces"][0]["box"]  # the face found, not its cover
        out = read_image(tmp_path / "strict" / name)
        assert out.shape == img.shape
        x1, y1, x2, y2 = _box(strict["faces"][0])
        assert (out[y1:y2, x1:x2] == SOLID_COLOUR).all(), f"{name}: face not under the disc"
        grown = _changed(tmp_path / "strict" / name, img).sum() / _changed(tmp_path / "default" / name, img).sum()
        assert 1.08 < grown < 1.3, (name, grown)  # (1.3 / 1.2) ** 2 = 1.17 where the disc is not clipped


def test_strict_profile_pass_covers_a_turned_face_the_detector_is_unsure_of(tmp_path):
    """The cameraman looks sideways into his camera: at --threshold 0.9 CenterFace lets his face go (it scores
    about 0.86), the profile cascade of --strict finds it and it is covered."""
    from skimage import data

    from facemoji.overlay.cover import SOLID_COLOUR

    camera = np.stack([data.camera()] * 3, axis=-1)
    src = tmp_path / "cameraman.png"
    Image.fromarray(camera).save(src)
    found = {}
    for how, extra in (("reference", []), ("default", ["--threshold", "0.9"]),
                       ("strict", ["--threshold", "0.9", "--strict"])):
        proc = facemoji("image", src, "-o", tmp_path / f"{how}.png", "--cover", "solid", "--json", "-", *extra)
        assert proc.returncode == 0, proc.stderr
        found[how] = json.loads(proc.stdout)["images"][0]["faces"]
    assert len(found["reference"]) == 1 and found["default"] == []
    assert not _changed(tmp_path / "default.png", camera).any()
    assert len(found["strict"]) == 1 and found["strict"][0]["emotion"] in EMOTIONS
    head, hit = _box(found["reference"][0]), _box(found["strict"][0])
    inter = max(0, min(head[2], hit[2]) - max(head[0], hit[0])) * max(0, min(head[3], hit[3]) - max(head[1], hit[1]))
    assert inter > 0.6 * (hit[2] - hit[0]) * (hit[3] - hit[1]), (head, hit)  # the profile box is his head
    x1, y1, x2, y2 = head
    out = read_image(tmp_path / "strict.png")
    assert (np.abs(out[y1:y2, x1:x2].astype(int) - SOLID_COLOUR).max(axis=2) == 0).mean() > 0.9
