"""Throughput and latency of `facemoji serve` under concurrent clients, and its overload behaviour.

    python benchmarks/bench_server.py [--requests 200] [--clients 8] [--detect-sizes 320] [--repeats 3]
    python benchmarks/bench_server.py --compare-src /path/to/other/src   # A/B against another version

For each detection size it measures the plain pipeline's frames per second on
one 640x480 photo with one face (in this process), then starts `facemoji serve`
as a separate process on 127.0.0.1 and sends a bounded number of
POST /api/v1/analyze requests (that JPEG) from concurrent clients: requests/s,
p50/p95 latency, errors, the server's peak resident memory (VmHWM), and its
throughput as a share of the pipeline's frames/s (target: no errors and at
least 80 %). Then an overload run (the default queue, 64 clients) shows how
the excess is shed: the share answered 503, how fast those answers come
(median and p95), and the throughput of the requests that are served. Each
run is repeated (--repeats) and the medians are printed last. With
--compare-src the server of another source tree (its `src` folder) is measured
too, alternating with this one, so both see the same machine. Run it on an idle
machine; the load average printed first tells what else was running.
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
from child import hwm_mib
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
    """`facemoji serve` in a child process on 127.0.0.1 (from ``src`` when given: another version's source)."""

    def __init__(self, *args: str, src: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "facemoji", "serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
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

    def peak_rss_mib(self) -> float:
        """The server's peak resident memory so far (VmHWM), in MiB; NaN where /proc is not there."""
        return hwm_mib(self.proc.pid, float("nan"))

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


def median(values: list[float]) -> float:
    vals = [v for v in values if v == v]
    return float(np.median(vals)) if vals else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200, help="requests per load run (default: 200)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (default: 8)")
    ap.add_argument("--detect-sizes", type=int, nargs="+", default=[320], metavar="PX",
                    help="server --detect-size values to try (default: 320)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each measurement; medians last (default: 3)")
    ap.add_argument("--pipeline-frames", type=int, default=60, help="frames for the pipeline baseline (default: 60)")
    ap.add_argument("--overload-clients", type=int, default=64, help="clients in the overload run (default: 64)")
    ap.add_argument("--overload-requests", type=int, default=640,
                    help="requests in the overload run (default: 640)")
    ap.add_argument("--no-overload", action="store_true", help="skip the overload run")
    ap.add_argument("--compare-src", metavar="DIR",
                    help="also measure the server of another source tree (its src folder), alternating with this one")
    args = ap.parse_args()
    if min(args.requests, args.clients, args.pipeline_frames, args.repeats) < 1:
        ap.error("--requests, --clients, --pipeline-frames and --repeats must be at least 1")
    variants: list[tuple[str, str | None]] = [("this", None)]
    if args.compare_src:
        if not os.path.isdir(os.path.join(args.compare_src, "facemoji")):
            ap.error(f"--compare-src: no facemoji package in {args.compare_src}")
        variants.append(("other", os.path.abspath(args.compare_src)))

    jpg = photo_jpeg()
    load1 = os.getloadavg()[0]
    print(f"facemoji server benchmark: {os.cpu_count()} CPUs, load average {load1:.2f} before starting "
          f"(anything else running shows up in the numbers); 640x480 JPEG of {len(jpg) // 1024} KiB, one face")
    if args.compare_src:
        print(f"'other' is the server from {variants[1][1]}")
    print()
    header = (f"{'server':>6} {'run':>3} {'detect':>6} {'pipeline fps':>12} {'clients':>7} {'ok':>5} {'errors':>6} "
              f"{'503':>4} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'peak MiB':>8} {'share':>6}  target")
    print(header)
    print("-" * len(header))
    all_good = True
    for ds in args.detect_sizes:
        bare, _ = pipeline_fps(ds, jpg, args.pipeline_frames)
        rows: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name, _ in variants}
        for run in range(1, args.repeats + 1):
            for name, src in variants:
                srv = Server("--detect-size", str(ds), "--queue-size", str(max(8, 2 * args.clients)), src=src)
                try:
                    load(srv.url, jpg, min(16, args.requests), args.clients, 60, 60)  # warm up
                    r = load(srv.url, jpg, args.requests, args.clients, timeout=60, deadline_s=300)
                    peak = srv.peak_rss_mib()
                finally:
                    srv.stop()
                rps = r.ok / r.wall if r.wall else 0.0
                share = rps / bare
                good = r.errors == 0 and r.codes.get("503", 0) == 0 and r.ok == args.requests
                all_good &= good or name != "this"
                rows[name].append((rps, pct(r.latencies, 50), pct(r.latencies, 95), peak))
                print(f"{name:>6} {run:>3} {ds:>6} {bare:>12.1f} {args.clients:>7} {r.ok:>5} {r.errors:>6} "
                      f"{r.codes.get('503', 0):>4} {rps:>7.1f} {pct(r.latencies, 50):>7.1f} "
                      f"{pct(r.latencies, 95):>7.1f} {peak:>8.0f} {share:>6.0%}  "
                      f"{'met' if good and share >= TARGET_SHARE else 'MISSED'}")
                other = {k: v for k, v in r.codes.items() if k not in ("200", "503")}
                if other:
                    print(f"{'':>6} errors by kind: {other}")
        for name, _ in variants:
            m = [median([row[i] for row in rows[name]]) for i in range(4)]
            print(f"{name:>6} {'med':>3} {ds:>6} {bare:>12.1f} {args.clients:>7} {'':>5} {'':>6} {'':>4} "
                  f"{m[0]:>7.1f} {m[1]:>7.1f} {m[2]:>7.1f} {m[3]:>8.0f} {m[0] / bare:>6.0%}")
    print()
    print(f"share = server requests/s / pipeline fps (analyze on a decoded frame, one process); "
          f"target: no errors and share >= {TARGET_SHARE:.0%}")

    if not args.no_overload:
        ds = args.detect_sizes[-1]
        print()
        print(f"overload: default queue (8 waiting + 2 running), {args.overload_clients} clients, "
              f"{args.overload_requests} requests, detect size {ds}, 10 s client time-out")
        head = (f"{'server':>6} {'run':>3} {'200':>5} {'503':>5} {'503 share':>9} {'503 p50 ms':>10} "
                f"{'503 p95 ms':>10} {'200 req/s':>9} {'200 p95 ms':>10} {'time-outs':>9} {'other':>5} "
                f"{'peak MiB':>8}  Retry-After")
        print(head)
        print("-" * len(head))
        orows: dict[str, list[tuple[float, ...]]] = {name: [] for name, _ in variants}
        for run in range(1, args.repeats + 1):
            for name, src in variants:
                srv = Server("--detect-size", str(ds), src=src)
                try:
                    r = load(srv.url, jpg, args.overload_requests, args.overload_clients, timeout=10,
                             deadline_s=300)
                    health = httpx.get(srv.url + "/healthz", timeout=10).json()
                    peak = srv.peak_rss_mib()
                finally:
                    srv.stop()
                busy = r.codes.get("503", 0)
                total = sum(r.codes.values())
                timeouts = r.codes.get("timeout", 0)
                row = (busy / total if total else 0.0, pct(r.busy_latencies, 50), pct(r.busy_latencies, 95),
                       r.ok / r.wall if r.wall else 0.0, pct(r.latencies, 95), peak)
                orows[name].append(row)
                print(f"{name:>6} {run:>3} {r.ok:>5} {busy:>5} {row[0]:>9.0%} {row[1]:>10.1f} {row[2]:>10.1f} "
                      f"{row[3]:>9.1f} {row[4]:>10.0f} {timeouts:>9} {r.errors - timeouts:>5} {peak:>8.0f}  "
                      f"{sorted(r.retry_after)}")
                ok = (r.errors == 0 and busy > 0 and health["status"] == "ok" and "missing" not in r.retry_after)
                all_good &= ok or name != "this"
        for name, _ in variants:
            m = [median([row[i] for row in orows[name]]) for i in range(6)]
            print(f"{name:>6} {'med':>3} {'':>5} {'':>5} {m[0]:>9.0%} {m[1]:>10.1f} {m[2]:>10.1f} {m[3]:>9.1f} "
                  f"{m[4]:>10.0f} {'':>9} {'':>5} {m[5]:>8.0f}")
        print("as intended when every run of 'this' has excess requests answered 503 + Retry-After, none timed out")
    return 0 if all_good else 1


if __name__ == "__main__":
    raise SystemExit(main())
