"""The emotion model on hand-labelled real photographs, split by person.

    python scripts/realfaces_study.py ../shared/data/realfaces_muxspace_96.npz [--model m.onnx] [--write-val DIR]

Prints the person-disjoint split (faces per class on each side, people), then the model on the validation part
and on the whole file, each face cut out from the detector's stored box exactly as the runtime cuts it:
accuracy, balanced accuracy, recall per class, and where real neutral faces go (the share called angry, sad...).
``--write-val DIR`` writes the validation crops as PNG files into class folders, for
``facemoji evaluate --data DIR`` (which runs detection again on each crop, as on any photo).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from facemoji.classify import EmotionClassifier
from facemoji.labels import EMOTIONS
from facemoji.train.evaluate import evaluate_probs
from facemoji.train.realfaces import load_realfaces, runtime_crops


def describe(name: str, probs: np.ndarray, y: np.ndarray) -> dict:
    rep = evaluate_probs(probs, y)
    pred = probs.argmax(1)
    recall = {c: rep["per_class"][c]["recall"] for c in EMOTIONS}
    present = [c for i, c in enumerate(EMOTIONS) if (y == i).any()]
    neutral = pred[y == EMOTIONS.index("neutral")]
    where = {c: float((neutral == i).mean()) for i, c in enumerate(EMOTIONS)}
    out = {"part": name, "n": int(len(y)), "accuracy": rep["accuracy"],
           "balanced_accuracy": float(np.mean([recall[c] for c in present])), "recall": recall,
           "neutral_called": where}
    print(f"{name:<12} n={len(y):>5}  accuracy {out['accuracy']:.2%}  balanced {out['balanced_accuracy']:.2%}")
    print("  recall      " + "  ".join(f"{c[:3]} {recall[c]:.2f}" for c in EMOTIONS))
    print("  neutral ->  " + "  ".join(f"{c[:3]} {where[c]:.2f}" for c in EMOTIONS))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="realfaces .npz (x, y, box, names, source)")
    ap.add_argument("--model", default=None, help="ONNX emotion model (default: the shipped one)")
    ap.add_argument("--write-val", metavar="DIR", help="write the validation crops to DIR/<class>/<name>.png")
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = ap.parse_args()

    faces = load_realfaces(args.data)
    train, val = faces.split()
    print(f"people: {len(set(train.person))} in training, {len(set(val.person))} in validation, "
          f"shared {len(set(train.person) & set(val.person))}")
    for name, part in (("training", train), ("validation", val)):
        counts = np.bincount(part.y, minlength=len(EMOTIONS))
        print(f"{name:<12}" + "  ".join(f"{c[:3]} {n}" for c, n in zip(EMOTIONS, counts, strict=True)))

    clf = EmotionClassifier(args.model)
    results = []
    for name, part in (("validation", val), ("all", faces)):
        crops = runtime_crops(part, clf)
        probs = np.concatenate([clf.predict_crops(crops[i : i + 256]) for i in range(0, len(crops), 256)])
        results.append(describe(name, probs, part.y))
    if args.json:
        Path(args.json).write_text(json.dumps({"model": str(clf.path), "results": results}, indent=2) + "\n")
    if args.write_val:
        root = Path(args.write_val)
        for img, label, name in zip(val.x, val.y, val.names, strict=True):
            d = root / EMOTIONS[label]
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(d / (Path(name).stem + ".png"))
        print(f"wrote {len(val)} validation crops under {root}/<class>/")


if __name__ == "__main__":
    main()
