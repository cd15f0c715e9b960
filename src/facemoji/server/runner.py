"""Running the app on uvicorn: in the foreground (``facemoji serve``) or on a
background thread (tests, benchmarks, notebooks)."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

import uvicorn

from facemoji.errors import InputError
from facemoji.server.connections import ConnectionLimits, guarded_protocol


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen now, so the address (and a port chosen by the system for 0) is known before serving."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise InputError(f"cannot resolve host {host!r} ({e.strerror})") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({e.strerror})") from None
    sock.listen(256)
    sock.set_inheritable(True)
    return sock


def url_for(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


class _QuietShutdown(logging.Filter):
    """Drop uvicorn's note about cancelling requests at shutdown: the command prints its own one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Cancel ", "Waiting for"))


def make_server(app, ws_max_size: int = 8 * 1024 * 1024, log_level: str = "warning",
                limits: ConnectionLimits | None = None, shutdown_timeout: float = 1.0):
    """A uvicorn server for ``app`` with facemoji's connection rules (see :mod:`facemoji.server.connections`).

    ``limits`` defaults to those of the app's :class:`ServerConfig`. On SIGINT or
    SIGTERM it stops within about ``shutdown_timeout`` + 0.5 s whatever the
    clients do, and :meth:`run` returns normally (the signal is not raised again).
    """
    try:
        import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401

        ws = "websockets-sansio"
    except ImportError:  # older uvicorn
        ws = "websockets"
    if limits is None:
        cfg = getattr(getattr(app, "state", None), "config", None)
        limits = ConnectionLimits() if cfg is None else cfg.connection_limits()
    logging.getLogger("uvicorn.error").addFilter(_QuietShutdown())
    protocol = guarded_protocol(limits)
    if getattr(app, "state", None) is not None:
        app.state.connections = protocol.tracker  # for /healthz
    config = uvicorn.Config(app, log_level=log_level, ws=ws, ws_max_size=ws_max_size,
                            http=protocol, limit_concurrency=None, timeout_keep_alive=5,
                            timeout_graceful_shutdown=shutdown_timeout, access_log=False)  # type: ignore[arg-type]
    return FacemojiServer(config)


class FacemojiServer(uvicorn.Server):
    """uvicorn's server, but a stop signal ends :meth:`run` normally; ``stopped_by`` names the signal."""

    stopped_by: str | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopped_by = signal.Signals(sig).name
        if self.should_exit:
            self.force_exit = True  # a second signal: stop waiting for anything
        self.should_exit = True


@dataclass
class BackgroundServer:
    """A server running on a thread; ``url`` ends with a slash. Call :meth:`stop` when done."""

    url: str
    server: object
    thread: threading.Thread
    sock: socket.socket

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True  # type: ignore[attr-defined]
        self.thread.join(timeout)
        self.sock.close()


def start_background(app, host: str = "127.0.0.1", port: int = 0, ready_timeout: float = 30.0,
                     **kw) -> BackgroundServer:
    """Serve ``app`` on a thread bound to ``host:port`` (0: any free port) and wait until it accepts requests."""
    sock = bind_socket(host, port)
    server = make_server(app, **kw)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="facemoji-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + ready_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    return BackgroundServer(url_for(sock), server, thread, sock)
