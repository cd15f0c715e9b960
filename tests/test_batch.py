"""``facemoji batch`` with the local engine, for real: worker processes, Parquet tables, resuming after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from batch_corpus import BROKEN, GOOD_PHOTOS, GOOD_VIDEOS, face_rows, make_corpus, run_cli, summary
from conftest import facemoji_command
from facemoji.batch.collect import collect, sniff_file
from facemoji.batch.schema import FACE_COLUMNS, SUMMARY_COLUMNS

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("batch") / "corpus")


@pytest.fixture(scope="module")
def local_run(corpus: Path, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "local"
    r = run_cli(["batch", str(corpus), "-o", str(out), "-j", "2"])
    return out, r


def test_content_not_name_decides_the_kind(corpus: Path) -> None:
    assert sniff_file(corpus / "photos/named_wrong.bin") == "photo"
    assert sniff_file(corpus / "clips/sub/still.mov") == "video"
    assert sniff_file(corpus / "broken/text.jpg") == "unknown"
    plan = collect([str(corpus)], corpus.parent / "elsewhere")
    rels = {it.relpath for it in plan.items}
    assert rels == set(GOOD_PHOTOS) | set(GOOD_VIDEOS) | set(BROKEN)
    assert plan.ignored == 1  # notes.txt: neither media by content nor by name


def test_local_batch_records_every_item(local_run, corpus: Path) -> None:
    out, r = local_run
    assert r.returncode == 1, r.stderr  # broken files are in the corpus
    assert "Traceback" not in r.stderr
    s = summary(out)
    assert set(s.index) == set(GOOD_PHOTOS) | set(GOOD_VIDEOS) | set(BROKEN)
    for rel, word in BROKEN.items():
        assert s.loc[rel, "status"] == "failed"
        assert word in s.loc[rel, "error"], (rel, s.loc[rel, "error"])
        assert f"{corpus / rel}:" in r.stderr
    good = s.loc[list(GOOD_PHOTOS) + list(GOOD_VIDEOS)]
    assert (good["status"] == "ok").all(), good["error"]
    assert good["error"].isna().all()
    assert s.loc["photos/group/two_faces.png", "faces"] == 2
    assert s.loc["photos/astronaut.jpg", "faces"] == 1
    assert list(s.loc[list(GOOD_PHOTOS), "kind"]) == ["photo"] * len(GOOD_PHOTOS)
    assert list(s.loc[list(GOOD_VIDEOS), "kind"]) == ["video"] * len(GOOD_VIDEOS)
    rows = face_rows(out)
    # the summary's counts are the table's rows; failed items have none
    counts = rows.groupby("relpath").size()
    for rel in s.index:
        assert counts.get(rel, 0) == s.loc[rel, "faces"], rel
    assert not rows.duplicated(["relpath", "frame", "face"]).any()
    assert rows[list(FACE_COLUMNS)[-7:]].sum(axis=1).between(0.99, 1.01).all()  # the seven probabilities
    assert (rows.emotion == rows[list(FACE_COLUMNS)[-7:]].idxmax(axis=1))[rows.kind == "photo"].all()
    for rel in s.index[s.status == "ok"]:
        counts = rows[rows.relpath == rel].emotion.value_counts()
        assert counts[s.loc[rel, "dominant_emotion"]] == counts.max()


def test_tables_read_as_they_are(local_run) -> None:
    import duckdb
    import pandas as pd

    out, _ = local_run
    faces = pd.read_parquet(out / "faces")
    assert list(faces.columns) == list(FACE_COLUMNS)
    summ = pd.read_parquet(out / "summary")
    assert list(summ.columns) == list(SUMMARY_COLUMNS)
    con = duckdb.connect()
    n, photos = con.execute(f"SELECT count(*), count(*) FILTER (WHERE kind = 'photo') FROM "
                            f"read_parquet('{out}/faces/*.parquet')").fetchone()
    assert n == len(faces) and photos == (faces.kind == "photo").sum()
    bad = con.execute(f"SELECT count(*) FROM '{out}/summary/*.parquet' WHERE status = 'failed'").fetchone()[0]
    assert bad == len(BROKEN)
    video = faces[faces.kind == "video"]
    assert (video.track_id >= 1).all() and video.time.notna().all()
    assert faces[faces.kind == "photo"].time.isna().all()


def test_photos_are_written_as_facemoji_image_writes_them(local_run, corpus: Path, tmp_path: Path) -> None:
    out, _ = local_run
    ref = tmp_path / "ref"
    ref.mkdir()
    r = run_cli(["image", str(corpus / "photos"), "-o", str(ref), "--json", str(tmp_path / "faces.json"), "-q"])
    assert r.returncode == 0, r.stderr
    rows = face_rows(out)
    records = {Path(rec["path"]).resolve(): rec for rec in json.loads((tmp_path / "faces.json").read_text())["images"]}
    for rel in ("photos/astronaut.jpg", "photos/group/two_faces.png", "photos/group/cameraman.png"):
        assert (out / rel).read_bytes() == (ref / Path(rel).relative_to("photos")).read_bytes(), rel
        mine = rows[rows.relpath == rel]
        theirs = records[(corpus / rel).resolve()]["faces"]
        assert len(mine) == len(theirs)
        for (_, a), b in zip(mine.iterrows(), theirs, strict=True):
            assert a.emotion == b["emotion"]
            assert abs(a.x - b["box"]["x"]) < 1 and abs(a.width - b["box"]["width"]) < 1
    # a photo whose name says nothing keeps it, as PNG
    r = run_cli(["image", str(corpus / "photos/named_wrong.bin"), "-o", str(tmp_path / "named.png"), "-q"])
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(out / "photos/named_wrong.bin.png")),
                          np.asarray(Image.open(tmp_path / "named.png")))


def test_videos_are_h264_with_audio_as_facemoji_video_writes_them(local_run, corpus: Path, tmp_path: Path) -> None:
    import av

    out, _ = local_run
    rows = face_rows(out)
    for rel, dst in (("clips/pan.mp4", "clips/pan.mp4"), ("clips/sub/still.mov", "clips/sub/still.mov.mp4")):
        with av.open(str(out / dst)) as c:
            assert c.streams.video[0].codec_context.name == "h264"
            assert c.streams.audio, "audio kept"
            n = sum(1 for _ in c.decode(video=0))
        with av.open(str(corpus / rel)) as c:
            assert n == sum(1 for _ in c.decode(video=0))
        ref = tmp_path / (Path(rel).stem + ".jsonl")
        r = run_cli(["video", str(corpus / rel), "-o", str(tmp_path / "v.mp4"), "--json", str(ref), "-q",
                     "--threads", "1"])
        assert r.returncode == 0, r.stderr
        theirs = [json.loads(x) for x in ref.read_text().splitlines()]
        mine = rows[rows.relpath == rel]
        assert len(mine) == len(theirs) > 0
        for (_, a), b in zip(mine.iterrows(), theirs, strict=True):
            assert (a.frame, a.track_id, a.emotion) == (b["frame"], b["track_id"], b["emotion"])
            assert abs(a.time - b["time"]) < 1e-3 and abs(a.y - b["box"]["y"]) < 1


def _part_stats(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("part-*.parquet")}


def test_rerun_skips_finished_items_and_retry_failed_redoes_only_failures(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    src = [str(corpus / "photos"), str(corpus / "broken/*.jpg")]  # a folder and a glob
    first = run_cli(["batch", *src, "-o", str(out), "--no-media"])
    assert first.returncode == 1, first.stderr
    assert not any(p.suffix in (".jpg", ".png") for p in out.rglob("*"))  # --no-media: tables only
    before = _part_stats(out / "summary")
    faces_before = face_rows(out)
    again = run_cli(["batch", *src, "-o", str(out), "--no-media"])
    assert again.returncode == 1
    assert "0 processed" in again.stderr
    assert _part_stats(out / "summary") == before
    retry = run_cli(["batch", *src, "-o", str(out), "--no-media", "--retry-failed"])
    assert retry.returncode == 1
    s = summary(out)
    after = _part_stats(out / "summary")
    from facemoji.batch.schema import item_id

    for rel in s.index:
        name = f"part-{item_id(rel)}.parquet"
        if s.loc[rel, "status"] == "ok":
            assert after[name] == before[name], rel
        else:
            assert after[name] != before[name], rel
    assert face_rows(out).equals(faces_before)


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(cond, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            pytest.fail(f"batch ended (status {proc.returncode}) before the awaited moment")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out waiting for the batch")
        time.sleep(0.02)


def astronauts_and_a_clip(corpus: Path, folder: Path, names: list[str]) -> Path:
    """A folder of copies of the corpus's astronaut photo under ``names``, and its panning clip as clip.mp4."""
    folder.mkdir()
    photo = (corpus / "photos/astronaut.jpg").read_bytes()
    for name in names:
        (folder / name).write_bytes(photo)
    (folder / "clip.mp4").write_bytes((corpus / "clips/pan.mp4").read_bytes())
    return folder


def test_kill_9_and_rerun_finishes_the_rest_without_redoing_or_duplicating(corpus: Path, tmp_path: Path) -> None:
    src = astronauts_and_a_clip(corpus, tmp_path / "many", [f"a{i:02d}.jpg" for i in range(24)])
    out = tmp_path / "out"
    cmd = facemoji_command("batch", src, "-o", out, "-j", "2", "-q")
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: len(list((out / "summary").glob("part-*.parquet"))) >= 4, proc)
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-flight
    finally:
        proc.wait(timeout=60)
    finished = _part_stats(out / "summary")
    assert 4 <= len(finished) < 25, "killed part-way"
    r = run_cli(["batch", str(src), "-o", str(out), "-j", "2"])
    assert r.returncode == 0, r.stderr
    assert f"{25 - len(finished)} processed" in r.stderr and f"{len(finished)} finished earlier" in r.stderr
    after = _part_stats(out / "summary")
    assert len(after) == 25
    for name, stat in finished.items():
        assert after[name] == stat  # not processed again
    s = summary(out)
    assert (s.status == "ok").all()
    rows = face_rows(out)
    assert not rows.duplicated(["relpath", "frame", "face"]).any()
    assert rows.groupby("relpath").size().to_dict() == s.faces[s.faces > 0].to_dict()
    assert (s.loc[[f"a{i:02d}.jpg" for i in range(24)], "faces"] == 1).all()
    for i in range(24):
        assert Image.open(out / f"a{i:02d}.jpg").size == (512, 512)
    assert not [p for p in out.rglob(".*") if p.name != ".facemoji-batch.lock"]  # no temporaries left


def test_a_worker_that_dies_costs_its_item_not_the_batch(corpus: Path, tmp_path: Path) -> None:
    src = astronauts_and_a_clip(corpus, tmp_path / "src", [f"p{i}.jpg" for i in range(3)])
    out = tmp_path / "out"
    proc = subprocess.Popen(facemoji_command("batch", src, "-o", out, "-j", "1"),
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # videos go first; the worker holds the clip while its temporary MP4 exists
        _wait_for(lambda: any(out.glob(".clip.mp4.*.part.mp4")), proc)
        workers = [k for k in _children(proc.pid)
                   if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]
        assert len(workers) == 1
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, err
    s = summary(out)
    assert s.loc["clip.mp4", "status"] == "failed"
    assert "worker process died" in s.loc["clip.mp4", "error"] and "SIGKILL" in s.loc["clip.mp4", "error"]
    assert (s.loc[["p0.jpg", "p1.jpg", "p2.jpg"], "status"] == "ok").all()
    assert not (out / "clip.mp4").exists()
    r = run_cli(["batch", str(src), "-o", str(out), "-j", "1", "--retry-failed"])
    assert r.returncode == 0, r.stderr
    assert "1 processed" in r.stderr
    assert summary(out).loc["clip.mp4", "status"] == "ok" and (out / "clip.mp4").exists()


def test_manifests_list_paths(corpus: Path, tmp_path: Path) -> None:
    import pandas as pd

    (tmp_path / "list.txt").write_text(f"# photos\n{corpus / 'photos/astronaut.jpg'}\n\nnowhere.jpg\n")
    pd.DataFrame({"path": [str(corpus / "clips/pan.mp4")], "other": [1]}).to_csv(tmp_path / "list.csv", index=False)
    pd.DataFrame({"path": [str(corpus / "photos/group/two_faces.png")]}).to_parquet(tmp_path / "list.parquet")
    out = tmp_path / "out"
    r = run_cli(["batch", str(tmp_path / "list.txt"), str(tmp_path / "list.csv"), str(tmp_path / "list.parquet"),
                 "-o", str(out), "--no-media"])
    assert r.returncode == 1  # nowhere.jpg
    s = summary(out)
    assert len(s) == 4
    missing = s[s.path == str(tmp_path / "nowhere.jpg")]
    assert len(missing) == 1 and "no such file" in missing.error.iloc[0]
    assert (s[s.path != str(tmp_path / "nowhere.jpg")].status == "ok").all()


@pytest.mark.parametrize("args, message", [
    (["nowhere/"], "no such file or folder"),
    (["--engine", "local", "--address", "auto", "."], "--address is for --engine ray"),
    (["--workers", "0", "."], "--workers must be 1 or more"),
    (["--model", "missing.onnx", "."], "no such model file"),
])
def test_bad_arguments_are_one_line_errors(args: list[str], message: str, tmp_path: Path) -> None:
    r = run_cli(["batch", *args, "-o", str(tmp_path / "out")], timeout=120, cwd=tmp_path)
    assert r.returncode != 0
    assert message in r.stderr and "Traceback" not in r.stderr


def test_ctrl_c_stops_cleanly_and_the_rerun_finishes(corpus: Path, tmp_path: Path) -> None:
    from conftest import popen_for_ctrl_c

    src = tmp_path / "src"
    src.mkdir()
    for i in range(12):
        (src / f"p{i:02d}.jpg").write_bytes((corpus / "photos/astronaut.jpg").read_bytes())
    out = tmp_path / "out"
    proc = popen_for_ctrl_c(facemoji_command("batch", src, "-o", out, "-j", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: any((out / "summary").glob("part-*.parquet")), proc)
        kids = [k for k in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and "leaked" not in err
    assert kids and not [k for k in kids if _running(k)]  # no worker left behind
    r = run_cli(["batch", str(src), "-o", str(out), "-j", "2"])
    assert r.returncode == 0, r.stderr
    s = summary(out)
    assert len(s) == 12 and (s.status == "ok").all()


def test_items_over_the_limits_are_recorded_as_too_large(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run_cli(["batch", str(corpus / "photos/astronaut.jpg"), str(corpus / "photos/group/cameraman.png"),
                 "-o", str(out), "--no-media", "--max-megapixels", "0.2", "--max-megabytes", "0.1"])
    assert r.returncode == 1
    s = summary(out)
    astro, camera = s.loc["astronaut.jpg"], s.loc["group/cameraman.png"]
    assert astro.status == "failed" and "image too large" in astro.error  # 512x512 > 0.2 megapixels
    assert camera.status == "failed" and "file too large" in camera.error  # a 140 KB PNG > 0.1 MB


@pytest.fixture(scope="module")
def anonymised(corpus: Path, tmp_path_factory):
    """A photo and a clip anonymised in one command each: --cover solid, and --cover solid --strict."""
    src = tmp_path_factory.mktemp("archive") / "archive"
    src.mkdir()
    (src / "astronaut.jpg").write_bytes((corpus / "photos/astronaut.jpg").read_bytes())
    (src / "still.mov").write_bytes((corpus / "clips/sub/still.mov").read_bytes())
    outs = {}
    for how, extra in (("solid", []), ("strict", ["--strict"])):
        outs[how] = src.parent / how
        r = run_cli(["batch", str(src), "-o", str(outs[how]), "-j", "2", "-q", "--cover", "solid", *extra])
        assert r.returncode == 0, r.stderr
        assert (summary(outs[how]).status == "ok").all()
    return src, outs


def _dark_and_uniform(region: np.ndarray) -> bool:
    from facemoji.overlay.cover import SOLID_COLOUR

    return float(np.abs(region.astype(int) - SOLID_COLOUR).max(axis=2).mean()) < 6


def test_cover_solid_hides_every_face_of_an_archive_under_a_dark_disc(anonymised) -> None:
    from videos import core_box, read_frames

    src, outs = anonymised
    out = outs["solid"]
    rows = face_rows(out)
    photo = rows[rows.relpath == "astronaut.jpg"]
    assert len(photo) == 1
    f = photo.iloc[0]
    img = np.asarray(Image.open(out / "astronaut.jpg").convert("RGB"))
    x1, y1, x2, y2 = int(f.x), int(f.y), int(f.x + f.width), int(f.y + f.height)
    assert _dark_and_uniform(img[y1:y2, x1:x2]), "the photo's face is not under a solid disc"
    frames = read_frames(out / "still.mov.mp4")
    assert len(frames) == 12
    x1, y1, x2, y2 = core_box((80, 30, 160))  # where the clip's face is, every frame
    for i, frame in enumerate(frames):
        assert _dark_and_uniform(frame[y1:y2, x1:x2]), f"frame {i}: face not under a solid disc"
    assert (rows[rows.relpath == "still.mov"].frame.nunique()) == 12


def test_strict_reaches_the_workers_for_photos_and_videos(anonymised) -> None:
    """--strict pads every cover (photos and videos) and detects on every video frame: more of each output is
    covered than without it, over the same faces."""
    from videos import read_frames

    src, outs = anonymised
    original = np.asarray(Image.open(src / "astronaut.jpg").convert("RGB")).astype(int)
    changed = {how: (np.abs(np.asarray(Image.open(out / "astronaut.jpg").convert("RGB")).astype(int) - original)
                     .max(axis=2) > 30).sum() for how, out in outs.items()}
    assert changed["strict"] > 1.15 * changed["solid"], changed
    a, b = face_rows(outs["solid"]), face_rows(outs["strict"])
    pa, pb = a[a.kind == "photo"], b[b.kind == "photo"]
    assert len(pa) == len(pb) == 1 and abs(pa.x.iloc[0] - pb.x.iloc[0]) < 1  # the faces found, not their covers
    frames = read_frames(src / "still.mov")
    covered = {how: sum((np.abs(o.astype(int) - f.astype(int)).max(axis=2) > 30).sum()
                        for o, f in zip(read_frames(out / "still.mov.mp4"), frames, strict=True))
               for how, out in outs.items()}
    assert covered["strict"] > 1.1 * covered["solid"], covered
