"""The server's rules in a second each: which Host and Origin get in, and what a picture costs the memory budget.

The end-to-end tests (``test_server.py``, ``test_server_hostile.py``) start a real server; these call the
middleware and the budget directly, on real request headers and real encoded pictures, so that every rule and
every number of :mod:`facemoji.server.guard` and :mod:`facemoji.server.budget` is pinned where it is decided.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading

import numpy as np
import pytest
from PIL import Image

from conftest import png_header
from facemoji.server.budget import (
    BYTES_PER_PIXEL,
    BYTES_PER_PIXEL_ALPHA,
    BYTES_PER_PIXEL_WIDE,
    HUGE,
    MemoryBudget,
    image_cost,
)
from facemoji.server.guard import LOOPBACK_NAMES, TrustedHosts, host_name, trusted_names

# --- Host names -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, name", [
    ("Example.COM", "example.com"), ("example.com.", "example.com"), ("example.com:8000", "example.com"),
    ("example.com.:8000", "example.com"), ("[::1]:8000", "::1"), ("[::1]", "::1"), ("::1", "::1"),
    ("  localhost  ", "localhost"), ("fe80::1:2", "fe80::1:2"), ("127.0.0.1:80", "127.0.0.1"),
])
def test_host_name_drops_port_brackets_case_and_the_final_dot(value: str, name: str) -> None:
    assert host_name(value) == name


def test_trusted_names_are_loopback_the_listen_address_and_the_extra_names() -> None:
    assert trusted_names() == frozenset(LOOPBACK_NAMES) == {"127.0.0.1", "localhost", "::1"}
    assert trusted_names("192.168.1.5", ["Cam.Example:8000"]) == {*LOOPBACK_NAMES, "192.168.1.5", "cam.example"}
    for wildcard in ("0.0.0.0", "::", "*", ""):
        assert trusted_names(wildcard) == frozenset(LOOPBACK_NAMES), wildcard


# --- the middleware, called as uvicorn would call it ------------------------------------------------------------


def call(guard: TrustedHosts, *, host: str | None = "127.0.0.1:8000", origin: str | None = None,
         method: str = "GET", kind: str = "http") -> tuple[list[dict], bool]:
    """The messages the guard sent back, and whether it let the request through to the app."""
    passed = []

    async def app(scope, receive, send):
        passed.append(scope)

    guard.app = app
    headers = [(b"host", host.encode())] if host is not None else []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    scope = {"type": kind, "method": method, "headers": headers}
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {}

    asyncio.run(guard(scope, receive, send))
    return sent, bool(passed)


@pytest.fixture
def guard() -> TrustedHosts:
    return TrustedHosts(None, trusted_names("127.0.0.1", ["photos.lan"]))


def test_trusted_hosts_pass(guard: TrustedHosts) -> None:
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "PHOTOS.LAN", "photos.lan:8000"):
        assert call(guard, host=host) == ([], True), host


def test_a_foreign_host_gets_403_with_a_json_reason(guard: TrustedHosts) -> None:
    sent, passed = call(guard, host="evil.example:8000")
    assert not passed
    start, body = sent
    assert start["status"] == 403
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/json" and headers[b"cache-control"] == b"no-store"
    reason = json.loads(body["body"])["error"]
    assert "'evil.example'" in reason and "--allowed-host" in reason and "photos.lan" in reason
    assert int(headers[b"content-length"]) == len(body["body"])


def test_a_request_without_host_is_refused(guard: TrustedHosts) -> None:
    sent, passed = call(guard, host=None)
    assert not passed and sent[0]["status"] == 403
    assert "no Host" in json.loads(sent[1]["body"])["error"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_a_write_from_another_origin_is_refused(guard: TrustedHosts, method: str) -> None:
    for origin in ("http://evil.example", "http://127.0.0.1:9000", "http://localhost:8000", "null"):
        sent, passed = call(guard, origin=origin, method=method)
        assert not passed and sent[0]["status"] == 403, origin
        assert "cross-site" in json.loads(sent[1]["body"])["error"]


def test_the_servers_own_origin_and_scripts_without_origin_may_write(guard: TrustedHosts) -> None:
    for origin in ("http://127.0.0.1:8000", "https://127.0.0.1:8000", " HTTP://127.0.0.1:8000 ", None):
        assert call(guard, origin=origin, method="POST") == ([], True), origin


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_reads_from_another_origin_pass(guard: TrustedHosts, method: str) -> None:
    assert call(guard, origin="http://evil.example", method=method) == ([], True)


def test_a_websocket_from_another_origin_is_closed_before_the_handshake(guard: TrustedHosts) -> None:
    sent, passed = call(guard, origin="http://evil.example", kind="websocket")
    assert not passed and sent == [{"type": "websocket.close", "code": 1008, "reason": sent[0]["reason"]}]
    assert sent[0]["reason"].startswith("cross-site") and len(sent[0]["reason"]) <= 120
    assert call(guard, origin="http://127.0.0.1:8000", kind="websocket") == ([], True)
    sent, passed = call(guard, host="evil.example", kind="websocket")
    assert not passed and sent[0]["type"] == "websocket.close"
    sent, _ = call(guard, host="a" * 200 + ".example", kind="websocket")  # a reason too long for a close frame
    assert len(sent[0]["reason"]) == 120 and sent[0]["reason"].startswith("host 'aaa")


def test_lifespan_messages_pass_untouched(guard: TrustedHosts) -> None:
    assert call(guard, host=None, kind="lifespan") == ([], True)


# --- what a picture costs ---------------------------------------------------------------------------------------


def encoded(mode: str, size: tuple[int, int], fmt: str = "PNG", **info) -> bytes:
    if mode == "I;16":
        im = Image.fromarray(np.full(size[::-1], 40000, np.uint16))
    else:
        im = Image.new(mode, size)
    buf = io.BytesIO()
    im.save(buf, fmt, **info)
    return buf.getvalue()


def test_the_per_pixel_figures() -> None:
    assert (BYTES_PER_PIXEL, BYTES_PER_PIXEL_ALPHA, BYTES_PER_PIXEL_WIDE) == (20, 28, 40)


@pytest.mark.parametrize("mode, fmt, per", [("RGB", "JPEG", 20), ("L", "PNG", 20), ("RGB", "PNG", 20),
                                            ("RGBA", "PNG", 28), ("LA", "PNG", 28), ("I;16", "PNG", 40)])
def test_a_picture_costs_its_pixels_times_its_formats_bytes_plus_its_upload(mode: str, fmt: str, per: int) -> None:
    data = encoded(mode, (640, 360), fmt)
    assert image_cost(data) == (640 * 360, 640 * 360 * per + len(data))


def test_a_palette_picture_with_transparency_costs_as_one_with_alpha() -> None:
    plain = encoded("P", (300, 200))
    see_through = encoded("P", (300, 200), transparency=0)
    assert image_cost(plain)[1] == 300 * 200 * 20 + len(plain)
    assert image_cost(see_through)[1] == 300 * 200 * 28 + len(see_through)


def test_the_cost_is_read_from_the_header_of_a_pixel_bomb() -> None:
    # a 10000 x 10000 picture: decoded and processed it would take 2 GB, whatever the upload's size
    for depth, colour, per in [(8, 0, 20), (8, 2, 20), (8, 6, 28), (16, 0, 40)]:
        data = png_header(10000, 10000, depth, colour)
        assert image_cost(data) == (10**8, 10**8 * per + len(data)), (depth, colour)


def test_a_picture_past_twice_pils_limit_costs_everything() -> None:
    assert image_cost(png_header(20000, 15000)) == (HUGE, HUGE)  # 300 megapixels: over twice PIL's 89


def test_what_is_not_a_picture_costs_its_size() -> None:
    assert image_cost(b"not a picture at all") == (0, 20)
    assert image_cost(b"") == (0, 0)


def test_the_budget_counts_takes_refusals_and_the_peak() -> None:
    b = MemoryBudget(100)
    assert b.per_request == 100
    assert b.try_take(60) and b.used == 60
    assert b.try_take(40) and b.used == 100  # exactly full fits
    assert not b.try_take(1) and b.used == 100 and b.refused == 1
    b.give_back(70)
    assert b.used == 30 and b.peak == 100
    b.give_back(500)
    assert b.used == 0  # never below nothing


def test_the_per_request_budget_is_at_most_the_total() -> None:
    assert MemoryBudget(100, 40).per_request == 40
    assert MemoryBudget(100, 400).per_request == 100
    assert MemoryBudget(100, None).per_request == 100
    for bad in (0, -5):
        with pytest.raises(ValueError):
            MemoryBudget(bad)
    assert MemoryBudget(1).total == 1


def test_a_ticket_grows_shrinks_and_gives_everything_back() -> None:
    b = MemoryBudget(100)
    with b.ticket() as t:
        assert t.resize(30) and b.used == 30 and t.held == 30
        assert t.resize(80) and b.used == 80
        assert not t.resize(120) and t.held == 80 and b.used == 80  # refused: it keeps what it had
        assert t.resize(10) and b.used == 10
        assert t.resize(-4) and t.held == 0 and b.used == 0
        assert t.resize(25)
    assert b.used == 0 and t.held == 0
    other = b.ticket()
    assert other.resize(100) and not b.ticket().resize(1)
    other.close()
    other.close()
    assert b.used == 0


def test_the_budget_is_safe_across_threads() -> None:
    b = MemoryBudget(10_000)
    taken: list[int] = []

    def work() -> None:
        got = sum(b.try_take(1) for _ in range(5000))
        taken.append(got)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(taken) == 10_000 == b.used and b.refused == 10_000


# --- the connection tracker -------------------------------------------------------------------------------------


class Conn:
    """What the tracker sees of a connection: its client, whether it waits for an answer, and a way to close it."""

    def __init__(self, client: str, waiting: bool = False) -> None:
        self.client_key = client
        self.waiting_for_answer = waiting
        self.closed = False

    def close_now(self) -> None:
        self.closed = True


def test_the_connection_limits_are_the_documented_ones() -> None:
    from facemoji.server.connections import ConnectionLimits

    lim = ConnectionLimits()
    assert (lim.max_connections, lim.max_per_client, lim.header_timeout, lim.body_timeout,
            lim.max_header_bytes) == (512, 64, 10.0, 30.0, 64 * 1024)


def test_past_the_per_client_cap_the_oldest_idle_connection_of_that_client_goes() -> None:
    from facemoji.server.connections import ConnectionLimits, Tracker

    t = Tracker(ConnectionLimits(max_connections=100, max_per_client=3))
    a = [Conn("1.1.1.1", waiting=True), Conn("1.1.1.1"), Conn("1.1.1.1")]
    other = Conn("2.2.2.2")
    for c in (*a, other):
        assert t.admit(c)
    new = Conn("1.1.1.1")
    assert t.admit(new)
    assert a[1].closed and not a[0].closed and not a[2].closed and not other.closed  # a[0] waits: kept
    assert t.stats() == {"open": 4, "clients": 2, "closed_to_make_room": 1, "refused": 0}
    assert list(t.by_client["1.1.1.1"]) == [a[0], a[2], new]


def test_past_the_total_cap_the_oldest_idle_connection_of_anyone_goes() -> None:
    from facemoji.server.connections import ConnectionLimits, Tracker

    t = Tracker(ConnectionLimits(max_connections=3, max_per_client=3))
    first, second, third = Conn("a", waiting=True), Conn("b"), Conn("c")
    for c in (first, second, third):
        assert t.admit(c)
    assert t.admit(Conn("d"))
    assert second.closed and not first.closed and len(t.all) == 3 and "b" not in t.by_client


def test_when_every_connection_waits_for_an_answer_a_new_one_is_refused() -> None:
    from facemoji.server.connections import ConnectionLimits, Tracker

    t = Tracker(ConnectionLimits(max_connections=2, max_per_client=2))
    busy = [Conn("a", waiting=True), Conn("a", waiting=True)]
    for c in busy:
        assert t.admit(c)
    assert not t.admit(Conn("a")) and t.refused == 1  # the client's cap
    assert not t.admit(Conn("b")) and t.refused == 2  # the total cap
    assert not any(c.closed for c in busy) and t.evicted == 0


def test_removing_a_connection_forgets_its_client_once_it_has_none() -> None:
    from facemoji.server.connections import ConnectionLimits, Tracker

    t = Tracker(ConnectionLimits())
    x, y = Conn("a"), Conn("a")
    t.admit(x)
    t.admit(y)
    t.remove(x)
    assert list(t.all) == [y] and list(t.by_client) == ["a"]
    t.remove(y)
    t.remove(y)  # twice: nothing happens
    assert t.all == {} and t.by_client == {}


def test_raw_responses_close_the_connection_with_a_json_reason() -> None:
    from facemoji.server.connections import raw_response

    got = raw_response(503, "Service Unavailable", "too busy", ("retry-after: 1",))
    head, body = got.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    assert "connection: close" in lines and "retry-after: 1" in lines and "content-type: application/json" in lines
    assert f"content-length: {len(body)}" in lines and json.loads(body) == {"error": "too busy"}
