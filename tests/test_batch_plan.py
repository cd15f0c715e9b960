"""What a batch takes as its items, and how its tables are written: :mod:`facemoji.batch.collect` and
:mod:`facemoji.batch.schema` called directly, on real files in a temporary tree (a second for the lot).

The end-to-end batch tests (``test_batch.py``) run whole batches; these pin each rule of planning one: folders,
files, globs (``**`` included), manifests of three kinds, what is ignored or reported missing, the mirrored
relative paths, the sniffing of first bytes, the output names, the part ids and the atomic writes.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from conftest import SHARED
from facemoji.batch.collect import collect, is_manifest, output_relpath, read_manifest, sniff
from facemoji.batch.schema import (
    FACE_COLUMNS,
    SUMMARY_COLUMNS,
    faces_schema,
    item_id,
    part_path,
    read_summary_part,
    summary_schema,
    write_table,
)
from facemoji.errors import InputError

CLIPS = SHARED / "clips"


def jpeg(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 120, 90)).save(path, "JPEG")
    return path


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    return buf.getvalue()


def rels(plan) -> list[str]:
    return [i.relpath for i in plan.items]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """photos/a.jpg, photos/trip/b.jpg, photos/trip/deep/c.jpg, a hidden file and folder, a text note."""
    root = tmp_path / "in"
    for rel in ("photos/a.jpg", "photos/trip/b.jpg", "photos/trip/deep/c.jpg", "photos/.hidden/x.jpg",
                "photos/.y.jpg"):
        jpeg(root / rel)
    (root / "photos/notes.txt").write_text("not media\n")
    return root


# --- what the bytes say -----------------------------------------------------------------------------------------


def test_photos_and_videos_are_told_apart_by_their_first_bytes() -> None:
    assert sniff(png_bytes()) == "photo"
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG")
    assert sniff(buf.getvalue()) == "photo"
    for head in (b"GIF89a....", b"GIF87a", b"BM\x00\x00", b"II*\x00", b"MM\x00*", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
                 b"\x00\x00\x00\x18ftypheic", b"\x00\x00\x00\x18ftypavif"):
        assert sniff(head) == "photo", head
    for head in (b"\x00\x00\x00\x18ftypisom", b"\x00\x00\x00\x08moov", b"\x00\x00\x00\x08mdat",
                 b"\x1a\x45\xdf\xa3", b"FLV\x01", b"OggS", b"\x00\x00\x01\xba", b"RIFF\x00\x00\x00\x00AVI LIST",
                 b"\x47" + bytes(187) + b"\x47" + bytes(10)):
        assert sniff(head) == "video", head
    for head in (b"", b"hello world", b"\x47" + bytes(100), b"RIFF\x00\x00\x00\x00WAVE"):
        assert sniff(head) == "unknown", head
    for clip in sorted(CLIPS.glob("*.mp4"))[:3]:
        assert sniff(clip.read_bytes()[:256]) == "video", clip.name


# --- folders, files and patterns ------------------------------------------------------------------------------


def test_a_folder_is_walked_recursively_without_hidden_names_or_what_is_not_media(tree: Path, tmp_path: Path) -> None:
    plan = collect([str(tree / "photos")], tmp_path / "out")
    assert rels(plan) == ["a.jpg", "trip/b.jpg", "trip/deep/c.jpg"]
    assert plan.ignored == 1 and plan.missing == []
    assert plan.root == (tree / "photos").absolute()
    assert {i.kind for i in plan.items} == {"photo"}
    assert all(i.size == os.path.getsize(i.path) and os.path.isabs(i.path) for i in plan.items)


def test_a_file_named_alone_keeps_its_name_and_is_never_ignored(tree: Path, tmp_path: Path) -> None:
    (tree / "photos/notes.dat").write_text("not media\n")
    plan = collect([str(tree / "photos/notes.dat")], tmp_path / "out")  # a file named: the worker decides
    assert rels(plan) == ["notes.dat"] and plan.items[0].kind == "unknown" and plan.ignored == 0


def test_two_sources_are_mirrored_from_their_common_folder(tree: Path, tmp_path: Path) -> None:
    plan = collect([str(tree / "photos/trip/deep"), str(tree / "photos/a.jpg")], tmp_path / "out")
    assert rels(plan) == ["a.jpg", "trip/deep/c.jpg"]


def test_the_same_file_twice_is_one_item(tree: Path, tmp_path: Path) -> None:
    plan = collect([str(tree / "photos"), str(tree / "photos/a.jpg"), str(tree / "photos/./trip/../a.jpg")],
                   tmp_path / "out")
    assert rels(plan) == ["a.jpg", "trip/b.jpg", "trip/deep/c.jpg"]


def test_glob_patterns_with_and_without_double_star(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert rels(collect([str(tree / "photos/*.jpg")], out)) == ["a.jpg"]
    assert rels(collect([str(tree / "photos/**/*.jpg")], out)) == ["a.jpg", "trip/b.jpg", "trip/deep/c.jpg"]
    assert rels(collect([str(tree / "photos") + "/*/"], out)) == ["b.jpg", "deep/c.jpg"]  # folders: walked
    assert rels(collect([str(tree / "photos/*")], out)) == ["a.jpg", "notes.txt", "trip/b.jpg", "trip/deep/c.jpg"]
    plan = collect([str(tree / "nothing/*.png")], out)
    assert plan.items == [] and plan.missing == [(str(tree / "nothing/*.png"), "pattern matches nothing")]


def test_sources_that_name_nothing_are_reported(tree: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    plan = collect([str(tmp_path / "nope.jpg"), str(empty), str(tree / "photos/a.jpg")], tmp_path / "out")
    assert rels(plan) == ["in/photos/a.jpg"]  # mirrored from the folder that holds both sources
    assert plan.missing == [(str(tmp_path / "nope.jpg"), "no such file or folder"),
                            (str(empty), "folder holds no files")]
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert collect([str(fifo)], tmp_path / "out").missing == [(str(fifo), "not a regular file or folder")]


def test_the_outputs_are_never_taken_as_inputs(tree: Path) -> None:
    out = tree / "photos" / "out"
    jpeg(out / "a.jpg")
    jpeg(out / "faces" / "z.jpg")
    assert rels(collect([str(tree / "photos")], out)) == ["a.jpg", "trip/b.jpg", "trip/deep/c.jpg"]


def test_media_are_kept_out_of_the_table_folders(tmp_path: Path) -> None:
    jpeg(tmp_path / "in/faces/me.jpg")
    jpeg(tmp_path / "in/summary/us.jpg")
    jpeg(tmp_path / "in/facesx/ok.jpg")
    assert rels(collect([str(tmp_path / "in")], tmp_path / "out")) == ["_faces/me.jpg", "facesx/ok.jpg",
                                                                        "_summary/us.jpg"]


def test_media_named_files_that_the_bytes_do_not_settle_are_left_to_the_worker(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in/odd.mp4").write_bytes(b"garbage, not a video")
    (tmp_path / "in/odd.bin").write_bytes(b"garbage")
    plan = collect([str(tmp_path / "in")], tmp_path / "out")
    assert [(i.relpath, i.kind) for i in plan.items] == [("odd.mp4", "unknown")] and plan.ignored == 1


def test_symbolic_links_to_folders_are_not_followed(tree: Path, tmp_path: Path) -> None:
    (tree / "photos/link").symlink_to(tree / "photos/trip", target_is_directory=True)
    assert rels(collect([str(tree / "photos")], tmp_path / "out")) == ["a.jpg", "trip/b.jpg", "trip/deep/c.jpg"]


# --- manifests --------------------------------------------------------------------------------------------------


def test_a_text_manifest_lists_paths_relative_to_itself(tree: Path, tmp_path: Path) -> None:
    m = tree / "list.txt"
    m.write_text(f"# my picks\nphotos/a.jpg\n\n  photos/trip  \n{tree / 'photos/trip/deep/c.jpg'}\n")
    assert is_manifest(m)
    assert read_manifest(m) == [tree / "photos/a.jpg", tree / "photos/trip", tree / "photos/trip/deep/c.jpg"]
    plan = collect([str(m)], tmp_path / "out")
    assert rels(plan) == ["a.jpg", "trip/b.jpg", "trip/deep/c.jpg"]


def test_csv_tsv_and_parquet_manifests_take_their_path_column(tree: Path) -> None:
    (tree / "m.csv").write_text("id,path\n1,photos/a.jpg\n2,\n3, photos/trip/b.jpg \n")
    (tree / "m.tsv").write_text("path\tnote\nphotos/a.jpg\tx\n")
    (tree / "m.list").write_text("path\tnote\n")  # a .list file is plain text: its lines are paths
    pq.write_table(pa.table({"path": ["photos/a.jpg", None, "photos/trip/b.jpg"]}), tree / "m.parquet")
    pq.write_table(pa.table({"path": ["photos/a.jpg"]}), tree / "table.dat")  # Parquet by its first bytes
    want = [tree / "photos/a.jpg", tree / "photos/trip/b.jpg"]
    assert read_manifest(tree / "m.csv") == want
    assert read_manifest(tree / "m.parquet") == want
    assert read_manifest(tree / "m.tsv") == [tree / "photos/a.jpg"]
    assert read_manifest(tree / "m.list") == [tree / "path\tnote"]
    assert is_manifest(tree / "table.dat") and read_manifest(tree / "table.dat") == [tree / "photos/a.jpg"]


def test_a_tsv_with_commas_in_its_values_is_still_split_on_tabs(tree: Path) -> None:
    (tree / "m.tsv").write_text("path\tnote\nphotos/a.jpg\tfirst, best\n")
    assert read_manifest(tree / "m.tsv") == [tree / "photos/a.jpg"]


def test_a_tab_separated_csv_is_read_as_such(tree: Path) -> None:
    (tree / "m.csv").write_text("path\tnote\nphotos/a.jpg\tx\n")
    assert read_manifest(tree / "m.csv") == [tree / "photos/a.jpg"]


def test_a_picture_named_like_a_manifest_is_a_picture(tree: Path) -> None:
    (tree / "shot.txt").write_bytes(png_bytes())
    assert not is_manifest(tree / "shot.txt")
    assert not is_manifest(tree / "photos/a.jpg")


def test_bad_manifests_get_one_clear_line(tree: Path, tmp_path: Path) -> None:
    (tree / "nopath.csv").write_text("file\nphotos/a.jpg\n")
    (tree / "nopath.parquet").write_bytes(b"")
    pq.write_table(pa.table({"file": ["a"]}), tree / "nopath.parquet")
    (tree / "latin.txt").write_bytes("photos/\xe9t\xe9.jpg\n".encode("latin-1"))
    (tree / "broken.parquet").write_bytes(b"PAR1 this is not really parquet PAR1")
    for name, words in [("nopath.csv", "no 'path' column"), ("nopath.parquet", "no 'path' column"),
                        ("latin.txt", "not UTF-8"), ("broken.parquet", "cannot read manifest")]:
        with pytest.raises(InputError) as e:
            read_manifest(tree / name)
        assert words in str(e.value) and str(tree / name) in str(e.value) and "\n" not in str(e.value), name
    (tree / "empty.txt").write_text("# nothing\n")
    assert collect([str(tree / "empty.txt")], tmp_path / "out").missing == [(str(tree / "empty.txt"),
                                                                            "manifest lists no paths")]


# --- outputs, ids and tables ------------------------------------------------------------------------------------


def test_output_names() -> None:
    assert output_relpath("a/b.jpg", "photo") == "a/b.jpg"
    assert output_relpath("a/b.JPEG", "photo") == "a/b.JPEG"
    assert output_relpath("a/b.heic", "photo") == "a/b.heic.png"
    assert output_relpath("a/clip.mp4", "video") == "a/clip.mp4"
    assert output_relpath("a/clip.MP4", "video") == "a/clip.MP4"
    assert output_relpath("a/clip.mov", "video") == "a/clip.mov.mp4"


def test_item_ids_are_stable_and_distinct() -> None:
    assert item_id("a/b.jpg") == item_id("a/b.jpg") != item_id("a/c.jpg")
    assert len(item_id("x")) == 20 and int(item_id("x"), 16) >= 0
    assert item_id("x") == "11f6ad8ec52a2984abaa"  # the first 20 hex digits of SHA-1("x")
    assert part_path(Path("/o"), "faces", "abc") == Path("/o/faces/part-abc.parquet")


def test_tables_are_written_whole_under_their_name_and_read_back(tmp_path: Path) -> None:
    path = part_path(tmp_path, "summary", item_id("a.jpg"))
    row = {name: [None] for name in SUMMARY_COLUMNS}
    row.update(path=["/in/a.jpg"], relpath=["a.jpg"], kind=["photo"], status=["ok"], faces=[2], width=[640],
               height=[360])
    write_table(path, row, summary_schema())
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    got = read_summary_part(path)
    assert got["relpath"] == "a.jpg" and got["faces"] == 2 and (got["width"], got["height"]) == (640, 360)
    assert got["error"] is None
    assert list(pq.read_schema(path).names) == list(SUMMARY_COLUMNS)
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    path = part_path(tmp_path, "faces", "x")
    path.mkdir(parents=True)  # a folder in the way: the rename fails
    with pytest.raises(OSError):
        write_table(path, {name: [] for name in FACE_COLUMNS}, faces_schema())
    assert [p.name for p in path.parent.iterdir()] == [path.name] and path.is_dir()


def test_unreadable_or_odd_summary_parts_are_redone(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 nope")
    assert read_summary_part(bad) is None
    two = tmp_path / "two.parquet"
    write_table(two, {name: [None, None] for name in SUMMARY_COLUMNS}, summary_schema())
    assert read_summary_part(two) is None
    assert read_summary_part(tmp_path / "missing.parquet") is None


def test_the_face_table_columns() -> None:
    assert list(FACE_COLUMNS)[:13] == ["path", "relpath", "kind", "frame", "time", "face", "track_id", "x", "y",
                                       "width", "height", "score", "emotion"]
    assert list(FACE_COLUMNS)[13:] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert str(faces_schema().field("frame").type) == "int32"
    assert str(summary_schema().field("finished_at").type) == "timestamp[ms, tz=UTC]"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
