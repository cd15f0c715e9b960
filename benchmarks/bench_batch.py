"""Throughput of ``facemoji batch``: local engine with 1 and 2 workers, Ray with 2 CPUs, against plain loops.

Composes a corpus (default 500 photos, 400x300 JPEG with one or two real faces from scikit-image's
astronaut pasted at random places and sizes, and 10 short H.264 clips with AAC audio), then, for each of
several rounds, runs in this one process:

- the plain single-process ``facemoji image`` loop over the photos (its default: 2 model threads), and the
  ``facemoji video`` loop over the clips, one after the other;
- ``facemoji batch`` with the local engine, 1 worker and 2 workers (one model thread each);
- ``facemoji batch --engine ray`` on a local Ray with 2 CPUs (started once; its start-up is timed apart).

Each run writes the media and the tables into a fresh folder. It prints the median items/s, faces/s (face rows
per second: faces per photo, face-frames per video) and frames/s over the rounds, each engine's speed against
the plain loop, and the peak resident memory of the whole process tree during each run (driver plus workers
or Ray's processes).

    python benchmarks/bench_batch.py                    # 500 photos, 10 clips, 3 rounds
    python benchmarks/bench_batch.py --photos 100 --rounds 1 --no-ray
    python benchmarks/bench_batch.py --per-core     # only: one core's rate on 1080p video and 12-megapixel photos

``--per-core`` pins ``facemoji video`` and ``facemoji image`` to one core (``taskset -c 0``, one model thread) on a
1080p 30 fps clip with two faces and on 4000x3000 JPEGs: the per-core rates ``docs/scaling.md`` projects from.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from facemoji.batch import BatchConfig, run_batch  # noqa: E402
from videos import astronaut_crop, background, paste, write_video  # noqa: E402


def make_photos(folder: Path, n: int, size: tuple[int, int] = (400, 300), seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    face = astronaut_crop()
    w, h = size
    for i in range(n):
        img = background((h, w), seed=i % 7)
        for _ in range(1 + (i % 3 == 0)):
            side = int(rng.integers(110, 170))
            paste(img, face if rng.random() < 0.5 else face[:, ::-1], (int(rng.integers(0, w - side)),
                                                                       int(rng.integers(0, h - side)), side))
        img = np.clip(img.astype(np.int16) + int(rng.integers(-25, 25)), 0, 255).astype(np.uint8)
        sub = folder / f"set{i % 5}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(sub / f"p{i:05d}.jpg", quality=90)


def make_videos(folder: Path, n: int, frames: int = 30, fps: int = 15, size: tuple[int, int] = (320, 240)) -> None:
    face = astronaut_crop()
    w, h = size
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        bg = background((h, w), seed=k)
        imgs = []
        for i in range(frames):
            img = bg.copy()
            t = i / fps
            paste(img, face, (int(40 + 120 * (0.5 + 0.5 * np.sin(t * 1.5 + k))), int(30 + 20 * np.sin(t)), 140))
            imgs.append(img)
        write_video(folder / f"clip{k:02d}.mp4", imgs, fps)


class PeakRSS:
    """Samples the summed resident memory of this process and all its descendants every 0.1 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def tree_rss() -> int:
        me = os.getpid()
        parent: dict[int, int] = {}
        rss: dict[int, int] = {}
        page = os.sysconf("SC_PAGE_SIZE")
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{d}/statm") as f:
                    rss[int(d)] = int(f.read().split()[1]) * page
                parent[int(d)] = int(stat[1])
            except (OSError, IndexError, ValueError):
                continue
        total = 0
        for pid in rss:
            p, hops = pid, 0
            while p and p != me and hops < 64:
                p, hops = parent.get(p, 0), hops + 1
            if p == me:
                total += rss[pid]
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.tree_rss())
            self._stop.wait(0.1)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def wait_for_ray_to_exit(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    me = str(os.getpid())
    while time.monotonic() < deadline:
        left = 0
        for d in os.listdir("/proc"):
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == me and b"ray" in cmd:
                left += 1
        if not left:
            return
        time.sleep(0.2)


def count_faces(out: Path) -> int:
    import pyarrow.dataset as ds

    return ds.dataset(out / "faces", format="parquet").count_rows()


def timed(fn) -> tuple[float, int]:
    with PeakRSS() as mem:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t, mem.peak


def per_core(work: Path, rounds: int) -> None:
    """One core's frames/s on 1080p video (analysis only, and with the H.264 output) and photos/s at 12 MP."""
    import resource
    import subprocess

    face = astronaut_crop()
    clip = work / "clip1080.mp4"
    if not clip.exists():
        bg = cv2.resize(background((270, 480), seed=5), (1920, 1080))
        frames = []
        for i in range(90):
            img = bg.copy()
            paste(img, face, (300 + 6 * i, 200, 420))
            paste(img, face[:, ::-1], (1300 - 4 * i, 450, 360))
            frames.append(img)
        write_video(clip, frames, 30)
    big = work / "big"
    if not big.exists():
        big.mkdir()
        for i in range(8):
            img = cv2.resize(background((300, 400), seed=i), (4000, 3000))
            paste(img, face, (800 + 200 * i, 600, 1200))
            Image.fromarray(img).save(big / f"b{i}.jpg", quality=90)
    exe = [sys.executable, "-m", "facemoji"]
    runs = {
        "1080p video, analysis only (--no-video)": (exe + ["video", str(clip), "--no-video", "--json",
                                                            str(work / "v.jsonl"), "--threads", "1", "-q"], 90),
        "1080p video, with H.264 output": (exe + ["video", str(clip), "-o", str(work / "v.mp4"), "--threads", "1",
                                                   "-q"], 90),
        "12 MP photos, with output": (exe + ["image", str(big), "-o", str(work / "bigout"), "--threads", "1", "-q"],
                                      8),
    }
    print(f"one core (taskset -c 0), one model thread; medians of {rounds}; load average {os.getloadavg()[0]:.2f}")
    for name, (cmd, n) in runs.items():
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            subprocess.run(["taskset", "-c", "0", *cmd], check=True)
            times.append(time.perf_counter() - t)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        med = statistics.median(times)
        unit = "frames" if "video" in name else "photos"
        print(f"  {name:42s} {n / med:7.2f} {unit}/s per core  (peak RSS so far {peak:.0f} MiB, includes start-up)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=500)
    ap.add_argument("--videos", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--only", nargs="+", choices=("plain", "local1", "local2", "ray"), default=None,
                    help="run only these (the plain loops are the baseline of the 'vs plain' column)")
    ap.add_argument("--keep", metavar="DIR", help="compose the corpus in DIR and keep it (reused when present)")
    ap.add_argument("--per-core", action="store_true", help="only measure one core's rate on 1080p video and 12 MP "
                    "photos")
    args = ap.parse_args()
    cv2.setNumThreads(1)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="facemoji-bench-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.per_core:
        per_core(work, args.rounds)
        return
    photos, videos = work / "photos", work / "videos"
    if not photos.exists():
        make_photos(photos, args.photos)
    if not videos.exists():
        make_videos(videos, args.videos)
    n_photos = sum(1 for _ in photos.rglob("*.jpg"))
    n_videos = sum(1 for _ in videos.glob("*.mp4"))
    print(f"corpus: {n_photos} photos 400x300, {n_videos} clips 320x240 30 frames at 15 fps; "
          f"{os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.2f}", flush=True)

    ray_starts: list[float] = []

    from facemoji.cli import main as cli

    def plain_photos(out: Path) -> None:
        cli(["image", str(photos), "-o", str(out), "-q"])

    def plain_videos(out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        for v in sorted(videos.glob("*.mp4")):
            cli(["video", str(v), "-o", str(out / v.name), "-q"])

    steady: dict[tuple[str, str], list[tuple[float, float]]] = {}

    def batch(src: Path, engine: str, workers: int):
        def go(out: Path) -> None:
            res = run_batch([str(src)], BatchConfig(outdir=str(out)), engine=engine, workers=workers)
            assert res.failed == 0 and res.processed == res.items, res
        return go

    def start_and_steady(out: Path, started: float) -> tuple[float, float]:
        """Seconds until the first item began on a worker (the pool's start), and items/s from then to the end."""
        import pandas as pd

        s = pd.read_parquet(out / "summary")
        begun = (s.finished_at.astype("int64") / 1e3 - s.seconds).min()  # epoch seconds the first item began
        end = s.finished_at.astype("int64").max() / 1e3
        return begun - started, len(s) / (end - begun)

    def start_ray() -> None:
        import ray

        t = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        ray_starts.append(time.perf_counter() - t)

    modes = [("plain loop", None)] + [(f"local {w} worker{'s' if w > 1 else ''}", ("local", w)) for w in (1, 2)]
    if not args.no_ray:
        modes.append(("ray 2 CPUs", ("ray", 2)))
    if args.only:
        keys = {"plain loop": "plain", "local 1 worker": "local1", "local 2 workers": "local2", "ray 2 CPUs": "ray"}
        modes = [m for m in modes if keys[m[0]] in args.only]
    results: dict[tuple[str, str], list[tuple[float, int, int]]] = {}
    for r in range(args.rounds):
        for corpus, src, n in (("photos", photos, n_photos), ("videos", videos, n_videos)):
            for name, how in modes:
                out = work / "out"
                shutil.rmtree(out, ignore_errors=True)
                if how is None:
                    fn = plain_photos if corpus == "photos" else plain_videos
                else:
                    fn = batch(src, *how)
                if how is not None and how[0] == "ray":
                    start_ray()  # a fresh Ray for each run, timed apart; its processes count in the run's memory
                started = time.time()
                secs, peak = timed(lambda fn=fn, out=out: fn(out))
                if how is not None:
                    pool, rate = start_and_steady(out, started)
                    steady.setdefault((corpus, name), []).append((pool, rate))
                    print(f"        workers started after {pool:.1f} s; from then {rate:.2f} items/s", flush=True)
                if how is not None and how[0] == "ray":
                    import ray

                    ray.shutdown()
                    wait_for_ray_to_exit()  # its processes would count in the next run's memory
                faces = count_faces(out) if how is not None else -1
                results.setdefault((corpus, name), []).append((secs, peak, faces))
                print(f"round {r + 1} {corpus:6s} {name:16s} {secs:7.1f} s  {n / secs:6.2f} items/s  "
                      f"peak RSS {peak / 2**20:6.0f} MiB", flush=True)

    frames_per_video = 30
    print()
    if ray_starts:
        print(f"Ray start-up (ray.init with 2 CPUs, not counted below): median {statistics.median(ray_starts):.1f} s "
              f"of {len(ray_starts)}")
    print(f"medians of {args.rounds} round(s); faces/s = face rows written per second (face-frames for video)")
    print(f"{'corpus':7s} {'run':17s} {'seconds':>8s} {'items/s':>8s} {'faces/s':>8s} {'frames/s':>9s} "
          f"{'vs plain':>9s} {'peak RSS MiB':>13s}")
    for corpus, n in (("photos", n_photos), ("videos", n_videos)):
        base_runs = results.get((corpus, "plain loop"))
        base = statistics.median(s for s, _, _ in base_runs) if base_runs else float("nan")
        faces_ref = next((f for (c, _), v in results.items() if c == corpus for _, _, f in v if f >= 0), 0)
        for name, _ in modes:
            runs = results[(corpus, name)]
            secs = statistics.median(s for s, _, _ in runs)
            peak = max(p for _, p, _ in runs)
            frames = n * (1 if corpus == "photos" else frames_per_video)
            vs = f"{base / secs:8.2f}x" if base == base else f"{'-':>9s}"  # base is NaN without the plain loops
            print(f"{corpus:7s} {name:17s} {secs:8.1f} {n / secs:8.2f} {faces_ref / secs:8.1f} {frames / secs:9.1f} "
                  f"{vs} {peak / 2**20:13.0f}")
    print("\nnot counting the workers' start (models loaded): from the first item begun to the last finished")
    for (corpus, name), v in steady.items():
        print(f"{corpus:7s} {name:17s} workers ready after {statistics.median(p for p, _ in v):5.1f} s, then "
              f"{statistics.median(r for _, r in v):7.2f} items/s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
