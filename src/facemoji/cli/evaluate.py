"""``facemoji evaluate``: accuracy, per-class scores, confusion matrix and calibration of a model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="measure an emotion model on labelled faces",
        description="Run an emotion model exactly as the runtime does (ONNX, with the test-time augmentation that is inside the model) on "
        "labelled faces and report accuracy, per-class precision/recall/F1, the confusion matrix (numbers and a PNG) "
        "and the expected calibration error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  facemoji evaluate --data ../shared/data/fer2013_publictest.npz --json report.json --confusion cm.png",
    )
    p.add_argument("--data", required=True, help="fer2013.csv, a split CSV, a folder of class folders, or .npz (x, y)")
    p.add_argument("--split", default="val",
                   help="which split of a Kaggle CSV or split folder: train, val (PublicTest) or test (PrivateTest); default val")
    p.add_argument("--model", default=None, help="ONNX model (default: the shipped model)")
    p.add_argument("--json", metavar="FILE", help="write the full report as JSON (accuracy at the top level)")
    p.add_argument("--confusion", metavar="PNG", help="write the confusion matrix as a picture")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from facemoji.errors import InputError
    from facemoji.train.data import DataError, load_dataset
    from facemoji.train.evaluate import evaluate_model, plot_confusion, write_report

    try:
        ds = load_dataset(args.data, args.split)
    except DataError as e:
        raise InputError(str(e)) from None
    report, _ = evaluate_model(args.model, ds.x, ds.y, progress=sys.stderr.isatty())
    report["data"] = str(Path(args.data))
    print(f"accuracy {report['accuracy']:.4f} on {report['n']} faces  (macro F1 {report['macro_f1']:.4f}, "
          f"ECE {report['ece']:.4f}, {report['ms_per_face_batch1_median']:.2f} ms/face)")
    print(f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for name, v in report["per_class"].items():
        print(f"{name:<10}{v['precision']:>10.3f}{v['recall']:>10.3f}{v['f1']:>10.3f}{v['support']:>9d}")
    cm = report["confusion_matrix"]
    print("confusion (rows true, columns predicted): " + " ".join(c[:3] for c in cm["classes"]))
    for name, row in zip(cm["classes"], cm["counts"], strict=True):
        print(f"  {name:<9}" + " ".join(f"{v:>4d}" for v in row))
    if args.json:
        write_report(report, args.json)
    if args.confusion:
        plot_confusion(report, args.confusion)
    return 0
