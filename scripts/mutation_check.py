"""Break the code on purpose, one place at a time, and check that the tests notice.

Each mutation replaces one exact piece of text in one source file of a COPY of the repository (the working tree
is never touched), runs the tests that cover that place with ``PYTHONPATH`` pointing at the copy's ``src``, and
counts the mutation as caught when at least one of those tests fails. A mutation whose text no longer occurs
in the source is reported as ``stale`` (the code moved on: update the list).

    python scripts/mutation_check.py                  # every mutation, a table at the end
    python scripts/mutation_check.py --list           # names and areas only
    python scripts/mutation_check.py --only smoothing-bypassed,eval-accuracy-zero
    python scripts/mutation_check.py --baseline       # first check the chosen tests pass on the unbroken copy

Exit status: 0 when every mutation was caught, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    area: str
    file: str  # relative to the repository root
    old: str  # exact text, must occur exactly once
    new: str
    tests: tuple[str, ...]  # pytest node ids or paths, relative to the repository root
    what: str


MUTATIONS: list[Mutation] = [
    Mutation(
        "smoothing-bypassed", "track", "src/facemoji/stream/track.py",
        "tr.smoother = EmotionSmoother(self.classes, self.tau, self.margin)",
        "tr.smoother = EmotionSmoother(self.classes, 0.0, 0.0)",
        ("tests/test_smoothing.py::test_video_path_smooths_a_flickering_classifier",),
        "the tracker shows each frame's raw label (no averaging, no hysteresis)",
    ),
    Mutation(
        "optimizer-never-steps", "train", "src/facemoji/train/trainer.py",
        "                opt.step()\n", "                pass\n",
        ("tests/test_training.py::test_a_short_run_learns_happy_from_surprise",),
        "training never calls the optimiser's step",
    ),
    Mutation(
        "eval-accuracy-zero", "train", "src/facemoji/train/evaluate.py",
        '        "accuracy": float((pred == y).mean()),\n        "n"', '        "accuracy": 0.0,\n        "n"',
        ("tests/test_evaluate.py::test_evaluate_command_end_to_end",),
        "`facemoji evaluate` reports accuracy 0",
    ),
    Mutation(
        "write-not-atomic", "imageio", "src/facemoji/imageio.py",
        "        with os.fdopen(fd, \"wb\") as f:\n            f.write(data)\n",
        "        with open(p, \"wb\") as f:\n            f.write(data)\n        with os.fdopen(fd, \"wb\") as f:\n"
        "            f.write(data)\n",
        ("tests/test_imageio.py", "tests/test_cli_image.py::test_full_disk_leaves_the_old_output_intact"),
        "images are first written under their final name, then replaced",
    ),
    Mutation(
        "csv-labels-shifted", "train", "src/facemoji/train/data.py",
        "                ys.append(int(label))\n", "                ys.insert(0, int(label))\n",
        ("tests/test_train_data.py",),
        "the CSV reader pairs images with the wrong labels",
    ),
    Mutation(
        "folder-labels-misread", "train", "src/facemoji/train/data.py",
        "        label = _label_from_name(d.name)\n",
        "        label = class_dirs.index(d)\n",
        ("tests/test_train_data.py",),
        "class folders labelled by their sorted position instead of their name",
    ),
    Mutation(
        "detect-boxes-unscaled", "detect", "src/facemoji/detect/centerface.py",
        "boxes = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1) / scale",
        "boxes = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1)",
        ("tests/test_detect.py",),
        "CenterFace's boxes stay in the resized image's pixels",
    ),
    Mutation(
        "overlay-one-emoji", "overlay", "src/facemoji/overlay/emoji.py",
        'src = self.images.get(emotion, self.images["neutral"])', 'src = self.images["neutral"]',
        ("tests/test_emoji_map.py",),
        "every emotion is drawn with the same emoji",
    ),
    Mutation(
        "overlay-scale-ignored", "overlay", "src/facemoji/overlay/draw.py",
        "cover_face(out, f.box, cover, emotion=f.emotion, emoji=emoji, scale=scale)",
        "cover_face(out, f.box, cover, emotion=f.emotion, emoji=emoji)",
        ("tests/test_cli_image.py::test_emoji_scale_changes_the_covered_area",),
        "--emoji-scale has no effect",
    ),
    Mutation(
        "track-never-matches", "track", "src/facemoji/stream/track.py",
        "self._match(dets, preds) if not weak[di]", "[] if not weak[di]",
        ("tests/test_track.py", "tests/test_smoothing.py::test_tracker_shows_the_smoothed_label_not_each_frames_raw_one"),
        "every detection starts a new track (ids not kept)",
    ),
    Mutation(
        "track-no-coasting", "track", "src/facemoji/stream/track.py",
        "            gone = missing > self.max_coast + 1e-9\n", "            gone = missing > 0\n",
        ("tests/test_video.py::test_missed_detections_coast_under_the_emoji",),
        "a track the detector misses for one frame ends at once",
    ),
    Mutation(
        "server-bomb-is-400", "server", "src/facemoji/server/app.py",
        'return 413 if "too large" in str(e) else 400', "return 400",
        ("tests/test_server.py::test_decompression_bomb_is_refused",),
        "an image with too many pixels is answered 400 instead of 413",
    ),
    Mutation(
        "video-no-audio-ignored", "video", "src/facemoji/cli/video.py",
        "keep_audio=not args.no_audio", "keep_audio=True",
        ("tests/test_video.py::test_cli_no_audio_and_max_frames",),
        "`video --no-audio` keeps the audio",
    ),
    Mutation(
        "video-truncated-dropped", "video", "src/facemoji/video/process.py",
        "        if writer is not None:\n            writer.close()\n",
        "        if writer is not None:\n            writer.close() if not allow_truncated else writer.abort()\n",
        ("tests/test_video.py::test_cli_allow_truncated_keeps_the_readable_part",),
        "`--allow-truncated` writes nothing",
    ),
    Mutation(
        "image-quality-ignored", "cli", "src/facemoji/cli/image.py",
        "write_image(dst, out_img, args.quality)", "write_image(dst, out_img)",
        ("tests/test_cli_image.py::test_quality_changes_size_and_fidelity",),
        "`image --quality` has no effect",
    ),
    Mutation(
        "image-overwrite-guard-removed", "cli", "src/facemoji/cli/image.py",
        "if dst.exists() and os.path.samefile(dst, src):", "if False:",
        ("tests/test_cli_image.py::test_input_is_never_overwritten",),
        "`facemoji image a.jpg -o a.jpg` overwrites its input",
    ),
    Mutation(
        "image-max-megapixels-ignored", "cli", "src/facemoji/cli/image.py",
        "img = read_image(src, max_pixels)", "img = read_image(src)",
        ("tests/test_cli_image.py::test_max_megapixels",),
        "`image --max-megapixels` has no effect",
    ),
    Mutation(
        "webcam-unpaced", "webcam", "src/facemoji/cli/webcam.py",
        "pace = display.enabled and not source.live and source.fps", "pace = False",
        ("tests/test_webcam.py::test_window_plays_a_file_at_its_own_speed",),
        "a file in the webcam window plays as fast as it decodes",
    ),
    Mutation(
        "webcam-snapshot-of-raw-frame", "webcam", "src/facemoji/cli/webcam.py",
        "        return self._keys(image)\n", "        return self._keys(frame.image)\n",
        ("tests/test_webcam.py::test_window_keys_switch_mode_snapshot_and_quit",),
        "the s key saves the camera's frame without the emoji",
    ),
    Mutation(
        "batch-redoes-finished-items", "batch", "src/facemoji/batch/job.py",
        '        if row is not None and row.get("relpath") == it.relpath and (row.get("status") == "ok" or not '
        'retry_failed):\n',
        "        if False:\n",
        ("tests/test_batch.py::test_rerun_skips_finished_items_and_retry_failed_redoes_only_failures",),
        "a rerun of a batch processes the items an earlier run finished",
    ),
]


def copy_tree(dst: Path) -> None:
    ignore = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", "*.egg-info",
                                    ".benchmarks", "runs", ".venv")
    for name in ("src", "tests", "docs", "scripts", "pyproject.toml", "README.md"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dst / name)


def run_tests(copy: Path, tests: tuple[str, ...], timeout: int) -> tuple[str, float, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy / "src") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("FACEMOJI_SHARED", str(ROOT.parent / "shared"))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests]
    t = time.monotonic()
    try:
        r = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - t, ""
    out = (r.stdout + r.stderr).strip().splitlines()
    summary = out[-1] if out else ""
    # pytest: 0 all passed, 1 some failed, 2 interrupted/collection error, 5 nothing collected
    status = {0: "passed", 1: "failed"}.get(r.returncode, f"error (pytest exit {r.returncode})")
    return status, time.monotonic() - t, summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated mutation names (default: all)")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--baseline", action="store_true", help="first run each mutation's tests on the unbroken copy")
    ap.add_argument("--timeout", type=int, default=900, help="seconds allowed for one mutation's tests (default 900)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy (its path is printed)")
    args = ap.parse_args(argv)

    chosen = MUTATIONS
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(names) - {m.name for m in MUTATIONS})
        if unknown:
            ap.error(f"unknown mutation(s): {', '.join(unknown)} (see --list)")
        chosen = [m for m in MUTATIONS if m.name in names]
    if args.list:
        for m in chosen:
            print(f"{m.name:<32}{m.area:<9}{m.what}")
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="facemoji-mutants-"))
    copy = tmp / "repo"
    copy.mkdir()
    copy_tree(copy)
    print(f"copy of the source in {copy}", file=sys.stderr)
    rows: list[tuple[Mutation, str, float, str]] = []
    try:
        for n, m in enumerate(chosen, 1):
            target = copy / m.file
            original = target.read_text() if target.exists() else None
            if original is None or original.count(m.old) != 1:
                found = 0 if original is None else original.count(m.old)
                rows.append((m, "stale", 0.0, f"text found {found} times in {m.file}"))
                print(f"[{n}/{len(chosen)}] {m.name}: stale", file=sys.stderr)
                continue
            if args.baseline:
                status, secs, summary = run_tests(copy, m.tests, args.timeout)
                if status != "passed":
                    rows.append((m, "baseline fails", secs, summary))
                    print(f"[{n}/{len(chosen)}] {m.name}: tests fail without the mutation ({summary})",
                          file=sys.stderr)
                    continue
            target.write_text(original.replace(m.old, m.new))
            try:
                status, secs, summary = run_tests(copy, m.tests, args.timeout)
            finally:
                target.write_text(original)
            verdict = {"failed": "caught", "passed": "MISSED", "timeout": "caught (timeout)"}.get(status, status)
            rows.append((m, verdict, secs, summary))
            print(f"[{n}/{len(chosen)}] {m.name}: {verdict} in {secs:.0f} s ({summary})", file=sys.stderr)
    finally:
        if args.keep:
            print(f"kept {copy}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print("| mutation | area | breakage | result | seconds |")
    print("| --- | --- | --- | --- | ---: |")
    for m, verdict, secs, _ in rows:
        print(f"| {m.name} | {m.area} | {m.what} | {verdict} | {secs:.0f} |")
    caught = sum(v.startswith("caught") for _, v, _, _ in rows)
    print(f"\n{caught} of {len(rows)} mutations caught")
    return 0 if caught == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
