"""The two Parquet tables a batch writes, and how their part files are written.

``OUTDIR/faces/part-ID.parquet``: one row per face per photo or video frame.
``OUTDIR/summary/part-ID.parquet``: one row per source item (photo or video).

``ID`` is derived from the item's path relative to the mirrored input tree, so
running the same batch again overwrites a part instead of adding a second one.
Each part is written under a hidden temporary name (``.part-ID.parquet.*.tmp``;
pyarrow, pandas and DuckDB globs skip it) and renamed when complete. The columns
are documented in ``docs/batch_schema.md``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from facemoji.labels import EMOTIONS

FACES_DIR = "faces"
SUMMARY_DIR = "summary"
TABLE_DIRS = (FACES_DIR, SUMMARY_DIR)
SCHEMA_VERSION = 1

# column -> pyarrow type name; the order is the order of the columns in the files
FACE_COLUMNS: dict[str, str] = {
    "path": "string",
    "relpath": "string",
    "kind": "string",
    "frame": "int32",
    "time": "float64",
    "face": "int16",
    "track_id": "int32",
    "x": "float32",
    "y": "float32",
    "width": "float32",
    "height": "float32",
    "score": "float32",
    "emotion": "string",
    **{e: "float32" for e in EMOTIONS},
}

SUMMARY_COLUMNS: dict[str, str] = {
    "path": "string",
    "relpath": "string",
    "kind": "string",
    "status": "string",
    "error": "string",
    "faces": "int64",
    "frames": "int32",
    "tracks": "int32",
    "dominant_emotion": "string",
    "width": "int32",
    "height": "int32",
    "fps": "float64",
    "duration": "float64",
    "bytes": "int64",
    "output": "string",
    "seconds": "float64",
    "worker": "string",
    "finished_at": "timestamp[ms, tz=UTC]",
    "schema_version": "int16",
}


def _arrow_type(name: str):
    import pyarrow as pa

    if name.startswith("timestamp"):
        return pa.timestamp("ms", tz="UTC")
    return getattr(pa, name)()


def faces_schema():
    import pyarrow as pa

    return pa.schema([(k, _arrow_type(v)) for k, v in FACE_COLUMNS.items()])


def summary_schema():
    import pyarrow as pa

    return pa.schema([(k, _arrow_type(v)) for k, v in SUMMARY_COLUMNS.items()])


def item_id(relpath: str) -> str:
    """A stable file-name-safe id for an item: 20 hex digits of SHA-1 of its relative path."""
    return hashlib.sha1(relpath.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def part_path(outdir: Path, table: str, iid: str) -> Path:
    return outdir / table / f"part-{iid}.parquet"


def write_table(path: Path, columns: dict[str, list], schema) -> None:
    """Write the columns as one Parquet file, atomically (hidden temporary name, then rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from facemoji.imageio import usual_file_mode

    table = pa.Table.from_pydict({f.name: columns.get(f.name, []) for f in schema}, schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.chmod(tmp, usual_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_summary_part(path: Path) -> dict | None:
    """The one row of a summary part, or None when it cannot be read (then the item is simply redone)."""
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception:
        return None
    return rows[0] if len(rows) == 1 else None
