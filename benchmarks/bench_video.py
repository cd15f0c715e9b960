"""Frames per second of the whole ``facemoji video`` path, and how well the faces stay covered.

Composes 640x480 H.264 clips with an AAC track (1 face, and 3 faces, all moving),
then runs :func:`facemoji.video.process_video` (decode with FFmpeg threads,
detect, classify, track, overlay, encode with libx264 in its own thread, mux
the audio) several times for each ``--detect-every`` value, and prints the
median frames/s with the share of frames whose every visible face is covered
by emoji (checked against where the faces were pasted).

    python benchmarks/bench_video.py                 # 150 frames, 3 runs, K = 1 2 3
    python benchmarks/bench_video.py --runs 5 --k 1 2 4

Run it on an otherwise idle machine: the load average at start is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from videos import (  # noqa: E402
    Clip,
    astronaut_crop,
    core_box,
    covered_fraction,
    make_clip,
    read_frames,
    visible_area,
)


def one_face(i: int, t: float) -> list[tuple[int, int, int]]:
    return [(int(200 + 150 * np.sin(t * 1.3)), int(140 + 40 * np.sin(t * 2.1)), int(170 + 30 * np.sin(t)))]


def three_faces(i: int, t: float) -> list[tuple[int, int, int]]:
    return [
        (int(20 + 40 * np.sin(t * 1.1)), int(60 + 60 * np.sin(t * 1.7)), 150),
        (int(240 + 30 * np.sin(t * 1.5)), int(200 + 50 * np.sin(t * 0.9)), 140),
        (int(450 + 30 * np.sin(t * 0.7)), int(90 + 70 * np.sin(t * 1.3)), 150),
    ]


def coverage(clip: Clip, out: Path) -> float:
    """Share of frames where every face (at least 60% visible) has >= 85% of its core under emoji."""
    src, dst = read_frames(clip.path), read_frames(out)
    ok = 0
    for i, squares in enumerate(clip.truth):
        fr = [covered_fraction(dst[i], src[i], core_box(sq)) for sq in squares if visible_area(sq, clip.size) >= 0.6]
        ok += all(f >= 0.85 for f in fr)
    return ok / len(clip.truth)


def stages(clip: Clip, pipe, preset: str) -> dict[str, float]:
    """Milliseconds per frame of each stage, run one after another in one thread (every frame detected)."""
    from facemoji.video.io import VideoReader, VideoWriter

    t: dict[str, float] = dict.fromkeys(("decode", "detect", "classify", "overlay", "encode"), 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        reader = VideoReader(clip.path)
        writer = VideoWriter(Path(tmp) / "s.mp4", *clip.size, clip.fps, preset=preset)
        it = reader.frames()
        n = 0
        while True:
            t0 = time.perf_counter()
            frame = next(it, None)
            t["decode"] += time.perf_counter() - t0
            if frame is None:
                break
            faces = pipe.detect(frame.image)
            t["detect"] += pipe.timings.detect / 1000
            pipe.classify(frame.image, faces)
            t["classify"] += pipe.timings.classify / 1000
            out = pipe.render(frame.image, faces)
            t["overlay"] += pipe.timings.overlay / 1000
            t0 = time.perf_counter()
            writer.write(out)
            t["encode"] += time.perf_counter() - t0
            n += 1
        t0 = time.perf_counter()
        writer.close()
        t["encode"] += time.perf_counter() - t0
        reader.close()
    return {k: 1000 * v / max(n, 1) for k, v in t.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="timed runs per setting (median reported; default 3)")
    ap.add_argument("--frames", type=int, default=150, help="frames per clip (30 fps; default 150)")
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 3], help="--detect-every values (default: 1 2 3)")
    ap.add_argument("--preset", default="veryfast", help="x264 preset (default: veryfast, the CLI default)")
    ap.add_argument("--detect-size", type=int, default=320, help="detection size (default: 320, the CLI default)")
    args = ap.parse_args()

    from facemoji.pipeline import Pipeline
    from facemoji.video import process_video

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# cpus: {os.cpu_count()}, load average at start: {load:.2f}"
          + ("  (WARNING: machine busy; numbers are low)" if load > 0.7 else ""))
    pipe = Pipeline(detect_size=args.detect_size)
    face = astronaut_crop()
    mirrored = np.ascontiguousarray(face[:, ::-1])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        clips = {
            "1 face": make_clip(d / "one.mp4", [face], one_face, frames=args.frames, fps=30),
            "3 faces": make_clip(d / "three.mp4", [face, mirrored, face], three_faces, frames=args.frames, fps=30),
        }
        for name, clip in clips.items():
            for k in args.k:
                out = d / f"out_{k}.mp4"
                process_video(clip.path, out, pipe, detect_every=k, progress=False, preset=args.preset)  # warm-up
                speeds = []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    rep = process_video(clip.path, out, pipe, detect_every=k, progress=False, preset=args.preset)
                    speeds.append(rep.frames / (time.perf_counter() - t))
                rows.append((name, k, statistics.median(speeds), min(speeds), max(speeds), coverage(clip, out)))
        print("# per-stage cost, ms per frame, stages run one after another (detection on every frame):")
        print(f"{'clip':<8} " + " ".join(f"{k:>9}" for k in ("decode", "detect", "classify", "overlay", "encode")))
        for name, clip in clips.items():
            st = stages(clip, pipe, args.preset)
            print(f"{name:<8} " + " ".join(f"{v:>9.2f}" for v in st.values()))
    print(f"# 640x480, {args.frames} frames at 30 fps, AAC audio copied, x264 preset {args.preset}, "
          f"detection at {args.detect_size} px, median of {args.runs} runs")
    print(f"{'clip':<8} {'detect-every':>12} {'frames/s':>9} {'min':>7} {'max':>7} {'covered':>8}")
    for name, k, med, lo, hi, cov in rows:
        print(f"{name:<8} {k:>12} {med:>9.1f} {lo:>7.1f} {hi:>7.1f} {cov:>8.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
