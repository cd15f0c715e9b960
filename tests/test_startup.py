"""Start-up: the photo and video commands load no training or model-editing packages, and CenterFace's graph,
rewritten without the ``onnx`` package, detects exactly what the ``onnx``-edited graph does."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import compose_faces
from facemoji.detect.centerface import CenterFace, centerface_model_path, dynamic_centerface_graph

HEAVY = ("onnx", "ml_dtypes", "torch", "matplotlib", "fastapi")


def test_image_command_imports_no_heavy_package(tmp_path, astronaut):
    from PIL import Image

    src = tmp_path / "photo.jpg"
    Image.fromarray(astronaut).save(src, quality=92)
    code = (
        "import sys\n"
        "from facemoji.cli import main\n"
        f"rc = main(['image', {str(src)!r}, '-o', {str(tmp_path / 'out.jpg')!r}, '-q', '--cover', 'blur'])\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "sys.exit(rc)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"loaded at run time: {r.stdout.strip()}"
    assert (tmp_path / "out.jpg").stat().st_size > 0


def _onnx_edited_session():
    """The graph made dynamic with the ``onnx`` package, as the detector used to load it."""
    onnx = pytest.importorskip("onnx")
    from facemoji.onnxrt import open_session

    model = onnx.load(centerface_model_path())
    weights = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    for dim, name in zip(model.graph.input[0].type.tensor_type.shape.dim, "NCHW", strict=True):
        if name != "C":
            dim.ClearField("dim_value")
            dim.dim_param = name
    for out in model.graph.output:
        for dim, name in zip(out.type.tensor_type.shape.dim, "NKhw", strict=True):
            dim.ClearField("dim_value")
            dim.dim_param = f"{out.name}_{name}"
    return open_session(model.SerializeToString(), 1)


@pytest.mark.parametrize("size", [320, 640])
def test_rewritten_graph_detects_the_same_boxes(astronaut, astronaut_face, size):
    pictures = [
        astronaut,
        cv2.resize(astronaut, (900, 500), interpolation=cv2.INTER_AREA),
        compose_faces(astronaut_face, [(20, 140, 170), (240, 60, 150), (440, 200, 180)]),
        compose_faces(astronaut_face, [(-110, 300, 240), (520, -60, 200)]),
    ]
    ours = CenterFace(size=size, threads=1)
    reference = CenterFace(size=size, threads=1)
    reference._session = _onnx_edited_session()
    reference._input = reference._session.get_inputs()[0].name
    found = 0
    for img in pictures:
        a, b = ours.detect(img), reference.detect(img)
        assert len(a) == len(b)
        for fa, fb in zip(a, b, strict=True):
            assert np.abs(np.subtract(fa.box, fb.box)).max() <= 1.0
            assert fa.score == pytest.approx(fb.score, abs=1e-3)
        found += len(a)
    assert found >= 7  # the comparison is over real detections, not empty lists


def test_graph_rewrite_refuses_a_file_that_is_not_a_model():
    with pytest.raises(ValueError):
        dynamic_centerface_graph(b"\x3a\xff\xff\xff\xff\x0f")  # a length that runs past the end
    with pytest.raises(ValueError):
        dynamic_centerface_graph(b"")  # no graph
