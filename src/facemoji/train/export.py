"""Export a trained checkpoint to the ONNX file the runtime loads.

The graph takes raw grayscale faces, float32 (N, 1, 48, 48) in 0..255, and
returns class probabilities (N, 7). Normalisation and the horizontal-flip
test-time averaging are inside the graph; the class order, input description
and face-crop framing are written to the model's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facemoji.labels import EMOTIONS
from facemoji.train.models import build_model

FORMAT_VERSION = "1"
# How to cut a face out of a detector box so it is framed like FER2013:
# a square of side scale * max(w, h), centred dx * w right and dy * h below the box centre.
# Measured for CenterFace by scripts/calibrate_crop.py (medians over FER2013 PublicTest faces).
DEFAULT_CROP = {"scale": 1.09, "dx": 0.0, "dy": -0.033}


def shift_views(px: int) -> tuple[tuple[int, int], ...]:
    """The four one-axis shifts of ``px`` pixels (none for 0)."""
    return ((px, 0), (-px, 0), (0, px), (0, -px)) if px else ()


def zoom_matrix(n: int, scale: float) -> torch.Tensor:
    """The (n, n) matrix A with ``A @ img @ A.T`` = ``img`` zoomed by ``scale`` about its centre.

    Bilinear resampling along each axis, edges replicated: ``scale`` < 1 zooms out (the face
    gets smaller and the border is repeated around it), > 1 zooms in. It matches
    ``grid_sample(..., mode="bilinear", padding_mode="border", align_corners=False)`` for a
    pure scaling grid, but as two small matrix products it exports to any ONNX runtime.
    """
    a = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        # output pixel centre in [-1, 1], back to the input coordinate it samples
        u = ((2 * i + 1) / n - 1) / scale
        p = min(max(((u + 1) * n - 1) / 2, 0.0), n - 1.0)
        j = min(int(p), n - 2)
        w = p - j
        a[i, j] += 1 - w
        a[i, j + 1] += w
    return a.float()


class Deployed(nn.Module):
    """The trained network wrapped as it ships: raw 0..255 faces in, averaged probabilities out.

    Test-time augmentation is part of the graph: every face is seen as ``views``
    (the original, each ``shifts`` (dx, dy) pixel shift and each ``zooms`` scale
    about the centre, edges replicated), each of them also mirrored when ``flip``;
    the views go through the network as one batch and their softmax outputs are
    averaged.
    """

    def __init__(self, model: nn.Module, mean: float, std: float, flip: bool = True,
                 shifts: tuple[tuple[int, int], ...] = (), zooms: tuple[float, ...] = (), size: int = 48) -> None:
        super().__init__()
        self.model = model
        self.mean = mean
        self.std = std
        self.flip = flip
        self.shifts = tuple(shifts)
        self.zooms = tuple(float(z) for z in zooms)
        self.pad = max([0] + [max(abs(dx), abs(dy)) for dx, dy in self.shifts])
        for k, z in enumerate(self.zooms):
            self.register_buffer(f"zoom{k}", zoom_matrix(size, z), persistent=False)

    def views(self, z: torch.Tensor) -> list[torch.Tensor]:
        out = [z]
        if self.shifts:
            p, h, w = self.pad, z.shape[2], z.shape[3]
            padded = nn.functional.pad(z, (p, p, p, p), mode="replicate")
            # shifting the content by (dx, dy) = reading the padded image from (p - dx, p - dy)
            out += [padded[:, :, p - dy : p - dy + h, p - dx : p - dx + w] for dx, dy in self.shifts]
        for k in range(len(self.zooms)):
            a = getattr(self, f"zoom{k}")
            out.append(torch.matmul(torch.matmul(a, z), a.t()))
        if self.flip:
            out += [torch.flip(v, dims=[3]) for v in out]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x / 255.0 - self.mean) / self.std
        views = self.views(z)
        p = torch.softmax(self.model(torch.cat(views, 0)).float(), dim=1)
        return p.reshape(len(views), -1, p.shape[1]).mean(0)

    @property
    def n_views(self) -> int:
        """Passes of the network per face."""
        return (1 + len(self.shifts) + len(self.zooms)) * (2 if self.flip else 1)

    def describe(self) -> str:
        n = self.n_views
        what = "horizontal flip" if self.flip else "no flip"
        if self.shifts:
            what += " and shifts of " + ", ".join(f"({dx:+d}, {dy:+d})" for dx, dy in self.shifts) + " px"
        if self.zooms:
            what += " and zooms about the centre by " + ", ".join(f"{z:g}" for z in self.zooms)
        return f"{what}: probabilities of {n} views averaged in graph"


QUANTIZED_OPS = ("Conv", "Gemm")
CALIBRATION_FACES = 512
CALIBRATION_SEED = 0


def quantize_int8(src: str | Path, dst: str | Path, faces: np.ndarray, n: int = CALIBRATION_FACES,
                  seed: int = CALIBRATION_SEED) -> int:
    """Quantize the float model ``src`` to int8 (static, QDQ, per-channel weights) into ``dst``.

    Activation ranges are the minimum and maximum seen on ``n`` faces drawn from
    ``faces`` (uint8 (N, 48, 48), the training faces, never the test set) with a
    fixed seed. Convolutions and the classifier run in int8 (about 2.8x faster on
    this machine); the test-time zoom resampling and the softmax stay float.
    Weights use 7 bits of the 8 (``reduce_range``): x86 CPUs without VNNI add pairs of
    uint8 x int8 products in saturating 16-bit sums, which full-range weights overflow
    (the model then gave 51 % instead of 72 % on such a CPU).
    Returns the number of calibration faces used.
    """
    from facemoji.onnxrt import no_telemetry

    no_telemetry()  # before onnxruntime starts: calibration opens sessions too
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pick = np.random.default_rng(seed).choice(len(faces), min(n, len(faces)), replace=False)
    batches = [faces[pick[i : i + 32]][:, None].astype(np.float32) for i in range(0, len(pick), 32)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(batches)

        def get_next(self) -> dict | None:
            b = next(self.it, None)
            return None if b is None else {"faces": b}

    src, dst = Path(src), Path(dst)
    pre = dst.with_name(dst.name + ".pre")
    try:
        quant_pre_process(str(src), str(pre))
        quantize_static(str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, reduce_range=True,
                        op_types_to_quantize=list(QUANTIZED_OPS), calibrate_method=CalibrationMethod.MinMax)
    finally:
        pre.unlink(missing_ok=True)
    return len(pick)


class CalibrationError(Exception):
    """The training faces for int8 calibration cannot be read."""


def _calibration_faces(cfg: dict, path: str | Path | None) -> tuple[np.ndarray, str]:
    """The training faces int8 calibrates on, and their file's name: ``path``, else the checkpoint's ``data``."""
    from facemoji.train.data import DataError, load_dataset

    if path is None:
        path = cfg.get("data")
        if path is None or not Path(path).exists():
            raise CalibrationError(f"{path}: the checkpoint's training data is not there; give the calibration data")
    try:
        return load_dataset(path, "train").x, Path(path).name
    except DataError as e:
        raise CalibrationError(str(e)) from None


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict, dict]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # pickle, zip and torch errors alike
        raise ValueError(f"{path}: not a facemoji training checkpoint ({e.__class__.__name__})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise ValueError(f"{path}: not a facemoji training checkpoint")
    cfg = ckpt["config"]
    model = build_model(cfg["arch"])
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, cfg, ckpt


def export_onnx(checkpoint: str | Path, out: str | Path, tta: bool = True, crop: dict | None = None,
                extra_metadata: dict | None = None, shifts: tuple[tuple[int, int], ...] = (),
                zooms: tuple[float, ...] = (), int8: bool = False, calibration: str | Path | None = None) -> Path:
    """Write the ONNX model; with ``int8`` it is quantized, calibrated on the training faces of
    ``calibration`` (default: the data the checkpoint was trained on). Missing or unreadable
    calibration data raises :class:`CalibrationError`."""
    import onnx

    model, cfg, ckpt = load_checkpoint(checkpoint)
    faces, source = _calibration_faces(cfg, calibration) if int8 else (None, "")
    wrapped = Deployed(model, cfg["mean"], cfg["std"], flip=tta, shifts=shifts if tta else (),
                       zooms=zooms if tta else ()).eval()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    dummy = torch.zeros(1, 1, 48, 48)
    torch.onnx.export(
        wrapped, (dummy,), str(tmp), dynamo=False, opset_version=17,
        input_names=["faces"], output_names=["probabilities"],
        dynamic_axes={"faces": {0: "batch"}, "probabilities": {0: "batch"}},
    )
    if faces is not None:
        n_calibration = quantize_int8(tmp, tmp, faces)
    m = onnx.load(str(tmp))
    meta = {
        "facemoji.format": FORMAT_VERSION,
        "facemoji.classes": json.dumps(list(EMOTIONS)),
        "facemoji.input": json.dumps({"size": 48, "channels": 1, "color": "gray", "range": [0, 255],
                                      "layout": "NCHW", "dtype": "float32"}),
        "facemoji.preprocessing": json.dumps({"normalization": {"mean": cfg["mean"], "std": cfg["std"],
                                                                "applied": "in graph, after dividing by 255"},
                                              "tta": wrapped.describe() if tta else "none"}),
        "facemoji.output": "probabilities (softmax), one column per class in facemoji.classes order",
        "facemoji.crop": json.dumps(crop or DEFAULT_CROP),
        "facemoji.arch": cfg["arch"],
        "facemoji.epoch": str(ckpt.get("epoch", -1) + 1),
    }
    if "val_acc" in ckpt:
        meta["facemoji.val_accuracy"] = f"{ckpt['val_acc']:.4f}"
    if faces is not None:
        meta["facemoji.quantization"] = json.dumps({
            "weights": "int8 on a 7-bit grid (|w| <= 64), per output channel", "activations": "int8", "format": "QDQ",
            "quantized": list(QUANTIZED_OPS), "calibration": f"MinMax over {n_calibration} faces of {source}"
            f" drawn with seed {CALIBRATION_SEED}"})
    meta.update({f"facemoji.{k}": (v if isinstance(v, str) else json.dumps(v)) for k, v in (extra_metadata or {}).items()})
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.producer_name = "facemoji"
    onnx.save(m, str(tmp))
    tmp.replace(out)
    return out
