"""``facemoji evaluate``: accuracy, per-class scores, confusion matrix and calibration of a model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="measure an emotion model on labelled faces",
        description="Run an emotion model exactly as the runtime does (ONNX, with the test-time augmentation that is inside the model) on "
        "labelled faces and report accuracy, per-class precision/recall/F1, the confusion matrix (numbers and a PNG) "
        "and the expected calibration error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  facemoji evaluate --data ../shared/data/fer2013_publictest.npz --json report.json --confusion cm.png\n"
        "  facemoji evaluate --data my_photos/ --confusion cm.png    # my_photos/happy/*.jpg, my_photos/sad/*.jpg, ...\n\n"
        "A folder of class folders is read as 48x48 face crops when its first image is 48x48 (FER2013 style), else as\n"
        "whole photos: every photo goes through face detection and the model as in 'facemoji image', the largest face\n"
        "answers, and a photo where no face is found counts as wrong and is listed.",
    )
    p.add_argument("--data", required=True,
                   help="fer2013.csv, a split CSV, .npz (x, y), or a folder of class folders (face crops or whole photos)")
    p.add_argument("--split", default="val",
                   help="which split of a Kaggle CSV or split folder: train, val (PublicTest) or test (PrivateTest); default val")
    p.add_argument("--model", default=None, metavar="MODEL",
                   help="ONNX file, or a shipped model's name: full (the default, four views) or fast (one view)")
    p.add_argument("--photos", action="store_true",
                   help="read a folder of class folders as whole photos even if its images are 48x48")
    p.add_argument("--detect-size", type=int, default=640, metavar="PX",
                   help="whole photos: detection size in pixels on the longer side (default 640, as 'facemoji image')")
    p.add_argument("--json", metavar="FILE",
                   help="write the full report as JSON (accuracy at the top level); '-' for standard output")
    p.add_argument("--confusion", metavar="PNG", help="write the confusion matrix as a picture")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from facemoji.errors import InputError
    from facemoji.train.data import DataError, load_dataset
    from facemoji.train.evaluate import evaluate_model, holds_face_crops, plot_confusion

    data = Path(args.data)
    try:
        photos = data.is_dir() and not _has_split_folders(data) and (args.photos or not holds_face_crops(data))
    except DataError as e:
        raise InputError(str(e)) from None
    if photos:
        return _run_photos(args)
    try:
        ds = load_dataset(args.data, args.split)
    except DataError as e:
        raise InputError(str(e)) from None
    report, _ = evaluate_model(args.model, ds.x, ds.y, progress=sys.stderr.isatty())
    report["data"] = str(Path(args.data))
    out = sys.stderr if args.json == "-" else sys.stdout  # "--json -": the report on stdout, the tables beside it
    print(f"accuracy {report['accuracy']:.4f} on {report['n']} faces  (macro F1 {report['macro_f1']:.4f}, "
          f"ECE {report['ece']:.4f}, {report['ms_per_face_batch1_median']:.2f} ms/face)", file=out)
    _print_tables(report, out)
    if args.json:
        _write_json(report, args.json)
    if args.confusion:
        plot_confusion(report, args.confusion)
    return 0


def _has_split_folders(root: Path) -> bool:
    from facemoji.train.data import SPLIT_ALIASES

    return any(d.is_dir() and d.name.lower() in SPLIT_ALIASES for d in root.iterdir())


def _run_photos(args: argparse.Namespace) -> int:
    from facemoji.errors import InputError
    from facemoji.train.data import DataError
    from facemoji.train.evaluate import evaluate_photos, plot_confusion

    if not 64 <= args.detect_size <= 4096:
        raise InputError(f"--detect-size {args.detect_size}: choose 64 to 4096 pixels")
    try:
        report = evaluate_photos(args.data, args.model, detect_size=args.detect_size, progress=sys.stderr.isatty())
    except DataError as e:
        raise InputError(str(e)) from None
    out = sys.stderr if args.json == "-" else sys.stdout
    print(f"accuracy {report['accuracy']:.4f} on {report['n']} photos  (balanced {report['balanced_accuracy']:.4f}, "
          f"macro F1 {report['macro_f1']:.4f}; no face found in {report['no_face']['count']}, "
          f"{len(report['errors'])} unreadable)", file=out)
    _print_tables(report, out)
    for path in report["no_face"]["paths"][:20]:
        print(f"no face: {path}", file=out)
    if report["no_face"]["count"] > 20:
        print(f"no face: ... and {report['no_face']['count'] - 20} more (all in --json)", file=out)
    for err in report["errors"]:
        print(f"unreadable: {err['error']}", file=sys.stderr)
    if args.json:
        _write_json(report, args.json)
    if args.confusion:
        plot_confusion(report, args.confusion)
    return 0


def _write_json(report: dict, target: str) -> None:
    from facemoji.train.evaluate import write_report

    if target == "-":
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        write_report(report, target)


def _print_tables(report: dict, out: TextIO) -> None:
    """Per-class scores and the confusion counts (whole photos add a last column: no face found)."""
    print(f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}", file=out)
    for name, v in report["per_class"].items():
        print(f"{name:<10}{v['precision']:>10.3f}{v['recall']:>10.3f}{v['f1']:>10.3f}{v['support']:>9d}", file=out)
    cm = report["confusion_matrix"]
    columns = cm.get("predicted", cm["classes"])
    extra = ", last: no face" if len(columns) > len(cm["classes"]) else ""
    print(f"confusion (rows true, columns predicted{extra}): " + " ".join(c[:3] for c in columns), file=out)
    for name, row in zip(cm["classes"], cm["counts"], strict=True):
        print(f"  {name:<9}" + " ".join(f"{v:>4d}" for v in row), file=out)
