"""Calling the emulator's application directly, as its server hands it a request.

Shared by the route tests (webclient, webgateway, JSON API, search engine, fidelity): the
routes are plain functions of a :class:`Request`, so most assertions need no socket.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote

from harvester.emulator.app import App
from harvester.emulator.http import Request, Response

#: The server address a Request carries when none is given (``Request.base_url``'s default).
DEFAULT_BASE = "http://127.0.0.1"


def call(
    app: App, url: str, headers: dict[str, str] | None = None, *, base: str = DEFAULT_BASE
) -> Response:
    """Hand ``url`` (path and query, no host) to ``app`` as the server would; ``base`` is the
    address the server would say it has (``url:*`` links of the JSON API are built on it)."""
    path, _, qs = url.partition("?")
    query = tuple(parse_qsl(qs, keep_blank_values=True))
    return app.handle(Request("GET", unquote(path), url, query, headers or {}, "127.0.0.1", base))
