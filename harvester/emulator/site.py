"""The emulated site: one catalogue plus the switches that change how IDR answers.

Route handlers receive the :class:`Site` and read everything from it, so one
process can serve several differently configured sites (tests do).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Literal

from harvester.emulator import MODES
from harvester.emulator.catalogue import Catalogue

Mode = Literal["omeroweb", "microservice"]

#: webclient/api default ``limit`` (``omero.web.page_size`` on IDR).
WEBCLIENT_PAGE_SIZE = 500
#: JSON API default and maximum ``limit`` (``omero.web.api.max_limit`` on IDR).
API_DEFAULT_LIMIT = 200
API_MAX_LIMIT = 1000
#: ``omero.web.api.max_limit`` of a stock OMERO.web (IDR raises it to 1000).
STOCK_API_MAX_LIMIT = 500
#: Search engine page size (``PAGE_SIZE`` of omero_search_engine).
SEARCH_PAGE_SIZE = 1000
#: gunicorn's ``limit_request_line`` default, which OMERO.web's WSGI server keeps (IDR
#: does not raise it): a longer request line is refused before Django sees it.
REQUEST_LINE_LIMIT = 4094


@dataclass
class Site:
    """A catalogue served in one mode with optional IDR quirks.

    ``imgdata_exception`` serves every imgData as 200 + ``Exception``;
    ``migration_2026`` blocks renders as IDR did in 2026 (idr-api.md §0);
    ``api_base_url`` overrides the base of ``url:*`` links (default: the
    request's own base URL, never the production host);
    ``search_page_size`` lets tests page the search engine with small pages;
    ``api_max_limit`` is the JSON API's ``omero.web.api.max_limit`` (1000 as on IDR; a
    stock OMERO.web's is 500): a larger ``limit`` is clamped to it, silently;
    ``basic_auth`` (``USER:PASS``) answers every request without those HTTP Basic
    credentials with 401, as a proxy in front of a private OMERO.web does, and
    ``basic_auth_expires_after`` (N) makes them stop working after N answers (a token that
    expires: every later request gets the 401);
    ``prefix`` (``/omero``) serves every route under that path, as an OMERO.web deployed
    at ``https://host/omero/``; ``session_key`` makes every login-required view want that
    OMERO session (``?bsession=KEY`` or a ``sessionid=KEY`` cookie), and
    ``session_expires_after`` (N) ends it after N answers given with it;
    ``request_line_limit`` is gunicorn's ``limit_request_line`` (4094 bytes; 0: none):
    a longer request line gets gunicorn's 400, whatever the route.
    """

    catalogue: Catalogue
    mode: Mode = "omeroweb"
    imgdata_exception: bool = False
    migration_2026: bool = False
    api_base_url: str | None = None
    search_page_size: int = SEARCH_PAGE_SIZE
    webclient_page_size: int = WEBCLIENT_PAGE_SIZE
    api_max_limit: int = API_MAX_LIMIT
    session_token: str = field(default="")
    basic_auth: str | None = None
    basic_auth_expires_after: int | None = None
    #: Answers given with ``basic_auth`` so far (``basic_auth_expires_after`` counts them);
    #: set ``basic_auth`` to new credentials and the count starts again for them.
    basic_auth_uses: int = field(default=0, compare=False)
    _counted_auth: str | None = field(default=None, init=False, compare=False, repr=False)
    prefix: str = ""
    session_key: str | None = None
    session_expires_after: int | None = None
    #: Answers given with ``session_key`` so far (``session_expires_after`` counts them);
    #: set ``session_key`` to a new key (a new login) and the count starts again for it.
    session_uses: int = field(default=0, compare=False)
    _counted_session: str | None = field(default=None, init=False, compare=False, repr=False)
    request_line_limit: int = REQUEST_LINE_LIMIT

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r} (choose from {', '.join(MODES)})")
        if self.search_page_size < 1:
            raise ValueError("search_page_size must be >= 1")
        if self.api_max_limit < 1:
            raise ValueError(f"api_max_limit must be >= 1, not {self.api_max_limit}")
        if self.request_line_limit < 0:
            raise ValueError(f"request_line_limit must be >= 0, not {self.request_line_limit}")
        if self.basic_auth is not None and ":" not in self.basic_auth:
            raise ValueError("basic auth must be USER:PASS (a ':' between them)")
        if self.basic_auth_expires_after is not None:
            if self.basic_auth is None:
                raise ValueError("basic auth expiry needs basic auth")
            if self.basic_auth_expires_after < 1:
                raise ValueError(
                    f"basic auth expiry must be >= 1 answer, not {self.basic_auth_expires_after}"
                )
        self.prefix = normalized_prefix(self.prefix)
        if self.session_key is not None and not self.session_key:
            raise ValueError("the session key must not be empty")
        if self.session_expires_after is not None:
            if self.session_key is None:
                raise ValueError("session expiry needs a session key")
            if self.session_expires_after < 1:
                raise ValueError(
                    f"session expiry must be >= 1 answer, not {self.session_expires_after}"
                )
        if not self.session_token:
            seed = f"{self.catalogue.preset}:{self.catalogue.seed}".encode()
            self.session_token = hashlib.sha256(seed).hexdigest()[:32]

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` value a request must carry (``basic_auth``), or None."""
        if self.basic_auth is None:
            return None
        return "Basic " + base64.b64encode(self.basic_auth.encode()).decode("ascii")

    def authorized(self, header: str | None) -> bool:
        """Whether a request's ``Authorization`` ``header`` passes the proxy's Basic auth
        now (counted as one use when it does; always, without ``basic_auth``).

        Expired credentials stay refused, as a token past its lifetime is; new ones (a new
        ``basic_auth``, given from Python) count from zero."""
        wanted = self.authorization
        if wanted is None:
            return True
        if self._counted_auth != self.basic_auth:
            self._counted_auth, self.basic_auth_uses = self.basic_auth, 0
        if header != wanted:
            return False
        limit = self.basic_auth_expires_after
        if limit is not None and self.basic_auth_uses >= limit:
            return False
        self.basic_auth_uses += 1
        return True

    def session_valid(self, key: str | None) -> bool:
        """Whether ``key`` opens a session now (counted as one use when it does).

        An expired session stays expired: OMERO closed it, and a new key is a new session
        (the emulator knows only one, so a test gives it another key: a new login, whose
        answers ``session_expires_after`` counts from zero, as for new ``basic_auth``)."""
        if self.session_key is None:
            return True
        if self._counted_session != self.session_key:
            self._counted_session, self.session_uses = self.session_key, 0
        if key != self.session_key:
            return False
        limit = self.session_expires_after
        if limit is not None and self.session_uses >= limit:
            return False
        self.session_uses += 1
        return True

    def base_url(self, request_base: str) -> str:
        """Base of absolute links: the override, else the request's own base."""
        return (self.api_base_url or request_base).rstrip("/")


def normalized_prefix(prefix: str) -> str:
    """``/omero`` from ``/omero``, ``/omero/`` or ``omero``; ``""`` for none.

    ``ValueError`` for a prefix that is no path (a query, a fragment, ``..``)."""
    inner = prefix.strip("/")
    if not inner:
        return ""
    if any(c in inner for c in "?#%\\ ") or ".." in inner.split("/") or "//" in inner:
        raise ValueError(f"the prefix must be a path like /omero, not {prefix!r}")
    return "/" + inner
