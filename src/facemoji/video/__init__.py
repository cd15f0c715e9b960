"""Video files in and out (PyAV/FFmpeg), and the frame loop that follows faces through them.

    from facemoji.pipeline import Pipeline
    from facemoji.video import process_video

    report = process_video("clip.mp4", "clip.facemoji.mp4", Pipeline(model="fast"),  # as facemoji video
                           on_frame=lambda index, t, faces: print(index, t, [f.track_id for f in faces]))
    print(report.frames, report.tracks, report.timeline.lines())

``process_video(..., coverage=STRICT_COVERAGE)`` is ``facemoji video --strict`` (see :class:`Coverage`).

For frames from anywhere (cameras, streams, folders), combine :func:`facemoji.sources.open_source`
with :class:`FaceFollower`::

    follower = FaceFollower(Pipeline(model="fast"), detect_every=3)
    for frame in open_source(0):
        faces = follower.step(frame.image, frame.time)
        shown = follower.render(frame.image, faces)
"""

from facemoji.video.io import VideoReader
from facemoji.video.process import (
    DEFAULT_COVERAGE,
    DEFAULT_DETECT_EVERY,
    STRICT_COVERAGE,
    Coverage,
    FaceFollower,
    Interrupted,
    VideoReport,
    auto_detect_every,
    process_video,
)
from facemoji.video.writer import VideoWriter

__all__ = ["DEFAULT_COVERAGE", "DEFAULT_DETECT_EVERY", "STRICT_COVERAGE", "Coverage", "FaceFollower", "Interrupted",
           "VideoReader", "VideoReport", "VideoWriter", "auto_detect_every", "process_video"]
