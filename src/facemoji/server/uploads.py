"""Reading an upload and reserving what answering it will cost.

What one request may cost is bounded before it is read: a full queue is answered 503 as soon as the headers
are in; an upload reserves its size, then its decoded picture's memory, from the budget (413 when one picture
needs more than a share, 503 when the total is spoken for right now). Bodies are read here, in memory only
(:mod:`facemoji.server.bodies`), never spooled to disk.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import Request

from facemoji.errors import InputError
from facemoji.server.bodies import BodyError, Part, parse_multipart, read_capped
from facemoji.server.budget import HUGE, MIB, MemoryBudget, Ticket, image_cost
from facemoji.server.config import ServerConfig
from facemoji.server.worker import Busy, PipelineWorker

RAW_TYPES = ("application/octet-stream",)
MULTIPART = "multipart/form-data"
MULTIPART_SLACK = 64 * 1024  # a multipart body may exceed the upload limit by its boundaries and fields
DRAIN_AT_LEAST = 64 * 1024 * 1024


@dataclass
class Upload:
    """An upload's image bytes, its file name (multipart only) and its multipart parts (empty for raw bodies)."""

    data: bytes
    filename: str | None = None
    parts: list[Part] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.filename or "upload"


def filename(name: str | None) -> str | None:
    """The last part of an upload's file name (no folders), at most 255 characters."""
    if not name:
        return None
    return name.replace("\\", "/").rsplit("/", 1)[-1][:255] or None


async def body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives (straight from the ASGI server, never spooled)."""
    while True:
        msg = await request.receive()
        if msg["type"] == "http.disconnect":
            raise BodyError(400, "the client went away during the upload")
        chunk = msg.get("body", b"")
        if chunk:
            yield chunk
        if not msg.get("more_body", False):
            return


async def drain(chunks: AsyncIterator[bytes], cap: int, timeout: float) -> None:
    """Read and discard the rest of an oversized body (up to ``cap``) so the client gets to see our answer."""

    async def consume() -> None:
        seen = 0
        async for chunk in chunks:
            seen += len(chunk)
            if seen > cap:
                return

    with contextlib.suppress(Exception):
        await asyncio.wait_for(consume(), timeout)


def media_type(request: Request) -> str:
    """The upload's media type, or a 415 for one that cannot be an image or a form."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if request.headers.get("content-encoding", "identity").lower() not in ("", "identity"):
        raise BodyError(415, "compressed request bodies are not accepted; send the image file as is")
    if media and media != MULTIPART and not media.startswith("image/") and media not in RAW_TYPES:
        raise BodyError(415, f"unsupported Content-Type {media!r}: send an image as the body (image/*, "
                        "application/octet-stream) or as the multipart/form-data field 'file'")
    return media


class Uploads:
    """Admission, reading and memory reservation of uploads (and of the live camera's frames)."""

    def __init__(self, cfg: ServerConfig, worker: PipelineWorker, budget: MemoryBudget) -> None:
        self.cfg = cfg
        self.worker = worker
        self.budget = budget
        self.reading = 0  # uploads being received right now (the event loop's thread only)

    def memory_busy(self, need: int) -> Busy:
        b = self.budget
        return Busy(self.worker.retry_after(), f"not enough memory free for this image now (it needs about "
                    f"{need / MIB:.0f} MB; {b.used / MIB:.0f} of {b.total / MIB:.0f} MB are in use)")

    async def read(self, request: Request, ticket: Ticket) -> Upload:
        """The upload, once everything that can be refused from its headers alone has been.

        That is a wrong type, a full queue, too many uploads at once or no memory for the declared size, all
        refused before the body is read. ``ticket`` then holds the upload's size.
        """
        media = media_type(request)
        self.worker.check_room()
        if self.reading >= self.cfg.max_body_readers:
            raise Busy(1, "too many uploads at once")
        limit = self.cfg.max_upload_bytes + (MULTIPART_SLACK if media == MULTIPART else 0)
        declared = request.headers.get("content-length")
        expect = min(int(declared), limit) if declared is not None and declared.isdigit() else limit
        if not ticket.resize(expect):
            raise self.memory_busy(expect)
        self.reading += 1
        try:
            body = await self._receive(request, limit)
        finally:
            self.reading -= 1
        ticket.resize(len(body))
        if not body:
            raise BodyError(400, "empty request body: send an image")
        if media != MULTIPART:
            return Upload(body)
        return self._form_upload(body, request.headers.get("content-type", ""))

    async def _receive(self, request: Request, limit: int) -> bytes:
        chunks = body_chunks(request)
        timeout = self.cfg.body_timeout
        try:
            return await asyncio.wait_for(read_capped(chunks, limit, request.headers.get("content-length")), timeout)
        except asyncio.TimeoutError:
            raise BodyError(408, f"upload not received within {timeout:.0f} s") from None
        except BodyError as e:
            if e.status == 413:
                await drain(chunks, max(4 * limit, DRAIN_AT_LEAST), timeout)
            raise

    def _form_upload(self, body: bytes, content_type: str) -> Upload:
        parts = parse_multipart(body, content_type)
        files = [p for p in parts if p.name == "file"]
        if not files:
            raise BodyError(400, "multipart body has no 'file' field")
        f = files[0]
        if not f.data:
            raise BodyError(400, "the 'file' field is empty: send an image")
        if len(f.data) > self.cfg.max_upload_bytes:
            raise BodyError(413, f"upload too large (over the limit of {self.cfg.max_upload_bytes} bytes)")
        return Upload(bytes(f.data), filename(f.filename), parts)

    def reserve_image(self, ticket: Ticket, data: bytes, name: str, max_pixels: int) -> None:
        """Hold the memory decoding and answering ``data`` will take, or refuse it (413, or 503 for now)."""
        pixels, cost = image_cost(data)
        if pixels >= HUGE:
            raise InputError(f"{name}: image too large (far over the limit of {max_pixels / 1e6:.0f} megapixels)")
        if pixels > max_pixels:
            raise InputError(f"{name}: image too large ({pixels / 1e6:.0f} megapixels; the limit is "
                             f"{max_pixels / 1e6:.0f})")
        per = self.budget.per_request
        if cost > per:
            raise BodyError(413, f"{name}: image too large for the memory budget ({pixels / 1e6:.0f} megapixels "
                            f"need about {cost / MIB:.0f} MB; one image may use {per / MIB:.0f} MB)")
        if not ticket.resize(cost):
            raise self.memory_busy(cost)
