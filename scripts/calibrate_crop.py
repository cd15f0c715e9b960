"""Measure how CenterFace's boxes sit on FER2013-framed faces.

FER2013 faces are 48x48 crops with a particular framing. To feed the model
faces framed the same way, we place FER2013 faces (upscaled, on a padded
canvas) in front of the detector and measure, per detected face, the square
FER frame relative to the detector box: side / max(w, h), and the centre
offset as a fraction of the box size. The medians are the ``crop`` metadata
written into the ONNX model at export (``facemoji export --crop``).

    python scripts/calibrate_crop.py --data ../shared/data/fer2013_publictest.npz
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np

from facemoji.detect import get_detector


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/fer2013_publictest.npz")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--side", type=int, default=144, help="pixels the 48x48 face is upscaled to")
    args = ap.parse_args()
    x = np.load(args.data)["x"][: args.n]
    det = get_detector("centerface", size=320)
    pad = args.side // 2
    scales, dxs, dys, found = [], [], [], 0
    for img in x:
        face = cv2.resize(img, (args.side, args.side), interpolation=cv2.INTER_CUBIC)
        canvas = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        rgb = cv2.cvtColor(canvas, cv2.COLOR_GRAY2RGB)
        faces = det.detect(rgb)
        if not faces:
            continue
        f = max(faces, key=lambda f: f.score)
        x1, y1, x2, y2 = f.box
        w, h = x2 - x1, y2 - y1
        fc = pad + args.side / 2
        found += 1
        scales.append(args.side / max(w, h))
        dxs.append((fc - (x1 + x2) / 2) / w)
        dys.append((fc - (y1 + y2) / 2) / h)
    crop = {"scale": round(float(np.median(scales)), 3), "dx": round(float(np.median(dxs)), 3),
            "dy": round(float(np.median(dys)), 3)}
    print(f"detected {found}/{len(x)} faces")
    print(f"scale IQR {np.percentile(scales, 25):.3f}..{np.percentile(scales, 75):.3f}, "
          f"dy IQR {np.percentile(dys, 25):.3f}..{np.percentile(dys, 75):.3f}")
    print(json.dumps(crop))


if __name__ == "__main__":
    main()
