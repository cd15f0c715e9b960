"""Which requests the server takes: trusted ``Host`` names, and no cross-site writes.

A web page on another site must not be able to use the server. Two ways in are
closed here:

* DNS rebinding: a page at ``http://evil.example:8000`` whose name later points
  at 127.0.0.1 is same-origin with the server as far as the browser knows, but
  its requests carry ``Host: evil.example:8000``. Only this machine's loopback
  names and the names the server was started with are accepted.
* Cross-site requests: a plain ``multipart/form-data`` POST from any page needs
  no preflight, and a WebSocket has no same-origin rule at all. Browsers send
  ``Origin`` with both; anything but the server's own origin is refused.
  Requests without ``Origin`` (curl, scripts) are not from a web page and pass.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "*")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def host_name(value: str) -> str:
    """The name part of a ``Host`` header or of a host given on the command line: no port, no brackets, lower case."""
    v = value.strip().lower().rstrip(".")
    if v.startswith("["):
        return v[1:].split("]", 1)[0]
    if v.count(":") == 1:  # name:port (an IPv6 address without brackets has several colons)
        return v.split(":", 1)[0].rstrip(".")
    return v


def trusted_names(listen_host: str | None = None, extra: Iterable[str] = ()) -> frozenset[str]:
    """Loopback names, the address the server listens on and ``extra`` (wildcard addresses such as 0.0.0.0 are
    not names anyone should reach the server by, and are left out)."""
    names = set(LOOPBACK_NAMES)
    for h in (listen_host or "", *extra):
        if host_name(h) not in WILDCARD_ADDRESSES:
            names.add(host_name(h))
    return frozenset(names)


class TrustedHosts:
    """ASGI middleware: refuse an untrusted ``Host`` (every request) and a foreign ``Origin`` (writes, WebSockets).

    Refused HTTP requests get 403 with a JSON ``{"error": ...}`` body; a refused
    WebSocket is closed before the handshake completes (the client sees 403).
    """

    def __init__(self, app: Callable[..., Awaitable[None]], allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(host_name(h) for h in allowed)

    def refusal(self, scope: Scope) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        host = headers.get("host")
        if not host:
            return "the request has no Host header"
        if host_name(host) not in self.allowed:
            return (f"host {host_name(host)!r} is not served here (allowed: {', '.join(sorted(self.allowed))}; "
                    "add a name with --allowed-host)")
        origin = headers.get("origin")
        writes = scope["type"] == "websocket" or scope.get("method", "GET") not in SAFE_METHODS
        if writes and origin is not None and origin.strip().lower() not in (f"http://{host.lower()}",
                                                                            f"https://{host.lower()}"):
            return f"cross-site request refused (origin {origin.strip()!r} is not this server's own)"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        reason = self.refusal(scope)
        if reason is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
            return
        body = json.dumps({"error": reason}).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})
