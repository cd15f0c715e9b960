"""The one place a frame's covers are drawn: on an RGB array, or straight onto the 4:2:0 planes of a frame.

:func:`draw` takes the faces with the boxes to cover (the follower's :meth:`~facemoji.stream.follower.FaceFollower.cover`
boxes) and the pipeline whose emoji, scale, mode and cover it uses. Emoji are blended onto the planes of a
:class:`~facemoji.stream.yuv.YuvFrame` without a conversion to RGB; the other covers (blur, pixelate, solid) and
the boxes convert only the square they draw on.
"""

from __future__ import annotations

import numpy as np

from facemoji.overlay.emoji import emoji_box, paste_emoji_planes
from facemoji.pipeline import Pipeline
from facemoji.stream.regions import shifted
from facemoji.stream.yuv import YuvFrame
from facemoji.types import Face


def draw(image: np.ndarray | YuvFrame, faces: list[Face], pipeline: Pipeline, mode: str | None = None,
         cover: str | None = None) -> np.ndarray | YuvFrame:
    """``image`` with ``faces`` drawn in ``mode`` and ``cover`` (default: the pipeline's).

    An RGB ``image`` is left as it is and a new array returned; a :class:`YuvFrame` is drawn on and returned,
    each cover converted to RGB and back over its own square only.
    """
    mode = mode or pipeline.mode
    cover = cover or pipeline.cover
    if not faces:
        return image
    if not isinstance(image, YuvFrame):
        return pipeline.render(image, faces, mode, cover)
    if mode != "emoji":  # labels reach outside the covers: draw on the whole frame
        rgb = image.rgb()
        image.put_rgb(pipeline.render(rgb, faces, mode, cover, copy=False), 0, 0)
        return image
    largest_first = sorted(faces, key=lambda f: -(f.width * f.height))  # as the RGB render draws them
    if cover == "emoji":  # blended straight onto the planes: no conversion to RGB and back
        for f in largest_first:
            paste_emoji_planes(image.y, image.u, image.v, f.emotion or "neutral", f.box, pipeline.emoji,
                               pipeline.emoji_scale)
        return image
    for f in largest_first:  # the other covers (blur, pixelate, solid) work in RGB
        left, top, side = emoji_box(f.box, pipeline.emoji_scale)
        rgb, ox, oy = image.region_rgb(left - 1, top - 1, left + side + 1, top + side + 1)
        if rgb.size == 0:
            continue
        image.put_rgb(pipeline.render(rgb, [shifted(f, -ox, -oy)], mode, cover, copy=False), ox, oy)
    return image
