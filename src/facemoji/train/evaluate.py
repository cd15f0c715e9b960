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


def real_figures(probs: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy, balanced accuracy (over the classes present), the share of neutral faces called angry, and the
    recall of each class present."""
    pred = probs.argmax(1)
    neutral = EMOTIONS.index("neutral")
    recall = {c: float((pred[y == i] == i).mean()) for i, c in enumerate(EMOTIONS) if (y == i).any()}
    return {"accuracy": float((pred == y).mean()), "balanced": float(np.mean(list(recall.values()))),
            "neutral_as_angry": float((pred[y == neutral] == EMOTIONS.index("angry")).mean()),
            "recall": recall}


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
    predicted = report["confusion_matrix"].get("predicted", classes)  # whole photos add a "no face" column
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4 + 0.7 * (len(predicted) - len(classes)), 5.6))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(predicted)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(predicted)), predicted, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {report['accuracy']:.2%} (n={report['n']})")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def predict_batches(clf, faces: np.ndarray, batch: int = 256, desc: str | None = None) -> np.ndarray:
    """``clf``'s probabilities for many faces, ``batch`` at a time: (N, S, S) faces or (N, C, S, S) crops, in
    0..255 (uint8 is converted a batch at a time, not all at once); behind a progress bar named ``desc``."""
    from tqdm import tqdm

    steps = range(0, len(faces), batch)
    chunks = [clf.predict_crops(faces[i : i + batch] if faces.ndim == 4 else faces[i : i + batch, None])
              for i in (tqdm(steps, desc=desc, unit="batch") if desc else steps)]
    return np.concatenate(chunks) if chunks else np.zeros((0, len(clf.classes)), np.float32)


def evaluate_model(model: str | Path | None, x: np.ndarray, y: np.ndarray, batch: int = 256,
                   progress: bool = True) -> tuple[dict, np.ndarray]:
    """Run the ONNX model on uint8 (N,48,48) faces; returns (report, probabilities)."""
    from facemoji.classify import EmotionClassifier

    clf = EmotionClassifier(model)
    if clf.size != x.shape[1]:
        import cv2

        x = np.stack([cv2.resize(im, (clf.size, clf.size), interpolation=cv2.INTER_LINEAR) for im in x])
    probs = predict_batches(clf, x, batch, "evaluating" if progress else None)
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


NO_FACE = "no face"


def photo_items(root: str | Path) -> list[tuple[Path, int]]:
    """Every file under a folder of class folders (``angry``..``neutral`` or ``0``..``6``), with its class."""
    from facemoji.train.data import DataError, _label_from_name

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of class folders")
    items = []
    for d in sorted(root.iterdir()):
        label = _label_from_name(d.name) if d.is_dir() else None
        if label is not None:
            items += [(p, label) for p in sorted(d.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    if not items:
        raise DataError(f"{root}: no class folders with files (expected 0..6 or {', '.join(EMOTIONS)})")
    return items


def holds_face_crops(root: str | Path) -> bool:
    """True when a class folder holds FER2013-style 48x48 faces rather than photos (judged by the first image)."""
    from PIL import Image

    from facemoji.train.data import IMAGE_SUFFIXES

    for p, _ in photo_items(root):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            try:
                with Image.open(p) as im:
                    return im.size == (48, 48)
            except OSError:
                continue
    return False


def evaluate_photos(root: str | Path, model: str | Path | None = None, detector: str = "centerface",
                    detect_size: int = 640, progress: bool = True) -> dict:
    """Every photo of a folder of class folders through the whole runtime: detection, cropping, the model.

    The largest face of each photo is its answer. A photo where no face is found counts as wrong (column
    ``no face`` of the confusion matrix) and is listed; a file that cannot be read is listed under
    ``errors`` and left out of the counts.
    """
    from tqdm import tqdm

    from facemoji.errors import FacemojiError
    from facemoji.imageio import read_image
    from facemoji.pipeline import Pipeline

    items = photo_items(root)
    pipe = Pipeline(detector=detector, model=model, detect_size=detect_size)
    classes = pipe.classes
    k = len(classes)
    cm = np.zeros((k, k + 1), dtype=np.int64)
    no_face: list[str] = []
    errors: list[dict] = []
    records = []
    for path, label in tqdm(items, desc="photos", unit="photo", disable=not progress):
        try:
            faces = pipe.analyze(read_image(path))
        except FacemojiError as e:
            errors.append({"path": str(path), "error": str(e)})
            continue
        if not faces:
            cm[label, k] += 1
            no_face.append(str(path))
            records.append({"path": str(path), "true": classes[label], "predicted": None})
            continue
        pred = classes.index(faces[0].emotion)
        cm[label, pred] += 1
        records.append({"path": str(path), "true": classes[label], "predicted": faces[0].emotion,
                        "probabilities": faces[0].probabilities})
    n = int(cm.sum())
    pc = per_class(np.ascontiguousarray(cm[:, :k]), classes)
    for i, name in enumerate(classes):  # recall counts photos without a face as misses
        total = int(cm[i].sum())
        pc[name]["recall"] = float(cm[i, i] / total) if total else 0.0
        pc[name]["support"] = total
        p, r = pc[name]["precision"], pc[name]["recall"]
        pc[name]["f1"] = float(2 * p * r / (p + r)) if p + r else 0.0
    recalls = [pc[c]["recall"] for c in classes if pc[c]["support"]]
    return {
        "accuracy": float(np.trace(cm[:, :k]) / n) if n else 0.0,
        "balanced_accuracy": float(np.mean(recalls)) if recalls else 0.0,
        "n": n,
        "macro_f1": float(np.mean([v["f1"] for v in pc.values()])),
        "per_class": pc,
        "confusion_matrix": {"classes": list(classes), "predicted": [*classes, NO_FACE], "rows": "true class",
                             "columns": "predicted class, then photos where no face was found", "counts": cm.tolist()},
        "no_face": {"count": len(no_face), "paths": no_face},
        "errors": errors,
        "photos": records,
        "data": str(Path(root)),
        "detector": {"name": detector, "size": detect_size},
    }
