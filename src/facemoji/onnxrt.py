"""One way to open an onnxruntime session for every model facemoji runs."""

from __future__ import annotations

from pathlib import Path


def open_session(model: str | Path | bytes, threads: int = 2):
    """An onnxruntime CPU session with ``threads`` intra-op threads that do not spin.

    facemoji runs two models one after the other on every frame (detector, then
    classifier), each with its own thread pool. onnxruntime's default keeps a
    pool's threads busy-waiting for a while after each run; on a 2-core laptop
    they then steal the cores from the other model, which made a frame with
    three faces take about twice as long. Idle threads here sleep instead.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    src = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
