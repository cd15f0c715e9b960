"""Throughput and latency of `facemoji serve` under concurrent clients, and its overload behaviour.

    python benchmarks/bench_server.py [--requests 200] [--clients 8] [--detect-sizes 320 640]

For each detection size it measures the plain pipeline's frames per second on
one 640x480 photo with one face (in this process), then starts `facemoji serve`
as a separate process on 127.0.0.1 and sends a bounded number of
POST /api/v1/analyze requests (that JPEG) from concurrent clients: requests/s,
p50/p95 latency, errors, and the server's throughput as a share of the
pipeline's frames/s (target: no errors and at least 80 %). Then an overload
run (queue of 2, many clients) shows 503 + Retry-After answers instead of
ever-growing latency or time-outs. Run it on an idle machine; the load
average printed first tells what else was running.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import cv2
import httpx
import numpy as np
from PIL import Image
from skimage import data

from facemoji.imageio import decode_image
from facemoji.pipeline import Pipeline

TARGET_SHARE = 0.80


def photo_jpeg() -> bytes:
    """640x480 JPEG with the astronaut's face (one face)."""
    frame = cv2.resize(data.astronaut()[:384], (640, 480), interpolation=cv2.INTER_AREA)
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def pipeline_fps(detect_size: int, jpg: bytes, n: int) -> tuple[float, float]:
    """Frames/s of analyze() on a decoded frame, and of decode + analyze, in this process."""
    pipe = Pipeline(detect_size=detect_size)
    img = decode_image(jpg)
    for _ in range(20):
        pipe.analyze(img)
    bare = with_decode = 0.0
    for _ in range(2):  # best of two rounds each, alternating, so warm-up favours neither
        t = time.perf_counter()
        for _ in range(n):
            pipe.analyze(img)
        bare = max(bare, n / (time.perf_counter() - t))
        t = time.perf_counter()
        for _ in range(n):
            pipe.analyze(decode_image(jpg))
        with_decode = max(with_decode, n / (time.perf_counter() - t))
    return bare, with_decode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`facemoji serve` in a child process on 127.0.0.1."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "facemoji", "serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class LoadResult:
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, of 200 answers
    codes: dict[str, int] = field(default_factory=dict)
    retry_after: set[str] = field(default_factory=set)
    busy_latencies: list[float] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return self.codes.get("200", 0)

    @property
    def errors(self) -> int:
        return sum(v for k, v in self.codes.items() if k not in ("200", "503"))


def load(url: str, body: bytes, requests: int, clients: int, timeout: float, deadline_s: float) -> LoadResult:
    res = LoadResult()
    lock = threading.Lock()
    left = [requests]
    stop_at = time.monotonic() + deadline_s

    def client() -> None:
        with httpx.Client(base_url=url, timeout=timeout) as c:
            while True:
                with lock:
                    if left[0] <= 0 or time.monotonic() > stop_at:
                        return
                    left[0] -= 1
                t = time.perf_counter()
                try:
                    r = c.post("/api/v1/analyze", content=body, headers={"content-type": "image/jpeg"})
                    code = str(r.status_code)
                    if code == "200" and not r.json().get("faces"):
                        code = "200-no-face"
                except httpx.TimeoutException:
                    r, code = None, "timeout"
                except httpx.HTTPError as e:
                    r, code = None, type(e).__name__
                dt = time.perf_counter() - t
                with lock:
                    res.codes[code] = res.codes.get(code, 0) + 1
                    if code == "200":
                        res.latencies.append(dt)
                    elif code == "503" and r is not None:
                        res.busy_latencies.append(dt)
                        res.retry_after.add(r.headers.get("retry-after", "missing"))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res.wall = time.perf_counter() - t0
    return res


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values) * 1000, q))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200, help="requests per load run (default: 200)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (default: 8)")
    ap.add_argument("--detect-sizes", type=int, nargs="+", default=[320, 640], metavar="PX",
                    help="server --detect-size values to try (default: 320 640)")
    ap.add_argument("--pipeline-frames", type=int, default=60, help="frames for the pipeline baseline (default: 60)")
    ap.add_argument("--overload-clients", type=int, default=32, help="clients in the overload run (default: 32)")
    ap.add_argument("--overload-requests", type=int, default=320, help="requests in the overload run (default: 320)")
    ap.add_argument("--no-overload", action="store_true", help="skip the overload run")
    args = ap.parse_args()
    if min(args.requests, args.clients, args.pipeline_frames) < 1:
        ap.error("--requests, --clients and --pipeline-frames must be at least 1")

    jpg = photo_jpeg()
    load1 = os.getloadavg()[0]
    print(f"facemoji server benchmark: {os.cpu_count()} CPUs, load average {load1:.2f} before starting "
          f"(anything else running shows up in the numbers); 640x480 JPEG of {len(jpg) // 1024} KiB, one face")
    print()
    header = (f"{'detect':>6} {'pipeline fps':>12} {'+decode fps':>11} {'clients':>7} {'requests':>8} {'ok':>5} "
              f"{'errors':>6} {'503':>4} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'share':>6}  target")
    print(header)
    print("-" * len(header))
    all_good = True
    for ds in args.detect_sizes:
        bare, with_decode = pipeline_fps(ds, jpg, args.pipeline_frames)
        srv = Server("--detect-size", str(ds), "--queue-size", str(max(8, 2 * args.clients)))
        try:
            load(srv.url, jpg, min(16, args.requests), args.clients, 60, 60)  # warm up
            r = load(srv.url, jpg, args.requests, args.clients, timeout=60, deadline_s=300)
        finally:
            srv.stop()
        rps = r.ok / r.wall if r.wall else 0.0
        share = rps / bare
        good = r.errors == 0 and r.codes.get("503", 0) == 0 and r.ok == args.requests and share >= TARGET_SHARE
        all_good &= good
        print(f"{ds:>6} {bare:>12.1f} {with_decode:>11.1f} {args.clients:>7} {args.requests:>8} {r.ok:>5} "
              f"{r.errors:>6} {r.codes.get('503', 0):>4} {rps:>7.1f} {pct(r.latencies, 50):>7.1f} "
              f"{pct(r.latencies, 95):>7.1f} {pct(r.latencies, 100):>7.1f} {share:>6.0%}  "
              f"{'met' if good else 'MISSED'}")
        other = {k: v for k, v in r.codes.items() if k not in ("200", "503")}
        if other:
            print(f"{'':>6} errors by kind: {other}")
    print()
    print(f"share = server requests/s / pipeline fps (analyze on a decoded frame, one process); "
          f"target: no errors and share >= {TARGET_SHARE:.0%}")

    if not args.no_overload:
        ds = args.detect_sizes[-1]
        print()
        print(f"overload: queue size 2, {args.overload_clients} clients, {args.overload_requests} requests, "
              f"detect size {ds}, 10 s client time-out")
        srv = Server("--detect-size", str(ds), "--queue-size", "2")
        try:
            r = load(srv.url, jpg, args.overload_requests, args.overload_clients, timeout=10, deadline_s=300)
            health = httpx.get(srv.url + "/healthz", timeout=10).json()
        finally:
            srv.stop()
        busy = r.codes.get("503", 0)
        print(f"  answered 200: {r.ok}   503 busy: {busy}   time-outs: {r.codes.get('timeout', 0)}   "
              f"other errors: {r.errors - r.codes.get('timeout', 0)}")
        print(f"  200 latency p50 {pct(r.latencies, 50):.0f} ms, p95 {pct(r.latencies, 95):.0f} ms, "
              f"max {pct(r.latencies, 100):.0f} ms;  503 answered in p50 {pct(r.busy_latencies, 50):.1f} ms; "
              f"Retry-After values: {sorted(r.retry_after)}")
        print(f"  throughput while overloaded: {r.ok / r.wall:.1f} req/s; /healthz afterwards: {health['status']}")
        ok = r.errors == 0 and busy > 0 and health["status"] == "ok" and "missing" not in r.retry_after
        print(f"  {'as intended' if ok else 'NOT as intended'}: excess requests get 503 + Retry-After, none time out")
        all_good &= ok
    return 0 if all_good else 1


if __name__ == "__main__":
    raise SystemExit(main())
