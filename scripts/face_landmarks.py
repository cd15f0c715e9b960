"""CenterFace's five landmarks for stored face crops (realfaces and FER2013), in each crop's own pixels.

    python scripts/face_landmarks.py realfaces ../shared/data/realfaces_muxspace_96.npz runs/landmarks_realfaces.npz
    python scripts/face_landmarks.py fer ../shared/data/fer2013_publictest.npz runs/landmarks_fer_publictest.npz

Writes an .npz with ``landmarks`` (N, 5, 2) float32 (x, y) in CenterFace's order: left eye, right eye, nose,
left and right mouth corner (left and right as seen in the picture), NaN where no face was found; ``found``
(N,) bool; ``score`` (N,) float32 and ``box`` (N, 4) float32 of the detection used, in the crop's pixels.

Realfaces crops (96 px, the face about 60 px wide) are upscaled twice before detection; of the faces found,
the one that overlaps the stored ``box`` most is kept (none when the overlap is under 0.3). A crop where
nothing is found is tried again on a canvas padded with its replicated border. FER2013 faces (48 px, the face
filling the frame) are upscaled four times and padded by half their side with the replicated border (as in
``calibrate_crop.py``), and detected at a threshold of 0.3; the face nearest the canvas centre is kept. For FER2013 the script also prints the
median eye distance as a share of the 48-pixel frame (the framing the model learnt) and the spread of the eye
roll angle, which calibrate the ``eye_distance`` of aligned crops (see ``facemoji.classify.align``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from facemoji.detect.centerface import CenterFace
from facemoji.types import Face


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def detect_scaled(det: CenterFace, gray: np.ndarray, up: float, pad: int) -> list[Face]:
    """Faces of ``gray`` upscaled by ``up`` and padded by ``pad`` upscaled pixels, mapped back to ``gray``'s pixels."""
    h, w = gray.shape
    big = cv2.resize(gray, (round(w * up), round(h * up)), interpolation=cv2.INTER_CUBIC)
    if pad:
        big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    det.size = max(big.shape)
    faces = det.detect(cv2.cvtColor(big, cv2.COLOR_GRAY2RGB))
    for f in faces:
        f.box = tuple((v - pad) / up for v in f.box)
        f.landmarks = (np.asarray(f.landmarks, dtype=np.float64) - pad) / up
    return faces


def landmarks_realfaces(det: CenterFace, x: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    n = len(x)
    lms = np.full((n, 5, 2), np.nan, np.float32)
    score = np.zeros(n, np.float32)
    box = np.full((n, 4), np.nan, np.float32)
    for i, (img, stored) in enumerate(zip(x, boxes, strict=True)):
        best, best_iou = None, 0.3
        for pad in (0, 96):
            for f in detect_scaled(det, img, 2.0, pad):
                o = iou(np.asarray(f.box), stored)
                if o > best_iou:
                    best, best_iou = f, o
            if best is not None:
                break
        if best is not None:
            lms[i], score[i], box[i] = best.landmarks, best.score, best.box
        if i % 2000 == 0:
            print(f"  {i}/{n}", flush=True)
    return lms, score, box


def landmarks_fer(det: CenterFace, x: np.ndarray) -> tuple[np.ndarray, ...]:
    n = len(x)
    lms = np.full((n, 5, 2), np.nan, np.float32)
    score = np.zeros(n, np.float32)
    box = np.full((n, 4), np.nan, np.float32)
    for i, img in enumerate(x):
        faces = detect_scaled(det, img, 4.0, 96)
        if faces:
            c = np.array(img.shape[::-1], np.float64) / 2
            f = min(faces, key=lambda f: float(np.hypot(*(np.asarray(f.center) - c))))
            lms[i], score[i], box[i] = f.landmarks, f.score, f.box
        if i % 5000 == 0:
            print(f"  {i}/{n}", flush=True)
    return lms, score, box


def eye_stats(lms: np.ndarray, side: float) -> dict:
    ok = ~np.isnan(lms[:, 0, 0])
    e = lms[ok, 1] - lms[ok, 0]
    dist = np.hypot(e[:, 0], e[:, 1]) / side
    roll = np.degrees(np.arctan2(e[:, 1], e[:, 0]))
    mid = (lms[ok, 0] + lms[ok, 1]) / 2 / side
    q = [5, 25, 50, 75, 95]
    return {"n": int(ok.sum()), "eye_distance_share": dict(zip(q, np.percentile(dist, q).round(4).tolist(), strict=True)),
            "roll_degrees": dict(zip(q, np.percentile(roll, q).round(2).tolist(), strict=True)),
            "abs_roll_over_10deg": float((np.abs(roll) > 10).mean()),
            "eye_midpoint_share": {"x": float(np.median(mid[:, 0])), "y": float(np.median(mid[:, 1]))}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["realfaces", "fer"])
    ap.add_argument("data", help="the .npz of crops (x, and box for realfaces)")
    ap.add_argument("out", help="the .npz to write")
    ap.add_argument("--n", type=int, default=None, help="only the first N crops")
    args = ap.parse_args()
    with np.load(args.data, allow_pickle=False) as d:
        x = d["x"][: args.n]
        boxes = d["box"][: args.n] if args.kind == "realfaces" else None
    # FER2013 faces fill their frame and are small: CenterFace finds a face in 76% of them at its usual
    # threshold, 95% at 0.3 (measured on PublicTest); the one nearest the centre is the face
    det = CenterFace(size=192, threshold=0.5 if args.kind == "realfaces" else 0.3, threads=2)
    t0 = time.perf_counter()
    if boxes is not None:
        lms, score, box = landmarks_realfaces(det, x, boxes)
    else:
        lms, score, box = landmarks_fer(det, x)
    found = ~np.isnan(lms[:, 0, 0])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, landmarks=lms, found=found, score=score, box=box)
    print(f"{args.out}: landmarks for {found.sum()} of {len(x)} crops ({found.mean():.1%}), "
          f"{time.perf_counter() - t0:.0f} s")
    print("eye statistics (shares of the crop's side):", eye_stats(lms, float(x.shape[1])))


if __name__ == "__main__":
    main()
