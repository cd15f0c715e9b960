"""``facemoji audit ORIGINAL EMOJIFIED``: check that no face of the original shows in the emojified output."""

from __future__ import annotations

import argparse
import sys

EXIT_SHOWING = 3  # some face of the original shows in the output
EXIT_INPUT = 2  # the files cannot be compared
MAX_LINES = 200  # findings printed; --json has them all


def add_parser(sub: argparse._SubParsersAction) -> None:
    from facemoji.audit import DEFAULT_MAX_SHOWING, DEFAULT_TOLERANCE

    p = sub.add_parser(
        "audit", help="check an emojified video or image: does any face still show?",
        description="Look for faces in ORIGINAL with a second, independent detector (OpenCV's frontal and profile "
        "Haar cascades, not the CenterFace detector that facemoji covers faces with) and measure, for every face "
        "found, how much of it still shows in EMOJIFIED: the share of the face's box whose pixels the output left "
        "unchanged (within a tolerance for codec noise). Videos are decoded and compared frame by frame, matched "
        "by index, so both must have the same size and frame count. Every face that shows is listed with its "
        "frame, time, box and share showing, then a summary line.\n\n"
        "exit status: 0 no face shows; 3 at least one face shows; 2 the files cannot be compared (missing, "
        "unreadable, different size or frame count).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  facemoji video clip.mp4 -o clip_emoji.mp4 && facemoji audit clip.mp4 clip_emoji.mp4\n"
        "  facemoji audit photo.jpg photo.facemoji.jpg --json report.json\n"
        "  facemoji audit talk.mp4 talk_emoji.mp4 --every 5     a quicker check of every 5th frame\n\n"
        "The audit is as good as its detector: a face the Haar cascades do not see (very small, strongly "
        "rotated, dark) is not checked, and now and then they take faceless texture for a face, so look at a "
        "reported frame before acting on it. A clean audit is strong evidence, not proof.",
    )
    p.add_argument("original", metavar="ORIGINAL", help="the video or image before facemoji")
    p.add_argument("emojified", metavar="EMOJIFIED", help="facemoji's output for it (same size, same frame count)")
    p.add_argument("--json", metavar="FILE", help="write the whole report as JSON; - for stdout")
    p.add_argument("--tolerance", type=int, default=DEFAULT_TOLERANCE, metavar="LEVELS",
                   help=f"how far (0-255, any channel) a pixel may differ and still count as unchanged "
                   f"(default: {DEFAULT_TOLERANCE}, above the noise of re-encoding)")
    p.add_argument("--max-showing", type=float, default=DEFAULT_MAX_SHOWING, metavar="SHARE",
                   help=f"a face counts as showing when more than this share of its box is unchanged "
                   f"(default: {DEFAULT_MAX_SHOWING})")
    p.add_argument("--min-face", type=int, default=24, metavar="PX",
                   help="smallest face to look for, in pixels (default: 24); larger is quicker")
    p.add_argument("--every", type=int, default=1, metavar="K", help="check every K-th frame only (default: 1, all)")
    p.add_argument("-q", "--quiet", action="store_true", help="only the summary line (and the exit status)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from facemoji.errors import InputError

    try:
        return _run(args)
    except InputError as e:
        print(f"facemoji: error: {e}", file=sys.stderr)
        return EXIT_INPUT


def _run(args: argparse.Namespace) -> int:
    from facemoji.audit import audit
    from facemoji.cli.common import dump_json, open_json_out

    open_json_out(args.json)  # a missing output folder is an input error before the work, not after
    show_progress = not args.quiet and sys.stderr.isatty()
    report = audit(args.original, args.emojified, tolerance=args.tolerance, max_showing=args.max_showing,
                   min_face=args.min_face, every=args.every, progress=show_progress)
    out = sys.stderr if args.json == "-" else sys.stdout
    if not args.quiet:
        for f in report.findings[:MAX_LINES]:
            x1, y1, x2, y2 = f.box
            when = f"frame {f.frame} ({f.time:.2f} s)" if f.time is not None else "image"
            print(f"{when}: face at x={x1} y={y1} {x2 - x1}x{y2 - y1} ({f.kind}): {f.showing:.0%} showing", file=out)
        if len(report.findings) > MAX_LINES:
            print(f"... and {len(report.findings) - MAX_LINES} more (--json lists them all)", file=out)
    print(report.summary(), file=out)
    if args.json:
        dump_json(report.to_dict(), args.json)
    return 0 if report.clean else EXIT_SHOWING
