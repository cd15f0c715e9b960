"""One command as a fresh process: its wall time and its own peak resident memory.

The peak is the process's resident high-water mark, ``VmHWM`` in ``/proc/PID/status``, read every few
milliseconds while it runs (it only grows, and starts afresh when the process ``exec``s the command). The
``ru_maxrss`` that ``wait4`` returns cannot be used for this: Linux counts in it the resident size of the
benchmark process at the moment it forked the child, so after the benchmark itself has composed a 4K clip or run
the pipeline, every child seems to take at least that much.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time


def hwm_mib(pid: int, missing: float = 0.0) -> float:
    """Process ``pid``'s resident high-water mark in MiB; ``missing`` once it is gone or where /proc is not there."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return missing


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int, str]:
    """Run ``cmd``: (wall seconds, peak resident MiB, exit code, what it wrote to standard error)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    chunks: list[bytes] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: chunks.append(proc.stderr.read()), daemon=True)  # never blocks on a full pipe
    reader.start()
    peak = 0.0
    while True:
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, hwm_mib(proc.pid))
        time.sleep(0.005)
    seconds = time.perf_counter() - t
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, peak, proc.returncode, b"".join(chunks).decode(errors="replace")
