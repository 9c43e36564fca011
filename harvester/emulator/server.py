"""The emulator's HTTP/1.1 server: an ``asyncio.Protocol`` around an application.

Why a hand-written protocol rather than uvicorn or h11: the emulator must be
fast enough never to be a harvester benchmark's bottleneck (>= 3,000 small
requests/s on two cores), and it must misbehave on purpose at the byte level
(reset a connection mid-body, announce more bytes than it sends, trickle a
body). Owning the socket makes both simple; the HTTP subset a harvester uses
(request line, headers, Content-Length bodies, keep-alive, pipelining) is small.

The application is any object with ``handle(Request) -> Response`` (see
``http.py``); it runs synchronously on the event loop. Latency is applied with
``loop.call_later``, so slow answers never block other connections. Paths under
``/__emulator__/`` are the control plane (stats, reset): never faulted, never
counted.

TLS is optional (``ssl_context=``): asyncio's own TLS layer wraps the same
protocol, so every behaviour and fault above is the same over HTTPS (IDR is
reached over HTTPS; the harvester's TLS path deserves the same tests as its
plain one). A connection is counted once its TLS handshake has completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl, unquote

from harvester.emulator.faults import TRICKLE_PIECES, Decision, FaultInjector, FaultSpec
from harvester.emulator.gates import Gates, GateTimeout
from harvester.emulator.http import Request, Response, Route, logged_crash, shown_target
from harvester.emulator.stats import Stats

__all__ = ["Application", "EmulatorServer", "CONTROL_PREFIX"]

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/__emulator__/"
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_PIPELINED = 64
KEEPALIVE_TIMEOUT_S = 75.0
RESET_DELAY_S = 0.02
#: How long a TLS close waits for the client's close_notify before dropping the
#: socket. asyncio waits 30 s by default; front ends like nginx send their
#: close_notify and close at once, so a closed keep-alive connection is gone
#: (and no longer counted as open) promptly.
TLS_SHUTDOWN_TIMEOUT_S = 1.0
#: Seconds :meth:`EmulatorServer.close` keeps dropping connections until none is open.
CLOSE_WAIT_S = 1.0

_REASONS = {status.value: status.phrase for status in HTTPStatus}


class Application(Protocol):
    """What the server serves: H2's ``App`` or any test double."""

    def handle(self, req: Request) -> Response: ...


class _DateCache:
    """The ``Date`` header value, formatted once per second."""

    __slots__ = ("second", "value")

    def __init__(self) -> None:
        self.second = -1
        self.value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.value = formatdate(now, usegmt=True).encode("ascii")
        return self.value


_DATE = _DateCache()


def _fault_page(status: int, title: str, text: str = "") -> bytes:
    """An nginx-style HTML error page (what IDR's proxy sends for 5xx/429)."""
    body = f"<center><h1>{status} {title}</h1></center>\r\n"
    if text:
        body += f"<p>{text}</p>\r\n"
    return (
        f"<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n{body}"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


MAINTENANCE_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>IDR maintenance</title></head>\n<body>\n"
    b"<h1>The Image Data Resource is undergoing maintenance</h1>\n"
    b"<p>Please try again later.</p>\n</body></html>\n"
)
HTML200_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Error</title></head>\n<body>\n"
    b"<h1>Something went wrong</h1>\n<p>An error occurred while serving your request.</p>\n"
    b"</body></html>\n"
)


def fault_response(kind: str, retry_after: str | None) -> Response:
    """The answer the server sends instead of the application's for ``kind``."""
    html = "text/html"
    if kind == "maintenance":
        headers = [("Retry-After", retry_after)] if retry_after else []
        return Response(503, MAINTENANCE_PAGE, html, headers)
    if kind in ("429", "ratelimit"):
        headers = [("Retry-After", retry_after or "1")]
        return Response(429, _fault_page(429, "Too Many Requests"), html, headers)
    if kind == "html200":
        return Response(200, HTML200_PAGE, "text/html; charset=utf-8")
    status = int(kind)
    return Response(status, _fault_page(status, _REASONS.get(status, "Error")), html)


#: ``bytes.translate`` table inverting every byte (the ``corrupt`` fault).
_INVERTED = bytes(255 - i for i in range(256))


#: What the ``trailer`` fault appends to a body (a server's or a proxy's stray newline).
TRAILER = b"\r\n"


def corrupted(resp: Response) -> Response:
    """``resp`` with the middle third of its body inverted (the ``corrupt`` fault).

    The length, the first and the last bytes stay: a PNG keeps its header (size) and
    trailer, so only decoding its pixels shows the damage.
    """
    body = resp.body
    third = len(body) // 3
    middle = body[third : 2 * third].translate(_INVERTED)
    return replace(resp, body=body[:third] + middle + body[2 * third :])


class _Parsed:
    """One request off the wire, before the server turns it into a ``Request``."""

    __slots__ = ("method", "target", "version", "headers", "body")

    def __init__(
        self, method: str, target: str, version: str, headers: dict[str, str], body: bytes
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body


class _BadRequest(Exception):
    pass


class _Connection(asyncio.Protocol):
    """One client connection: parses requests and answers them in order."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.client = "127.0.0.1"
        self.buffer = bytearray()
        self.pending: deque[_Parsed] = deque()
        self.busy = False
        self.closing = False
        self.paused = False
        self.timer: asyncio.TimerHandle | None = None
        self.idle: asyncio.TimerHandle | None = None
        # (route, status, path, fault, target) of the request in flight, for connection_lost.
        self.active: tuple[str, int, str, str | None, str] | None = None

    # -- asyncio callbacks ------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self.client = str(peer[0])
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not a TCP socket
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self)
        self.server.connections_accepted += 1
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.connections.discard(self)
        for handle in (self.timer, self.idle):
            if handle is not None:
                handle.cancel()
        self.timer = self.idle = None
        if self.active is not None and self.active[3] is None:
            # The client left before its answer was complete (its timeout, or ours).
            self.active = (*self.active[:3], "client_closed", self.active[4])
        self._finish_active()
        self.pending.clear()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.buffer += data
        try:
            self._parse()
        except _BadRequest as exc:
            self._send_error(400, str(exc))
            return
        if not self.busy:
            self._next()

    # -- parsing ------------------------------------------------------------------
    def _parse(self) -> None:
        buf = self.buffer
        while buf:
            end = buf.find(b"\r\n\r\n")
            if not _may_start_request(buf):
                raise _BadRequest("malformed request line")
            if end < 0:
                if len(buf) > MAX_HEAD_BYTES:
                    raise _BadRequest("request head too large")
                return
            head = bytes(buf[:end]).decode("latin-1")
            lines = head.split("\r\n")
            while lines and not lines[0]:  # tolerate stray CRLF between requests
                lines.pop(0)
            if not lines:
                del buf[: end + 4]
                continue
            parts = lines[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                raise _BadRequest("malformed request line")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep or not name or name != name.strip():
                    raise _BadRequest("malformed header line")
                key = name.lower()
                value = value.strip()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            if "chunked" in headers.get("transfer-encoding", "").lower():
                raise _BadRequest("chunked request bodies are not supported")
            length_text = headers.get("content-length", "0")
            if not length_text.isdigit() or int(length_text) > MAX_BODY_BYTES:
                raise _BadRequest("bad Content-Length")
            length = int(length_text)
            if len(buf) < end + 4 + length:
                return
            body = bytes(buf[end + 4 : end + 4 + length])
            del buf[: end + 4 + length]
            self.pending.append(_Parsed(parts[0], parts[1], parts[2], headers, body))
            if len(self.pending) >= MAX_PIPELINED and self.transport is not None:
                self.transport.pause_reading()
                self.paused = True
                return

    # -- answering ---------------------------------------------------------------
    def _next(self) -> None:
        while self.pending and not self.busy and not self.closing:
            if self.paused and self.transport is not None and len(self.pending) < MAX_PIPELINED:
                self.paused = False
                self.transport.resume_reading()
            self.busy = True
            if self.idle is not None:
                self.idle.cancel()
                self.idle = None
            self._dispatch(self.pending.popleft())
        if not self.busy and not self.closing:
            self._arm_idle()

    def _dispatch(self, parsed: _Parsed) -> None:
        server = self.server
        keep_alive = _keep_alive(parsed)
        req = server.make_request(parsed, self.client)
        if req.path.startswith(CONTROL_PREFIX):
            resp = server.control(req)
            self._write(req.method, resp, keep_alive)
            self._done(keep_alive)
            return
        server.stats.begin(self.client)
        route = server.route_name(req) if server.spec.only_routes else ""
        decision = server.faults.decide(req.path, self.client, route=route)
        kind = decision.kind
        if decision.replaces:
            assert kind is not None
            resp = fault_response(kind, decision.retry_after)
            resp.route = server.route_name(req)
        else:
            if kind == "exception":
                req = _with_inject(req, "imgdata_exception")
            elif kind == "concurrency":
                req = _with_inject(req, "imgdata_concurrency")
            resp = server.call_app(req)
            if kind == "corrupt":
                resp = corrupted(resp)
            elif kind == "trailer":
                resp = replace(resp, body=resp.body + TRAILER)
        if not resp.route:
            resp.route = server.route_name(req)
        self.active = (resp.route, resp.status, req.path, kind, req.raw_path)
        if decision.hold is not None:
            gate = server.gates.get(decision.hold)

            def give_up() -> None:
                page = _fault_page(503, "Gate never released", f"hold:{gate.name}")
                self.active = (resp.route, 503, req.path, "hold", req.raw_path)
                self._after_delay(req.method, Response(503, page, "text/html"), keep_alive, None)

            if gate.hold(
                lambda: self._after_delay(req.method, resp, keep_alive, decision), give_up
            ):
                return
        self._after_delay(req.method, resp, keep_alive, decision)

    def _after_delay(
        self, method: str, resp: Response, keep_alive: bool, decision: Decision | None
    ) -> None:
        """Answer after the decision's latency (None: a held answer given up on, at once)."""
        if self.transport is None or self.closing:
            return
        decision = decision or Decision()
        if decision.delay_s > 0:
            self.timer = self.loop.call_later(
                decision.delay_s, self._answer, method, resp, keep_alive, decision
            )
        else:
            self._answer(method, resp, keep_alive, decision)

    def _answer(self, method: str, resp: Response, keep_alive: bool, decision: Decision) -> None:
        self.timer = None
        if self.transport is None or self.closing:
            return
        kind = decision.kind
        if kind == "reset":
            self._partial(resp, method, reset=True)
        elif kind == "truncate":
            self._partial(resp, method, reset=False)
        elif kind == "drop":
            self._drop()
        elif kind == "trickle":
            self._trickle(resp, method, keep_alive, decision.trickle_delay_s)
        else:
            self._finish_active()
            self._write(method, resp, keep_alive)
            self._done(keep_alive)

    def _finish_active(self) -> None:
        if self.active is not None:
            route, status, path, fault, target = self.active
            self.active = None
            self.server.stats.end(route, status, path, fault, target)

    def _done(self, keep_alive: bool) -> None:
        self.busy = False
        if not keep_alive:
            self.closing = True
            if self.transport is not None:
                self.transport.close()
            return
        if self.pending:
            self._next()
        else:
            self._arm_idle()

    def _write(self, method: str, resp: Response, keep_alive: bool) -> None:
        assert self.transport is not None
        head, body = _serialize(method, resp, keep_alive, len(resp.body))
        if body:
            self.transport.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                self.transport.write(body)
        else:
            self.transport.write(head)

    def _partial(self, resp: Response, method: str, *, reset: bool) -> None:
        """Send the head and half the body, then reset (RST) or close (FIN)."""
        assert self.transport is not None
        body = b"" if method == "HEAD" else resp.body
        head, _ = _serialize(method, resp, False, len(resp.body))
        self._finish_active()
        self.closing = True
        self.transport.write(head + body[: len(body) // 2])
        if reset:
            self.timer = self.loop.call_later(RESET_DELAY_S, self._abort)
        else:
            self.transport.close()

    def _drop(self) -> None:
        """Close the connection (FIN) before any byte of the answer: the client gets no
        status at all, as from a front end dropping the request."""
        assert self.transport is not None
        self._finish_active()
        self.closing = True
        self.transport.close()

    def _abort(self) -> None:
        self.timer = None
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER 0: closing sends RST instead of FIN.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def _trickle(self, resp: Response, method: str, keep_alive: bool, delay: float) -> None:
        assert self.transport is not None
        head, body = _serialize(method, resp, keep_alive, len(resp.body))
        self.transport.write(head)
        if not body:
            self._finish_active()
            self._done(keep_alive)
            return
        size = max(1, -(-len(body) // TRICKLE_PIECES))
        pieces = deque(body[i : i + size] for i in range(0, len(body), size))

        def step() -> None:
            self.timer = None
            if self.transport is None or self.closing:
                return
            piece = pieces.popleft()
            if not pieces:
                self._finish_active()
                self.transport.write(piece)
                self._done(keep_alive)
            else:
                self.transport.write(piece)
                self.timer = self.loop.call_later(delay, step)

        self.timer = self.loop.call_later(delay, step)

    def _send_error(self, status: int, text: str) -> None:
        if self.transport is None:
            return
        self.closing = True
        self.pending.clear()
        body = f"{status} {_REASONS.get(status, '')}: {text}\n".encode()
        resp = Response(status, body, "text/plain; charset=utf-8")
        if not self.busy:
            self._write("GET", resp, False)
        self.transport.close()

    def _arm_idle(self) -> None:
        if self.idle is None and self.transport is not None:
            self.idle = self.loop.call_later(self.server.idle_timeout_s, self._idle_timeout)

    def _idle_timeout(self) -> None:
        self.idle = None
        if not self.busy and self.transport is not None:
            self.closing = True
            self.transport.close()

    def shutdown(self) -> None:
        """Close the connection now (server shutdown)."""
        if self.transport is not None:
            self.transport.abort()


#: The most characters of a method (the longest real one, ``VERSION-CONTROL``, has 15).
MAX_METHOD_CHARS = 20


def _may_start_request(buf: bytearray) -> bool:
    """Can ``buf`` (what a connection sent since its last request) begin a request line?

    Its method so far must be capital letters (or ``-``/``_``), ended by a space once one
    came. Checked before the head is whole, as nginx does: a TLS ClientHello (an
    ``https://`` URL aimed at this plain-HTTP port) never ends a head, and waiting for one
    kept the client until its own timeout (31 s) instead of the 400 that tells it at once.
    """
    start = 0
    while buf.startswith(b"\r\n", start):  # (stray CRLF between requests)
        start += 2
    line = bytes(buf[start : start + MAX_METHOD_CHARS + 1]).split(b"\r\n", 1)[0]
    if line.endswith(b"\r") and start + len(line) == len(buf):  # (its LF still to come)
        line = line[:-1]
    method, space, _rest = line.partition(b" ")
    allowed = all(65 <= c <= 90 or c in b"-_" for c in method)
    if space:
        return bool(method) and allowed
    return allowed and len(method) <= MAX_METHOD_CHARS  # (the rest is checked once whole)


def _keep_alive(parsed: _Parsed) -> bool:
    connection = parsed.headers.get("connection", "").lower()
    if parsed.version == "HTTP/1.0":
        return "keep-alive" in connection
    return "close" not in connection


def _with_inject(req: Request, flag: str) -> Request:
    return Request(
        req.method,
        req.path,
        req.raw_path,
        req.query,
        req.headers,
        req.client,
        req.base_url,
        req.inject | {flag},
    )


def _serialize(method: str, resp: Response, keep_alive: bool, length: int) -> tuple[bytes, bytes]:
    """Status line + headers, and the body to send (none for HEAD, 204, 304)."""
    status = resp.status
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    has_date = False
    for name, value in resp.headers:
        lines.append(f"{name}: {value}")
        if name.lower() == "date":
            has_date = True
    if resp.content_type:
        lines.append(f"Content-Type: {resp.content_type}")
    bodyless = status in (204, 304) or 100 <= status < 200
    if not bodyless:
        lines.append(f"Content-Length: {length}")
    if not keep_alive:
        lines.append("Connection: close")
    head = "\r\n".join(lines).encode("latin-1")
    if not has_date:
        head += b"\r\nDate: " + _DATE.get()
    head += b"\r\n\r\n"
    body = b"" if bodyless or method == "HEAD" else resp.body
    return head, body


class EmulatorServer:
    """Binds a listening socket and serves ``app`` with faults and stats.

    Use from inside a running event loop: ``await server.start()`` then
    ``await server.close()``. ``base_url`` is known once started.

    ``ssl_context`` (a server-side ``ssl.SSLContext`` with its certificate
    chain loaded) serves HTTPS instead of HTTP; ``base_url`` then starts with
    ``https://``. ``idle_timeout_s`` is how long a kept-alive connection may
    sit idle before the server closes it (as a real front end does), so that
    tests can make clients meet closed keep-alive connections.
    """

    def __init__(
        self,
        app: Application,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultSpec | None = None,
        stats: Stats | None = None,
        ssl_context: ssl.SSLContext | None = None,
        idle_timeout_s: float = KEEPALIVE_TIMEOUT_S,
    ) -> None:
        if not idle_timeout_s > 0:
            raise ValueError(f"idle timeout must be > 0 seconds, not {idle_timeout_s!r}")
        self.app = app
        self.host = host
        self.port = port
        self.spec = faults or FaultSpec()
        self.faults = FaultInjector(self.spec)
        #: The ``hold:`` fault's gates, released by the test (``/__emulator__/release/NAME``).
        self.gates = Gates(self.spec.hold_timeout_s)
        self.stats = stats or Stats()
        self.ssl_context = ssl_context
        self.idle_timeout_s = float(idle_timeout_s)
        self.scheme = "https" if ssl_context is not None else "http"
        self.connections: set[_Connection] = set()
        #: Connections accepted (TLS handshake done) since start or the last stats reset.
        self.connections_accepted = 0
        self.base_url = ""
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wildcard = host in ("0.0.0.0", "::", "")
        self._route_name: Callable[[Request], str] | None = _route_namer(app)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "server not started"
        return self._loop

    async def start(self) -> None:
        """Bind and start accepting; raises ``OSError`` if the address is unusable."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            lambda: _Connection(self),
            self.host,
            self.port,
            backlog=1024,
            reuse_address=True,
            ssl=self.ssl_context,
            ssl_shutdown_timeout=TLS_SHUTDOWN_TIMEOUT_S if self.ssl_context else None,
        )
        sockname = self._server.sockets[0].getsockname()
        self.port = int(sockname[1])
        bound = str(sockname[0])
        shown = f"[{bound}]" if ":" in bound else bound
        self.base_url = f"{self.scheme}://{shown}:{self.port}"
        # The fault clock (maintenance windows) starts when we accept connections.
        self.faults = FaultInjector(self.spec)
        self.gates.bind(self._loop)
        logger.info("emulator serving %s", self.base_url)

    async def close(self) -> None:
        """Stop accepting, drop every open connection and wait for the listener to close."""
        if self._server is None:
            return
        # Stop accepting first, and let the connections already accepted be made: on Python
        # 3.11, Server.close() makes the transport of a connection accepted in the same turn
        # fail (Server._attach asserts the server is open), and its socket is left open.
        for listener in self._server.sockets:
            self.loop.remove_reader(listener.fileno())
        for _ in range(3):
            await asyncio.sleep(0)
        self._server.close()
        # Drop every connection, until none is open (1 s at most). Each aborted transport
        # closes its socket in connection_lost, before the loop goes away: a socket left open
        # is a ResourceWarning where the emulator runs in-process (one failed a test).
        deadline = self.loop.time() + CLOSE_WAIT_S
        while True:
            for conn in list(self.connections):
                conn.shutdown()
            for _ in range(3):
                await asyncio.sleep(0)
            if not self.connections or self.loop.time() >= deadline:
                break
            await asyncio.sleep(0.01)
        await self._server.wait_closed()
        self._server = None

    def stats_snapshot(self) -> dict[str, Any]:
        """The stats plus connection counts: what ``/__emulator__/stats`` serves.

        ``connections`` counts connections accepted since the last reset (a
        keep-alive client makes far fewer than its requests);
        ``open_connections`` is how many are open now.
        """
        snapshot = self.stats.snapshot()
        snapshot["connections"] = self.connections_accepted
        snapshot["open_connections"] = len(self.connections)
        return snapshot

    def reset_stats(self) -> None:
        """Zero the stats and the connection count; restart the fault sequence and close
        the ``hold:`` gates again."""
        self.stats.reset()
        self.faults.reset()
        self.gates.rearm()
        self.connections_accepted = 0

    # -- per-request helpers used by connections -----------------------------------
    def make_request(self, parsed: _Parsed, client: str) -> Request:
        target = parsed.target
        if target.startswith(("http://", "https://")):  # absolute-form (proxies)
            slash = target.find("/", target.find("//") + 2)
            target = target[slash:] if slash >= 0 else "/"
        raw_path, _, query = target.partition("?")
        path = unquote(raw_path) if "%" in raw_path else raw_path
        base_url = self.base_url
        if self._wildcard and "host" in parsed.headers:
            base_url = f"{self.scheme}://{parsed.headers['host']}"
        return Request(
            method=parsed.method.upper(),
            path=path,
            raw_path=target,
            query=tuple(parse_qsl(query, keep_blank_values=True)) if query else (),
            headers=parsed.headers,
            client=client,
            base_url=base_url,
        )

    def call_app(self, req: Request) -> Response:
        try:
            return self.app.handle(req)
        except Exception:
            logger.error(
                "emulator application failed on %s %s\n%s",
                req.method,
                shown_target(req.raw_path),
                logged_crash(req),
            )
            return Response(500, b"Internal Server Error\n", "text/plain; charset=utf-8")

    def route_name(self, req: Request) -> str:
        """Stats label for a request the application did not (or could not) name."""
        if self._route_name is not None:
            try:
                name = self._route_name(req)
            except Exception:  # a stats label is never worth a failed request
                name = ""
            if name:
                return name
        return "unrouted"

    def control(self, req: Request) -> Response:
        """The ``/__emulator__/`` control plane: stats, reset and gate release."""
        name = req.path[len(CONTROL_PREFIX) :].strip("/")
        if name.startswith("release/") and req.method == "POST":
            gate = self.gates.get(name[len("release/") :])
            try:
                gate.release()
            except GateTimeout as exc:  # (it gave up on an answer before this release)
                return Response(409, json.dumps({"message": str(exc)}).encode(), "application/json")
            return _json({"released": gate.name, "held": gate.held()})
        if name == "stats" and req.method in ("GET", "HEAD") and req.param("reset") is None:
            return _json(self.stats_snapshot())
        if name == "reset" or (name == "stats" and req.param("reset") is not None):
            self.reset_stats()
            return _json({"reset": True})
        if name == "health":
            return _json({"ok": True, "base_url": self.base_url})
        return Response(404, b'{"message": "unknown control path"}', "application/json")


def _json(obj: Any) -> Response:
    return Response(
        200, json.dumps(obj).encode(), "application/json", [("Cache-Control", "no-store")]
    )


def _route_namer(app: Any) -> Callable[[Request], str] | None:
    """How to label answers the application did not produce (faulted ones).

    Prefers the application's own ``route_name(req) -> str``; else, when it
    exposes its ``routes`` (``list[Route]``), the first route whose pattern
    fullmatches the path (``"404"`` when none does).
    """
    namer = getattr(app, "route_name", None)
    if callable(namer):
        return cast("Callable[[Request], str]", namer)
    routes = getattr(app, "routes", None)
    if isinstance(routes, list) and all(isinstance(r, Route) for r in routes):
        table: list[Route] = routes

        def by_pattern(req: Request) -> str:
            for route in table:
                if route.pattern.fullmatch(req.path):
                    return route.name
            return "404"

        return by_pattern
    return None
