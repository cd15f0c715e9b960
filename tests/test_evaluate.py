"""Evaluation numbers recomputed by hand on a tiny set, and `facemoji evaluate` end to end on real faces."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_facemoji
from facemoji.train.evaluate import evaluate_probs, expected_calibration_error


def test_metrics_by_hand():
    classes = ("a", "b", "c")
    y = np.array([0, 0, 0, 1, 1, 2])
    probs = np.array([
        [0.9, 0.05, 0.05],  # a, right, conf .9
        [0.6, 0.3, 0.1],    # a, right, conf .6
        [0.2, 0.7, 0.1],    # b, wrong, conf .7
        [0.1, 0.8, 0.1],    # b, right, conf .8
        [0.5, 0.4, 0.1],    # a, wrong, conf .5
        [0.1, 0.1, 0.8],    # c, right, conf .8
    ])
    r = evaluate_probs(probs, y, classes)
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["confusion_matrix"]["counts"] == [[2, 1, 0], [1, 1, 0], [0, 0, 1]]
    pa = r["per_class"]["a"]
    assert pa["precision"] == pytest.approx(2 / 3) and pa["recall"] == pytest.approx(2 / 3)
    pb = r["per_class"]["b"]
    assert pb["precision"] == pytest.approx(1 / 2) and pb["recall"] == pytest.approx(1 / 2)
    assert pb["f1"] == pytest.approx(0.5)
    assert r["per_class"]["c"]["f1"] == pytest.approx(1.0)
    assert r["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    # ECE with 15 bins: bins (.467,.533]: conf .5 wrong; (.533,.6]: .6 right; (.667,.733]: .7 wrong;
    # (.733,.8]: .8,.8 both right; (.867,.933]: .9 right
    ece = (1 / 6) * 0.5 + (1 / 6) * 0.4 + (1 / 6) * 0.7 + (2 / 6) * 0.2 + (1 / 6) * 0.1
    assert r["ece"] == pytest.approx(ece)
    e2, bins = expected_calibration_error(probs, y, bins=15)
    assert sum(b["count"] for b in bins) == 6 and e2 == pytest.approx(ece)


def test_perfect_and_uniform():
    y = np.arange(7).repeat(3)
    onehot = np.eye(7)[y]
    r = evaluate_probs(onehot, y)
    assert r["accuracy"] == 1.0 and r["ece"] == 0.0 and r["macro_f1"] == 1.0


# ---- `facemoji evaluate` as a user runs it, checked against the model's own answers ----

def heatmap_cells(png: Path, k: int) -> np.ndarray:
    """The colour at the top of each of the k x k cells of the confusion picture's heat map (RGB, 0..255).

    The heat map is found by its frame: the long dark horizontal lines are its top and bottom edges, the first
    long dark vertical line its left edge and the next one at least a few cells further its right edge.
    """
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    dark = img.max(axis=2) < 80
    h, w = dark.shape
    row_runs = dark.sum(axis=1)
    rows = np.flatnonzero(row_runs > 0.3 * w)
    top, bottom = rows.min(), rows.max()
    col_runs = dark[top : bottom + 1].sum(axis=0)
    cols = np.flatnonzero(col_runs > 0.8 * (bottom - top))
    left = cols.min()
    right = cols[cols > left + 3 * (bottom - top) / k].min()
    ch, cw = (bottom - top) / k, (right - left) / k
    out = np.zeros((k, k, 3), int)
    for i in range(k):
        for j in range(k):
            y, x = int(top + (i + 0.15) * ch), int(left + (j + 0.5) * cw)
            out[i, j] = img[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(0)
    return out


@pytest.fixture(scope="module")
def val_rows(fer_public):
    """400 PublicTest faces, every class present."""
    idx = np.random.default_rng(3).choice(len(fer_public["y"]), 400, replace=False)
    x, y = fer_public["x"][idx], fer_public["y"][idx]
    assert set(y.tolist()) == set(range(7))
    return x, y


def test_evaluate_command_end_to_end(val_rows, tmp_path):
    from matplotlib import colormaps

    from facemoji.classify import EmotionClassifier

    x, y = val_rows
    np.savez(tmp_path / "v.npz", x=x, y=y)
    proc = run_facemoji("evaluate", "--data", tmp_path / "v.npz", "--json", tmp_path / "r.json",
                        "--confusion", tmp_path / "cm.png")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())

    # the same faces through the runtime's classifier, and the figures counted here by plain loops
    clf = EmotionClassifier()
    pred = clf.predict_crops(x[:, None].astype(np.float32)).argmax(1)
    k = len(clf.classes)
    counts = [[0] * k for _ in range(k)]
    for t, p in zip(y.tolist(), pred.tolist(), strict=True):
        counts[t][p] += 1
    right = sum(counts[i][i] for i in range(k))
    assert report["n"] == 400
    assert report["accuracy"] == pytest.approx(right / 400, abs=1e-9)
    assert report["confusion_matrix"]["counts"] == counts
    assert report["confusion_matrix"]["classes"] == list(clf.classes)
    for i, name in enumerate(clf.classes):
        support = sum(counts[i])
        assert report["per_class"][name]["support"] == support
        assert report["per_class"][name]["recall"] == pytest.approx(counts[i][i] / support, abs=1e-9)
        predicted = sum(counts[r][i] for r in range(k))
        precision = counts[i][i] / predicted if predicted else 0.0
        assert report["per_class"][name]["precision"] == pytest.approx(precision, abs=1e-9)
    assert f"accuracy {right / 400:.4f} on 400 faces" in proc.stdout

    # the picture: each cell's colour is the row-normalised count on the colour scale
    norm = np.array(counts, float) / np.array(counts).sum(1, keepdims=True)
    want = np.array(colormaps["Blues"](norm)[..., :3] * 255)
    got = heatmap_cells(tmp_path / "cm.png", k)
    assert np.abs(got - want).max() < 12, np.abs(got - want).max(axis=2).round()

    # the same rows as a Kaggle CSV: the same figures
    with open(tmp_path / "fer.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for img, label in zip(x, y, strict=True):
            w.writerow([int(label), " ".join(map(str, img.ravel())), "PublicTest"])
    proc = run_facemoji("evaluate", "--data", tmp_path / "fer.csv", "--split", "val", "--json", "-")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["accuracy"] == pytest.approx(right / 400)  # "-": the report on stdout
    assert f"accuracy {right / 400:.4f} on 400 faces" in proc.stderr  # and the tables beside it
    assert not Path("-").exists()


def test_evaluate_bad_inputs_are_one_line_errors(tmp_path):
    (tmp_path / "bad.csv").write_text("emotion,pixels\n1,1 2 3\n")
    for args in (["--data", tmp_path / "bad.csv"], ["--data", tmp_path / "missing.npz"],
                 ["--data", tmp_path / "bad.csv", "--split", "test"]):
        proc = run_facemoji("evaluate", *args, "--json", tmp_path / "r.json")
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-1000:]
        assert proc.stderr.strip().startswith("facemoji: error: ")
        assert not (tmp_path / "r.json").exists()
