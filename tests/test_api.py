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


def test_pipelines_share_loaded_models(astronaut):
    """``share``: a pipeline reuses the models it has in common with another instead of loading its own."""
    from facemoji.options import Options

    first = Options(detect_size=320, threads=1).pipeline("photo")
    strict = facemoji.Pipeline(options=first.options.with_(strict=True, cover="blur"), kind="photo", share=first)
    assert strict.detector is first.detector and strict.classifier is first.classifier and strict.emoji is first.emoji
    assert strict.options.strict and strict.cover == "blur"
    # frames: the same detector (320 px), but the fast model of its own
    frames = facemoji.Pipeline(options=Options(threads=1), kind="frames", share=first)
    assert frames.detector is first.detector and frames.classifier is not first.classifier
    assert frames.classifier.path != first.classifier.path and frames.emoji is first.emoji
    # a finer detection: a detector of its own, the same classifier
    fine = facemoji.Pipeline(options=Options(threads=1), kind="photo", share=first)
    assert fine.detector is not first.detector and fine.classifier is first.classifier
    a, b = first.analyze(astronaut), fine.analyze(astronaut)
    assert len(a) == len(b) == 1 and a[0].emotion == b[0].emotion
    assert np.allclose(strict.analyze(astronaut)[0].box, a[0].box)
