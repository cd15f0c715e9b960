"""``facemoji webcam``: a live window with every face covered by its emoji."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from facemoji.cli.common import options_from_args
from facemoji.errors import InputError
from facemoji.options import Options
from facemoji.overlay import COVERS, MODES

WINDOW = "facemoji"
KEYS_HELP = "q/Esc quit, m switch mode, c switch cover, s snapshot"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "webcam", help="live camera window with emoji over the faces",
        description="Show a camera (or a video file or stream, with --source) live with each face covered by the "
        f"emoji of its expression. Keys: {KEYS_HELP} (PNG). With no display (no DISPLAY or WAYLAND_DISPLAY), or "
        "with --headless, it runs without a window; use --record to keep the result.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  facemoji webcam\n  facemoji webcam --camera 1 --mode both --record session.mp4\n"
        "  facemoji webcam --source clip.mp4 --headless --max-frames 100 --record out.mp4\n",
    )
    p.add_argument("--camera", type=int, default=0, metavar="N", help="camera number (default: 0)")
    p.add_argument("--source", metavar="FILE_OR_URL", help="use a video file or stream URL instead of a camera")
    p.add_argument("--record", metavar="OUT.mp4", help="save the emojified session as H.264 MP4")
    p.add_argument("--headless", action="store_true", help="no window (automatic when there is no display)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N frames")
    p.add_argument("--snapshot-dir", default=".", metavar="DIR", help="where 's' saves PNG snapshots (default: .)")
    p.add_argument("--detect-every", default="auto", metavar="K",
                   help="run the face detector every K frames and track the faces in between; default auto: "
                   "about 10 detections a second (K=3 at 30 fps, 2 at 15-24 fps)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary at the end")
    Options.add_arguments(p, "frames")
    p.set_defaults(run=run)


def has_display() -> bool:
    if sys.platform.startswith(("win", "darwin")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def draw_hud(image_bgr: np.ndarray, fps: float, mode: str, cover: str = "emoji") -> None:
    """Frame rate, mode, cover and keys in the top-left corner (in place)."""
    import cv2

    text = f"{fps:4.1f} fps  {mode}  {cover}  [{KEYS_HELP}]"
    scale = max(0.45, image_bgr.shape[1] / 1400)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(image_bgr, (0, 0), (tw + 12, th + base + 10), (0, 0, 0), -1)
    cv2.putText(image_bgr, text, (6, th + 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


class Display:
    """The OpenCV window; ``None`` keys and no drawing when headless."""

    def __init__(self, headless: bool) -> None:
        self.enabled = not headless
        if self.enabled:
            import cv2

            try:
                cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
            except cv2.error as e:
                print(f"facemoji: no window can be opened ({str(e).strip().splitlines()[-1]}); running headless",
                      file=sys.stderr)
                self.enabled = False

    def show(self, rgb: np.ndarray, fps: float, mode: str, cover: str = "emoji") -> int | None:
        """Show a frame; returns the key pressed (or -1), or None if the window was closed."""
        if not self.enabled:
            return -1
        import cv2

        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        draw_hud(bgr, fps, mode, cover)
        cv2.imshow(WINDOW, bgr)
        key = cv2.waitKey(1)
        try:
            if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
                return None
        except cv2.error:
            return None
        return key & 0xFF if key >= 0 else -1

    def close(self) -> None:
        if self.enabled:
            import cv2

            cv2.destroyAllWindows()
            cv2.waitKey(1)


def save_snapshot(folder: Path, image: np.ndarray) -> Path:
    from facemoji.imageio import write_image

    now = datetime.now()
    path = folder / f"facemoji-{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}.png"
    write_image(path, image)
    return path


QUIT = None


def next_cover(key: int, cover: str) -> str:
    """``c`` cycles the cover emoji -> blur -> pixelate -> solid; other keys keep it."""
    if key in (ord("c"), ord("C")):
        return COVERS[(COVERS.index(cover) + 1) % len(COVERS)]
    return cover


def handle_key(key: int, mode: str, image: np.ndarray, snapshot_dir: Path) -> str | None:
    """Act on a key press: returns the mode to continue in, or ``QUIT`` (None) for q/Esc.

    ``m`` cycles emoji -> boxes -> both; ``s`` saves ``image`` (the emojified frame) as a PNG.
    """
    if key in (ord("q"), ord("Q"), 27):
        return QUIT
    if key in (ord("m"), ord("M")):
        return MODES[(MODES.index(mode) + 1) % len(MODES)]
    if key in (ord("s"), ord("S")):
        path = save_snapshot(snapshot_dir, image)
        print(f"snapshot saved: {path}", file=sys.stderr)
    return mode


class Window:
    """The frame loop's sink for a live session: the recording, the window and its keys, the pace of a file, the
    frame limit and Ctrl-C. ``write`` returns False to end the session (``stopped_by`` says why)."""

    def __init__(self, loop, display: Display, source, record: str | None, snap_dir: Path,
                 max_frames: int | None, interrupted: threading.Event) -> None:
        self.loop, self.display, self.source, self.record = loop, display, source, record
        self.snap_dir, self.max_frames, self.interrupted = snap_dir, max_frames, interrupted
        self.writer = None
        self.pace = display.enabled and not source.live and source.fps  # play files at their own speed in a window
        self.frames, self.fps, self.stopped_by = 0, 0.0, "end of source"
        self.start = self.last = time.perf_counter()

    def write(self, frame, image: np.ndarray, faces: list) -> bool:
        if self.record:
            if self.writer is None:
                from fractions import Fraction

                from facemoji.video.writer import VideoWriter

                self.writer = VideoWriter(self.record, image.shape[1], image.shape[0], self.source.fps or 30,
                                          time_base=Fraction(1, 1000))
            self.writer.write(image, round(frame.time * 1000))
        self.frames += 1
        now = time.perf_counter()
        dt, self.last = now - self.last, now
        self.fps = (1 / dt if self.fps == 0 else 0.9 * self.fps + 0.1 / dt) if dt > 0 else self.fps
        if self.pace:
            wait = frame.time - (now - self.start)
            if wait > 0:
                time.sleep(min(wait, 1.0))
        return self._keys(image)

    def _keys(self, image: np.ndarray) -> bool:
        loop = self.loop
        key = self.display.show(image, self.fps, loop.mode, loop.cover)
        if key is None:
            self.stopped_by = "window closed"
            return False
        new_mode = handle_key(key, loop.mode, image, self.snap_dir) if key >= 0 else loop.mode
        if new_mode is QUIT:
            self.stopped_by = "quit"
            return False
        loop.mode, loop.cover = new_mode, next_cover(key, loop.cover)
        if self.interrupted.is_set() and not loop.stopping:  # Ctrl-C: the frames in hand are still written
            self.stopped_by, loop.stopping = "Ctrl-C", True
        if self.max_frames is not None and self.frames >= self.max_frames:
            self.stopped_by = f"--max-frames {self.max_frames}"
            return False
        return True


def _open(args: argparse.Namespace):
    """The source the arguments name (a camera, or --source), after checking every argument."""
    from facemoji.sources import open_source
    from facemoji.video.io import is_url
    from facemoji.video.writer import check_output_path

    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames must be 1 or more, got {args.max_frames}")
    if args.camera < 0:
        raise InputError(f"--camera numbers start at 0, got {args.camera}")
    if not Path(args.snapshot_dir).is_dir():
        raise InputError(f"--snapshot-dir {args.snapshot_dir}: no such folder")
    if args.record:
        if Path(args.record).suffix.lower() not in (".mp4", ".m4v", ".mov"):
            raise InputError(f"{args.record}: recordings are H.264 MP4; give it a .mp4 name")
        check_output_path(args.record, (args.source,) if args.source else ())
    if args.source:
        if not is_url(args.source) and not Path(args.source).is_file():
            raise InputError(f"{args.source}: no such file" if not Path(args.source).exists()
                             else f"{args.source}: not a video file")
        return open_source(args.source)
    return open_source(args.camera)


def run(args: argparse.Namespace) -> int:
    from facemoji.cli.video import parse_detect_every
    from facemoji.sources import CameraStopped
    from facemoji.stream import FaceFollower, FrameLoop, coverage_for
    from facemoji.stream.coverage import auto_detect_every

    detect_every = parse_detect_every(args.detect_every)
    options = options_from_args(args)
    source = _open(args)
    pipe = options.pipeline("frames")
    follower = FaceFollower(pipe, detect_every or auto_detect_every(source.fps), coverage=coverage_for(options))
    # live: frames leave the loop one frame late (a new face is confirmed on the next frame, drawn from its first)
    loop = FrameLoop(follower, mode=options.mode, cover=options.cover, delay=1)
    display = Display(args.headless or not has_display())
    interrupted = threading.Event()
    window = Window(loop, display, source, args.record, Path(args.snapshot_dir), args.max_frames, interrupted)
    loop.sinks.append(window)
    status = 0

    def on_sigint(signum: int, frame: object) -> None:
        # the first Ctrl-C ends the session between frames (so a recording is never cut mid-frame);
        # a second one interrupts at once
        interrupted.set()
        signal.signal(signal.SIGINT, previous)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    try:
        loop.run(source)
        status = 130 if window.stopped_by == "Ctrl-C" else 0
    except InputError as e:  # the camera or stream stopped part-way: keep what was recorded
        if window.frames == 0:
            if window.writer is not None:
                window.writer.abort()
            raise
        print(f"facemoji: error: {e}", file=sys.stderr)
        status = 1
        window.stopped_by = "camera stopped" if isinstance(e, CameraStopped) else "source failed"
    except KeyboardInterrupt:
        window.stopped_by, status = "Ctrl-C", 130
    except BaseException:
        if window.writer is not None:
            window.writer.abort()
        raise
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
        display.close()
        source.close()
    return _finish(args, window, source, follower, status)


def _finish(args: argparse.Namespace, window: Window, source, follower, status: int) -> int:
    """Close the recording and print the summary."""
    if window.writer is not None:
        try:
            window.writer.close()
        except KeyboardInterrupt:
            window.writer.abort()
            raise
    elapsed = time.perf_counter() - window.start
    if window.frames == 0:
        raise InputError(f"{source.name}: delivered no frames")
    if not args.quiet:
        rate = window.frames / elapsed if elapsed > 0 else 0.0
        saved = f"; recording saved to {args.record}" if window.writer is not None else ""
        print(f"{source.name}: stopped ({window.stopped_by}) after {window.frames} frames, {rate:.1f} frames/s, "
              f"{follower.tracker.next_id - 1} face(s) tracked{saved}", file=sys.stderr)
    return status
