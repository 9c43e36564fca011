"""The emulator as a private OMERO.web: ``--prefix``, ``--session-key`` and
``--session-expires-after``, ``--basic-auth-expires-after``, over real sockets, and the
``try:`` line that says what they need."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from harvester.emulator import EmulatorThread
from harvester.emulator.app import App
from harvester.emulator.cli import Access, main, targets_line

KEY = "K3Y:with/odd?chars"
XHR = {"X-Requested-With": "XMLHttpRequest"}


def test_prefix_serves_every_route_under_it_and_its_links_carry_it(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Under --prefix /omero: the root and unprefixed routes are Django's 404, url:* links,
    thumb_urls and redirects carry /omero."""
    emu = make_emulator(preset="demo", prefix="/omero/")
    base = emu.base_url
    assert httpx.get(f"{base}/").status_code == 404
    assert "Page not found" in httpx.get(f"{base}/api/").text
    api = httpx.get(f"{base}/omero/api/").json()
    assert api["data"][0]["url:base"] == f"{base}/omero/api/v0/"
    grid = httpx.get(f"{base}/omero/webgateway/plate/7375/").json()
    thumbs = [cell["thumb_url"] for row in grid["grid"] for cell in row if cell]
    assert thumbs and all(t.startswith("/omero/webgateway/render_thumbnail/") for t in thumbs)
    slash = httpx.get(f"{base}/omero/api/v0/m/projects?limit=1")
    assert slash.status_code == 301
    assert slash.headers["location"] == "/omero/api/v0/m/projects/?limit=1"


def test_session_key_is_wanted_as_bsession_or_sessionid_cookie(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Without the session: JSON API 403 {"message": "Not logged in"}, webgateway an empty
    403 for XHR or a 302 to the login page; with ?bsession=KEY or the sessionid cookie, 200."""
    emu = make_emulator(preset="demo", session_key=KEY)
    base = emu.base_url
    assert httpx.get(f"{base}/api/").status_code == 200  # the version list is open
    api = httpx.get(f"{base}/api/v0/m/projects/")
    assert (api.status_code, api.json()) == (403, {"message": "Not logged in"})
    thumb = f"{base}/webgateway/render_thumbnail/1884801/"
    xhr = httpx.get(thumb, headers=XHR)
    assert (xhr.status_code, xhr.content) == (403, b"")
    page = httpx.get(thumb)
    assert page.status_code == 302
    assert page.headers["location"].startswith("/webclient/login/?url=")
    assert httpx.get(f"{base}/webclient/login/").status_code == 200
    assert httpx.get(thumb, params={"bsession": KEY}).status_code == 200
    cookie = httpx.get(thumb, headers={**XHR, "Cookie": f"csrftoken=x; sessionid={KEY}"})
    assert cookie.status_code == 200
    assert httpx.get(thumb, params={"bsession": "wrong"}, headers=XHR).status_code == 403


def test_session_expires_after_n_answers(make_emulator: Callable[..., EmulatorThread]) -> None:
    """--session-expires-after 3: three answers with the key, then the 403 of no session."""
    emu = make_emulator(preset="demo", session_key=KEY, session_expires_after=3)
    url = f"{emu.base_url}/api/v0/m/projects/"
    codes = [httpx.get(url, params={"bsession": KEY}).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 403, 403]


def test_a_new_session_key_counts_its_answers_from_zero(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A new key set from Python is a new login: its own answers, not the old key's,
    count towards --session-expires-after (it was expired from its first answer), and the
    old key stays refused."""
    emu = make_emulator(preset="demo", session_key=KEY, session_expires_after=2)
    url = f"{emu.base_url}/api/v0/m/projects/"
    assert [httpx.get(url, params={"bsession": KEY}).status_code for _ in range(3)] == [
        200,
        200,
        403,
    ]
    app = emu.app
    assert isinstance(app, App)
    app.site.session_key = "key-2"
    codes = [httpx.get(url, params={"bsession": "key-2"}).status_code for _ in range(3)]
    assert codes == [200, 200, 403]
    assert httpx.get(url, params={"bsession": KEY}).status_code == 403


def test_basic_auth_expires_after_n_answers(make_emulator: Callable[..., EmulatorThread]) -> None:
    """--basic-auth-expires-after 2: two answers with the token, then the proxy's 401 (api/
    too); new credentials set from Python count from zero, the old stay refused."""
    emu = make_emulator(preset="demo", basic_auth="tok:", basic_auth_expires_after=2)
    url = f"{emu.base_url}/api/"
    codes = [httpx.get(url, auth=("tok", "")).status_code for _ in range(3)]
    assert codes == [200, 200, 401]
    app = emu.app
    assert isinstance(app, App)
    app.site.basic_auth = "tok-2:"
    assert httpx.get(url, auth=("tok-2", "")).status_code == 200
    assert httpx.get(url, auth=("tok", "")).status_code == 401


def test_try_line_names_prefix_session_and_certificate() -> None:
    """The start line's command carries the prefix and ?bsession= (quoted for a shell),
    SSL_CERT_FILE for --tls-cert, and mentions the config file's cookie."""
    access = Access(prefix="/omero", session_key="k y", tls_cert="/certs/ca.pem")
    line = targets_line("https://127.0.0.1:8443", "demo", access=access)
    assert (
        "try: SSL_CERT_FILE=/certs/ca.pem harvester harvest --base-url "
        "'https://127.0.0.1:8443/omero/?bsession=k%20y' --screen 2302"
    ) in line
    assert '[cookies] sessionid = "k y"' in line


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--session-expires-after", "3"], "--session-expires-after needs --session-key"),
        (["--session-key", "k", "--session-expires-after", "0"], "must be >= 1"),
        (["--prefix", "/om?ero"], "the prefix must be a path like /omero"),
        (["--session-key", ""], "the session key must not be empty"),
        (["--basic-auth-expires-after", "3"], "--basic-auth-expires-after needs --basic-auth"),
        (["--basic-auth", "t:", "--basic-auth-expires-after", "0"], "must be >= 1"),
    ],
)
def test_bad_private_options_are_one_error_line(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad --prefix or session option: one `error: ...` line, exit 2."""
    assert main(["--port", "0", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and said in err and err.count("\n") == 1
