"""Global behaviour of the emulator app: slashes, 404s, redirects, cookies, CORS, HEAD."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, unquote

import pytest

from harvester.emulator.app import App, build_app
from harvester.emulator.http import Request, Response, Route

XHR = {"x-requested-with": "XMLHttpRequest"}


@pytest.fixture(scope="module")
def app() -> App:
    """The demo application."""
    return build_app("demo")


def call(
    app: App, url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> Response:
    """Hand ``url`` to the app as the server would."""
    path, _, qs = url.partition("?")
    query = tuple(parse_qsl(qs, keep_blank_values=True))
    return app.handle(
        Request(
            method, unquote(path), url, query, headers or {}, "127.0.0.1", "http://127.0.0.1:8123"
        )
    )


def header(resp: Response, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive)."""
    for key, value in resp.headers:
        if key.lower() == name.lower():
            return value
    return None


def test_missing_trailing_slash_is_301_keeping_the_query(app: App) -> None:
    """Django's APPEND_SLASH: GET without '/' answers 301 to the slash URL, query kept."""
    resp = call(app, "/webclient/api/plates?id=2302&page=2")
    assert resp.status == 301
    assert header(resp, "Location") == "/webclient/api/plates/?id=2302&page=2"
    assert call(app, "/api/v0/m/screens").status == 301


def test_unknown_route_is_django_404_html(app: App) -> None:
    """Unknown paths (and non-numeric ids) are 404 HTML pages; XHR gets a short body."""
    for url in ("/nothing/here/", "/api/v0/m/images/abc/", "/webclient/api/screens/"):
        resp = call(app, url)
        assert resp.status == 404 and resp.content_type.startswith("text/html")
        assert b"<html>" in resp.body
    short = call(app, "/nothing/here/", headers=XHR)
    assert short.status == 404 and len(short.body) < 50 and b"<html>" not in short.body


def test_cors_header_on_every_answer(app: App) -> None:
    """Access-Control-Allow-Origin: * on success, redirect and 404 alike."""
    for url in ("/webclient/api/plates/?id=2302", "/api/v0/m/screens", "/nope/"):
        assert header(call(app, url), "Access-Control-Allow-Origin") == "*"


def test_session_cookie_only_on_uncached_omero_routes(app: App) -> None:
    """sessionid_idr is set by plate grids/imgData, hidden by the proxy on cached routes."""
    grid = call(app, "/webgateway/plate/7375/")
    cookie = header(grid, "Set-Cookie")
    assert cookie is not None and cookie.startswith("sessionid_idr=") and "HttpOnly" in cookie
    assert header(call(app, "/webclient/"), "Set-Cookie") == cookie  # deterministic token
    for url in (
        "/webclient/api/plates/?id=2302",
        "/api/v0/m/screens/",
        "/searchengine/api/v1/resources/image/search/?key=Gene%20Symbol&value=ECT2",
        "/nope/",
    ):
        assert header(call(app, url), "Set-Cookie") is None, url


def test_api_version_header_only_on_json_api(app: App) -> None:
    """X-OMERO-ApiVersion: 0.2 on /api/ answers (errors included), not elsewhere."""
    assert header(call(app, "/api/v0/m/screens/"), "X-OMERO-ApiVersion") == "0.2"
    assert header(call(app, "/api/v0/m/images/1/"), "X-OMERO-ApiVersion") == "0.2"
    assert header(call(app, "/webclient/api/plates/?id=2302"), "X-OMERO-ApiVersion") is None


@pytest.mark.parametrize(
    "url",
    [
        "/webclient/render_image_download/9762957/?format=tif",
        "/webgateway/archived_files/download/9762957/",
        "/webgateway/download_as/9762957/?format=png",
    ],
)
def test_blocked_downloads_redirect_twice_to_html(app: App, url: str) -> None:
    """Outside the public filter: 302 login -> 302 webclient -> 200 HTML (XHR: 403 empty)."""
    first = call(app, url)
    assert first.status == 302
    location = header(first, "Location")
    assert location is not None and location.startswith("/webclient/login/?url=")
    second = call(app, location)
    assert second.status == 302 and header(second, "Location") == "/webclient/?experimenter=-1"
    third = call(app, "/webclient/?experimenter=-1")
    assert third.status == 200 and third.content_type.startswith("text/html")
    xhr = call(app, url, headers=XHR)
    assert xhr.status == 403 and xhr.body == b""


def test_webclient_without_slash_and_mapr(app: App) -> None:
    """/webclient -> 302 ?experimenter=-1; /mapr/api/* -> 302 /searchengine/apidocs/ (HTML)."""
    resp = call(app, "/webclient")
    assert resp.status == 302 and header(resp, "Location") == "/webclient/?experimenter=-1"
    mapr = call(app, "/mapr/api/gene/?value=CDC20")
    assert mapr.status == 302 and header(mapr, "Location") == "/searchengine/apidocs/"
    docs = call(app, "/searchengine/apidocs/")
    assert docs.status == 200 and docs.content_type.startswith("text/html")
    assert call(app, "/mapr/api/config/").content_type == "application/json"


def test_head_is_answered_like_get(app: App) -> None:
    """HEAD gets GET's status, headers and body (the server drops the body)."""
    get = call(app, "/webclient/api/plates/?id=2302")
    head = call(app, "/webclient/api/plates/?id=2302", method="HEAD")
    assert (head.status, head.content_type, head.body) == (get.status, get.content_type, get.body)


def test_unsafe_methods_fail_django_csrf_first(app: App) -> None:
    """POST/PUT/DELETE without a CSRF token: OMERO.web's csrf_failure, 403 JSON.

    omeroweb/settings.py CSRF_FAILURE_VIEW = "omeroweb.feedback.views.csrf_failure";
    Django's CsrfViewMiddleware runs before the view (and its login_required).
    """
    message = (
        "CSRF Error. You need to include valid CSRF tokens for any POST, PUT, PATCH or"
        " DELETE operations. You have to include CSRF token in the POST data or add the"
        " token to the HTTP header."
    )
    for path, method in (
        ("/api/v0/m/screens/", "POST"),
        ("/webclient/api/plates/", "DELETE"),
        ("/webgateway/archived_files/download/1/", "PUT"),
    ):
        resp = call(app, path, method=method)
        assert resp.status == 403 and resp.content_type == "application/json"
        assert json.loads(resp.body) == {"message": message}


def test_handler_bug_becomes_500_text_never_an_exception() -> None:
    """App.handle never raises: a crashing handler yields a 500 text answer."""

    def boom(site: object, req: Request, match: re.Match[str]) -> Response:
        raise RuntimeError("bug")

    app = App(build_app("demo").site, routes=[Route("boom", re.compile(r"/boom/"), boom)])
    resp = call(app, "/boom/")
    assert resp.status == 500 and resp.content_type.startswith("text/plain")
    assert header(resp, "Access-Control-Allow-Origin") == "*"


def test_route_name_labels_requests_for_stats(app: App) -> None:
    """route_name() names the route a path would take, '404' when none."""
    req = Request("GET", "/webgateway/plate/7375/", "/webgateway/plate/7375/")
    assert app.route_name(req) == "webgateway_plate_grid"
    assert app.route_name(Request("GET", "/x/", "/x/")) == "404"


def test_bad_preset_mode_or_option_fail_fast() -> None:
    """build_app rejects an unknown preset, mode or site option with a one-line ValueError."""
    for kwargs in ({"preset": "nope"}, {"mode": "nginx"}, {"colour": True}):
        with pytest.raises(ValueError) as info:
            build_app(**kwargs)  # type: ignore[arg-type]
        assert "\n" not in str(info.value)


def test_blocked_path_without_slash_gets_the_slash_first(app: App) -> None:
    """APPEND_SLASH runs before login_required: 301 to the slash URL, then the 302 chain."""
    resp = call(app, "/webgateway/archived_files/download/9762957?x=1")
    assert resp.status == 301
    assert header(resp, "Location") == "/webgateway/archived_files/download/9762957/?x=1"
