"""``facemoji image``: emojify photos (files or folders) and report the faces."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from facemoji.cli.common import dump_json, open_json_out, options_from_args
from facemoji.errors import FacemojiError, InputError, ModelError
from facemoji.imageio import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES
from facemoji.options import Options

OUTPUT_TAG = ".facemoji"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "image", help="emojify photos (files or folders)",
        description="Find the faces in photos, name each one's expression and cover it with the matching emoji. "
        "Inputs are never overwritten: without -o each result is written beside its input as NAME.facemoji.EXT.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  facemoji image photo.jpg -o out.jpg\n  facemoji image holiday/ -o holiday_emoji/ --json faces.json\n"
        "  facemoji image a.png b.webp --json - --no-images",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files (JPEG, PNG, WebP, BMP, TIFF) or folders (searched recursively)")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output file (for one input image) or folder (created if needed; keeps sub-folders)")
    p.add_argument("--json", metavar="FILE", help="write the faces of every image as JSON to FILE, or - for stdout")
    p.add_argument("--no-images", action="store_true", help="only analyze: write no images (use with --json)")
    p.add_argument("--max-megapixels", type=float, default=DEFAULT_MAX_PIXELS / 1e6, metavar="MP",
                   help="refuse images larger than this, guarding against decompression bombs (default: 100)")
    p.add_argument("--quality", type=int, default=92, help="JPEG/WebP quality of the outputs (default: 92)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    Options.add_arguments(p, "photo")
    p.set_defaults(run=run)


def collect_inputs(paths: list[str]) -> tuple[list[tuple[Path, Path]], list[tuple[str, str]]]:
    """Expand files and folders into (image, root) pairs; report paths that don't exist."""
    found: list[tuple[Path, Path]] = []
    bad: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(
                f for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and OUTPUT_TAG not in f.name
            )
            if not files:
                bad.append((raw, "folder holds no images"))
            found.extend((f, p) for f in files)
        elif p.exists():
            found.append((p, p.parent))
        else:
            bad.append((raw, "no such file or folder"))
    return found, bad


def output_path(src: Path, root: Path, out: str | None, single: bool) -> Path:
    if out is None:
        return src.with_name(f"{src.stem}{OUTPUT_TAG}{src.suffix or '.png'}")
    o = Path(out)
    if single and o.suffix.lower() in IMAGE_SUFFIXES and not o.is_dir():
        return o
    rel = src.relative_to(root) if src.is_relative_to(root) else Path(src.name)
    return o / rel


def _progress(items: list, show: bool):
    """``items``, behind a progress bar on standard error when ``show`` (tqdm is imported only then)."""
    if not show:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="images", unit="img", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from facemoji.imageio import read_image, write_image

    options = options_from_args(args)
    if args.max_megapixels <= 0:
        raise InputError("--max-megapixels must be positive")
    open_json_out(args.json)
    inputs, bad = collect_inputs(args.paths)
    if not inputs:
        for path, why in bad:
            print(f"facemoji: error: {path}: {why}", file=sys.stderr)
        return 1
    single = len(inputs) == 1 and len(args.paths) == 1 and not Path(args.paths[0]).is_dir()
    if args.output and not single and Path(args.output).suffix.lower() in IMAGE_SUFFIXES and not Path(args.output).is_dir():
        raise InputError(f"-o {args.output}: several inputs need an output folder, not a file name")
    pipe = options.pipeline("photo", background=True)  # the models load while the first image is read
    max_pixels = int(args.max_megapixels * 1e6)
    records: list[dict] = []
    failures: list[tuple[str, str]] = list(bad)
    n_faces = 0
    show = not args.quiet and len(inputs) > 1
    if show:
        pipe.wait()  # no progress bar drawn before a model error
    for src, root in _progress(inputs, show):
        try:
            img = read_image(src, max_pixels)
            out_img, faces = pipe.process(img)
            rec = {"path": str(src), "width": int(img.shape[1]), "height": int(img.shape[0]),
                   "faces": [f.to_dict() for f in faces]}
            if not args.no_images:
                dst = output_path(src, root, args.output, single)
                if dst.exists() and os.path.samefile(dst, src):
                    raise InputError(f"{src}: output would overwrite the input; choose another -o")
                if args.output and not single:
                    dst.parent.mkdir(parents=True, exist_ok=True)
                elif args.output and single and not dst.parent.exists():
                    raise InputError(f"{dst}: output folder {dst.parent} does not exist")
                if dst.suffix.lower() not in IMAGE_SUFFIXES:
                    dst = dst.with_suffix(".png")
                write_image(dst, out_img, args.quality)
                rec["output"] = str(dst)
            records.append(rec)
            n_faces += len(faces)
        except ModelError:
            raise  # a model that cannot load fails the command, not this image
        except FacemojiError as e:
            failures.append((str(src), str(e).removeprefix(f"{src}: ")))
        except OSError as e:
            failures.append((str(src), f"cannot write output ({e.strerror or e})"))
    pipe.wait()  # a model that failed to load is the error even when no image could be read
    if args.json:
        dump_json({"version": 1, "images": records,
                   "errors": [{"path": p, "error": why} for p, why in failures]}, args.json)
    if not args.quiet:
        for rec in records if len(records) <= 20 else []:
            summary = ", ".join(f"{f['emotion']} {f['probabilities'][f['emotion']]:.0%}" for f in rec["faces"]) or "no face"
            where = f" -> {rec['output']}" if "output" in rec else ""
            print(f"{rec['path']}: {summary}{where}", file=sys.stderr)
        print(f"{len(records)} image(s), {n_faces} face(s)" + (f", {len(failures)} failed" if failures else ""),
              file=sys.stderr)
    for path, why in failures:
        print(f"facemoji: error: {path}: {why}", file=sys.stderr)
    return 1 if failures else 0
