"""Client: status, Content-Type, magic bytes, JSON and length validation over real sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
import pytest

from harvester.client import Client, ClientSettings, Expect, Fetched
from harvester.errors import (
    ConfigError,
    FetchError,
    InvalidBodyError,
    OverloadError,
    PermanentError,
    ServerStatusError,
    TLSError,
    TransientError,
    TransportError,
)

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 32
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
TIFF = b"II*\x00" + b"\x00" * 32
HTML = b"<!DOCTYPE html><html><body>Maintenance</body></html>"


def settings(server: Any, **kw: Any) -> ClientSettings:
    kw.setdefault("rate", None)
    kw.setdefault("max_retries", 0)
    return ClientSettings(base_url=server.base_url, **kw)


async def fetch(server: Any, reply: Any, expect: Expect, path: str = "x/", **kw: Any) -> Fetched:
    server.script(reply)
    with anyio.fail_after(10):
        async with Client(settings(server, **kw)) as client:
            return await client.get(path, expect)


async def fails(server: Any, reply: Any, expect: Expect, **kw: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        await fetch(server, reply, expect, **kw)
    return info.value


@pytest.mark.parametrize(
    ("body", "ctype", "expect"),
    [
        (JPEG, "image/jpeg", Expect.JPEG),
        (PNG, "image/png", Expect.PNG),
        (JPEG, "image/jpeg", Expect.IMAGE),
        (PNG, "image/png", Expect.IMAGE),
        (TIFF, "image/tiff", Expect.IMAGE),
        (b"MM\x00*" + b"\x00" * 8, "image/tiff", Expect.IMAGE),
        (b"anything", "text/plain", Expect.ANY),
    ],
)
async def test_valid_bodies_are_returned_verbatim(
    server: Any, body: bytes, ctype: str, expect: Expect
) -> None:
    """A 2xx answer with the right type and magic bytes is returned byte for byte."""
    got = await fetch(server, server.Reply(body=body, content_type=ctype), expect)
    assert got.body == body
    assert got.status == 200
    assert got.content_type == ctype
    assert got.url == f"{server.base_url}/x/"


async def test_json_is_parsed_once_and_kept_verbatim(server: Any) -> None:
    """A JSON answer keeps its exact bytes and exposes the parsed value."""
    body = b'{"b": 1, "a": [1, 2]}'
    got = await fetch(server, server.Reply(body=body, content_type="application/json"), Expect.JSON)
    assert got.body == body
    assert got.json() == {"b": 1, "a": [1, 2]}


async def test_html_page_with_200_instead_of_image_is_retryable_invalid_body(server: Any) -> None:
    """An HTML page served with 200 where a JPEG is expected is an InvalidBodyError."""
    error = await fails(server, server.Reply(body=HTML, content_type="text/html"), Expect.JPEG)
    assert isinstance(error, InvalidBodyError)
    assert isinstance(error, TransientError)
    assert "HTML page with status 200" in str(error)


async def test_html_page_with_200_instead_of_json_is_invalid_body(server: Any) -> None:
    """An HTML page served with 200 where JSON is expected is an InvalidBodyError."""
    error = await fails(server, server.Reply(body=HTML, content_type="text/html"), Expect.JSON)
    assert isinstance(error, InvalidBodyError)
    assert "where JSON was expected" in error.reason


async def test_html_body_mislabelled_as_json_is_invalid_body(server: Any) -> None:
    """An HTML body labelled application/json is still recognised as HTML."""
    reply = server.Reply(body=b"  <html><body>x</body></html>", content_type="application/json")
    error = await fails(server, reply, Expect.JSON)
    assert isinstance(error, InvalidBodyError)
    assert "HTML page with status 200 where JSON was expected" in error.reason


async def test_unparsable_json_is_invalid_body(server: Any) -> None:
    """A JSON body that does not parse is an InvalidBodyError."""
    error = await fails(
        server, server.Reply(body=b'{"a": ', content_type="application/json"), Expect.JSON
    )
    assert isinstance(error, InvalidBodyError)
    assert "JSON does not parse" in error.reason


@pytest.mark.parametrize(
    ("body", "ctype", "expect"),
    [
        (PNG, "image/jpeg", Expect.JPEG),  # webclient's PNG placeholder labelled JPEG
        (JPEG, "image/png", Expect.PNG),
        (b"GIF89a" + b"\x00" * 8, "image/gif", Expect.IMAGE),
        (b"", "image/jpeg", Expect.JPEG),
        (JPEG, "application/json", Expect.JPEG),
    ],
)
async def test_wrong_magic_or_type_is_invalid_body(
    server: Any, body: bytes, ctype: str, expect: Expect
) -> None:
    """Wrong magic bytes or a non-image Content-Type is an InvalidBodyError."""
    error = await fails(server, server.Reply(body=body, content_type=ctype), expect)
    assert isinstance(error, InvalidBodyError)


async def test_json_content_type_mismatch_is_invalid_body(server: Any) -> None:
    """An image served where JSON is expected is an InvalidBodyError."""
    error = await fails(server, server.Reply(body=JPEG, content_type="image/jpeg"), Expect.JSON)
    assert isinstance(error, InvalidBodyError)
    assert "image/jpeg" in error.reason


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, OverloadError),
        (503, OverloadError),
        (504, OverloadError),
        (408, ServerStatusError),
        (500, ServerStatusError),
        (502, ServerStatusError),
        (400, PermanentError),
        (403, PermanentError),
        (404, PermanentError),
        (410, PermanentError),
        (501, PermanentError),
    ],
)
async def test_status_maps_to_error_class(server: Any, status: int, kind: type) -> None:
    """Each non-2xx status maps to its documented error class, with the status attached."""
    error = await fails(server, server.Reply(status=status, body=b"no"), Expect.ANY)
    assert type(error) is kind
    assert error.status == status
    assert f"HTTP {status}" in str(error)


async def test_a_reason_phrase_with_control_characters_is_quoted_escaped(server: Any) -> None:
    """A status line's reason phrase holding ESC, BEL or a C1 control is written escaped in
    the error (what the summary's ``failed:`` lines, the journal and a pause's progress bar
    quote): it reached the terminal raw (``HTTP 500 Bad<ESC>[31mRed``), recolouring it."""
    reply = server.Reply(status=500, body=b"no", reason="Bad\x1b[31mRed\x07\x9b caf\xe9")
    error = await fails(server, reply, Expect.ANY)
    assert error.status == 500
    assert error.reason == "HTTP 500 Bad\\x1b[31mRed\\x07\\x9b café"
    assert str(error).isprintable()


async def test_json_error_message_from_server_is_in_reason(server: Any) -> None:
    """A JSON API error's "message" is quoted in the reason."""
    body = json.dumps({"message": "Image 123 not found", "stacktrace": "Traceback..."}).encode()
    reply = server.Reply(status=404, body=body, content_type="application/json")
    error = await fails(server, reply, Expect.JSON)
    assert isinstance(error, PermanentError)
    assert "Image 123 not found" in error.reason
    assert "Traceback" not in error.reason


async def test_plain_text_error_from_server_is_in_reason(server: Any) -> None:
    """A 400 with a text/plain explanation (IDR's microservice) keeps the server's words."""
    body = b"Requested shape [1, 1, 1, 6000, 8000] > max plane size 3192 * 3192"
    reply = server.Reply(status=400, body=body, content_type="text/plain")
    error = await fails(server, reply, Expect.JPEG)
    assert isinstance(error, PermanentError) and error.status == 400
    assert error.reason.endswith(": " + body.decode())


async def test_overload_answer_carries_retry_after(server: Any) -> None:
    """A 503 with Retry-After: 7 carries retry_after=7 and the overload flag."""
    reply = server.Reply(
        status=503, body=HTML, content_type="text/html", headers=[("Retry-After", "7")]
    )
    error = await fails(server, reply, Expect.JPEG)
    assert isinstance(error, OverloadError)
    assert error.retry_after == 7.0
    assert error.overload


async def test_short_content_length_is_transport_error(server: Any) -> None:
    """A body shorter than its Content-Length (connection closed) is a TransportError."""
    reply = server.Reply(body=JPEG, content_type="image/jpeg", truncate=10)
    error = await fails(server, reply, Expect.JPEG)
    assert isinstance(error, TransportError)
    assert not error.overload


async def test_connection_reset_is_transport_error(server: Any) -> None:
    """A connection reset before any answer is a TransportError."""
    error = await fails(server, server.Reply(reset=True), Expect.ANY)
    assert isinstance(error, TransportError)


async def test_timeout_is_transport_error_flagged_overload(server: Any) -> None:
    """A read timeout is a TransportError that counts as an overload signal."""
    reply = server.Reply(body=JPEG, content_type="image/jpeg", delay=1.0)
    error = await fails(server, reply, Expect.JPEG, timeout=0.2)
    assert isinstance(error, TransportError)
    assert error.overload
    assert "timed out" in error.reason


async def test_unreachable_host_is_transport_error() -> None:
    """Nothing listening on the port is a retryable TransportError."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with anyio.fail_after(10):
        async with Client(
            ClientSettings(f"http://127.0.0.1:{port}", max_retries=0, rate=None)
        ) as c:
            with pytest.raises(TransportError) as info:
                await c.get("x/", Expect.ANY)
    assert "cannot connect" in info.value.reason


async def test_check_callback_can_reject_a_body(server: Any) -> None:
    """A check callback raising InvalidBodyError (imgData "Exception") fails the request."""
    body = b'{"id": 1, "Exception": "Error instantiating pixel buffer"}'
    server.script(server.Reply(body=body, content_type="application/json"))

    def check(fetched: Fetched) -> None:
        data = fetched.json()
        if "Exception" in data:
            raise InvalidBodyError(f"imgData Exception: {data['Exception']}", url=fetched.url)

    with anyio.fail_after(10):
        async with Client(settings(server)) as client:
            with pytest.raises(InvalidBodyError) as info:
                await client.get("webgateway/imgData/1/", Expect.JSON, check)
    assert "Error instantiating pixel buffer" in str(info.value)


async def test_redirect_is_permanent_unless_followed(server: Any) -> None:
    """A same-host 302 is a PermanentError by default and followed when allowed."""

    def handler(req: Any) -> Any:
        if req.target == "/old/":
            return server.Reply(status=302, headers=[("Location", "/new/")])
        return server.Reply(body=JPEG, content_type="image/jpeg")

    server.handler = handler
    with anyio.fail_after(10):
        async with Client(settings(server)) as client:
            with pytest.raises(PermanentError) as info:
                await client.get("old/", Expect.JPEG)
        assert "redirect not followed" in info.value.reason
        async with Client(settings(server, follow_redirects=True)) as client:
            got = await client.get("old/", Expect.JPEG)
    assert got.body == JPEG
    assert got.url.endswith("/new/")


async def test_cross_host_redirect_is_refused_and_gets_no_cookie(server: Any) -> None:
    """A redirect off the base host is refused even when allowed; nothing is sent there."""
    seen: list[Any] = []

    def handler(req: Any) -> Any:
        seen.append(req)
        return server.Reply(status=302, headers=[("Location", "http://evil.example:1/steal?x=1")])

    server.handler = handler
    with anyio.fail_after(10):
        async with Client(
            settings(server, follow_redirects=True, cookies={"sessionid_idr": "s3cr3tcookie"})
        ) as client:
            with pytest.raises(PermanentError) as info:
                await client.get("x/", Expect.JSON)
    assert "redirect to another host refused" in info.value.reason
    assert len(seen) == 1
    assert seen[0].headers["cookie"] == "sessionid_idr=s3cr3tcookie"  # only the base host got it


async def test_absolute_url_to_another_host_is_refused(server: Any) -> None:
    """Client.get never sends a request (or cookies) to a host other than the base URL's."""
    with anyio.fail_after(10):
        async with Client(settings(server, cookies={"a": "b"})) as client:
            with pytest.raises(PermanentError):
                await client.get("http://other.example/x", Expect.ANY)
    assert server.requests == []


async def test_stats_count_requests_and_bytes(server: Any) -> None:
    """ClientStats counts attempts and bytes received."""
    server.script(server.Reply(body=JPEG, content_type="image/jpeg"))
    with anyio.fail_after(10):
        async with Client(settings(server)) as client:
            for _ in range(3):
                await client.get("t/", Expect.JPEG)
            assert client.stats.requests == 3
            assert client.stats.bytes_in == 3 * len(JPEG)
            assert client.stats.in_flight == 0


async def test_sends_user_agent_and_xhr_header(server: Any) -> None:
    """Requests carry the harvester User-Agent and X-Requested-With, plus user headers."""
    await fetch(server, server.Reply(body=b"x"), Expect.ANY, headers={"X-Extra": "1"})
    headers = server.requests[0].headers
    assert headers["user-agent"].startswith("harvester/")
    assert headers["x-requested-with"] == "XMLHttpRequest"
    assert headers["x-extra"] == "1"


async def test_query_string_is_sent_as_built(server: Any) -> None:
    """The path and query string reach the server unchanged."""
    path = "webgateway/render_image/5/0/0/?c=1|0:255$FF0000,-2|0:255$00FF00&m=c&q=0.9"
    await fetch(server, server.Reply(body=JPEG, content_type="image/jpeg"), Expect.JPEG, path=path)
    assert server.requests[0].target == "/" + path


async def test_session_cookie_is_kept_updated_and_deleted(server: Any) -> None:
    """Server cookies join the user's cookies on later requests; Max-Age=0 removes them."""
    server.script(
        server.Reply(
            body=b"{}",
            content_type="application/json",
            headers=[("Set-Cookie", "sessionid_idr=one; HttpOnly; Path=/")],
        ),
        server.Reply(
            body=b"{}",
            content_type="application/json",
            headers=[
                ("Set-Cookie", 'sessionid_idr=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0')
            ],
        ),
        server.Reply(body=b"{}", content_type="application/json"),
    )
    with anyio.fail_after(10):
        async with Client(settings(server, cookies={"csrftoken": "abc"})) as client:
            for _ in range(3):
                await client.get("api/v0/", Expect.JSON)
    cookies = [req.headers.get("cookie") for req in server.requests]
    assert cookies == ["csrftoken=abc", "csrftoken=abc; sessionid_idr=one", "csrftoken=abc"]


async def test_tls_failure_is_permanent_with_a_hint(server: Any) -> None:
    """Speaking TLS to a server that does not (or a bad certificate) is a PermanentError."""
    https_url = server.base_url.replace("http://", "https://")
    with anyio.fail_after(10):
        async with Client(ClientSettings(https_url, rate=None, max_retries=3)) as client:
            with pytest.raises(TLSError) as info:
                await client.get("x/", Expect.ANY)
    assert "TLS failure" in info.value.reason
    assert info.value.hint is not None
    assert len(server.requests) <= 1


async def test_gzip_body_is_decoded_and_length_checked_on_the_wire(server: Any) -> None:
    """A gzip-encoded JSON answer is decoded; Content-Length is checked against wire bytes."""
    import gzip

    raw = gzip.compress(b'{"data": [1, 2, 3]}')
    reply = server.Reply(
        body=raw, content_type="application/json", headers=[("Content-Encoding", "gzip")]
    )
    got = await fetch(server, reply, Expect.JSON)
    assert got.json() == {"data": [1, 2, 3]}
    assert got.body == b'{"data": [1, 2, 3]}'
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


async def test_undecodable_gzip_is_invalid_body(server: Any) -> None:
    """A body announced as gzip that does not decompress is an InvalidBodyError."""
    reply = server.Reply(
        body=b"not gzip", content_type="application/json", headers=[("Content-Encoding", "gzip")]
    )
    error = await fails(server, reply, Expect.JSON)
    assert isinstance(error, InvalidBodyError)


async def test_unsafe_characters_in_a_path_are_escaped(server: Any) -> None:
    """Spaces and non-ASCII in a path are percent-encoded; everything else is kept."""
    await fetch(server, server.Reply(body=b"x"), Expect.ANY, path="a b/é?q=1|2")
    assert server.requests[0].target == "/a%20b/%C3%A9?q=1|2"


async def test_connections_are_kept_alive_and_reopened_when_the_server_closes(
    server: Any,
) -> None:
    """Answers reuse one connection; a server-closed connection is replaced without a retry."""
    server.script(
        server.Reply(body=JPEG, content_type="image/jpeg"),
        server.Reply(body=JPEG, content_type="image/jpeg", close=True),
        server.Reply(body=JPEG, content_type="image/jpeg"),
    )
    with anyio.fail_after(10):
        async with Client(settings(server, concurrency=1)) as client:
            for _ in range(4):
                await client.get("t/", Expect.JPEG)
                await anyio.sleep(0.02)  # let the close arrive before the next request
            assert client.stats.retries == 0
    connections = [req.connection for req in server.requests]
    assert connections[0] == connections[1] != connections[2] == connections[3]


async def test_large_body_arrives_intact(server: Any) -> None:
    """A body much larger than one socket read is returned byte for byte."""
    body = JPEG + bytes(range(256)) * 4000
    got = await fetch(server, server.Reply(body=body, content_type="image/jpeg"), Expect.JPEG)
    assert got.body == body


async def test_user_headers_replace_ours_whatever_their_case() -> None:
    """A user's ``host`` or ``user-agent`` replaces the client's own, never goes beside it
    (nginx answers a doubled Host with 400)."""
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = ClientSettings(
            f"http://127.0.0.1:{port}",
            rate=None,
            headers={"host": "idr.example", "user-agent": "lab-mirror/2"},
        )
        async with Client(settings) as client:
            await client.get("api/v0/", Expect.JSON)
    finally:
        server.close()
    lines = [line.lower() for line in heads[0].split(b"\r\n")]
    assert [line for line in lines if line.startswith(b"host:")] == [b"host: idr.example"]
    assert [line for line in lines if line.startswith(b"user-agent:")] == [
        b"user-agent: lab-mirror/2"
    ]


@pytest.mark.parametrize("name", ["Content-Length", "transfer-encoding"])
def test_framing_headers_cannot_be_given(name: str) -> None:
    """A body length on a GET would make the server wait for a body: refused up front."""
    with pytest.raises(ConfigError, match="set by the HTTP layer"):
        ClientSettings("http://127.0.0.1:9", headers={name: "5"})


async def test_gzip_bomb_is_refused_not_inflated(server: Any, monkeypatch: Any) -> None:
    """A body whose Content-Encoding decodes to more than the cap is an invalid body (the
    cap is lowered to 1 MiB here; the real one is 256 MiB), not an out-of-memory crash."""
    import gzip

    from harvester import client as client_module

    monkeypatch.setattr(client_module, "MAX_DECODED_BYTES", 1024 * 1024)
    bomb = gzip.compress(b"{" + b" " * (4 * 1024 * 1024) + b"}")
    fits = gzip.compress(b"{" + b" " * (512 * 1024) + b"}")
    server.script(
        server.Reply(
            body=bomb, content_type="application/json", headers=[("Content-Encoding", "gzip")]
        ),
        server.Reply(
            body=fits, content_type="application/json", headers=[("Content-Encoding", "gzip")]
        ),
    )
    async with Client(settings(server, max_retries=0)) as client:
        with pytest.raises(InvalidBodyError, match="decompresses to more than 1 MiB"):
            await client.get("api/v0/a", Expect.JSON)
        assert (await client.get("api/v0/b", Expect.JSON)).json() == {}


@pytest.mark.parametrize(
    ("base_url", "host_line"),
    [
        ("http://bücher.example:8080", b"Host: xn--bcher-kva.example:8080\r\n"),
        ("https://idr.openmicroscopy.org", b"Host: idr.openmicroscopy.org\r\n"),
        ("http://[::1]:4080", b"Host: [::1]:4080\r\n"),
    ],
)
def test_host_header_is_ascii_and_names_the_port_only_when_not_the_default(
    base_url: str, host_line: bytes
) -> None:
    """An internationalised host name goes into Host in its IDNA form (as it is resolved)."""
    client = Client(ClientSettings(base_url))
    head = client._connections._fields
    assert head.startswith(host_line), head


@pytest.mark.parametrize(
    "changes",
    [
        {"timeout": True},
        {"timeout": 0},
        {"min_speed": True},
        {"min_speed": -1},
        {"min_speed": float("nan")},
        {"min_speed": float("inf")},
    ],
)
def test_timeout_and_min_speed_refuse_bools_and_impossible_values(changes: dict[str, Any]) -> None:
    """The Python API refuses what the config file and the command line refuse."""
    with pytest.raises(ConfigError, match="timeout|min_speed"):
        ClientSettings("http://127.0.0.1:9", **changes)
