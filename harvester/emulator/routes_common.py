"""Response builders shared by the route modules: Django's and OMERO.web's conventions.

The real server answers errors in several house styles (Django HTML pages,
plain ``text/html`` one-liners, ``@jsonp`` JSON with a stack trace, JSON-API
JSON); each has one builder here so the route modules stay declarative.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from harvester.emulator.http import Request, Response

JSON = "application/json"
HTML = "text/html; charset=utf-8"
JAVASCRIPT = "application/javascript"
TEXT_JAVASCRIPT = "text/javascript"

# webgateway/views.py VALID_JS_VARIABLE: one identifier, no dotted paths.
_CALLBACK_RE = re.compile(r"^[a-zA-Z_$][0-9a-zA-Z_$]*$")


class BadParam(Exception):
    """A query parameter failed Python's ``int()``; the message is Python's own."""


def dumps(obj: Any) -> bytes:
    """Django ``JsonResponse`` bytes: default separators, ASCII-escaped, insertion order."""
    return json.dumps(obj).encode("ascii")


def json_response(obj: Any, status: int = 200) -> Response:
    """``application/json`` response."""
    return Response(status=status, body=dumps(obj), content_type=JSON)


def jsonp_response(req: Request, obj: Any, status: int = 200) -> Response:
    """A webgateway ``@jsonp`` answer: JSON, or ``cb(...)`` when ``?callback=`` is given."""
    callback = req.param("callback")
    if callback is None:
        return json_response(obj, status)
    if not _CALLBACK_RE.match(callback):
        return text_response(400, "Invalid callback")
    body = f"{callback}(".encode("ascii") + dumps(obj) + b")"
    return Response(status=status, body=body, content_type=JAVASCRIPT)


def text_response(status: int, text: str, content_type: str = HTML) -> Response:
    """A plain one-liner as Django's ``HttpResponseBadRequest(text)`` sends it."""
    return Response(status=status, body=text.encode("utf-8"), content_type=content_type)


def traceback_text(exc_type: str, message: str, where: str) -> str:
    """A plausible Python traceback (IDR's JSON errors carry one in ``stacktrace``)."""
    return (
        "Traceback (most recent call last):\n"
        f'  File "/opt/omero/web/venv3/lib/python3.9/site-packages/omeroweb/{where}", '
        "line 1, in wrapped\n"
        "    rv = f(request, *args, **kwargs)\n"
        f"{exc_type}: {message}\n"
    )


def django_404(req: Request) -> Response:
    """Django's 404: an HTML page, or an empty body for XHR requests.

    omeroweb/feedback/views.py handler404: ``if request.is_ajax(): return
    HttpResponseNotFound()`` -- no content, Django's default text/html type.
    """
    if req.is_ajax:
        return text_response(404, "")
    path = html.escape(req.path)
    page = (
        "<!DOCTYPE html>\n<html>\n<head>\n<title>OMERO.web - Page not found</title>\n"
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />\n'
        "<style>body {font-family: Arial, Helvetica, sans-serif; font-size: 13px;}"
        " #error {margin: 40px auto; width: 600px;} h1 {font-size: 20px;}</style>\n"
        '</head>\n<body>\n<div id="error">\n<h1>Page not found</h1>\n'
        f"<p>The requested URL <code>{path}</code> was not found on this server.</p>\n"
        "<p>Error 404. Please check the address or go back to the "
        '<a href="/">home page</a>.</p>\n'
        "<p>If you think this is an error, please contact the IDR team.</p>\n"
        "</div>\n</body>\n</html>\n"
    )
    return text_response(404, page)


def django_500(req: Request, exc_type: str, message: str) -> Response:
    """Django's 500 error page (HTML with the trace); the bare trace for XHR.

    omeroweb/feedback/views.py handler500: ``if request.is_ajax(): return
    HttpResponseServerError(error500)`` -- the traceback and the request, as
    text under Django's default text/html type.
    """
    raw_trace = traceback_text(exc_type, message, "webclient/views.py")
    if req.is_ajax:
        return text_response(500, f"{raw_trace}\n<WSGIRequest: GET '{req.raw_path}'>")
    trace = html.escape(raw_trace)
    page = (
        "<!DOCTYPE html>\n<html>\n<head>\n<title>OMERO.web - Server Error</title>\n</head>\n"
        '<body>\n<div id="error">\n<h1>Server Error (500)</h1>\n'
        "<p>An error occurred while processing your request.</p>\n"
        f"<pre>{trace}</pre>\n</div>\n</body>\n</html>\n"
    )
    return text_response(500, page)


def webgateway_error(
    req: Request,
    message: str,
    where: str = "webgateway/views.py",
    exc_type: str = "TypeError",
) -> Response:
    """``@jsonp``'s 500 for an exception: JSON ``{"message", "stacktrace"}``.

    Its ``except`` branch returns a plain ``JsonResponse``: never wrapped in a
    ``?callback=``, whatever the request asked for (webgateway/views.py jsonp).
    """
    del req  # same answer for every request; kept for the call sites' symmetry
    return json_response(
        {"message": message, "stacktrace": traceback_text(exc_type, message, where)}, 500
    )


def webgateway_value_error(req: Request, exc: BadParam) -> Response:
    """``@jsonp``'s 500 for ``int()`` of junk (``getIntOrDefault``/``get_longs`` raise)."""
    return webgateway_error(req, str(exc), exc_type="ValueError")


def py_int(text: str) -> int:
    """Python's ``int(text)`` with its exact error message in :class:`BadParam`."""
    try:
        return int(text)
    except ValueError:
        raise BadParam(f"invalid literal for int() with base 10: {text!r}") from None


def int_param(req: Request, name: str, default: int | None = None) -> int | None:
    """First value of ``name`` parsed by :func:`py_int`, or ``default`` when absent."""
    value = req.param(name)
    return default if value is None else py_int(value)


def to_bool(value: str | None) -> bool:
    """``omero.gateway.utils.toBoolean``: true/yes/y/t/1/on (case-insensitive)."""
    return value is not None and value.strip().lower() in {"true", "yes", "y", "t", "1", "on"}


def simple_page(title: str, body: str) -> Response:
    """A 200 HTML page (webclient home, Swagger page)."""
    page = (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f"<title>{html.escape(title)}</title>\n"
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />\n'
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
    return text_response(200, page)
