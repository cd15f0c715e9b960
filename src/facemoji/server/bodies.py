"""Reading uploads into memory, with a size cap, and never onto disk.

Starlette's form parser spools large files to temporary files; facemoji
promises that nothing a user sends is written anywhere, so the request body is
read here (refused as soon as it passes the limit) and multipart bodies are
split in memory with python-multipart's low-level parser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

try:
    from python_multipart.multipart import MultipartParser, parse_options_header
except ImportError:  # python-multipart before 0.0.13
    from multipart.multipart import MultipartParser, parse_options_header  # type: ignore[no-redef]


class BodyError(Exception):
    """The request body cannot be used; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_capped(stream: AsyncIterator[bytes], limit: int, declared: str | None) -> bytes:
    """Collect a request body of at most ``limit`` bytes (413 beyond it)."""
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise BodyError(400, "malformed Content-Length header") from None
        if n > limit:
            raise BodyError(413, f"upload too large ({n} bytes; the limit is {limit} bytes)")
    buf = bytearray()
    async for chunk in stream:
        buf += chunk
        if len(buf) > limit:
            raise BodyError(413, f"upload too large (over the limit of {limit} bytes)")
    return bytes(buf)


@dataclass
class Part:
    name: str | None = None
    filename: str | None = None
    content_type: str | None = None
    data: bytearray = field(default_factory=bytearray)


def _disposition(value: bytes) -> tuple[str | None, str | None]:
    kind, opts = parse_options_header(value)
    if kind != b"form-data":
        return None, None
    name = opts.get(b"name")
    filename = opts.get(b"filename")
    return (name.decode("utf-8", "replace") if name is not None else None,
            filename.decode("utf-8", "replace") if filename is not None else None)


def parse_multipart(body: bytes, content_type: str, max_parts: int = 16) -> list[Part]:
    """Split a multipart/form-data body into its parts (all in memory)."""
    _, opts = parse_options_header(content_type)
    boundary = opts.get(b"boundary")
    if not boundary:
        raise BodyError(400, "malformed multipart body: no boundary in the Content-Type header")
    parts: list[Part] = []
    header_field = bytearray()
    header_value = bytearray()
    current: list[Part] = []
    ended: list[bool] = []

    def on_part_begin() -> None:
        if len(parts) >= max_parts:
            raise BodyError(400, f"malformed multipart body: more than {max_parts} parts")
        current[:] = [Part()]

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current[0].data += data[start:end]

    def on_part_end() -> None:
        parts.append(current[0])

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        key = bytes(header_field).lower()
        if key == b"content-disposition":
            current[0].name, current[0].filename = _disposition(bytes(header_value))
        elif key == b"content-type":
            current[0].content_type = bytes(header_value).decode("latin-1")
        header_field.clear()
        header_value.clear()

    def on_end() -> None:
        ended.append(True)

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_end": on_end,
    })
    try:
        parser.write(body)
        parser.finalize()
    except BodyError:
        raise
    except Exception as e:  # python-multipart raises its own errors (and ValueError) on bad input
        raise BodyError(400, f"malformed multipart body ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if not ended:
        raise BodyError(400, "malformed multipart body: it ends before its closing boundary")
    return parts
