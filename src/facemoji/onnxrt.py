"""One way to open an onnxruntime session for every model facemoji runs.

Importing this module turns onnxruntime's telemetry off for the whole process.
onnxruntime's official builds otherwise create an event store and a device
identifier under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime`` as soon as
the library initializes (before any API call could stop it), which breaks
facemoji's promise that nothing is sent or written. The switch is the
``ORT_DISABLE_TELEMETRY`` environment variable, read when onnxruntime starts,
so it is set here, before onnxruntime is first imported; the detector and the
classifier import this module before they import onnxruntime.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["ORT_DISABLE_TELEMETRY"] = "1"


def no_telemetry() -> None:
    """Keep onnxruntime from recording anything: the environment switch, and the API switch once it is loaded."""
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    import onnxruntime as ort

    disable = getattr(ort, "disable_telemetry_events", None)
    if disable is not None:
        disable()


def open_session(model: str | Path | bytes, threads: int = 2):
    """An onnxruntime CPU session with ``threads`` intra-op threads that do not spin.

    facemoji runs two models one after the other on every frame (detector, then
    classifier), each with its own thread pool. onnxruntime's default keeps a
    pool's threads busy-waiting for a while after each run; on a 2-core laptop
    they then steal the cores from the other model, which made a frame with
    three faces take about twice as long. Idle threads here sleep instead.
    """
    no_telemetry()
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    src = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
