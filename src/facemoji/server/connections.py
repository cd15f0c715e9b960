"""Connection hygiene below the app: deadlines for requests and caps on open connections.

uvicorn on its own never closes a connection that has not finished its first
request, and its ``limit_concurrency`` counts every open connection, so a few
hundred idle sockets made every request (``/healthz`` included) answer 503.
Here, instead, each connection is tracked by the HTTP protocol itself:

* its request headers must be complete within ``header_timeout`` of the
  connection opening (or of its previous answer), and its body within
  ``body_timeout`` (plus a little, so the app's own 408 answer goes first);
  otherwise it is closed;
* headers larger than ``max_header_bytes`` get 431 and the connection is closed;
* past ``max_per_client`` connections from one address, or ``max_connections``
  in all, the oldest connection that is *not* waiting for an answer (idle, or
  still sending its headers) is closed to make room. A connection waiting for
  an answer is never dropped, and those are few (the app bounds uploads being
  read, jobs and live clients), so a new request always gets in.
* on shutdown a request still being uploaded is cut off instead of waited for.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass
class ConnectionLimits:
    max_connections: int = 512
    max_per_client: int = 64
    header_timeout: float = 10.0  # seconds to send the request line and headers
    body_timeout: float = 30.0  # seconds to send the body (the app answers 408 at this point)
    max_header_bytes: int = 64 * 1024


def raw_response(status: int, reason: str, message: str, headers: tuple[str, ...] = ()) -> bytes:
    body = json.dumps({"error": message}).encode()
    head = [f"HTTP/1.1 {status} {reason}", "content-type: application/json", f"content-length: {len(body)}",
            "connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class Tracker:
    """The open HTTP connections of one server, oldest first, overall and per client address."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.all: dict[Any, None] = {}  # insertion-ordered set
        self.by_client: dict[str, dict[Any, None]] = {}
        self.evicted = 0
        self.refused = 0

    def stats(self) -> dict[str, int]:
        return {"open": len(self.all), "clients": len(self.by_client), "closed_to_make_room": self.evicted,
                "refused": self.refused}

    def _oldest_idle(self, conns: dict[Any, None]) -> Any | None:
        for c in conns:
            if not c.waiting_for_answer:
                return c
        return None

    def _drop(self, conn: Any) -> None:
        self.remove(conn)
        self.evicted += 1
        conn.close_now()

    def admit(self, conn: Any) -> bool:
        """Make room for ``conn`` and register it; False when every connection is waiting for an answer."""
        mine = self.by_client.get(conn.client_key, {})
        if len(mine) >= self.limits.max_per_client:
            victim = self._oldest_idle(mine)
            if victim is None:
                self.refused += 1
                return False
            self._drop(victim)
        if len(self.all) >= self.limits.max_connections:
            victim = self._oldest_idle(self.all)
            if victim is None:
                self.refused += 1
                return False
            self._drop(victim)
        self.all[conn] = None
        self.by_client.setdefault(conn.client_key, {})[conn] = None
        return True

    def remove(self, conn: Any) -> None:
        if conn not in self.all:
            return
        del self.all[conn]
        mine = self.by_client.get(conn.client_key)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self.by_client[conn.client_key]


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the rules above; :func:`guarded_protocol` makes one class per server,
    with its ``limits`` and its ``tracker``."""

    limits: ConnectionLimits
    tracker: Tracker

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_key = ""
        self.waiting_for_answer = False  # headers in, answer not yet complete
        self.body_done = True
        self.head_bytes = 0
        self.deadline: asyncio.TimerHandle | None = None
        self.deadline_kind = ""
        self.upgraded = False

    # -- deadlines ---------------------------------------------------------
    def arm(self, kind: str) -> None:
        self.disarm()
        seconds = self.limits.header_timeout if kind == "head" else self.limits.body_timeout + 2.0
        self.deadline_kind = kind
        self.deadline = self.loop.call_later(seconds, self.deadline_passed)

    def disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        self.deadline = None
        self.deadline_kind = ""

    def deadline_passed(self) -> None:
        self.deadline = None
        if self.transport.is_closing():
            return
        if self.deadline_kind == "head" and not self.waiting_for_answer:
            self.transport.write(raw_response(408, "Request Timeout", "request not received in time"))
        self.close_now()

    def close_now(self) -> None:
        self.disarm()
        if not self.transport.is_closing():
            self.transport.close()

    # -- connection ----------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.client_key = self.client[0] if self.client else ""
        if not self.tracker.admit(self):
            transport.write(raw_response(503, "Service Unavailable", "too many connections; retry shortly",
                                         ("retry-after: 1",)))
            transport.close()
            return
        self.arm("head")

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        self.tracker.remove(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        in_head = not self.waiting_for_answer and self.body_done  # between requests, or in a request's headers
        super().data_received(data)
        if self.upgraded or not in_head or self.waiting_for_answer or self.transport.is_closing():
            return  # the headers ended in this chunk (or it was a body's)
        self.head_bytes += len(data)
        if self.head_bytes > self.limits.max_header_bytes:
            self.transport.write(raw_response(431, "Request Header Fields Too Large",
                                              f"request headers over {self.limits.max_header_bytes} bytes"))
            self.close_now()

    def handle_websocket_upgrade(self) -> None:
        # a live connection: the app limits those and closes them when idle
        self.upgraded = True
        self.disarm()
        self.tracker.remove(self)
        super().handle_websocket_upgrade()

    # -- one request ---------------------------------------------------------
    def on_headers_complete(self) -> None:
        self.head_bytes = 0
        super().on_headers_complete()
        if self.parser.should_upgrade() and self._should_upgrade():
            return
        self.waiting_for_answer = True
        self.body_done = False
        self.arm("body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.body_done = True
        if self.deadline_kind == "body":
            self.disarm()
        if not self.waiting_for_answer:
            self.arm("head")

    def on_response_complete(self) -> None:
        self.waiting_for_answer = False
        super().on_response_complete()
        if self.body_done and not self.transport.is_closing():
            self.arm("head")  # the next request's headers (uvicorn's keep-alive timeout is shorter)

    def shutdown(self) -> None:
        if self.waiting_for_answer and not self.body_done:
            self.close_now()  # still uploading: no answer could be ready in time
            return
        super().shutdown()


def guarded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the rules above (one tracker per server)."""
    attrs = {"limits": limits, "tracker": Tracker(limits)}
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), attrs)
