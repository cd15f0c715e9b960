"""Models loaded on background threads (``Pipeline(background=True)``, as ``facemoji image`` builds it): the same
faces as a pipeline loaded in its constructor, and a model that cannot load is still one clear error."""

from __future__ import annotations

import functools
import json
import subprocess

import numpy as np
import pytest
from PIL import Image

from conftest import run_facemoji
from facemoji.errors import ModelError
from facemoji.pipeline import Pipeline

facemoji = functools.partial(run_facemoji, timeout=120)


def the_only_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr  # no traceback, no per-image failures, no summary
    assert lines[0].startswith("facemoji: error: ")
    return lines[0]


def test_background_loading_finds_the_same_faces(astronaut):
    eager = Pipeline(detect_size=640)
    background = Pipeline(detect_size=640, background=True)
    out_a, faces_a = eager.process(astronaut)
    out_b, faces_b = background.process(astronaut)
    assert len(faces_a) == 1
    assert [f.to_dict() for f in faces_b] == [f.to_dict() for f in faces_a]
    np.testing.assert_array_equal(faces_b[0].landmarks, faces_a[0].landmarks)
    np.testing.assert_array_equal(out_b, out_a)
    assert background.classes == eager.classes


def test_a_missing_model_raises_in_the_constructor_or_at_first_use(tmp_path, astronaut):
    missing = tmp_path / "none.onnx"
    with pytest.raises(ModelError, match="emotion model not found"):
        Pipeline(model=missing)
    pipe = Pipeline(model=missing, background=True)  # returns while the models load
    with pytest.raises(ModelError, match="emotion model not found"):
        pipe.analyze(astronaut)
    with pytest.raises(ModelError, match="emotion model not found"):
        pipe.wait()
    assert len(pipe.detect(astronaut)) == 1  # the detector loaded all the same
    with pytest.raises(ModelError, match="unknown detector"):
        Pipeline(detector="retina", background=True).wait()


def test_cli_missing_model_is_one_error_for_the_command(tmp_path, astronaut):
    src = tmp_path / "a.jpg"
    Image.fromarray(astronaut).save(src)
    out = tmp_path / "out.jpg"
    line = the_only_line(facemoji("image", src, "-o", out, "--model", tmp_path / "none.onnx"))
    assert line == f"facemoji: error: {tmp_path / 'none.onnx'}: emotion model not found"
    assert not out.exists()


def test_cli_unreadable_model_over_a_folder_is_one_error_not_one_per_image(tmp_path, astronaut):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.png"):
        Image.fromarray(astronaut).save(photos / name)
    (photos / "c.jpg").write_bytes(b"not a jpeg")
    model = tmp_path / "bad.onnx"
    model.write_bytes(b"\x00garbage")
    report = tmp_path / "faces.json"
    for quiet in ([], ["-q"]):  # with a progress bar, and with the error found while processing the first photo
        line = the_only_line(facemoji("image", photos, "-o", tmp_path / "out", "--json", report, "--model", model,
                                      *quiet))
        assert "not a readable ONNX model" in line
        assert not report.exists() and not (tmp_path / "out").exists()


def test_cli_model_error_wins_over_unreadable_images(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    line = the_only_line(facemoji("image", bad, "--detector", "retina"))
    assert "unknown detector 'retina'" in line


def test_cli_with_a_good_model_still_reports_bad_images_per_image(tmp_path, astronaut):
    Image.fromarray(astronaut).save(tmp_path / "good.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    proc = facemoji("image", tmp_path / "good.jpg", tmp_path / "bad.jpg", "-o", tmp_path / "out", "--json", "-", "-q")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert [len(r["faces"]) for r in doc["images"]] == [1]
    assert [e["path"] for e in doc["errors"]] == [str(tmp_path / "bad.jpg")]
