"""Worker threads own the models; requests reach them through a bounded set of slots.

A pipeline is not meant for concurrent calls, so each worker thread has its own
and runs its jobs one after another. Callers first take a *slot* (there are
``queue_size + workers``: one running per worker, the rest waiting); when none is free they are
told to come back later instead of joining an ever longer line. Jobs decode their
picture themselves, on the worker thread, so images waiting for a slot's turn are
still compressed and at most one decoded picture per worker exists at a time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Busy(Exception):
    """No room for this job now; ``retry_after`` is a suggested wait in whole seconds, ``reason`` says what is full."""

    def __init__(self, retry_after: int, reason: str = "too many images waiting") -> None:
        super().__init__(f"server busy ({reason}), retry after {retry_after} s")
        self.retry_after = retry_after
        self.reason = reason


class Slot:
    """Permission to run one job; release it (or use ``with``) when the answer is sent."""

    def __init__(self, worker: PipelineWorker) -> None:
        self._worker = worker
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._worker._release()

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class PipelineWorker:
    """Run callables on background threads, with admission control.

    ``states`` holds one state (the pipelines) per worker thread; a job gets
    the state of the thread that runs it, and only that thread touches it.
    """

    def __init__(self, states: Any, queue_size: int = 8) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.states = list(states) if isinstance(states, (list, tuple)) else [states]
        self.queue_size = queue_size
        self.capacity = queue_size + len(self.states)
        self._lock = threading.Lock()
        self._in_use = 0
        self._jobs: queue.Queue[tuple[concurrent.futures.Future, Callable[[Any], Any]] | None] = queue.Queue()
        self._avg_ms = 50.0  # running mean of a job's duration, for Retry-After
        self.completed = 0
        self.rejected = 0
        self.running = 0  # jobs executing right now
        self._threads = [threading.Thread(target=self._loop, args=(st,), name=f"facemoji-pipeline-{i}", daemon=True)
                         for i, st in enumerate(self.states)]
        for t in self._threads:
            t.start()

    # -- admission -------------------------------------------------------
    def check_room(self) -> None:
        """Raise :class:`Busy` now if every slot is taken (to answer before reading an upload)."""
        if self._in_use >= self.capacity:
            with self._lock:
                self.rejected += 1
            raise Busy(self.retry_after())

    def try_acquire(self) -> Slot:
        """Take a slot or raise :class:`Busy`."""
        with self._lock:
            if self._in_use >= self.capacity:
                self.rejected += 1
                raise Busy(self.retry_after())
            self._in_use += 1
        return Slot(self)

    def _release(self) -> None:
        with self._lock:
            self._in_use -= 1

    @property
    def in_use(self) -> int:
        return self._in_use

    def retry_after(self) -> int:
        """Seconds until the current line has likely drained (at least 1)."""
        return max(1, math.ceil(self._in_use * self._avg_ms / 1000.0 / len(self.states)))

    # -- running ----------------------------------------------------------
    def submit(self, fn: Callable[[Any], T]) -> concurrent.futures.Future[T]:
        """Queue ``fn(state)``; the caller must hold a slot (that is what bounds the queue)."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((fut, fn))
        return fut

    async def run(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(state)`` on the worker thread and wait without blocking the event loop.

        If the waiting coroutine is cancelled (the client went away) a job that
        has not started yet is skipped.
        """
        fut = self.submit(fn)
        try:
            return await asyncio.wrap_future(fut)
        except asyncio.CancelledError:
            fut.cancel()
            raise

    def _loop(self, state: Any) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            fut, fn = item
            if not fut.set_running_or_notify_cancel():
                continue
            t = time.perf_counter()
            with self._lock:
                self.running += 1
            try:
                result = fn(state)
            except BaseException as e:  # handed to the waiting request
                fut.set_exception(e)
            else:
                fut.set_result(result)
            ms = (time.perf_counter() - t) * 1000
            with self._lock:
                self.running -= 1
                self._avg_ms = 0.8 * self._avg_ms + 0.2 * ms
                self.completed += 1

    def close(self, timeout: float = 0.5) -> None:
        """Stop the threads once their current job is done, waiting at most ``timeout`` seconds in all.

        The threads are daemons: a job still running after that (a very large
        picture) does not hold up the exit of the process.
        """
        for _ in self._threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
