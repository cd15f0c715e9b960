"""``facemoji batch``: whole collections of photos and videos, on this machine or on a Ray cluster."""

from __future__ import annotations

import argparse
import sys

from facemoji.cli.common import options_from_args, positive_float, usage_error
from facemoji.errors import InputError
from facemoji.imageio import DEFAULT_MAX_PIXELS
from facemoji.options import Options
from facemoji.video.io import DEFAULT_CRF

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")

EPILOG = """\
outputs under OUTDIR:
  the input tree, mirrored   photos as 'facemoji image' writes them, videos as H.264 MP4 with audio
  faces/part-*.parquet       one row per face per photo or video frame
  summary/part-*.parquet     one row per photo or video: faces, dominant emotion, status, error
  read them with pandas.read_parquet('OUTDIR/faces') or DuckDB: SELECT * FROM 'OUTDIR/faces/*.parquet'
  (columns: docs/batch_schema.md)

Run the same command again after a stop (Ctrl-C, kill, a lost node): finished items are kept and skipped,
the rest is done. Failed items stay failed until --retry-failed. The exit status is 1 when any item failed.

examples:
  facemoji batch photos/ clips/ -o out/
  facemoji batch archive/ -o anonymised/ --cover solid --strict    every face hidden by a dark disc
  facemoji batch 'archive/**/*.jpg' list.txt -o out/ --no-media
  facemoji batch manifest.parquet -o /shared/out --engine ray --address auto
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch", help="whole collections of photos and videos, results as Parquet tables",
        description="Emojify and analyse every photo and video that the sources name, with all the cores of this "
        "machine (the default) or on a Ray cluster. Photos and videos are told apart by their content. A SOURCE is "
        "a folder (searched recursively), a file, a glob pattern, or a manifest: a text file of paths (.txt, .lst), "
        "or a CSV or Parquet table with a 'path' column (relative paths are taken from the manifest's folder).",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="folders, files, glob patterns or manifests")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="output folder (created if needed); the input tree is mirrored under it")
    p.add_argument("--no-media", action="store_true", help="only analyse: write the tables, no pictures or videos")
    p.add_argument("--retry-failed", action="store_true", help="process again the items an earlier run recorded as failed")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    e = p.add_argument_group("engine")
    e.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: worker processes on this machine (default); ray: Ray Data on a Ray cluster "
                   "(pip install 'facemoji[cluster]')")
    e.add_argument("-j", "--workers", type=int, default=None, metavar="N",
                   help="worker processes (local) or actors (ray), each with its own models "
                   "(default: one per CPU core of this machine, or of the Ray cluster)")
    e.add_argument("--address", default=None, metavar="ADDR",
                   help="Ray cluster to join: 'auto' (the one started on this node with 'ray start'), "
                   "'ray://HOST:10001' (Ray Client), or 'none' for a Ray started just for this run (the default)")
    g = Options.add_arguments(p, "mixed", threads=1, threads_why="; the workers are the parallelism")
    g.add_argument("--photo-detect-size", type=int, default=None, metavar="PX",
                   help="photos only: longer side they are scaled to for detection (default: --detect-size)")
    g.add_argument("--video-detect-size", type=int, default=None, metavar="PX",
                   help="videos only: longer side their frames are scaled to for detection (default: --detect-size)")
    g.add_argument("--detect-every", default="auto", metavar="K",
                   help="video: run the detector every K frames and track in between (default: auto, about 10 a "
                   "second; --strict detects on every frame)")
    o = p.add_argument_group("inputs and outputs")
    o.add_argument("--max-megapixels", type=positive_float, default=DEFAULT_MAX_PIXELS / 1e6, metavar="MP",
                   help="photos larger than this are recorded as failed (default: 100)")
    o.add_argument("--max-megabytes", type=positive_float, default=None, metavar="MB",
                   help="files larger than this are recorded as failed (default: no limit)")
    o.add_argument("--quality", type=int, default=92, help="JPEG/WebP quality of the photos (default: 92)")
    o.add_argument("--preset", choices=PRESETS, default="veryfast", help="x264 preset of the videos (default: veryfast)")
    o.add_argument("--crf", type=int, default=DEFAULT_CRF,
                   help=f"x264 quality of the videos, 0-51 (default: {DEFAULT_CRF}, as facemoji video)")
    o.add_argument("--no-audio", action="store_true", help="leave the audio out of the videos")
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace):
    from facemoji.batch import BatchConfig
    from facemoji.cli.video import parse_detect_every

    options = options_from_args(args)
    if not 0 <= args.crf <= 51:
        raise InputError(f"--crf must be between 0 and 51, got {args.crf}")
    if not 1 <= args.quality <= 100:
        raise InputError(f"--quality must be between 1 and 100, got {args.quality}")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be 1 or more, got {args.workers}")
    if args.address is not None and args.engine != "ray":
        raise InputError("--address is for --engine ray")
    for flag, size in (("--photo-detect-size", args.photo_detect_size), ("--video-detect-size", args.video_detect_size)):
        try:
            Options.check_detect_size(size, flag)
        except InputError as e:
            usage_error(e)
    return BatchConfig(
        outdir=args.output, options=options, media=not args.no_media, photo_detect_size=args.photo_detect_size,
        video_detect_size=args.video_detect_size, quality=args.quality, max_pixels=int(args.max_megapixels * 1e6),
        max_bytes=None if args.max_megabytes is None else int(args.max_megabytes * 1e6),
        detect_every=parse_detect_every(args.detect_every), preset=args.preset, crf=args.crf,
        keep_audio=not args.no_audio)


def run(args: argparse.Namespace) -> int:
    from facemoji.batch import run_batch

    config = config_from_args(args)
    if args.model is not None:
        from facemoji.classify.emotion import model_path_of

        if not model_path_of(args.model).is_file():
            raise InputError(f"{args.model}: no such model file")
    res = run_batch(args.sources, config, engine=args.engine, workers=args.workers, address=args.address,
                    retry_failed=args.retry_failed, progress=not args.quiet and sys.stderr.isatty())
    err = sys.stderr
    for src, why in res.missing:
        print(f"facemoji: error: {src}: {why}", file=err)
    if not res.items:
        if not res.missing:
            print("facemoji: error: the sources name no photos or videos", file=err)
        return 1
    if not args.quiet:
        rate = f" in {res.seconds:.1f} s ({res.processed / res.seconds:.2f} items/s, {res.workers} workers)" \
            if res.processed and res.seconds > 0 else ""
        print(f"{res.items} item(s): {res.processed} processed{rate}, {res.skipped} finished earlier; "
              f"{res.ok} ok, {res.failed} failed; {res.faces} face row(s) written"
              + (f"; {res.ignored} other file(s) ignored" if res.ignored else "") + f" -> {config.outdir}", file=err)
        for path, why in res.failures[:50]:
            print(f"facemoji: failed: {path}: {why}", file=err)
        if len(res.failures) > 50:
            print(f"facemoji: ... and {len(res.failures) - 50} more failures (see {config.outdir}/summary)", file=err)
    return res.exit_status
