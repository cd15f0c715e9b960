"""The training loop: augmentation, schedule, checkpoints, resume.

Everything here needs PyTorch (``pip install 'facemoji[train]'``).
"""

from __future__ import annotations

import json
import math
import random
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from facemoji.labels import EMOTIONS
from facemoji.train.data import Dataset, ferplus_soft_labels, load_dataset
from facemoji.train.export import Deployed
from facemoji.train.models import build_model
from facemoji.train.trainer_defaults import DEFAULTS


@dataclass
class TrainConfig:
    data: str
    val_data: str | None = None
    out: str = "runs/emotion"
    arch: str = DEFAULTS["arch"]
    recipe: str = "facemoji"  # or "original": the original design's SGD + shear/zoom/flip
    epochs: int = DEFAULTS["epochs"]
    batch_size: int = DEFAULTS["batch_size"]
    lr: float = DEFAULTS["lr"]
    weight_decay: float = 5e-4
    momentum: float = 0.9
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    ferplus: str | None = None
    ferplus_weight: float = DEFAULTS["ferplus_weight"]
    erase_prob: float = 0.5
    mixup: float = 0.0  # Beta(a, a) mixing of image pairs and their targets; 0 turns it off
    # From this fraction of the schedule on, validate in float32 (the shipped model's numerics) and choose the best
    # epoch among those epochs only; before it, bfloat16 validation saves time (about 4 s an epoch for emovgg-w).
    val_fp32_from: float = 0.75
    seed: int = 0
    threads: int = 2
    bf16: bool = True
    device: str = "cpu"  # "cuda" where a GPU is at hand; augmentation stays on the CPU
    limit: int | None = None  # use only the first N training images (for quick runs)
    mean: float = 0.0
    std: float = 1.0
    extra: dict = field(default_factory=dict)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _affine_batch(x: torch.Tensor, g: torch.Generator, recipe: str) -> torch.Tensor:
    """Random geometric augmentation of a (B,1,H,W) batch in one grid_sample."""
    b = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(b, generator=g) * (hi - lo) + lo

    flip = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0)
    if recipe == "original":
        # Keras ImageDataGenerator(shear_range=0.2, zoom_range=0.2, horizontal_flip=True)
        # (shear in radians, as Keras 2.2 took it): sampling matrix = shear @ zoom, then the flip
        zx, zy = u(0.8, 1.2), u(0.8, 1.2)
        shear = u(-0.2, 0.2)
        a = torch.zeros(b, 2, 3)
        a[:, 0, 0] = zx * flip
        a[:, 0, 1] = -torch.sin(shear) * zy
        a[:, 1, 1] = torch.cos(shear) * zy
    else:
        ang = u(-15, 15) * math.pi / 180
        s = 1.0 / u(0.85, 1.15)
        tx, ty = u(-0.12, 0.12), u(-0.12, 0.12)
        cos, sin = torch.cos(ang) * s, torch.sin(ang) * s
        a = torch.zeros(b, 2, 3)
        a[:, 0, 0] = cos * flip
        a[:, 0, 1] = -sin
        a[:, 1, 0] = sin * flip
        a[:, 1, 1] = cos
        a[:, 0, 2] = tx
        a[:, 1, 2] = ty
    grid = F.affine_grid(a, list(x.shape), align_corners=False)
    mode = "zeros" if recipe == "original" else "border"
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=mode, align_corners=False)


def _photometric(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    contrast = (torch.rand(b, 1, 1, 1, generator=g) * 0.5 + 0.75)
    bright = (torch.rand(b, 1, 1, 1, generator=g) - 0.5) * 0.25
    m = x.mean(dim=(2, 3), keepdim=True)
    return ((x - m) * contrast + m + bright).clamp(0, 1)


def _random_erase(x: torch.Tensor, g: torch.Generator, p: float) -> torch.Tensor:
    b, _, h, w = x.shape
    area = torch.rand(b, generator=g) * 0.18 + 0.02
    ratio = torch.exp(torch.rand(b, generator=g) * (math.log(3.0) - math.log(1 / 3)) + math.log(1 / 3))
    eh = (torch.sqrt(area * ratio) * h).clamp(1, h).long()
    ew = (torch.sqrt(area / ratio) * w).clamp(1, w).long()
    y0 = (torch.rand(b, generator=g) * (h - eh + 1).float()).long()
    x0 = (torch.rand(b, generator=g) * (w - ew + 1).float()).long()
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    mask = (ys >= y0.view(b, 1, 1)) & (ys < (y0 + eh).view(b, 1, 1)) & (xs >= x0.view(b, 1, 1)) & (xs < (x0 + ew).view(b, 1, 1))
    mask &= (torch.rand(b, generator=g) < p).view(b, 1, 1)
    noise = torch.rand(x.shape, generator=g)
    return torch.where(mask.unsqueeze(1), noise, x)


def _mixup(x: torch.Tensor, t: torch.Tensor, g: torch.Generator, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend each image and its target with another of the batch: ``lam * a + (1 - lam) * b``."""
    other = torch.randperm(x.shape[0], generator=g).to(x.device)
    return lam * x + (1 - lam) * x[other], lam * t + (1 - lam) * t[other]


def augment(x01: torch.Tensor, g: torch.Generator, cfg: TrainConfig) -> torch.Tensor:
    x = _affine_batch(x01, g, cfg.recipe)
    if cfg.recipe != "original":
        x = _photometric(x, g)
        x = _random_erase(x, g, cfg.erase_prob)
    return x


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    if cfg.recipe == "original":
        # Keras SGD(lr=0.01, decay=1e-6): lr / (1 + decay * iterations)
        return cfg.lr / (1 + 1e-6 * step)
    total = cfg.epochs * steps_per_epoch
    warm = cfg.warmup_epochs * steps_per_epoch
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


@torch.no_grad()
def predict_proba(model: torch.nn.Module, x_u8: np.ndarray, cfg: TrainConfig, tta: bool = True, bs: int = 512,
                  bf16: bool = False) -> np.ndarray:
    """Class probabilities for uint8 (N,48,48) faces, the model wrapped as export wraps it (flip averaging when ``tta``).

    Float32 by default, the numerics of the exported model, so that the best epoch is chosen by the figure that
    ships; ``bf16`` uses bfloat16 autocast (when the config allows it) for speed.
    """
    wrapped = Deployed(model, cfg.mean, cfg.std, flip=tta).eval()
    dev = torch.device(cfg.device)
    out = []
    for i in range(0, len(x_u8), bs):
        xb = torch.from_numpy(x_u8[i : i + bs]).float().unsqueeze(1).to(dev).contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.bf16 and bf16):
            out.append(wrapped(xb).float().cpu().numpy())
    return np.concatenate(out)


def _targets(ds: Dataset, cfg: TrainConfig) -> np.ndarray:
    k = len(EMOTIONS)
    t = np.full((len(ds), k), cfg.label_smoothing / k, dtype=np.float32)
    t[np.arange(len(ds)), ds.y] += 1.0 - cfg.label_smoothing
    if ds.soft is not None and cfg.ferplus_weight > 0:
        has = ds.soft.sum(1) > 0
        t[has] = (1 - cfg.ferplus_weight) * t[has] + cfg.ferplus_weight * ds.soft[has]
    return t


def _pyplot():
    """matplotlib's pyplot, drawing to files only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_curves(history: list[dict], path: Path) -> None:
    plt = _pyplot()
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(ep, [h["train_loss"] for h in history], label="train loss")
    ax[0].plot(ep, [h["val_loss"] for h in history], label="val loss")
    ax[0].set_xlabel("epoch")
    ax[0].legend()
    ax[1].plot(ep, [h["train_acc"] for h in history], label="train accuracy (augmented)")
    ax[1].plot(ep, [h["val_acc"] for h in history], label="val accuracy (flip TTA)")
    ax[1].set_xlabel("epoch")
    ax[1].legend()
    ax[1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _resumed_config(cfg: TrainConfig, last_ckpt: Path, resume: bool) -> tuple[TrainConfig, dict | None]:
    """With ``resume``, the saved state of ``last_ckpt`` and its config (this run's epochs, out, threads and
    device kept); otherwise ``cfg`` as it is and no state."""
    state = None
    if resume:
        if not last_ckpt.exists():
            raise FileNotFoundError(f"{last_ckpt}: nothing to resume")
        state = torch.load(last_ckpt, map_location="cpu", weights_only=False)
        saved = state["config"]
        saved.update({"epochs": cfg.epochs, "out": cfg.out, "threads": cfg.threads, "device": cfg.device})
        cfg = TrainConfig(**saved)
    return cfg, state


def _datasets(cfg: TrainConfig, fresh: bool) -> tuple[Dataset, Dataset]:
    """The training faces (``limit``, FER+ soft labels) and the validation faces; on a ``fresh`` run, the
    training faces' mean and standard deviation are set in ``cfg``."""
    train_ds = load_dataset(cfg.data, "train")
    if cfg.limit:
        train_ds = Dataset(train_ds.x[: cfg.limit], train_ds.y[: cfg.limit], train_ds.source,
                           row_index=None if train_ds.row_index is None else train_ds.row_index[: cfg.limit])
    val_ds = load_dataset(cfg.val_data or cfg.data, "val")
    if cfg.ferplus:
        if train_ds.row_index is None:
            raise ValueError("FER+ soft labels need a data source with FER2013 row indices (.npz with row_index)")
        train_ds.soft = ferplus_soft_labels(cfg.ferplus, train_ds.row_index)
    if fresh:
        x01 = train_ds.x.astype(np.float32) / 255.0
        cfg.mean, cfg.std = float(x01.mean()), float(x01.std())
    return train_ds, val_ds


def _model_and_optimizer(cfg: TrainConfig, dev: torch.device) -> tuple[torch.nn.Module, torch.optim.SGD]:
    """The network on ``dev`` and its SGD (Nesterov; no weight decay on biases and norms)."""
    model = build_model(cfg.arch).to(dev, memory_format=torch.channels_last)
    decay, no_decay = [], []
    for p_ in model.parameters():
        (no_decay if p_.ndim <= 1 else decay).append(p_)
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
    )
    return model, opt


def _restore(state: dict | None, model: torch.nn.Module, opt: torch.optim.SGD,
             g: torch.Generator) -> tuple[list[dict], int]:
    """Put a resumed run's weights, optimiser, generator and torch RNG back; returns its history and the epoch
    to start from (an empty history and epoch 0 without a state)."""
    history: list[dict] = []
    start_epoch = 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history = state["history"]
        start_epoch = state["epoch"] + 1
        g.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
    return history, start_epoch


def _fp32_at(cfg: TrainConfig, epoch: int) -> bool:
    """Whether this epoch is validated in float32 (the last part of the schedule, or always without bfloat16)."""
    return not cfg.bf16 or epoch >= int(cfg.epochs * cfg.val_fp32_from)


def _best_among(cfg: TrainConfig, history: list[dict], fp32: bool) -> float:
    """The best validation accuracy so far among epochs validated in the same numerics: bfloat16 and float32
    figures never compete (histories from before the flag validated in float32 only without bfloat16)."""
    return max((h["val_acc"] for h in history if h.get("val_fp32", not cfg.bf16) == fp32), default=-1.0)


def _on_term(signum, frame):  # SIGTERM behaves like Ctrl-C
    raise KeyboardInterrupt


def _end_epoch(cfg: TrainConfig, out: Path, model: torch.nn.Module, opt: torch.optim.SGD, g: torch.Generator,
               history: list[dict], val_ds: Dataset, epoch: int, totals: tuple[float, float, float], t0: float,
               bar) -> float:
    """Validate the epoch just trained, record it in ``history``, write the checkpoints, the history and the
    curves, and report it on ``bar``; returns the best validation accuracy in this epoch's numerics."""
    tot_loss, tot_correct, tot_seen = totals
    precise = _fp32_at(cfg, epoch)
    best_acc = _best_among(cfg, history, precise)
    probs = predict_proba(model, val_ds.x, cfg, bf16=not precise)
    val_acc = float((probs.argmax(1) == val_ds.y).mean())
    val_loss = float(-np.log(np.clip(probs[np.arange(len(val_ds)), val_ds.y], 1e-7, 1)).mean())
    rec = {"epoch": epoch + 1, "train_loss": tot_loss / tot_seen, "train_acc": tot_correct / tot_seen,
           "val_loss": val_loss, "val_acc": val_acc, "lr": opt.param_groups[0]["lr"],
           "val_fp32": precise, "seconds": time.perf_counter() - t0}
    history.append(rec)
    is_best = val_acc > best_acc
    best_acc = max(best_acc, val_acc)
    ckpt = {"model": {k: v.cpu() for k, v in model.state_dict().items()}, "optimizer": opt.state_dict(), "epoch": epoch,
            "config": asdict(cfg), "history": history, "best_acc": best_acc,
            "generator": g.get_state(), "torch_rng": torch.get_rng_state()}
    save_epoch(out, ckpt, {"model": ckpt["model"], "epoch": epoch, "config": asdict(cfg), "val_acc": val_acc}
               if is_best else None, history)
    _save_curves(history, out / "training_curves.png")
    bar.write(f"epoch {epoch + 1}: loss {rec['train_loss']:.4f} train_acc {rec['train_acc']:.4f} "
              f"val_acc {val_acc:.4f} (best {best_acc:.4f}) {rec['seconds']:.0f}s")
    return best_acc


def save_epoch(out: Path, last: dict, best: dict | None, history: list[dict]) -> None:
    """An epoch's files, each written under a temporary name and renamed: ``last.pt``, ``best.pt`` when ``best``
    is given, and ``history.json``."""
    torch.save(last, out / "last.pt.tmp")
    (out / "last.pt.tmp").replace(out / "last.pt")
    if best is not None:
        torch.save(best, out / "best.pt.tmp")
        (out / "best.pt.tmp").replace(out / "best.pt")
    (out / "history.json").write_text(json.dumps(history, indent=1))


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train and return the path of the best checkpoint."""
    from tqdm import tqdm

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    last_ckpt = out / "last.pt"
    cfg, state = _resumed_config(cfg, last_ckpt, resume)
    set_seed(cfg.seed)
    train_ds, val_ds = _datasets(cfg, fresh=state is None)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    dev = torch.device(cfg.device)
    model, opt = _model_and_optimizer(cfg, dev)
    g = torch.Generator().manual_seed(cfg.seed)
    history, start_epoch = _restore(state, model, opt, g)
    best_acc = _best_among(cfg, history, _fp32_at(cfg, start_epoch))

    x_all = torch.from_numpy(train_ds.x).unsqueeze(1)
    t_all = torch.from_numpy(_targets(train_ds, cfg))
    n = len(train_ds)
    steps = n // cfg.batch_size
    remaining = max(0, (cfg.epochs - start_epoch) * steps)
    print(f"training {cfg.arch} on {n} images ({cfg.recipe} recipe), validating on {len(val_ds)}; "
          f"epochs {start_epoch + 1}..{cfg.epochs}, checkpoints in {out}", file=sys.stderr)
    bar = tqdm(total=remaining, unit="batch", dynamic_ncols=True, file=sys.stderr, mininterval=2.0)
    interrupted = False

    # Loaded before the loop: Ctrl-C landing inside the first import of a C extension surfaces as ImportError,
    # not KeyboardInterrupt, and would end the run with a traceback instead of keeping the checkpoint.
    _pyplot()
    old = signal.signal(signal.SIGTERM, _on_term)
    # The batch loop stays here, in one piece with its epoch loop and the Ctrl-C handling around it: the epoch's
    # validation and checkpoints are _end_epoch's.
    try:
        for epoch in range(start_epoch, cfg.epochs):
            model.train()
            t0 = time.perf_counter()
            perm = torch.randperm(n, generator=g)
            tot_loss = tot_correct = tot_seen = 0.0
            for i in range(steps):
                idx = perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]
                xb = augment(x_all[idx].float() / 255.0, g, cfg)
                xb = ((xb - cfg.mean) / cfg.std).to(dev).contiguous(memory_format=torch.channels_last)
                tb = t_all[idx].to(dev)
                if cfg.mixup > 0:
                    xb, tb = _mixup(xb, tb, g, np.random.default_rng([cfg.seed, epoch, i]).beta(cfg.mixup, cfg.mixup))
                for group in opt.param_groups:
                    group["lr"] = lr_at(cfg, epoch * steps + i, steps)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                    logits = model(xb)
                loss = -(tb * F.log_softmax(logits.float(), dim=1)).sum(1).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                tot_loss += float(loss.detach()) * len(idx)
                tot_correct += float((logits.argmax(1) == tb.argmax(1)).sum())
                tot_seen += len(idx)
                bar.update(1)
                if i % 20 == 0:
                    bar.set_description(f"epoch {epoch + 1}/{cfg.epochs}")
                    bar.set_postfix(loss=f"{tot_loss / tot_seen:.3f}", best=f"{max(best_acc, 0):.4f}")
            best_acc = _end_epoch(cfg, out, model, opt, g, history, val_ds, epoch,
                                  (tot_loss, tot_correct, tot_seen), t0, bar)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        signal.signal(signal.SIGTERM, old)
    if interrupted:
        done = history[-1]["epoch"] if history else 0
        print(f"interrupted: {done} of {cfg.epochs} epochs done; last checkpoint kept at {last_ckpt} "
              f"(continue with --resume)", file=sys.stderr)
        raise KeyboardInterrupt
    return out / "best.pt"
