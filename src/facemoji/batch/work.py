"""What a batch worker does with one item, the same on every engine.

A :class:`Worker` holds the pipelines (models loaded once) and turns an
:class:`~facemoji.batch.collect.Item` into its outputs: the emojified picture
or video (written exactly as ``facemoji image`` and ``facemoji video`` write
them), its part of the faces table, and last its row of the summary table.
The summary part is what marks an item finished.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from facemoji.batch.collect import VIDEO_SUFFIXES, Item, output_relpath
from facemoji.batch.schema import (
    FACES_DIR,
    SCHEMA_VERSION,
    SUMMARY_DIR,
    faces_schema,
    part_path,
    summary_schema,
    write_table,
)
from facemoji.errors import FacemojiError, InputError
from facemoji.imageio import DEFAULT_MAX_PIXELS
from facemoji.labels import EMOTIONS
from facemoji.options import Options
from facemoji.video.io import DEFAULT_CRF

KINDS = {"photo": "photo", "video": "frames"}  # an item's kind -> the kind of pipeline it needs


def _batch_options() -> Options:
    return Options(threads=1)  # one model thread per worker: the workers are the parallelism


@dataclass
class BatchConfig:
    """Everything a worker needs to know; plain values (:meth:`to_dict`) so it travels to processes and nodes.

    ``options``: the pipeline's, for photos and videos alike (its policy: the full model and 640 px for photos,
    the fast model and the automatic size for videos; ``strict`` also covers hard faces in videos, as
    ``facemoji video --strict``). ``photo_detect_size`` / ``video_detect_size``, when set, override its detection
    size for that kind only.
    """

    outdir: str
    options: Options = field(default_factory=_batch_options)
    media: bool = True
    photo_detect_size: int | None = None
    video_detect_size: int | None = None
    quality: int = 92
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int | None = None
    detect_every: int | None = None
    preset: str = "veryfast"
    crf: int = DEFAULT_CRF  # facemoji video's default
    keep_audio: bool = True
    threads: int = 1  # model threads per worker

    def __post_init__(self) -> None:
        if isinstance(self.options, dict):
            self.options = Options(**self.options)
        Options.check_detect_size(self.photo_detect_size, "--photo-detect-size")
        Options.check_detect_size(self.video_detect_size, "--video-detect-size")

    def options_for(self, kind: str) -> Options:
        """The options of the pipeline for ``kind`` items ("photo" or "video")."""
        size = self.photo_detect_size if kind == "photo" else self.video_detect_size
        return self.options if size is None else self.options.with_(detect_size=size)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> BatchConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _face_row(item: Item, kind: str, frame: int, t: float | None, index: int, face) -> dict:
    x1, y1, x2, y2 = (float(v) for v in face.box)
    probs = face.probabilities or {}
    return {"path": item.path, "relpath": item.relpath, "kind": kind, "frame": frame, "time": t, "face": index,
            "track_id": None if face.track_id is None else int(face.track_id), "x": x1, "y": y1,
            "width": x2 - x1, "height": y2 - y1, "score": float(face.score), "emotion": face.emotion,
            **{e: (float(probs[e]) if e in probs else None) for e in EMOTIONS}}


def dominant_emotion(rows: list[dict]) -> str | None:
    """The emotion of most face rows (face-frames for a video); ties go to the larger summed probability."""
    counts = Counter(r["emotion"] for r in rows if r["emotion"])
    if not counts:
        return None
    mass = Counter()
    for r in rows:
        if r["emotion"] and r.get(r["emotion"]) is not None:
            mass[r["emotion"]] += r[r["emotion"]]
    return max(counts, key=lambda e: (counts[e], mass[e], e))


def _columns(rows: list[dict], names) -> dict[str, list]:
    return {n: [r.get(n) for r in rows] for n in names}


def _base_row(item: Item, worker: str) -> dict:
    return {"path": item.path, "relpath": item.relpath, "kind": item.kind, "status": "ok", "error": None,
            "faces": 0, "bytes": item.size if item.size >= 0 else None, "worker": worker,
            "schema_version": SCHEMA_VERSION}


def _finish(outdir: Path, item: Item, row: dict) -> dict:
    """Write the item's summary part, the mark that it is finished (after its faces part and media)."""
    if row["status"] != "ok":
        part_path(outdir, FACES_DIR, item.id).unlink(missing_ok=True)  # rows of an earlier, unfinished attempt
        row["output"] = None
    row["finished_at"] = datetime.now(timezone.utc)
    write_table(part_path(outdir, SUMMARY_DIR, item.id), _columns([row], summary_schema().names), summary_schema())
    return row


def record_failure(config: BatchConfig, item: Item, why: str, worker: str = "") -> dict:
    """Record an item as failed for a worker that could not (it died on it)."""
    row = _base_row(item, worker)
    row.update(status="failed", error=why, seconds=None)
    return _finish(Path(config.outdir), item, row)


class Worker:
    """The pipelines of one worker (process or Ray actor), and :meth:`run` for one item."""

    def __init__(self, config: BatchConfig | dict) -> None:
        self.config = config if isinstance(config, BatchConfig) else BatchConfig.from_dict(config)
        self.outdir = Path(self.config.outdir)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._pipes: dict[str, object] = {}
        self.pipeline("photo")  # load the models now: a bad model file stops the batch before any item

    def pipeline(self, kind: str):
        """The pipeline for ``kind`` items ("photo" or "video"), built from the config's options at first use."""
        if kind not in self._pipes:
            self._pipes[kind] = self.config.options_for(kind).pipeline(KINDS[kind])  # type: ignore[arg-type]
        return self._pipes[kind]

    def _probe(self, item: Item) -> str:
        """Settle what an item whose first bytes said nothing is: try the image reader, then FFmpeg."""
        from facemoji.imageio import read_image
        from facemoji.video.io import VideoReader

        p = Path(item.path)
        if not p.exists():
            raise InputError(f"{p}: no such file")
        try:
            read_image(p, self.config.max_pixels)
            return "photo"
        except InputError as e:
            if "not an image" not in str(e):
                raise
        try:
            VideoReader(p, threads=1).close()
            return "video"
        except InputError:
            if p.suffix.lower() in VIDEO_SUFFIXES:
                raise  # named as a video: FFmpeg's reason is the useful one
            raise InputError(f"{p}: not an image or a video facemoji can read") from None

    def run(self, item: Item | dict) -> dict:
        """Process one item; never raises for a bad input. Returns its summary row (also written as its part)."""
        if isinstance(item, dict):
            item = Item(**item)
        start = time.perf_counter()
        row = _base_row(item, self.name)
        faces_part = part_path(self.outdir, FACES_DIR, item.id)
        try:
            if self.config.max_bytes is not None and item.size > self.config.max_bytes:
                raise InputError(f"{item.path}: file too large ({item.size / 1e6:.0f} MB; the limit is "
                                 f"{self.config.max_bytes / 1e6:.0f} MB, see --max-megabytes)")
            kind = item.kind if item.kind != "unknown" else self._probe(item)
            row["kind"] = kind
            faces = self._photo(item, row) if kind == "photo" else self._video(item, row)
            write_table(faces_part, _columns(faces, faces_schema().names), faces_schema())
            row["faces"] = len(faces)
            row["dominant_emotion"] = dominant_emotion(faces)
        except FacemojiError as e:
            row.update(status="failed", error=str(e).removeprefix(f"{item.path}: "))
        except MemoryError:
            row.update(status="failed", error="out of memory")
        except OSError as e:
            row.update(status="failed", error=f"cannot read or write ({e.strerror or e})")
        except Exception as e:  # a bug or a decoder's surprise: this item fails, the batch goes on
            row.update(status="failed", error=f"internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        row["seconds"] = time.perf_counter() - start
        return _finish(self.outdir, item, row)

    def _dst(self, item: Item, kind: str, row: dict) -> Path | None:
        if not self.config.media:
            row["output"] = None
            return None
        rel = output_relpath(item.relpath, kind)
        dst = self.outdir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        row["output"] = rel
        return dst

    def _photo(self, item: Item, row: dict) -> list[dict]:
        from facemoji.imageio import read_image, write_image

        img = read_image(item.path, self.config.max_pixels)
        pipe = self.pipeline("photo")
        row.update(frames=1, width=int(img.shape[1]), height=int(img.shape[0]))
        dst = self._dst(item, "photo", row)
        if dst is None:
            faces = pipe.analyze(img)
        else:
            out, faces = pipe.process(img)
            write_image(dst, out, self.config.quality)
        return [_face_row(item, "photo", 0, None, i, f) for i, f in enumerate(faces)]

    def _video(self, item: Item, row: dict) -> list[dict]:
        from facemoji.stream import coverage_for
        from facemoji.video.process import process_video

        rows: list[dict] = []

        def on_frame(index: int, t: float, faces: list) -> None:
            rows.extend(_face_row(item, "video", index, round(t, 6), i, f) for i, f in enumerate(faces))

        dst = self._dst(item, "video", row)
        c = self.config
        report = process_video(item.path, dst, self.pipeline("video"), detect_every=c.detect_every,
                               mode=c.options.mode, on_frame=on_frame, progress=False, preset=c.preset, crf=c.crf,
                               keep_audio=c.keep_audio,
                               coverage=coverage_for(c.options))
        row.update(frames=report.frames, tracks=report.tracks, width=report.size[0], height=report.size[1],
                   fps=report.fps, duration=report.frames / report.fps if report.fps else None)
        return rows
