"""The local engine: one worker process per core, each with its own pipeline, supervised item by item.

The driver hands each worker one item at a time over a pipe, so it always
knows which item a worker holds. A worker that dies (a decoder's segfault,
the kernel's out-of-memory killer) costs that item, recorded as failed with
the signal, and a fresh worker takes its place; the batch goes on.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import connection

from facemoji.batch.collect import Item
from facemoji.batch.work import BatchConfig, record_failure
from facemoji.errors import FacemojiError

# environment for the workers: one thread per library, the processes are the parallelism
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
MAX_START_FAILURES = 3


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _worker_main(conn: connection.Connection, config: dict) -> None:
    """A worker process: load the pipelines, then process items until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    try:
        import threading

        import cv2
        from tqdm import tqdm

        cv2.setNumThreads(1)
        tqdm.set_lock(threading.RLock())  # not tqdm's multiprocessing lock, which a terminated worker would leak
        from facemoji.batch.work import Worker

        worker = Worker(config)
    except FacemojiError as e:
        conn.send(("error", str(e)))
        return
    except Exception as e:
        conn.send(("error", f"worker cannot start: {type(e).__name__}: {e}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        conn.send(("done", worker.run(msg)))


@dataclass
class _Slot:
    proc: object
    conn: connection.Connection
    item: Item | None = None
    ready: bool = False


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"worker process died on this item ({name}{hint})"
    return f"worker process exited on this item (status {exitcode})"


class _Workers:
    """The worker processes of one :func:`run_local`: starting and stopping them, reading their messages, and
    what a worker's death costs (its item, or, while starting, the batch after ``MAX_START_FAILURES``)."""

    def __init__(self, config: BatchConfig, on_result: Callable[[dict], None]) -> None:
        import multiprocessing as mp

        self.ctx = mp.get_context("spawn")
        self.config = config
        self.on_result = on_result
        self.start_failures = 0
        self.cfg = config.to_dict()
        self.saved_env = {k: os.environ.get(k) for k in WORKER_ENV}

    def start(self) -> _Slot:
        parent, child = self.ctx.Pipe()
        os.environ.update(WORKER_ENV)
        try:
            proc = self.ctx.Process(target=_worker_main, args=(child, self.cfg), daemon=True,
                                    name="facemoji-batch-worker")
            proc.start()
        finally:
            for k, v in self.saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child.close()
        return _Slot(proc, parent)

    @staticmethod
    def stop(slot: _Slot) -> None:
        try:
            slot.conn.close()
        except OSError:
            pass
        if slot.proc.is_alive():
            slot.proc.terminate()
        slot.proc.join(timeout=5)
        if slot.proc.is_alive():
            slot.proc.kill()
            slot.proc.join(timeout=5)

    def receive(self, s: _Slot, ready: set) -> bool:
        """Take in what worker ``s`` sent (when it is among ``ready``); returns whether it died."""
        died = False
        if s.conn in ready or s.proc.sentinel in ready:
            try:
                while s.conn.poll():
                    kind, payload = s.conn.recv()
                    if kind == "ready":
                        s.ready = True
                    elif kind == "done":
                        s.item = None
                        self.on_result(payload)
                    elif kind == "error":
                        raise FacemojiError(payload)
            except (EOFError, OSError):
                died = True
            if s.proc.sentinel in ready or died:
                s.proc.join(timeout=5)
                died = died or not s.proc.is_alive()
        return died

    def bury(self, s: _Slot) -> None:
        """A worker died: record its item as failed, or count a failed start (too many end the batch)."""
        code = s.proc.exitcode
        self.stop(s)
        if s.item is not None:
            self.on_result(record_failure(self.config, s.item, _death_reason(code)))
        elif not s.ready:
            self.start_failures += 1
            if self.start_failures >= MAX_START_FAILURES:
                why = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
                raise FacemojiError(f"batch worker processes die while starting ({why})")

    def close(self, slots: list[_Slot]) -> None:
        """Tell the idle workers to stop, then stop them all."""
        for s in slots:
            if s.item is None and s.proc.is_alive():
                try:
                    s.conn.send(None)
                except OSError:
                    pass
        for s in slots:
            s.proc.join(timeout=2 if s.item is None else 0)
            self.stop(s)


def run_local(items: list[Item], config: BatchConfig, workers: int,
              on_result: Callable[[dict], None], on_start: Callable[[int], None] | None = None) -> None:
    """Process ``items`` on ``workers`` processes, calling ``on_result(summary_row)`` as each finishes."""
    pool = _Workers(config, on_result)
    pending = deque(items)
    slots: list[_Slot] = []
    try:
        for _ in range(min(workers, len(items))):
            slots.append(pool.start())
        if on_start is not None:
            on_start(len(slots))
        while pending or any(s.item is not None for s in slots):
            for s in slots:
                if s.ready and s.item is None and pending:
                    s.item = pending.popleft()
                    s.conn.send(s.item.to_dict())
            waitables = [s.conn for s in slots] + [s.proc.sentinel for s in slots]
            if not waitables:
                break
            ready = set(connection.wait(waitables))
            for i, s in enumerate(list(slots)):
                if not pool.receive(s, ready):
                    continue
                pool.bury(s)
                slots[i] = pool.start() if pending else None  # type: ignore[call-overload]
            slots = [s for s in slots if s is not None]
    finally:
        pool.close(slots)
