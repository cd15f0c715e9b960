"""Evaluate an emotion model (ONNX, run as the runtime runs it) on a labelled set.

Needs no PyTorch: the model is run by onnxruntime through the runtime's own
:class:`~facemoji.classify.EmotionClassifier`, so the numbers are those of
what ships.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from facemoji.labels import EMOTIONS


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def per_class(cm: np.ndarray, classes: tuple[str, ...]) -> dict[str, dict[str, float]]:
    out = {}
    for i, name in enumerate(classes):
        tp = cm[i, i]
        pred = cm[:, i].sum()
        true = cm[i, :].sum()
        precision = tp / pred if pred else 0.0
        recall = tp / true if true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[name] = {"precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(true)}
    return out


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> tuple[float, list[dict]]:
    """ECE with equal-width confidence bins; also returns the bins for a reliability diagram."""
    conf = probs.max(1)
    correct = (probs.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    table = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if not m.any():
            continue
        acc, c = correct[m].mean(), conf[m].mean()
        ece += m.mean() * abs(acc - c)
        table.append({"low": float(lo), "high": float(hi), "count": int(m.sum()), "accuracy": float(acc),
                      "confidence": float(c)})
    return float(ece), table


def evaluate_probs(probs: np.ndarray, y: np.ndarray, classes: tuple[str, ...] = EMOTIONS) -> dict:
    pred = probs.argmax(1)
    cm = confusion_matrix(y, pred, len(classes))
    ece, bins = expected_calibration_error(probs, y)
    pc = per_class(cm, classes)
    return {
        "accuracy": float((pred == y).mean()),
        "n": int(len(y)),
        "macro_f1": float(np.mean([v["f1"] for v in pc.values()])),
        "ece": ece,
        "per_class": pc,
        "confusion_matrix": {"classes": list(classes), "rows": "true class", "columns": "predicted class",
                             "counts": cm.tolist()},
        "calibration_bins": bins,
    }


def plot_confusion(report: dict, path: str | Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(report["confusion_matrix"]["counts"], dtype=np.float64)
    classes = report["confusion_matrix"]["classes"]
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {report['accuracy']:.2%} (n={report['n']})")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_model(model: str | Path | None, x: np.ndarray, y: np.ndarray, batch: int = 256,
                   progress: bool = True) -> tuple[dict, np.ndarray]:
    """Run the ONNX model on uint8 (N,48,48) faces; returns (report, probabilities)."""
    from tqdm import tqdm

    from facemoji.classify import EmotionClassifier

    clf = EmotionClassifier(model)
    if clf.size != x.shape[1]:
        import cv2

        x = np.stack([cv2.resize(im, (clf.size, clf.size), interpolation=cv2.INTER_LINEAR) for im in x])
    chunks = []
    for i in tqdm(range(0, len(x), batch), desc="evaluating", unit="batch", disable=not progress):
        chunks.append(clf.predict_crops(x[i : i + batch, None].astype(np.float32)))
    probs = np.concatenate(chunks)
    report = evaluate_probs(probs, y, clf.classes)
    # latency of one face at batch 1, as the runtime sees it
    one = x[:1, None].astype(np.float32)
    for _ in range(20):
        clf.predict_crops(one)
    times = []
    for _ in range(200):
        t = time.perf_counter()
        clf.predict_crops(one)
        times.append((time.perf_counter() - t) * 1000)
    report["ms_per_face_batch1_median"] = float(np.median(times))
    report["model"] = {"path": str(clf.path), "bytes": clf.path.stat().st_size,
                       **{k.removeprefix("facemoji."): v for k, v in clf.metadata.items()
                          if k in ("facemoji.arch", "facemoji.epoch", "facemoji.preprocessing")}}
    return report, probs


def write_report(report: dict, path: str | Path) -> None:
    from facemoji.imageio import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(report, indent=2) + "\n").encode())
