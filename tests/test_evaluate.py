"""Evaluation numbers recomputed by hand on a tiny set."""

from __future__ import annotations

import numpy as np
import pytest

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
