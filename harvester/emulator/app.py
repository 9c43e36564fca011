"""The emulator's router: one :class:`Request` in, one :class:`Response` out.

Route modules each expose ``ROUTES``; :class:`App` composes them and adds what
IDR's nginx proxy and Django middleware do around every view:

* ``HEAD`` is answered as ``GET`` (the server drops the body);
* a GET without the final ``/`` whose slash form is a route -> ``301``
  (Django ``APPEND_SLASH``), query kept;
* unknown paths -> Django's 404 page (a short body for XHR requests);
* paths outside IDR's public URL filter (downloads, ``ome_tiff``...) ->
  ``302 /webclient/login/?url=...`` -> ``302 /webclient/?experimenter=-1``
  -> ``200`` HTML, or ``403`` empty with the XHR header;
* ``/mapr/api/*`` (except ``config``) -> ``302 /searchengine/apidocs/``;
* a request line longer than ``Site.request_line_limit`` (gunicorn's 4094 bytes) ->
  gunicorn's ``400`` page ``Request Line is too large (N > 4094)``, whatever the path;
* with ``Site.prefix`` (a private OMERO.web at ``/omero/``): every route under it, every
  other path Django's 404, ``Location``s and ``url:*`` links carrying it;
* with ``Site.session_key``: a login-required view without that session answers as
  OMERO.web's ``login_required`` does for an anonymous request;
* ``Access-Control-Allow-Origin: *`` everywhere, ``X-OMERO-ApiVersion: 0.2``
  on JSON-API answers, and ``Set-Cookie: sessionid_idr`` only on OMERO.web
  views the proxy does not cache (it hides Set-Cookie on cached ones).

:meth:`App.handle` never raises: a bug in a handler becomes a 500 text answer
(logged), so the server never drops a connection because of the app.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from harvester.emulator.catalogue import PRESETS, Catalogue
from harvester.emulator.http import Request, Response, Route, logged_crash, shown_target
from harvester.emulator.routes_common import django_404, json_response, text_response
from harvester.emulator.site import Site

logger = logging.getLogger(__name__)

#: Route modules in matching order; a missing module is skipped (development).
ROUTE_MODULES: tuple[str, ...] = (
    "harvester.emulator.routes_images",
    "harvester.emulator.routes_webclient",
    "harvester.emulator.routes_webgateway",
    "harvester.emulator.routes_jsonapi",
    "harvester.emulator.routes_search",
    "harvester.emulator.routes_misc",
)

API_VERSION = "0.2"

# IDR's public URL filter excludes these (idr-api.md §0, §13.6): not logged in.
_BLOCKED_RE = re.compile(
    r"^/(webclient/(action|annotate_(file|tags|comment|rating|map)|script_ui|ome_tiff"
    r"|figure_script|render_image_download)|webgateway/(archived_files|download_as))"
)
# The proxy's cache location (one unanchored regex; `_*` and `/*` mean "zero or more").
_CACHED_RE = re.compile(
    r"/webclient/metadata|/webclient/render|/webclient/get_thumbnail|/webgateway/metadata"
    r"|/webgateway/render|/webgateway/get_thumbnail|/webclient/api|/webclient/search|/api"
    r"|/webclient/img_detail|/iviewer|/figure|/gallery-api"
)
_MAPR_API_RE = re.compile(r"^/mapr/api/(?!config/)")
# Django's "safe" methods: CsrfViewMiddleware checks every other one.
_CSRF_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: omeroweb/feedback/views.py csrf_failure (settings.CSRF_FAILURE_VIEW): JSON, 403.
CSRF_FAILURE_MESSAGE = (
    "CSRF Error. You need to include valid CSRF tokens for any POST, PUT, PATCH or DELETE"
    " operations. You have to include CSRF token in the POST data or add the token to the"
    " HTTP header."
)
# /api/ views not wrapped in api/decorators.py json_response (which is what adds
# X-OMERO-ApiVersion): LoginView answers with a plain JsonResponse.
_PLAIN_API_VIEWS = frozenset({"api_login"})


def _load_routes(modules: Iterable[str]) -> list[Route]:
    routes: list[Route] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if exc.name != name:
                raise
            logger.debug("route module %s not available yet", name)
            continue
        routes.extend(getattr(module, "ROUTES", []))
    return routes


def _first_segment(path: str) -> str:
    return path.split("/", 2)[1] if path.count("/") >= 1 else ""


class App:
    """Request -> Response for one :class:`Site`."""

    def __init__(self, site: Site, routes: list[Route] | None = None) -> None:
        self.site = site
        self.routes = routes if routes is not None else _load_routes(ROUTE_MODULES)
        # Dispatch by first path segment: keeps the per-request regex work small.
        self._by_segment: dict[str, list[Route]] = {}
        self._generic: list[Route] = []
        for route in self.routes:
            prefix = re.match(r"\^?/([A-Za-z0-9_.-]+)/", route.pattern.pattern)
            if prefix:
                self._by_segment.setdefault(prefix.group(1), []).append(route)
            else:
                self._generic.append(route)

    # -- matching -----------------------------------------------------------
    def _match(self, path: str) -> tuple[Route, re.Match[str]] | None:
        candidates = self._by_segment.get(_first_segment(path), [])
        for route in (*candidates, *self._generic):
            m = route.pattern.fullmatch(path)
            if m is not None:
                return route, m
        return None

    def route_name(self, req: Request) -> str:
        """Stats label for ``req`` without answering it (used for faulted requests).

        The label an answer would get: an ``OPTIONS`` probe of a route taking it
        is ``"options"``, as :meth:`_handle_omeroweb` labels it, so that ``only:``
        route globs and ``by_route`` name the same requests (``only:image:render``
        scripts the planes, not the probe of the render limits).
        """
        inner = _unprefixed(req, self.site.prefix) if self.site.prefix else req
        found = self._match(inner.path) if inner is not None else None
        if found is None:
            return "404"
        route = found[0]
        if req.method == "OPTIONS" and "OPTIONS" in route.methods:
            return "options"
        return route.name

    def handle(self, req: Request) -> Response:
        """Answer ``req``; never raises."""
        try:
            resp = self._handle(req)
        except Exception:  # a handler bug must not kill the connection
            # Not logger.exception: the traceback is logged redacted (logged_crash).
            logger.error(
                "emulator handler failed for %s\n%s", shown_target(req.raw_path), logged_crash(req)
            )
            resp = text_response(500, "Internal emulator error", "text/plain; charset=utf-8")
            resp.route = resp.route or "error"
        resp.headers.append(("Access-Control-Allow-Origin", "*"))
        return resp

    def _handle(self, req: Request) -> Response:
        if not self.site.authorized(req.headers.get("authorization")):
            # A proxy's HTTP Basic auth answers before OMERO.web sees the request.
            return _unauthorized()
        too_long = _request_line_too_long(req, self.site.request_line_limit)
        if too_long is not None:
            return too_long
        prefix = self.site.prefix
        if not prefix:
            return self._handle_omeroweb(req)
        inner = _unprefixed(req, prefix)
        if inner is None:  # the front end passes only the prefix on to OMERO.web
            resp = django_404(req)
            resp.route = "404"
            return resp
        resp = self._handle_omeroweb(inner)
        # Django builds redirects with the script prefix (reverse(), APPEND_SLASH).
        resp.headers = [
            (name, prefix + value if name == "Location" and value.startswith("/") else value)
            for name, value in resp.headers
        ]
        return resp

    def _handle_omeroweb(self, req: Request) -> Response:
        """What OMERO.web answers ``req``, its path relative to the site's prefix."""
        path = req.path
        if (
            req.method not in _CSRF_SAFE_METHODS
            and path.endswith("/")
            and not path.startswith("/searchengine/")
            and (_BLOCKED_RE.match(path) or self._match(path) is not None)
        ):
            # Django's CsrfViewMiddleware runs before any resolved view (and so
            # before login_required): without a CSRF token every unsafe request
            # gets OMERO.web's CSRF_FAILURE_VIEW answer.
            resp = json_response({"message": CSRF_FAILURE_MESSAGE}, 403)
            resp.route = "csrf"
            return resp
        if _BLOCKED_RE.match(path):
            if not path.endswith("/"):  # CommonMiddleware appends the slash before the view
                return _redirect(301, _with_slash(req), "slash")
            return self._not_logged_in(req)
        if path == "/webclient":
            return _redirect(302, "/webclient/?experimenter=-1", "redirect")
        if path.startswith("/webclient/login"):
            if self.site.session_key is not None:  # no public user: the login form
                return text_response(200, _LOGIN_PAGE)
            return _redirect(302, "/webclient/?experimenter=-1", "login")
        if _MAPR_API_RE.match(path):
            return _redirect(302, "/searchengine/apidocs/", "mapr")
        found = self._match(path)
        if found is None:
            if not path.endswith("/") and self._match(path + "/") is not None:
                return _redirect(301, _with_slash(req), "slash")
            resp = _flask_404() if path.startswith("/searchengine/") else django_404(req)
            resp.route = "404"
            return resp
        route, match = found
        method = "GET" if req.method == "HEAD" else req.method
        if method not in route.methods and req.method not in route.methods:
            if path.startswith("/api/"):
                resp = text_response(403, '{"message": "Not logged in"}', "application/json")
                resp.headers.append(("X-OMERO-ApiVersion", API_VERSION))
            else:
                resp = self._not_logged_in(req)
            resp.route = route.name
            return resp
        if self.site.session_key is not None and path not in _OPEN_VIEWS:
            # login_required wraps the view: after URL resolution and the middleware.
            denied = self._without_session(req)
            if denied is not None:
                return denied
        resp = route.handler(self.site, req, match)
        if req.method == "OPTIONS":
            # A capability probe, not a fetch: counted apart from the route's
            # GETs so that "requests per image route" stays a count of fetches.
            resp.route = "options"
        elif not resp.route:
            resp.route = route.name
        if path.startswith("/api/") and route.name not in _PLAIN_API_VIEWS:
            resp.headers.append(("X-OMERO-ApiVersion", API_VERSION))
        if (
            path.startswith(("/webclient/", "/webgateway/"))
            and not route.cached
            and not _CACHED_RE.search(path)
        ):
            resp.headers.append(
                ("Set-Cookie", f"sessionid_idr={self.site.session_token}; HttpOnly; Path=/")
            )
        return resp

    def _without_session(self, req: Request) -> Response | None:
        """The answer to a request without the site's session, or None when it has it.

        omeroweb/decorators.py ``login_required.get_authenticated_connection`` joins the
        OMERO session of a ``bsession`` query parameter, else the one of the Django session
        (the ``sessionid`` cookie); without either, ``on_not_logged_in``: a 403
        ``{"message": "Not logged in"}`` from the JSON API (api/decorators.py, without
        ``X-OMERO-ApiVersion``: its ``login_required`` wraps ``json_response``), else an empty
        403 for XHR or a 302 to the login page.
        """
        key = req.param("bsession")
        if key is None:
            key = _cookie(req.headers.get("cookie", ""), SESSION_COOKIE)
        if self.site.session_valid(key):
            return None
        if req.path.startswith("/api/"):
            resp = text_response(403, '{"message": "Not logged in"}', "application/json")
        else:
            resp = self._not_logged_in(req)
        resp.route = "not_logged_in"
        return resp

    @staticmethod
    def _not_logged_in(req: Request) -> Response:
        """``login_required`` for a path outside the public filter."""
        if req.is_ajax:
            return Response(
                status=403, body=b"", content_type="text/html; charset=utf-8", route="blocked"
            )
        location = "/webclient/login/?url=" + quote(req.raw_path, safe="")
        return _redirect(302, location, "blocked")


#: /searchengine/ is the search engine's Flask app (nginx ``^~ /searchengine``), so
#: its unknown paths get Werkzeug's NotFound page, not OMERO.web's.
_FLASK_404 = (
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on the server. If you entered the URL manually"
    " please check your spelling and try again.</p>\n"
)


#: The HTTP version nginx writes in the request line it sends upstream (``HTTP/1.0`` or
#: ``HTTP/1.1``: the same length), whatever the client spoke.
_UPSTREAM_VERSION = "HTTP/1.1"

#: gunicorn's util.write_error page (its message HTML-escaped); nginx passes it on.
_GUNICORN_ERROR = """<html>
  <head>
    <title>{reason}</title>
  </head>
  <body>
    <h1><p>{reason}</p></h1>
    {message}
  </body>
</html>
"""


def _request_line_too_long(req: Request, limit: int) -> Response | None:
    """gunicorn's answer to a request line over ``limit`` bytes (None: within it, or no limit).

    Why here, before any route: gunicorn reads the line before Django runs, so the
    answer is its own 400 page for every path (``message.py read_line``: the line without
    its CRLF, longer than ``limit_request_line``). A client batching ids in the query
    (``annotations/?well=1&well=2...``) must keep each request under it.
    """
    size = len(f"{req.method} {req.raw_path} {_UPSTREAM_VERSION}".encode())
    if not limit or size <= limit:
        return None
    message = f"Request Line is too large ({size} &gt; {limit})"
    page = _GUNICORN_ERROR.format(reason="Bad Request", message=message)
    return Response(400, page.encode("latin-1"), "text/html", route="request_line")


#: nginx's answer to a request without the credentials of its ``auth_basic``.
_UNAUTHORIZED = (
    "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
    "<center><h1>401 Authorization Required</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def _unauthorized() -> Response:
    resp = text_response(401, _UNAUTHORIZED)
    resp.headers.append(("WWW-Authenticate", 'Basic realm="OMERO.web"'))
    resp.route = "unauthorized"
    return resp


#: The login form a private OMERO.web (no public user) serves at ``webclient/login/``.
_LOGIN_PAGE = (
    "<!DOCTYPE html>\n<html>\n<head><title>OMERO.web - Login</title></head>\n<body>\n"
    '<form method="post"><input name="username"><input name="password" type="password">'
    "</form>\n</body>\n</html>\n"
)
#: Django's session cookie (``omero.web.session_cookie_name`` unset: ``sessionid``).
SESSION_COOKIE = "sessionid"
#: Views without ``login_required``: the API's version lists (api/views.py ``api_versions``,
#: ``api_base``), which a client reads before it has a session.
_OPEN_VIEWS = frozenset({"/api/", "/api/v0/"})


def _cookie(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, or None."""
    for part in header.split(";"):
        key, eq, value = part.strip().partition("=")
        if eq and key == name:
            return value
    return None


def _unprefixed(req: Request, prefix: str) -> Request | None:
    """``req`` as OMERO.web's views see it under ``prefix``, or None for a path outside it.

    ``path`` is Django's ``path_info`` (after the prefix) and the links' base takes the
    prefix; ``raw_path`` stays whole, as ``get_full_path()`` (the login redirect's ``url``)."""
    if req.path != prefix and not req.path.startswith(prefix + "/"):
        return None
    return replace(
        req, path=req.path[len(prefix) :] or "/", base_url=req.base_url.rstrip("/") + prefix
    )


def _flask_404() -> Response:
    return text_response(404, _FLASK_404)


def _with_slash(req: Request) -> str:
    """The request's path with "/" appended, query string kept (as Django builds it)."""
    _, sep, query = req.raw_path.partition("?")
    location = req.path + "/" + (sep + query if sep else "")
    return quote(location, safe="/?&=%:;,+$@!*'()~")


def _redirect(status: int, location: str, route: str) -> Response:
    return Response(
        status=status,
        body=b"",
        content_type="text/html; charset=utf-8",
        headers=[("Location", location)],
        route=route,
    )


def build_site(preset: str = "demo", seed: int = 0, mode: str = "omeroweb", **options: Any) -> Site:
    """A :class:`Site`; ``ValueError`` (one line) for a bad preset, mode or option."""
    if preset not in PRESETS:
        import difflib

        near = difflib.get_close_matches(preset, list(PRESETS), n=1)
        guess = f"did you mean {near[0]!r}? " if near else ""
        raise ValueError(f"unknown preset {preset!r} ({guess}choose from {', '.join(PRESETS)})")
    fields = set(Site.__dataclass_fields__) - {"catalogue", "mode"}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ValueError(f"unknown site option {unknown[0]!r} (known: {', '.join(sorted(fields))})")
    return Site(Catalogue(preset, seed), mode=mode, **options)  # type: ignore[arg-type]


def build_app(preset: str = "demo", seed: int = 0, mode: str = "omeroweb", **options: Any) -> App:
    """The emulator application for a preset/seed/mode (see :func:`build_site`)."""
    return App(build_site(preset, seed, mode, **options))
