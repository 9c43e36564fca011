"""Fidelity checks of the emulator against facts read in OMERO.web's source.

Each test copies the fact it checks as a literal, with where it comes from, so
the suite never reads the shared notes at run time. The facts were gathered
in idr-api.md (§ numbers below) and re-read in ``ome/omero-web``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, unquote

import pytest

from harvester.emulator.app import App, build_app
from harvester.emulator.http import Request, Response

BASE = "http://127.0.0.1:8123"


@pytest.fixture(scope="module")
def app() -> App:
    """The demo application (screen 2302, project 51)."""
    return build_app("demo")


def call(app: App, url: str, headers: dict[str, str] | None = None) -> Response:
    """Hand ``url`` to the app as the server would."""
    path, _, qs = url.partition("?")
    query = tuple(parse_qsl(qs, keep_blank_values=True))
    return app.handle(Request("GET", unquote(path), url, query, headers or {}, "127.0.0.1", BASE))


def body(resp: Response) -> Any:
    """The JSON body of ``resp``."""
    return json.loads(resp.body)


# -- /api/v0 list filters ------------------------------------------------------------
# omeroweb/api/views.py (PlatesView.get_opts etc.):
#     screen = getIntOrDefault(request, "screen", None)      # outside get_opts's try
# omeroweb/webgateway/util.py:
#     def getIntOrDefault(request, name, default):
#         index = request.GET.get(name, request.POST.get(name, default))
#         if index is not None:
#             index = int(index)                              # ValueError propagates
# omeroweb/api/decorators.py json_response.handle_error: any other exception ->
#     status 500, {"message": str(ex), "stacktrace": trace}


@pytest.mark.parametrize(
    "url",
    [
        "/api/v0/m/plates/?screen=abc",
        "/api/v0/m/plates/?well=x1",
        "/api/v0/m/datasets/?project=abc",
        "/api/v0/m/images/?dataset=abc",
        "/api/v0/m/wells/?plate=abc",
        "/api/v0/m/projects/?dataset=abc",
        "/api/v0/m/screens/?plate=abc",
    ],
)
def test_non_integer_filter_is_500_json_with_trace(app: App, url: str) -> None:
    """A junk filter id is an error, not a silently dropped filter listing everything."""
    resp = call(app, url)
    assert resp.status == 500
    assert resp.content_type == "application/json"
    assert ("X-OMERO-ApiVersion", "0.2") in resp.headers
    err = body(resp)
    assert list(err) == ["message", "stacktrace"]
    bad = parse_qsl(url.partition("?")[2])[0][1]
    assert err["message"] == f"invalid literal for int() with base 10: '{bad}'"
    assert err["stacktrace"].startswith("Traceback (most recent call last):")


def test_get_opts_400_wins_over_a_bad_filter(app: App) -> None:
    """``offset``/``limit``/``owner`` are parsed first, inside a try -> 400 without trace."""
    resp = call(app, "/api/v0/m/plates/?screen=abc&limit=foo")
    assert resp.status == 400
    assert body(resp) == {"message": "invalid literal for int() with base 10: 'foo'"}


def test_bad_owner_is_400_like_limit(app: App) -> None:
    """``owner`` sits in get_opts's try with offset and limit -> BadRequestError (400)."""
    resp = call(app, "/api/v0/m/screens/?owner=me")
    assert resp.status == 400
    assert body(resp) == {"message": "invalid literal for int() with base 10: 'me'"}


def test_good_filter_and_owner_still_work(app: App) -> None:
    """A numeric filter filters; a numeric owner is accepted."""
    data = body(call(app, "/api/v0/m/plates/?screen=2302&owner=2"))
    assert data["meta"]["totalCount"] == 10


def test_single_object_views_do_not_read_group(app: App) -> None:
    """ObjectView.get never parses ``group``: a junk one is harmless there.

    (ObjectsView.get -- lists -- does: ``group = getIntOrDefault(request, "group", -1)``.)
    """
    resp = call(app, "/api/v0/m/screens/2302/?group=x")
    assert resp.status == 200
    assert body(resp)["data"]["@id"] == 2302
    assert call(app, "/api/v0/m/screens/?group=x").status == 500
