"""Hard moving faces for coverage tests, composed from scikit-image's astronaut photo.

Each clip is a short H.264 video (30 frames/s) where the face does something
detectors find hard: grows until it fills most of the frame, turns towards
profile, crosses another face, or races past in a fast, motion-blurred pan.
The turned face is the photo warped in perspective (one side pushed back) and
rolled, since no profile photo ships with the installed packages.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from videos import astronaut_crop, background, paste, write_video

FPS = 30


def turned(face: np.ndarray, amount: float, roll: float = 0.0) -> np.ndarray:
    """``face`` turned away by ``amount`` (0 frontal .. ~0.7 nearly side-on) and rolled ``roll`` degrees."""
    h, w = face.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dx, dy = amount * w, amount * h * 0.15  # the far side shrinks and narrows
    dst = np.float32([[0, 0], [w - dx, dy], [w - dx, h - dy], [0, h]])
    m = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(face, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    shift = dx / 2  # keep the face centred in its square
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), roll, 1.0)
    rot[0, 2] += shift
    return cv2.warpAffine(out, rot, (w, h), borderMode=cv2.BORDER_REPLICATE)


def motion_blur(image: np.ndarray, length: int) -> np.ndarray:
    """A horizontal motion blur over ``length`` pixels, as a fast pan leaves."""
    if length < 2:
        return image
    kernel = np.full((1, length), 1.0 / length, np.float32)
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REPLICATE)


def _grow(n: int, size: tuple[int, int]) -> Callable[[int], np.ndarray]:
    w, h = size
    bg, face = background((h, w), 1), astronaut_crop()

    def frame(i: int) -> np.ndarray:
        u = i / (n - 1)
        side = int(60 * (480 / 60) ** u)  # zooming in: 60 px to 480 px (the face then fills the whole height)
        cx, cy = w * (0.45 + 0.1 * u), h * (0.5 + 0.08 * u)
        img = bg.copy()
        paste(img, face, (int(cx - side / 2), int(cy - side * 0.48), side))
        return img

    return frame


def _turn(n: int, size: tuple[int, int]) -> Callable[[int], np.ndarray]:
    w, h = size
    bg, face = background((h, w), 2), astronaut_crop()

    def frame(i: int) -> np.ndarray:
        u = i / (n - 1)
        img = bg.copy()
        paste(img, turned(face, 0.7 * u, roll=-18 * u), (int(40 + 90 * u), 30, 170))
        return img

    return frame


def _crossing(n: int, size: tuple[int, int], laps: float = 1.0) -> Callable[[int], np.ndarray]:
    w, h = size
    bg = background((h, w), 3)
    a = astronaut_crop()
    b = np.ascontiguousarray(turned(a, 0.25)[:, ::-1])  # a second face, mirrored and a little turned

    def frame(i: int) -> np.ndarray:
        u = 0.5 - 0.5 * np.cos(np.pi * laps * i / (n - 1))  # back and forth ``laps`` times, easing at the ends
        img = bg.copy()
        paste(img, b, (int(w - 150 - (w - 180) * u), 100, 130))  # behind, right to left
        paste(img, a, (int(-20 + (w - 140) * u), 60, 150))  # in front, left to right
        return img

    return frame


def _pan(n: int, size: tuple[int, int], top: int = 34) -> Callable[[int], np.ndarray]:
    """``top``: pixels a frame at the end: the camera whips past the face, speeding up all the way."""
    w, h = size

    def left(i: int) -> int:  # the camera's left edge in the scene
        return int(top * i * i / (2 * (n - 1)))

    wide = background((h, w + left(n - 1) + 10), 4)
    face = astronaut_crop()
    scene = wide.copy()
    paste(scene, face, (left(int(n * 0.7)) + w // 2 - 85, 40, 170))  # centred in the frame at 70% of the clip

    def frame(i: int) -> np.ndarray:
        x = left(i)
        speed = left(i + 1) - x
        return motion_blur(np.ascontiguousarray(scene[:, x : x + w]), max(1, speed // 2))

    return frame


CLIPS: dict[str, tuple[Callable[[int, tuple[int, int]], Callable[[int], np.ndarray]], int, tuple[int, int]]] = {
    "grow": (_grow, 40, (320, 240)),
    "turn": (_turn, 40, (320, 240)),
    "crossing": (_crossing, 40, (400, 300)),
    "pan": (_pan, 36, (320, 240)),
}


# Harder versions for measuring (benchmarks/bench_coverage.py): a faster whip, faces crossing three times.
HARDER: dict[str, tuple[Callable[[int, tuple[int, int]], Callable[[int], np.ndarray]], int, tuple[int, int]]] = {
    "pan-fast": (partial(_pan, top=60), 36, (320, 240)),
    "crossing-3x": (partial(_crossing, laps=3.0), 45, (400, 300)),
}


def clip_frames(name: str) -> list[np.ndarray]:
    make, n, size = CLIPS[name] if name in CLIPS else HARDER[name]
    frame = make(n, size)
    return [frame(i) for i in range(n)]


def make_hard_clip(name: str, folder: Path) -> Path:
    """Write the clip ``name`` (one of :data:`CLIPS` or :data:`HARDER`) as ``folder/name.mp4``; returns its path."""
    path = Path(folder) / f"{name}.mp4"
    write_video(path, clip_frames(name), FPS, audio=None)
    return path
