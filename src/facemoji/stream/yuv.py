"""Frames kept in the codec's own format, 8-bit YUV 4:2:0, from the decoder to the encoder.

H.264 is decoded to, and encoded from, three planes: full-size luma (Y) and two half-size chroma planes
(U, V). Converting every whole frame to RGB and back cost more than the face work itself at 1080p and 4K,
and an RGB frame takes twice the memory of its 4:2:0 planes. A :class:`YuvFrame` keeps the planes in a
frame the encoder takes as it is, and converts only what the face work needs: a small RGB picture for the
detector, and RGB squares around the faces to classify and cover, written back in place. Pixels away from
the faces reach the encoder exactly as they were decoded.

The conversions are OpenCV's BT.601 limited-range 4:2:0 ones, FFmpeg's default for such video.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def _plane(plane: Any) -> np.ndarray:
    """A writable numpy view of one of a frame's planes, without its row padding."""
    rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
    return rows[: plane.height, : plane.width]


def _even(v: float, lo: int, hi: int, up: bool) -> int:
    """``v`` rounded to an even whole number (down, or up with ``up``), kept within ``lo``..``hi``."""
    i = int(np.ceil(v)) if up else int(np.floor(v))
    i += i % 2 if up else -(i % 2)
    return min(hi, max(lo, i))


def _i420_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """RGB pixels of a luma plane (h, w) and its two chroma planes (h/2, w/2), packed as OpenCV's I420 wants."""
    h, w = y.shape
    n, q = w * h, w * h // 4
    packed = np.empty((h * 3 // 2, w), np.uint8)
    flat = packed.reshape(-1)
    packed[:h] = y
    flat[n : n + q].reshape(h // 2, w // 2)[...] = u
    flat[n + q :].reshape(h // 2, w // 2)[...] = v
    return cv2.cvtColor(packed, cv2.COLOR_YUV2RGB_I420)


class YuvFrame:
    """One frame as 8-bit 4:2:0 planes (``y``, ``u``, ``v``: writable numpy views) inside a PyAV frame.

    Both sides are even. ``frame`` is the PyAV ``VideoFrame`` that holds the planes, ready for the encoder.
    """

    def __init__(self, frame: Any) -> None:
        if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2:
            raise ValueError("YuvFrame needs a yuv420p frame with even sides")
        self.frame = frame
        self.y, self.u, self.v = (_plane(p) for p in frame.planes)
        self.width, self.height = frame.width, frame.height

    @classmethod
    def copy_of(cls, frame: Any) -> YuvFrame:
        """A copy of a decoded frame (which the decoder may still use as a reference), cut to even sides.

        Frames in another format (full-range, 4:2:2, 4:4:4, 10-bit ...) are converted to yuv420p by FFmpeg.
        """
        import av

        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        w, h = frame.width - frame.width % 2, frame.height - frame.height % 2
        out = cls(av.VideoFrame(w, h, "yuv420p"))
        for dst, src in zip((out.y, out.u, out.v), frame.planes, strict=True):
            dst[...] = _plane(src)[: dst.shape[0], : dst.shape[1]]
        return out

    @classmethod
    def from_rgb(cls, image: np.ndarray) -> YuvFrame:
        """An RGB uint8 image as a new frame (an odd last row or column is dropped)."""
        import av

        h, w = image.shape[0] - image.shape[0] % 2, image.shape[1] - image.shape[1] % 2
        out = cls(av.VideoFrame(w, h, "yuv420p"))
        out.put_rgb(np.ascontiguousarray(image[:h, :w]), 0, 0)
        return out

    @property
    def nbytes(self) -> int:
        return self.y.nbytes + self.u.nbytes + self.v.nbytes

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of the frame as RGB (height, width, 3)."""
        return self.height, self.width, 3

    def rgb(self) -> np.ndarray:
        """The whole frame as a new RGB array."""
        return self.region_rgb(0, 0, self.width, self.height)[0]

    def even_region(self, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        """The region (x0, y0, x1, y1) widened to even edges and cut to the frame; may be empty."""
        return (_even(x0, 0, self.width, False), _even(y0, 0, self.height, False),
                _even(x1, 0, self.width, True), _even(y1, 0, self.height, True))

    def region_rgb(self, x0: int, y0: int, x1: int, y1: int) -> tuple[np.ndarray, int, int]:
        """The RGB pixels of the region (widened to even edges), and where it starts: (rgb, x0, y0)."""
        x0, y0, x1, y1 = self.even_region(x0, y0, x1, y1)
        w, h = x1 - x0, y1 - y0
        if w <= 0 or h <= 0:
            return np.zeros((0, 0, 3), np.uint8), x0, y0
        return _i420_rgb(self.y[y0:y1, x0:x1], self.u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2],
                         self.v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2]), x0, y0

    def put_rgb(self, rgb: np.ndarray, x0: int, y0: int) -> None:
        """Write an RGB region (even sides, at an even ``x0``, ``y0``) back into the planes."""
        h, w = rgb.shape[:2]
        if h == 0 or w == 0:
            return
        flat = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1)
        n, q = w * h, w * h // 4
        self.y[y0 : y0 + h, x0 : x0 + w] = flat[:n].reshape(h, w)
        self.u[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2] = flat[n : n + q].reshape(h // 2, w // 2)
        self.v[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2] = flat[n + q :].reshape(h // 2, w // 2)

    def small_rgb(self, max_side: int) -> tuple[np.ndarray, float, float]:
        """The frame scaled down so its longer side is about ``max_side``, as RGB: (rgb, x scale, y scale).

        Each plane is shrunk on its own (area averaging) before the one small conversion. The scales take
        a box in the small picture to the frame's pixels. A frame no larger than ``max_side`` comes whole.
        """
        rgb, sx, sy, _, _ = self.small_region_rgb(0, 0, self.width, self.height, max_side)
        return rgb, sx, sy

    def small_region_rgb(self, x0: float, y0: float, x1: float, y1: float,
                         max_side: int) -> tuple[np.ndarray, float, float, int, int]:
        """A region (widened to even edges) scaled down so its longer side is about ``max_side``, as RGB.

        Returns (rgb, x scale, y scale, x0, y0): a point (x, y) of the small picture is (x0 + x * sx, y0 + y * sy)
        in the frame. A region no larger than ``max_side`` comes at full size; an empty one as a 0x0 picture.
        """
        x0, y0, x1, y1 = self.even_region(x0, y0, x1, y1)
        w, h = x1 - x0, y1 - y0
        if w <= 0 or h <= 0 or max(w, h) <= max_side:
            rgb, x0, y0 = self.region_rgb(x0, y0, x1, y1)
            return rgb, 1.0, 1.0, x0, y0
        s = max_side / max(w, h)
        sw, sh = max(2, 2 * round(w * s / 2)), max(2, 2 * round(h * s / 2))
        y, u, v = (cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p, size in (
            (self.y[y0:y1, x0:x1], (sw, sh)),
            (self.u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], (sw // 2, sh // 2)),
            (self.v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], (sw // 2, sh // 2))))
        return _i420_rgb(y, u, v), w / sw, h / sh, x0, y0
