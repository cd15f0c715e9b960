"""What a video shows for a still face: the one-view ``fast`` model, its readings alternating with the mirror image.

For every photo of a class-folder set (by default ``runs/realval``, the validation part of the real photos written
by ``scripts/realfaces_study.py --write-val``), the largest face is found as ``facemoji image`` finds it (CenterFace
at 640 px) and read three ways: by the ``full`` model (four views in its graph, as photos are read), by the
``fast`` model as it is, and by the ``fast`` model mirrored. Then the video path is replayed for a face that
holds still: five readings a second, alternating plain and mirrored (``FaceFollower.classify``), through the
tracks' smoothing (``facemoji.stream.track.EmotionSmoother``), and the label shown after 0.4, 1 and 2 seconds is scored.
A photo without a face counts as wrong.

    python archive/scripts/video_readings_study.py [FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from facemoji.classify import EmotionClassifier
from facemoji.imageio import read_image
from facemoji.labels import EMOTIONS
from facemoji.pipeline import Pipeline
from facemoji.stream.track import EmotionSmoother

READINGS_PER_SECOND = 5


def main(folder: str) -> None:
    pipe = Pipeline(detect_size=640)
    full, fast = pipe.classifier, EmotionClassifier("fast")
    truth: list[int] = []
    reads: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = []
    for path in sorted(Path(folder).glob("*/*")):
        if path.parent.name not in EMOTIONS:
            continue
        img = read_image(path)
        faces = pipe.detect(img)
        truth.append(EMOTIONS.index(path.parent.name))
        if not faces:
            reads.append(None)
            continue
        crops = full.crop_faces(img, [max(faces, key=lambda f: f.width * f.height)])
        reads.append((full.predict_crops(crops)[0], fast.predict_crops(crops)[0],
                      fast.predict_crops(crops[..., ::-1].copy())[0]))
    ys = np.array(truth)

    def report(name: str, labels: list[str | None]) -> None:
        pred = np.array([EMOTIONS.index(lab) if lab else -1 for lab in labels])
        neutral = ys == EMOTIONS.index("neutral")
        recall = " ".join(f"{c} {(pred[ys == k] == k).mean():.3f}" for k, c in enumerate(EMOTIONS) if (ys == k).any())
        print(f"{name:30s} accuracy {(pred == ys).mean():.4f}  neutral called angry "
              f"{(pred[neutral] == EMOTIONS.index('angry')).mean():.4f}  recall {recall}")

    print(f"{len(ys)} photos, {sum(r is None for r in reads)} without a face")
    report("full model, photo", [None if r is None else EMOTIONS[int(np.argmax(r[0]))] for r in reads])
    report("fast model, one view", [None if r is None else EMOTIONS[int(np.argmax(r[1]))] for r in reads])
    for seconds in (0.4, 1.0, 2.0):
        shown: list[str | None] = []
        for r in reads:
            label = None
            if r is not None:
                smoother = EmotionSmoother(EMOTIONS)
                for k in range(round(seconds * READINGS_PER_SECOND)):
                    label = smoother.update(r[1] if k % 2 == 0 else r[2], k / READINGS_PER_SECOND)
            shown.append(label)
        report(f"fast, alternating, {seconds:.1f} s", shown)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/realval")
