"""Which test-time augmentation to fold into the exported model: accuracy per view set.

    python scripts/tta_study.py runs/emotion/best.pt --data ../shared/data/fer2013_publictest.npz

Runs the checkpoint wrapped exactly as ``facemoji export`` wraps it (the same
``Deployed`` module, float32 PyTorch) with no augmentation, flip averaging,
and flip plus one-axis shifts of 1..3 pixels, and prints a table of accuracy
and the number of network passes per face. Needs ``facemoji[train]``.
"""

from __future__ import annotations

import argparse

import torch

from facemoji.train.data import load_dataset
from facemoji.train.export import Deployed, load_checkpoint, shift_views


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--data", required=True, help="labelled data (any form facemoji train reads)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=None, help="only the first N faces")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model, cfg, _ = load_checkpoint(args.checkpoint)
    ds = load_dataset(args.data, args.split)
    x = torch.from_numpy(ds.x[: args.limit]).float().unsqueeze(1)
    y = ds.y[: args.limit]
    print(f"{args.checkpoint} on {len(y)} faces of {ds.source}")
    print(f"{'views':<28}{'passes':>7}{'accuracy':>10}")
    settings = [("none", False, 0), ("flip", True, 0)] + [(f"flip + shifts of {s} px", True, s) for s in (1, 2, 3)]
    for name, flip, shift in settings:
        wrapped = Deployed(model, cfg["mean"], cfg["std"], flip=flip, shifts=shift_views(shift)).eval()
        with torch.no_grad():
            probs = torch.cat([wrapped(x[i : i + 256]) for i in range(0, len(x), 256)]).numpy()
        acc = float((probs.argmax(1) == y).mean())
        print(f"{name:<28}{wrapped.n_views:>7}{acc:>10.4f}")


if __name__ == "__main__":
    main()
