"""How covers are drawn, rule by rule: the disc, the four covers, the emoji's size and place, the boxes mode,
the 4:2:0 emoji and the byte-bounded cache (:mod:`facemoji.overlay`), on real photographs and the shipped emoji.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from facemoji.overlay.cache import ByteLRU
from facemoji.overlay.cover import (
    BLUR_CELLS,
    COVERS,
    PIXEL_BLOCKS,
    SOLID_COLOUR,
    check_cover,
    cover_face,
    disc,
)
from facemoji.overlay.draw import COLOURS, draw_boxes, render
from facemoji.overlay.emoji import DEFAULT_SCALE, EmojiSet, blend, clip_square, emoji_box, read_rgba
from facemoji.types import Face


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(skdata.astronaut()[:, :, :3])  # 512 x 512, a face near (180-280, 80-220)


@pytest.fixture(scope="module")
def emoji() -> EmojiSet:
    return EmojiSet()


BOX = (180.0, 90.0, 280.0, 210.0)  # 100 x 120


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(a != b, axis=2)


# --- the disc and the emoji's square ------------------------------------------------------------------------


def test_the_emoji_square_is_the_box_diagonal_times_the_scale_centred_on_the_box() -> None:
    """The side is the diagonal times the scale (169 here), rounded up to a step of 2 pixels per 48 (6 here)."""
    assert DEFAULT_SCALE == 1.08
    left, top, side = emoji_box(BOX)
    assert math.ceil(math.hypot(100, 120) * 1.08) == 169 and side == 174
    assert (left + side / 2, top + side / 2) == pytest.approx((230, 150), abs=0.5)
    assert emoji_box(BOX, 2.0)[2] == 324  # 313 in steps of 12
    assert emoji_box((10, 10, 11, 11))[2] == 4  # never smaller than 4 pixels
    assert emoji_box((0, 0, 30, 30))[2] == 46  # 46 pixels: below 96, steps of 2
    # a box a pixel or two larger keeps the square (and the emoji resized for it), at most 4 % over the diagonal
    x1, y1, x2, y2 = BOX
    assert emoji_box((x1, y1, x2 + 1, y2 + 1))[2] == emoji_box((x1 - 1, y1, x2, y2 + 1))[2] == side
    for d in range(4, 2000, 7):
        assert d * 1.08 <= emoji_box((0, 0, d / math.sqrt(2), d / math.sqrt(2)))[2] <= d * 1.08 * 1.042 + 2


@pytest.mark.parametrize("side", [16, 64, 169])
def test_the_disc_is_a_centred_filled_circle(side: int) -> None:
    d = disc(side)
    assert d.shape == (side, side, 3) and d.dtype == np.uint8 and not d.flags.writeable
    a = d[:, :, 0].astype(float) / 255
    assert (d[:, :, 0] == d[:, :, 1]).all() and (d[:, :, 0] == d[:, :, 2]).all()
    assert a.sum() == pytest.approx(math.pi * side * side / 4, rel=0.06 if side > 32 else 0.1)
    ys, xs = np.mgrid[:side, :side]
    centre = (side - 1) / 2
    assert (a * ys).sum() / a.sum() == pytest.approx(centre, abs=0.6)  # centred, to about half a pixel
    assert (a * xs).sum() / a.sum() == pytest.approx(centre, abs=0.6)
    assert d[side // 2, side // 2, 0] == 255 and d[0, 0, 0] == 0
    assert disc(side) is d  # drawn once per size


def test_clip_square_cuts_at_every_border() -> None:
    assert clip_square((100, 200, 3), 10, 20, 30) == (slice(20, 50), slice(10, 40), slice(0, 30), slice(0, 30))
    assert clip_square((100, 200, 3), -10, -5, 30) == (slice(0, 25), slice(0, 20), slice(5, 30), slice(10, 30))
    assert clip_square((100, 200, 3), 190, 90, 30) == (slice(90, 100), slice(190, 200), slice(0, 10), slice(0, 10))
    assert clip_square((100, 200, 3), 200, 10, 30) is None and clip_square((100, 200, 3), 10, -30, 30) is None


def test_blend_is_exact_where_opaque_and_untouched_where_clear() -> None:
    roi = np.full((2, 2, 3), 100, np.uint8)
    colour = np.full((2, 2, 3), 200, np.uint8)
    alpha = np.array([[[255] * 3, [0] * 3], [[128] * 3, [64] * 3]], np.uint8)
    blend(roi, colour, alpha)
    assert roi[0, 0, 0] == 200 and roi[0, 1, 0] == 100
    assert roi[1, 0, 0] == pytest.approx(150, abs=1) and roi[1, 1, 0] == pytest.approx(125, abs=1)


# --- the four covers ----------------------------------------------------------------------------------------


def test_the_covers_and_their_names() -> None:
    assert COVERS == ("emoji", "blur", "pixelate", "solid")
    for c in COVERS:
        assert check_cover(c) == c
    with pytest.raises(ValueError, match="emoji, blur, pixelate, solid"):
        check_cover("sparkles")


@pytest.mark.parametrize("cover", COVERS)
def test_every_cover_changes_the_disc_and_nothing_outside_it(photo: np.ndarray, emoji: EmojiSet, cover: str) -> None:
    out = photo.copy()
    cover_face(out, BOX, cover, emotion="happy", emoji=emoji)
    left, top, side = emoji_box(BOX)
    ch = changed(out, photo)
    region = np.zeros(photo.shape[:2], bool)
    region[top : top + side, left : left + side] = True
    assert not ch[~region].any()  # nothing outside the disc's square
    if cover != "emoji":  # the emoji is its own disc; the others are cut by this one
        region[top : top + side, left : left + side] = disc(side)[:, :, 0] > 0
        assert not ch[~region].any()
    centre = ch[top + side // 4 : top + 3 * side // 4, left + side // 4 : left + 3 * side // 4]
    assert centre.mean() > 0.9, cover  # the face itself is hidden


def test_solid_is_one_dark_colour(photo: np.ndarray) -> None:
    out = photo.copy()
    cover_face(out, BOX, "solid")
    assert SOLID_COLOUR == (24, 24, 24)
    assert tuple(out[150, 230]) == SOLID_COLOUR


def test_blur_keeps_the_colours_and_loses_the_detail(photo: np.ndarray) -> None:
    out = photo.copy()
    cover_face(out, BOX, "blur")
    left, top, side = emoji_box(BOX)
    r = slice(top + side // 4, top + 3 * side // 4), slice(left + side // 4, left + 3 * side // 4)
    before, after = photo[r].astype(float), out[r].astype(float)
    assert abs(before.mean() - after.mean()) < 25  # the face's own colours, not a flat one

    def lap(a: np.ndarray) -> float:
        return np.abs(cv2.Laplacian(cv2.cvtColor(a.astype(np.uint8), cv2.COLOR_RGB2GRAY), cv2.CV_64F)).mean()

    assert lap(after) < 0.15 * lap(before)
    # about BLUR_CELLS cells across the disc: nothing finer than a few cells survives
    assert BLUR_CELLS == 12
    profile = after[after.shape[0] // 2, :, 1]
    assert np.abs(np.diff(profile)).max() < 255 / (side / BLUR_CELLS)


def test_pixelate_draws_square_blocks_on_a_grid_anchored_at_the_disc(photo: np.ndarray) -> None:
    out = photo.copy()
    cover_face(out, BOX, "pixelate")
    left, top, side = emoji_box(BOX)
    block = math.ceil(side / PIXEL_BLOCKS)
    assert PIXEL_BLOCKS == 10 and block == 18  # the 174-pixel square
    # blocks wholly inside the disc's inner square are one colour each, and neighbours differ
    k0 = math.ceil(side * 0.3 / block)
    colours = []
    for ky in range(k0, k0 + 3):
        for kx in range(k0, k0 + 3):
            cell = out[top + ky * block : top + (ky + 1) * block, left + kx * block : left + (kx + 1) * block]
            assert (cell == cell[0, 0]).all(), (ky, kx)
            colours.append(tuple(cell[0, 0]))
    assert len(set(colours)) > 4


def test_a_cover_at_the_border_is_cut_there(photo: np.ndarray) -> None:
    for cover in COVERS:
        out = photo.copy()
        cover_face(out, (-40.0, 450.0, 60.0, 560.0), cover, emotion="sad")  # past the left and bottom edges
        ch = changed(out, photo)
        assert ch[480:, :30].mean() > 0.8, cover
        out = photo.copy()
        cover_face(out, (600.0, 600.0, 700.0, 700.0), cover)  # wholly outside: nothing, no error
        assert (out == photo).all()


# --- emoji ----------------------------------------------------------------------------------------------------


def test_each_expression_has_its_own_emoji_and_unknown_ones_get_neutrals(photo: np.ndarray, emoji: EmojiSet) -> None:
    drawn = {}
    for e in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "bored"):
        out = photo.copy()
        cover_face(out, BOX, "emoji", emotion=e, emoji=emoji)
        drawn[e] = out
    for a in ("angry", "disgust", "fear", "happy", "sad", "surprise"):
        assert (drawn[a] != drawn["neutral"]).any(), a
    assert (drawn["bored"] == drawn["neutral"]).all()
    out = photo.copy()
    cover_face(out, BOX, "emoji", emotion=None, emoji=emoji)
    assert (out == drawn["neutral"]).all()


def test_the_emoji_is_opaque_at_its_centre_and_see_through_at_its_corners(photo: np.ndarray, emoji: EmojiSet) -> None:
    rgb, inverse = emoji.get("happy", 169)
    assert rgb.shape == inverse.shape == (169, 169, 3)
    assert inverse[84, 84, 0] == 0 and inverse[0, 0, 0] == 255
    assert emoji.get("happy", 169) is emoji.get("happy", 169)  # cached


def test_emoji_on_420_planes_match_the_rgb_emoji(photo: np.ndarray, emoji: EmojiSet) -> None:
    side = 64
    yc, ya, uc, vc, ca = emoji.get_yuv("surprise", side)
    assert yc.shape == ya.shape == (side, side) and uc.shape == vc.shape == ca.shape == (side // 2, side // 2)
    rgb, inverse = emoji.get("surprise", side)
    assert (ya == inverse[:, :, 0]).all()
    expect_y = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)[:side]  # colour already times alpha
    inner = slice(side // 4, 3 * side // 4)
    assert np.abs(yc[inner, inner].astype(int) - expect_y[inner, inner]).max() <= 3
    assert ca[side // 4, side // 4] == 0 and ca[0, 0] == 255
    assert emoji.get_yuv("surprise", side) is emoji.get_yuv("surprise", side)


def test_read_rgba_takes_grey_colour_alpha_and_16_bit_files() -> None:
    grey = cv2.imencode(".png", np.full((4, 4), 100, np.uint8))[1].tobytes()
    assert tuple(read_rgba(grey, "g")[0, 0]) == (100, 100, 100, 255)
    bgr = cv2.imencode(".png", np.dstack([np.full((4, 4), v, np.uint8) for v in (10, 20, 30)]))[1].tobytes()
    assert tuple(read_rgba(bgr, "c")[0, 0]) == (30, 20, 10, 255)
    bgra = cv2.imencode(".png", np.dstack([np.full((4, 4), v, np.uint8) for v in (10, 20, 30, 40)]))[1].tobytes()
    assert tuple(read_rgba(bgra, "a")[0, 0]) == (30, 20, 10, 40)
    deep = cv2.imencode(".png", np.full((4, 4, 3), 257 * 200, np.uint16))[1].tobytes()
    assert tuple(read_rgba(deep, "d")[0, 0]) == (200, 200, 200, 255)
    with pytest.raises(ValueError, match="bad.png"):
        read_rgba(b"nope", "bad.png")


# --- boxes mode -----------------------------------------------------------------------------------------------


def test_boxes_are_drawn_in_the_colour_of_the_emotion_with_its_label(photo: np.ndarray) -> None:
    assert len(set(COLOURS.values())) == 7
    for emotion, colour in COLOURS.items():
        out = photo.copy()
        face = Face(box=BOX, score=0.9, emotion=emotion, probabilities={emotion: 0.87})
        draw_boxes(out, [face])
        assert tuple(out[150, 180]) == colour or tuple(out[150, 181]) == colour  # the left edge
        label = out[50:90, 180:300]  # above the box: there is room
        assert (label == colour).all(axis=2).mean() > 0.15
        assert (label == 0).all(axis=2).any()  # black text on it


def test_a_box_too_near_the_top_has_its_label_below() -> None:
    img = np.full((300, 400, 3), 255, np.uint8)
    draw_boxes(img, [Face(box=(100.0, 2.0, 200.0, 100.0), emotion="sad", probabilities={"sad": 0.5})])
    below = img[100:140, 100:200]
    assert (below == COLOURS["sad"]).all(axis=2).mean() > 0.15


def test_the_box_thickness_follows_the_picture() -> None:
    for side, thick in [(300, 2), (1000, 4), (2000, 8)]:
        img = np.zeros((side, side, 3), np.uint8)
        draw_boxes(img, [Face(box=(100.0, 100.0, 200.0, 200.0))])
        col = img[150, 90:110, 1]
        assert (col == 255).sum() == pytest.approx(thick, abs=1), side  # no emotion: yellow (0, 255, 255)


def test_render_modes_and_the_largest_face_below(photo: np.ndarray, emoji: EmojiSet) -> None:
    big = Face(box=(150.0, 60.0, 310.0, 240.0), emotion="happy")
    small = Face(box=(220.0, 130.0, 250.0, 160.0), emotion="angry")
    out = render(photo, [small, big], emoji=emoji)
    alone = photo.copy()
    cover_face(alone, big.box, "emoji", emotion="happy", emoji=emoji)
    cover_face(alone, small.box, "emoji", emotion="angry", emoji=emoji)
    assert (out == alone).all()  # the small face drawn last, on top
    assert (photo == skdata.astronaut()[:, :, :3]).all()  # copied: the input is untouched
    both = render(photo, [big], mode="both", emoji=emoji)
    boxes = render(photo, [big], mode="boxes")
    assert (both != boxes).any() and (both != render(photo, [big], emoji=emoji)).any()
    same = photo.copy()
    assert render(same, [big], copy=False, emoji=emoji) is same
    with pytest.raises(ValueError):
        render(photo, [big], mode="faces")
    with pytest.raises(ValueError):
        render(photo, [big], cover="glitter")


# --- the cache --------------------------------------------------------------------------------------------------


def test_the_cache_drops_the_least_recently_used_beyond_its_bytes() -> None:
    c = ByteLRU(300)
    for k in "abc":
        c.put(k, np.zeros(100, np.uint8))
    assert len(c) == 3 and c.nbytes == 300
    c.get("a")
    c.put("d", np.zeros(100, np.uint8))
    assert c.get("b") is None and c.get("a") is not None and c.nbytes == 300
    c.put("a", (np.zeros(50, np.uint8), np.zeros(50, np.uint8)))  # a tuple counts all its arrays
    assert c.nbytes == 300
    c.put("huge", np.zeros(301, np.uint8))
    assert c.get("huge") is None and c.nbytes == 300
    c.clear()
    assert len(c) == 0 and c.nbytes == 0
    assert len(ByteLRU(0)) == 0
    with pytest.raises(ValueError):
        ByteLRU(-1)


def test_the_label_sits_above_the_box_not_on_the_face(photo: np.ndarray) -> None:
    out = photo.copy()
    draw_boxes(out, [Face(box=BOX, emotion="happy", probabilities={"happy": 0.9})])
    inside = (slice(int(BOX[1]) + 4, int(BOX[1]) + 20), slice(int(BOX[0]) + 4, int(BOX[2]) - 4))
    assert (out[inside] == photo[inside]).all()  # the face under the top edge is untouched
    above = out[int(BOX[1]) - 24 : int(BOX[1]) - 4, int(BOX[0]) : int(BOX[0]) + 60]
    assert (above == COLOURS["happy"]).all(axis=2).mean() > 0.3


def test_small_boxes_get_a_readable_label_and_large_ones_a_larger_one() -> None:
    def label_height(side: float) -> int:
        img = np.zeros((1200, 1200, 3), np.uint8)
        draw_boxes(img, [Face(box=(100.0, 400.0, 100.0 + side, 400.0 + side), emotion="sad")])
        rows = np.nonzero((img[:400, 100:] == COLOURS["sad"]).all(axis=2).any(axis=1))[0]
        return int(rows.max() - rows.min() + 1)

    small, large = label_height(40), label_height(660)
    assert 12 <= small <= 20  # font scale 0.45 for any box up to 99 pixels
    assert label_height(60) == small
    assert large > 2.5 * small  # 660 / 220 = 3


def test_a_blurred_sliver_at_the_edge_of_the_frame(photo: np.ndarray) -> None:
    out = photo.copy()
    cover_face(out, (-188.0, 200.0, -38.0, 350.0), "blur")  # its disc reaches two pixels into the frame
    left, _, side = emoji_box((-188.0, 200.0, -38.0, 350.0))
    assert 0 < left + side <= 4
    assert changed(out, photo)[:, :4].any() and not changed(out, photo)[:, 4:].any()
