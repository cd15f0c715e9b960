"""Every kind of image file a user may hand us: right result or a clear InputError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facemoji.errors import InputError
from facemoji.imageio import as_rgb, decode_image, read_image, write_image


def save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_rgb_jpeg_png_webp_bmp_tiff_roundtrip(tmp_path, astronaut):
    for ext in ("jpg", "png", "webp", "bmp", "tiff"):
        p = save(Image.fromarray(astronaut), tmp_path / f"a.{ext}")
        img = read_image(p)
        assert img.shape == (512, 512, 3) and img.dtype == np.uint8
        assert np.abs(img.astype(int) - astronaut).mean() < 8


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "LA", "1"])
def test_image_modes_become_rgb(tmp_path, astronaut, mode):
    im = Image.fromarray(astronaut)
    if mode == "I;16":
        g = (np.asarray(im.convert("L")).astype(np.uint16) * 257)
        im = Image.fromarray(g)  # 16-bit grayscale
        ext = "png"
    else:
        im = im.convert(mode)
        ext = "jpg" if mode == "CMYK" else "png"
    p = save(im, tmp_path / f"m.{ext}")
    img = read_image(p)
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8
    if mode in ("L", "I;16", "LA"):
        gray = np.asarray(Image.fromarray(astronaut).convert("L")).astype(int)
        assert np.abs(img[..., 0].astype(int) - gray).mean() < 2


def test_exif_rotated_photo_comes_out_upright(tmp_path, astronaut):
    # a phone stores the sensor's pixels turned, with Orientation=6 ("rotate 90 CW to view")
    stored = np.rot90(astronaut, k=1)  # turned 90 degrees counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    p = save(Image.fromarray(stored), tmp_path / "phone.jpg", exif=exif.tobytes())
    img = read_image(p)
    assert img.shape == astronaut.shape
    assert np.abs(img.astype(int) - astronaut).mean() < 8


def test_missing_empty_folder_and_non_image(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "nope.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        read_image(tmp_path / "empty.jpg")
    with pytest.raises(InputError, match="folder"):
        read_image(tmp_path)
    (tmp_path / "notes.png").write_text("these are not pixels\n" * 20)
    with pytest.raises(InputError, match="not an image"):
        read_image(tmp_path / "notes.png")


def test_truncated_jpeg_and_png(tmp_path, astronaut):
    for ext in ("jpg", "png"):
        p = save(Image.fromarray(astronaut), tmp_path / f"full.{ext}")
        data = p.read_bytes()
        cut = tmp_path / f"cut.{ext}"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(InputError, match="corrupt or truncated"):
            read_image(cut)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    p = save(Image.new("1", (12000, 10000)), tmp_path / "bomb.png")  # 120 MP, a few kB on disk
    assert p.stat().st_size < 100_000
    with pytest.raises(InputError, match="too large"):
        read_image(p)
    with pytest.raises(InputError, match="too large"):
        decode_image(p.read_bytes())
    small = save(Image.new("L", (400, 300)), tmp_path / "ok.png")
    with pytest.raises(InputError, match="too large"):
        read_image(small, max_pixels=100_000)


def test_write_is_atomic_and_never_half_done(tmp_path, astronaut):
    out = tmp_path / "o.jpg"
    write_image(out, astronaut)
    assert read_image(out).shape == astronaut.shape
    assert [p.name for p in tmp_path.iterdir()] == ["o.jpg"]
    with pytest.raises(InputError, match="does not exist"):
        write_image(tmp_path / "missing" / "o.jpg", astronaut)
    with pytest.raises(InputError, match="format"):
        write_image(tmp_path / "o.xyz", astronaut)
    assert [p.name for p in tmp_path.iterdir()] == ["o.jpg"]


def test_as_rgb_accepts_arrays_of_every_shape(astronaut):
    assert as_rgb(astronaut[..., 0]).shape == (512, 512, 3)
    rgba = np.dstack([astronaut, np.full((512, 512), 255, np.uint8)])
    assert (as_rgb(rgba) == astronaut).all()
    assert as_rgb(astronaut.astype(np.float32) / 255).dtype == np.uint8
    with pytest.raises(InputError):
        as_rgb(np.zeros((4, 4, 5), np.uint8))


# ---- writes that fail half-way ----

HALF_WAY = r"""
import resource, signal, sys
import numpy as np
from facemoji.errors import InputError
from facemoji.imageio import write_image
from skimage import data

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    write_image(sys.argv[1], data.astronaut(), quality=95)
except InputError as e:
    print("InputError:", e)
"""


@pytest.mark.parametrize("name", ["new.png", "existing.jpg"])
def test_a_write_that_fails_half_way_leaves_nothing_under_the_final_name(tmp_path, name):
    """The disk "fills up" after 20 kB (a file-size limit on the writing process): the write fails part-way
    through the image's bytes, the error is a one-line InputError, no file appears under the final name, an
    existing file of that name keeps its old content, and no temporary file is left."""
    import subprocess
    import sys

    target = tmp_path / name
    old = b"the previous result, which must survive\n"
    if name.startswith("existing"):
        target.write_bytes(old)
    proc = subprocess.run([sys.executable, "-c", HALF_WAY, str(target), "20000"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("InputError:") and "cannot write" in proc.stdout, proc.stdout
    if name.startswith("existing"):
        assert target.read_bytes() == old
        assert [p.name for p in tmp_path.iterdir()] == [name]
    else:
        assert list(tmp_path.iterdir()) == []


def test_a_failing_rename_leaves_the_old_file_and_no_temporary(tmp_path, astronaut, monkeypatch):
    import errno
    import os

    target = tmp_path / "o.png"
    write_image(target, astronaut[:64, :64])
    before = target.read_bytes()
    calls = []

    def no_space(src, dst):
        calls.append((src, dst))
        assert Path(src).stat().st_size > 1000  # the whole image was written, under another name
        assert Path(dst).read_bytes() == before  # and the final name still holds the old result
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("facemoji.imageio.os.replace", no_space)
    with pytest.raises(InputError, match="cannot write"):
        write_image(target, astronaut)
    assert len(calls) == 1 and Path(calls[0][1]) == target
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]


def test_an_encoder_that_fails_writes_nothing(tmp_path, astronaut, monkeypatch):
    from PIL import Image

    target = tmp_path / "o.webp"

    def broken_save(self, fp, *a, **kw):
        fp.write(b"RIFF\x00\x00")  # a few bytes, then the encoder gives up
        raise OSError("encoder error -2")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises((InputError, OSError)):
        write_image(target, astronaut)
    assert list(tmp_path.iterdir()) == []
