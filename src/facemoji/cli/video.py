"""``facemoji video``: emojify a video file, keeping its audio, and report every face over time."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import IO

from facemoji.cli.common import options_from_args
from facemoji.errors import InputError
from facemoji.labels import EMOTIONS
from facemoji.options import Options
from facemoji.video.io import DEFAULT_CRF

OUTPUT_TAG = ".facemoji"
# the models' threads: decoding and encoding run beside them, so on 2 cores one thread each leaves them the other
# (measured on 2 cores: 640x480 in 0.93x the time; a whole-frame scan gains only 8% from a second thread)
MODEL_THREADS = 1 if (os.cpu_count() or 1) <= 2 else 2
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "video", help="emojify a video file (audio kept)",
        description="Cover every face in a video with the emoji of its expression. Reads anything FFmpeg reads "
        "(MP4, MOV, MKV, WebM, AVI ...), turns phone videos the right way up, and writes H.264 MP4 (yuv420p) "
        "with the same size, frame rate and audio. Faces are tracked: each keeps an id, and its emoji is smoothed "
        "over about a third of a second so it does not flicker. Without -o the result is IN.facemoji.mp4 "
        "beside the input; the input is never overwritten.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  facemoji video clip.mp4\n  facemoji video phone.mov -o out.mp4 --json faces.jsonl\n"
        "  facemoji video talk.mkv --no-video --csv faces.csv\n",
    )
    p.add_argument("input", metavar="IN", help="video file or stream URL")
    p.add_argument("-o", "--output", metavar="OUT", help="output MP4 (default: IN.facemoji.mp4 beside the input)")
    p.add_argument("--json", metavar="FILE", help="write one JSON record per face per frame (JSON Lines); - for stdout")
    p.add_argument("--csv", metavar="FILE", help="write the same records as CSV; - for stdout")
    p.add_argument("--no-video", action="store_true", help="only analyze (use with --json/--csv): write no video")
    p.add_argument("--no-audio", action="store_true", help="leave the audio out of the output")
    p.add_argument("--detect-every", default="auto", metavar="K",
                   help="run the face detector every K frames and track the faces in between; default auto: "
                   "about 10 detections a second (K=3 at 30 fps, 2 at 15-24 fps)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N frames")
    p.add_argument("--allow-truncated", action="store_true",
                   help="keep the readable part of a video that ends early, instead of failing")
    p.add_argument("--preset", choices=PRESETS, default="veryfast",
                   help="x264 speed/size trade-off (default: veryfast)")
    p.add_argument("--crf", type=int, default=DEFAULT_CRF,
                   help=f"x264 quality, 0 (lossless) to 51 (worst); default {DEFAULT_CRF} (x264 runs without B-frames "
                   f"and with a short lookahead, to bound its memory: {DEFAULT_CRF} gives about the quality of x264's "
                   "usual 23)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    Options.add_arguments(p, "frames", threads=MODEL_THREADS, threads_why=" here; 1 on machines of 2 cores or "
                          "fewer, where decoding and encoding need the other, else 2")
    p.set_defaults(run=run)


def default_output(src: str) -> Path:
    from facemoji.video.io import is_url

    if is_url(src):
        name = Path(src.split("?")[0].rstrip("/")).stem or "stream"
        return Path(f"{name}{OUTPUT_TAG}.mp4")
    p = Path(src)
    return p.with_name(f"{p.stem}{OUTPUT_TAG}.mp4")


CSV_FIELDS = ["frame", "time", "track_id", "x", "y", "width", "height", "score", "emotion", *EMOTIONS]


class RecordSink:
    """Face records streamed to a temporary file (renamed at the end), or to stdout for ``-``."""

    def __init__(self, target: str, kind: str) -> None:
        from facemoji.video.writer import AtomicFile, check_output_path

        self.kind = kind
        self.file = None
        if target == "-":
            self.stream: IO[str] = sys.stdout
        else:
            check_output_path(target)
            self.file = AtomicFile(target)
            self.stream = open(self.file.tmp, "w", encoding="utf-8", newline="")
        self.csv = csv.DictWriter(self.stream, CSV_FIELDS, extrasaction="ignore") if kind == "csv" else None
        if self.csv is not None:
            self.csv.writeheader()

    def write(self, rec: dict) -> None:
        if self.csv is None:
            self.stream.write(json.dumps(rec, separators=(",", ":")) + "\n")
            return
        row = {"frame": rec["frame"], "time": rec["time"], "track_id": rec.get("track_id"), **rec["box"],
               "score": rec["score"], "emotion": rec["emotion"], **(rec["probabilities"] or {})}
        self.csv.writerow(row)

    def commit(self) -> None:
        if self.file is None:
            self.stream.flush()
            return
        self.stream.close()
        self.file.commit()

    def discard(self) -> None:
        if self.file is not None:
            self.stream.close()
            self.file.discard()


def parse_detect_every(text: str) -> int | None:
    """``auto`` (None) or a whole number of frames >= 1, else a one-line error."""
    if str(text).lower() == "auto":
        return None
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise InputError(f"--detect-every must be 'auto' or a whole number 1 or more, got {text!r}")
    return k


def run(args: argparse.Namespace) -> int:
    from facemoji.stream import coverage_for
    from facemoji.video.io import is_url
    from facemoji.video.process import Interrupted, process_video

    options = options_from_args(args)
    detect_every = parse_detect_every(args.detect_every)
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames must be 1 or more, got {args.max_frames}")
    if not 0 <= args.crf <= 51:
        raise InputError(f"--crf must be between 0 and 51, got {args.crf}")
    if args.no_video and not (args.json or args.csv):
        raise InputError("--no-video writes nothing without --json or --csv")
    if args.json == "-" and args.csv == "-":
        raise InputError("--json and --csv cannot both go to stdout")
    src = args.input
    if not is_url(src):
        p = Path(src)
        if not p.exists():
            raise InputError(f"{p}: no such file")
        if p.is_dir():
            raise InputError(f"{p}: is a folder; give a video file (for photo folders use 'facemoji image')")
    dst = None if args.no_video else Path(args.output) if args.output else default_output(src)
    if dst is not None and dst.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise InputError(f"{dst}: the output is an H.264 MP4; give it a .mp4 name")
    pipe = options.pipeline("frames", background=True)  # the models load while the video is opened
    sinks: list[RecordSink] = []
    try:
        if args.json:
            sinks.append(RecordSink(args.json, "json"))
        if args.csv:
            sinks.append(RecordSink(args.csv, "csv"))

        def on_frame(index: int, t: float, faces: list) -> None:
            for f in faces:
                rec = {"frame": index, "time": round(t, 4), **f.to_dict()}
                for s in sinks:
                    s.write(rec)

        show_progress = not args.quiet and sys.stderr.isatty()  # no progress-bar litter in logs and pipes
        report = process_video(src, dst, pipe, detect_every=detect_every, mode=options.mode,
                               on_frame=on_frame if sinks else None, progress=show_progress, preset=args.preset,
                               crf=args.crf, keep_audio=not args.no_audio, max_frames=args.max_frames,
                               allow_truncated=args.allow_truncated,
                               coverage=coverage_for(options))
        for s in sinks:
            s.commit()
    except Interrupted as e:
        for s in sinks:
            s.discard()
        print(f"facemoji: {e}" + (f" to {dst}" if dst is not None else ""), file=sys.stderr)
        return 130
    except BaseException:
        for s in sinks:
            s.discard()
        raise
    if not args.quiet:
        out = sys.stderr
        w, h = report.size
        fps = f" at {report.fps:.3g} fps" if report.fps else ""
        where = f" -> {report.output}" if report.output else ""
        print(f"{src}{where}: {report.frames} frames, {w}x{h}{fps}, audio {report.audio}; "
              f"{report.tracks} face(s) tracked; {report.speed:.1f} frames/s", file=out)
        for line in report.timeline.lines():
            print(f"  {line}", file=out)
    return 0

