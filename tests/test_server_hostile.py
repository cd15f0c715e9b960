"""`facemoji serve` against a hostile client: idle sockets, pixel bombs, other sites, slow uploads, stop signals."""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from conftest import compose_faces, facemoji_command, jpeg, png_bomb
from facemoji.server import ServerConfig, create_app, start_background

MIB = 1024 * 1024
DEFAULT_BUDGET = 2048 * MIB  # README: `facemoji serve --memory-budget-mb`, default 2048


# ---------------------------------------------------------------- helpers (also used by other test files)
class ServeProcess:
    """`facemoji serve --port 0 ...` in a child process; its stderr is read on a thread, so nothing blocks."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, ready_timeout: float = 120.0) -> None:
        self.proc = subprocess.Popen(facemoji_command("serve", "--port", "0", *args),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = self.wait_for_line(r"serving on (http://\S+/)", ready_timeout)
        self.url = re.search(r"(http://\S+/)", line).group(1)  # type: ignore[union-attr]
        self.host, port = self.url[len("http://"):].rstrip("/").rsplit(":", 1)
        self.port = int(port)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_line(self, pattern: str, timeout: float) -> str:
        """The next stderr line matching ``pattern``; fails after ``timeout`` seconds or when the process ends."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s; stderr: {self.stderr}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the server ended (status {self.proc.poll()}); stderr: {''.join(self.stderr)}")
            if re.search(pattern, line):
                return line

    def status(self, field: str) -> str:
        """A line of /proc/PID/status, e.g. VmRSS or VmHWM, in bytes."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return line

        raise AssertionError(f"{field} not in /proc/{self.proc.pid}/status")

    def memory(self, field: str) -> int:
        return int(self.status(field).split()[1]) * 1024

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> tuple[int, str]:
        """Send ``sig``, wait for the exit; (status, all of stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
            raise AssertionError(f"the server did not stop within {timeout} s") from None
        self._reader.join(30)
        return self.proc.returncode, "".join(self.stderr)

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)






def read_answer(s: socket.socket) -> bytes:
    """Read one HTTP answer (headers and a Content-Length body) or up to the close, whichever comes first."""
    data = b""
    while True:
        if b"\r\n\r\n" in data:
            head, body = data.split(b"\r\n\r\n", 1)
            m = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if m and len(body) >= int(m.group(1)):
                return data
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def host_port(url: str) -> tuple[str, int]:
    host, port = url[len("http://"):].rstrip("/").rsplit(":", 1)
    return host, int(port)


@contextmanager
def background(**cfg) -> Iterator:
    srv = start_background(create_app(ServerConfig(**cfg)))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def face_jpeg(astronaut_face) -> bytes:
    return jpeg(compose_faces(astronaut_face, [(220, 120, 200)]))


# ---------------------------------------------------------------- 1. idle and half-open connections
def test_idle_and_half_open_sockets_do_not_stop_the_server(face_jpeg):
    """300 silent sockets and 50 that stop halfway through the request line, from ten loopback addresses (each under
    the per-address cap, so the server keeps them all): while they are held open /healthz and an analyze request
    answer 200; then the server closes every one of them itself."""
    with background(header_timeout=20.0) as srv:
        addr = host_port(srv.url)
        held: list[socket.socket] = []
        try:
            for i in range(350):
                s = socket.create_connection(addr, timeout=60, source_address=(f"127.0.0.{2 + i % 10}", 0))
                if i >= 300:
                    s.sendall(b"POST /api/v1/anal")  # ... and never the rest
                held.append(s)
            with httpx.Client(base_url=srv.url, timeout=60) as c:
                r = c.get("/healthz")
                assert r.status_code == 200 and r.json()["status"] == "ok", r.text
                conns = r.json()["connections"]
                assert conns["open"] > 300 and conns["closed_to_make_room"] == 0, conns  # all still there
                r = c.post("/api/v1/analyze", content=face_jpeg, headers={"content-type": "image/jpeg"})
                assert r.status_code == 200 and len(r.json()["faces"]) == 1, r.text
            for s in held:  # ... and none is left hanging: each gets 408 and is closed once its time is up
                rest = read_answer(s)
                assert rest.startswith(b"HTTP/1.1 408"), rest[:100]
        finally:
            for s in held:
                s.close()


def test_idle_sockets_from_one_address_make_room_for_new_ones(face_jpeg):
    """Past the per-address cap the oldest idle connection is closed, so the same address still gets answers."""
    with background(max_connections_per_client=20, header_timeout=60.0) as srv:
        held = [socket.create_connection(host_port(srv.url), timeout=60) for _ in range(100)]
        try:
            with httpx.Client(base_url=srv.url, timeout=60) as c:
                r = c.post("/api/v1/analyze", content=face_jpeg, headers={"content-type": "image/jpeg"})
                assert r.status_code == 200, r.text
                conns = c.get("/healthz").json()["connections"]
            assert conns["open"] <= 20 and conns["closed_to_make_room"] >= 80, conns
            assert [read_answer(s) for s in held[:80]] == [b""] * 80  # the oldest were closed
        finally:
            for s in held:
                s.close()


def test_when_every_connection_awaits_an_answer_a_new_one_gets_503():
    with background(max_connections=4, max_connections_per_client=4, body_timeout=60.0) as srv:
        uploads = [socket.create_connection(host_port(srv.url), timeout=60) for _ in range(4)]
        try:
            for s in uploads:  # four uploads in progress: none of them may be dropped
                s.sendall(b"POST /api/v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                          b"Content-Length: 1000\r\n\r\n\xff\xd8")
            tracker = _app_state(srv).connections
            deadline = time.monotonic() + 60
            while not (len(tracker.all) == 4 and all(c.waiting_for_answer for c in list(tracker.all))):
                assert time.monotonic() < deadline, tracker.stats()
                time.sleep(0.02)
            with socket.create_connection(host_port(srv.url), timeout=60) as extra:
                answer = read_answer(extra)
            assert answer.startswith(b"HTTP/1.1 503") and re.search(rb"(?i)retry-after: 1", answer), answer[:200]
            assert tracker.stats()["refused"] == 1 and len(tracker.all) == 4
        finally:
            for s in uploads:
                s.close()
        deadline = time.monotonic() + 60
        while tracker.all:  # the uploads gone (the server notices the closed sockets) ...
            assert time.monotonic() < deadline, tracker.stats()
            time.sleep(0.02)
        with httpx.Client(base_url=srv.url, timeout=60) as c:  # ... it answers again
            assert c.get("/healthz").status_code == 200


def test_a_request_that_stalls_in_its_headers_gets_408():
    with background(header_timeout=1.0) as srv:
        with socket.create_connection(host_port(srv.url), timeout=60) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: the headers never end
            answer = read_answer(s)
        assert answer.startswith(b"HTTP/1.1 408") and b'"error"' in answer, answer[:200]
        with socket.create_connection(host_port(srv.url), timeout=60) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 100_000)
            answer = read_answer(s)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


# ---------------------------------------------------------------- 4. overload answered before the body
def test_overload_is_answered_before_the_upload_is_sent():
    """With every model slot taken, a POST is answered 503 + Retry-After as soon as its headers arrive."""
    with background(queue_size=1, workers=1, body_timeout=60.0) as srv:
        worker = _app_state(srv).worker
        slots = [worker.try_acquire() for _ in range(worker.capacity)]
        try:
            with socket.create_connection(host_port(srv.url), timeout=60) as s:
                s.sendall(b"POST /api/v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                          b"Content-Length: 5000000\r\n\r\n")  # the body is never sent
                answer = read_answer(s)
            head, body = answer.split(b"\r\n\r\n", 1)
            assert head.startswith(b"HTTP/1.1 503"), answer[:200]
            assert int(re.search(rb"(?i)retry-after:\s*(\d+)", head).group(1)) >= 1
            assert "busy" in json.loads(body)["error"]
        finally:
            for slot in slots:
                slot.release()


def _app_state(srv):
    """The running app's state: its worker (model slots) and memory budget."""
    return srv.server.config.app.state


# ---------------------------------------------------------------- 2. pixel bombs and the memory budget
def test_twelve_small_pixel_bombs_at_once_stay_within_the_memory_budget():
    """A 14 KB PNG of 7000 x 7000 pixels, twelve times at once: the server's resident memory grows by less than its
    budget, and each request gets the picture or a clear 503 with Retry-After."""
    bomb = png_bomb(7000, 7000)
    assert len(bomb) < 16_000  # 14 KB
    with ServeProcess("--workers", "2") as srv:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            assert c.get("/healthz").status_code == 200
            small = c.post("/api/v1/emojify", content=png_bomb(640, 480), headers={"content-type": "image/png"})
            assert small.status_code == 200
            budget = c.get("/healthz").json()["memory"]["budget_bytes"]
        assert budget == DEFAULT_BUDGET
        base = srv.memory("VmRSS")
        results: list[httpx.Response | Exception] = []
        lock = threading.Lock()
        start = threading.Barrier(12)

        def one() -> None:
            try:
                with httpx.Client(base_url=srv.url, timeout=300) as c:
                    start.wait(60)
                    r = c.post("/api/v1/emojify", content=bomb, headers={"content-type": "image/png"})
            except Exception as e:  # reported below
                r = e
            with lock:
                results.append(r)

        threads = [threading.Thread(target=one) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        peak = srv.memory("VmHWM")
        code, _ = srv.stop()
    assert all(isinstance(r, httpx.Response) for r in results), results
    codes = sorted(r.status_code for r in results)  # type: ignore[union-attr]
    print(f"answers {codes}; resident memory {base / MIB:.0f} MB before, peak {peak / MIB:.0f} MB; "
          f"budget {budget / MIB:.0f} MB")
    assert set(codes) <= {200, 503} and codes.count(200) >= 1, codes
    for r in results:
        if r.status_code == 200:  # type: ignore[union-attr]
            assert json.loads(r.headers["x-facemoji-result"])["width"] == 7000  # type: ignore[union-attr]
        else:
            err = r.json()["error"]  # type: ignore[union-attr]
            assert "memory" in err and int(r.headers["retry-after"]) >= 1, err  # type: ignore[union-attr]
    assert peak - base < budget, (peak / MIB, base / MIB)
    assert code == 0


def test_one_picture_over_its_share_of_the_budget_is_413():
    with background(memory_budget_bytes=256 * MIB) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        r = c.post("/api/v1/analyze", content=png_bomb(5000, 4000), headers={"content-type": "image/png"})
        assert r.status_code == 413 and "memory budget" in r.json()["error"], r.text
        h = c.get("/healthz").json()
        assert h["memory"]["in_use_bytes"] == 0 and h["memory"]["per_image_bytes"] == 128 * MIB
        assert c.post("/api/v1/analyze", content=png_bomb(640, 480),
                      headers={"content-type": "image/png"}).status_code == 200


# ---------------------------------------------------------------- 3. other sites
def test_foreign_host_names_and_cross_site_requests_are_refused(face_jpeg):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with background(allowed_hosts=("facemoji.test",)) as srv:
        host, port = host_port(srv.url)
        before = _app_state(srv).worker.completed
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            def post(headers: dict[str, str]) -> httpx.Response:
                return c.post("/api/v1/analyze", content=face_jpeg, headers={"content-type": "image/jpeg", **headers})

            # DNS rebinding: the attacker's name in Host
            for path in ("/", "/healthz", "/openapi.json"):
                r = c.get(path, headers={"host": f"evil.example:{port}"})
                assert r.status_code == 403 and "evil.example" in r.json()["error"], (path, r.text)
            assert post({"host": f"evil.example:{port}", "origin": f"http://evil.example:{port}"}).status_code == 403
            # a plain cross-site form post, and the opaque origin of a sandboxed page
            r = post({"origin": "http://evil.example"})
            assert r.status_code == 403 and "cross-site" in r.json()["error"], r.text
            assert post({"origin": "null"}).status_code == 403
            assert post({"origin": f"http://localhost:{port}"}).status_code == 403  # another origin than Host's
            assert _app_state(srv).worker.completed == before  # none of them reached the model
            # the page's own requests, from either loopback name, and a name given with --allowed-host
            for name in ("127.0.0.1", "localhost", "facemoji.test"):
                r = post({"host": f"{name}:{port}", "origin": f"http://{name}:{port}"})
                assert r.status_code == 200 and len(r.json()["faces"]) == 1, (name, r.text)
            assert post({"host": f"[::1]:{port}", "origin": f"http://[::1]:{port}"}).status_code == 200
            assert post({}).status_code == 200  # not from a browser: no Origin
        ws = f"ws://{host}:{port}/ws/live"
        for headers, origin in (({"Host": f"evil.example:{port}"}, f"http://evil.example:{port}"),
                                ({}, "http://evil.example")):
            with pytest.raises(InvalidStatus) as refused:
                with connect(ws, origin=origin, additional_headers=headers, open_timeout=30) as conn:
                    conn.recv(timeout=10)
            assert refused.value.response.status_code == 403
        with connect(ws, origin=f"http://localhost:{port}", additional_headers={"Host": f"localhost:{port}"},
                     open_timeout=30) as conn:
            conn.send(face_jpeg)
            assert json.loads(conn.recv(timeout=60))["type"] == "result"


# ---------------------------------------------------------------- 5. stopping
def test_sigterm_during_a_trickling_upload_stops_within_two_seconds():
    with ServeProcess() as srv:
        s = socket.create_connection((srv.host, srv.port), timeout=60)
        s.sendall(b"POST /api/v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                  b"Content-Length: 100000\r\n\r\n")
        stop = threading.Event()

        def trickle() -> None:  # a byte at a time, as a very slow client would
            while not stop.is_set():
                try:
                    s.sendall(b"\xff")
                except OSError:
                    return
                stop.wait(0.2)

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        try:
            with httpx.Client(base_url=srv.url, timeout=30) as c:  # wait until the server is reading the upload
                deadline = time.monotonic() + 60
                while c.get("/healthz").json()["uploads"] < 1:
                    assert time.monotonic() < deadline, "the upload never started"
                    stop.wait(0.05)
            t0 = time.monotonic()
            code, err = srv.stop(signal.SIGTERM, timeout=30)
            took = time.monotonic() - t0
        finally:
            stop.set()
            s.close()
    after = err.split("serving on", 1)[1].splitlines()[1:]
    print(f"stopped in {took:.2f} s; stderr after start: {after}")
    assert code == 0, err
    assert took < 2.0, took
    assert "Traceback" not in err
    assert [line for line in after if line.strip() and "warning" not in line] == ["facemoji: server stopped (SIGTERM)"]
