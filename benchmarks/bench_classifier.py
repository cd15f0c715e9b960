"""Speed of the emotion model alone: one face at a time, as the runtime runs it.

    python benchmarks/bench_classifier.py [--model emotion.onnx] [--runs 7] [--inner 200]

Prints a table: the ONNX file's size and the median milliseconds per face at
batch 1 (onnxruntime, 2 threads, the model's own test-time augmentation
included, since it is in the graph), and per face at batch 3 and 8. The
faces are real FER2013 PublicTest rows when ``../shared/data`` is there, else
crops of scikit-image's astronaut. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from facemoji.classify import EmotionClassifier

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013_publictest.npz"


def faces(n: int) -> np.ndarray:
    if DATA.exists():
        with np.load(DATA) as d:
            return d["x"][:n, None].astype(np.float32)
    import cv2
    from skimage import data

    gray = cv2.cvtColor(data.astronaut()[20:220, 125:325], cv2.COLOR_RGB2GRAY)
    return np.repeat(cv2.resize(gray, (48, 48), interpolation=cv2.INTER_AREA)[None, None], n, 0).astype(np.float32)


def ms_per_face(clf: EmotionClassifier, x: np.ndarray, batch: int, runs: int, inner: int) -> float:
    for i in range(20):
        clf.predict_crops(x[i % len(x) : i % len(x) + batch])
    per_run = []
    for _ in range(runs):
        t = time.perf_counter()
        for i in range(inner):
            j = (i * batch) % (len(x) - batch)
            clf.predict_crops(x[j : j + batch])
        per_run.append((time.perf_counter() - t) * 1000 / (inner * batch))
    return statistics.median(per_run)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    ap.add_argument("--runs", type=int, default=7, help="repetitions; medians are reported (default 7)")
    ap.add_argument("--inner", type=int, default=200, help="calls per repetition (default 200)")
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime threads (default 2)")
    args = ap.parse_args()
    clf = EmotionClassifier(args.model, threads=args.threads)
    x = faces(1000)
    meta = clf.metadata
    size_mb = clf.path.stat().st_size / 2**20
    print(f"{clf.path.name}: {meta.get('facemoji.arch', '?')}, {size_mb:.1f} MiB, "
          f"test-time augmentation: {meta.get('facemoji.tta', 'see facemoji.preprocessing')}")
    print(f"onnxruntime {args.threads} threads, median of {args.runs} runs x {args.inner} calls")
    print(f"{'batch':>6}{'ms/face':>10}{'faces/s':>10}")
    for batch in (1, 3, 8):
        ms = ms_per_face(clf, x, batch, args.runs, args.inner)
        print(f"{batch:>6}{ms:>10.3f}{1000 / ms:>10.0f}")


if __name__ == "__main__":
    main()
