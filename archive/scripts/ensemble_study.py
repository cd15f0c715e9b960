"""Several emotion models and the ensemble of the first N: FER2013 PublicTest and real photographs side by side.

    python archive/scripts/ensemble_study.py A.onnx B.onnx C.onnx student.onnx --ensemble 3 \\
        --json study.json --plot tradeoff.png [--train]

Each model runs as the runtime runs it (its own ONNX graph, views included). FER2013 PublicTest: the whole
48-pixel frames. Real photographs: the person-disjoint validation part of ``realfaces_muxspace_96.npz``, each face
cut from its stored CenterFace box in the model's own framing (aligned when its metadata asks and ``--landmarks``
gives the points). The ensemble averages the probabilities of the first ``--ensemble`` models. ``--train`` adds
the accuracy on FER2013's training faces (how much of a teacher's targets merely repeat the labels).
``--plot`` draws PublicTest against real-photo accuracy for every model and the ensemble.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from facemoji.classify import EmotionClassifier
from facemoji.labels import EMOTIONS
from facemoji.train.evaluate import predict_batches, real_figures
from facemoji.train.realfaces import load_landmarks, load_realfaces, runtime_crops, validation_mask


def figures(p_fer: np.ndarray, y_fer: np.ndarray, p_real: np.ndarray, y_real: np.ndarray) -> dict:
    pf = p_fer.argmax(1)
    real = real_figures(p_real, y_real)
    return {"publictest": float((pf == y_fer).mean()),
            "publictest_recall": {c: round(float((pf[y_fer == k] == k).mean()), 3) for k, c in enumerate(EMOTIONS)},
            "real": real["accuracy"], "real_balanced": real["balanced"],
            "real_neutral_as_angry": real["neutral_as_angry"],
            "real_recall": {c: round(r, 3) for c, r in real["recall"].items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="ONNX files")
    ap.add_argument("--ensemble", type=int, default=0, help="average the first N models (default: none)")
    ap.add_argument("--data", default="../shared/data", help="folder with fer2013_*.npz and realfaces_muxspace_96.npz")
    ap.add_argument("--landmarks", help="CenterFace's points of the real crops, for models that align")
    ap.add_argument("--train", action="store_true", help="also the accuracy on FER2013's training faces")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--plot", help="draw PublicTest against real-photo accuracy here (PNG)")
    a = ap.parse_args()
    data = Path(a.data)
    with np.load(data / "fer2013_publictest.npz") as d:
        x_pt, y_pt = d["x"], d["y"].astype(np.int64)
    real = load_realfaces(data / "realfaces_muxspace_96.npz")
    is_val = validation_mask(real)
    rval = real.subset(is_val)
    lms = load_landmarks(a.landmarks)[0][is_val] if a.landmarks else None
    train = None
    if a.train:
        with np.load(data / "fer2013_train.npz") as d:
            train = d["x"], d["y"].astype(np.int64)
    probs, out = [], {}
    for m in a.models:
        clf = EmotionClassifier(m)
        p = (predict_batches(clf, x_pt, 256, f"{Path(m).name}: PublicTest"),
             predict_batches(clf, runtime_crops(rval, clf, lms), 256, f"{Path(m).name}: real photos"),
             predict_batches(clf, train[0], 256, f"{Path(m).name}: training faces") if train else None)
        probs.append(p)
        out[Path(m).name] = figures(p[0], y_pt, p[1], rval.y)
        if train:
            out[Path(m).name]["fer_train"] = float((p[2].argmax(1) == train[1]).mean())
    if a.ensemble:
        members = probs[: a.ensemble]
        name = "ensemble of " + " + ".join(Path(m).name for m in a.models[: a.ensemble])
        out[name] = figures(np.mean([p[0] for p in members], 0), y_pt, np.mean([p[1] for p in members], 0), rval.y)
        if train:
            out[name]["fer_train"] = float((np.mean([p[2] for p in members], 0).argmax(1) == train[1]).mean())
    print(f"{'model':<60} {'PublicTest':>10} {'real':>7} {'balanced':>8} {'neu->ang':>8}")
    for name, f in out.items():
        print(f"{name[:60]:<60} {f['publictest']:>10.4f} {f['real']:>7.4f} {f['real_balanced']:>8.4f} "
              f"{f['real_neutral_as_angry']:>8.3f}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 5))
        for name, f in out.items():
            ens = name.startswith("ensemble")
            ax.scatter(100 * f["publictest"], 100 * f["real"], marker="*" if ens else "o", s=160 if ens else 50)
            ax.annotate("ensemble" if ens else name.removesuffix(".onnx"), (100 * f["publictest"], 100 * f["real"]),
                        textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xlabel("FER2013 PublicTest accuracy, %")
        ax.set_ylabel("real photos (person-disjoint validation), accuracy, %")
        ax.set_title("Each file as the runtime runs it")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(a.plot, dpi=110)


if __name__ == "__main__":
    main()
