"""One batch worker on one real photo, in this process: its summary row and parts, with the defaults a batch
configuration has when only the output folder is given (``test_batch.py`` runs whole batches)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image
from skimage import data as skdata

from facemoji.batch.collect import collect
from facemoji.batch.work import BatchConfig, Worker


def test_a_worker_writes_the_picture_and_rows_of_a_non_square_photo(tmp_path: Path) -> None:
    src = tmp_path / "in" / "astro.jpg"
    src.parent.mkdir()
    Image.fromarray(skdata.astronaut()[0:300, 30:470]).save(src, quality=95)  # 440 x 300
    out = tmp_path / "out"
    (item,) = collect([str(src)], out).items
    row = Worker(BatchConfig(outdir=str(out))).run(item)
    assert row["status"] == "ok" and row["error"] is None
    assert (row["width"], row["height"], row["frames"]) == (440, 300, 1)
    assert row["output"] and (out / row["output"]).is_file()  # pictures are written unless asked not to
    assert Image.open(out / row["output"]).size == (440, 300)
    faces = pq.read_table(next((out / "faces").glob("*.parquet"))).to_pylist()
    assert faces and faces[0]["relpath"] == "astro.jpg" and faces[0]["kind"] == "photo"
    assert 0 <= faces[0]["x"] < faces[0]["x"] + faces[0]["width"] <= 440
    assert 0 <= faces[0]["y"] < faces[0]["y"] + faces[0]["height"] <= 300


def test_without_media_a_worker_writes_rows_only(tmp_path: Path) -> None:
    src = tmp_path / "astro.png"
    Image.fromarray(skdata.astronaut()[0:300, 30:470]).save(src)
    out = tmp_path / "out"
    (item,) = collect([str(src)], out).items
    row = Worker(BatchConfig(outdir=str(out), media=False)).run(item)
    assert row["status"] == "ok" and row["output"] is None
    assert not any(p.suffix == ".png" for p in out.rglob("*"))
