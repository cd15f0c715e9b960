"""The small Python API on real faces."""

from __future__ import annotations

import numpy as np
from PIL import Image

import facemoji
from facemoji.labels import EMOTIONS


def test_analyze_array_and_path_agree(tmp_path, astronaut):
    faces = facemoji.analyze(astronaut)
    assert len(faces) == 1
    f = faces[0]
    assert f.emotion in EMOTIONS
    assert set(f.probabilities) == set(EMOTIONS)
    assert abs(sum(f.probabilities.values()) - 1) < 1e-4
    assert f.emotion == max(f.probabilities, key=f.probabilities.get)
    p = tmp_path / "a.png"
    Image.fromarray(astronaut).save(p)
    g = facemoji.analyze(str(p))[0]
    assert np.allclose(g.box, f.box, atol=1) and g.emotion == f.emotion


def test_face_locations_and_emojify(astronaut):
    boxes = facemoji.face_locations(astronaut)
    assert len(boxes) == 1 and all(isinstance(v, int) for v in boxes[0])
    out = facemoji.emojify(astronaut)
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    x1, y1, x2, y2 = boxes[0]
    assert np.abs(out[y1:y2, x1:x2].astype(int) - astronaut[y1:y2, x1:x2]).mean() > 20
    assert (out[400:, :100] == astronaut[400:, :100]).all()  # the input is not modified, elsewhere unchanged
    assert not (out == astronaut).all()


def test_pipeline_for_many_frames(astronaut):
    pipe = facemoji.Pipeline()
    for k in range(3):
        frame = np.roll(astronaut, 20 * k, axis=1)
        out, faces = pipe.process(frame)
        assert len(faces) == 1 and out.shape == frame.shape
        assert pipe.timings.detect > 0 and pipe.timings.classify > 0
