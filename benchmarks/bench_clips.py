"""``facemoji video`` on the real clips of ``../shared/clips``: speed, memory, and what the audit sees in the output.

For each clip (the nine of ``shared/clips``, or ``--clips NAME...``) and each setting (the default mode and
``--strict``; with ``--before SRC`` the same two again from an older tree's ``src/`` folder, run with
``PYTHONPATH=SRC``), ``--runs`` times:

* ``python -m facemoji video CLIP -o OUT.mp4 -q [--strict] [--extra ...]`` as a fresh process: its wall time
  (start-up included) and its own peak resident memory (``VmHWM``, see ``child.py``);
* the floor: the same clip decoded and re-encoded by PyAV alone (x264 veryfast; ``bench_video.py --floor``), also
  a fresh process, once per clip and run.

Then each setting's output is audited (:func:`facemoji.audit.audit`, its defaults: YuNet with Haar as a second
opinion) against the clip: faces found in the original, faces more than half showing and partly showing (over 10%
but at most 25% of the face unchanged), the covers found in the output and those on no face ("ghosts"). One
markdown table per setting; medians over the runs for time and memory. ``--json FILE`` writes the rows.

    python benchmarks/bench_clips.py                                  # all nine clips, default and --strict
    python benchmarks/bench_clips.py --clips sam2_juggle_man zwm_tearsofsteel_cuts --runs 3
    python benchmarks/bench_clips.py --before /tmp/old/src --json clips.json
    python benchmarks/bench_clips.py --extra="--cover blur"          # (with '=': the value starts with a dash)

Run it on an otherwise idle machine: the load average at start is printed. The audits run in this process
after the timings (about 2 frames/s on a 1080p crowd on 2 cores), so they do not disturb them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from child import run_child  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "clips"
BENCH_VIDEO = Path(__file__).resolve().parent / "bench_video.py"
COLUMNS = ("clip", "size", "frames", "faces", "more than half showing", "partly showing", "covers",
           "covers on no face", "frames/s", "x floor", "peak MiB")


def settings(before: str | None, extra: list[str]) -> list[tuple[str, list[str], dict[str, str] | None]]:
    """(label, extra arguments of ``facemoji video``, environment) for every setting."""
    out: list[tuple[str, list[str], dict[str, str] | None]] = [("default", [*extra], None),
                                                                ("strict", ["--strict", *extra], None)]
    if before:
        src = str(Path(before).resolve())
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)}
        out += [("before default", [*extra], env), ("before strict", ["--strict", *extra], env)]
    return out


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    seconds, peak, rc, err = run_child(cmd, env)
    if rc != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({rc}): {err.strip()[-800:]}")
    return seconds, peak


def clip_info(path: Path) -> tuple[str, int]:
    from facemoji.video.io import VideoReader

    with VideoReader(path) as r:
        return f"{r.size[0]}x{r.size[1]}", int(r.frame_count or 0)


def audited(clip: Path, out: Path, every: int) -> dict:
    from facemoji.audit import audit

    rep = audit(clip, out, every=every)
    return {"frames": rep.frames, "faces": rep.faces, "showing": len(rep.findings),
            "more_than_half": rep.more_than_half, "partly": rep.partly, "covers": rep.covers, "ghosts": rep.ghosts,
            "ghost_share": round(rep.ghost_share, 4)}


def bench_clip(clip: Path, setups, runs: int, folder: Path, every: int) -> list[dict]:
    """Every setting on one clip: the timings (interleaved with the floor's, run by run), then the audits."""
    size, frames = clip_info(clip)
    floor: list[float] = []
    times: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in setups}
    outs = {label: folder / f"{clip.stem}.{label.replace(' ', '-')}.mp4" for label, _, _ in setups}
    for _ in range(runs):
        floor.append(timed([sys.executable, str(BENCH_VIDEO), "--floor", str(clip), str(folder / "floor.mp4")])[0])
        for label, args, env in setups:
            cmd = [sys.executable, "-m", "facemoji", "video", str(clip), "-o", str(outs[label]), "-q", *args]
            times[label].append(timed(cmd, env))
    floor_s = statistics.median(floor)
    rows = []
    for label, _, _ in setups:
        seconds = statistics.median(t for t, _ in times[label])
        row = {"setting": label, "clip": clip.stem, "size": size, "seconds": round(seconds, 3),
               "floor_seconds": round(floor_s, 3), "peak_mib": round(statistics.median(p for _, p in times[label]), 1),
               "runs": runs, **audited(clip, outs[label], every)}
        row["frames_per_s"] = round((row["frames"] or frames) / seconds, 2)
        row["x_floor"] = round(seconds / floor_s, 2)
        rows.append(row)
        print(f"  {clip.stem} [{label}]: {seconds:.1f} s ({row['frames_per_s']:.1f} frames/s, {row['x_floor']:.1f}x "
              f"the floor), {row['faces']} faces, {row['more_than_half']} more than half showing, "
              f"{row['ghosts']}/{row['covers']} covers on no face", file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    tot = dict.fromkeys(("frames", "faces", "more_than_half", "partly", "covers", "ghosts"), 0)
    for r in rows:
        for k in tot:
            tot[k] += r[k]
        lines.append(f"| {r['clip']} | {r['size']} | {r['frames']} | {r['faces']} | {r['more_than_half']} | "
                     f"{r['partly']} | {r['covers']} | {r['ghosts']} ({100 * r['ghost_share']:.0f}%) | "
                     f"{r['frames_per_s']:.1f} | {r['x_floor']:.1f} | {r['peak_mib']:.0f} |")
    share = 100 * tot["ghosts"] / tot["covers"] if tot["covers"] else 0.0
    lines.append(f"| all | | {tot['frames']} | {tot['faces']} | {tot['more_than_half']} | {tot['partly']} | "
                 f"{tot['covers']} | {tot['ghosts']} ({share:.0f}%) | | | |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", nargs="+", metavar="NAME", help="clip names (with or without .mp4; default: all)")
    ap.add_argument("--clips-dir", default=str(CLIPS), metavar="DIR", help=f"where the clips are (default: {CLIPS})")
    ap.add_argument("--runs", type=int, default=1, help="timed runs of each command (median reported; default 1)")
    ap.add_argument("--before", metavar="SRC", help="also run an older tree's src/ folder (PYTHONPATH=SRC)")
    ap.add_argument("--extra", default="", metavar="ARGS", help="more arguments for facemoji video, e.g. --extra='--cover blur'")
    ap.add_argument("--audit-every", type=int, default=1, metavar="K", help="audit every K-th frame (default 1)")
    ap.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    ap.add_argument("--keep", metavar="DIR", help="keep the outputs here (default: a temporary folder)")
    args = ap.parse_args()
    folder_dir = Path(args.clips_dir)
    names = args.clips or sorted(p.stem for p in folder_dir.glob("*.mp4"))
    clips = [folder_dir / (n if n.endswith(".mp4") else f"{n}.mp4") for n in names]
    missing = [str(c) for c in clips if not c.is_file()]
    if missing or not clips:
        print(f"bench_clips: no such clip: {', '.join(missing) or folder_dir}", file=sys.stderr)
        return 2
    setups = settings(args.before, shlex.split(args.extra))
    load = os.getloadavg()[0]
    print(f"# {os.cpu_count()} CPUs, load average at start: {load:.2f}; runs: {args.runs}; "
          f"extra: {args.extra or 'none'}", flush=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for clip in clips:
            rows += bench_clip(clip, setups, args.runs, folder, args.audit_every)
    for label, _, _ in setups:
        print(f"\n### {label}\n")
        print(table([r for r in rows if r["setting"] == label]))
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"load_average_start": round(load, 2), "cpus": os.cpu_count(),
                                               "runs": args.runs, "extra": args.extra, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
