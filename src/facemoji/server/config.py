"""The settings of one server: the pipeline's options (one :class:`~facemoji.options.Options`) and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from facemoji.options import FRAME_DETECT_SIZE, Options
from facemoji.server.budget import MIB
from facemoji.server.connections import ConnectionLimits


def _server_options() -> Options:
    return Options(threads=1)


@dataclass
class ServerConfig:
    """Settings of one server (the ``facemoji serve`` options).

    ``options`` are the defaults of every request: uploads are read as photos (``options.pipeline("photo")``:
    the full model, detection at ``options.detect_size`` or 640), the page's camera frames as frames (the fast
    model unless ``options.model`` names one, detection at ``live_detect_size``). ``options.mode``, ``cover`` and
    ``strict`` are what a request that does not ask for others gets.
    """

    options: Options = field(default_factory=_server_options)
    live_detect_size: int = FRAME_DETECT_SIZE  # camera frames from the page
    workers: int = 2  # worker threads, each with its own copy of the models
    queue_size: int = 8  # jobs waiting for the model, beyond the one running
    max_upload_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_live_bytes: int = 4 * 1024 * 1024  # one camera frame over the WebSocket
    max_live_pixels: int = 4_000_000
    max_live_clients: int = 8
    max_body_readers: int = 64  # uploads being received at once
    body_timeout: float = 30.0  # seconds to receive one upload
    ws_idle_timeout: float = 60.0  # close a live connection that sends nothing for this long
    ws_send_timeout: float = 10.0  # ... or that does not take its answers
    # memory: uploads and decoded pictures of all requests in flight, estimated before decoding
    memory_budget_bytes: int = 2048 * MIB
    image_budget_bytes: int | None = None  # one request's share; None: half the total
    # names accepted in the Host header besides 127.0.0.1, localhost and ::1 (e.g. the --host address)
    allowed_hosts: tuple[str, ...] = ()
    # connections (enforced by the HTTP protocol, see facemoji.server.connections)
    header_timeout: float = 10.0  # seconds to send a request's line and headers
    max_connections: int = 512
    max_connections_per_client: int = 64

    def __post_init__(self) -> None:
        if not isinstance(self.options, Options):
            raise TypeError(f"options must be a facemoji.options.Options, got {type(self.options).__name__}")
        Options.check_detect_size(self.live_detect_size, "--live-detect-size")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")

    def live_options(self) -> Options:
        """The options of the live camera's frames: the server's, detected at ``live_detect_size``."""
        return self.options.with_(detect_size=self.live_detect_size)

    def connection_limits(self) -> ConnectionLimits:
        return ConnectionLimits(max_connections=self.max_connections, max_per_client=self.max_connections_per_client,
                                header_timeout=self.header_timeout, body_timeout=self.body_timeout)

    def image_budget(self) -> int:
        share = self.image_budget_bytes if self.image_budget_bytes is not None else self.memory_budget_bytes // 2
        return min(share, self.memory_budget_bytes)
