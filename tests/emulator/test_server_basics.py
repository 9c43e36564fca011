"""The emulator's HTTP/1.1 server over real loopback sockets (with a fake application)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import psutil
import pytest

from harvester.emulator import EmulatorThread, running_emulator, serve


@pytest.fixture
def emu(make_emulator: Callable[..., EmulatorThread], fake_app: Any) -> EmulatorThread:
    """A server around the fake application."""
    return make_emulator(app=fake_app)


def _raw(base_url: str, payload: bytes, *, until_close: bool = True) -> bytes:
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
            if not until_close:
                break
        return b"".join(chunks)


def test_get_parses_path_query_and_client(emu: EmulatorThread) -> None:
    """The app sees the percent-decoded path, every query pair in order, client ip and base URL."""
    r = httpx.get(f"{emu.base_url}/json/a%20b/?id=1&id=2&blank=&q=x+y")
    assert r.status_code == 200
    body = r.json()
    assert body["path"] == "/json/a b/"
    assert body["raw_path"] == "/json/a%20b/?id=1&id=2&blank=&q=x+y"
    assert body["query"] == [["id", "1"], ["id", "2"], ["blank", ""], ["q", "x y"]]
    assert body["client"] == "127.0.0.1"
    assert body["base_url"] == emu.base_url
    assert r.headers["content-length"] == str(len(r.content))
    assert "date" in r.headers


def test_keep_alive_reuses_one_connection(emu: EmulatorThread) -> None:
    """Many requests on one httpx client travel over a single kept-alive connection."""
    seen = set()
    with httpx.Client(base_url=emu.base_url) as client:
        for _ in range(20):
            r = client.get("/json/")
            seen.add(r.json()["headers"]["host"])
            assert r.status_code == 200
            assert r.headers.get("connection") != "close"
    assert len(seen) == 1
    assert emu.stats()["requests"] == 20


def test_head_has_length_but_no_body(emu: EmulatorThread) -> None:
    """HEAD answers the GET headers (Content-Length included) without a body."""
    r = httpx.head(f"{emu.base_url}/thumb/1234/")
    assert r.status_code == 200
    assert r.headers["content-length"] == "1234"
    assert r.content == b""


def test_unknown_path_is_404_and_post_body_is_read(emu: EmulatorThread) -> None:
    """Unknown paths get the app's 404; a POST body is consumed and the connection stays usable."""
    with httpx.Client(base_url=emu.base_url) as client:
        assert client.get("/nowhere/").status_code == 404
        r = client.post("/json/", content=b"x" * 5000)
        assert r.json()["method"] == "POST"
        assert client.get("/json/").status_code == 200


def test_pipelined_requests_answered_in_order(emu: EmulatorThread) -> None:
    """Two pipelined requests in one write get two answers in request order."""
    payload = (
        b"GET /json/first/ HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /json/second/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data = _raw(emu.base_url, payload)
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.index(b"/json/first/") < data.index(b"/json/second/")


def test_http10_closes_and_bad_request_is_400(emu: EmulatorThread) -> None:
    """HTTP/1.0 without keep-alive is closed after the answer; garbage gets 400 and a close."""
    data = _raw(emu.base_url, b"GET /json/ HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert b"Connection: close" in data
    data = _raw(emu.base_url, b"NONSENSE\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 ")


def test_requests_sent_one_byte_a_segment_are_answered_not_refused(emu: EmulatorThread) -> None:
    """A slow client's pipelined requests (a stray CRLF between them, a POST body), each
    byte in a TCP segment of its own, are answered 200 in order: the early 400 for bytes
    that can begin no request line never refuses a method or CRLF that is still coming."""
    payload = (
        b"GET /json/first/ HTTP/1.1\r\nHost: x\r\n\r\n\r\n"
        b"POST /json/second/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /json/third/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    host, port = emu.base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in payload:
            sock.sendall(bytes([byte]))
            time.sleep(0.001)  # (its own segment: the server reads it before the next)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    answers = b"".join(chunks)
    assert answers.count(b"HTTP/1.1 200 OK") == 3, answers
    assert b" 400 " not in answers, answers
    order = [answers.index(p) for p in (b"/json/first/", b"/json/second/", b"/json/third/")]
    assert order == sorted(order), answers


def test_control_paths_are_not_counted(emu: EmulatorThread) -> None:
    """/__emulator__/stats and reset are served as JSON and never counted."""
    with httpx.Client(base_url=emu.base_url) as client:
        client.get("/json/")
        stats = client.get("/__emulator__/stats").json()
        assert stats["requests"] == 1
        assert client.get("/__emulator__/stats").json()["requests"] == 1
        assert client.post("/__emulator__/reset").json() == {"reset": True}
        assert client.get("/__emulator__/stats").json()["requests"] == 0
        client.get("/json/")
        assert client.get("/__emulator__/stats?reset=1").status_code == 200
    assert emu.stats()["requests"] == 0


def test_first_arrival_and_last_answer_bracket_a_clients_requests(
    make_emulator: Callable[..., EmulatorThread], fake_app: Any
) -> None:
    """Machine-wide monotonic times: a client's requests lie between them; reset clears them."""
    import time

    emu = make_emulator(app=fake_app, faults="latency:50ms")
    assert emu.stats()["first_arrival"] is None and emu.stats()["last_answer"] is None
    with httpx.Client(base_url=emu.base_url) as client:
        before = time.monotonic()
        client.get("/json/")
        client.get("/json/")
        after = time.monotonic()
        stats = client.get("/__emulator__/stats").json()  # the control path moves neither
        assert before <= stats["first_arrival"] < stats["last_answer"] <= after
        assert stats["last_answer"] - stats["first_arrival"] >= 0.05  # the second answer's wait
        client.post("/__emulator__/reset")
    stats = emu.stats()
    assert stats["first_arrival"] is None and stats["last_answer"] is None


async def test_many_concurrent_clients(emu: EmulatorThread) -> None:
    """64 concurrent requests over 16 connections all succeed with intact bodies."""
    async with httpx.AsyncClient(
        base_url=emu.base_url, limits=httpx.Limits(max_connections=16)
    ) as client:
        results: list[int] = []

        async def one(i: int) -> None:
            r = await client.get(f"/thumb/{1000 + i}/")
            assert len(r.content) == 1000 + i
            results.append(r.status_code)

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for i in range(64):
                    tg.start_soon(one, i)
    assert results == [200] * 64
    stats = emu.stats()
    assert stats["by_route"]["image:thumb"] == {"200": 64}
    assert stats["image_requests"] == 64
    assert 1 <= stats["peak_concurrency"] <= 16


async def test_serve_async_context_manager(fake_app: Any) -> None:
    """serve() yields a running server from async code and stops it on exit."""
    async with serve(app=fake_app) as emu, httpx.AsyncClient() as client:
        r = await client.get(f"{emu.base_url}/json/")
        assert r.status_code == 200
        base = emu.base_url
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{base}/json/", timeout=2)


def test_running_emulator_port_in_use(fake_app: Any) -> None:
    """Binding a port that is taken raises OSError from start()."""
    with running_emulator(app=fake_app) as emu:
        port = int(emu.base_url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            EmulatorThread(app=fake_app, port=port).start()
        assert json.loads(httpx.get(f"{emu.base_url}/__emulator__/health").text)["ok"] is True


def test_real_app_routes_label_stats(make_emulator: Callable[..., EmulatorThread]) -> None:
    """With the IDR app, stats use its route names, faulted answers included."""
    emu = make_emulator(preset="demo", faults="503:100%,only:/xx/")
    with httpx.Client(base_url=emu.base_url, timeout=5) as client:
        assert client.get("/webclient/").status_code == 200
        assert client.get("/xx/").status_code == 503
        assert client.get("/nothing/here/").status_code == 404
    by_route = emu.stats()["by_route"]
    assert by_route["webclient_home"] == {"200": 1}
    assert by_route["404"] == {"404": 1, "503": 1}


def test_stop_with_open_and_busy_connections(fake_app: Any) -> None:
    """Stopping while a kept-alive connection waits on a slow answer is clean (no warnings)."""
    emu = EmulatorThread(app=fake_app, faults="latency:5s").start()
    host, port = emu.base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /json/ HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(100):
            if emu.stats()["in_flight"] == 1:
                break
            time.sleep(0.01)
        emu.stop()
        try:
            data = sock.recv(100)
        except ConnectionResetError:
            data = b""
        assert data == b""
    emu.stop()  # idempotent


def test_options_and_connection_close_reach_the_app(emu: EmulatorThread) -> None:
    """OPTIONS goes to the app; `Connection: close` from the client is honoured."""
    with httpx.Client(base_url=emu.base_url, timeout=5) as client:
        assert client.request("OPTIONS", "/json/").json()["method"] == "OPTIONS"
        r = client.get("/json/", headers={"Connection": "close"})
        assert r.headers["connection"] == "close"
        assert client.get("/json/").status_code == 200  # httpx reconnects


def test_stopping_with_connections_just_accepted_leaves_no_socket_open() -> None:
    """Clients connected as the emulator stops: every socket it accepted is closed when stop()
    returns. Python 3.11 fails the transport of a connection accepted in the server's last turn,
    and its socket was left open (a ResourceWarning that failed a test under pytest-xdist)."""
    for _ in range(10):
        emu = EmulatorThread(preset="demo").start()
        port = int(emu.base_url.rsplit(":", 1)[1])
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        try:
            emu.stop()
            left = [
                conn
                for conn in psutil.Process().net_connections(kind="tcp")
                if conn.laddr and conn.laddr.port == port and conn.status != psutil.CONN_LISTEN
            ]
            assert left == []
        finally:
            for client in clients:
                client.close()


class _CrashingApp:
    """An application whose every answer is a bug."""

    def handle(self, req: Any) -> Any:
        raise RuntimeError("handler bug")

    def route_name(self, req: Any) -> str:
        return "json"


@pytest.mark.parametrize("crashes", ["application", "route handler"])
def test_a_crash_logs_the_request_without_its_secrets(
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    crashes: str,
) -> None:
    """A request whose handling crashes is logged with its target (the emulator is a
    user-facing tool: ``harvester emulate``), but a secret-looking query value
    (``bsession=``, ``api_key=``) shows as REDACTED, the others as sent; the client gets a
    500, not a dropped connection."""
    if crashes == "application":
        emu = make_emulator(app=_CrashingApp())
    else:
        from harvester.emulator.app import App

        def bug(self: Any, req: Any) -> Any:
            raise RuntimeError("handler bug")

        monkeypatch.setattr(App, "_handle", bug)
        emu = make_emulator(preset="demo")
    target = "/api/v0/m/images/?bsession=SESSIONSECRET9&limit=2&api_key=KEYSECRET8"
    answer = httpx.get(emu.base_url + target, timeout=5)
    assert answer.status_code == 500
    crashed = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    shown = "/api/v0/m/images/?bsession=REDACTED&limit=2&api_key=REDACTED"
    assert len(crashed) == 1 and crashed[0].splitlines()[0].endswith(shown), crashed
    assert "SESSIONSECRET9" not in caplog.text and "KEYSECRET8" not in caplog.text


class _QuotingApp:
    """An application whose every answer is a bug that quotes the request's credentials in
    its error, as ``int()`` of a bad value or a ``KeyError`` of a cookie does."""

    def handle(self, req: Any) -> Any:
        raise ValueError(
            f"cannot use session {req.param('bsession')!r}, "
            f"cookie {req.headers.get('cookie')!r}, auth {req.headers.get('authorization')!r}"
        )

    def route_name(self, req: Any) -> str:
        return "json"


@pytest.mark.parametrize("crashes", ["application", "route handler"])
def test_a_crash_whose_error_quotes_credentials_logs_none_of_them(
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    crashes: str,
) -> None:
    """A crash whose error (in the logged traceback) quotes the request's session key,
    session cookie or HTTP Basic password shows each as REDACTED, as the harvester's own
    tracebacks do (the target alone was redacted: the traceback kept them in clear)."""
    if crashes == "application":
        emu = make_emulator(app=_QuotingApp())
    else:
        from harvester.emulator.app import App

        monkeypatch.setattr(App, "_handle", _QuotingApp.handle)
        emu = make_emulator(preset="demo")
    answer = httpx.get(
        emu.base_url + "/api/v0/m/images/?bsession=SESSION%2FSECRET9&limit=2",
        headers={"Cookie": "sessionid=COOKIESECRET7; lang=en"},
        auth=("alice", "PASSSECRET6"),
        timeout=5,
    )
    assert answer.status_code == 500
    crashed = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(crashed) == 1, caplog.text
    assert "ValueError: cannot use session" in caplog.text  # the traceback is kept
    assert "REDACTED" in caplog.text
    for secret in ("SESSION/SECRET9", "SESSION%2FSECRET9", "COOKIESECRET7", "PASSSECRET6"):
        assert secret not in caplog.text, caplog.text
    basic = "YWxpY2U6UEFTU1NFQ1JFVDY="  # base64 of alice:PASSSECRET6, as sent
    assert basic not in caplog.text
