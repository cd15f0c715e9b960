"""``facemoji batch --engine ray`` against a real local Ray cluster: the same rows as the local engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from batch_corpus import BROKEN, face_rows, make_corpus, run_cli, summary

pytest.importorskip("ray")

# Ray start-up and its actor pool can hang on a starved machine; a hang fails the test instead of stalling CI
pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


def test_ray_engine_gives_the_rows_of_the_local_engine(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    local, ray = tmp_path / "local", tmp_path / "ray"
    r_local = run_cli(["batch", str(corpus), "-o", str(local), "-j", "2", "-q"], timeout=600)
    assert r_local.returncode == 1, r_local.stderr
    # a local Ray started by the command itself (no address): every CPU of this machine, 2 on the CI box
    r_ray = run_cli(["batch", str(corpus), "-o", str(ray), "--engine", "ray"], timeout=600)
    assert r_ray.returncode == 1, r_ray.stderr
    assert "Traceback" not in r_ray.stderr
    a, b = summary(local), summary(ray)
    assert list(a.index) == list(b.index)
    assert (a.status == b.status).all() and (a.faces == b.faces).all()
    for rel in BROKEN:
        assert b.loc[rel, "error"] == a.loc[rel, "error"]
    fa, fb = face_rows(local), face_rows(ray)
    assert len(fa) == len(fb) > 0
    assert (fa[["relpath", "frame", "face", "emotion"]].values == fb[["relpath", "frame", "face", "emotion"]].values).all()
    assert np.nanmax(np.abs(fa[["x", "y", "width", "height"]].values - fb[["x", "y", "width", "height"]].values)) < 1
    # the same media files, under the same names
    for rel in a.output.dropna():
        assert (ray / rel).is_file()
    assert (ray / "photos/astronaut.jpg").read_bytes() == (local / "photos/astronaut.jpg").read_bytes()

    # resuming on Ray: nothing left to do, nothing rewritten
    before = {p.name: p.stat().st_mtime_ns for p in (ray / "summary").glob("part-*.parquet")}
    again = run_cli(["batch", str(corpus), "-o", str(ray), "--engine", "ray"], timeout=600)
    assert again.returncode == 1 and "0 processed" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (ray / "summary").glob("part-*.parquet")} == before


def test_address_of_no_cluster_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"")
    r = run_cli(["batch", str(tmp_path / "a.jpg"), "-o", str(tmp_path / "out"), "--engine", "ray",
                 "--address", "127.0.0.1:1"], timeout=300)
    assert r.returncode == 1
    assert "cannot start or join Ray at 127.0.0.1:1" in r.stderr and "Traceback" not in r.stderr
