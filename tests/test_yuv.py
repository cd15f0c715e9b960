"""Frames kept as 4:2:0 planes from decoder to encoder: the face work sees the same picture, covers land where the
RGB path puts them, and every pixel away from the covers reaches the encoder exactly as it was decoded."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from conftest import compose_faces
from facemoji.pipeline import Pipeline
from facemoji.stream import FaceFollower
from facemoji.stream.yuv import YuvFrame
from videos import background


@pytest.fixture(scope="module")
def vpipe() -> Pipeline:
    return Pipeline()


def frame_with_faces(astronaut_face: np.ndarray, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    w, h = size
    img = background((h, w))
    for x, y, side in [(100, 200, 260), (700, 120, 330), (1130, 400, 260)]:  # the last one runs off the right edge
        patch = cv2.resize(astronaut_face, (side, side), interpolation=cv2.INTER_AREA)
        x1, y1 = min(w, x + side), min(h, y + side)
        img[y:y1, x:x1] = patch[: y1 - y, : x1 - x]
    return img


def as_decoded(rgb: np.ndarray) -> YuvFrame:
    """The frame as a decoder hands it over: FFmpeg's own conversion to yuv420p, copied into a YuvFrame."""
    return YuvFrame.copy_of(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"))


def test_conversions_match_ffmpeg_and_round_trip(astronaut_face):
    rgb = frame_with_faces(astronaut_face)
    yuv = as_decoded(rgb)
    ffmpeg_rgb = av.VideoFrame.from_ndarray(np.concatenate([yuv.y, yuv.u.reshape(-1, yuv.width),
                                                            yuv.v.reshape(-1, yuv.width)]),
                                            format="yuv420p").to_ndarray(format="rgb24")
    ours = yuv.rgb()
    assert ours.shape == rgb.shape
    assert np.abs(ours.astype(int) - ffmpeg_rgb).mean() < 1.5  # the same BT.601 conversion as FFmpeg's default
    # a region written back unchanged leaves the planes within rounding (a little more where RGB clips)
    before = (yuv.y.copy(), yuv.u.copy(), yuv.v.copy())
    region, x0, y0 = yuv.region_rgb(101, 51, 400, 333)
    assert (x0, y0) == (100, 50) and region.shape == (284, 300, 3)
    yuv.put_rgb(region, x0, y0)
    for a, b in zip(before, (yuv.y, yuv.u, yuv.v), strict=True):
        diff = np.abs(a.astype(int) - b)
        assert diff.mean() < 0.5 and diff.max() <= 8
    # odd sides are cut to even ones
    odd = YuvFrame.from_rgb(np.ascontiguousarray(rgb[:719, :1279]))
    assert (odd.width, odd.height) == (1278, 718)


def test_detection_on_planes_finds_the_rgb_boxes(vpipe, astronaut_face):
    rgb = frame_with_faces(astronaut_face)
    by_rgb = FaceFollower(vpipe).detect(rgb)
    by_planes = FaceFollower(vpipe).detect(as_decoded(rgb))
    assert len(by_rgb) == len(by_planes) == 3
    for a, b in zip(sorted(by_rgb, key=lambda f: f.box), sorted(by_planes, key=lambda f: f.box), strict=True):
        size = a.box[2] - a.box[0]
        assert np.abs(np.subtract(a.box, b.box)).max() <= 0.05 * size
        assert b.landmarks is not None and np.abs(a.landmarks - b.landmarks).max() <= 0.05 * size


def test_planes_are_covered_like_rgb_and_untouched_elsewhere(vpipe, astronaut_face):
    rgb = frame_with_faces(astronaut_face)
    yuv = as_decoded(rgb)
    decoded = yuv.rgb()
    planes_before = (yuv.y.copy(), yuv.u.copy(), yuv.v.copy())

    follower = FaceFollower(vpipe)
    faces = follower.step(yuv, 0.0)
    assert len(faces) == 3 and all(f.emotion for f in faces)
    reference = FaceFollower(vpipe)
    ref_faces = reference.step(decoded, 0.0)
    assert sorted(f.emotion for f in faces) == sorted(f.emotion for f in ref_faces)

    out = follower.render(yuv, faces)
    assert out is yuv
    want = reference.render(decoded, ref_faces)
    got = yuv.rgb()
    changed = np.abs(want.astype(int) - decoded).max(axis=2) > 0
    assert changed.mean() > 0.1  # the covers are there
    # inside the covers: the same emoji (chroma is shared by 2x2 pixels, so edges differ a little)
    assert np.abs(got.astype(int) - want)[changed].mean() < 6
    # away from the covers' squares: not a single value changed in the planes
    mask = np.zeros(rgb.shape[:2], bool)
    from facemoji.overlay.emoji import emoji_box

    for f in follower.cover(faces):
        left, top, side = emoji_box(f.box, vpipe.emoji_scale)
        mask[max(0, top - 2) : top + side + 2, max(0, left - 2) : left + side + 2] = True
    assert (~mask).mean() > 0.4
    assert np.array_equal(yuv.y[~mask], planes_before[0][~mask])
    half = mask[::2, ::2]
    assert np.array_equal(yuv.u[~half], planes_before[1][~half])
    assert np.array_equal(yuv.v[~half], planes_before[2][~half])


def test_a_frame_of_planes_is_what_the_writer_encodes(tmp_path, astronaut_face):
    from facemoji.video.io import VideoReader
    from facemoji.video.writer import VideoWriter

    rgb = compose_faces(astronaut_face, [(100, 100, 200)])
    path = tmp_path / "planes.mp4"
    writer = VideoWriter(path, 640, 480, 15)
    for _ in range(5):
        writer.write(as_decoded(rgb))
    writer.close()
    with VideoReader(path, yuv=True) as reader:
        frames = list(reader.frames())
    assert len(frames) == 5 and all(isinstance(f.image, YuvFrame) for f in frames)
    assert np.abs(frames[-1].image.rgb().astype(int) - rgb).mean() < 4
    other = VideoWriter(tmp_path / "other.mp4", 320, 240, 15)
    with pytest.raises(ValueError):
        other.write(as_decoded(rgb))  # a frame of another size
    other.abort()


def test_planes_give_an_eye_aligning_model_the_crops_rgb_gives(vpipe, astronaut_face):
    """A model that levels the eyes gets the same face crops from the planes as from RGB on tilted faces: the
    landmarks travel with the boxes into the region that is converted. Without them the faces are cut from the
    box, unlevelled, and the crops differ far more."""
    from dataclasses import replace

    from facemoji.classify import EmotionClassifier

    rgb = frame_with_faces(astronaut_face)
    h, w = rgb.shape[:2]
    rgb = cv2.warpAffine(rgb, cv2.getRotationMatrix2D((w / 2, h / 2), 25, 1.0), (w, h), borderMode=cv2.BORDER_REFLECT)
    pipe = Pipeline()
    clf = pipe.classifier = EmotionClassifier(align="roll")
    follower = FaceFollower(pipe)
    faces = follower.detect(rgb)
    assert faces and all(f.landmarks is not None for f in faces)
    cut = clf.crop_faces
    seen: list[np.ndarray] = []
    clf.crop_faces = lambda image, found: seen.append(cut(image, found)) or seen[-1]  # the crops the model gets

    def crops(image, found) -> np.ndarray:
        follower.classify(image, [replace(f) for f in found])
        return seen[-1]

    by_rgb = crops(rgb, faces)
    by_planes = crops(as_decoded(rgb), faces)
    unlevelled = crops(as_decoded(rgb), [replace(f, landmarks=None) for f in faces])
    assert np.abs(by_planes - by_rgb).mean() < 3
    assert np.abs(unlevelled - by_rgb).mean() > 15


@pytest.mark.parametrize("box", [(201.3, 123.7, 372.2, 294.9), (200.0, 124.0, 371.0, 295.0),
                                 (-40.5, -31.0, 99.0, 120.0), (561.0, 401.0, 700.0, 541.0), (11.0, 13.0, 40.0, 41.0)])
def test_emoji_blended_on_the_planes_cover_what_rgb_blending_covers(astronaut_face, box):
    """Odd and even positions, squares cut by every edge: the emoji blended straight onto the planes is the one
    blended in RGB, moved by at most a pixel, and covers every pixel the RGB one covers."""
    from facemoji.overlay.emoji import EmojiSet, paste_emoji, paste_emoji_planes

    rgb = compose_faces(astronaut_face, [(200, 120, 170)], size=(480, 640))
    emoji = EmojiSet()
    before = as_decoded(rgb)
    decoded = before.rgb()
    want = decoded.copy()
    paste_emoji(want, "happy", box, emoji)
    want = YuvFrame.from_rgb(want).rgb()  # what the RGB way gives once encoded as 4:2:0
    planes = as_decoded(rgb)
    paste_emoji_planes(planes.y, planes.u, planes.v, "happy", box, emoji)
    got = planes.rgb()
    covered = np.abs(want.astype(int) - decoded).max(axis=2) > 40
    assert covered.sum() > 400
    # every pixel the RGB emoji changed a lot, the planes' emoji changed too (the disc may reach a pixel further)
    assert (np.abs(got.astype(int) - decoded).max(axis=2)[covered] > 20).mean() > 0.995
    assert np.abs(got.astype(int) - want).mean() < 1.5
