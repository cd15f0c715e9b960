"""A memory budget for the images the server holds, counted in bytes of work, not bytes uploaded.

A 6 KB PNG can decode to 49 megapixels, so the size of an upload says nothing
about what answering it costs. Every request reserves what it will need before
it is read or decoded: its upload's size first, then an estimate of the peak
memory of decoding and processing its picture, worked out from the image
header alone (width x height x bytes per pixel for its pixel format). A request
that would not fit the per-image budget is refused (413); one that does not fit
in what is left of the total right now is told to come back (503). So the sum
over all requests in flight stays under the total whatever they send.
"""

from __future__ import annotations

import io
import threading
import warnings

# Peak bytes per pixel of decode_image + the pipeline + encoding the answer, measured with VmHWM on
# 12- and 49-megapixel JPEG and PNG uploads (11.8 to 18.1), rounded up. Formats with 16-bit or float samples
# go through float64 arrays; those with an alpha channel are composited over white through RGBA copies.
BYTES_PER_PIXEL = 20
BYTES_PER_PIXEL_WIDE = 40  # "I;16", "I", "F": float64 conversion
BYTES_PER_PIXEL_ALPHA = 28  # "RGBA", "LA", "PA", "P" with transparency
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
MIB = 1024 * 1024
HUGE = 1 << 62


def image_cost(data: bytes) -> tuple[int, int]:
    """``(pixels, bytes)``: the picture's size and the memory answering it will take at most.

    Reads only the image header. Data that is not an image costs its own size
    (the decoder will refuse it with a clear message).
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                mode = im.mode
                transparent = "transparency" in im.info
    except Image.DecompressionBombError:  # over twice PIL's own limit: far more than any budget allows
        return HUGE, HUGE
    except Exception:  # not an image, or a header PIL cannot read: the decoder says what is wrong
        return 0, len(data)
    pixels = max(0, w) * max(0, h)
    per = BYTES_PER_PIXEL
    if mode in WIDE_MODES:
        per = BYTES_PER_PIXEL_WIDE
    elif mode in ALPHA_MODES or transparent:
        per = BYTES_PER_PIXEL_ALPHA
    return pixels, pixels * per + len(data)


class MemoryBudget:
    """A counter of reserved bytes with a ceiling (thread-safe)."""

    def __init__(self, total: int, per_request: int | None = None) -> None:
        if total < 1:
            raise ValueError("the memory budget must be positive")
        self.total = int(total)
        self.per_request = int(min(per_request or total, total))
        self._lock = threading.Lock()
        self._used = 0
        self.peak = 0
        self.refused = 0

    @property
    def used(self) -> int:
        return self._used

    def try_take(self, n: int) -> bool:
        with self._lock:
            if self._used + n > self.total:
                self.refused += 1
                return False
            self._used += n
            self.peak = max(self.peak, self._used)
            return True

    def give_back(self, n: int) -> None:
        with self._lock:
            self._used = max(0, self._used - n)

    def ticket(self) -> Ticket:
        return Ticket(self)


class Ticket:
    """What one request holds of the budget; ``close`` (or ``with``) gives it all back."""

    def __init__(self, budget: MemoryBudget) -> None:
        self.budget = budget
        self.held = 0

    def resize(self, n: int) -> bool:
        """Hold ``n`` bytes in all (more or less than now); False, holding what it held, when that does not fit."""
        n = max(0, int(n))
        if n > self.held:
            if not self.budget.try_take(n - self.held):
                return False
        elif n < self.held:
            self.budget.give_back(self.held - n)
        self.held = n
        return True

    def close(self) -> None:
        if self.held:
            self.budget.give_back(self.held)
            self.held = 0

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
