"""Detection on real faces: where they are, how many, at the border, none at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import facemoji
from conftest import compose_faces
from facemoji.detect import get_detector
from facemoji.errors import ModelError

ASTRONAUT_FACE = (180, 62, 271, 178)  # head of the astronaut, by eye, in the 512x512 photo


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def centerface():
    return get_detector("centerface", size=640)


def test_astronaut_face_found_where_it_is(centerface, astronaut):
    faces = centerface.detect(astronaut)
    assert len(faces) == 1
    assert iou(faces[0].box, ASTRONAUT_FACE) > 0.6
    assert 0.5 < faces[0].score <= 1.0
    # landmarks: eyes above the mouth, inside the box
    lm = faces[0].landmarks
    assert lm.shape == (5, 2)
    assert lm[:2, 1].mean() < lm[3:, 1].mean()


def test_three_faces_composed(centerface, astronaut_face):
    layout = [(20, 140, 170), (240, 60, 150), (440, 200, 180)]
    img = compose_faces(astronaut_face, layout)
    faces = centerface.detect(img)
    assert len(faces) == 3
    for x, y, side in layout:
        # the face sits at (55..146, 42..158) of the 200 px crop
        s = side / 200
        truth = (x + 55 * s, y + 42 * s, x + 146 * s, y + 158 * s)
        assert max(iou(f.box, truth) for f in faces) > 0.5


def test_no_face_in_a_coffee_cup(centerface):
    from skimage import data

    assert centerface.detect(data.coffee()) == []


def test_face_cut_by_the_border_is_found(centerface, astronaut_face):
    # the face's left third is outside the picture
    img = compose_faces(astronaut_face, [(-110, 100, 240)])
    faces = centerface.detect(img)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0].box
    assert x1 == 0 and 0 < x2 < 140


def test_small_detection_size_still_finds_the_astronaut(astronaut):
    faces = get_detector("centerface", size=160).detect(astronaut)
    assert len(faces) == 1 and iou(faces[0].box, ASTRONAUT_FACE) > 0.5


def test_haar_detector_finds_the_astronaut(astronaut):
    faces = get_detector("haar").detect(astronaut)
    assert len(faces) >= 1
    assert max(iou(f.box, ASTRONAUT_FACE) for f in faces) > 0.5


def test_unknown_and_misconfigured_detectors_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="unknown detector"):
        get_detector("retina")
    assert get_detector("yunet").name == "yunet"  # the shipped model, no file needed
    with pytest.raises(ModelError, match="not a YuNet model"):
        get_detector(f"yunet:{Path(facemoji.__file__).parent / 'models' / 'emotion_fast.onnx'}")
    with pytest.raises(ModelError, match="not found"):
        get_detector(f"yunet:{tmp_path / 'missing.onnx'}")
    with pytest.raises(ModelError, match="size"):
        get_detector("centerface", size=8)


def test_grayscale_face_is_found(centerface, astronaut):
    gray = np.repeat(astronaut.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    faces = centerface.detect(gray)
    assert len(faces) == 1 and iou(faces[0].box, ASTRONAUT_FACE) > 0.6
