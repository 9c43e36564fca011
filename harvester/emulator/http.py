"""The emulator's request/response values and its route type.

The HTTP server (``server.py``) parses bytes off the socket into a
:class:`Request`, asks the application (``app.py``) for a :class:`Response`,
and applies faults and latency on the way out. Handlers are plain synchronous
functions: the emulator's work per request is small, and keeping handlers
free of I/O makes them easy to test without sockets.
"""

from __future__ import annotations

import base64
import binascii
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from harvester.emulator.site import Site


#: Query parameter names whose values are secrets (OMERO's ``bsession=``, ``api_key``,
#: ``token``...): the harvester's own rule (``harvester.errors``), repeated here because the
#: emulator imports nothing of the harvester's core.
_SECRET_NAME = re.compile(
    r"key|token|session|passw|pwd|secret|auth|sig|csrf|cred|cookie|jwt|bearer",
    re.IGNORECASE,
)


def shown_target(target: str) -> str:
    """A request target as the emulator's log may show it: the value of each query parameter
    whose (percent-decoded) name looks secret replaced by ``REDACTED``, and, in an absolute
    form (``http://user:pw@host/...``), the user and password. ``harvester emulate`` is a
    tool its users point clients with real session keys at; its log must not keep them."""
    base, sep, query = target.partition("?")
    scheme_end = base.find("://")
    if scheme_end >= 0:
        start = scheme_end + 3
        end = base.find("/", start)
        end = len(base) if end < 0 else end
        at = base.rfind("@", start, end)
        if at >= 0:
            base = f"{base[:start]}REDACTED{base[at:]}"
    if sep:
        parts = query.split("&")
        for n, part in enumerate(parts):
            name, eq, _value = part.partition("=")
            if eq and _SECRET_NAME.search(unquote(name)):
                parts[n] = f"{name}=REDACTED"
        query = "&".join(parts)
    return base + sep + query


def logged_crash(req: Request) -> str:
    """The traceback of the exception being handled (a handler's bug, logged with ``req``),
    with every credential value ``req`` carried replaced by ``REDACTED``, as the harvester's
    own tracebacks are: a bug's error may quote what it failed on (a session key it could not
    parse, a cookie it looked up), and :func:`shown_target` hides them in the target only."""
    text = traceback.format_exc().rstrip()
    for value in sorted(set(request_secrets(req)), key=len, reverse=True):
        text = text.replace(value, "REDACTED")
    return text


def request_secrets(req: Request) -> list[str]:
    """The credential values ``req`` carries, as sent and decoded: those of its secret-named
    query parameters (``bsession=``), cookies (``sessionid``) and headers (``X-Api-Key``),
    and its ``Authorization`` (whole, its credentials, and a Basic pair's password, or its
    user alone, a token). Values shorter than 4 characters are left: too common to replace in
    text (the harvester's rule)."""
    found: list[str] = []
    _, _, query = req.raw_path.partition("?")
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        if eq and _SECRET_NAME.search(unquote(name)):
            found += [value, unquote(value), unquote(value.replace("+", " "))]
    for name, value in req.headers.items():
        if name == "cookie":
            for pair in value.split(";"):
                key, eq, kept = pair.strip().partition("=")
                if eq and _SECRET_NAME.search(key):
                    found += [kept, unquote(kept)]
        elif name == "authorization" or _SECRET_NAME.search(name):
            found += [value, *_authorization_secrets(value)]
    return [value for value in found if len(value) >= 4]


def _authorization_secrets(value: str) -> list[str]:
    """What an ``Authorization`` value holds: its credentials after the scheme, and for
    ``Basic``, the decoded pair and its password (or its user, when there is none)."""
    scheme, _, credentials = value.strip().partition(" ")
    credentials = credentials.strip()
    found = [credentials]
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(credentials, validate=True).decode("latin-1")
        except (binascii.Error, ValueError):
            return found
        user, _, password = pair.partition(":")
        found += [pair, password or user]
    return found


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed HTTP request.

    ``path`` is the percent-decoded path without the query string;
    ``raw_path`` keeps the original request target (path and query) for
    redirects and cache keys. ``query`` keeps every pair in order, including
    repeats and blank values, because OMERO.web accepts repeated ids
    (``?id=1&id=2``). Header names are lower-case. ``inject`` carries fault
    decisions the server made that only the application can act on (for
    example ``"imgdata_exception"``).
    """

    method: str
    path: str
    raw_path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    client: str = "127.0.0.1"
    base_url: str = "http://127.0.0.1"
    inject: frozenset[str] = frozenset()

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``, or ``default``."""
        for key, value in self.query:
            if key == name:
                return value
        return default

    def params(self, name: str) -> list[str]:
        """Every value of query parameter ``name``, in request order."""
        return [value for key, value in self.query if key == name]

    @property
    def is_ajax(self) -> bool:
        """Django's ``is_ajax``: the XHR header changes several error answers."""
        return self.headers.get("x-requested-with", "") == "XMLHttpRequest"


@dataclass(slots=True)
class Response:
    """What a handler answers. ``route`` names the route for the stats page."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    route: str = ""


Handler = Callable[["Site", Request, "re.Match[str]"], Response]


@dataclass(frozen=True, slots=True)
class Route:
    """A URL pattern and its handler.

    ``pattern`` is matched with ``fullmatch`` against ``Request.path``.
    ``cached`` marks paths that IDR's nginx proxy caches: those never carry
    ``Set-Cookie`` (the proxy hides it), the others set ``sessionid_idr``.
    ``name`` labels the route in ``/__emulator__/stats``.
    """

    name: str
    pattern: re.Pattern[str]
    handler: Handler
    methods: frozenset[str] = frozenset({"GET", "HEAD"})
    cached: bool = False
