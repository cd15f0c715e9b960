"""A least-recently-used cache bounded by the bytes of the numpy arrays it holds."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np


def _nbytes(value: np.ndarray | tuple[np.ndarray, ...]) -> int:
    return sum(a.nbytes for a in value) if isinstance(value, tuple) else value.nbytes


class ByteLRU:
    """Arrays (or tuples of arrays) by key, dropping the least recently used ones beyond ``max_bytes``.

    An entry larger than the whole budget is never kept. Safe to share between threads.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be 0 or more")
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._items: OrderedDict[Hashable, np.ndarray | tuple[np.ndarray, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> np.ndarray | tuple[np.ndarray, ...] | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: np.ndarray | tuple[np.ndarray, ...]) -> None:
        size = _nbytes(value)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.nbytes -= _nbytes(old)
            self._items[key] = value
            self.nbytes += size
            while self.nbytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.nbytes -= _nbytes(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0
