"""`facemoji image` and `facemoji demo` as a user runs them: real processes, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
from PIL import Image

from conftest import compose_faces
from facemoji.imageio import read_image

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "docs" / "schema.json").read_text())


def facemoji(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facemoji", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


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
