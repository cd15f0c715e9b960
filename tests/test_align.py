"""Face crops aligned on CenterFace's eyes (facemoji.classify.align), on the astronaut photo turned by 20 degrees."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from skimage import data

from facemoji.classify import EmotionClassifier, default_model_path
from facemoji.classify.align import CropSpec, align_transform, box_crop, crop_face, eye_pair
from facemoji.detect.centerface import CenterFace
from facemoji.errors import ModelError
from facemoji.types import Face

SPEC = dict(scale=1.09, dx=0.0, dy=-0.033)
TURN = 20.0


@pytest.fixture(scope="module")
def scene():
    """The astronaut, the same picture turned by TURN degrees about her face, each with CenterFace's face."""
    img = data.astronaut()
    det = CenterFace(size=512)
    face = max(det.detect(img), key=lambda f: f.width)
    h, w = img.shape[:2]
    turn = cv2.getRotationMatrix2D(face.center, TURN, 1.0)
    turned = cv2.warpAffine(img, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    turned_face = max(det.detect(turned), key=lambda f: f.width)
    return img, face, turned, turned_face, turn


def gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def crop(rgb: np.ndarray, face: Face, align: str) -> np.ndarray:
    return crop_face(gray(rgb), face.box, face.landmarks, CropSpec(**SPEC, align=align), 48).astype(np.float64)


def roll_degrees(eyes: np.ndarray) -> float:
    ex, ey = eyes[1] - eyes[0]
    return math.degrees(math.atan2(ey, ex))


@pytest.mark.parametrize("align", ["roll", "eyes"])
def test_aligned_crop_of_the_turned_face_matches_the_upright_one(scene, align):
    img, face, turned, turned_face, _ = scene
    unaligned = np.abs(crop(img, face, "none") - crop(turned, turned_face, "none")).mean()
    aligned = np.abs(crop(img, face, align) - crop(turned, turned_face, align)).mean()
    corr = np.corrcoef(crop(img, face, align).ravel(), crop(turned, turned_face, align).ravel())[0, 1]
    assert unaligned > 35  # the box crop of the turned face shows her turned
    assert aligned < 0.6 * unaligned and corr > 0.8


def test_eyes_are_level_in_the_aligned_crop(scene):
    img, face, turned, turned_face, turn = scene
    # where her eyes really are in the turned picture: the upright picture's eyes, turned
    true_eyes = np.c_[face.landmarks[:2], np.ones(2)] @ turn.T
    assert abs(roll_degrees(true_eyes)) > TURN - 5
    for align in ("roll", "eyes"):
        spec = CropSpec(**SPEC, align=align)
        m = align_transform(turned_face.box, eye_pair(turned_face.box, turned_face.landmarks), spec, 48)
        in_crop = np.c_[true_eyes, np.ones(2)] @ m.T
        assert abs(roll_degrees(in_crop)) < 6, align
        assert ((in_crop > 0) & (in_crop < 48)).all()
        if align == "eyes":  # and the eye distance is the spec's share of the crop side
            assert np.hypot(*(in_crop[1] - in_crop[0])) == pytest.approx(spec.eye_distance * 48, rel=0.1)


@pytest.mark.parametrize("box", [(178, 70, 274, 166), (210, 100, 234, 124)])  # shrunk, enlarged twice
def test_level_eyes_on_a_whole_pixel_box_give_the_box_crop(box):
    """No turn, no scaling, a square on whole pixels: the warp must land on the box crop's pixel grid."""
    src = gray(data.astronaut())
    side = box[2] - box[0]
    cx, y = (box[0] + box[2]) / 2, box[1] + 0.4 * side
    lm = np.array([[cx - side / 4, y], [cx + side / 4, y], [cx, y + 10], [cx - 5, y + 20], [cx + 5, y + 20]])
    spec = CropSpec(scale=1.0, align="roll")
    aligned = crop_face(src, box, lm, spec, 48).astype(np.float64)
    assert np.abs(aligned - box_crop(src, box, spec, 48)).mean() < 0.5


def test_without_trustworthy_landmarks_the_crop_is_the_box_crop(scene):
    img, face, turned, turned_face, _ = scene
    src = gray(turned)
    spec = CropSpec(**SPEC, align="eyes")
    old = box_crop(src, turned_face.box, spec, 48)
    x1, y1, x2, y2 = turned_face.box
    bad = turned_face.landmarks.copy()
    bad[0] = (x1 - 10, y1 + 5)  # an eye outside the box
    close = turned_face.landmarks.copy()
    close[1] = close[0] + 1  # eyes one pixel apart
    nan = np.full((5, 2), np.nan)
    for lm in (None, bad, close, nan):
        assert eye_pair(turned_face.box, lm) is None
        assert np.array_equal(crop_face(src, turned_face.box, lm, spec, 48), old)
    # the classifier asked to align, on a face without landmarks, cuts exactly what it cut before alignment existed
    faces = [Face(box=turned_face.box)]
    assert np.array_equal(EmotionClassifier(align="eyes").crop_faces(turned, faces),
                          EmotionClassifier().crop_faces(turned, faces))


def with_crop_metadata(tmp_path, crop: dict):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(default_model_path()))
    for p in model.metadata_props:
        if p.key == "facemoji.crop":
            p.value = json.dumps(crop)
    path = tmp_path / "aligned.onnx"
    onnx.save(model, str(path))
    return path


def test_model_metadata_asks_for_alignment(scene, tmp_path):
    _, _, turned, turned_face, _ = scene
    shipped = EmotionClassifier()
    assert shipped.crop_spec.align == "none"
    path = with_crop_metadata(tmp_path, {**shipped.crop, "align": "eyes", "eye_distance": 0.4})
    clf = EmotionClassifier(path)
    assert clf.crop_spec.align == "eyes" and clf.crop_spec.eye_distance == 0.4
    faces = [turned_face]
    crops = clf.crop_faces(turned, faces)
    spec = CropSpec(**shipped.crop, align="eyes", eye_distance=0.4)
    assert np.array_equal(crops[0, 0], crop_face(gray(turned), turned_face.box, turned_face.landmarks, spec, 48))
    assert np.abs(crops - shipped.crop_faces(turned, faces)).mean() > 20
    # the override measures the model without its alignment
    assert np.array_equal(EmotionClassifier(path, align="none").crop_faces(turned, faces),
                          shipped.crop_faces(turned, faces))
    assert EmotionClassifier(path).predict(turned, faces).shape == (1, 7)


def test_bad_alignment_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="unknown face alignment 'tilt'"):
        EmotionClassifier(align="tilt")
    path = with_crop_metadata(tmp_path, {"scale": 1.0, "align": "eyes", "eye_distance": 3})
    with pytest.raises(ModelError, match="eye_distance"):
        EmotionClassifier(path)


def test_fer_frames_are_cut_as_the_runtime_cuts_a_detected_face(fer_public):
    """Training faces for an aligned model: each 48-px FER2013 frame where CenterFace finds a face (here on the
    frame upscaled four times, as scripts/face_landmarks.py does) is cut exactly as the runtime's classifier cuts
    that detection, eyes levelled; a frame without a detection stays whole; mismatched counts are refused."""
    from facemoji.train.realfaces import frame_crops

    frames = fer_public["x"][:24]
    det = CenterFace()
    n = len(frames)
    lms, boxes, found = np.full((n, 5, 2), np.nan, np.float32), np.zeros((n, 4), np.float32), np.zeros(n, bool)
    for i, f in enumerate(frames):
        big = np.repeat(cv2.resize(f, (192, 192), interpolation=cv2.INTER_LINEAR)[:, :, None], 3, axis=2)
        faces = det.detect(big, 192)
        if faces and faces[0].landmarks is not None:
            boxes[i] = np.array(faces[0].box) / 4
            lms[i] = np.asarray(faces[0].landmarks) / 4
            found[i] = True
    assert found.sum() >= 12, found.sum()  # most frames hold a findable face
    found[-1] = False  # and one is treated as if nothing had been found
    clf = EmotionClassifier(align="eyes")
    out = frame_crops(frames, lms, boxes, found, clf)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.array_equal(out[-1], frames[-1])
    changed = 0
    for i in np.flatnonzero(found):
        rgb = np.repeat(frames[i][:, :, None], 3, axis=2)
        want = clf.crop_faces(rgb, [Face(box=tuple(float(v) for v in boxes[i]), score=1.0, landmarks=lms[i])])[0, 0]
        assert np.array_equal(out[i], want.astype(np.uint8))
        changed += not np.array_equal(out[i], frames[i])
    assert changed == found.sum()
    with pytest.raises(ValueError):
        frame_crops(frames[:3], lms, boxes, found, clf)
