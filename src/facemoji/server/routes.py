"""The HTTP routes: the page, the emoji, ``/healthz``, the two API calls and the API's documentation."""

from __future__ import annotations

import functools
import importlib.resources
import json
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from facemoji import __version__
from facemoji.imageio import decode_image, encode_image
from facemoji.overlay import COVERS, MODES
from facemoji.server.models import Models
from facemoji.server.openapi import analyze_docs, emojify_docs
from facemoji.server.params import OUTPUT_TYPES, Choices, asked, negotiate_format, parse_quality
from facemoji.server.state import state_of
from facemoji.types import Face

STATIC_DIR = Path(str(importlib.resources.files("facemoji") / "server" / "static"))
HEADER_FACES = 32  # at most this many faces are repeated in the X-Facemoji-Result header
# The page may only load what this server serves (nothing from the internet).
CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
       "connect-src 'self' blob:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'")
DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


@functools.cache
def swagger_assets() -> Path | None:
    """Swagger UI's files from the swagger-ui-py package, served by us so /docs needs no internet."""
    try:
        import swagger_ui
    except ImportError:
        return None
    folder = Path(swagger_ui.__file__).parent / "static"
    return folder if all((folder / n).is_file() for n in DOCS_ASSETS) else None


# -- the page ------------------------------------------------------------------
async def index() -> Response:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})


async def emoji(request: Request, name: str) -> Response:
    data = state_of(request).emoji_png.get(name)
    if data is None:
        return error(404, f"no emoji named {name!r}")
    return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=86400"})


async def healthz(request: Request) -> dict[str, Any]:
    """`status` is `ok` while the server answers; `queue` tells how busy the model is; `default_mode`,
    `default_cover` and `default_strict` are what a request that does not ask for others gets."""
    st = state_of(request)
    cfg, worker, budget = st.config, st.worker, st.budget
    conn = getattr(request.app.state, "connections", None)
    return {
        "status": "ok", "version": __version__, "classes": list(st.classes),
        "emoji_scale": cfg.options.emoji_scale, "modes": list(MODES), "default_mode": cfg.options.mode,
        "covers": list(COVERS), "default_cover": cfg.options.cover, "default_strict": cfg.options.strict,
        "queue": {"in_use": worker.in_use, "capacity": worker.capacity},
        "uploads": st.uploads.reading, "completed": worker.completed, "rejected": worker.rejected,
        "uptime_s": round(time.time() - st.started, 1),
        "limits": {"max_upload_bytes": cfg.max_upload_bytes, "max_pixels": cfg.max_pixels,
                   "max_live_bytes": cfg.max_live_bytes, "max_live_pixels": cfg.max_live_pixels},
        "connections": conn.stats() if conn else None,
        "memory": {"budget_bytes": budget.total, "per_image_bytes": budget.per_request,
                   "in_use_bytes": budget.used, "peak_bytes": budget.peak, "refused": budget.refused},
    }


# -- the API -------------------------------------------------------------------
async def analyze(request: Request) -> JSONResponse:
    """Find every face and name its expression. The answer is the same per-image record as
    `facemoji image --json` writes (with `path` set to the upload's file name when it has one); `strict`
    adds the faces turned to profile."""
    st = state_of(request)
    max_pixels = st.config.max_pixels
    with st.budget.ticket() as ticket:
        upload = await st.uploads.read(request, ticket)
        choices = Choices.read(request.query_params, upload.parts, st.config.options)
        with st.worker.try_acquire():
            st.uploads.reserve_image(ticket, upload.data, upload.name, max_pixels)

            def job(m: Models) -> tuple[tuple[int, ...], list[Face]]:
                img = decode_image(upload.data, max_pixels, upload.name)
                return img.shape, m.pipeline("photo", choices.strict).analyze(img)

            shape, faces = await st.worker.run(job)
    record: dict[str, Any] = {}
    if upload.filename:
        record["path"] = upload.filename
    record.update({"width": int(shape[1]), "height": int(shape[0]), "faces": [f.to_dict() for f in faces]})
    return JSONResponse(record)


async def emojify(request: Request) -> Response:
    """Cover every face with the emoji of its expression, or blur, pixelate or a dark disc (`cover`); or draw
    boxes and labels, or both (`mode`). `strict` also covers faces turned to profile and pads the covers."""
    st = state_of(request)
    q, max_pixels = request.query_params, st.config.max_pixels
    with st.budget.ticket() as ticket:
        upload = await st.uploads.read(request, ticket)
        choices = Choices.read(q, upload.parts, st.config.options)
        fmt = negotiate_format(asked(q, upload.parts, "format"), request.headers.get("accept"))
        quality = parse_quality(q.get("quality"))
        with st.worker.try_acquire():
            st.uploads.reserve_image(ticket, upload.data, upload.name, max_pixels)

            def job(m: Models) -> tuple[tuple[int, ...], list[Face], bytes]:
                img = decode_image(upload.data, max_pixels, upload.name)
                out, faces = m.pipeline("photo", choices.strict).process(img, choices.mode, choices.cover)
                del img
                return out.shape, faces, encode_image(out, fmt, quality)

            shape, faces, payload = await st.worker.run(job)
    summary = {"width": int(shape[1]), "height": int(shape[0]),
               "faces": [f.to_dict() for f in faces[:HEADER_FACES]], "faces_total": len(faces)}
    headers = {"X-Facemoji-Result": json.dumps(summary, separators=(",", ":")), "Cache-Control": "no-store"}
    return Response(payload, media_type=OUTPUT_TYPES[fmt], headers=headers)


# -- the API's documentation, from local files -----------------------------------
async def docs(request: Request) -> Response:
    if swagger_assets() is None:
        return HTMLResponse(
            "<!doctype html><title>facemoji API</title><h1>facemoji API</h1><p>The interactive page needs the "
            "<code>swagger-ui-py</code> package. The API's OpenAPI document is at "
            "<a href=\"/openapi.json\">/openapi.json</a>.</p>")
    return get_swagger_ui_html(openapi_url="/openapi.json", title="facemoji API",
                               swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                               swagger_css_url="/docs-assets/swagger-ui.css",
                               swagger_favicon_url="/emoji/happy.png",
                               swagger_ui_parameters={"validatorUrl": None})


async def docs_asset(name: str) -> Response:
    folder = swagger_assets()
    if folder is None or name not in DOCS_ASSETS:
        return error(404, f"no such file {name!r}")
    return FileResponse(folder / name, media_type=DOCS_ASSETS[name], headers={"Cache-Control": "max-age=86400"})


def add_routes(app: FastAPI) -> None:
    """Every HTTP route; the API's documented defaults are those of ``app.state.server.config``."""
    defaults = app.state.server.config.options
    app.add_api_route("/", index, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)
    app.add_api_route("/emoji/{name}.png", emoji, methods=["GET"], include_in_schema=False)
    app.add_api_route("/healthz", healthz, methods=["GET"], summary="Health and load")
    app.add_api_route("/api/v1/analyze", analyze, methods=["POST"], summary="Faces and expressions in an image",
                      **analyze_docs(defaults))
    app.add_api_route("/api/v1/emojify", emojify, methods=["POST"], summary="The image with emoji over the faces",
                      **emojify_docs(defaults))
    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs-assets/{name}", docs_asset, methods=["GET"], include_in_schema=False)
