"""How pictures are read and written, value by value: :mod:`facemoji.imageio` on real encoded files.

``test_imageio.py`` checks that every format and mode comes out RGB; these pin the conversions' arithmetic (16-bit
grey rounded, not truncated; float pictures in either range; transparency over white), the exact one-line
errors with their numbers, and the output formats and permissions.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facemoji.errors import InputError
from facemoji.imageio import (
    DEFAULT_MAX_PIXELS,
    as_rgb,
    atomic_write_bytes,
    decode_image,
    encode_image,
    read_image,
    usual_file_mode,
    write_image,
)


def saved(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_16_bit_grey_is_rounded_to_8_bits() -> None:
    values = np.array([[0, 128, 129, 257, 385, 386, 65535, 65407, 65406]], np.uint16)
    got = decode_image(saved(Image.fromarray(values)))
    assert got.shape == (1, 9, 3)
    assert list(got[0, :, 0]) == [int(int(v) * 255 / 65535 + 0.5) for v in values[0]] == [0, 0, 1, 1, 1, 2, 255, 255,
                                                                                              254]


def test_32_bit_integer_grey_above_255_is_scaled_and_below_is_kept() -> None:
    wide = Image.fromarray(np.array([[0, 256, 1000, 65535, 70000]], np.int32), mode="I")
    assert list(decode_image(saved(wide, "TIFF"))[0, :, 0]) == [0, 1, 4, 255, 255]
    assert decode_image(saved(wide, "TIFF")).shape == (1, 5, 3)
    small = Image.fromarray(np.array([[0, 7, 200, 255]], np.int32), mode="I")
    assert list(decode_image(saved(small, "TIFF"))[0, :, 0]) == [0, 7, 200, 255]
    negative = Image.fromarray(np.array([[-5, 3]], np.int32), mode="I")
    assert list(decode_image(saved(negative, "TIFF"))[0, :, 0]) == [0, 3]


def test_float_pictures_in_0_to_1_and_in_0_to_255() -> None:
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0, 0.2]], np.float32), mode="F")
    assert decode_image(saved(unit, "TIFF")).shape == (1, 4, 3)
    assert list(decode_image(saved(unit, "TIFF"))[0, :, 0]) == [0, 128, 255, 51]
    byte = Image.fromarray(np.array([[0.0, 100.0, 255.0, 300.0]], np.float32), mode="F")
    assert list(decode_image(saved(byte, "TIFF"))[0, :, 0]) == [0, 100, 255, 255]


def test_transparency_is_composited_over_white() -> None:
    rgba = Image.new("RGBA", (2, 1), (200, 0, 0, 0))
    rgba.putpixel((1, 0), (200, 0, 0, 255))
    got = decode_image(saved(rgba))
    assert tuple(got[0, 0]) == (255, 255, 255) and tuple(got[0, 1]) == (200, 0, 0)
    half = decode_image(saved(Image.new("LA", (1, 1), (0, 128))))
    assert tuple(half[0, 0]) == pytest.approx((127, 127, 127), abs=1)
    pal = Image.new("P", (2, 1), 0)
    pal.putpalette([10, 20, 30, 40, 50, 60] + [0] * 762)
    pal.putpixel((1, 0), 1)
    assert tuple(decode_image(saved(pal, transparency=0))[0, 0]) == (255, 255, 255)
    assert tuple(decode_image(saved(pal, transparency=0))[0, 1]) == (40, 50, 60)
    assert tuple(decode_image(saved(pal))[0, 0]) == (10, 20, 30)  # no transparency: the palette colour


def test_cmyk_and_grey_become_rgb() -> None:
    assert tuple(decode_image(saved(Image.new("CMYK", (1, 1), (0, 0, 0, 0)), "JPEG"))[0, 0]) == (255, 255, 255)
    assert tuple(decode_image(saved(Image.new("L", (1, 1), 77)))[0, 0]) == (77, 77, 77)


def test_read_image_errors_say_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(saved(Image.new("L", (3000, 2000))))
    cases = [
        (tmp_path / "none.jpg", "no such file"),
        (tmp_path, "is a folder, not an image"),
    ]
    (tmp_path / "empty.png").write_bytes(b"")
    cases.append((tmp_path / "empty.png", "empty file (0 bytes)"))
    (tmp_path / "text.png").write_text("hello")
    cases.append((tmp_path / "text.png", "not an image"))
    whole = saved(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG")
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    cases.append((tmp_path / "cut.png", "corrupt or truncated image"))
    for path, words in cases:
        with pytest.raises(InputError) as e:
            read_image(path)
        msg = str(e.value)
        assert msg.startswith(f"{path}: ") and words in msg and "\n" not in msg, msg
    with pytest.raises(InputError) as e:
        read_image(big, max_pixels=5_000_000)
    assert str(e.value) == (f"{big}: image too large (3000x2000 = 6 megapixels; the limit is 5, see "
                            "--max-megapixels)")
    assert read_image(big, max_pixels=6_000_000).shape == (2000, 3000, 3)  # exactly at the limit: read
    assert DEFAULT_MAX_PIXELS == 100_000_000


def test_pil_s_own_bomb_limit_is_restored_after_reading(tmp_path: Path) -> None:
    before = Image.MAX_IMAGE_PIXELS
    p = tmp_path / "a.png"
    p.write_bytes(saved(Image.new("RGB", (4, 4))))
    read_image(p)
    decode_image(p.read_bytes())
    with pytest.raises(InputError):
        read_image(tmp_path / "missing.png")
    assert Image.MAX_IMAGE_PIXELS == before


def test_decode_image_errors_name_the_upload() -> None:
    with pytest.raises(InputError, match="^photo.jpg: empty image$"):
        decode_image(b"", name="photo.jpg")
    with pytest.raises(InputError, match="^upload: not an image$"):
        decode_image(b"hello")
    with pytest.raises(InputError, match=r"^upload: image too large \(3000x2000; limit 5 megapixels\)$"):
        decode_image(saved(Image.new("L", (3000, 2000))), max_pixels=5_000_000)
    whole = saved(Image.new("RGB", (64, 64)), "PNG")
    with pytest.raises(InputError, match="^upload: corrupt or truncated image"):
        decode_image(whole[: len(whole) // 2])


@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG"), ("jpg", b"\xff\xd8"), ("JPEG", b"\xff\xd8"),
                                        (".webp", b"RIFF"), ("bmp", b"BM"), ("tif", b"II*\x00"),
                                        ("tiff", b"II*\x00")])
def test_encode_image_formats(fmt: str, magic: bytes) -> None:
    img = np.zeros((8, 12, 3), np.uint8)
    out = encode_image(img, fmt)
    assert out.startswith(magic)
    assert Image.open(io.BytesIO(out)).size == (12, 8)


def test_encode_image_quality_and_unknown_formats() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert len(encode_image(img, "jpg", quality=30)) < len(encode_image(img, "jpg", quality=95))
    assert len(encode_image(img, "jpg")) == len(encode_image(img, "jpg", quality=92))
    with pytest.raises(InputError, match="unsupported output format 'gif'"):
        encode_image(img, "gif")


def test_write_image_picks_the_format_by_suffix_and_png_without_one(tmp_path: Path) -> None:
    img = np.full((4, 6, 3), 9, np.uint8)
    write_image(tmp_path / "a.JPG", img)
    assert (tmp_path / "a.JPG").read_bytes()[:2] == b"\xff\xd8"
    write_image(tmp_path / "plain", img)
    assert (tmp_path / "plain").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.JPG", "plain"]  # no temporary left


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        assert usual_file_mode() == 0o640
        atomic_write_bytes(tmp_path / "x.bin", b"abc")
        assert (tmp_path / "x.bin").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
    assert usual_file_mode() == 0o666 & ~old


def test_atomic_write_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="output folder .* does not exist"):
        atomic_write_bytes(tmp_path / "no" / "x.bin", b"abc")


def test_atomic_write_into_a_folder_in_the_way_leaves_no_temporary(tmp_path: Path) -> None:
    (tmp_path / "x.bin").mkdir()
    with pytest.raises(InputError, match="cannot write"):
        atomic_write_bytes(tmp_path / "x.bin", b"abc")
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_atomic_write_in_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    atomic_write_bytes("here.bin", b"abc")
    assert (tmp_path / "here.bin").read_bytes() == b"abc"


def test_as_rgb_scales_clips_and_reshapes() -> None:
    assert as_rgb(np.array([[0.0, 0.5, 1.0]]))[0, :, 0].tolist() == [0, 127, 255]  # 0..1 floats are scaled
    assert as_rgb(np.array([[0.0, 2.0, 300.0]]))[0, :, 0].tolist() == [0, 2, 255]  # others are clipped
    assert as_rgb(np.array([[-4, 7, 999]], np.int32))[0, :, 0].tolist() == [0, 7, 255]
    rgba = np.dstack([np.full((2, 2), v, np.uint8) for v in (1, 2, 3, 4)])
    assert as_rgb(rgba)[0, 0].tolist() == [1, 2, 3]
    assert as_rgb(np.full((2, 2, 1), 5, np.uint8)).shape == (2, 2, 3)
    for bad in (np.zeros((2, 2, 2), np.uint8), np.zeros((0, 3, 3), np.uint8), np.zeros((3, 0, 3), np.uint8),
                np.zeros(5, np.uint8)):
        with pytest.raises(InputError, match="expected an image array of shape"):
            as_rgb(bad)
    a = np.zeros((3, 4, 3), np.uint8)[:, ::2]
    assert as_rgb(a).flags.c_contiguous


def test_reading_in_many_threads_puts_pils_own_bomb_limit_back() -> None:
    import threading

    before = Image.MAX_IMAGE_PIXELS
    data = saved(Image.new("RGB", (64, 48), (1, 2, 3)))

    def work() -> None:
        for _ in range(200):
            decode_image(data)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert before is not None and Image.MAX_IMAGE_PIXELS == before
