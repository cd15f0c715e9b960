"""OpenCV's YuNet face detector: the model that ships with facemoji, or a model file of your own.

facemoji ships YuNet-n with a fixed 640x640 input (``facemoji/models/yunet/``, Apache-2.0, see ``SOURCE.md``
there). A fixed-size network takes exactly its input size, so :class:`YuNet` letterboxes every picture into it:
scaled so that its longer side fits, padded with black at the right and bottom, and the boxes mapped back to the
picture's own pixels. A model file with a free input size is run on the picture as it is.

:class:`YuNetTiles` finds small faces in large frames too (``facemoji audit`` uses it): the whole frame
letterboxed, plus, for frames larger than the network's input, the frame cut into overlapping tiles of the input's
size, merged with non-maximum suppression.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facemoji.detect.base import nms, overlap_of_smaller
from facemoji.errors import ModelError
from facemoji.types import Face

TILE_FACE = 24  # pixels the smallest face looked for is at least, in the tiles of a large frame
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "models" / "yunet" / "yunet_n_640_640.onnx"


def fixed_input_size(model_path: str | Path) -> tuple[int, int] | None:
    """(width, height) a model file's input is fixed to, or None where it is free (or cannot be read)."""
    try:
        from facemoji.onnxrt import open_session

        shape = open_session(model_path, threads=1).get_inputs()[0].shape
    except Exception:  # noqa: BLE001 - not an ONNX file at all: YuNet's own check below says so in one line
        return None
    if len(shape) == 4 and all(isinstance(v, int) and v > 0 for v in shape[2:]):
        return int(shape[3]), int(shape[2])
    return None


def letterbox(image: np.ndarray, size: tuple[int, int], scale: float) -> np.ndarray:
    """``image`` scaled by ``scale`` into the top-left corner of a black picture of ``size`` (width, height)."""
    w, h = size
    h0, w0 = image.shape[:2]
    sw, sh = min(w, max(1, round(w0 * scale))), min(h, max(1, round(h0 * scale)))
    if (sw, sh) != (w0, h0):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, (sw, sh), interpolation=interp)
    if (sw, sh) == (w, h):
        return np.ascontiguousarray(image)
    canvas = np.zeros((h, w, 3), np.uint8)
    canvas[:sh, :sw] = image
    return canvas


class YuNet:
    """YuNet on RGB pictures; ``model_path`` None takes the shipped 640x640 model."""

    name = "yunet"

    def __init__(self, model_path: str | Path | None = None, threshold: float = 0.6, size: int = 320) -> None:
        model_path = str(SHIPPED_MODEL if model_path is None else model_path)
        if not Path(model_path).is_file():
            raise ModelError(f"{model_path}: YuNet model file not found")
        if not hasattr(cv2, "FaceDetectorYN"):
            raise ModelError("this OpenCV has no FaceDetectorYN")
        self.input_size = fixed_input_size(model_path)  # None: any size
        first = self.input_size or (32, 32)
        try:
            self._det = cv2.FaceDetectorYN.create(model_path, "", first, threshold, 0.3, 5000)
            # OpenCV accepts any ONNX file here and fails only on the first image: try one now
            self._det.detect(np.zeros((first[1], first[0], 3), np.uint8))
        except cv2.error as e:
            raise ModelError(f"{model_path}: not a YuNet model ({str(e).strip().splitlines()[-1]})") from None
        self.model_path = model_path
        self.threshold = threshold
        self.size = size

    def _rows(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        if self.input_size is None:
            self._det.setInputSize((w, h))
        _, rows = self._det.detect(bgr)
        return np.zeros((0, 15), np.float32) if rows is None else rows

    def detect_bgr(self, bgr: np.ndarray, scale: float = 1.0, offset: tuple[float, float] = (0.0, 0.0)) -> list[Face]:
        """Faces in a BGR picture of the network's input size (any size for a free model), mapped to the frame it
        was cut from: a point p of the picture is ``offset + p / scale`` there."""
        ox, oy = offset
        faces = []
        for r in self._rows(bgr):
            x, y, bw, bh = (float(v) for v in r[:4])
            box = (ox + x / scale, oy + y / scale, ox + (x + bw) / scale, oy + (y + bh) / scale)
            marks = np.asarray(r[4:14], dtype=np.float32).reshape(5, 2) / scale + np.float32((ox, oy))
            faces.append(Face(box=box, score=float(r[-1]), landmarks=marks))
        return faces

    def detect(self, image: np.ndarray) -> list[Face]:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if self.input_size is None:
            return self.detect_bgr(bgr)
        h, w = image.shape[:2]
        scale = min(self.input_size[0] / w, self.input_size[1] / h)
        return self.detect_bgr(letterbox(bgr, self.input_size, scale), scale)


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Starts of tiles of ``tile`` pixels that cover ``length`` pixels, neighbours sharing at least ``overlap``."""
    if length <= tile:
        return [0]
    n = int(np.ceil((length - overlap) / (tile - overlap)))
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


class YuNetTiles:
    """YuNet on frames of any size, for faces from about ``min_face`` pixels up.

    The whole frame is letterboxed into the network's input (large faces); a frame larger than the input is also
    cut into overlapping tiles of the input's size (small faces), scaled down (never up) as far as a face of
    ``min_face`` pixels stays :data:`TILE_FACE` pixels, and further where needed for its longer side to be at most
    ``max_side``: for ``min_face`` 24, 1280x720 and 1920x1080 frames are tiled at full size (9 runs of the network
    for 1080p) and 4K frames at two thirds (16 runs), where YuNet still finds faces 24 pixels high (16 at that
    scale), if with lower scores (about 0.7 to 0.75, against 0.9 at full size and 0.6 at half size). A face cut by a tile's inner edge is dropped there: the overlap (``overlap`` pixels
    at the tiles' scale, more than the largest face the whole-frame pass can miss) holds it whole in a neighbour.
    Everything is merged by non-maximum suppression; boxes come back in the frame's pixels.
    """

    name = "yunet-tiles"

    def __init__(self, detector: YuNet | None = None, *, threshold: float = 0.6, max_side: int = 2560,
                 overlap: int = 160, min_face: int = 24) -> None:
        self.detector = detector if detector is not None else YuNet(threshold=threshold)
        if self.detector.input_size is None:
            raise ModelError(f"{self.detector.model_path}: tiles need a YuNet model of a fixed input size")
        self.tile = self.detector.input_size
        self.max_side = max_side
        self.min_face = min_face
        self.overlap = min(overlap, min(self.tile) // 2)

    def _tile_scale(self, h: int, w: int) -> float:
        return min(1.0, self.max_side / max(h, w), TILE_FACE / self.min_face)

    def _tiles(self, bgr: np.ndarray) -> list[Face]:
        h, w = bgr.shape[:2]
        scale = self._tile_scale(h, w)
        small = bgr if scale == 1.0 else cv2.resize(bgr, (round(w * scale), round(h * scale)),
                                                    interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        tw, th = self.tile
        faces = []
        for y0 in tile_origins(sh, th, self.overlap):
            for x0 in tile_origins(sw, tw, self.overlap):
                crop = letterbox(small[y0 : y0 + th, x0 : x0 + tw], self.tile, 1.0)
                edges = (x0 > 0, y0 > 0, x0 + tw < sw, y0 + th < sh)  # inner edges: left, top, right, bottom
                for f in self.detector.detect_bgr(crop):
                    x1, y1, x2, y2 = f.box
                    if (edges[0] and x1 < 2) or (edges[1] and y1 < 2) or (edges[2] and x2 > tw - 2) or (
                            edges[3] and y2 > th - 2):
                        continue
                    f.box = ((x0 + x1) / scale, (y0 + y1) / scale, (x0 + x2) / scale, (y0 + y2) / scale)
                    f.landmarks = (f.landmarks + np.float32((x0, y0))) / scale
                    faces.append(f)
        return faces

    def detect(self, image: np.ndarray) -> list[Face]:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        h, w = bgr.shape[:2]
        tw, th = self.tile
        scale = min(tw / w, th / h)
        faces = self.detector.detect_bgr(letterbox(bgr, self.tile, scale), scale)
        tiled = self._tile_scale(h, w)
        if w * tiled > tw or h * tiled > th:
            faces += self._tiles(bgr)
        if len(faces) < 2:
            return faces
        boxes = np.array([f.box for f in faces], np.float64)
        keep = nms(boxes, np.array([f.score for f in faces]), 0.3)
        kept: list[Face] = []
        for i in keep:  # the same face seen by a tile and by the whole frame, boxes too unlike for NMS
            if not any(same_face(faces[i].box, k.box) for k in kept):
                kept.append(faces[i])
        return kept


def same_face(a: tuple[float, ...], b: tuple[float, ...], overlap: float = 0.7, ratio: float = 0.3) -> bool:
    """True when boxes ``a`` and ``b`` share more than ``overlap`` of the smaller one and are alike in size (the
    smaller's area at least ``ratio`` of the larger's): never a small face inside a large box of something else."""
    areas = sorted(max(0.0, (x[2] - x[0]) * (x[3] - x[1])) for x in (a, b))
    return areas[1] > 0 and areas[0] >= ratio * areas[1] and overlap_of_smaller(a, b) > overlap
