"""Turning the SOURCE arguments of a batch into a list of items.

A source is a folder (searched recursively), a file, a glob pattern, or a
manifest: a text file of paths (one a line), or a CSV or Parquet table with a
``path`` column (relative paths are taken from the manifest's folder). Photos
and videos are told apart by their first bytes, not by their names; what the
first bytes do not settle is left to the worker, which tries the image reader
and then FFmpeg.
"""

from __future__ import annotations

import glob
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from facemoji.batch.schema import TABLE_DIRS, item_id
from facemoji.errors import InputError
from facemoji.imageio import IMAGE_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                  ".wmv", ".flv", ".3gp", ".ogv", ".mxf")
MEDIA_SUFFIXES = frozenset(IMAGE_SUFFIXES + (".gif",) + VIDEO_SUFFIXES)
MANIFEST_SUFFIXES = (".txt", ".lst", ".list", ".csv", ".tsv", ".parquet")
IMAGE_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")


@dataclass(frozen=True)
class Item:
    """One photo or video of a batch: where it is, where its outputs go, what its first bytes say it is."""

    path: str  # absolute source path
    relpath: str  # path under the mirrored tree (POSIX separators)
    kind: str  # "photo", "video" or "unknown" (settled by the worker)
    size: int  # bytes

    @property
    def id(self) -> str:
        return item_id(self.relpath)

    def to_dict(self) -> dict:
        return asdict(self)


def sniff(head: bytes) -> str:
    """``photo``, ``video`` or ``unknown`` from the first bytes of a file."""
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00",
                        b"MM\x00*", b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")):
        return "photo"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "photo"
    if head[4:8] == b"ftyp":
        return "photo" if head[8:12] in IMAGE_BRANDS else "video"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "video"  # QuickTime without an ftyp box
    if head.startswith((b"\x1a\x45\xdf\xa3", b"FLV", b"OggS", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3",
                        b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")):
        return "video"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "video"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "video"  # MPEG transport stream
    return "unknown"


def sniff_file(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            return sniff(f.read(256))
    except OSError:
        return "unknown"  # the worker reports why it cannot be read


def _walk(folder: Path, skip: list[Path]) -> list[Path]:
    """Regular files under ``folder``, hidden names and ``skip`` folders left out, symbolic links not followed."""
    out = []
    skip_s = {os.path.normcase(str(s)) for s in skip}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and os.path.normcase(os.path.join(dirpath, d)) not in skip_s)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = Path(dirpath, name)
            if p.is_file():
                out.append(p)
    return out


def is_manifest(path: Path) -> bool:
    if path.suffix.lower() not in MANIFEST_SUFFIXES:
        try:
            with open(path, "rb") as f:
                return f.read(4) == b"PAR1"
        except OSError:
            return False
    return sniff_file(path) == "unknown"


def read_manifest(path: Path) -> list[Path]:
    """The paths a manifest lists, relative ones taken from the manifest's folder."""
    base = path.parent
    try:
        with open(path, "rb") as f:
            parquet = f.read(4) == b"PAR1"
        if parquet or path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            if "path" not in table.column_names:
                raise InputError(f"{path}: manifest table has no 'path' column (columns: "
                                 f"{', '.join(table.column_names[:8])})")
            names = [str(v) for v in table.column("path").to_pylist() if v]
        elif path.suffix.lower() in (".csv", ".tsv"):
            import csv

            with open(path, newline="", encoding="utf-8") as f:
                sample = f.read(4096)
                f.seek(0)
                delim = "\t" if path.suffix.lower() == ".tsv" or ("\t" in sample and "," not in sample) else ","
                reader = csv.DictReader(f, delimiter=delim)
                if reader.fieldnames is None or "path" not in reader.fieldnames:
                    raise InputError(f"{path}: manifest CSV has no 'path' column in its header")
                names = [row["path"].strip() for row in reader if (row.get("path") or "").strip()]
        else:
            with open(path, encoding="utf-8") as f:
                names = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    except InputError:
        raise
    except UnicodeDecodeError:
        raise InputError(f"{path}: manifest is not UTF-8 text") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read manifest ({e.strerror or e})") from None
    except Exception as e:  # pyarrow's errors for a damaged table
        raise InputError(f"{path}: cannot read manifest ({str(e).splitlines()[0] if str(e) else e})") from None
    return [p if p.is_absolute() else base / p for p in map(Path, names)]


@dataclass
class Plan:
    """What a batch will work on: the items, the folder their tree is mirrored from, and what was left out."""

    items: list[Item]
    root: Path
    missing: list[tuple[str, str]]  # (source, reason): sources that name nothing usable
    ignored: int  # files in folders that are neither media by content nor by name


def collect(sources: list[str], outdir: Path) -> Plan:
    """Expand SOURCE arguments into items (deduplicated, in a stable order) mirrored under ``outdir``."""
    outdir_abs = outdir.resolve()
    files: dict[str, tuple[Path, bool]] = {}  # absolute path -> (path, from a folder walk)
    roots: list[Path] = []
    missing: list[tuple[str, str]] = []

    def add(p: Path, walked: bool) -> None:
        a = p.absolute()
        key = os.path.normcase(os.path.normpath(str(a)))
        if key not in files:
            files[key] = (Path(os.path.normpath(str(a))), walked)

    def add_folder(d: Path) -> int:
        found = _walk(d, [outdir_abs])
        for f in found:
            add(f, True)
        return len(found)

    for raw in sources:
        p = Path(raw)
        if p.is_dir():
            roots.append(p.absolute())
            if add_folder(p) == 0:
                missing.append((raw, "folder holds no files"))
        elif p.is_file():
            if is_manifest(p):
                listed = read_manifest(p)
                if not listed:
                    missing.append((raw, "manifest lists no paths"))
                for q in listed:
                    if q.is_dir():
                        roots.append(q.absolute())
                        add_folder(q)
                    else:
                        roots.append(q.absolute().parent)
                        add(q, False)  # a listed path that does not exist is reported as a failed item
            else:
                roots.append(p.absolute().parent)
                add(p, False)
        elif glob.has_magic(raw):
            matches = sorted(glob.glob(raw, recursive=True))
            if not matches:
                missing.append((raw, "pattern matches nothing"))
            for m in matches:
                q = Path(m)
                roots.append(q.absolute().parent if q.is_file() else q.absolute())
                if q.is_dir():
                    add_folder(q)
                elif q.is_file():
                    add(q, False)
        elif p.exists():
            missing.append((raw, "not a regular file or folder"))
        else:
            missing.append((raw, "no such file or folder"))

    if not files:
        return Plan([], outdir_abs, missing, 0)
    root = Path(os.path.commonpath([os.path.normpath(str(r)) for r in roots])) if roots else Path("/")
    items: list[Item] = []
    ignored = 0
    for a, walked in sorted(files.values(), key=lambda t: str(t[0])):
        try:
            if a.resolve().is_relative_to(outdir_abs):
                continue  # never take our own outputs as inputs
        except OSError:
            pass
        kind = sniff_file(a) if a.is_file() else "unknown"
        if walked and kind == "unknown" and a.suffix.lower() not in MEDIA_SUFFIXES:
            ignored += 1
            continue
        rel = a.relative_to(root).as_posix() if a.is_relative_to(root) else a.name
        if rel.split("/", 1)[0] in TABLE_DIRS:
            rel = "_" + rel  # keep media out of the table folders
        try:
            size = a.stat().st_size
        except OSError:
            size = -1
        items.append(Item(str(a), rel, kind, size))
    return Plan(items, root, missing, ignored)


def output_relpath(item_relpath: str, kind: str) -> str:
    """Where an item's picture or video goes under OUTDIR: photos keep their name (PNG when the name has no image
    suffix), videos become H.264 MP4."""
    p = Path(item_relpath)
    # a suffix is added, not swapped, so clip.mov and clip.mp4 in one folder do not meet in one output
    if kind == "video":
        return item_relpath if p.suffix.lower() == ".mp4" else item_relpath + ".mp4"
    return item_relpath if p.suffix.lower() in IMAGE_SUFFIXES else item_relpath + ".png"
