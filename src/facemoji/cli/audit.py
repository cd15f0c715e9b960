"""``facemoji audit ORIGINAL EMOJIFIED``: does any face of the original show, and does any cover lie on no face?"""

from __future__ import annotations

import argparse
import sys

from facemoji.errors import InputError
from facemoji.overlay import COVERS

EXIT_SHOWING = 3  # some face of the original shows in the output
EXIT_GHOSTS = 4  # more of the output's covers lie on no face than --max-ghosts allows
EXIT_INPUT = 2  # the files cannot be compared
MAX_LINES = 200  # findings printed (of each kind); --json has them all


def _wrapped(text: str, width: int = 100) -> str:
    """Each paragraph (line) of ``text`` filled to ``width`` columns, numbered items indented under their text."""
    import textwrap

    return "\n".join(textwrap.fill(line, width, break_on_hyphens=False, subsequent_indent="   " if line[:2].rstrip(".").isdigit() else "")
                     for line in text.split("\n"))


def add_parser(sub: argparse._SubParsersAction) -> None:
    from facemoji.audit import (
        DEFAULT_FACE_THRESHOLD,
        DEFAULT_GHOST_THRESHOLD,
        DEFAULT_MAX_SHOWING,
        DEFAULT_TOLERANCE,
        PARTLY_SHOWING,
    )

    p = sub.add_parser(
        "audit", help="check an emojified video or image: does any face still show, does any cover hide nothing?",
        description=_wrapped("Compare EMOJIFIED with ORIGINAL frame by frame (videos matched by index, so both must have the "
        "same size and frame count), both ways, with detectors that are not the CenterFace detector facemoji "
        "covers faces with:\n\n"
        "1. faces that show: YuNet (shipped with facemoji; the whole frame, and large frames also in overlapping "
        "tiles, so that faces from about 24 pixels up are found at any resolution) finds the faces of ORIGINAL, "
        "with OpenCV's Haar cascades as a second opinion, and for every face the share of its box that EMOJIFIED "
        "left unchanged (within a tolerance for codec noise) is measured. A face \"shows\" when more than "
        "--max-showing of it is unchanged; the summary also counts faces \"more than half showing\" (over 50% "
        f"unchanged) and \"partly showing\" (over {PARTLY_SHOWING:.0%} but no more than --max-showing).\n"
        "2. covers on no face (\"ghosts\"): the covers of EMOJIFIED are found from the pixels alone, as the regions "
        "where it differs from ORIGINAL; a cover is a ghost when not even a weak face of ORIGINAL lies beneath it "
        "(YuNet at the lower --ghost-threshold, or Haar around the cover).\n\n"
        "Every face that shows and every ghost is listed with its frame, time and box, then a summary line.\n\n"
        "exit status:\n0 no face shows (and, with --max-ghosts, few enough ghosts)\n3 at least one face shows\n"
        "4 no face shows, but the share of covers on no face exceeds --max-ghosts\n2 the files cannot be compared "
        "(missing, unreadable, different size or frame count)."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  facemoji video clip.mp4 -o clip_emoji.mp4 && facemoji audit clip.mp4 clip_emoji.mp4\n"
        "  facemoji audit photo.jpg photo.facemoji.jpg --json report.json\n"
        "  facemoji audit talk.mp4 talk_emoji.mp4 --every 5     a quicker check of every 5th frame\n"
        "  facemoji audit talk.mp4 talk_emoji.mp4 --max-ghosts 0.1   also fail (4) when over 10% of covers hide "
        "nothing\n\n"
        "The audit is as good as its detectors: a face they do not see (very small, strongly turned, blurred, "
        "dark) is not checked, and a cover on such a face counts as a ghost; now and then they take faceless "
        "texture for a face. Look at a reported frame before acting on it. A clean audit is strong evidence, not "
        "proof.",
    )
    p.add_argument("original", metavar="ORIGINAL", help="the video or image before facemoji")
    p.add_argument("emojified", metavar="EMOJIFIED", nargs="?",
                   help="facemoji's output for it (same size, same frame count); left out for a video, facemoji "
                   "covers ORIGINAL itself in memory, frame by frame through the same frame loop as facemoji "
                   "video (with --cover and --strict), and audits what it would write, writing nothing")
    p.add_argument("--cover", choices=COVERS, default=None,
                   help="with ORIGINAL alone: how facemoji hides faces (default: emoji)")
    p.add_argument("--strict", action="store_true", help="with ORIGINAL alone: facemoji video's --strict")
    p.add_argument("--json", metavar="FILE", help="write the whole report as JSON; - for stdout")
    p.add_argument("--detector", choices=("yunet", "haar", "both"), default="both",
                   help="faces of the original from YuNet, from the Haar cascades (the older audit), or both: YuNet, "
                   "with Haar confirming YuNet's weaker faces and looking for faces around every cover that YuNet "
                   "finds none beneath (default: both)")
    p.add_argument("--threshold", type=float, default=DEFAULT_FACE_THRESHOLD, metavar="SCORE",
                   help=f"YuNet's confidence for a face that must be covered (default: {DEFAULT_FACE_THRESHOLD})")
    p.add_argument("--ghost-threshold", type=float, default=DEFAULT_GHOST_THRESHOLD, metavar="SCORE",
                   help="YuNet's lower confidence for a face beneath a cover: a cover is a ghost only when no face "
                   f"down to this lies beneath it (default: {DEFAULT_GHOST_THRESHOLD})")
    p.add_argument("--tolerance", type=int, default=DEFAULT_TOLERANCE, metavar="LEVELS",
                   help=f"how far (0-255, any channel) a pixel may differ and still count as unchanged "
                   f"(default: {DEFAULT_TOLERANCE}, above the noise of re-encoding)")
    p.add_argument("--max-showing", type=float, default=DEFAULT_MAX_SHOWING, metavar="SHARE",
                   help=f"a face counts as showing when more than this share of its box is unchanged "
                   f"(default: {DEFAULT_MAX_SHOWING})")
    p.add_argument("--max-ghosts", type=float, default=None, metavar="SHARE",
                   help="exit with status 4 when more than this share of the output's covers lie on no face "
                   "(default: none; ghosts are counted but never change the exit status)")
    p.add_argument("--min-face", type=int, default=24, metavar="PX",
                   help="smallest face to look for, in pixels (default: 24); larger is quicker")
    p.add_argument("--every", type=int, default=1, metavar="K", help="check every K-th frame only (default: 1, all)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="compare the first N frames only (default: all)")
    p.add_argument("-q", "--quiet", action="store_true", help="only the summary line (and the exit status)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from facemoji.errors import InputError

    try:
        return _run(args)
    except InputError as e:
        print(f"facemoji: error: {e}", file=sys.stderr)
        return EXIT_INPUT


def _audit_covering(args: argparse.Namespace, progress: bool):
    """ORIGINAL alone: facemoji covers it in memory through the frame loop, and each frame is audited."""
    from facemoji.audit import Auditor, is_image_path
    from facemoji.audit.covering import audit_covering
    from facemoji.options import Options

    if is_image_path(args.original):
        raise InputError(f"{args.original}: an image; give facemoji's output for it as the second file")
    if args.every < 1:
        raise InputError(f"--every must be 1 or more, got {args.every}")
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames must be 1 or more, got {args.max_frames}")
    auditor = Auditor(args.tolerance, args.max_showing, args.min_face, detector=args.detector,
                      face_threshold=args.threshold, ghost_threshold=args.ghost_threshold)
    options = Options(cover=args.cover or "emoji", strict=args.strict, threads=1)
    report = audit_covering(args.original, options, auditor, every=args.every, max_frames=args.max_frames,
                            progress=progress)
    report.max_ghosts = args.max_ghosts
    return report


def _when(frame: int, time: float | None) -> str:
    return f"frame {frame} ({time:.2f} s)" if time is not None else "image"


def _print_lines(report, out) -> None:
    for f in report.findings[:MAX_LINES]:
        x1, y1, x2, y2 = f.box
        print(f"{_when(f.frame, f.time)}: face at x={x1} y={y1} {x2 - x1}x{y2 - y1} ({f.kind}): {f.showing:.0%} "
              "showing", file=out)
    if len(report.findings) > MAX_LINES:
        print(f"... and {len(report.findings) - MAX_LINES} more faces showing (--json lists them all)", file=out)
    for g in report.ghost_findings[:MAX_LINES]:
        x1, y1, x2, y2 = g.box
        print(f"{_when(g.frame, g.time)}: cover at x={x1} y={y1} {x2 - x1}x{y2 - y1} on no face", file=out)
    if len(report.ghost_findings) > MAX_LINES:
        print(f"... and {len(report.ghost_findings) - MAX_LINES} more covers on no face (--json lists them all)",
              file=out)


def _run(args: argparse.Namespace) -> int:
    from facemoji.audit import audit
    from facemoji.cli.common import dump_json, open_json_out

    open_json_out(args.json)  # a missing output folder is an input error before the work, not after
    show_progress = not args.quiet and sys.stderr.isatty()
    if args.emojified is None:
        report = _audit_covering(args, show_progress)
    else:
        if args.cover is not None or args.strict:
            raise InputError("--cover and --strict say how facemoji covers ORIGINAL itself: give ORIGINAL alone, "
                             "or leave them out to audit a file already covered")
        report = audit(args.original, args.emojified, tolerance=args.tolerance, max_showing=args.max_showing,
                       min_face=args.min_face, every=args.every, progress=show_progress, detector=args.detector,
                       face_threshold=args.threshold, ghost_threshold=args.ghost_threshold,
                       max_ghosts=args.max_ghosts, max_frames=args.max_frames)
    out = sys.stderr if args.json == "-" else sys.stdout
    if not args.quiet:
        _print_lines(report, out)
    print(report.summary(), file=out)
    if args.json:
        dump_json(report.to_dict(), args.json)
    if not report.clean:
        return EXIT_SHOWING
    return EXIT_GHOSTS if report.too_many_ghosts else 0
