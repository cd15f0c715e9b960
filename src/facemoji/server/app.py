"""The FastAPI application: the web page, the HTTP API and the live WebSocket, put together.

Everything runs on this machine. Uploads and camera frames are held in memory only while they are answered,
then dropped; nothing is written to disk. The parts, each in a module of its own:

* :mod:`~facemoji.server.config`: :class:`ServerConfig`, the settings (the pipeline's
  :class:`~facemoji.options.Options` and the server's limits);
* :mod:`~facemoji.server.state`: :class:`~facemoji.server.state.ServerState`, what a running app holds
  (``app.state.server``), with each worker's pipelines (:mod:`~facemoji.server.models`);
* :mod:`~facemoji.server.uploads`: reading uploads and reserving what answering them costs;
* :mod:`~facemoji.server.params`: what a request asks for (mode, cover, strict, format);
* :mod:`~facemoji.server.routes` and :mod:`~facemoji.server.openapi`: the HTTP routes and their documentation;
* :mod:`~facemoji.server.live`: the live camera's WebSocket;
* this module: the errors as ``{"error": ...}`` and :func:`create_app`.

Requests from other web sites, and for host names other than this machine's, are refused
(:mod:`facemoji.server.guard`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from facemoji import __version__
from facemoji.errors import InputError
from facemoji.server.bodies import BodyError
from facemoji.server.config import ServerConfig
from facemoji.server.guard import TrustedHosts, trusted_names
from facemoji.server.live import live
from facemoji.server.openapi import DESCRIPTION
from facemoji.server.routes import STATIC_DIR, add_routes, error
from facemoji.server.state import ServerState
from facemoji.server.worker import Busy

log = logging.getLogger("facemoji.server")


def busy_response(e: Busy) -> JSONResponse:
    return error(503, f"server busy: {e.reason}; retry in {e.retry_after} s", {"Retry-After": str(e.retry_after)})


def input_status(e: InputError) -> int:
    return 413 if "too large" in str(e) else 400


# -- errors as {"error": ...} ----------------------------------------------------
async def _http_error(_req: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))


async def _validation_error(_req: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    msgs = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
    return error(400, "; ".join(msgs) or "invalid request")


async def _body_error(_req: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyError)
    return error(exc.status, exc.message)


async def _input_error(_req: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputError)
    return error(input_status(exc), str(exc))


async def _busy(_req: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Busy)
    return busy_response(exc)


async def _crash(_req: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error")
    return error(500, "internal error")


ERROR_HANDLERS = ((StarletteHTTPException, _http_error), (RequestValidationError, _validation_error),
                  (BodyError, _body_error), (InputError, _input_error), (Busy, _busy), (Exception, _crash))


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """Build the app (loads the models now, so a bad model file fails before serving)."""
    state = ServerState(config or ServerConfig())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="facemoji", version=__version__, lifespan=lifespan, description=DESCRIPTION,
        docs_url=None,  # served from local files (routes.docs): FastAPI's own /docs and /redoc load from a CDN
        redoc_url=None,
    )
    app.state.server = state
    # the parts tests and the runner reach for directly
    app.state.config = state.config
    app.state.worker = state.worker
    app.state.budget = state.budget
    app.state.models = state.models[0]
    app.add_middleware(TrustedHosts, allowed=trusted_names(None, state.config.allowed_hosts))
    for kind, handler in ERROR_HANDLERS:
        app.add_exception_handler(kind, handler)
    add_routes(app)
    app.add_api_websocket_route("/ws/live", live)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
