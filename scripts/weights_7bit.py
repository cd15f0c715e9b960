"""Move an int8 emotion model's weights onto a 7-bit grid, so every x86 CPU computes what it was calibrated for.

    python scripts/weights_7bit.py src/facemoji/models/emotion.onnx -o emotion_7bit.onnx

onnxruntime runs a QDQ int8 convolution as uint8 activations times int8 weights. On x86 CPUs without
VNNI (AVX2 only, e.g. AMD Zen 3 and many laptops), its kernel adds pairs of products in 16 bits with
saturation: with full-range int8 weights the sums overflow and the shipped model fell from 72.3 % to
51.5 % on FER2013 PublicTest there, while CPUs with VNNI gave the right answer. Weights of at most 64 in
magnitude cannot overflow (2 x 255 x 64 < 32768). This halves every int8 weight (rounded) and doubles its
scale, and does the same to the int32 biases, whose scale is the product of the input's and the weight's.
New exports quantize this way from the start (``reduce_range`` in ``facemoji.train.export``); this script
converts a file whose training checkpoint is gone. Needs the ``onnx`` package (the ``train`` extra).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def to_7bit(src: str | Path, dst: str | Path) -> tuple[int, int]:
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(src))
    inits = {i.name: i for i in m.graph.initializer}
    activations = {n.input[0] for n in m.graph.node if n.op_type == "QuantizeLinear"}
    n_weights = n_biases = 0
    for node in m.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits or node.input[0] in activations:
            continue
        q = numpy_helper.to_array(inits[node.input[0]])
        scale = numpy_helper.to_array(inits[node.input[1]])
        if q.dtype == np.int8 and q.ndim >= 2:
            if np.abs(q.astype(np.int16)).max() <= 64:
                continue
            new = np.clip(np.round(q.astype(np.float32) / 2), -64, 64).astype(np.int8)
            n_weights += 1
        elif q.dtype == np.int32:
            new = np.round(q / 2).astype(np.int32)
            n_biases += 1
        else:
            continue
        inits[node.input[0]].CopyFrom(numpy_helper.from_array(new, node.input[0]))
        inits[node.input[1]].CopyFrom(numpy_helper.from_array((scale * 2).astype(scale.dtype), node.input[1]))
    for p in m.metadata_props:
        if p.key == "facemoji.quantization":
            q = json.loads(p.value)
            q["weights"] = "int8 on a 7-bit grid (|w| <= 64), per output channel"
            p.value = json.dumps(q)
    tmp = Path(str(dst) + ".tmp")
    onnx.save(m, str(tmp))
    tmp.replace(dst)
    return n_weights, n_biases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="int8 QDQ emotion model")
    ap.add_argument("-o", "--out", required=True, help="where to write the converted model")
    args = ap.parse_args()
    w, b = to_7bit(args.model, args.out)
    print(f"{args.out}: {w} weight tensors and {b} bias tensors moved to the 7-bit grid")


if __name__ == "__main__":
    main()
