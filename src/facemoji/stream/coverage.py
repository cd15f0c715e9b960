"""How faces are found and covered in a stream of frames: the :class:`Coverage` settings and the schedules.

:data:`DEFAULT_COVERAGE` leads the cover along each track's motion and widens it while the prediction is unsure;
:data:`STRICT_COVERAGE` (``--strict``) also detects on every frame, covers every detection at once, adds a
profile pass (OpenCV's Haar profile cascade, both ways) for turned faces on every frame, pads every cover more
and keeps it on a lost face for a whole second. :func:`scan_side` is how finely a whole frame is scanned: it follows
the frame's size, so that faces about :data:`SMALLEST_FACE` pixels wide are found at any resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facemoji.options import Options

DETECTIONS_PER_SECOND = 10.0  # the "auto" default: detect about 10 times a second, track in between
DEFAULT_DETECT_EVERY = None  # None means auto
# expressions are read at most about this often per face (the shown one is smoothed over a third of a second)
READINGS_PER_SECOND = 5.0


def auto_detect_every(fps: float | None) -> int:
    """Frames between detections for about ``DETECTIONS_PER_SECOND`` a second: 3 at 30 fps, 2 at 15-24, 6 at 60."""
    if not fps or fps <= 0:
        return 3
    return max(1, min(6, int(fps / DETECTIONS_PER_SECOND + 0.5)))


def auto_classify_every(fps: float | None, detect_every: int) -> int:
    """Frames between expression readings: a whole number of detection intervals, at least
    ``1 / READINGS_PER_SECOND`` seconds apart where the frame rate allows (6 at 30 fps with detection every 3,
    2 at 15 fps with detection every 2, 6 at 30 fps with detection on every frame)."""
    if not fps or fps <= 0:
        return detect_every
    return detect_every * max(1, int(fps / (detect_every * READINGS_PER_SECOND)))


@dataclass(frozen=True)
class Coverage:
    """How faces are found and how generously they are covered (see :func:`facemoji.stream.track.cover_box`).

    ``lead``: frames of motion the cover is led forward by; ``unsure``: share of the distance a face moved since
    its last detection that the cover is widened by on each side; ``adaptive``: detect on the next frame too
    (whatever ``detect_every`` says) while a track is new, was missed, was found away from where it was predicted
    (``ADAPTIVE_SURPRISE``), or moves more than ``ADAPTIVE_MOTION`` of its size between detections; ``pad``: share of the box added on every side;
    ``max_coast``: seconds a cover stays on a face the detector lost; ``detect_every``: frames between
    detections (None: the caller's choice); ``profile``: a second detection pass with the Haar profile cascade,
    every ``profile_every`` frames; ``focus``: between whole-frame scans, look for the tracked faces only in
    windows around them, each at the scale that shows its face about :data:`FOCUS_FACE_PX` pixels across, and
    wherever else the picture changed since it was last looked at (grey thumbnails compared cell by cell, see
    :meth:`FaceFollower.changed_regions`), at the whole scan's scale: no new face can appear where no pixel
    changed. The whole frame is scanned when there is no tracked face, when a tracked face was not found in its
    window (a cut, a face gone: on the next frame), when the windows would cover :data:`FOCUS_MAX_AREA` of the
    frame (a moving camera changes everything), at a shot change (:func:`~facemoji.stream.regions.is_cut`), and
    at least every ``full_every`` frames (by default four times ``detect_every``, 0.4 s at 30 fps), for faces
    that a window showed too small to be found. ``confirm_hits``, ``confirm_score``: a track is drawn once that
    many detections found it, or once one scored this much (see :class:`~facemoji.stream.track.Tracker`); 1 in
    strict mode: every detection is covered at once. ``profile_lost``: where a detection misses a confirmed
    track, look for a turned face there with the profile cascade (a small window: cheap).
    """

    lead: float = 1.0
    unsure: float = 0.5
    adaptive: bool = True
    pad: float = 0.0
    max_coast: float = 0.5
    detect_every: int | None = None
    profile: bool = False
    profile_every: int = 3
    focus: bool = True
    full_every: int | None = None
    confirm_hits: int = 2
    confirm_score: float = 0.8
    profile_lost: bool = True


# The detector's box runs from the brows to the chin; covers reach this share of it further on every side, up to
# the forehead and hairline (without it, bowed heads in the 1080p crowd showed more than half of the face YuNet
# sees, above the cover). Photos (:meth:`facemoji.pipeline.Pipeline.cover_faces`) are padded the same.
COVER_PAD = 0.1
STRICT_PAD = 0.15  # --strict
DEFAULT_COVERAGE = Coverage(pad=COVER_PAD)
STRICT_COVERAGE = Coverage(lead=1.0, unsure=1.0, pad=STRICT_PAD, max_coast=1.0, detect_every=1, profile=True,
                           focus=False, confirm_hits=1)
BACKFILL_SECONDS = 0.1  # a face first found this soon after a frame still in hand is drawn on that frame too ...
BACKFILL_PAD = 0.25  # ... its first box widened by this share of its size on every side
TURNED_FACE_PX = 64  # a lost face's window is shown to the profile cascade with the face about this wide
PROFILE_SIZE = 320  # longer side the frame is scaled to for the profile pass
ADAPTIVE_MOTION = 0.4  # share of its size a face may move between detections before detection runs every frame
ADAPTIVE_SURPRISE = 0.1  # a face found this far (share of its size) from its predicted box is detected again next
FOCUS_FACE_PX = 48  # in a window around a tracked face, the face is shown to the detector about this wide
FOCUS_FACE_MIN = 36  # ... or, to save the detector padding its picture, at least this wide
FOCUS_REACH = 0.5  # the window reaches this share of the face's size beyond its predicted box on every side
FOCUS_MAX_AREA = 0.35  # windows covering more of the frame than this: the whole frame is scanned instead
THUMB_SIDE = 64  # longer side of the grey thumbnails compared to tell where the picture changed
CHANGE_LEVEL = 8.0  # a thumbnail cell whose mean grey level moved more than this has changed
CHANGE_MARGIN = 0.5  # a changed patch is looked at with this share of its size (and a cell) around it
CUT_LEVEL = 25.0  # a frame whose thumbnail moved this many grey levels on average from the last one ...
CUT_SHARE = 0.3  # ... with this share of its cells moved by more than 3 * CHANGE_LEVEL starts a new shot
KEEP_SCORE = 0.3  # detections from this score up keep a confirmed track going (new tracks need the threshold)
SMALLEST_FACE = 24  # faces this wide (pixels of the frame) are looked for at every resolution ...
SMALLEST_AT_DETECTOR = 10  # ... shown to the detector at least this wide
MIN_SCAN_SIDE = 320  # a whole-frame scan shows the frame at least this large on its longer side ...
MAX_SCAN_SIDE = 1920  # ... and at most this large
WHOLE_GAP = 2  # where the changed parts would cost a whole scan, whole scans come at most every 2 detections
CHEAP_SCAN_SIDE = 640  # whole-frame scans up to this side (720p and below) are cheap enough to run as often as needed


def scan_side(width: int, height: int, detect_size: int | None = None) -> int:
    """The longer side a whole-frame scan shows a ``width`` x ``height`` frame at: ``detect_size`` where one was
    chosen, else a multiple of 32 that shows a :data:`SMALLEST_FACE`-pixel face :data:`SMALLEST_AT_DETECTOR`
    pixels wide (320 for 640x360 and 640x480, 544 for 720p, 800 for 1080p, 1600 for 4K)."""
    if detect_size:
        return int(detect_size)
    side = 32 * math.ceil(max(width, height) * SMALLEST_AT_DETECTOR / SMALLEST_FACE / 32)
    return max(MIN_SCAN_SIDE, min(side, MAX_SCAN_SIDE))


def coverage_for(options: Options) -> Coverage:
    """The coverage the options ask for: :data:`STRICT_COVERAGE` with ``strict``, else :data:`DEFAULT_COVERAGE`."""
    return STRICT_COVERAGE if options.strict else DEFAULT_COVERAGE
