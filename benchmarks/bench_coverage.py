"""How many faces stay covered on hard moving faces, and what ``--strict`` costs in speed.

For each hard clip of ``tests/hard_faces.py`` (zoom to a full-frame face, a turn towards profile, two faces
crossing, a fast blurred pan; 30 fps, 320x240 to 400x300; and the harder ``pan-fast`` and ``crossing-3x``) the script runs ``facemoji video`` as a fresh
process in each setting (default, ``--strict``, and optionally an older source tree given by ``--before``),
then audits every output with the independent Haar detector (:func:`facemoji.audit.audit`): faces found in the
original, faces showing in the output (more than 25% of the box unchanged), the worst share showing.

The coverage table also gives each run's frames/s as ``facemoji video`` reports it (processing only, start-up
excluded; one run each, short clips). Speed proper: ``--runs`` times each setting on a 640x480 clip of two faces
crossing (90 frames): frames/s and the peak resident memory of the process (its own high-water mark, see ``child.py``);
medians.

    python benchmarks/bench_coverage.py                       # default and --strict
    python benchmarks/bench_coverage.py --before /tmp/old/src # also an older tree (its src/ folder)

Run it on an otherwise idle machine: the load average at start is printed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from child import run_child  # noqa: E402

from facemoji.audit import audit  # noqa: E402
from hard_faces import CLIPS, HARDER, make_hard_clip  # noqa: E402
from videos import astronaut_crop, crossing, make_clip  # noqa: E402

SHOWING = 0.25  # the audit's default: a face with more than this share of its box unchanged shows


def run_video(src: Path, dst: Path, extra: list[str], pythonpath: str | None) -> tuple[float, float]:
    """One ``facemoji video`` process: (frames/s it reports, peak RSS in MB)."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    _, peak, rc, err = run_child([sys.executable, "-m", "facemoji", "video", str(src), "-o", str(dst), *extra], env)
    if rc != 0:
        raise SystemExit(f"facemoji video failed on {src}: {err.strip()}")
    m = re.search(r"([0-9.]+) frames/s", err)
    return (float(m.group(1)) if m else float("nan")), peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", metavar="SRC", help="an older tree's src/ folder to compare with")
    ap.add_argument("--runs", type=int, default=3, help="speed runs per setting (default 3)")
    ap.add_argument("--clips", metavar="DIR", help="keep the clips and outputs here (default: a temporary folder)")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")
    settings: list[tuple[str, list[str], str | None]] = []
    if args.before:
        settings.append(("before", [], args.before))
    settings += [("default", [], None), ("--strict", ["--strict"], None)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.clips or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        clips = {name: make_hard_clip(name, folder) for name in [*CLIPS, *HARDER]}
        speed_clip = make_clip(folder / "crossing640.mp4", [astronaut_crop()] * 2,
                               lambda i, t: crossing(i, t, n=90), frames=90, fps=30, audio=None).path

        print("\ncoverage (independent Haar audit of each output; a face shows when > 25% of its box is unchanged)")
        print(f"{'clip':11} {'setting':9} {'frames/s':>8} {'faces':>6} {'showing':>8} {'worst':>6}  "
              "findings (frame: share)", flush=True)
        totals: dict[str, list[int]] = {s[0]: [0, 0] for s in settings}
        for name, src in clips.items():
            for label, extra, pp in settings:
                out = folder / f"{name}.{label.strip('-')}.mp4"
                fps, _ = run_video(src, out, extra, pp)
                # every face with anything showing, so the worst share tells how close the clean ones came
                rep = audit(src, out, max_showing=0.0)
                showing = [f for f in rep.findings if f.showing > SHOWING]
                worst = max((f.showing for f in rep.findings), default=0.0)
                totals[label][0] += rep.faces
                totals[label][1] += len(showing)
                listed = ", ".join(f"{f.frame}: {f.showing:.0%}" for f in showing[:6])
                print(f"{name:11} {label:9} {fps:8.1f} {rep.faces:6d} {len(showing):8d} {worst:6.0%}  {listed}",
                      flush=True)
        for label, (faces, showing) in totals.items():
            print(f"all clips   {label:9} {'':8} {faces:6d} {showing:8d}  ({100 * showing / max(1, faces):.1f}% showing)")

        print(f"\nspeed (median of {args.runs} runs; frames/s of processing, peak RSS of the process)")
        print(f"{'clip':14} {'setting':9} {'frames/s':>9} {'peak MB':>8}", flush=True)
        for name, src in [("crossing 640", speed_clip)]:
            for label, extra, pp in settings:
                runs = [run_video(src, folder / "speed.mp4", extra, pp) for _ in range(args.runs)]
                fps = statistics.median(r[0] for r in runs)
                rss = statistics.median(r[1] for r in runs)
                print(f"{name:14} {label:9} {fps:9.1f} {rss:8.0f}", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
