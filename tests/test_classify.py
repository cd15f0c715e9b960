"""The shipped emotion model, run as the runtime runs it, on real FER2013 faces."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from facemoji.classify import EmotionClassifier, default_model_path
from facemoji.errors import ModelError
from facemoji.labels import EMOTIONS


@pytest.fixture(scope="module")
def clf() -> EmotionClassifier:
    return EmotionClassifier()


def test_metadata_describes_the_model(clf):
    assert clf.classes == EMOTIONS
    assert clf.size == 48 and clf.gray
    crop = json.loads(clf.metadata["facemoji.crop"])
    assert set(crop) == {"scale", "dx", "dy"} and 0.8 < crop["scale"] < 1.5
    assert default_model_path().stat().st_size <= 20 * 1024 * 1024


def test_shipped_model_is_accurate_on_publictest_rows(clf, fer_public):
    x, y = fer_public["x"][:1000], fer_public["y"][:1000]
    probs = clf.predict_crops(x[:, None].astype(np.float32))
    assert np.allclose(probs.sum(1), 1, atol=1e-4)
    acc = (probs.argmax(1) == y).mean()
    assert acc > 0.68, f"accuracy {acc:.3f} on 1000 PublicTest rows"
    # every class gets predicted, and happy (the easiest) is mostly right
    assert set(probs.argmax(1)) == set(range(7)) - ({1} if (y == 1).sum() < 5 else set())
    assert (probs.argmax(1)[y == 3] == 3).mean() > 0.8


def test_flip_invariance_is_built_in(clf, fer_public):
    x = fer_public["x"][:64, None].astype(np.float32)
    a = clf.predict_crops(x)
    b = clf.predict_crops(x[..., ::-1].copy())
    assert np.abs(a - b).max() < 1e-4


def test_faces_found_in_photos_are_classified_like_the_rows(pipeline, fer_public):
    """FER2013 faces, upscaled and placed in a larger picture, go through detection and cropping:
    the classes the whole pipeline gives agree with the classes of the original 48x48 rows."""
    clf = pipeline.classifier
    agree = found = 0
    idx = np.arange(0, 3589, 30)[:100]
    for i in idx:
        row = fer_public["x"][i]
        face = cv2.resize(row, (144, 144), interpolation=cv2.INTER_CUBIC)
        canvas = cv2.copyMakeBorder(face, 72, 72, 120, 120, cv2.BORDER_REPLICATE)
        faces = pipeline.analyze(cv2.cvtColor(canvas, cv2.COLOR_GRAY2RGB))
        if not faces:
            continue
        found += 1
        direct = clf.predict_crops(row[None, None].astype(np.float32))[0].argmax()
        agree += EMOTIONS.index(faces[0].emotion) == direct
    assert found >= 70
    assert agree / found > 0.75, f"{agree}/{found}"


def test_not_our_model_is_refused(tmp_path):
    from facemoji.detect.centerface import centerface_model_path

    with pytest.raises(ModelError, match="not a facemoji emotion model"):
        EmotionClassifier(centerface_model_path())
    (tmp_path / "x.onnx").write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="not a readable ONNX"):
        EmotionClassifier(tmp_path / "x.onnx")
    with pytest.raises(ModelError, match="not found"):
        EmotionClassifier(tmp_path / "none.onnx")


def test_every_cpu_computes_the_calibrated_answer(clf, fer_public):
    """onnxruntime fuses the int8 graph into integer kernels; on x86 CPUs without VNNI these add pairs of
    uint8 x int8 products in saturating 16-bit sums. The fused session must agree with the unfused one
    (which computes each quantized layer in float), whatever CPU runs the test."""
    import onnxruntime as ort

    x = fer_public["x"][:512, None].astype(np.float32)
    fused = clf.predict_crops(x)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    plain = ort.InferenceSession(str(clf.path), opts, providers=["CPUExecutionProvider"])
    ref = plain.run(None, {plain.get_inputs()[0].name: x})[0]
    assert (fused.argmax(1) == ref.argmax(1)).mean() >= 0.99
    assert np.abs(fused - ref).mean() < 0.01


def test_int8_weights_cannot_overflow_16_bit_pair_sums(clf):
    """The same promise checked on the file itself, so that it fails on any CPU: every int8 weight is at
    most 64 in magnitude (2 x 255 x 64 < 32768)."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    m = onnx.load(str(clf.path))
    weights = [numpy_helper.to_array(i) for i in m.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    big = [w for w in weights if w.ndim >= 2]
    assert len(big) >= 8
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in big) <= 64


def test_the_fast_model_is_the_same_network_read_once(clf, fer_public):
    """``fast`` (video and cameras) is the shipped network without the in-graph views: the same metadata apart
    from the views, about as accurate on PublicTest rows, and it mostly names the class the four views name."""
    fast = EmotionClassifier("fast")
    assert fast.path.name == "emotion_fast.onnx" and fast.path.stat().st_size <= 20 * 1024 * 1024
    assert fast.classes == clf.classes and fast.crop == clf.crop and fast.size == clf.size
    assert json.loads(fast.metadata["facemoji.preprocessing"])["tta"] == "none"
    assert "4 views" in json.loads(clf.metadata["facemoji.preprocessing"])["tta"]
    x, y = fer_public["x"][:1000, None].astype(np.float32), fer_public["y"][:1000]
    one, four = fast.predict_crops(x).argmax(1), clf.predict_crops(x).argmax(1)
    assert (one == y).mean() > 0.66 and (four == y).mean() - (one == y).mean() < 0.04
    assert (one == four).mean() > 0.85
    # not the same file under another name: flipping a face changes what one view sees
    assert np.abs(fast.predict_crops(x[:64]) - fast.predict_crops(x[:64, :, :, ::-1].copy())).max() > 1e-3


def test_models_are_named_or_given_as_files(tmp_path, monkeypatch):
    from facemoji.classify.emotion import model_path_of

    assert model_path_of(None) == default_model_path("full") == default_model_path()
    assert model_path_of("fast") == default_model_path("fast") != default_model_path("full")
    assert model_path_of(None, default="fast") == default_model_path("fast")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fast").mkdir()  # a folder of that name does not hide the shipped model
    assert model_path_of("fast") == default_model_path("fast")
    (tmp_path / "full").write_bytes(b"not a model")  # a file of that name is that file
    assert model_path_of("full").resolve() == tmp_path / "full"
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        EmotionClassifier("full")
