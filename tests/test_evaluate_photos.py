"""``facemoji evaluate --data FOLDER`` on whole photos: detection, cropping and the model, as users run it."""

from __future__ import annotations

import functools
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import run_facemoji
from facemoji.labels import EMOTIONS


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory, fer_public, astronaut):
    """Class folders of ordinary-size photos: FER2013 faces upscaled onto larger pictures, the astronaut, a photo
    with no face, and a file that is not an image."""
    from skimage import data

    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(3)
    for label, name in enumerate(EMOTIONS):
        (root / name).mkdir()
        rows = np.flatnonzero(fer_public["y"] == label)[:4]
        for i in rows:
            face = cv2.resize(fer_public["x"][i], (160, 160), interpolation=cv2.INTER_CUBIC)
            canvas = cv2.copyMakeBorder(face, 80, 100, 140, 120, cv2.BORDER_REPLICATE)
            canvas = np.clip(canvas.astype(np.int16) + rng.integers(-3, 4, canvas.shape), 0, 255).astype(np.uint8)
            Image.fromarray(canvas).save(root / name / f"fer_{i}.jpg", quality=95)
    Image.fromarray(astronaut).save(root / "happy" / "astronaut.png")
    Image.fromarray(data.coffee()).save(root / "neutral" / "coffee_no_face.jpg")
    (root / "sad" / "notes.jpg").write_text("not a picture")
    return root


facemoji = functools.partial(run_facemoji, timeout=600)


def test_whole_photos_report_matches_the_pipeline(photo_folder, tmp_path):
    from facemoji.imageio import read_image
    from facemoji.pipeline import Pipeline

    proc = facemoji("evaluate", "--data", photo_folder, "--json", tmp_path / "r.json", "--confusion", tmp_path / "cm.png")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())

    # an independent count: every readable photo through the Python API, the largest face answers
    pipe = Pipeline(detect_size=640)
    truth, answers = [], []
    for d in sorted(p for p in photo_folder.iterdir() if p.is_dir()):
        for f in sorted(d.iterdir()):
            try:
                faces = pipe.analyze(read_image(f))
            except Exception:
                continue
            truth.append(d.name)
            answers.append(faces[0].emotion if faces else None)
    assert report["n"] == len(truth) == 7 * 4 + 2
    right = sum(t == a for t, a in zip(truth, answers, strict=True))
    assert report["accuracy"] == pytest.approx(right / len(truth))
    assert report["accuracy"] > 0.4  # faces are found and mostly named right: far above chance (1/7)
    happy = [a for t, a in zip(truth, answers, strict=True) if t == "happy"]
    assert report["per_class"]["happy"]["recall"] == pytest.approx(happy.count("happy") / len(happy))

    # the photo without a face is wrong and listed; the non-image is listed as an error, not counted
    assert report["no_face"]["count"] == answers.count(None) >= 1
    assert any(p.endswith("coffee_no_face.jpg") for p in report["no_face"]["paths"])
    assert [e["path"].rsplit("/", 1)[-1] for e in report["errors"]] == ["notes.jpg"]
    counts = np.array(report["confusion_matrix"]["counts"])
    assert counts.shape == (7, 8) and counts.sum() == report["n"] and counts[:, 7].sum() == answers.count(None)
    assert report["confusion_matrix"]["predicted"][-1] == "no face"
    assert "coffee_no_face.jpg" in proc.stdout and "no face found in" in proc.stdout

    with Image.open(tmp_path / "cm.png") as im:
        assert im.width > im.height  # the extra "no face" column widens the picture


def test_face_crop_folders_are_still_read_as_crops(tmp_path, fer_public):
    for label, name in enumerate(EMOTIONS):
        (tmp_path / "d" / name).mkdir(parents=True)
        for i in np.flatnonzero(fer_public["y"] == label)[:3]:
            Image.fromarray(fer_public["x"][i]).save(tmp_path / "d" / name / f"{i}.png")
    proc = facemoji("evaluate", "--data", tmp_path / "d", "--json", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n"] == 21 and "no_face" not in report


def test_bad_folders_give_one_line_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    for args in (["--data", tmp_path / "empty"], ["--data", tmp_path / "empty", "--photos"],
                 ["--data", tmp_path / "missing"]):
        proc = facemoji("evaluate", *args)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
