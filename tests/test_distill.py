"""Distillation: the shipped model read back into PyTorch, and a short student run that learns from its teacher."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="distillation needs facemoji[train]")
pytest.importorskip("onnx", reason="reading the shipped model back needs onnx (facemoji[train])")

pytestmark = pytest.mark.timeout(900)


def test_the_shipped_network_read_back_gives_the_shipped_probabilities(fer_public):
    """The float network rebuilt from the int8 file, wrapped with the same views, agrees with onnxruntime on
    real PublicTest faces: the same class for nearly every face and close probabilities."""
    from facemoji.classify import EmotionClassifier
    from facemoji.train.export import Deployed
    from facemoji.train.from_onnx import load_shipped, normalization

    clf = EmotionClassifier()
    model, meta = load_shipped(clf.path)
    mean, std = normalization(meta)
    tta = json.loads(meta["facemoji.preprocessing"])["tta"]
    assert "flip" in tta and "0.92" in tta  # the views the wrapper below rebuilds
    x, y = fer_public["x"][:400], fer_public["y"][:400]
    with torch.no_grad():
        p_torch = Deployed(model, mean, std, flip=True, zooms=(0.92,)).eval()(
            torch.from_numpy(x).float()[:, None]).numpy()
    p_onnx = clf.predict_crops(x[:, None].astype(np.float32))
    agree = (p_torch.argmax(1) == p_onnx.argmax(1)).mean()
    assert agree >= 0.95, agree
    assert np.median(np.abs(p_torch - p_onnx).max(1)) < 0.05
    # and it is a good model, not merely a consistent one
    assert (p_torch.argmax(1) == y).mean() >= 0.65


def test_class_sampling_draws_classes_by_the_power_of_their_counts():
    from facemoji.train.distill import class_sampling_weights

    y = np.array([3] * 900 + [6] * 100 + [2] * 4)
    p = class_sampling_weights(y, 0.5)
    share = {c: p[y == c].sum() for c in (3, 6, 2)}
    assert share[3] / share[6] == pytest.approx(3.0)
    assert share[6] / share[2] == pytest.approx(5.0)
    assert p.sum() == pytest.approx(1.0)
    assert np.allclose(class_sampling_weights(y, 0.0)[y == 2].sum(), 1 / 3)


def test_a_short_student_run_learns_its_teacher(fer_train, fer_public, tmp_path):
    """The teacher's network with its last layer wiped (every face gets 1/7 for every class) is trained for two
    epochs on 384 real faces toward the teacher's four-view probabilities: afterwards its single pass agrees with
    the teacher on most of those faces and the divergence from the teacher has more than halved. Targets paired
    with the wrong faces would leave it near chance. best.pt then exports and runs like any checkpoint."""
    from facemoji.classify import EmotionClassifier
    from facemoji.train.distill import DistillConfig, distill, single_pass_probs
    from facemoji.train.export import export_onnx
    from facemoji.train.from_onnx import load_shipped, normalization

    n = 384
    np.savez(tmp_path / "train.npz", x=fer_train["x"][:n], y=fer_train["y"][:n], row_index=fer_train["row_index"][:n])
    np.savez(tmp_path / "val.npz", x=fer_public["x"][:64], y=fer_public["y"][:64])
    teacher = EmotionClassifier()
    x = fer_train["x"][:n]
    t = teacher.predict_crops(x[:, None].astype(np.float32))
    model, meta = load_shipped(teacher.path)
    mean, std = normalization(meta)
    with torch.no_grad():
        model.head[6].weight.zero_()
        model.head[6].bias.zero_()
    torch.save({"model": model.state_dict()}, tmp_path / "wiped.pt")

    def kl(p: np.ndarray) -> float:
        return float((t * (np.log(t + 1e-7) - np.log(p + 1e-7))).sum(1).mean())

    before = kl(single_pass_probs(model, x, mean, std))
    cfg = DistillConfig(data=str(tmp_path / "train.npz"), val_data=str(tmp_path / "val.npz"), out=str(tmp_path / "run"),
                        init=str(tmp_path / "wiped.pt"), epochs=2, lr=0.02, teacher_weight=1.0, erase_prob=0.0,
                        batch_size=32)
    best = distill(cfg)
    ckpt = torch.load(best, map_location="cpu", weights_only=False)
    model.load_state_dict(ckpt["model"])
    p_student = single_pass_probs(model, x, mean, std)
    after = kl(p_student)
    assert after < 0.5 * before, (before, after)
    assert (p_student.argmax(1) == t.argmax(1)).mean() >= 0.6
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    # best.pt is the epoch of the best recorded accuracy, and that figure is its accuracy on val.npz, recounted
    assert len(history) == 2 and ckpt["val_acc"] == max(h["val_acc"] for h in history)
    assert history[ckpt["epoch"]]["val_acc"] == ckpt["val_acc"]
    val_x, val_y = fer_public["x"][:64], fer_public["y"][:64]
    p_val = single_pass_probs(model, val_x, ckpt["config"]["mean"], ckpt["config"]["std"])
    assert ckpt["val_acc"] == pytest.approx((p_val.argmax(1) == val_y).mean(), abs=1.5 / 64)
    onnx_path = export_onnx(best, tmp_path / "student.onnx", tta=False)
    student = EmotionClassifier(onnx_path)
    assert "none" in student.metadata["facemoji.preprocessing"]
    p = student.predict_crops(x[:64, None].astype(np.float32))
    assert np.allclose(p, p_student[:64], atol=1e-3)


def test_several_teachers_are_averaged_and_their_targets_cached_by_name(fer_train, fer_public, tmp_path):
    """Two teachers (the four-view and the one-view shipped files): the cached targets are the mean of their
    probabilities on every training face, the cache names both, and a run with another teacher set does not
    reuse it."""
    from facemoji.classify import EmotionClassifier, default_model_path
    from facemoji.train.distill import DistillConfig, distill

    n = 96
    np.savez(tmp_path / "train.npz", x=fer_train["x"][:n], y=fer_train["y"][:n], row_index=fer_train["row_index"][:n])
    np.savez(tmp_path / "val.npz", x=fer_public["x"][:32], y=fer_public["y"][:32])
    pair = (str(default_model_path("full")), str(default_model_path("fast")))
    x = fer_train["x"][:n, None].astype(np.float32)
    p = [EmotionClassifier(t).predict_crops(x) for t in pair]
    assert (p[0].argmax(1) != p[1].argmax(1)).any() or not np.allclose(p[0], p[1], atol=1e-3)
    cfg = DistillConfig(data=str(tmp_path / "train.npz"), val_data=str(tmp_path / "val.npz"), out=str(tmp_path / "run"),
                        teachers=pair, epochs=1, batch_size=32)
    distill(cfg)
    with np.load(tmp_path / "run" / "teacher_targets.npz") as d:
        assert list(d["teachers"]) == ["emotion.onnx", "emotion_fast.onnx"]
        assert np.allclose(d["fer"], (p[0] + p[1]) / 2, atol=1e-5)
    cfg.teachers = pair[1:]
    cfg.epochs = 2
    distill(cfg, resume=True)
    with np.load(tmp_path / "run" / "teacher_targets.npz") as d:
        assert list(d["teachers"]) == ["emotion_fast.onnx"]
        assert np.allclose(d["fer"], p[1], atol=1e-5)
