"""The FastAPI application: the web page, the HTTP API and the live WebSocket.

Everything runs on this machine. Uploads and camera frames are held in memory
only while they are answered, then dropped; nothing is written to disk.

What one request may cost is bounded before it is read: a full queue is
answered 503 as soon as the headers are in; an upload reserves its size and
its decoded picture's memory from a budget (413 when one picture needs more
than a share, 503 when the total is spoken for right now); pictures are decoded
on the model's worker threads, so images waiting in the queue are still
compressed. Requests from other web sites, and for host names other than this
machine's, are refused (:mod:`facemoji.server.guard`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from facemoji import __version__
from facemoji.errors import InputError
from facemoji.imageio import decode_image, encode_image
from facemoji.labels import EMOTIONS
from facemoji.overlay import MODES
from facemoji.overlay.emoji import DEFAULT_SCALE
from facemoji.server.bodies import BodyError, parse_multipart, read_capped
from facemoji.server.budget import HUGE, MIB, MemoryBudget, Ticket, image_cost
from facemoji.server.connections import ConnectionLimits
from facemoji.server.guard import TrustedHosts, trusted_names
from facemoji.server.worker import Busy, PipelineWorker

log = logging.getLogger("facemoji.server")

STATIC_DIR = Path(str(importlib.resources.files("facemoji") / "server" / "static"))
RAW_TYPES = ("application/octet-stream",)
OUTPUT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}
HEADER_FACES = 32  # at most this many faces are repeated in the X-Facemoji-Result header
# The page may only load what this server serves (nothing from the internet).
CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
       "connect-src 'self' blob:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'")


@dataclass
class ServerConfig:
    """Settings of one server (the ``facemoji serve`` options)."""

    detector: str = "centerface"
    model: str | None = None
    detect_size: int = 640  # uploads (photos)
    live_detect_size: int = 320  # camera frames from the page
    threshold: float = 0.5
    mode: str = "emoji"  # emojify's default, and the page's
    emoji_scale: float = DEFAULT_SCALE
    threads: int = 1  # CPU threads per model call
    workers: int = 2  # worker threads, each with its own copy of the pipelines
    queue_size: int = 8  # jobs waiting for the model, beyond the one running
    max_upload_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_live_bytes: int = 4 * 1024 * 1024  # one camera frame over the WebSocket
    max_live_pixels: int = 4_000_000
    max_live_clients: int = 8
    max_body_readers: int = 64  # uploads being received at once
    body_timeout: float = 30.0  # seconds to receive one upload
    ws_idle_timeout: float = 60.0  # close a live connection that sends nothing for this long
    ws_send_timeout: float = 10.0  # ... or that does not take its answers
    # memory: uploads and decoded pictures of all requests in flight, estimated before decoding
    memory_budget_bytes: int = 2048 * MIB
    image_budget_bytes: int | None = None  # one request's share; None: half the total
    # names accepted in the Host header besides 127.0.0.1, localhost and ::1 (e.g. the --host address)
    allowed_hosts: tuple[str, ...] = ()
    # connections (enforced by the HTTP protocol, see facemoji.server.connections)
    header_timeout: float = 10.0  # seconds to send a request's line and headers
    max_connections: int = 512
    max_connections_per_client: int = 64

    def connection_limits(self) -> ConnectionLimits:
        return ConnectionLimits(max_connections=self.max_connections, max_per_client=self.max_connections_per_client,
                                header_timeout=self.header_timeout, body_timeout=self.body_timeout)

    def image_budget(self) -> int:
        share = self.image_budget_bytes if self.image_budget_bytes is not None else self.memory_budget_bytes // 2
        return min(share, self.memory_budget_bytes)


class Models:
    """The pipelines, touched only by the worker thread."""

    def __init__(self, cfg: ServerConfig) -> None:
        from facemoji.pipeline import Pipeline

        kw: dict[str, Any] = {"detector": cfg.detector, "model": cfg.model, "threshold": cfg.threshold,
                              "emoji_scale": cfg.emoji_scale, "threads": cfg.threads}
        self.photo = Pipeline(detect_size=cfg.detect_size, **kw)
        if cfg.live_detect_size == cfg.detect_size:
            self.live = self.photo
        else:
            self.live = Pipeline(detect_size=cfg.live_detect_size, **kw)
            self.live.classifier = self.photo.classifier  # one copy of the emotion model
            self.live.emoji = self.photo.emoji
        self.classes = tuple(self.photo.classes)


DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}


def _swagger_assets() -> Path | None:
    """Swagger UI's files from the swagger-ui-py package, served by us so /docs needs no internet."""
    try:
        import swagger_ui
    except ImportError:
        return None
    folder = Path(swagger_ui.__file__).parent / "static"
    return folder if all((folder / n).is_file() for n in DOCS_ASSETS) else None


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def busy_response(e: Busy) -> JSONResponse:
    return error(503, f"server busy: {e.reason}; retry in {e.retry_after} s", {"Retry-After": str(e.retry_after)})


def input_status(e: InputError) -> int:
    return 413 if "too large" in str(e) else 400


def _filename(name: str | None) -> str | None:
    if not name:
        return None
    return name.replace("\\", "/").rsplit("/", 1)[-1][:255] or None


def _negotiate_format(fmt: str | None, accept: str | None) -> str:
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


def _form_value(parts: list, name: str) -> str | None:
    for p in parts:
        if p.name == name and p.filename is None:
            return bytes(p.data).decode("utf-8", "replace").strip()
    return None


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """Build the app (loads the models now, so a bad model file fails before serving)."""
    cfg = config or ServerConfig()
    if cfg.mode not in MODES:
        raise ValueError(f"unknown mode {cfg.mode!r} (choose {', '.join(MODES)})")
    if cfg.workers < 1:
        raise ValueError("workers must be at least 1")
    all_models = [Models(cfg) for _ in range(cfg.workers)]
    models = all_models[0]
    worker = PipelineWorker(all_models, queue_size=cfg.queue_size)
    budget = MemoryBudget(cfg.memory_budget_bytes, cfg.image_budget())
    emoji_png = {
        name: (importlib.resources.files("facemoji") / "assets" / "emoji" / f"{name}.png").read_bytes()
        for name in EMOTIONS
    }
    readers = {"n": 0}
    live_clients = {"n": 0}
    started = time.time()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        worker.close()

    app = FastAPI(
        title="facemoji",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served below from local files: FastAPI's own /docs and /redoc load scripts from a CDN
        redoc_url=None,
        description="Find the faces in an image, name each one's expression (angry, disgust, fear, happy, sad, "
        "surprise, neutral) and cover it with the matching emoji. **Everything runs on this machine**: images are "
        "held in memory only while they are answered and are never stored.\n\n"
        "Send an image (JPEG, PNG, WebP, BMP, TIFF) either as the raw request body (`Content-Type: image/...` or "
        "`application/octet-stream`) or as the multipart form field `file`. Errors are JSON: `{\"error\": \"...\"}`. "
        "When too many images are waiting the server answers 503 with a `Retry-After` header.\n\n"
        "The web page's live camera view uses the WebSocket `/ws/live` (same origin only): each binary message is "
        "one camera frame (JPEG, PNG or WebP); the server answers with one JSON text message per frame it "
        "analyzes: `{\"type\": \"result\", \"width\", \"height\", \"faces\": [...], \"ms\", \"received\", "
        "\"dropped\"}`, or `{\"type\": \"busy\", \"retry_after\"}` / `{\"type\": \"error\", \"error\"}`. "
        "A frame that arrives while an older one waits replaces it, so send the next frame after each answer.",
    )
    app.state.worker = worker
    app.state.models = models
    app.state.config = cfg
    app.state.budget = budget
    app.add_middleware(TrustedHosts, allowed=trusted_names(None, cfg.allowed_hosts))

    # -- errors as {"error": ...} ----------------------------------------
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_req: Request, exc: RequestValidationError) -> JSONResponse:
        msgs = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()))
            msgs.append(f"{where}: {e.get('msg', 'invalid')}")
        return error(400, "; ".join(msgs) or "invalid request")

    @app.exception_handler(BodyError)
    async def _body_error(_req: Request, exc: BodyError) -> JSONResponse:
        return error(exc.status, exc.message)

    @app.exception_handler(InputError)
    async def _input_error(_req: Request, exc: InputError) -> JSONResponse:
        return error(input_status(exc), str(exc))

    @app.exception_handler(Busy)
    async def _busy(_req: Request, exc: Busy) -> JSONResponse:
        return busy_response(exc)

    @app.exception_handler(Exception)
    async def _crash(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error(500, "internal error")

    # -- reading uploads ---------------------------------------------------
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

    async def drain(chunks: AsyncIterator[bytes], cap: int) -> None:
        """Read and discard the rest of an oversized body (up to ``cap``) so the client gets to see our answer."""

        async def consume() -> None:
            seen = 0
            async for chunk in chunks:
                seen += len(chunk)
                if seen > cap:
                    return

        with contextlib.suppress(Exception):
            await asyncio.wait_for(consume(), cfg.body_timeout)

    def memory_busy(need: int) -> Busy:
        return Busy(worker.retry_after(), f"not enough memory free for this image now (it needs about "
                    f"{need / MIB:.0f} MB; {budget.used / MIB:.0f} of {budget.total / MIB:.0f} MB are in use)")

    async def read_upload(request: Request, ticket: Ticket) -> tuple[bytes, str | None, list]:
        """The image bytes, the upload's file name, and the multipart parts (empty for raw bodies).

        Everything that can be refused from the headers alone (wrong type, full
        queue, too many uploads at once, no memory for the declared size) is
        refused before the body is read. ``ticket`` then holds the upload's size.
        """
        ctype = request.headers.get("content-type", "")
        media = ctype.split(";", 1)[0].strip().lower()
        if request.headers.get("content-encoding", "identity").lower() not in ("", "identity"):
            raise BodyError(415, "compressed request bodies are not accepted; send the image file as is")
        if media and media != "multipart/form-data" and not media.startswith("image/") and media not in RAW_TYPES:
            raise BodyError(415, f"unsupported Content-Type {media!r}: send an image as the body (image/*, "
                            "application/octet-stream) or as the multipart/form-data field 'file'")
        worker.check_room()
        if readers["n"] >= cfg.max_body_readers:
            raise Busy(1, "too many uploads at once")
        limit = cfg.max_upload_bytes + (64 * 1024 if media == "multipart/form-data" else 0)
        declared = request.headers.get("content-length")
        expect = min(int(declared), limit) if declared is not None and declared.isdigit() else limit
        if not ticket.resize(expect):
            raise memory_busy(expect)
        readers["n"] += 1
        try:
            chunks = body_chunks(request)
            try:
                body = await asyncio.wait_for(
                    read_capped(chunks, limit, request.headers.get("content-length")), cfg.body_timeout)
            except asyncio.TimeoutError:
                raise BodyError(408, f"upload not received within {cfg.body_timeout:.0f} s") from None
            except BodyError as e:
                if e.status == 413:
                    await drain(chunks, max(4 * limit, 64 * 1024 * 1024))
                raise
        finally:
            readers["n"] -= 1
        ticket.resize(len(body))
        if not body:
            raise BodyError(400, "empty request body: send an image")
        if media != "multipart/form-data":
            return body, None, []
        parts = parse_multipart(body, ctype)
        files = [p for p in parts if p.name == "file"]
        if not files:
            raise BodyError(400, "multipart body has no 'file' field")
        f = files[0]
        if not f.data:
            raise BodyError(400, "the 'file' field is empty: send an image")
        if len(f.data) > cfg.max_upload_bytes:
            raise BodyError(413, f"upload too large (over the limit of {cfg.max_upload_bytes} bytes)")
        return bytes(f.data), _filename(f.filename), parts

    def reserve_image(ticket: Ticket, data: bytes, name: str, max_pixels: int) -> None:
        """Hold the memory decoding and answering ``data`` will take, or refuse it (413, or 503 for now)."""
        pixels, cost = image_cost(data)
        if pixels >= HUGE:
            raise InputError(f"{name}: image too large (far over the limit of {max_pixels / 1e6:.0f} megapixels)")
        if pixels > max_pixels:
            raise InputError(f"{name}: image too large ({pixels / 1e6:.0f} megapixels; the limit is "
                             f"{max_pixels / 1e6:.0f})")
        if cost > budget.per_request:
            raise BodyError(413, f"{name}: image too large for the memory budget ({pixels / 1e6:.0f} megapixels "
                            f"need about {cost / MIB:.0f} MB; one image may use {budget.per_request / MIB:.0f} MB)")
        if not ticket.resize(cost):
            raise memory_busy(cost)

    image_body = {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary", "description": "the image"}}}},
            "image/*": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
    err_schema = {"application/json": {"schema": {"type": "object", "required": ["error"],
                                                  "properties": {"error": {"type": "string"}}}}}
    common_errors: dict[int | str, dict[str, Any]] = {
        400: {"description": "not an image, a truncated image, a malformed request or an empty body",
              "content": err_schema},
        413: {"description": "upload over the size limit, or more pixels than allowed", "content": err_schema},
        415: {"description": "unsupported Content-Type", "content": err_schema},
        503: {"description": "too many images waiting; see the Retry-After header", "content": err_schema},
    }

    # -- routes ------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> Response:
        html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})

    @app.get("/emoji/{name}.png", include_in_schema=False)
    async def emoji(name: str) -> Response:
        data = emoji_png.get(name)
        if data is None:
            return error(404, f"no emoji named {name!r}")
        return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=86400"})

    @app.get("/healthz", summary="Health and load")
    async def healthz() -> dict[str, Any]:
        """`status` is `ok` while the server answers; `queue` tells how busy the model is."""
        return {
            "status": "ok", "version": __version__, "classes": list(models.classes),
            "emoji_scale": cfg.emoji_scale, "modes": list(MODES), "default_mode": cfg.mode,
            "queue": {"in_use": worker.in_use, "capacity": worker.capacity},
            "uploads": readers["n"], "completed": worker.completed, "rejected": worker.rejected,
            "uptime_s": round(time.time() - started, 1),
            "limits": {"max_upload_bytes": cfg.max_upload_bytes, "max_pixels": cfg.max_pixels,
                       "max_live_bytes": cfg.max_live_bytes, "max_live_pixels": cfg.max_live_pixels},
            "connections": conn.stats() if (conn := getattr(app.state, "connections", None)) else None,
            "memory": {"budget_bytes": budget.total, "per_image_bytes": budget.per_request,
                       "in_use_bytes": budget.used, "peak_bytes": budget.peak, "refused": budget.refused},
        }

    @app.post(
        "/api/v1/analyze", summary="Faces and expressions in an image",
        openapi_extra={"requestBody": image_body},
        responses={200: {"description": "one image record of docs/schema.json: width, height, faces (largest "
                         "first; box, score, emotion, probabilities)"}, **common_errors},
    )
    async def analyze(request: Request) -> JSONResponse:
        """Find every face and name its expression. The answer is the same per-image record as
        `facemoji image --json` writes (with `path` set to the upload's file name when it has one)."""
        with budget.ticket() as ticket:
            data, filename, _ = await read_upload(request, ticket)
            name = filename or "upload"
            with worker.try_acquire():
                reserve_image(ticket, data, name, cfg.max_pixels)

                def job(m: Models) -> tuple[tuple[int, ...], list]:
                    img = decode_image(data, cfg.max_pixels, name)
                    return img.shape, m.photo.analyze(img)

                shape, faces = await worker.run(job)
        record: dict[str, Any] = {}
        if filename:
            record["path"] = filename
        record.update({"width": int(shape[1]), "height": int(shape[0]), "faces": [f.to_dict() for f in faces]})
        return JSONResponse(record)

    @app.post(
        "/api/v1/emojify", summary="The image with emoji over the faces",
        openapi_extra={
            "requestBody": image_body,
            "parameters": [
                {"name": "mode", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": list(MODES), "default": cfg.mode},
                 "description": "emoji: cover each face; boxes: frame and label; both"},
                {"name": "format", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["png", "jpeg", "jpg"]},
                 "description": "output format; without it the Accept header decides (PNG by default)"},
                {"name": "quality", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 92},
                 "description": "JPEG quality"},
            ],
        },
        responses={200: {"description": "the emojified image; the X-Facemoji-Result header holds the image record "
                         "as JSON (at most 32 faces)",
                         "content": {"image/png": {}, "image/jpeg": {}}},
                   406: {"description": "the Accept header allows neither PNG nor JPEG", "content": err_schema},
                   **common_errors},
    )
    async def emojify(request: Request) -> Response:
        """Cover every face with the emoji of its expression (or draw boxes and labels, or both)."""
        q = request.query_params
        with budget.ticket() as ticket:
            data, filename, parts = await read_upload(request, ticket)
            name = filename or "upload"
            mode = q.get("mode") or _form_value(parts, "mode") or cfg.mode
            if mode not in MODES:
                raise BodyError(400, f"unknown mode {mode!r} (use {', '.join(MODES)})")
            fmt = _negotiate_format(q.get("format") or _form_value(parts, "format"), request.headers.get("accept"))
            try:
                quality = int(q.get("quality", "92"))
            except ValueError:
                raise BodyError(400, "quality must be a whole number 1..100") from None
            if not 1 <= quality <= 100:
                raise BodyError(400, "quality must be a whole number 1..100")
            with worker.try_acquire():
                reserve_image(ticket, data, name, cfg.max_pixels)

                def job(m: Models) -> tuple[tuple[int, ...], list, bytes]:
                    img = decode_image(data, cfg.max_pixels, name)
                    out, faces = m.photo.process(img, mode)
                    del img
                    return out.shape, faces, encode_image(out, fmt, quality)

                shape, faces, payload = await worker.run(job)
        summary = {"width": int(shape[1]), "height": int(shape[0]),
                   "faces": [f.to_dict() for f in faces[:HEADER_FACES]], "faces_total": len(faces)}
        headers = {"X-Facemoji-Result": json.dumps(summary, separators=(",", ":")), "Cache-Control": "no-store"}
        return Response(payload, media_type=OUTPUT_TYPES[fmt], headers=headers)

    # -- live camera ---------------------------------------------------------
    @app.websocket("/ws/live")
    async def live(ws: WebSocket) -> None:
        """Binary messages are camera frames (JPEG/PNG/WebP); each answer is one JSON text message.

        At most one frame per connection is processed at a time; frames that
        arrive meanwhile replace each other, so only the newest is answered.
        """
        # Host and Origin were checked by TrustedHosts (a page from another site is refused)
        if live_clients["n"] >= cfg.max_live_clients:
            await ws.accept()
            await ws.close(code=1013, reason="too many live clients")
            return
        live_clients["n"] += 1
        try:
            await ws.accept()
            await _live_session(ws)
        finally:
            live_clients["n"] -= 1

    async def _live_session(ws: WebSocket) -> None:
        latest: list[bytes | None] = [None]
        counts = {"received": 0, "dropped": 0}
        ready = asyncio.Event()
        gone = asyncio.Event()

        async def reader() -> None:
            try:
                while True:
                    msg = await asyncio.wait_for(ws.receive(), cfg.ws_idle_timeout)
                    if msg["type"] == "websocket.disconnect":
                        break
                    data = msg.get("bytes")
                    if data is not None:
                        counts["received"] += 1
                        if latest[0] is not None:
                            counts["dropped"] += 1  # a newer frame replaces one not yet started
                        latest[0] = data
                        ready.set()
            except (asyncio.TimeoutError, WebSocketDisconnect, RuntimeError):
                pass
            finally:
                gone.set()
                ready.set()

        async def send(obj: dict[str, Any]) -> None:
            await asyncio.wait_for(ws.send_text(json.dumps(obj, separators=(",", ":"))), cfg.ws_send_timeout)

        task = asyncio.create_task(reader())
        seq = 0
        try:
            while True:
                await ready.wait()
                ready.clear()
                if gone.is_set():
                    break
                frame, latest[0] = latest[0], None
                if frame is None:
                    continue
                seq += 1
                t0 = time.perf_counter()
                if len(frame) > cfg.max_live_bytes:
                    await send({"type": "error", "seq": seq, "error": "frame too large", **counts})
                    continue
                try:
                    with budget.ticket() as ticket, worker.try_acquire():
                        reserve_image(ticket, frame, "frame", cfg.max_live_pixels)

                        def job(m: Models, frame: bytes = frame) -> tuple[tuple[int, ...], list]:
                            img = decode_image(frame, cfg.max_live_pixels, "frame")
                            return img.shape, m.live.analyze(img)

                        shape, faces = await worker.run(job)
                except Busy as e:
                    await send({"type": "busy", "seq": seq, "retry_after": e.retry_after, **counts})
                    continue
                except (InputError, BodyError) as e:
                    await send({"type": "error", "seq": seq, "error": str(e), **counts})
                    continue
                await send({"type": "result", "seq": seq, "width": int(shape[1]), "height": int(shape[0]),
                            "faces": [f.to_dict() for f in faces],
                            "ms": round((time.perf_counter() - t0) * 1000, 1), **counts})
        except (asyncio.TimeoutError, WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client is gone or too slow to take answers
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            with contextlib.suppress(Exception):
                await ws.close()

    docs_assets = _swagger_assets()

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        if docs_assets is None:
            return HTMLResponse(
                "<!doctype html><title>facemoji API</title><h1>facemoji API</h1><p>The interactive page needs the "
                "<code>swagger-ui-py</code> package. The API's OpenAPI document is at "
                "<a href=\"/openapi.json\">/openapi.json</a>.</p>")
        return get_swagger_ui_html(openapi_url="/openapi.json", title="facemoji API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/emoji/happy.png",
                                   swagger_ui_parameters={"validatorUrl": None})

    @app.get("/docs-assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        if docs_assets is None or name not in DOCS_ASSETS:
            return error(404, f"no such file {name!r}")
        return FileResponse(docs_assets / name, media_type=DOCS_ASSETS[name],
                            headers={"Cache-Control": "max-age=86400"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
