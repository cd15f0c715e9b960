"""The live camera: the WebSocket ``/ws/live`` and one session per connected page.

Binary messages are camera frames (JPEG/PNG/WebP); each answer is one JSON text message. At most one frame
per connection is processed at a time; frames that arrive meanwhile replace each other, so only the newest
is answered. The connection's options (``cover``, ``strict``) come from its query parameters and change with
a JSON text message ``{"cover": ..., "strict": ...}``; the page draws the covers itself, over each face's
``cover_box``, so its camera picture never leaves the machine drawn on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from facemoji.errors import InputError
from facemoji.imageio import decode_image
from facemoji.server.bodies import BodyError
from facemoji.server.models import Models
from facemoji.server.params import parse_cover, parse_strict
from facemoji.server.state import ServerState, state_of
from facemoji.server.worker import Busy
from facemoji.types import Face

SETTINGS = ("cover", "strict")
MAX_SETTINGS_CHARS = 4096
MAX_REPLIES = 8  # replies to settings messages kept for sending; a client that floods them gets the latest
GONE = (asyncio.TimeoutError, WebSocketDisconnect, RuntimeError, OSError)  # the client left, or takes no answers


def parse_settings(text: str, cover: str, strict: bool) -> tuple[str, bool]:
    """A settings message applied to ``cover`` and ``strict`` (a 400 :class:`BodyError` for a bad one)."""
    usage = 'a text message sets options: {"cover": "emoji|blur|pixelate|solid", "strict": true|false}'
    if len(text) > MAX_SETTINGS_CHARS:
        raise BodyError(400, f"settings message too long ({len(text)} characters); {usage}")
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        raise BodyError(400, usage)
    unknown = sorted(set(obj) - {*SETTINGS, "type"})
    if unknown:
        raise BodyError(400, f"unknown setting {unknown[0]!r} (use {', '.join(SETTINGS)})")
    return parse_cover(obj.get("cover"), cover), parse_strict(obj.get("strict"), strict)


def face_record(face: Face, covered: Face) -> dict[str, Any]:
    """A face's record with the box its cover goes over (``cover_box``: padded, more so when strict)."""
    return {**face.to_dict(), "cover_box": covered.to_dict()["box"]}


class LiveSession:
    """One connected page: the newest frame waiting, settings messages waiting, and the counts it is told."""

    def __init__(self, ws: WebSocket, state: ServerState, cover: str, strict: bool) -> None:
        self.ws = ws
        self.state = state
        self.cover = cover
        self.strict = strict
        self.latest: bytes | None = None
        self.replies: deque[dict[str, Any]] = deque(maxlen=MAX_REPLIES)  # to settings messages, not yet sent
        self.received = 0
        self.dropped = 0
        self.seq = 0
        self.ready = asyncio.Event()
        self.gone = asyncio.Event()

    def counts(self) -> dict[str, int]:
        return {"received": self.received, "dropped": self.dropped}

    async def read(self) -> None:
        """Take every message as it comes (frames replace the one waiting) until the client leaves or idles."""
        try:
            while True:
                msg = await asyncio.wait_for(self.ws.receive(), self.state.config.ws_idle_timeout)
                if msg["type"] == "websocket.disconnect":
                    break
                data, text = msg.get("bytes"), msg.get("text")
                if data is not None:
                    self.received += 1
                    if self.latest is not None:
                        self.dropped += 1  # a newer frame replaces one not yet started
                    self.latest = data
                    self.ready.set()
                elif text is not None:
                    self.replies.append(self.settle(text))
                    self.ready.set()
        except (asyncio.TimeoutError, WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.gone.set()
            self.ready.set()

    async def send(self, obj: dict[str, Any]) -> None:
        text = json.dumps(obj, separators=(",", ":"))
        await asyncio.wait_for(self.ws.send_text(text), self.state.config.ws_send_timeout)

    async def run(self) -> None:
        task = asyncio.create_task(self.read())
        try:
            while True:
                await self.ready.wait()
                self.ready.clear()
                if self.gone.is_set():
                    break
                while self.replies:
                    await self.send(self.replies.popleft())
                frame, self.latest = self.latest, None
                if frame is not None:
                    await self.answer(frame)
        except GONE:
            pass  # the client is gone or too slow to take answers
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            with contextlib.suppress(Exception):
                await self.ws.close()

    def settle(self, text: str) -> dict[str, Any]:
        """Apply a settings message (to the frames answered from now on); the reply: the options now, or why
        the message was refused."""
        try:
            self.cover, self.strict = parse_settings(text, self.cover, self.strict)
        except BodyError as e:
            return {"type": "error", "error": e.message, **self.counts()}
        return {"type": "settings", "cover": self.cover, "strict": self.strict}

    async def answer(self, frame: bytes) -> None:
        self.seq += 1
        seq, t0, cfg = self.seq, time.perf_counter(), self.state.config
        if len(frame) > cfg.max_live_bytes:
            await self.send({"type": "error", "seq": seq, "error": "frame too large", **self.counts()})
            return
        cover, strict, st = self.cover, self.strict, self.state
        try:
            with st.budget.ticket() as ticket, st.worker.try_acquire():
                st.uploads.reserve_image(ticket, frame, "frame", cfg.max_live_pixels)

                def job(m: Models) -> tuple[tuple[int, ...], list[dict[str, Any]]]:
                    img = decode_image(frame, cfg.max_live_pixels, "frame")
                    pipe = m.pipeline("frames", strict)
                    faces = pipe.analyze(img)
                    return img.shape, [face_record(f, c) for f, c in zip(faces, pipe.cover_faces(faces, "emoji"),
                                                                          strict=True)]

                shape, faces = await st.worker.run(job)
        except Busy as e:
            await self.send({"type": "busy", "seq": seq, "retry_after": e.retry_after, **self.counts()})
            return
        except (InputError, BodyError) as e:
            await self.send({"type": "error", "seq": seq, "error": str(e), **self.counts()})
            return
        await self.send({"type": "result", "seq": seq, "width": int(shape[1]), "height": int(shape[0]),
                         "faces": faces, "cover": cover, "strict": strict,
                         "ms": round((time.perf_counter() - t0) * 1000, 1), **self.counts()})


async def live(ws: WebSocket) -> None:
    """``/ws/live``: a camera page's connection (Host and Origin were checked by TrustedHosts)."""
    st = state_of(ws)
    cfg = st.config
    try:
        cover = parse_cover(ws.query_params.get("cover"), cfg.options.cover)
        strict = parse_strict(ws.query_params.get("strict"), cfg.options.strict)
    except BodyError as e:
        await ws.accept()
        with contextlib.suppress(*GONE):
            await ws.send_text(json.dumps({"type": "error", "error": e.message}))
            await ws.close(code=1008, reason=e.message[:120])
        return
    if st.live_clients >= cfg.max_live_clients:
        await ws.accept()
        await ws.close(code=1013, reason="too many live clients")
        return
    st.live_clients += 1
    try:
        await ws.accept()
        await LiveSession(ws, st, cover, strict).run()
    finally:
        st.live_clients -= 1
