"""What one running app holds: its settings, the models' workers, the memory budget and its counters."""

from __future__ import annotations

import importlib.resources
import time

from starlette.requests import HTTPConnection

from facemoji.labels import EMOTIONS
from facemoji.server.budget import MemoryBudget
from facemoji.server.config import ServerConfig
from facemoji.server.models import Models
from facemoji.server.uploads import Uploads
from facemoji.server.worker import PipelineWorker


def emoji_pngs() -> dict[str, bytes]:
    """The shipped emoji images, by emotion, as the page loads them."""
    folder = importlib.resources.files("facemoji") / "assets" / "emoji"
    return {name: (folder / f"{name}.png").read_bytes() for name in EMOTIONS}


class ServerState:
    """One app's state (``app.state.server``); counters are touched on the event loop's thread only.

    ``models`` holds each worker thread's pipelines (loaded here, so a bad model fails before serving),
    ``worker`` the threads and their slots, ``budget`` the memory all requests in flight may take,
    ``uploads`` how uploads are admitted and read (and how many are being read), ``live_clients`` the
    camera pages connected now. (The HTTP protocol's connection tracker is ``app.state.connections``, set by
    :func:`facemoji.server.runner.make_server`.)
    """

    def __init__(self, cfg: ServerConfig) -> None:
        self.config = cfg
        self.models = [Models(cfg) for _ in range(cfg.workers)]
        self.worker = PipelineWorker(self.models, queue_size=cfg.queue_size)
        self.budget = MemoryBudget(cfg.memory_budget_bytes, cfg.image_budget())
        self.uploads = Uploads(cfg, self.worker, self.budget)
        self.emoji_png = emoji_pngs()
        self.classes = self.models[0].classes
        self.live_clients = 0
        self.started = time.time()

    def close(self) -> None:
        self.worker.close()


def state_of(conn: HTTPConnection) -> ServerState:
    """The state of the app that serves a request or a WebSocket."""
    return conn.app.state.server
