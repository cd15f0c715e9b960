"""The emotion model on hand-labelled real photographs, split by person.

    python scripts/realfaces_study.py ../shared/data/realfaces_muxspace_96.npz [--model m.onnx] [--write-val DIR]
        [--align none,roll,eyes --landmarks runs/landmarks_realfaces.npz]
        [--fer ../shared/data/fer2013_publictest.npz --fer-landmarks runs/landmarks_fer_publictest.npz]

Prints the person-disjoint split (faces per class on each side, people), then the model on the validation part
and on the whole file, each face cut out from the detector's stored box exactly as the runtime cuts it:
accuracy, balanced accuracy, recall per class, and where real neutral faces go (the share called angry, sad...).
``--write-val DIR`` writes the validation crops as PNG files into class folders, for
``facemoji evaluate --data DIR`` (which runs detection again on each crop, as on any photo).

``--align`` measures the given framings one after the other (``none``: the box crop; ``roll``: eyes levelled;
``eyes``: levelled and scaled on the eye distance; see ``facemoji.classify.align``), whatever the model's metadata
says; they need ``--landmarks``, CenterFace's five points for each stored crop (``scripts/face_landmarks.py``).
Faces without landmarks get the box crop. ``--fer`` adds FER2013 faces: as the model was trained on them (the
whole 48-pixel frame), and, with ``--fer-landmarks``, cut from CenterFace's box in each framing (faces where
CenterFace found nothing keep the whole frame). With landmarks, each framing also reports the accuracy on faces
whose eyes tilt more than 10 degrees, and, after the first framing, how many faces it gets right that the first
got wrong (fixed) and the reverse (broken).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from facemoji.classify import EmotionClassifier
from facemoji.errors import ModelError
from facemoji.labels import EMOTIONS
from facemoji.train.evaluate import evaluate_probs, predict_batches
from facemoji.train.realfaces import frame_crops, load_landmarks, load_realfaces, runtime_crops, validation_mask


def roll_degrees(lms: np.ndarray) -> np.ndarray:
    """The eye line's angle to the horizontal of each face's landmarks (N, 5, 2), NaN without landmarks."""
    e = lms[:, 1] - lms[:, 0]
    return np.degrees(np.arctan2(e[:, 1], e[:, 0]))


def describe(name: str, probs: np.ndarray, y: np.ndarray, roll: np.ndarray | None = None,
             reference: np.ndarray | None = None) -> dict:
    """Accuracy, balanced accuracy, recall per class, where neutral faces go; with ``roll`` (degrees per face),
    the accuracy on faces tilted more than 10 degrees; with ``reference`` (another framing's predictions), how
    many faces this framing gets right that it got wrong (fixed) and the reverse (broken)."""
    rep = evaluate_probs(probs, y)
    pred = probs.argmax(1)
    recall = {c: rep["per_class"][c]["recall"] for c in EMOTIONS}
    present = [c for i, c in enumerate(EMOTIONS) if (y == i).any()]
    neutral = pred[y == EMOTIONS.index("neutral")]
    where = {c: float((neutral == i).mean()) for i, c in enumerate(EMOTIONS)}
    out = {"part": name, "n": int(len(y)), "accuracy": rep["accuracy"],
           "balanced_accuracy": float(np.mean([recall[c] for c in present])), "recall": recall,
           "neutral_called": where}
    extra = ""
    if roll is not None:
        tilted = np.abs(np.nan_to_num(roll)) > 10
        out |= {"n_tilted": int(tilted.sum()), "accuracy_tilted": float((pred[tilted] == y[tilted]).mean())}
        extra += f"  tilted >10deg: n={tilted.sum()} accuracy {out['accuracy_tilted']:.2%}"
    if reference is not None:
        out |= {"fixed": int(((pred == y) & (reference != y)).sum()), "broken": int(((pred != y) & (reference == y)).sum())}
        extra += f"  vs first framing: fixed {out['fixed']}, broken {out['broken']}"
    print(f"{name:<12} n={len(y):>5}  accuracy {out['accuracy']:.2%}  balanced {out['balanced_accuracy']:.2%}{extra}")
    print("  recall      " + "  ".join(f"{c[:3]} {recall[c]:.2f}" for c in EMOTIONS))
    print("  neutral ->  " + "  ".join(f"{c[:3]} {where[c]:.2f}" for c in EMOTIONS))
    return out




def fer_results(clf: EmotionClassifier, data: str, landmarks: str | None, mode: str | None,
                first: dict) -> list[dict]:
    """FER2013 faces as the model learnt them (whole frame; first framing only) and cut from CenterFace's box.

    ``first`` keeps the first framing's predictions, to compare the next framings with them.
    """
    with np.load(data) as d:
        x, y = d["x"], d["y"].astype(np.int64)
    out = []
    frames = x[:, None].astype(np.float32)
    if mode in (None, "none"):
        out.append({"align": "frame", **describe("fer-frame", predict_batches(clf, frames), y)})
    if landmarks:
        lms, boxes, found = load_landmarks(landmarks)
        crops = frame_crops(x, lms, boxes, found, clf)[:, None].astype(np.float32)
        probs = predict_batches(clf, crops)
        out.append({"align": mode, "found": float(found.mean()),
                    **describe("fer-box", probs, y, roll_degrees(lms), first.get("fer-box"))})
        first.setdefault("fer-box", probs.argmax(1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="realfaces .npz (x, y, box, names, source)")
    ap.add_argument("--model", default=None, help="ONNX emotion model (default: the shipped one)")
    ap.add_argument("--write-val", metavar="DIR", help="write the validation crops to DIR/<class>/<name>.png")
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    ap.add_argument("--validation-only", action="store_true", help="measure the validation part only")
    ap.add_argument("--align", metavar="MODES", help="framings to measure, comma-separated: none, roll, eyes")
    ap.add_argument("--landmarks", metavar="FILE", help="CenterFace's landmarks of the stored crops (.npz)")
    ap.add_argument("--fer", metavar="FILE", help="also measure FER2013 faces of this .npz (x, y)")
    ap.add_argument("--fer-landmarks", metavar="FILE", help="CenterFace's boxes and landmarks of the --fer faces")
    args = ap.parse_args()

    faces = load_realfaces(args.data)
    train, val = faces.split()
    print(f"people: {len(set(train.person))} in training, {len(set(val.person))} in validation, "
          f"shared {len(set(train.person) & set(val.person))}")
    for name, part in (("training", train), ("validation", val)):
        counts = np.bincount(part.y, minlength=len(EMOTIONS))
        print(f"{name:<12}" + "  ".join(f"{c[:3]} {n}" for c, n in zip(EMOTIONS, counts, strict=True)))

    lms = None
    if args.landmarks:
        lms = np.load(args.landmarks)["landmarks"]
        if len(lms) != len(faces):
            raise SystemExit(f"{args.landmarks}: {len(lms)} landmarks for {len(faces)} faces")
    modes = args.align.split(",") if args.align else [None]
    if lms is None and any(m != "none" for m in modes if m is not None):
        raise SystemExit("--align roll or eyes needs --landmarks (scripts/face_landmarks.py)")
    val_mask = validation_mask(faces)
    results = []
    first: dict[str, np.ndarray] = {}
    for mode in modes:
        try:
            clf = EmotionClassifier(args.model, align=mode)
        except ModelError as e:
            raise SystemExit(str(e)) from None
        if mode is not None:
            print(f"--- framing: {mode}")
        parts = [("validation", val, None if lms is None else lms[val_mask]), ("all", faces, lms)]
        for name, part, lm in parts[: 1 if args.validation_only else 2]:
            crops = runtime_crops(part, clf, lm)
            probs = predict_batches(clf, crops)
            roll = None if lm is None else roll_degrees(lm)
            results.append({"align": mode, **describe(name, probs, part.y, roll, first.get(name))})
            first.setdefault(name, probs.argmax(1))
        if args.fer:
            results += fer_results(clf, args.fer, args.fer_landmarks, mode, first)
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
