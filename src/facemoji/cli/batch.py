"""``facemoji batch``: whole collections of photos and videos, on this machine or on a Ray cluster."""

from __future__ import annotations

import argparse
import sys

from facemoji.cli.common import positive_float
from facemoji.errors import InputError
from facemoji.imageio import DEFAULT_MAX_PIXELS
from facemoji.overlay import MODES
from facemoji.pipeline import PHOTO_DETECT_SIZE, VIDEO_DETECT_SIZE
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
    e.add_argument("--threads", type=int, default=1, help="model threads per worker (default: 1; the workers are "
                   "the parallelism)")
    g = p.add_argument_group("detection and drawing")
    g.add_argument("--mode", choices=MODES, default="emoji",
                   help="emoji: cover each face; boxes: frame and emotion label; both (default: emoji)")
    g.add_argument("--detector", default="centerface",
                   help="centerface (default), haar (OpenCV Haar cascade), or yunet:MODEL.onnx")
    g.add_argument("--photo-detect-size", type=int, default=PHOTO_DETECT_SIZE, metavar="PX",
                   help=f"longer side photos are scaled to for detection (default: {PHOTO_DETECT_SIZE}, as "
                   "'facemoji image')")
    g.add_argument("--video-detect-size", type=int, default=VIDEO_DETECT_SIZE, metavar="PX",
                   help=f"longer side video frames are scaled to for detection (default: {VIDEO_DETECT_SIZE}, as "
                   "'facemoji video')")
    g.add_argument("--threshold", type=float, default=0.5, help="detector confidence threshold 0..1 (default: 0.5)")
    g.add_argument("--model", default=None, metavar="MODEL",
                   help="emotion model: an ONNX file, or a shipped one by name, full or fast (default: full for "
                   "photos, fast for videos; see facemoji image --help)")
    g.add_argument("--emoji-scale", type=positive_float, default=None, metavar="X",
                   help="emoji size relative to the face box diagonal (default: 1.08)")
    g.add_argument("--detect-every", default="auto", metavar="K",
                   help="video: run the detector every K frames and track in between (default: auto, about 10 a "
                   "second)")
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

    for name in ("photo_detect_size", "video_detect_size"):
        v = getattr(args, name)
        if not 32 <= v <= 4096:
            raise InputError(f"--{name.replace('_', '-')} must be between 32 and 4096, got {v}")
    if not 0 < args.threshold < 1:
        raise InputError(f"--threshold must be between 0 and 1, got {args.threshold}")
    if not 0 <= args.crf <= 51:
        raise InputError(f"--crf must be between 0 and 51, got {args.crf}")
    if not 1 <= args.quality <= 100:
        raise InputError(f"--quality must be between 1 and 100, got {args.quality}")
    if args.threads < 1:
        raise InputError(f"--threads must be 1 or more, got {args.threads}")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be 1 or more, got {args.workers}")
    if args.address is not None and args.engine != "ray":
        raise InputError("--address is for --engine ray")
    return BatchConfig(
        outdir=args.output, media=not args.no_media, mode=args.mode, detector=args.detector, model=args.model,
        photo_detect_size=args.photo_detect_size, video_detect_size=args.video_detect_size,
        threshold=args.threshold, emoji_scale=args.emoji_scale, quality=args.quality,
        max_pixels=int(args.max_megapixels * 1e6),
        max_bytes=None if args.max_megabytes is None else int(args.max_megabytes * 1e6),
        detect_every=parse_detect_every(args.detect_every), preset=args.preset, crf=args.crf,
        keep_audio=not args.no_audio, threads=args.threads)


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
