"""A batch from start to end: plan, skip what is finished, run an engine, count.

:func:`run_batch` is what ``facemoji batch`` calls; it can be used from Python too::

    from facemoji.batch import BatchConfig, run_batch
    result = run_batch(["photos/", "clips/*.mp4"], BatchConfig(outdir="out"))
    print(result.ok, result.failed, result.faces)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from facemoji.batch.collect import Item, Plan, collect
from facemoji.batch.schema import SUMMARY_DIR, TABLE_DIRS, part_path, read_summary_part
from facemoji.batch.work import BatchConfig
from facemoji.errors import InputError

LOCK_NAME = ".facemoji-batch.lock"
TEMP_SUFFIXES = (".part", ".part.mp4", ".tmp")


@dataclass
class BatchResult:
    """What a batch run found and did."""

    items: int = 0  # items in the collection
    skipped: int = 0  # finished by an earlier run, not processed again
    processed: int = 0  # processed by this run
    ok: int = 0  # finished without error, all runs together
    failed: int = 0  # recorded as failed, all runs together
    faces: int = 0  # face rows written by this run
    seconds: float = 0.0
    workers: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason), all runs together
    ignored: int = 0

    @property
    def exit_status(self) -> int:
        return 1 if self.failed or self.missing else 0


@contextlib.contextmanager
def _locked(outdir: Path) -> Iterator[None]:
    """One batch at a time per output folder (another would race on the same parts)."""
    fd = os.open(outdir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{outdir}: another facemoji batch is writing there") from None
        yield
    finally:
        os.close(fd)


def clean_temporaries(outdir: Path) -> int:
    """Remove the hidden temporaries an interrupted run left under ``outdir`` (only ours: ``.NAME.*.part`` ...)."""
    n = 0
    for dirpath, _dirs, files in os.walk(outdir):
        for name in files:
            if name.startswith(".") and name.endswith(TEMP_SUFFIXES) and name != LOCK_NAME:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(dirpath, name))
                    n += 1
    return n


def _order(items: list[Item]) -> list[Item]:
    """Videos first, largest first: long items start early instead of finishing last on one worker."""
    return sorted(items, key=lambda it: (it.kind != "video", it.kind == "unknown", -max(it.size, 0)))


def plan_batch(sources: list[str], outdir: Path, retry_failed: bool = False) -> tuple[Plan, list[Item], dict]:
    """The plan, the items still to do, and the summary rows of the items already finished."""
    plan = collect(sources, outdir)
    todo: list[Item] = []
    done: dict[str, dict] = {}
    for it in plan.items:
        p = part_path(outdir, SUMMARY_DIR, it.id)
        row = read_summary_part(p) if p.exists() else None
        if row is not None and row.get("relpath") == it.relpath and (row.get("status") == "ok" or not retry_failed):
            done[it.relpath] = row
        else:
            todo.append(it)
    return plan, _order(todo), done


def run_batch(sources: list[str], config: BatchConfig, *, engine: str = "local", workers: int | None = None,
              address: str | None = None, retry_failed: bool = False, progress: bool = False,
              ray_cpus: int | None = None) -> BatchResult:
    """Process every photo and video the sources name into ``config.outdir``; see :class:`BatchResult`."""
    from tqdm import tqdm

    outdir = Path(config.outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{outdir}: exists and is not a folder")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{outdir}: cannot create the output folder ({e.strerror or e})") from None
    config.outdir = str(outdir.absolute())
    outdir = Path(config.outdir)
    for t in TABLE_DIRS:
        (outdir / t).mkdir(exist_ok=True)
    res = BatchResult()
    with _locked(outdir):
        clean_temporaries(outdir)
        plan, todo, done = plan_batch(sources, outdir, retry_failed)
        res.items, res.skipped, res.missing, res.ignored = len(plan.items), len(done), plan.missing, plan.ignored
        if not plan.items:
            return res
        rows: dict[str, dict] = dict(done)
        start = time.perf_counter()
        if todo:
            tqdm.set_lock(threading.RLock())  # tqdm's default is a multiprocessing lock, reported leaked on Ctrl-C
            bar = tqdm(total=len(todo), unit="item", desc="batch", disable=not progress, file=sys.stderr,
                       dynamic_ncols=True, smoothing=0.05)
            failed_now = 0

            def on_result(row: dict) -> None:
                nonlocal failed_now
                rows[row["relpath"]] = row
                res.processed += 1
                res.faces += int(row.get("faces") or 0)
                failed_now += row.get("status") != "ok"
                bar.update(1)
                bar.set_postfix(faces=res.faces, failed=failed_now, refresh=False)

            def on_start(n: int) -> None:
                res.workers = n
                bar.set_description(f"batch ({n} worker{'s' if n != 1 else ''})")

            try:
                if engine == "ray":
                    from facemoji.batch.ray_engine import run_ray

                    run_ray(todo, config, workers, address, on_result, on_start, num_cpus=ray_cpus)
                else:
                    from facemoji.batch.local import default_workers, run_local

                    run_local(todo, config, workers or default_workers(), on_result, on_start)
            finally:
                bar.close()
                res.seconds = time.perf_counter() - start
        for it in plan.items:
            row = rows.get(it.relpath)
            if row is None:
                continue
            if row.get("status") == "ok":
                res.ok += 1
            else:
                res.failed += 1
                res.failures.append((it.path, str(row.get("error") or "failed")))
    return res
