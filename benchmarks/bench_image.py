"""Per-stage speed of the photo pipeline on 640x480 pictures, and the CLI's cold start.

    python benchmarks/bench_image.py [--runs 7] [--detect-size 320]

Prints a table: median milliseconds per stage (decode, detect, classify,
overlay) and frames per second of detect + classify + overlay on an already
decoded frame, for one face and for three faces; then the median wall time of
`facemoji image photo.jpg -o out.jpg` as a fresh process, with its peak resident
memory. Run it on an idle machine: anything else running on the two cores shows
up in the numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from child import run_child
from PIL import Image
from skimage import data

from facemoji.imageio import read_image
from facemoji.pipeline import Pipeline


def one_face() -> np.ndarray:
    return cv2.resize(data.astronaut()[:384], (640, 480), interpolation=cv2.INTER_AREA)


def three_faces() -> np.ndarray:
    photo = data.astronaut()
    face = photo[20:220, 125:325]
    canvas = cv2.GaussianBlur(cv2.resize(photo, (640, 480)), (0, 0), 8)
    for x, y, side in ((20, 140, 170), (240, 60, 150), (440, 200, 180)):
        canvas[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    return canvas


def bench_frame(pipe: Pipeline, path: Path, runs: int, inner: int) -> dict[str, float]:
    rows: dict[str, list[float]] = {"decode": [], "detect": [], "classify": [], "overlay": [], "frame": []}
    img = read_image(path)
    for _ in range(3):
        pipe.process(img)
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(inner):
            read_image(path)
        rows["decode"].append((time.perf_counter() - t) * 1000 / inner)
        det = cls = ovl = 0.0
        t = time.perf_counter()
        for _ in range(inner):
            _, faces = pipe.process(img)
            det += pipe.timings.detect
            cls += pipe.timings.classify
            ovl += pipe.timings.overlay
        rows["frame"].append((time.perf_counter() - t) * 1000 / inner)
        rows["detect"].append(det / inner)
        rows["classify"].append(cls / inner)
        rows["overlay"].append(ovl / inner)
    med = {k: statistics.median(v) for k, v in rows.items()}
    med["faces"] = len(faces)
    med["fps"] = 1000 / med["frame"]
    return med


def facemoji_command() -> list[str]:
    """This interpreter's ``facemoji`` console script (not whichever is first on PATH), else ``python -m facemoji``."""
    script = Path(sys.executable).with_name("facemoji")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "facemoji"]


def cold_start(path: Path, runs: int) -> tuple[list[float], list[float]]:
    """Wall seconds and peak resident MiB (the child's own high-water mark, see ``child.py``) of ``facemoji image``
    as a fresh process."""
    times, peaks = [], []
    command = facemoji_command()
    with tempfile.TemporaryDirectory() as d:
        for i in range(runs):
            seconds, peak, rc, err = run_child([*command, "image", str(path), "-o", f"{d}/out{i}.jpg", "-q"])
            if rc != 0:
                raise RuntimeError(f"facemoji image failed ({rc}): {err.strip()[-300:]}")
            times.append(seconds)
            peaks.append(peak)
    return times, peaks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="repetitions; medians are reported (default 7)")
    ap.add_argument("--inner", type=int, default=20, help="frames per repetition (default 20)")
    ap.add_argument("--detect-size", type=int, default=320)
    args = ap.parse_args()
    pipe = Pipeline(detect_size=args.detect_size)
    with tempfile.TemporaryDirectory() as d:
        results = {}
        for name, img in (("1 face", one_face()), ("3 faces", three_faces())):
            p = Path(d) / f"{name[0]}.jpg"
            Image.fromarray(img).save(p, quality=92)
            results[name] = bench_frame(pipe, p, args.runs, args.inner)
        print(f"640x480 frames, detect size {args.detect_size}, median of {args.runs} runs x {args.inner} frames, "
              f"{pipe.classifier.metadata.get('facemoji.arch', '?')} classifier")
        print(f"{'picture':<9}{'faces':>6}{'decode':>9}{'detect':>9}{'classify':>10}{'overlay':>9}{'frame':>9}{'fps':>8}")
        for name, r in results.items():
            print(f"{name:<9}{r['faces']:>6}{r['decode']:>8.2f} {r['detect']:>8.2f} {r['classify']:>9.2f} "
                  f"{r['overlay']:>8.2f} {r['frame']:>8.2f} {r['fps']:>7.1f}")
        print("(ms; 'frame' = detect + classify + overlay of a decoded frame; fps = 1000 / frame)")
        times, peaks = cold_start(Path(d) / "1.jpg", max(5, args.runs // 2))
        print(f"cold start `facemoji image photo.jpg -o out.jpg`: median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f}, {len(times)} runs), peak RSS median "
              f"{statistics.median(peaks):.0f} MiB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
