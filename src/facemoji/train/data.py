"""Reading FER2013-style data in every form users have it.

Supported sources (see :func:`load_dataset`):

* Kaggle's ``fer2013.csv`` (``emotion,pixels,Usage``), split by ``Usage``;
* a split CSV without ``Usage`` (``emotion,pixels``), as the original design wrote;
* a folder of images per class (``0``..``6`` or class names, any case), possibly
  with ``train``/``val``/``test``-style split sub-folders;
* ``.npz`` arrays with ``x`` (N, 48, 48) uint8 and ``y`` (N,) int.

Every reader returns a :class:`Dataset` of uint8 48x48 images and int64 labels,
and raises :class:`DataError` with the file and row for bad input.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facemoji.labels import EMOTIONS

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm"}
SIDE = 48

# Usage values in Kaggle's CSV and the names we give the splits.
USAGE_TO_SPLIT = {"training": "train", "publictest": "val", "privatetest": "test"}
SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "publictest": "val",
    "test": "test", "privatetest": "test",
}


class DataError(ValueError):
    """A data file that cannot be read; the message names the file (and row)."""


@dataclass
class Dataset:
    x: np.ndarray  # (N, 48, 48) uint8
    y: np.ndarray  # (N,) int64
    source: str = ""
    soft: np.ndarray | None = None  # (N, 7) float32 soft labels, optional
    row_index: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def counts(self) -> list[int]:
        return np.bincount(self.y, minlength=len(EMOTIONS)).tolist()


def _label_from_name(name: str) -> int | None:
    s = name.strip().lower()
    if s.isdigit() and 0 <= int(s) < len(EMOTIONS):
        return int(s)
    aliases = {"happiness": "happy", "sadness": "sad", "anger": "angry", "surprised": "surprise",
               "fearful": "fear", "disgusted": "disgust"}
    s = aliases.get(s, s)
    return EMOTIONS.index(s) if s in EMOTIONS else None


def _parse_pixels(text: str, where: str) -> np.ndarray:
    parts = text.split()
    if len(parts) != SIDE * SIDE:
        raise DataError(f"{where}: expected {SIDE * SIDE} pixel values, found {len(parts)}")
    try:
        arr = np.array([int(p) for p in parts], dtype=np.int64)
    except ValueError:
        raise DataError(f"{where}: pixel values must be integers 0..255") from None
    if arr.min() < 0 or arr.max() > 255:
        raise DataError(f"{where}: pixel values must be integers 0..255")
    return arr.astype(np.uint8).reshape(SIDE, SIDE)


def read_csv(path: Path) -> dict[str, Dataset]:
    """Read a FER2013 CSV. With a ``Usage`` column the rows are split by it,
    otherwise everything is returned under the key ``"all"``."""
    path = Path(path)
    splits: dict[str, tuple[list[np.ndarray], list[int]]] = {}
    try:
        f = path.open(newline="", encoding="utf-8-sig")
    except OSError as e:
        raise DataError(f"{path}: cannot open ({e.strerror})") from None
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{path}: empty file") from None
        except (csv.Error, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not a CSV file ({e})") from None
        cols = [h.strip().lower() for h in header]
        if "emotion" not in cols or "pixels" not in cols:
            raise DataError(f"{path}: header must have 'emotion' and 'pixels' columns, found {header!r:.80}")
        ie, ip = cols.index("emotion"), cols.index("pixels")
        iu = cols.index("usage") if "usage" in cols else None
        try:
            for lineno, row in enumerate(reader, start=2):
                if not row:
                    continue
                where = f"{path}, line {lineno}"
                if len(row) < len(cols):
                    raise DataError(f"{where}: expected {len(cols)} columns, found {len(row)}")
                label = row[ie].strip()
                if not label.isdigit() or int(label) >= len(EMOTIONS):
                    raise DataError(f"{where}: unknown emotion label {label!r} (expected 0..6)")
                img = _parse_pixels(row[ip], where)
                if iu is None:
                    split = "all"
                else:
                    usage = row[iu].strip().lower()
                    if usage not in USAGE_TO_SPLIT:
                        raise DataError(f"{where}: unknown Usage {row[iu]!r}")
                    split = USAGE_TO_SPLIT[usage]
                xs, ys = splits.setdefault(split, ([], []))
                xs.append(img)
                ys.append(int(label))
        except (csv.Error, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not a readable CSV file ({e})") from None
    if not splits:
        raise DataError(f"{path}: no data rows")
    return {k: Dataset(np.stack(xs), np.array(ys, dtype=np.int64), f"{path}[{k}]") for k, (xs, ys) in splits.items()}


def _load_image_48(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L")
            if im.size != (SIDE, SIDE):
                im = im.resize((SIDE, SIDE), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable image ({e.__class__.__name__})") from None


def read_image_folder(root: Path) -> Dataset:
    """A folder with one sub-folder per class (``0``..``6`` or class names)."""
    root = Path(root)
    xs: list[np.ndarray] = []
    ys: list[int] = []
    class_dirs = [d for d in sorted(root.iterdir()) if d.is_dir() and _label_from_name(d.name) is not None]
    if not class_dirs:
        raise DataError(f"{root}: no class folders (expected 0..6 or {', '.join(EMOTIONS)})")
    for d in class_dirs:
        label = _label_from_name(d.name)
        assert label is not None
        for p in sorted(d.rglob("*")):
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
                xs.append(_load_image_48(p))
                ys.append(label)
    if not xs:
        raise DataError(f"{root}: class folders hold no images")
    return Dataset(np.stack(xs), np.array(ys, dtype=np.int64), str(root))


def read_npz(path: Path) -> Dataset:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as d:
            if "x" not in d.files or "y" not in d.files:
                raise DataError(f"{path}: .npz must hold arrays 'x' and 'y', found {', '.join(d.files) or 'none'}")
            x, y = d["x"], d["y"]
            row_index = d["row_index"] if "row_index" in d.files else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1:] != (SIDE, SIDE) or len(x) != len(y):
        raise DataError(f"{path}: expected x of shape (N, 48, 48) and y of shape (N,), got {x.shape} and {y.shape}")
    if x.dtype != np.uint8:
        if x.max() <= 1.0:
            x = x * 255.0
        x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    y = np.asarray(y).astype(np.int64)
    if len(y) == 0:
        raise DataError(f"{path}: no samples")
    if y.min() < 0 or y.max() >= len(EMOTIONS):
        raise DataError(f"{path}: labels must be 0..6")
    return Dataset(x, y, str(path), row_index=row_index)


def load_dataset(path: str | Path, split: str | None = None) -> Dataset:
    """Load one split from any supported source.

    ``split`` is ``train``, ``val`` or ``test`` (aliases: ``training``,
    ``publictest``, ``privatetest``...). For a Kaggle CSV it selects by
    ``Usage``; for a folder with split sub-folders it selects the sub-folder;
    for a single-split source it is ignored.
    """
    p = Path(path)
    want = SPLIT_ALIASES.get(split.lower(), split.lower()) if split else None
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    if p.is_dir():
        subs = {SPLIT_ALIASES[d.name.lower()]: d for d in p.iterdir() if d.is_dir() and d.name.lower() in SPLIT_ALIASES}
        if subs:
            key = want or "train"
            if key not in subs:
                raise DataError(f"{p}: no '{key}' split folder (found {', '.join(sorted(subs))})")
            return read_image_folder(subs[key])
        return read_image_folder(p)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return read_npz(p)
    if suffix == ".csv":
        splits = read_csv(p)
        if "all" in splits:
            return splits["all"]
        key = want or "train"
        if key not in splits:
            raise DataError(f"{p}: no rows with Usage for split '{key}'")
        return splits[key]
    raise DataError(f"{p}: unsupported data file (expected .csv, .npz or a folder of class folders)")


# FER+ vote columns -> FER2013 class index.
_FERPLUS_TO_FER = {"anger": 0, "disgust": 1, "fear": 2, "happiness": 3, "sadness": 4, "surprise": 5, "neutral": 6}


def ferplus_soft_labels(votes_path: str | Path, row_index: np.ndarray) -> np.ndarray:
    """Soft labels (N, 7) from FER+ votes for the given FER2013 CSV rows.

    Rows without any vote among the seven classes get all zeros (the caller
    falls back to the hard label there).
    """
    p = Path(votes_path)
    try:
        with np.load(p, allow_pickle=False) as d:
            votes, columns, rows = d["votes"], [str(c) for c in d["columns"]], d["row_index"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise DataError(f"{p}: not a FER+ votes file ({e})") from None
    lookup = {int(r): i for i, r in enumerate(rows)}
    out = np.zeros((len(row_index), len(EMOTIONS)), dtype=np.float32)
    cols = [(columns.index(name), k) for name, k in _FERPLUS_TO_FER.items()]
    for n, r in enumerate(row_index):
        i = lookup.get(int(r))
        if i is None:
            continue
        v = np.zeros(len(EMOTIONS), dtype=np.float32)
        for c, k in cols:
            v[k] = votes[i, c]
        s = v.sum()
        if s > 0:
            out[n] = v / s
    return out
