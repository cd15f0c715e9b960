"""Does a label-shift correction help a model trained on FER+-mixed targets?

    python archive/scripts/label_shift_study.py --model src/facemoji/models/emotion.onnx \
        --train ../shared/data/fer2013_train.npz --ferplus ../shared/data/ferplus_votes_train_publictest.npz \
        --data ../shared/data/fer2013_publictest.npz

The trainer's target mixes the FER2013 label with the FER+ vote shares, so the
class frequencies it teaches differ from FER2013's own. This rebuilds the
training target from the training labels alone (the ``config.json`` of the run
gives the FER+ weight and label smoothing), multiplies the model's
probabilities by FER2013 frequency / target frequency, and prints accuracy on
``--data`` before and after. Nothing is fitted on ``--data``.
"""

from __future__ import annotations

import argparse

import numpy as np

from facemoji.classify.emotion import EmotionClassifier
from facemoji.labels import EMOTIONS
from facemoji.train.data import ferplus_soft_labels, load_dataset
from facemoji.train.evaluate import predict_batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="exported ONNX model")
    ap.add_argument("--train", required=True, help="the training data the model saw")
    ap.add_argument("--ferplus", required=True, help="FER+ votes .npz used in training")
    ap.add_argument("--ferplus-weight", type=float, default=0.3)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--data", required=True, help="labelled evaluation data")
    args = ap.parse_args()

    k = len(EMOTIONS)
    train = load_dataset(args.train, "train")
    soft = ferplus_soft_labels(args.ferplus, train.row_index)
    target = np.full((len(train), k), args.label_smoothing / k)
    target[np.arange(len(train)), train.y] += 1.0 - args.label_smoothing
    has = soft.sum(1) > 0
    target[has] = (1 - args.ferplus_weight) * target[has] + args.ferplus_weight * soft[has]
    ratio = (np.bincount(train.y, minlength=k) / len(train)) / target.mean(0)

    test = load_dataset(args.data, "val")
    clf = EmotionClassifier(args.model)
    p = predict_batches(clf, test.x)
    print(f"{'class':<10}{'FER2013 share':>15}{'target share':>14}{'ratio':>8}")
    for c, a, b, r in zip(EMOTIONS, np.bincount(train.y, minlength=k) / len(train), target.mean(0), ratio, strict=True):
        print(f"{c:<10}{a:>15.3f}{b:>14.3f}{r:>8.2f}")
    for name, q in (("as trained", p), ("shift-corrected", p * ratio)):
        hits = int((q.argmax(1) == test.y).sum())
        print(f"{name:<16} {hits}/{len(test)} = {100 * hits / len(test):.2f} %")


if __name__ == "__main__":
    main()
