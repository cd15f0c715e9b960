"""``facemoji serve``: the web page (live camera, photo upload) and the HTTP API."""

from __future__ import annotations

import argparse
import os
import sys

from facemoji.cli.common import options_from_args, usage_error
from facemoji.errors import InputError
from facemoji.options import FRAME_DETECT_SIZE, Options

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# every pipeline option the server honours: mode, cover and strict are the defaults of the API and the page
# (each request may ask for others), the rest build the models. An option added to Options that is not named
# here is refused (exit status 2), not ignored, until the server learns it.
HONOURED = ("mode", "cover", "strict", "detector", "detect_size", "threshold", "model", "emoji_scale", "threads")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="web page and HTTP API (live camera, photo upload)",
        description="Serve a web page that shows your camera with an emoji over every face, and emojifies "
        "uploaded photos, plus an HTTP API (documented at /docs). Everything runs on this machine; uploads and "
        "camera frames are kept in memory only while they are answered. It listens on 127.0.0.1 (this machine "
        "only) unless --host says otherwise.\n\n"
        "Against misuse: requests must name this server as 127.0.0.1, localhost, [::1], the --host address or an "
        "--allowed-host name (so a web page cannot reach it by DNS rebinding), and posts or live connections from "
        "another web site's pages are refused. Connections that do not finish their request in time are closed, "
        "and the memory all images in flight may take (decoded, not as uploaded) is capped by --memory-budget-mb: "
        "a picture that needs more than half of it gets 413, and work beyond it waits outside with 503 and "
        "Retry-After. SIGTERM or Ctrl+C stops the server within about two seconds whatever the clients do.\n\n"
        "--mode, --cover and --strict are the defaults of the page and of the API; each request may ask for "
        "others (the query parameters mode, cover and strict; see /docs). Uploads are read as photos (the full "
        "model, --detect-size), the page's camera frames as frames (the fast model unless --model names one, "
        "--live-detect-size).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  facemoji serve\n  facemoji serve --port 9000 --queue-size 4\n"
        "  facemoji serve --host 0.0.0.0 --allowed-host mylaptop.local --memory-budget-mb 1024\n"
        "  facemoji serve --cover solid --strict\n"
        "  curl -F file=@photo.jpg http://127.0.0.1:8000/api/v1/analyze\n"
        "  curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' "
        "'http://127.0.0.1:8000/api/v1/emojify?format=jpeg' -o out.jpg\n"
        "  curl -F file=@photo.jpg 'http://127.0.0.1:8000/api/v1/emojify?cover=blur&strict=true' -o out.png\n",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="another host name (or address) this server may be reached by, besides 127.0.0.1, "
                   "localhost, [::1] and --host; repeat for several (e.g. the machine's name on the network)")
    p.add_argument("--queue-size", type=int, default=8, metavar="N",
                   help="images that may wait for the model; past that the server answers 503 (default: 8)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, metavar="MB",
                   help="largest upload accepted, in megabytes (default: 20)")
    p.add_argument("--max-megapixels", type=float, default=50.0, metavar="MP",
                   help="refuse images with more pixels, guarding against decompression bombs (default: 50)")
    p.add_argument("--memory-budget-mb", type=float, default=2048.0, metavar="MB",
                   help="memory all images being answered may take together, decoded (default: 2048, safe on an "
                   "8 GB machine); one image may take half")
    p.add_argument("--max-live-clients", type=int, default=8, metavar="N",
                   help="camera pages served at once (default: 8)")
    p.add_argument("--live-detect-size", type=int, default=FRAME_DETECT_SIZE, metavar="PX",
                   help=f"detection size for live camera frames (default: {FRAME_DETECT_SIZE}; "
                   "--detect-size is for uploads)")
    p.add_argument("--workers", type=int, default=2, metavar="N",
                   help="model worker threads, each with its own copy of the models (default: 2; with --threads 1 "
                   "this uses two cores best)")
    p.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"),
                   help="server log level (default: warning)")
    Options.add_arguments(p, "photo", threads=1, threads_why="; each of the --workers threads runs its own models",
                          refuse={name: "the server cannot honour it yet" for name in Options.names()
                                  if name not in HONOURED})
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from facemoji.server.app import create_app
    from facemoji.server.config import ServerConfig
    from facemoji.server.runner import bind_socket, make_server, url_for

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be 0..65535, got {args.port}")
    if args.queue_size < 1:
        raise InputError("--queue-size must be at least 1")
    if args.max_upload_mb <= 0 or args.max_megapixels <= 0:
        raise InputError("--max-upload-mb and --max-megapixels must be positive")
    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    if args.memory_budget_mb < 64:
        raise InputError(f"--memory-budget-mb must be at least 64, got {args.memory_budget_mb:g}")
    for name in args.allowed_host:
        if not name.strip() or any(c in name for c in "/ \t@"):
            raise InputError(f"--allowed-host takes a host name or address, got {name!r}")
    if args.max_live_clients < 1:
        raise InputError("--max-live-clients must be at least 1")
    options = options_from_args(args)  # a value it refuses: one line, exit status 2
    try:
        Options.check_detect_size(args.live_detect_size, "--live-detect-size")
    except InputError as e:
        usage_error(e)
    cfg = ServerConfig(
        options=options, live_detect_size=args.live_detect_size, workers=args.workers,
        queue_size=args.queue_size, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_pixels=int(args.max_megapixels * 1e6), max_live_clients=args.max_live_clients,
        memory_budget_bytes=int(args.memory_budget_mb * 1024 * 1024),
        allowed_hosts=(args.host, *args.allowed_host),
    )
    app = create_app(cfg)  # loads the models: a bad --model fails here, before listening
    sock = bind_socket(args.host, args.port)
    url = url_for(sock)
    print(f"facemoji: serving on {url}  (open it in a browser; API docs at {url}docs; Ctrl+C to stop)",
          file=sys.stderr, flush=True)
    if args.host not in LOOPBACK:
        print(f"facemoji: warning: listening on {args.host}, so other machines can reach this server",
              file=sys.stderr, flush=True)
    server = make_server(app, log_level=args.log_level)
    try:
        server.run(sockets=[sock])  # returns after SIGINT/SIGTERM, once stopped
    finally:
        sock.close()
    how = f" ({server.stopped_by})" if server.stopped_by else ""
    print(f"facemoji: server stopped{how}", file=sys.stderr, flush=True)
    if app.state.worker.running:
        # a model call on a very large picture is still going on a worker thread; nothing is left to save
        sys.stdout.flush()
        os._exit(0)
    return 0
