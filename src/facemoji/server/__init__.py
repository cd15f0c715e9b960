"""The web page and HTTP API (``facemoji serve``).

>>> from facemoji.server import ServerConfig, create_app, start_background
>>> srv = start_background(create_app(ServerConfig(queue_size=4)))   # 127.0.0.1, a free port
>>> srv.url                                                           # 'http://127.0.0.1:PORT/'
>>> srv.stop()

The requests' defaults are one :class:`facemoji.options.Options`:
``ServerConfig(options=Options(cover="blur", strict=True, threads=1))``.
"""

from facemoji.server.app import create_app
from facemoji.server.config import ServerConfig
from facemoji.server.runner import BackgroundServer, start_background

__all__ = ["BackgroundServer", "ServerConfig", "create_app", "start_background"]
