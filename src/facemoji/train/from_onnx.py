"""Read a shipped facemoji ONNX model back into a trainable PyTorch network.

The shipped file holds the network with BatchNorm folded into the convolutions and the first dense layer,
quantized to int8 (QDQ): each weight is ``DequantizeLinear(q, scale, zero_point)``. Reading it back gives
float weights equal to what the runtime computes with; each BatchNorm of the rebuilt :class:`EmoVGG` is set to
the identity plus the folded bias, so that in ``eval`` mode the PyTorch network computes the same function.
Fine-tuning keeps those BatchNorm statistics frozen (see :func:`freeze_batchnorm`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facemoji.train.models import build_model


def _float_initializers(graph) -> dict[str, np.ndarray]:
    """Every initializer as float, and every DequantizeLinear over initializers evaluated to its float output."""
    from onnx import numpy_helper

    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    out = {k: v.astype(np.float32) for k, v in init.items() if v.dtype.kind == "f"}
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in init:
            continue
        q = init[node.input[0]].astype(np.float32)
        scale = init[node.input[1]].astype(np.float32)
        zero = init[node.input[2]].astype(np.float32) if len(node.input) > 2 else np.zeros_like(scale)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and q.ndim > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        out[node.output[0]] = (q - zero) * scale
    return out


def load_shipped(path: str | Path) -> tuple[nn.Module, dict]:
    """The network of a shipped EmoVGG model as float PyTorch (eval mode), and the file's facemoji metadata."""
    import onnx

    m = onnx.load(str(path))
    meta = {p.key: p.value for p in m.metadata_props}
    arch = meta.get("facemoji.arch")
    if arch is None or not arch.startswith("emovgg"):
        raise ValueError(f"{path}: not an EmoVGG facemoji model (arch {arch!r})")
    model = build_model(arch)
    w = _float_initializers(m.graph)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    gemms = [n for n in m.graph.node if n.op_type == "Gemm"]
    layers = [mod for mod in model.features if isinstance(mod, (nn.Conv2d, nn.BatchNorm2d))]
    pairs = list(zip(layers[0::2], layers[1::2], strict=True))
    if len(pairs) != len(convs) or len(gemms) != 2:
        raise ValueError(f"{path}: graph does not match {arch} ({len(convs)} Conv, {len(gemms)} Gemm)")
    with torch.no_grad():
        for (conv, bn), node in zip(pairs, convs, strict=True):
            conv.weight.copy_(torch.from_numpy(w[node.input[1]]))
            _identity_bn(bn, w[node.input[2]])
        dense1, bn1, dense2 = model.head[2], model.head[3], model.head[6]
        for lin, node in ((dense1, gemms[0]), (dense2, gemms[1])):
            b = w[node.input[1]]
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            lin.weight.copy_(torch.from_numpy(b if trans_b else b.T))
        _identity_bn(bn1, w[gemms[0].input[2]])
        dense2.bias.copy_(torch.from_numpy(w[gemms[1].input[2]]))
    model.eval()
    return model, meta


def _identity_bn(bn: nn.BatchNorm1d | nn.BatchNorm2d, bias: np.ndarray) -> None:
    """BatchNorm that (in eval mode) adds ``bias`` and changes nothing else."""
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0)
    bn.weight.fill_(float(np.sqrt(1.0 + bn.eps)))
    bn.bias.copy_(torch.from_numpy(bias.astype(np.float32)))


def freeze_batchnorm(model: nn.Module) -> None:
    """Put every BatchNorm in eval mode (statistics frozen, scale and shift still learnt); call after ``train()``."""
    for mod in model.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.eval()


def normalization(meta: dict) -> tuple[float, float]:
    """The (mean, std) the model's graph applies after dividing by 255."""
    norm = json.loads(meta["facemoji.preprocessing"])["normalization"]
    return float(norm["mean"]), float(norm["std"])
