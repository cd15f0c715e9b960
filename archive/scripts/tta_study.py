"""Which test-time augmentation to fold into the exported model: accuracy per view set.

    python archive/scripts/tta_study.py runs/emotion/last.pt [more.pt ...] --data ../shared/data/fer2013_publictest.npz

Runs each checkpoint wrapped exactly as ``facemoji export`` wraps it (the same
``Deployed`` module, float32 PyTorch) with no augmentation, flip averaging,
flip plus one-axis shifts of 1..3 pixels, and flip plus one zoom about the
centre (0.88..1.08, each zoomed view mirrored too), and prints a table: faces
right per checkpoint and view set, and the number of network passes per face.

Judge a view set on ``last.pt`` checkpoints: a ``best.pt`` was picked as the
epoch where flip averaging scored best on the same faces, which favours flip
averaging over every other view set. Needs ``facemoji[train]``.
"""

from __future__ import annotations

import argparse

import torch

from facemoji.train.data import load_dataset
from facemoji.train.export import Deployed, load_checkpoint, shift_views

SETTINGS = ([("none", False, 0, ()), ("flip", True, 0, ())]
            + [(f"flip+shift{s}", True, s, ()) for s in (1, 2, 3)]
            + [(f"flip+zoom{z:g}", True, 0, (z,)) for z in (0.88, 0.92, 0.96, 1.04, 1.08)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--data", required=True, help="labelled data (any form facemoji train reads)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=None, help="only the first N faces")
    ap.add_argument("--only", default=None, metavar="TEXT",
                    help="only the view sets whose name contains TEXT (e.g. zoom), besides flip")
    args = ap.parse_args()
    settings = [s for s in SETTINGS if args.only is None or args.only in s[0] or s[0] == "flip"]
    torch.set_num_threads(2)
    ds = load_dataset(args.data, args.split)
    x = torch.from_numpy(ds.x[: args.limit]).float().unsqueeze(1)
    y = ds.y[: args.limit]
    passes = [Deployed(torch.nn.Identity(), 0.0, 1.0, flip=f, shifts=shift_views(s), zooms=z).n_views
              for _, f, s, z in settings]
    print(f"faces right of {len(y)} ({ds.source}); passes per face:",
          ", ".join(f"{name} {n}" for (name, *_), n in zip(settings, passes, strict=True)))
    print(f"{'checkpoint':<28}" + "".join(f"{name:>15}" for name, *_ in settings))
    for path in args.checkpoints:
        model, cfg, _ = load_checkpoint(path)
        row = []
        for _name, flip, shift, zooms in settings:
            wrapped = Deployed(model, cfg["mean"], cfg["std"], flip=flip, shifts=shift_views(shift), zooms=zooms).eval()
            with torch.no_grad():
                probs = torch.cat([wrapped(x[i : i + 256]) for i in range(0, len(x), 256)]).numpy()
            row.append(int((probs.argmax(1) == y).sum()))
        print(f"{path[-28:]:<28}" + "".join(f"{r:>15}" for r in row), flush=True)


if __name__ == "__main__":
    main()
