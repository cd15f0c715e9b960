"""Composing real test videos: photographed faces moving over a background, H.264 with a sine-tone audio track.

Every clip comes with its ground truth: for each frame, the squares (x, y, side)
where each face photo was pasted, so a test knows where the faces are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

# Where the face itself sits inside the astronaut crop (fractions of the square), from the detector's box
# on the crop; the "core" is a margin inside that, the part that must always be hidden.
FACE_IN_CROP = (0.30, 0.19, 0.72, 0.78)
CORE_IN_CROP = (0.36, 0.27, 0.66, 0.70)

Square = tuple[int, int, int]  # x, y, side of a pasted face photo
Layout = Callable[[int, float], list[Square]]  # (frame index, seconds) -> one square per face


def astronaut_crop() -> np.ndarray:
    """scikit-image's astronaut, a 200x200 square around her face."""
    from skimage import data

    return data.astronaut()[20:220, 125:325].copy()


def wandering_face(bg: np.ndarray, face: np.ndarray, i: int, fps: float) -> np.ndarray:
    """Frame ``i`` of ``face`` wandering over ``bg`` while its side changes between a quarter and a half of the height."""
    height, width = bg.shape[:2]
    t = i / fps
    side = int(height * (0.375 + 0.125 * np.sin(t * 1.7)))
    x = int((width - side) * (0.5 + 0.45 * np.sin(t * 0.9)))
    y = int((height - side) * (0.5 + 0.4 * np.sin(t * 1.3)))
    img = bg.copy()
    img[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_LINEAR)
    return img


def background(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A soft, faceless background: smooth colour gradients plus mild noise (RGB, (h, w))."""
    h, w = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([60 + 80 * xx / w, 90 + 50 * yy / h, 140 - 60 * xx / w], axis=2)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def paste(canvas: np.ndarray, face: np.ndarray, square: Square) -> None:
    """Paste ``face`` resized to ``side`` with its top-left at (x, y), clipped at the borders (in place)."""
    x, y, side = square
    h, w = canvas.shape[:2]
    patch = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA if side < face.shape[0] else cv2.INTER_LINEAR)
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + side), min(h, y + side)
    if x0 < x1 and y0 < y1:
        canvas[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]


def core_box(square: Square, frac: tuple[float, float, float, float] = CORE_IN_CROP) -> tuple[int, int, int, int]:
    """The part of a pasted square that is certainly face: (x1, y1, x2, y2)."""
    x, y, side = square
    return (int(x + frac[0] * side), int(y + frac[1] * side), int(x + frac[2] * side), int(y + frac[3] * side))


@dataclass
class Clip:
    path: Path
    fps: int
    frames: int
    size: tuple[int, int]  # (width, height)
    truth: list[list[Square]]  # per frame, one square per face (same order as the faces list)

    @property
    def duration(self) -> float:
        return self.frames / self.fps


def render_frames(faces: list[np.ndarray], layout: Layout, frames: int, fps: int,
                  size: tuple[int, int] = (640, 480), seed: int = 0) -> tuple[list[np.ndarray], list[list[Square]]]:
    """The RGB frames of a clip and their truth squares."""
    w, h = size
    bg = background((h, w), seed)
    out, truth = [], []
    for i in range(frames):
        img = bg.copy()
        squares = layout(i, i / fps)
        for face, sq in zip(faces, squares, strict=True):
            paste(img, face, sq)
        out.append(img)
        truth.append(squares)
    return out, truth


def write_video(path: Path, frames: list[np.ndarray], fps: int, *, audio: str | None = "aac",
                codec: str = "libx264", pix_fmt: str = "yuv420p", rotation: int = 0, sample_rate: int = 44100,
                audio_seconds: float | None = None, fmt: str | None = None) -> Path:
    """Encode RGB frames (and a 440 Hz tone as long as the video, unless ``audio`` is None) with PyAV."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format=fmt) as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        if rotation:
            vs.set_display_rotation(rotation)
        aus = None
        if audio is not None:
            aus = out.add_stream(audio, rate=sample_rate, layout="mono")
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            f.time_base = Fraction(1, fps)
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if aus is not None:
            seconds = audio_seconds if audio_seconds is not None else len(frames) / fps
            n = int(round(seconds * sample_rate))
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / sample_rate)).astype(np.float32)
            fmt_name = aus.codec_context.format.name if aus.codec_context.format else "fltp"
            chunk = aus.codec_context.frame_size or 1024
            for start in range(0, n, chunk):
                part = tone[start : start + chunk]
                if fmt_name.startswith("s16"):
                    arr = (part * 32767).astype(np.int16)[None, :]
                    frame = av.AudioFrame.from_ndarray(arr, format="s16", layout="mono")
                else:
                    frame = av.AudioFrame.from_ndarray(part[None, :], format="fltp", layout="mono")
                frame.sample_rate = sample_rate
                frame.pts = start
                frame.time_base = Fraction(1, sample_rate)
                for p in aus.encode(frame):
                    out.mux(p)
            for p in aus.encode():
                out.mux(p)
    return path


def make_clip(path: Path, faces: list[np.ndarray], layout: Layout, frames: int = 30, fps: int = 15,
              size: tuple[int, int] = (640, 480), **kw) -> Clip:
    imgs, truth = render_frames(faces, layout, frames, fps, size)
    write_video(path, imgs, fps, **kw)
    return Clip(path, fps, frames, size, truth)


# Layouts: the moves the tests put faces through (640x480 frames).

def pan(i: int, t: float, n: int = 30) -> list[Square]:
    """One face sliding left to right."""
    return [(int(40 + 380 * i / (n - 1)), 140, 180)]


def zoom(i: int, t: float, n: int = 30) -> list[Square]:
    """One face growing from 110 to 300 px, centred."""
    side = int(110 + 190 * i / (n - 1))
    return [(320 - side // 2, 240 - side // 2, side)]


def exit_and_return(i: int, t: float, n: int = 45) -> list[Square]:
    """One face leaving through the right edge and coming back (off frame in the middle third)."""
    half = n // 2
    x = 300 + int(460 * (i / half if i <= half else (n - 1 - i) / (n - 1 - half)))
    return [(x, 150, 170)]


def crossing(i: int, t: float, n: int = 40) -> list[Square]:
    """Two faces passing each other, one higher than the other."""
    u = i / (n - 1)
    return [(int(20 + 440 * u), 60, 160), (int(460 - 440 * u), 230, 160)]


def still(i: int, t: float) -> list[Square]:
    return [(220, 120, 200)]


def covered_fraction(output: np.ndarray, original: np.ndarray, box: tuple[int, int, int, int],
                     min_diff: int = 40) -> float:
    """Share of the pixels of ``box`` that the output changed by more than ``min_diff`` (any channel)."""
    h, w = output.shape[:2]
    x1, y1, x2, y2 = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
    if x1 >= x2 or y1 >= y2:
        return 1.0
    a = output[y1:y2, x1:x2].astype(np.int16)
    b = original[y1:y2, x1:x2].astype(np.int16)
    return float((np.abs(a - b).max(axis=2) > min_diff).mean())


def read_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def visible_area(square: Square, size: tuple[int, int]) -> float:
    """Fraction of the face core inside the frame."""
    x1, y1, x2, y2 = core_box(square)
    w, h = size
    inter = max(0, min(w, x2) - max(0, x1)) * max(0, min(h, y2) - max(0, y1))
    return inter / max(1, (x2 - x1) * (y2 - y1))
