"""The audit's own face detectors: YuNet on any frame size, and OpenCV's Haar cascades as a second opinion.

Neither shares anything with CenterFace, the detector facemoji covers faces with. For each original frame
:class:`FaceFinder` gives two sets, with asymmetric thresholds so that both of the audit's counts stay conservative
(few false alarms either way):

* the faces that must be covered: YuNet faces at its normal threshold (``face_threshold``, 0.7) no smaller than
  about ``min_face``, and weaker YuNet faces (down to ``ghost_threshold``) that the Haar cascades confirm;
* every face at all, strong or weak, of any size: YuNet down to the generous ``ghost_threshold`` (0.35). A cover
  of the output is a "ghost" only when none of these lies beneath it and (with Haar on) the Haar cascades find no
  face around it either (:meth:`FaceFinder.haar_around`).

Haar alone does not make a face that must be covered where YuNet sees nothing: on the nine real clips of the
project's test material nearly every such Haar face was texture (a robot's panel, a squirrel, a coat), and on a
clip with no face at all it reported dozens of faces showing. ``--detector haar`` keeps the older audit: Haar
faces alone, on the whole frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facemoji.audit.report import DEFAULT_FACE_THRESHOLD, DEFAULT_GHOST_THRESHOLD, DETECTORS
from facemoji.errors import InputError

SAME_FACE = 0.5  # a Haar box and a YuNet box alike in size that share more than this of the smaller one: one face
Box = tuple[float, float, float, float]


@dataclass
class FaceHit:
    """One face of an original frame."""

    box: Box  # x1, y1, x2, y2 in the frame's pixels
    kind: str  # "yunet", "yunet+haar" (weak, confirmed), or a Haar cascade: "frontal", "profile", "profile-mirrored"
    score: float | None = None  # YuNet's confidence


class FaceFinder:
    """YuNet (tiled for large frames) and/or Haar on one picture: (faces to cover, boxes of every face, weak too)."""

    def __init__(self, detector: str = "both", *, face_threshold: float = DEFAULT_FACE_THRESHOLD,
                 ghost_threshold: float = DEFAULT_GHOST_THRESHOLD, min_face: int = 24,
                 detect_size: int | None = 640) -> None:
        if detector not in DETECTORS:
            raise InputError(f"unknown audit detector {detector!r} (choose {', '.join(DETECTORS)})")
        for name, v in (("face threshold", face_threshold), ("ghost threshold", ghost_threshold)):
            if not 0 < v < 1:
                raise InputError(f"the {name} must be above 0 and below 1, got {v}")
        if ghost_threshold > face_threshold:
            raise InputError(f"the ghost threshold ({ghost_threshold}) must not be above the face threshold "
                             f"({face_threshold}): a face that must be covered is a face beneath a cover too")
        self.detector = detector
        self.face_threshold = face_threshold
        self.ghost_threshold = ghost_threshold
        self.min_face = min_face
        self.yunet = self.haar = None
        if detector in ("yunet", "both"):
            from facemoji.detect.yunet import YuNet, YuNetTiles

            self.yunet = YuNetTiles(YuNet(threshold=ghost_threshold), min_face=min_face)
        if detector in ("haar", "both"):
            from facemoji.detect.haar import HaarFaces

            self.haar = HaarFaces(min_size=min_face, max_side=detect_size)

    def find(self, image: np.ndarray) -> tuple[list[FaceHit], list[Box]]:
        """The faces of RGB ``image`` that must be covered, and the boxes of every face found at all."""
        from facemoji.detect.yunet import same_face

        if self.yunet is None:
            assert self.haar is not None
            hits = self.haar.find(image)
            return [FaceHit(h.box, h.kind) for h in hits], [h.box for h in hits]
        faces: list[FaceHit] = []
        weak: list[Box] = []
        for f in self.yunet.detect(image):
            box: Box = tuple(float(v) for v in f.box)  # type: ignore[assignment]
            weak.append(box)
            if max(f.width, f.height) < 0.8 * self.min_face:
                continue
            if f.score >= self.face_threshold:
                faces.append(FaceHit(box, "yunet", float(f.score)))
            elif self.haar is not None and any(same_face(box, h, SAME_FACE) for h in self.haar_around(image, box)):
                faces.append(FaceHit(box, "yunet+haar", float(f.score)))
        return faces, weak

    def haar_around(self, image: np.ndarray, box: Box) -> list[Box]:
        """Haar faces (any cascade) in a window of twice ``box``'s size around it, at full resolution; none without
        Haar (``--detector yunet``)."""
        if self.haar is None:
            return []
        h, w = image.shape[:2]
        side = max(box[2] - box[0], box[3] - box[1], self.min_face)
        x1, y1 = max(0, int(box[0] - side / 2)), max(0, int(box[1] - side / 2))
        x2, y2 = min(w, int(box[2] + side / 2)), min(h, int(box[3] + side / 2))
        if min(x2 - x1, y2 - y1) < max(20, self.min_face):
            return []
        hits = self.haar.find(np.ascontiguousarray(image[y1:y2, x1:x2]), min_size=self.min_face)
        return [(b[0] + x1, b[1] + y1, b[2] + x1, b[3] + y1) for b in (hit.box for hit in hits)]
