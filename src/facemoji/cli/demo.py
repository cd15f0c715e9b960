"""``facemoji demo``: the whole job on a sample photo that scikit-image ships."""

from __future__ import annotations

import argparse
import sys

from facemoji.overlay import COVERS, MODES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="emojify a bundled sample photo (scikit-image's astronaut)",
                       description="Run facemoji on scikit-image's astronaut photo (installed with facemoji) and "
                       "write the before/after picture.")
    p.add_argument("-o", "--output", default="facemoji_demo.jpg", help="where to write the result (default: facemoji_demo.jpg)")
    p.add_argument("--mode", choices=MODES, default="emoji",
                   help="emoji: cover the face; boxes: frame and emotion label; both (default: emoji)")
    p.add_argument("--cover", choices=COVERS, default="emoji",
                   help="how the face is hidden (default: emoji)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from skimage import data

    from facemoji.imageio import write_image
    from facemoji.pipeline import PHOTO_DETECT_SIZE, Pipeline

    img = data.astronaut()
    pipe = Pipeline(detect_size=PHOTO_DETECT_SIZE, mode=args.mode, cover=args.cover)
    out, faces = pipe.process(img)
    side_by_side = np.concatenate([img, np.full((img.shape[0], 8, 3), 255, np.uint8), out], axis=1)
    write_image(args.output, side_by_side)
    for f in faces:
        top = sorted(f.probabilities.items(), key=lambda kv: -kv[1])[:3]
        x1, y1, x2, y2 = (round(v) for v in f.box)
        print(f"face at ({x1},{y1})-({x2},{y2}): {f.emotion}  [" + ", ".join(f"{k} {v:.0%}" for k, v in top) + "]")
    print(f"before | after written to {args.output}", file=sys.stderr)
    return 0
