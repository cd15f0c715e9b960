"""Emoji overlay: faces fully covered, correct clipping at borders, the three modes."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pytest
from skimage import data

from conftest import compose_faces
from facemoji.overlay import EmojiSet, render
from facemoji.overlay.emoji import emoji_box
from facemoji.types import Face


def covered_mask(image: np.ndarray, faces: list[Face], emoji: EmojiSet) -> np.ndarray:
    """Pixels whose output does not depend on the picture underneath (opaque emoji).

    Render the emoji over the image and over its negative: where the two
    results agree (within rounding), nothing of the face shows through.
    """
    a = render(image, faces, "emoji", emoji).astype(int)
    b = render(255 - image, faces, "emoji", emoji).astype(int)
    return (np.abs(a - b) <= 2).all(axis=2)


@pytest.fixture(scope="module")
def emoji() -> EmojiSet:
    return EmojiSet()


def test_every_found_face_box_is_covered(pipeline, astronaut_face, emoji):
    img = compose_faces(astronaut_face, [(20, 140, 170), (240, 60, 150), (440, 200, 180)])
    faces = pipeline.analyze(img)
    assert len(faces) == 3
    mask = covered_mask(img, faces, emoji)
    for f in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        assert mask[y1:y2, x1:x2].mean() > 0.995, f"face {f.box} shows through"


def test_face_at_the_border_is_clipped_and_covered(pipeline, astronaut_face, emoji):
    img = compose_faces(astronaut_face, [(-110, 300, 240), (520, -60, 200)])
    faces = pipeline.analyze(img)
    assert len(faces) == 2
    mask = covered_mask(img, faces, emoji)
    for f in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        assert x1 >= 0 and y1 >= 0 and x2 <= img.shape[1] and y2 <= img.shape[0]
        assert mask[y1:y2, x1:x2].mean() > 0.995
        left, top, side = emoji_box(f.box)
        assert left < 0 or top < 0 or left + side > img.shape[1] or top + side > img.shape[0]


def test_emoji_matches_the_emotion(emoji, astronaut):
    box = (100.0, 100.0, 220.0, 250.0)
    happy = render(astronaut, [Face(box=box, emotion="happy")], "emoji", emoji)
    sad = render(astronaut, [Face(box=box, emotion="sad")], "emoji", emoji)
    inside = (slice(110, 240), slice(110, 210))
    assert np.abs(happy[inside].astype(int) - sad[inside].astype(int)).mean() > 10
    # nothing changes far from the face
    assert (happy[400:, 400:] == astronaut[400:, 400:]).all()


def test_boxes_mode_draws_the_frame_but_keeps_the_face(pipeline, astronaut):
    faces = pipeline.analyze(astronaut)
    out = pipeline.render(astronaut, faces, "boxes")
    x1, y1, x2, y2 = (int(round(v)) for v in faces[0].box)
    # interior of the face untouched, the frame's edges changed
    assert (out[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10] == astronaut[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10]).all()
    assert (out[y1 + 10 : y2 - 10, x1] != astronaut[y1 + 10 : y2 - 10, x1]).any(axis=1).mean() > 0.9
    both = pipeline.render(astronaut, faces, "both")
    assert not (both[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10] == astronaut[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10]).all()


def test_tiny_and_outside_boxes_do_not_fail(emoji, astronaut):
    faces = [Face(box=(0.0, 0.0, 1.0, 1.0), emotion="fear"), Face(box=(600.0, 600.0, 700.0, 700.0), emotion="angry"),
             Face(box=(-50.0, -50.0, 10.0, 10.0), emotion="disgust")]
    out = render(astronaut, faces, "both", emoji)
    assert out.shape == astronaut.shape and out.dtype == np.uint8


def test_unknown_mode_is_rejected(astronaut):
    with pytest.raises(ValueError, match="mode"):
        render(astronaut, [], "blur")


def test_emoji_decoded_without_pillow_match_pillows_reading(emoji) -> None:
    from PIL import Image

    from facemoji.labels import EMOTIONS

    folder = importlib.resources.files("facemoji") / "assets" / "emoji"
    for name in EMOTIONS:
        with Image.open(str(folder / f"{name}.png")) as im:
            assert np.array_equal(emoji.images[name], np.asarray(im.convert("RGBA")))


def test_emoji_without_alpha_are_opaque_and_a_broken_file_is_named(tmp_path) -> None:
    from PIL import Image

    from facemoji.labels import EMOTIONS

    rgb = data.astronaut()[:64, :64]
    for name in EMOTIONS:
        Image.fromarray(rgb).save(tmp_path / f"{name}.png")
    custom = EmojiSet(str(tmp_path))
    assert custom.images["happy"].shape == (64, 64, 4)
    assert (custom.images["happy"][..., 3] == 255).all()
    assert np.array_equal(custom.images["happy"][..., :3], rgb)
    (tmp_path / "sad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="sad.png"):
        EmojiSet(str(tmp_path))
