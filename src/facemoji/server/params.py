"""What a request asks for besides its picture: mode, cover, strict, output format and quality.

Each is a query parameter; in a multipart upload a form field of the same name is read too (the query
parameter wins). A value that is not one of the choices is a 400 with one line that lists them: nothing a
request asks for is silently replaced by a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from facemoji.options import Options
from facemoji.overlay import COVERS, MODES
from facemoji.server.bodies import BodyError, Part

OUTPUT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def form_value(parts: list[Part], name: str) -> str | None:
    for p in parts:
        if p.name == name and p.filename is None:
            return bytes(p.data).decode("utf-8", "replace").strip()
    return None


def asked(query: Mapping[str, str], parts: list[Part], name: str) -> str | None:
    """A parameter's value: the query's, else the form field's, else None."""
    return query.get(name) or form_value(parts, name)


def parse_mode(value: str | None, default: str) -> str:
    if value is None or value == "":
        return default
    if value not in MODES:
        raise BodyError(400, f"unknown mode {value!r} (use {', '.join(MODES)})")
    return value


def parse_cover(value: str | None, default: str) -> str:
    if value is None or value == "":
        return default
    if value not in COVERS:
        raise BodyError(400, f"unknown cover {value!r} (use {', '.join(COVERS)})")
    return value


def parse_strict(value: str | bool | None, default: bool) -> bool:
    """``strict``: true/false, 1/0, yes/no or on/off (any case); JSON booleans from the live socket as they are."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise BodyError(400, f"strict must be true or false (or 1/0), got {str(value)[:40]!r}")


@dataclass(frozen=True)
class Choices:
    """How one picture is answered."""

    mode: str
    cover: str
    strict: bool

    @classmethod
    def read(cls, query: Mapping[str, str], parts: list[Part], defaults: Options) -> Choices:
        return cls(mode=parse_mode(asked(query, parts, "mode"), defaults.mode),
                   cover=parse_cover(asked(query, parts, "cover"), defaults.cover),
                   strict=parse_strict(asked(query, parts, "strict"), defaults.strict))


def parse_quality(value: str | None) -> int:
    try:
        quality = int(value if value is not None else "92")
    except ValueError:
        raise BodyError(400, "quality must be a whole number 1..100") from None
    if not 1 <= quality <= 100:
        raise BodyError(400, "quality must be a whole number 1..100")
    return quality


def negotiate_format(fmt: str | None, accept: str | None) -> str:
    """``png`` or ``jpeg``: the one asked for by name, else the best the Accept header allows (406 if none)."""
    if fmt is not None:
        f = fmt.lower()
        f = "jpeg" if f == "jpg" else f
        if f not in OUTPUT_TYPES:
            raise BodyError(400, f"unknown format {fmt!r} (use png or jpeg)")
        return f
    if not accept:
        return "png"
    best: tuple[float, int, str] | None = None
    for i, item in enumerate(accept.split(",")):
        bits = [b.strip() for b in item.split(";")]
        media, q = bits[0].lower(), 1.0
        for b in bits[1:]:
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        for name, mt in OUTPUT_TYPES.items():
            if media in (mt, "image/*", "*/*") or (name == "jpeg" and media == "image/jpg"):
                specific = 1 if media in (mt, "image/jpg") else 0
                cand = (q + 0.001 * specific, -i, name)
                if best is None or cand > best:
                    best = cand
                if specific == 0:
                    break  # a wildcard: png is the default
    if best is None:
        raise BodyError(406, "cannot answer with any type in the Accept header (use image/png or image/jpeg)")
    return best[2]
