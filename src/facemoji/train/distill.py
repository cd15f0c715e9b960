"""Distil one or several test-time-augmented models into a single-pass student, with real photographs mixed in.

    python -m facemoji.train.distill --data ../shared/data/fer2013_train.npz \\
        --val-data ../shared/data/fer2013_publictest.npz --ferplus ../shared/data/ferplus_votes_train_publictest.npz \\
        --realfaces ../shared/data/realfaces_muxspace_96.npz --teacher A.onnx --teacher B.onnx --out runs/distill

The teachers are ONNX models (default: the shipped one, which averages its network over four views of every
face); ``--teacher`` may be given several times and their probabilities are averaged, an ensemble at training
time only. The average on every training face, computed once before training, becomes part of the targets:
``teacher_weight * teacher + (1 - teacher_weight) * label``, where the label is the smoothed FER2013 label
blended with the FER+ votes as in the main recipe. The student starts from the first teacher's own network, read
back from the ONNX file (:mod:`facemoji.train.from_onnx`), or from ``--init``, and learns to give the teachers'
average in one pass.

Real photographs (``--realfaces``): the training part of the person-disjoint split, each face cut out from the
detector's stored box exactly as the runtime cuts it. Each epoch draws ``real_weight * len(FER2013 train)`` of
them with replacement, classes drawn in proportion to the square root of their counts (neutral and happy
dominate the file; fear has a dozen faces). Their targets are their hand labels, smoothed, with
``real_teacher_weight`` of the teacher (the teacher's own mistakes on real photos are what is being fixed).
``--align roll|eyes`` trains the student on faces aligned on CenterFace's eyes, as the runtime cuts them for a
model whose ``facemoji.crop`` asks for that framing: FER2013 frames (training and PublicTest) cut from CenterFace's
box on each frame with its landmarks (``--fer-landmarks``, ``--val-landmarks``; frames without a detection stay
whole), real photographs cut from their stored box with theirs (``--real-landmarks``). The teachers' targets
stay those of the faces as the teachers saw them. Export the result with the same framing in its metadata
(``facemoji export --crop '{..., "align": "eyes"}'``).

Each epoch validates on FER2013 PublicTest (one pass, float32) and on the real photographs' validation part,
keeps ``last.pt`` (resumable) and ``best.pt`` (best PublicTest accuracy) and a history with both figures.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from facemoji.labels import EMOTIONS


@dataclass
class DistillConfig:
    data: str
    val_data: str
    ferplus: str | None = None
    realfaces: str | None = None
    teachers: tuple[str, ...] = ()  # ONNX files whose probabilities are averaged (none: the shipped model)
    init: str | None = None  # start the student from this distillation checkpoint instead of the teacher's network
    out: str = "runs/distill"
    arch: str = ""
    epochs: int = 6
    batch_size: int = 128
    lr: float = 0.01
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    ferplus_weight: float = 0.3
    teacher_weight: float = 0.6
    real_weight: float = 0.25
    real_teacher_weight: float = 0.15
    real_class_power: float = 0.5
    erase_prob: float = 0.5
    recipe: str = "facemoji"
    seed: int = 0
    threads: int = 2
    limit: int = 0  # use only the first N FER2013 training faces (0: all), for quick runs
    align: str = "none"  # "roll" or "eyes": train on faces aligned on CenterFace's eyes (needs the landmark files)
    fer_landmarks: str | None = None
    val_landmarks: str | None = None
    real_landmarks: str | None = None
    mean: float = 0.0
    std: float = 1.0


def teacher_probs(teacher, x_u8: np.ndarray, batch: int = 256) -> np.ndarray:
    """The teacher's probabilities for uint8 (N, 48, 48) faces."""
    from facemoji.train.evaluate import predict_batches

    return predict_batches(teacher, x_u8, batch, "teacher")


def u8_crops(faces, classifier, landmarks: np.ndarray | None = None) -> np.ndarray:
    """Real photographs cut as ``classifier``'s runtime cuts them, as uint8 (N, S, S) faces."""
    from facemoji.train.realfaces import as_uint8, runtime_crops

    return as_uint8(runtime_crops(faces, classifier, landmarks))


def label_targets(y: np.ndarray, smoothing: float, soft: np.ndarray | None = None, soft_weight: float = 0.0) -> np.ndarray:
    k = len(EMOTIONS)
    t = np.full((len(y), k), smoothing / k, dtype=np.float32)
    t[np.arange(len(y)), y] += 1.0 - smoothing
    if soft is not None and soft_weight > 0:
        has = soft.sum(1) > 0
        t[has] = (1 - soft_weight) * t[has] + soft_weight * soft[has]
    return t


def class_sampling_weights(y: np.ndarray, power: float) -> np.ndarray:
    """Per-sample draw probabilities so that class c is drawn in proportion to count(c) ** power."""
    counts = np.bincount(y, minlength=len(EMOTIONS)).astype(np.float64)
    share = np.where(counts > 0, counts ** power, 0.0)
    share /= share.sum()
    w = share[y] / counts[y]
    return w / w.sum()


def single_pass_probs(model: torch.nn.Module, x_u8: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Probabilities of one pass of the network (no test-time views) for uint8 (N, 48, 48) faces, float32."""
    from facemoji.train.trainer import TrainConfig, predict_proba

    return predict_proba(model, x_u8, TrainConfig(data="", mean=mean, std=std), tta=False)


@dataclass
class _Faces:
    """The faces a distillation trains and validates on: FER2013 (``train``, ``val``, the FER+ votes ``soft``)
    and, with ``--realfaces``, the real photographs (``real``, split into ``rtrain`` and ``rval``) as uint8 crops."""

    train: Any
    val: Any
    soft: np.ndarray | None = None
    real: Any = None
    rtrain: Any = None
    rval: Any = None
    real_x: np.ndarray | None = None
    real_y: np.ndarray | None = None
    real_val_x: np.ndarray | None = None
    real_val_y: np.ndarray | None = None


def _teachers_and_student(cfg: DistillConfig) -> tuple[list, np.ndarray, torch.nn.Module]:
    """The teachers, their file names, and the student: the first teacher's network read back from its ONNX file
    (or ``--init``'s); sets ``cfg``'s arch and normalisation from the teacher's metadata."""
    from facemoji.classify import EmotionClassifier
    from facemoji.train.from_onnx import load_shipped, normalization

    teachers = [EmotionClassifier(t, threads=cfg.threads) for t in cfg.teachers] or [EmotionClassifier(threads=cfg.threads)]
    teacher = teachers[0]
    names = np.array([t.path.name for t in teachers])
    model, meta = load_shipped(teacher.path)
    cfg.arch = meta["facemoji.arch"]
    cfg.mean, cfg.std = normalization(meta)
    if cfg.init:
        model.load_state_dict(torch.load(cfg.init, map_location="cpu", weights_only=False)["model"])
    return teachers, names, model


def _load_faces(cfg: DistillConfig, teacher) -> _Faces:
    """FER2013's training (``limit``) and validation faces, the FER+ votes, and the real photographs cut as
    ``teacher``'s runtime cuts them."""
    from facemoji.train.data import ferplus_soft_labels, load_dataset
    from facemoji.train.realfaces import load_realfaces

    train = load_dataset(cfg.data, "train")
    if cfg.limit:
        train.x, train.y = train.x[: cfg.limit], train.y[: cfg.limit]
        train.row_index = None if train.row_index is None else train.row_index[: cfg.limit]
    val = load_dataset(cfg.val_data, "val")
    soft = ferplus_soft_labels(cfg.ferplus, train.row_index) if cfg.ferplus else None
    faces = _Faces(train, val, soft)
    if cfg.realfaces:
        faces.real = load_realfaces(cfg.realfaces)
        faces.rtrain, faces.rval = faces.real.split()
        faces.real_x, faces.real_val_x = u8_crops(faces.rtrain, teacher), u8_crops(faces.rval, teacher)
        faces.real_y, faces.real_val_y = faces.rtrain.y, faces.rval.y
    return faces


def _teacher_targets(cache: Path, teachers: list, names: np.ndarray, faces: _Faces) -> tuple[np.ndarray, np.ndarray]:
    """The teachers' average probabilities on the FER2013 and real training faces, from ``cache`` when it holds
    those of the same teachers and faces, otherwise computed and saved there."""
    teacher = teachers[0]
    train, real_x = faces.train, faces.real_x
    t_fer = t_real = None
    if cache.exists():
        with np.load(cache) as d:
            if "teachers" in d and list(d["teachers"]) == list(names) and len(d["fer"]) == len(train):
                t_fer, t_real = d["fer"], d["real"]
    if t_fer is None:
        t_fer = np.mean([teacher_probs(t, train.x) for t in teachers], axis=0)
        t_real = (np.mean([teacher_probs(t, real_x if t is teacher else u8_crops(faces.rtrain, t))  # each in its framing
                           for t in teachers], axis=0)
                  if real_x is not None else np.zeros((0, 7), np.float32))
        np.savez(cache, fer=t_fer, real=t_real, teachers=names)
    return t_fer, t_real


def _align_faces(cfg: DistillConfig, teacher, faces: _Faces) -> None:
    """Re-cut the student's faces aligned on CenterFace's eyes (``--align``), as the runtime will frame them for it."""
    from facemoji.classify import EmotionClassifier
    from facemoji.train.realfaces import frame_crops, load_landmarks, validation_mask

    if not (cfg.fer_landmarks and cfg.val_landmarks and (cfg.real_landmarks or not cfg.realfaces)):
        raise ValueError("--align needs --fer-landmarks, --val-landmarks and (with --realfaces) --real-landmarks")
    framer = EmotionClassifier(teacher.path, threads=cfg.threads, align=cfg.align)
    train, val, real = faces.train, faces.val, faces.real
    n = len(train)  # --limit keeps the first n faces, and their detections
    train.x = frame_crops(train.x, *(a[:n] for a in load_landmarks(cfg.fer_landmarks)), framer)
    val.x = frame_crops(val.x, *load_landmarks(cfg.val_landmarks), framer)
    if cfg.realfaces:
        lms = load_landmarks(cfg.real_landmarks)[0]
        if len(lms) != len(real):
            raise ValueError(f"{cfg.real_landmarks}: {len(lms)} landmarks for {len(real)} faces")
        is_val = validation_mask(real)
        faces.real_x = u8_crops(faces.rtrain, framer, lms[~is_val])
        faces.real_val_x = u8_crops(faces.rval, framer, lms[is_val])


def _training_set(cfg: DistillConfig, faces: _Faces, t_fer: np.ndarray, t_real: np.ndarray
                  ) -> tuple[torch.Tensor, torch.Tensor, int, np.ndarray | None]:
    """All training faces (FER2013, then the real ones) and their targets as tensors, the real faces drawn an
    epoch, and the real faces' draw probabilities."""
    train = faces.train
    fer_targets = (cfg.teacher_weight * t_fer + (1 - cfg.teacher_weight)
                   * label_targets(train.y, cfg.label_smoothing, faces.soft, cfg.ferplus_weight)).astype(np.float32)
    x_all = train.x
    t_all = fer_targets
    n_real = 0
    real_p = None
    if faces.real_x is not None:
        real_targets = (cfg.real_teacher_weight * t_real + (1 - cfg.real_teacher_weight)
                        * label_targets(faces.real_y, cfg.label_smoothing)).astype(np.float32)
        x_all = np.concatenate([train.x, faces.real_x])
        t_all = np.concatenate([fer_targets, real_targets])
        n_real = int(round(cfg.real_weight * len(train)))
        real_p = class_sampling_weights(faces.real_y, cfg.real_class_power)
    return torch.from_numpy(x_all).unsqueeze(1), torch.from_numpy(t_all), n_real, real_p


def _end_epoch(cfg: DistillConfig, out: Path, model: torch.nn.Module, opt: torch.optim.SGD, g: torch.Generator,
               names: np.ndarray, history: list[dict], faces: _Faces, epoch: int, tot: float, seen: float,
               t0: float, bar, best: float) -> float:
    """Validate the epoch just trained (PublicTest, and the real photographs' validation part), record it in
    ``history``, write the checkpoints and the history, and report it on ``bar``; returns the best PublicTest
    accuracy so far."""
    from facemoji.train.evaluate import real_figures
    from facemoji.train.trainer import save_epoch

    val = faces.val
    p_val = single_pass_probs(model, val.x, cfg.mean, cfg.std)
    rec = {"epoch": epoch + 1, "train_loss": tot / seen, "val_acc": float((p_val.argmax(1) == val.y).mean()),
           "val_recall": {c: float((p_val.argmax(1)[val.y == k] == k).mean()) for k, c in enumerate(EMOTIONS)},
           "seconds": time.perf_counter() - t0}
    if faces.real_val_x is not None:
        rec["real_val"] = real_figures(single_pass_probs(model, faces.real_val_x, cfg.mean, cfg.std), faces.real_val_y)
    history.append(rec)
    state = {"model": {k: v.clone() for k, v in model.state_dict().items()}, "optimizer": opt.state_dict(),
             "epoch": epoch, "config": {**asdict(cfg), "distilled_from": " + ".join(names)},
             "history": history, "generator": g.get_state(), "val_acc": rec["val_acc"]}
    is_best = rec["val_acc"] > best
    best = max(best, rec["val_acc"])
    save_epoch(out, state, {k: state[k] for k in ("model", "epoch", "config", "val_acc")} if is_best else None,
               history)
    real = rec.get("real_val", {})
    bar.write(f"epoch {epoch + 1}: loss {rec['train_loss']:.4f} PublicTest {rec['val_acc']:.4f} "
              f"real acc {real.get('accuracy', float('nan')):.4f} balanced {real.get('balanced', float('nan')):.4f} "
              f"neutral->angry {real.get('neutral_as_angry', float('nan')):.3f} {rec['seconds']:.0f}s")
    return best


def distill(cfg: DistillConfig, resume: bool = False) -> Path:
    from tqdm import tqdm

    from facemoji.train.from_onnx import freeze_batchnorm
    from facemoji.train.trainer import TrainConfig, augment

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)

    teachers, names, model = _teachers_and_student(cfg)
    faces = _load_faces(cfg, teachers[0])
    t_fer, t_real = _teacher_targets(out / "teacher_targets.npz", teachers, names, faces)
    if cfg.align != "none":  # the student sees the faces framed as the runtime will frame them for it
        _align_faces(cfg, teachers[0], faces)
    x_all_t, t_all_t, n_real, real_p = _training_set(cfg, faces, t_fer, t_real)

    model.train()
    freeze_batchnorm(model)
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, momentum=0.9, nesterov=True)
    history: list[dict] = []
    start = 0
    last = out / "last.pt"
    if resume and last.exists():
        state = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history, start = state["history"], state["epoch"] + 1
        g.set_state(state["generator"])
        rng = np.random.default_rng([cfg.seed, start])
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    aug_cfg = TrainConfig(data=cfg.data, recipe=cfg.recipe, erase_prob=cfg.erase_prob)
    n_fer = len(faces.train)
    steps = (n_fer + n_real) // cfg.batch_size
    total = cfg.epochs * steps
    best = max((h["val_acc"] for h in history), default=-1.0)
    print(f"distilling {cfg.arch} from {' + '.join(names)}: {n_fer} FER2013 + {n_real} real faces an epoch, "
          f"epochs {start + 1}..{cfg.epochs}, checkpoints in {out}", file=sys.stderr)
    bar = tqdm(total=(cfg.epochs - start) * steps, unit="batch", file=sys.stderr, mininterval=5.0)
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        freeze_batchnorm(model)
        idx = np.arange(n_fer)
        if n_real:
            idx = np.concatenate([idx, n_fer + rng.choice(len(faces.real_y), n_real, p=real_p)])
        idx = torch.from_numpy(idx[torch.randperm(len(idx), generator=g).numpy()])
        tot = seen = 0.0
        for i in range(steps):
            b = idx[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            xb = augment(x_all_t[b].float() / 255.0, g, aug_cfg)
            xb = ((xb - cfg.mean) / cfg.std).contiguous(memory_format=torch.channels_last)
            step = epoch * steps + i
            for grp in opt.param_groups:
                grp["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            loss = -(t_all_t[b] * F.log_softmax(model(xb), 1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(b)
            seen += len(b)
            bar.update(1)
            if i % 20 == 0:
                bar.set_description(f"epoch {epoch + 1}/{cfg.epochs} loss {tot / seen:.3f}")
        best = _end_epoch(cfg, out, model, opt, g, names, history, faces, epoch, tot, seen, t0, bar, best)
    bar.close()
    return out / "best.pt"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="FER2013 training faces (.npz with row_index, .csv or folder)")
    ap.add_argument("--val-data", required=True, help="FER2013 PublicTest faces")
    ap.add_argument("--ferplus", help="FER+ votes (.npz)")
    ap.add_argument("--realfaces", help="real photographs (.npz: x, y, box, names, source)")
    ap.add_argument("--teacher", dest="teachers", action="append", default=[],
                    help="teacher ONNX model; repeat for an ensemble whose probabilities are averaged "
                         "(default: the shipped model). The student takes the first one's network")
    ap.add_argument("--init", help="start the student from this checkpoint (default: the first teacher's network)")
    ap.add_argument("--out", default="runs/distill")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    defaults = DistillConfig(data="", val_data="")
    for name in ("epochs", "batch_size", "lr", "teacher_weight", "real_weight", "real_teacher_weight",
                 "real_class_power", "ferplus_weight", "seed", "threads", "limit"):
        v = getattr(defaults, name)
        ap.add_argument("--" + name.replace("_", "-"), type=type(v), default=v, help=f"default {v}")
    ap.add_argument("--align", choices=("none", "roll", "eyes"), default="none",
                    help="train on faces aligned on CenterFace's eyes (default none: the box crop)")
    ap.add_argument("--fer-landmarks", help="--align: CenterFace's boxes and points of --data's faces "
                    "(scripts/face_landmarks.py fer)")
    ap.add_argument("--val-landmarks", help="--align: the same for --val-data's faces")
    ap.add_argument("--real-landmarks", help="--align: CenterFace's points of --realfaces' crops "
                    "(scripts/face_landmarks.py realfaces)")
    a = ap.parse_args(argv)
    args = {k: v for k, v in vars(a).items() if k != "resume"}
    cfg = DistillConfig(**{**args, "teachers": tuple(args["teachers"])})
    distill(cfg, resume=a.resume)


if __name__ == "__main__":
    main()
