"""A short real training run: CLI -> checkpoint -> ONNX export -> runtime, and the edges around it."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import facemoji_command, popen_for_ctrl_c, run_facemoji

torch = pytest.importorskip("torch", reason="training tests need facemoji[train]")

# real training runs: on a busy 2-core machine one of them can take several minutes
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


facemoji = functools.partial(run_facemoji, timeout=600)  # training runs take minutes on a slow machine


@pytest.fixture(scope="module")
def small_data(tmp_path_factory, fer_train, fer_public):
    d = tmp_path_factory.mktemp("data")
    np.savez(d / "train.npz", x=fer_train["x"][:320], y=fer_train["y"][:320], row_index=fer_train["row_index"][:320])
    np.savez(d / "val.npz", x=fer_public["x"][:128], y=fer_public["y"][:128])
    return d


@pytest.fixture(scope="module")
def trained(small_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    proc = facemoji("train", "--data", small_data / "train.npz", "--val-data", small_data / "val.npz",
                    "--out", out, "--epochs", "1", "--arch", "emovgg", "--export", out / "m.onnx")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def small_net(name: str) -> torch.nn.Module:
    """A four-stage CNN of 60k weights: the training loop's behaviour, at a size that learns in seconds."""
    from torch import nn

    def stage(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*stage(1, 16), *stage(16, 32), *stage(32, 64), *stage(64, 64), nn.Flatten(),
                         nn.Linear(64 * 3 * 3, 7))


def test_a_short_run_learns_happy_from_surprise(fer_train, fer_public, tmp_path, monkeypatch):
    """800 real training faces (400 happy, 400 surprise), 6 epochs: the loss falls and held-out faces of the two
    classes are told apart well above chance (50 %), measured here on the saved checkpoint."""
    import facemoji.train.trainer as trainer
    from facemoji.labels import EMOTIONS
    from facemoji.train.export import load_checkpoint

    monkeypatch.setattr(trainer, "build_model", small_net)
    monkeypatch.setattr("facemoji.train.export.build_model", small_net)
    happy, surprise = EMOTIONS.index("happy"), EMOTIONS.index("surprise")
    tr = np.concatenate([np.flatnonzero(fer_train["y"] == c)[:400] for c in (happy, surprise)])
    va = np.concatenate([np.flatnonzero(fer_public["y"] == c)[:150] for c in (happy, surprise)])
    np.savez(tmp_path / "train.npz", x=fer_train["x"][tr], y=fer_train["y"][tr])
    np.savez(tmp_path / "val.npz", x=fer_public["x"][va], y=fer_public["y"][va])
    cfg = trainer.TrainConfig(data=str(tmp_path / "train.npz"), val_data=str(tmp_path / "val.npz"),
                              out=str(tmp_path / "run"), epochs=6, batch_size=32, lr=0.1, warmup_epochs=1,
                              erase_prob=0.0, bf16=False)
    best = trainer.train(cfg)
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    losses = [h["train_loss"] for h in hist]
    assert losses[-1] < 1.2 < np.log(7), losses  # an untrained 7-way network scores about ln 7 = 1.95
    assert losses[-1] < min(losses[:2]), losses
    model, saved, _ = load_checkpoint(best)
    probs = trainer.predict_proba(model, fer_public["x"][va], trainer.TrainConfig(**saved))
    pred = probs.argmax(1)
    assert np.isin(pred, [happy, surprise]).mean() > 0.9  # it learned that only these two classes occur
    acc = float((pred == fer_public["y"][va]).mean())
    assert acc >= 0.7, (acc, hist)
    for c in (happy, surprise):  # both classes recognised, not one class guessed for everything
        assert (pred[fer_public["y"][va] == c] == c).mean() >= 0.5, (c, acc)


def test_checkpoint_config_and_curves_are_written(trained, small_data):
    from facemoji.train.export import load_checkpoint
    from facemoji.train.trainer import TrainConfig, predict_proba

    cfg = json.loads((trained / "config.json").read_text())
    assert cfg["arch"] == "emovgg" and cfg["epochs"] == 1 and cfg["seed"] == 0
    # the normalisation is the training faces' own, measured here (not the config's 0 and 1 left in place)
    x01 = np.load(small_data / "train.npz")["x"].astype(np.float64) / 255.0
    assert cfg["mean"] == pytest.approx(x01.mean(), rel=1e-5) and cfg["std"] == pytest.approx(x01.std(), rel=1e-5)
    hist = json.loads((trained / "history.json").read_text())
    # the recorded accuracy is the checkpoint's on the validation faces, recounted here
    model, saved, _ = load_checkpoint(trained / "best.pt")
    val = np.load(small_data / "val.npz")
    acc = float((predict_proba(model, val["x"], TrainConfig(**{**saved, "bf16": False})).argmax(1) == val["y"]).mean())
    assert len(hist) == 1 and hist[0]["val_acc"] == pytest.approx(acc, abs=1.5 / len(val["y"])), (hist, acc)
    assert (trained / "training_curves.png").stat().st_size > 1000
    assert (trained / "last.pt").exists() and (trained / "best.pt").exists()


def test_exported_onnx_agrees_with_pytorch(trained, fer_public):
    from facemoji.classify import EmotionClassifier
    from facemoji.labels import EMOTIONS
    from facemoji.train.export import load_checkpoint
    from facemoji.train.trainer import TrainConfig, predict_proba

    clf = EmotionClassifier(trained / "m.onnx")
    assert clf.classes == EMOTIONS and clf.size == 48 and clf.gray
    assert json.loads(clf.metadata["facemoji.preprocessing"])["tta"].startswith("horizontal flip")
    x = fer_public["x"][200:264]
    onnx_p = clf.predict_crops(x[:, None].astype(np.float32))
    model, cfg, _ = load_checkpoint(trained / "best.pt")
    tc = TrainConfig(**{**cfg, "bf16": False})
    torch_p = predict_proba(model, x, tc, tta=True)
    assert onnx_p.shape == (64, 7)
    assert np.allclose(onnx_p.sum(1), 1, atol=1e-4)
    assert np.abs(onnx_p - torch_p).max() < 1e-3
    assert (onnx_p.argmax(1) == torch_p.argmax(1)).mean() >= 0.98


def test_shift_averaging_export_agrees_with_pytorch(trained, fer_public, tmp_path):
    from facemoji.classify import EmotionClassifier
    from facemoji.train.export import Deployed, load_checkpoint

    proc = facemoji("export", trained / "best.pt", "-o", tmp_path / "s.onnx", "--shift", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    clf = EmotionClassifier(tmp_path / "s.onnx")
    assert "10 views" in json.loads(clf.metadata["facemoji.preprocessing"])["tta"]
    x = fer_public["x"][300:332, None].astype(np.float32)
    onnx_p = clf.predict_crops(x)
    model, cfg, _ = load_checkpoint(trained / "best.pt")
    shifted = Deployed(model, cfg["mean"], cfg["std"], flip=True, shifts=((2, 0), (-2, 0), (0, 2), (0, -2)))
    flip_only = Deployed(model, cfg["mean"], cfg["std"], flip=True)
    with torch.no_grad():
        torch_p = shifted(torch.from_numpy(x)).numpy()
        flip_p = flip_only(torch.from_numpy(x)).numpy()
    assert np.abs(onnx_p - torch_p).max() < 1e-4
    assert np.abs(onnx_p - flip_p).max() > 1e-4  # the shifted views do change the answer
    mirrored = clf.predict_crops(x[..., ::-1].copy())
    assert np.abs(onnx_p - mirrored).max() < 1e-4  # the view set is symmetric, so mirroring changes nothing
    proc = facemoji("export", trained / "best.pt", "-o", tmp_path / "t.onnx", "--shift", "20")
    assert proc.returncode == 1 and "--shift" in proc.stderr


def test_zoom_matrix_matches_grid_sample_on_real_faces(fer_public):
    from facemoji.train.export import zoom_matrix

    x = torch.from_numpy(fer_public["x"][:8, None].astype(np.float32))
    for s in (0.8, 0.92, 1.08, 1.3):
        theta = torch.tensor([[1 / s, 0, 0], [0, 1 / s, 0]], dtype=torch.float32).expand(len(x), 2, 3)
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        ref = torch.nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False)
        a = zoom_matrix(48, s)
        assert (a @ x @ a.t() - ref).abs().max() < 0.01  # of 0..255
    a = zoom_matrix(48, 0.92)
    assert torch.allclose(a.sum(1), torch.ones(48))  # a weighted average of pixels: flat stays flat
    small = (a @ x @ a.t())[0, 0]
    # zoomed out, the middle of the face moves towards the centre: the centre row is nearly unchanged,
    # a row near the edge samples further out (border rows repeated)
    assert (small[24] - x[0, 0, 24]).abs().mean() < (small[2] - x[0, 0, 2]).abs().mean()


def test_zoom_and_int8_export_runs_in_the_runtime(trained, fer_public, small_data, tmp_path):
    from facemoji.classify import EmotionClassifier
    from facemoji.train.export import Deployed, load_checkpoint

    x = fer_public["x"][300:428, None].astype(np.float32)
    model, cfg, _ = load_checkpoint(trained / "best.pt")
    zoomed = Deployed(model, cfg["mean"], cfg["std"], flip=True, zooms=(0.92,))
    with torch.no_grad():
        torch_p = zoomed(torch.from_numpy(x)).numpy()

    proc = facemoji("export", trained / "best.pt", "-o", tmp_path / "z.onnx", "--zoom", "0.92")
    assert proc.returncode == 0, proc.stderr[-2000:]
    clf = EmotionClassifier(tmp_path / "z.onnx")
    assert "4 views" in json.loads(clf.metadata["facemoji.preprocessing"])["tta"]
    assert np.abs(clf.predict_crops(x) - torch_p).max() < 1e-4

    proc = facemoji("export", trained / "best.pt", "-o", tmp_path / "q.onnx", "--zoom", "0.92", "--int8")
    assert proc.returncode == 0, proc.stderr[-2000:]
    q = EmotionClassifier(tmp_path / "q.onnx")
    meta = json.loads(q.metadata["facemoji.quantization"])
    assert meta["activations"] == "int8" and "320 faces of train.npz" in meta["calibration"]  # all 320 (fewer than 512)
    assert (tmp_path / "q.onnx").stat().st_size < 0.5 * (tmp_path / "z.onnx").stat().st_size
    q_p = q.predict_crops(x)
    assert np.allclose(q_p.sum(1), 1, atol=1e-4)
    assert np.abs(q_p - torch_p).max() > 1e-5  # it really is a different (quantized) graph
    assert np.abs(q_p - torch_p).mean() < 0.02 and (q_p.argmax(1) == torch_p.argmax(1)).mean() >= 0.9

    for bad in (["--zoom", "1"], ["--zoom", "5"], ["--int8", "--calibration", tmp_path / "nothing.npz"]):
        proc = facemoji("export", trained / "best.pt", "-o", tmp_path / "bad.onnx", *bad)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-500:]
        assert not (tmp_path / "bad.onnx").exists()


def test_same_seed_same_first_steps(small_data, tmp_path):
    from facemoji.train.trainer import TrainConfig, train

    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        cfg = TrainConfig(data=str(small_data / "train.npz"), val_data=str(small_data / "val.npz"), out=str(out),
                          arch="emovgg", epochs=1, limit=128, bf16=False)
        train(cfg)
    ha = json.loads((a / "history.json").read_text())[0]
    hb = json.loads((b / "history.json").read_text())[0]
    assert ha["train_loss"] == pytest.approx(hb["train_loss"], rel=1e-4)


def test_best_epoch_is_chosen_by_float32_validation_in_the_last_part(small_data, tmp_path):
    from facemoji.train.export import load_checkpoint
    from facemoji.train.trainer import TrainConfig, predict_proba, train

    cfg = TrainConfig(data=str(small_data / "train.npz"), val_data=str(small_data / "val.npz"), out=str(tmp_path),
                      arch="emovgg", epochs=4, limit=128, val_fp32_from=0.5)
    train(cfg)
    hist = json.loads((tmp_path / "history.json").read_text())
    assert [h["val_fp32"] for h in hist] == [False, False, True, True]
    model, saved_cfg, best = load_checkpoint(tmp_path / "best.pt")
    # chosen among the float32 epochs only, whatever the bfloat16 epochs scored
    assert best["epoch"] in (2, 3) and best["val_acc"] == max(h["val_acc"] for h in hist[2:])
    val = np.load(small_data / "val.npz")
    acc = float((predict_proba(model, val["x"], TrainConfig(**saved_cfg)).argmax(1) == val["y"]).mean())
    assert acc == pytest.approx(best["val_acc"], abs=1.5 / len(val["y"]))


def test_ctrl_c_keeps_the_last_checkpoint_and_resume_continues(small_data, tmp_path):
    out = tmp_path / "run"
    cmd = facemoji_command("train", "--data", small_data / "train.npz", "--val-data", small_data / "val.npz",
                           "--out", out, "--epochs", "400", "--arch", "emovgg")
    proc = popen_for_ctrl_c(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        # the event: the first epoch's record is on disk (400 epochs cannot be done by then, on any machine)
        deadline = time.monotonic() + 600
        while not (out / "history.json").exists():
            assert proc.poll() is None, proc.communicate(timeout=60)[1][-3000:]
            assert time.monotonic() < deadline, "no epoch finished in 10 minutes"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted" in err and "Traceback" not in err
    done = len(json.loads((out / "history.json").read_text()))
    assert 1 <= done < 400
    ckpt = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] + 1 >= done
    resumed = facemoji("train", "--data", small_data / "train.npz", "--val-data", small_data / "val.npz",
                       "--out", out, "--epochs", str(ckpt["epoch"] + 2), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    hist = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in hist] == list(range(1, ckpt["epoch"] + 3))


def test_original_design_network_trains_through_the_same_code(small_data, tmp_path):
    proc = facemoji("train", "--recipe", "original", "--data", small_data / "train.npz", "--val-data",
                    small_data / "val.npz", "--out", tmp_path, "--epochs", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["arch"] == "original" and cfg["lr"] == 0.01 and cfg["recipe"] == "original"


def test_bad_training_inputs(tmp_path, small_data):
    (tmp_path / "bad.csv").write_text("emotion,pixels\n1,1 2 3\n")
    proc = facemoji("train", "--data", tmp_path / "bad.csv", "--out", tmp_path / "o")
    assert proc.returncode == 1 and "bad.csv, line 2" in proc.stderr and "Traceback" not in proc.stderr
    proc = facemoji("train", "--data", small_data / "train.npz", "--out", tmp_path / "none", "--resume")
    assert proc.returncode == 1 and "nothing to resume" in proc.stderr
    proc = facemoji("export", tmp_path / "bad.csv")
    assert proc.returncode == 1 and "not a facemoji checkpoint" in proc.stderr


def test_model_that_is_not_ours_is_refused(tmp_path, fer_public):
    from facemoji.detect.centerface import centerface_model_path

    np.savez(tmp_path / "v.npz", x=fer_public["x"][:10], y=fer_public["y"][:10])
    for model in (centerface_model_path(), os.devnull):
        proc = facemoji("evaluate", "--data", tmp_path / "v.npz", "--model", model)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "not a facemoji emotion model" in proc.stderr or "not a readable ONNX" in proc.stderr or "not found" in proc.stderr


def test_mixup_blends_faces_and_targets_and_trains(small_data, fer_train, tmp_path):
    from facemoji.train.trainer import _mixup

    x = torch.from_numpy(fer_train["x"][:16, None].astype(np.float32) / 255)
    t = torch.nn.functional.one_hot(torch.from_numpy(fer_train["y"][:16]).long(), 7).float()
    xm, tm = _mixup(x, t, torch.Generator().manual_seed(0), 0.7)
    assert torch.allclose(tm.sum(1), torch.ones(16))
    # every mixed face is 0.7 of its own face plus 0.3 of one face of the batch, and its target says so
    for i in range(16):
        rest = (xm[i] - 0.7 * x[i]) / 0.3
        j = int(((x - rest).abs().flatten(1).max(1).values).argmin())
        assert torch.allclose(rest, x[j], atol=1e-5)
        assert torch.allclose(tm[i], 0.7 * t[i] + 0.3 * t[j], atol=1e-6)
    out = tmp_path / "mix"
    proc = facemoji("train", "--data", small_data / "train.npz", "--val-data", small_data / "val.npz", "--out", out,
                    "--epochs", "1", "--arch", "emovgg", "--mixup", "0.2", "--limit", "128")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / "config.json").read_text())["mixup"] == 0.2
    assert (out / "best.pt").exists()
    bad = facemoji("train", "--data", small_data / "train.npz", "--out", tmp_path / "bad", "--mixup", "-1")
    assert bad.returncode == 1 and "--mixup" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("arch", ["emovgg", "emovgg-d", "emovgg-w", "emovgg-x", "original"])
def test_every_shipped_architecture_exports_and_runs_in_onnxruntime(arch, fer_public, tmp_path):
    from facemoji.classify import EmotionClassifier
    from facemoji.train.export import Deployed, export_onnx
    from facemoji.train.models import build_model

    torch.manual_seed(0)
    model = build_model(arch).eval()
    x = fer_public["x"][:16, None].astype(np.float32)
    ckpt = tmp_path / f"{arch}.pt"
    torch.save({"model": model.state_dict(), "config": {"arch": arch, "mean": 0.5, "std": 0.25}, "epoch": 0}, ckpt)
    path = export_onnx(ckpt, tmp_path / f"{arch}.onnx")
    onnx_p = EmotionClassifier(path).predict_crops(x)
    with torch.no_grad():
        torch_p = Deployed(model, 0.5, 0.25)(torch.from_numpy(x)).numpy()
    assert onnx_p.shape == (16, 7)
    assert np.abs(onnx_p - torch_p).max() < 1e-4
