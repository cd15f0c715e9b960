"""``facemoji export``: turn a training checkpoint into the ONNX model the runtime loads."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a checkpoint to ONNX (needs facemoji[train])",
        description="Write the ONNX emotion model: raw 48x48 grayscale faces (0..255) in, seven probabilities out. "
        "Normalisation and test-time augmentation (flip averaging, optionally shifts and zooms) are folded into the graph; class order, input description and "
        "face framing go into the model's metadata.",
    )
    p.add_argument("checkpoint", help="a best.pt or last.pt written by facemoji train")
    p.add_argument("-o", "--output", default="emotion.onnx", help="ONNX file to write (default: emotion.onnx)")
    p.add_argument("--no-tta", action="store_true", help="do not fold flip averaging into the graph")
    p.add_argument("--shift", type=int, default=0, metavar="PX",
                   help="also average over the face shifted PX pixels left, right, up and down (default: 0, "
                   "flip averaging only); each shift costs one more pass of the network per face and mirror")
    p.add_argument("--zoom", type=float, action="append", default=[], metavar="S",
                   help="also average over the face zoomed by S about its centre (S < 1 zooms out, edges "
                   "repeated; may be given more than once); each zoom costs one more pass per face and mirror. "
                   "The shipped model uses --zoom 0.92")
    p.add_argument("--int8", action="store_true",
                   help="quantize to int8 (static, per-channel weights; activation ranges from 512 training "
                   "faces): about 2.8x faster, as the shipped model is")
    p.add_argument("--calibration", default=None, metavar="PATH",
                   help="training data for --int8's activation ranges (default: the checkpoint's own --data)")
    p.add_argument("--crop", default=None, metavar="JSON",
                   help='face framing relative to the detector box, e.g. \'{"scale": 1.0, "dx": 0.0, "dy": 0.0}\'')
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from facemoji.errors import FacemojiError, InputError

    try:
        from facemoji.train.export import CalibrationError, export_onnx, shift_views
    except ModuleNotFoundError as e:
        if e.name == "torch":
            raise FacemojiError("export needs PyTorch: pip install 'facemoji[train]'") from None
        raise
    if not 0 <= args.shift <= 8:
        raise InputError("--shift must be between 0 and 8 pixels")
    if any(not 0.5 <= z <= 2.0 or z == 1.0 for z in args.zoom):
        raise InputError("--zoom must be between 0.5 and 2.0 and not 1")
    if not Path(args.checkpoint).is_file():
        raise InputError(f"{args.checkpoint}: no such checkpoint")
    try:
        crop = json.loads(args.crop) if args.crop else None
    except json.JSONDecodeError as e:
        raise InputError(f"--crop: not JSON ({e})") from None
    try:
        out = export_onnx(args.checkpoint, args.output, tta=not args.no_tta, crop=crop, shifts=shift_views(args.shift),
                          zooms=tuple(args.zoom), int8=args.int8, calibration=args.calibration)
    except CalibrationError as e:
        raise InputError(f"--calibration: {e}") from None
    except (ValueError, KeyError, RuntimeError, EOFError) as e:
        raise InputError(f"{args.checkpoint}: not a facemoji checkpoint ({str(e).splitlines()[0][:100]})") from None
    print(f"wrote {out}")
    return 0

