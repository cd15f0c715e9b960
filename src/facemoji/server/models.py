"""One worker thread's pipelines: for uploads and camera frames, plain and strict, over one copy of each model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from facemoji.options import Kind, Options

if TYPE_CHECKING:
    from facemoji.pipeline import Pipeline
    from facemoji.server.config import ServerConfig


class Models:
    """The pipelines of one worker thread, touched only by that thread.

    There is one pipeline per kind of picture (``photo``: uploads, ``frames``: the page's camera) and
    strictness, four at most; the two of the server's own strictness are built (and their models loaded) now,
    the others when a request first asks for them. They are built with ``share`` (see
    :class:`~facemoji.pipeline.Pipeline`), so each detector and classifier they have in common, and the emoji
    set, is loaded once. The cover and the mode are arguments of each call, not pipelines of their own.
    """

    def __init__(self, cfg: ServerConfig) -> None:
        self._options: dict[Kind, Options] = {"photo": cfg.options, "frames": cfg.live_options()}
        self._made: dict[tuple[Kind, bool], Pipeline] = {}
        self.photo = self.pipeline("photo", cfg.options.strict)
        self.live = self.pipeline("frames", cfg.options.strict)
        self.classes = tuple(self.photo.classes)

    def pipeline(self, kind: Kind, strict: bool) -> Pipeline:
        """The pipeline for ``kind`` pictures, strict or not (built on first use, sharing the loaded models)."""
        key = (kind, bool(strict))
        pipe = self._made.get(key)
        if pipe is None:
            from facemoji.pipeline import Pipeline

            # the same kind shares everything; another kind at least the emoji set, and its models if they match
            share = self._made.get((kind, not key[1])) or next(iter(self._made.values()), None)
            pipe = Pipeline(options=self._options[kind].with_(strict=key[1]), kind=kind, share=share)
            self._made[key] = pipe
        return pipe

    @property
    def built(self) -> tuple[tuple[Kind, bool], ...]:
        """The (kind, strict) pipelines built so far."""
        return tuple(self._made)
