"""Frames per second and peak memory of the whole ``facemoji video`` command, per resolution, beside PyAV alone.

For each resolution (640x480, 1280x720, 1920x1080, 3840x2160) a clip is composed: scikit-image's astronaut
face moving and changing size over a soft background, H.264 (x264 veryfast, CRF 20) at 30 fps with an AAC
tone. Then, ``--runs`` times each, one after the other, as fresh processes:

* ``facemoji video CLIP -o OUT -q`` (defaults: detection at 320 px, x264 veryfast CRF 21 without B-frames and
  with a 5-frame lookahead, audio copied);
* the floor: the same clip decoded and re-encoded with PyAV alone (x264 veryfast at its usual CRF 23 and
  defaults, audio copied, frames passed straight from decoder to encoder), which no tool that re-encodes can beat.

Each process's wall time (start-up included) and peak resident memory (its own ``VmHWM``, read from ``/proc``
while it runs) are taken; the table gives medians, and the floor's time as a share of facemoji's.

    python benchmarks/bench_video.py                          # 150 frames, 3 runs, all four sizes
    python benchmarks/bench_video.py --sizes 1920x1080 --runs 5 --clips /tmp/clips
    python benchmarks/bench_video.py --detect-every-study      # 640x480: frames/s and coverage per K
    python benchmarks/bench_video.py --x264-quality            # facemoji's x264 settings against the floor's

Run it on an otherwise idle machine: the load average at start is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from child import run_child  # noqa: E402

from videos import (  # noqa: E402
    Clip,
    astronaut_crop,
    core_box,
    covered_fraction,
    make_clip,
    read_frames,
    visible_area,
    wandering_face,
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
    from facemoji.video.io import VideoReader
    from facemoji.video.writer import VideoWriter

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


def detect_every_study(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench_video.py --detect-every-study",
                                 description="640x480, 1 and 3 faces: frames/s and coverage for each --detect-every")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per setting (median reported; default 3)")
    ap.add_argument("--frames", type=int, default=150, help="frames per clip (30 fps; default 150)")
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 3], help="--detect-every values (default: 1 2 3)")
    ap.add_argument("--preset", default="veryfast", help="x264 preset (default: veryfast, the CLI default)")
    ap.add_argument("--detect-size", type=int, default=320, help="detection size (default: 320, the CLI default)")
    args = ap.parse_args(argv)

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



SIZES = ((640, 480), (1280, 720), (1920, 1080), (3840, 2160))


def compose_clip(path: Path, width: int, height: int, frames: int, fps: int = 30) -> Path:
    """The astronaut's face wandering and changing size (a quarter to a half of the height), AAC tone beside."""
    import av

    from videos import background

    face = astronaut_crop()
    bg = background((height, width))
    rate = 44100
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "veryfast", "crf": "20"}
        aus = out.add_stream("aac", rate=rate, layout="mono")
        chunk = aus.codec_context.frame_size or 1024
        samples = 0
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(wandering_face(bg, face, i, fps), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in vs.encode(f):
                out.mux(p)
            while samples < (i + 1) * rate / fps:  # keep the audio interleaved with the video
                n = np.arange(samples, samples + chunk)
                a = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * n / rate)).astype(np.float32)[None],
                                               format="fltp", layout="mono")
                a.sample_rate, a.pts, a.time_base = rate, samples, Fraction(1, rate)
                for p in aus.encode(a):
                    out.mux(p)
                samples += chunk
        for stream in (vs, aus):
            for p in stream.encode():
                out.mux(p)
    return path


def floor(src: str, dst: str, preset: str = "veryfast", crf: int = 23, params: str = "") -> None:
    """Decode and re-encode with PyAV alone: FFmpeg's threads, frames straight to x264, audio copied.

    ``params`` (x264-params) is empty for the floor itself; ``--x264-quality`` passes facemoji's.
    """
    import av

    with av.open(src) as inp, av.open(dst, "w", format="mp4") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if inp.streams.audio else None
        vout = out.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vout.time_base = vin.time_base
        vout.options = {"preset": preset, "crf": str(crf), **({"x264-params": params} if params else {})}
        aout = out.add_stream_from_template(ain) if ain is not None else None
        for packet in inp.demux(*[s for s in (vin, ain) if s is not None]):
            if packet.stream is vin:
                for frame in packet.decode():
                    for p in vout.encode(frame):
                        out.mux(p)
            elif aout is not None and packet.dts is not None:
                packet.stream = aout
                out.mux(packet)
        for p in vout.encode():
            out.mux(p)


def psnr_y(a: Path, b: Path) -> float:
    """PSNR of the luma of two videos, frame by frame (over the whole clip's mean squared error), in dB."""
    import av

    def frames(path: Path):
        with av.open(str(path)) as c:
            for f in c.decode(video=0):
                yield f.to_ndarray(format="gray").astype(np.float32)

    se, n = 0.0, 0
    for x, y in zip(frames(a), frames(b), strict=True):
        se += float(((x - y) ** 2).mean())
        n += 1
    return 10 * np.log10(255.0**2 / (se / n))


def x264_quality(argv: list[str]) -> int:
    """The floor's x264 settings against facemoji's on the same clips, PyAV alone (no faces drawn): file size,
    luma PSNR against the clip, peak memory and time of the process."""
    from facemoji.video.io import DEFAULT_CRF, X264_PARAMS

    ap = argparse.ArgumentParser(prog="bench_video.py --x264-quality")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--sizes", nargs="+", default=["1920x1080", "3840x2160"], metavar="WxH")
    ap.add_argument("--clips", metavar="DIR", help="keep the composed clips here and reuse them")
    args = ap.parse_args(argv)
    settings = [("x264 veryfast CRF 23 (the floor)", 23, ""), (f"CRF {DEFAULT_CRF}, {X264_PARAMS} (facemoji)",
                                                               DEFAULT_CRF, X264_PARAMS)]
    print(f"# cpus: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{'size':>10} {'settings':<46} {'bytes':>10} {'PSNR-Y dB':>10} {'peak MiB':>9} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        clips = Path(args.clips) if args.clips else Path(tmp)
        clips.mkdir(parents=True, exist_ok=True)
        for size in args.sizes:
            w, h = (int(v) for v in size.lower().split("x"))
            clip = clips / f"astronaut_{w}x{h}_{args.frames}.mp4"
            if not clip.exists():
                compose_clip(clip.with_suffix(".part.mp4"), w, h, args.frames).rename(clip)
            for name, crf, params in settings:
                out = Path(tmp) / "q.mp4"
                seconds, peak = timed([sys.executable, __file__, "--floor", str(clip), str(out), str(crf), params])
                print(f"{size:>10} {name:<46} {out.stat().st_size:>10} {psnr_y(clip, out):>10.2f} {peak:>9.0f} "
                      f"{seconds:>8.2f}", flush=True)
    return 0


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one child process (its own high-water mark: see ``child.py``)."""
    seconds, peak, rc, err = run_child(cmd, env)
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({rc}): {err.strip()[-500:]}")
    return seconds, peak


def main() -> int:
    if "--detect-every-study" in sys.argv[1:]:
        return detect_every_study([a for a in sys.argv[1:] if a != "--detect-every-study"])
    if len(sys.argv) in (4, 6) and sys.argv[1] == "--floor":
        floor(sys.argv[2], sys.argv[3], "veryfast", *([int(sys.argv[4]), sys.argv[5]] if len(sys.argv) == 6 else []))
        return 0
    if "--x264-quality" in sys.argv[1:]:
        return x264_quality([a for a in sys.argv[1:] if a != "--x264-quality"])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs of each command per size (median reported; default 3)")
    ap.add_argument("--frames", type=int, default=150, help="frames per clip, 30 fps (default 150)")
    ap.add_argument("--sizes", nargs="+", default=[f"{w}x{h}" for w, h in SIZES], metavar="WxH",
                    help="resolutions (default: 640x480 1280x720 1920x1080 3840x2160)")
    ap.add_argument("--clips", metavar="DIR", help="keep the composed clips here and reuse them (default: temporary)")
    ap.add_argument("--cover", default="emoji", help="facemoji's --cover (default: emoji)")
    ap.add_argument("--src", metavar="DIR",
                    help="run facemoji from this source folder (another version's src/) instead of the installed one")
    args = ap.parse_args()
    env = None
    if args.src:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(args.src).resolve()),
                                                            os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]

    load = os.getloadavg()[0]
    print(f"# cpus: {os.cpu_count()}, load average at start: {load:.2f}"
          + ("  (WARNING: machine busy; numbers are low)" if load > 0.7 else ""))
    facemoji = [sys.executable, "-m", "facemoji", "video"]
    rows = []
    med = statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        clips = Path(args.clips) if args.clips else Path(tmp)
        clips.mkdir(parents=True, exist_ok=True)
        for w, h in sizes:
            clip = clips / f"astronaut_{w}x{h}_{args.frames}.mp4"
            if not clip.exists():
                print(f"# composing {clip.name} ...", flush=True)
                compose_clip(clip.with_suffix(".part.mp4"), w, h, args.frames).rename(clip)
            out = Path(tmp) / "out.mp4"
            ours, base = [], []
            for _ in range(args.runs):  # alternate, so a change in load hits both alike
                cover = ["--cover", args.cover] if args.cover != "emoji" else []
                ours.append(timed([*facemoji, str(clip), "-o", str(out), "-q", *cover], env))
                base.append(timed([sys.executable, __file__, "--floor", str(clip), str(out)]))
            rows.append(((w, h), ours, base))
            print(f"# {w}x{h}: facemoji {[round(s, 2) for s, _ in ours]} s, floor {[round(s, 2) for s, _ in base]} s",
                  flush=True)
    if args.src:
        print(f"# facemoji run from {args.src}, with that version's own x264 settings")
    print(f"# {args.frames} frames at 30 fps, one face, AAC audio copied; facemoji's x264 settings (see "
          f"--x264-quality), the floor's veryfast CRF 23; wall time of the whole process (start-up included); "
          f"median of {args.runs} runs")
    print(f"{'size':>10} {'facemoji fps':>13} {'peak MiB':>9} {'floor fps':>10} {'peak MiB':>9} {'time / floor':>13}")
    for (w, h), ours, base in rows:
        t_ours, t_base = med([s for s, _ in ours]), med([s for s, _ in base])
        print(f"{f'{w}x{h}':>10} {args.frames / t_ours:>13.1f} {med([m for _, m in ours]):>9.0f} "
              f"{args.frames / t_base:>10.1f} {med([m for _, m in base]):>9.0f} {t_ours / t_base:>12.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
