"""Credentials never leak: URLs, errors, Fetched, logs and reprs are redacted."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import pytest

from harvester.client import (
    Client,
    ClientSettings,
    Expect,
    _describe,
    check_header_fields,
    redact_url,
)
from harvester.config import HarvestConfig
from harvester.errors import (
    ConfigError,
    FetchError,
    PermanentError,
    TransportError,
    redact_loose_url,
    url_holds_secret,
)
from harvester.fetch import check_imgdata

SECRET = "s3cr3t-VALUE-42"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/x/?bsession=abc", "http://h/x/?bsession=REDACTED"),
        (
            "http://h/x/?id=1&api_key=k&token=t&page=2",
            "http://h/x/?id=1&api_key=REDACTED&token=REDACTED&page=2",
        ),
        ("http://h/?Password=p&SessionID=s", "http://h/?Password=REDACTED&SessionID=REDACTED"),
        ("http://h/?client_secret=x#frag", "http://h/?client_secret=REDACTED#frag"),
        ("http://h/?%62session=x", "http://h/?%62session=REDACTED"),  # percent-encoded name
        ("http://user:pw@h:8080/p?x=1", "http://user:REDACTED@h:8080/p?x=1"),
        ("http://TOKEN@h:8080/p?x=1", "http://REDACTED@h:8080/p?x=1"),  # a user alone: a token
        ("http://TOKEN:@h/p", "http://REDACTED:@h/p"),  # so is one with an empty password
        ("http://a@b@h/p", "http://REDACTED@h/p"),  # up to the host's "@"
        ("http://:pw@h/p", "http://:REDACTED@h/p"),
        ("http://@h/p", "http://@h/p"),  # no user, no password: nothing to hide
        ("http://h/p/?id=1&id=2&c=1|0:255$FF0000", "http://h/p/?id=1&id=2&c=1|0:255$FF0000"),
        ("http://h/p/", "http://h/p/"),
        ("webgateway/x/?bsession=1", "webgateway/x/?bsession=REDACTED"),
        ("http://h/?flag&key", "http://h/?flag&key"),  # names without values stay
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    """Secret query values, URL passwords and a user without a password (a token) are
    replaced; everything else is byte-identical."""
    assert redact_url(url) == expected
    assert redact_url(expected) == expected  # idempotent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice:pw@omero.example.org/x", "alice:REDACTED@omero.example.org/x"),
        ("//alice:pw@h/", "//alice:REDACTED@h/"),
        ("TOKEN@omero.example.org/x", "REDACTED@omero.example.org/x"),
        ("//TOKEN@h/", "//REDACTED@h/"),
        ("ftp://TOKEN@h:8/p", "ftp://REDACTED@h:8/p"),
        ("TOKEN@h:pw/p", "REDACTED@h:REDACTED/p"),  # and a "port" that is no number
        ("TOKEN@h:pa/ss@x/", "REDACTED@h:REDACTED@x/"),
        ("ftp://alice:pw@h:8/p?token=t#f", "ftp://alice:REDACTED@h:8/p?token=REDACTED#f"),
        ("http://alice:pa/ss@h/", "http://alice:REDACTED@h/"),  # "/" cut the host short
        ("http://alice:pa#ss@h/", "http://alice:REDACTED@h/"),  # so does a "#"
        ("http://alice:pa?ss@h/?token=t", "http://alice:REDACTED@h/?token=REDACTED"),  # a "?"
        ("http://alice:pa/s/s@h/p", "http://alice:REDACTED@h/p"),
        ("http://h:pw/p", "http://h:REDACTED/p"),  # no "@" after it: the "port" alone
        ("http://[::1]:pw/", "http://[::1]:REDACTED/"),
        ("http://h:99999/", "http://h:99999/"),  # a number is a port, however wrong
        ("omero.example.org:8080/x", "omero.example.org:8080/x"),
        ("http://[::1/?bsession=k", "http://[::1/?bsession=REDACTED"),
        ("http://h/p:q@r", "http://h/p:q@r"),  # "@" in the path: no user there
        ("h:", "h:"),
    ],
)
def test_redact_loose_url(text: str, expected: str) -> None:
    """Text refused as a base URL is shown without a password (nor a user alone: a token),
    even where no ``://`` or no
    ``@`` says where the authority is; a port that is a number stays."""
    assert redact_loose_url(text) == expected


@pytest.mark.parametrize(
    "url",
    [f"alice:{SECRET}@h/", f"ftp://alice:{SECRET}@h/", f"http://alice:{SECRET}/x@h/",
     f"http://[::1/?bsession={SECRET}", "http://h:99999/", f"{SECRET}@h/",
     f"ftp://{SECRET}@h/"],
)  # fmt: skip
def test_refused_base_url_is_a_config_error_without_its_password(url: str) -> None:
    """ClientSettings refuses each with a ConfigError (urlsplit's ValueError was an
    internal error) that does not show the password."""
    with pytest.raises(ConfigError) as info:
        ClientSettings(base_url=url)
    assert SECRET not in str(info.value)
    assert "http(s)" in str(info.value)


def test_a_password_cut_short_by_a_hash_is_hidden_whole_and_the_hint_says_why() -> None:
    """A '#' typed in the password of base_url ends the URL's authority there: the refusal
    shows no part of the password (its rest was shown as a fragment), and the hint says to
    percent-encode it."""
    with pytest.raises(ConfigError) as info:
        HarvestConfig(base_url=f"http://alice:x#{SECRET}@h/")
    assert str(info.value) == "base_url: 'http://alice:REDACTED@h/' is not an http(s) URL"
    assert info.value.hint is not None and "'#'" in info.value.hint and "%23" in info.value.hint


@pytest.mark.parametrize(
    "url",
    [
        f"http://TOK/{SECRET}@h/",  # a token given as the user (base64 holds '/')
        f"http://TOK#{SECRET}@h:8080",
        f"http://TOK?{SECRET}==@h/webclient/",
        f"http://al/ice:{SECRET}@h/",  # a '/' in the user cut the password off too
    ],
)
def test_a_user_cut_short_is_refused_without_any_of_it(url: str) -> None:
    """A '/', '#' or '?' in a user alone (a token) made a valid URL of another host, and the
    error of that host showed the token: refused, the userinfo shown as REDACTED, the hint
    says to percent-encode."""
    with pytest.raises(ConfigError) as info:
        HarvestConfig(base_url=url)
    assert SECRET not in str(info.value) and "TOK" not in str(info.value)
    assert str(info.value).startswith("base_url: 'http://REDACTED@h")
    assert info.value.hint is not None and "%2F" in info.value.hint


@pytest.mark.parametrize(
    "url", ["http://h/webclient/?email=a@b.org", "http://h:4080/?sid=x", "http://TOKEN@h/"]
)
def test_an_at_sign_in_a_query_value_is_no_cut_user(url: str) -> None:
    """A query value holding an '@' (and a whole userinfo) is taken as given."""
    assert HarvestConfig(base_url=url).base_url == url


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("http://h/x/?bsession=abc", True),
        ("http://user:pw@h:8080/p", True),
        ("http://h/?id=1&api_key=k", True),
        ("http://h/x/?bsession=REDACTED", False),  # already redacted: nothing left to hide
        # A user without a password is sent as Basic "user:": services take a token so.
        ("http://TOKEN@h/p", True),
        ("http://TOKEN:@h/p", True),
        ("http://REDACTED@h/p", False),
        ("http://h/p/?id=1", False),
        ("http://h/p/", False),
    ],
)
def test_url_holds_secret(url: str, secret: bool) -> None:
    """A URL holds a secret exactly when redacting it changes it (a password, a user alone,
    a secret query)."""
    assert url_holds_secret(url) is secret


def test_fetch_errors_redact_whatever_url_they_get() -> None:
    """A FetchError built with a secret URL never shows the secret, but still the URL."""
    error = TransportError("reset", url=f"http://h/x/?bsession={SECRET}", status=None)
    assert SECRET not in str(error)
    assert SECRET not in repr(error)
    # Redacted, not dropped: the URL of the failure is what a user needs to see.
    assert error.url == "http://h/x/?bsession=REDACTED"
    assert str(error) == "reset: http://h/x/?bsession=REDACTED"


def test_settings_repr_hides_headers_cookies_and_url_secrets() -> None:
    """repr(ClientSettings) and repr(Client) show header/cookie names but never values."""
    settings = ClientSettings(
        base_url=f"http://h/?bsession={SECRET}",
        headers={"Authorization": f"Bearer {SECRET}"},
        cookies={"sessionid": SECRET},
    )
    assert SECRET not in repr(settings)
    assert "Authorization" in repr(settings)
    assert SECRET not in repr(Client(settings))


def test_bad_base_url_error_is_redacted() -> None:
    """A ConfigError about the base URL does not repeat a secret in it."""
    with pytest.raises(ConfigError) as info:
        ClientSettings(base_url=f"ftp://h/?token={SECRET}")
    assert SECRET not in str(info.value)


async def test_secrets_absent_from_fetched_errors_and_logs(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Query secrets, headers and cookies reach the server but never Fetched.url, errors or logs."""
    server.script(
        server.Reply(status=503),
        server.Reply(body=b"{}", content_type="application/json"),
    )
    caplog.set_level(logging.DEBUG)
    settings = ClientSettings(
        server.base_url,
        rate=None,
        headers={"X-Api-Token": SECRET},
        cookies={"sessionid_idr": SECRET},
    )
    with anyio.fail_after(10):
        async with Client(settings) as client:
            got = await client.get(f"api/v0/?bsession={SECRET}", Expect.JSON)
    assert server.requests[0].target == f"/api/v0/?bsession={SECRET}"  # sent as built
    assert server.requests[0].headers["x-api-token"] == SECRET
    assert SECRET in server.requests[0].headers["cookie"]
    assert got.url == f"{server.base_url}/api/v0/?bsession=REDACTED"
    assert SECRET not in repr(got)
    assert any("retry" in r.getMessage() for r in caplog.records)
    assert all(SECRET not in r.getMessage() for r in caplog.records)


async def test_base_url_query_of_any_name_is_hidden(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A base URL's ``?sid=KEY`` (a name that does not look secret) is sent with every
    request, yet Fetched.url, the error's URL and message and the debug logs hide it, as
    the saved configuration withholds it; the request's own query stays readable."""
    server.script(
        server.Reply(status=503),
        server.Reply(body=b"{}", content_type="application/json"),
        server.Reply(status=404),
    )
    caplog.set_level(logging.DEBUG)
    settings = ClientSettings(f"{server.base_url}/?sid={SECRET}&server=1", rate=None)
    with anyio.fail_after(10):
        async with Client(settings) as client:
            got = await client.get("api/v0/?page=2", Expect.JSON)
            with pytest.raises(PermanentError) as info:
                await client.get("x/", Expect.JSON)
    assert server.requests[0].target == f"/api/v0/?page=2&sid={SECRET}&server=1"
    assert got.url == f"{server.base_url}/api/v0/?page=2&sid=REDACTED&server=REDACTED"
    assert info.value.url == f"{server.base_url}/x/?sid=REDACTED&server=REDACTED"
    assert SECRET not in str(info.value)
    # A front end's redirect keeps the request's query: where it points is said without it.
    moved = f"{server.base_url}/omero/x/?sid={SECRET}&server=1"
    server.script(server.Reply(status=302, headers=[("Location", moved)]))
    with anyio.fail_after(10):
        async with Client(settings) as client:
            with pytest.raises(PermanentError) as info:
                await client.get("x/", Expect.JSON)
    assert "redirect not followed" in str(info.value)
    assert SECRET not in str(info.value) + info.value.reason + info.value.target
    assert any("retry" in r.getMessage() for r in caplog.records)
    assert all(SECRET not in r.getMessage() for r in caplog.records)


async def test_options_error_hides_the_base_url_query(server: Any) -> None:
    """An OPTIONS request refused (a classic OMERO.web's 404, which stack.py logs) names its
    URL without the base URL's ``?sid=`` value, as a GET's error does."""
    server.script(server.Reply(status=404))
    settings = ClientSettings(f"{server.base_url}/?sid={SECRET}", rate=None)
    with anyio.fail_after(10):
        async with Client(settings) as client:
            with pytest.raises(PermanentError) as info:
                await client.options("webgateway/render_image/1/0/0/")
    assert server.requests[0].target == f"/webgateway/render_image/1/0/0/?sid={SECRET}"
    assert info.value.url == f"{server.base_url}/webgateway/render_image/1/0/0/?sid=REDACTED"
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("headers", "cookies"),
    [
        ({}, {"sessionid_idr": SECRET}),
        ({"X-Api-Key": SECRET}, {}),
        # Echoed without its scheme: a token alone is the secret, not "Bearer TOKEN".
        ({"Authorization": f"Bearer {SECRET}"}, {}),
    ],
    ids=["cookie", "header", "authorization-token"],
)
async def test_secret_echoed_by_server_message_is_scrubbed(
    server: Any, headers: dict[str, str], cookies: dict[str, str]
) -> None:
    """A server error message that echoes a cookie, a header or an Authorization header's
    token is scrubbed from the reason."""
    body = b'{"message": "bad session ' + SECRET.encode() + b'"}'
    server.script(server.Reply(status=403, body=body, content_type="application/json"))
    settings = ClientSettings(server.base_url, rate=None, headers=headers, cookies=cookies)
    with anyio.fail_after(10):
        async with Client(settings) as client:
            with pytest.raises(PermanentError) as info:
                await client.get(f"x/?bsession={SECRET}", Expect.JSON)
    assert "bad session" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("user", [SECRET, SECRET.replace("-", "%2D")], ids=["typed", "encoded"])
async def test_a_token_given_as_user_is_sent_and_its_echo_scrubbed(server: Any, user: str) -> None:
    """A base URL's user without a password (a token) is sent as Basic ``TOKEN:``; a refusal
    echoing it shows it neither in the reason nor in the URL (``REDACTED@host``)."""
    import base64

    body = json.dumps({"message": f"token {SECRET} expired"}).encode()
    server.script(server.Reply(status=403, body=body, content_type="application/json"))
    settings = ClientSettings(server.base_url.replace("://", f"://{user}@"), rate=None)
    with anyio.fail_after(10):
        async with Client(settings) as client:
            with pytest.raises(PermanentError) as info:
                await client.get("x/", Expect.JSON)
    sent = base64.b64encode(f"{SECRET}:".encode()).decode()
    assert server.requests[0].headers["authorization"] == f"Basic {sent}"
    assert "expired" in str(info.value)
    assert info.value.url.startswith("http://REDACTED@127.0.0.1:")
    for shown in (SECRET, user, sent):
        assert shown not in str(info.value) and shown not in info.value.url, shown


@pytest.mark.parametrize("content_type", ["text/plain", "application/json"], ids=["text", "json"])
async def test_request_echoed_by_server_is_scrubbed(server: Any, content_type: str) -> None:
    """A refusal that echoes the request line (a percent-encoded session key in the base
    URL's query, a secret parameter of the path) and a secret at the 200-character cut
    shows none of them."""
    encoded = SECRET.replace("-", "%2D")
    echo = f"denied /x/?token=t0k3n-VALUE&bsession={encoded} " + "." * 135 + f" {SECRET}"
    body = echo.encode() if content_type == "text/plain" else json.dumps({"message": echo}).encode()
    server.script(server.Reply(status=401, body=body, content_type=content_type))
    settings = ClientSettings(f"{server.base_url}/?bsession={encoded}", rate=None)
    with anyio.fail_after(10):
        async with Client(settings) as client:
            with pytest.raises(PermanentError) as info:
                await client.get("x/?token=t0k3n-VALUE", Expect.JSON)
    assert server.requests[0].target == f"/x/?token=t0k3n-VALUE&bsession={encoded}"
    assert "HTTP 401" in str(info.value) and "denied /x/?token=REDACTED" in str(info.value)
    for shown in (SECRET, encoded, "t0k3n", SECRET[:5]):
        assert shown not in str(info.value), shown


@pytest.mark.parametrize(
    "exception",
    [f"RemovedSessionException: {SECRET}", "Error instantiating pixel buffer: session " + SECRET],
)
async def test_imgdata_exception_quoting_the_session_is_scrubbed(
    server: Any, exception: str
) -> None:
    """An imgData ``Exception`` (retried, or the pixel-buffer one given up) that quotes the
    session key of the base URL is kept as the failure's reason without it."""
    body = json.dumps({"Exception": exception}).encode()
    server.script(*[server.Reply(body=body, content_type="application/json")] * 3)
    settings = ClientSettings(f"{server.base_url}/?bsession={SECRET}", rate=None, max_retries=1)
    with anyio.fail_after(10):
        async with Client(settings) as client:
            with pytest.raises(FetchError) as info:
                await client.get("webclient/imgData/5/", Expect.JSON, check_imgdata)
    assert "imgData Exception:" in info.value.reason
    assert SECRET not in info.value.reason
    assert SECRET not in str(info.value)


async def test_connection_error_does_not_leak_url_secret() -> None:
    """An unreachable server's error shows the redacted URL only."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ClientSettings(f"http://127.0.0.1:{port}", rate=None, max_retries=0)
    with anyio.fail_after(10):
        async with Client(settings) as client:
            with pytest.raises(FetchError) as info:
                await client.get(f"x/?token={SECRET}", Expect.ANY)
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None
    assert client.url_for(f"x/?token={SECRET}").endswith("x/?token=REDACTED")


@pytest.mark.parametrize(
    "message",
    [
        f"refused GET http://h/x/?sid={SECRET}&token=t0k3n-VALUE",
        "refused GET /x/?token=t0k3n-VALUE",
    ],
    ids=["absolute", "request-line"],
)
def test_a_transfer_error_quoting_the_request_shows_no_secret(message: str) -> None:
    """A connection's own error (a timeout, a reset, a bad answer) that quotes the request,
    absolute or as its request line, keeps its words but neither the base URL's query value
    nor a secret query parameter, as a server's echo is scrubbed."""
    client = Client(ClientSettings(f"http://h/?sid={SECRET}", rate=None))
    shown = _describe(ConnectionResetError(message), client._secrets)
    assert shown.startswith("refused GET ") and "token=REDACTED" in shown
    assert SECRET not in shown and "t0k3n" not in shown


async def test_server_session_cookie_is_not_logged(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A Set-Cookie session token from the server never appears in debug logs (its name does)."""
    server.script(
        server.Reply(
            body=b"{}",
            content_type="application/json",
            headers=[("Set-Cookie", f"sessionid_idr={SECRET}; HttpOnly; Path=/")],
        )
    )
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(10):
        async with Client(ClientSettings(server.base_url, rate=None)) as client:
            await client.get("webclient/?experimenter=-1", Expect.JSON)
            await client.get("api/v0/", Expect.JSON)
    assert SECRET in server.requests[1].headers["cookie"]  # the session is kept
    assert any("cookie 'sessionid_idr'" in r.getMessage() for r in caplog.records)
    assert any("/api/v0/ -> 200" in r.getMessage() for r in caplog.records)
    assert all(SECRET not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("headers", "cookies", "shown"),
    [
        ({"Authorization: Bearer T0K3N-SECRET": "x"}, {}, "'Authorization…' is not a valid header"),
        ({}, {"sessionid=T0K3N-SECRET": "x"}, "'sessionid…' is not a valid cookie"),
        ({"X-Ok": "1", "Bad Name": "1"}, {}, "'Bad…' is not a valid header"),
    ],
)
def test_a_refused_header_or_cookie_name_is_shown_up_to_its_first_bad_character(
    headers: dict[str, str], cookies: dict[str, str], shown: str
) -> None:
    """A value pasted into a header's name (curl's ``-H 'Authorization: Bearer T'``) is not
    printed in the error: the name is shown up to the character that cannot be in one."""
    with pytest.raises(ConfigError) as refused:
        check_header_fields(headers, cookies)
    assert shown in str(refused.value)
    assert "T0K3N" not in str(refused.value)


def test_settings_never_show_a_base_url_query_value() -> None:
    """A base URL's query value whose name does not look secret (``?sid=``) is withheld by the
    settings' repr (a Client's too) and by the error refusing a base URL that is not http(s)."""
    shown = repr(ClientSettings(base_url=f"http://h/?sid={SECRET}"))
    with pytest.raises(ConfigError) as info:
        ClientSettings(base_url=f"ftp://h/?sid={SECRET}")
    assert SECRET not in shown
    assert "sid=" in shown
    assert SECRET not in str(info.value)
