"""Reading and writing still images safely.

All images inside facemoji are RGB ``uint8`` arrays of shape (H, W, 3).
:func:`read_image` turns any supported file into that form (EXIF rotation
applied, 16-bit, grayscale, palette, RGBA and CMYK converted) or raises
:class:`~facemoji.errors.InputError` with a one-line reason.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from facemoji.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
DEFAULT_MAX_PIXELS = 100_000_000
MIN_SIDE = 1


_PIL_LIMIT_LOCK = threading.Lock()
_PIL_LIMIT_USERS = [0, None]  # readers in flight, and PIL's own limit while they are


@contextmanager
def _pil_size_check_off():
    """PIL's decompression-bomb limit off while a picture is read (the callers check its size themselves, against
    their own limit, before decoding). PIL's limit is one global: readers in several threads share one switch, and
    the last to finish puts PIL's limit back, so no interleaving leaves it off."""
    from PIL import Image

    with _PIL_LIMIT_LOCK:
        if _PIL_LIMIT_USERS[0] == 0:
            _PIL_LIMIT_USERS[1] = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _PIL_LIMIT_USERS[0] += 1
    try:
        yield
    finally:
        with _PIL_LIMIT_LOCK:
            _PIL_LIMIT_USERS[0] -= 1
            if _PIL_LIMIT_USERS[0] == 0:
                Image.MAX_IMAGE_PIXELS = _PIL_LIMIT_USERS[1]


def _to_rgb_array(im) -> np.ndarray:  # im: PIL.Image.Image
    from PIL import Image

    mode = im.mode
    # deep grey images are brought to 8 bits in integer (or float32) arithmetic, not float64, so a
    # 100-megapixel scan costs 4 bytes a pixel on the way instead of 16
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im)
        if mode.startswith("I;16") or a.max() > 255:
            # round(a * 255 / 65535): exact, and never a tie (65535 = 255 * 257)
            wide = np.clip(a, 0, 65535).astype(np.uint32)
            wide *= 255
            wide += 32767
            wide //= 65535
            g = wide.astype(np.uint8)
        else:
            g = np.clip(a, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode == "F":
        a = np.array(im, dtype=np.float32)
        if a.max() > 1.0:
            a /= 255.0
        a *= 255.0
        a += 0.5
        g = np.clip(a, 0, 255, out=a).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as an RGB uint8 array, upright per its EXIF orientation."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not an image")
    try:
        size = p.stat().st_size
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror})") from None
    if size == 0:
        raise InputError(f"{p}: empty file (0 bytes)")
    try:
        with _pil_size_check_off(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(p) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise InputError(
                        f"{p}: image too large ({w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is "
                        f"{max_pixels / 1e6:.0f}, see --max-megapixels)"
                    )
                if w < MIN_SIDE or h < MIN_SIDE:
                    raise InputError(f"{p}: image has no pixels ({w}x{h})")
                im.load()
                im = ImageOps.exif_transpose(im)
                return np.ascontiguousarray(_to_rgb_array(im))
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"{p}: not an image (or a format facemoji cannot read)") from None
    except (OSError, SyntaxError, ValueError) as e:
        msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        if "truncated" in msg.lower() or isinstance(e, OSError):
            raise InputError(f"{p}: corrupt or truncated image ({msg})") from None
        raise InputError(f"{p}: cannot decode image ({msg})") from None
    except Image.DecompressionBombError as e:  # pragma: no cover - guarded above
        raise InputError(f"{p}: image too large ({e})") from None


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "upload") -> np.ndarray:
    """Decode image bytes (for uploads) the same way as :func:`read_image`."""
    import io

    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise InputError(f"{name}: empty image")
    try:
        with _pil_size_check_off(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise InputError(f"{name}: image too large ({w}x{h}; limit {max_pixels / 1e6:.0f} megapixels)")
                im.load()
                im = ImageOps.exif_transpose(im)
                return np.ascontiguousarray(_to_rgb_array(im))
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"{name}: not an image") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{name}: corrupt or truncated image ({str(e).splitlines()[0] if str(e) else e})") from None


def encode_image(image: np.ndarray, fmt: str = "png", quality: int = 92) -> bytes:
    """Encode an RGB array as PNG, JPEG or WebP bytes."""
    import io

    from PIL import Image

    fmt = fmt.lower().lstrip(".")
    pil_fmt = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP", "tif": "TIFF",
               "tiff": "TIFF"}.get(fmt)
    if pil_fmt is None:
        raise InputError(f"unsupported output format {fmt!r} (use png, jpg, webp, bmp or tiff)")
    buf = io.BytesIO()
    kw = {"quality": quality} if pil_fmt in ("JPEG", "WEBP") else {}
    Image.fromarray(image).save(buf, format=pil_fmt, **kw)
    return buf.getvalue()


def usual_file_mode() -> int:
    """The permissions a plain ``open(path, "w")`` would give (mkstemp makes files private)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{p}: output folder {parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=parent)
    except OSError as e:
        raise InputError(f"{p}: cannot write there ({e.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, usual_file_mode())
        os.replace(tmp, p)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"{p}: cannot write ({e.strerror})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 92) -> None:
    """Write an RGB array, format chosen by the file's suffix, atomically."""
    p = Path(path)
    suffix = p.suffix.lower() or ".png"
    atomic_write_bytes(p, encode_image(image, suffix, quality))


def as_rgb(image: np.ndarray | str | os.PathLike) -> np.ndarray:
    """Accept a path or an array (RGB, RGBA or grayscale) and return RGB uint8."""
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    a = np.asarray(image)
    if a.dtype != np.uint8:
        if a.dtype.kind == "f" and a.size and a.max() <= 1.0:
            a = a * 255.0
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        raise InputError(f"expected an image array of shape (H, W, 3), got {np.asarray(image).shape}")
    return np.ascontiguousarray(a)
