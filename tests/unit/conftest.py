"""Fixtures for unit tests: a tiny scripted HTTP/1.1 server on a loopback socket.

The emulator answers like IDR; this server answers exactly what a test scripts
(status sequences, Retry-After, truncated bodies, resets, slow answers, HTML
with 200), which is what transport edge cases need. It runs its own event loop
in a thread, like the emulator, so the client under test has the test's loop
to itself. It also measures what a polite client must respect: peak requests
in flight and peak arrivals in any one-second window.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from harvester import retry


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio only (trio is installed but not a target)."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _zero_waits() -> Iterator[None]:
    """Retries do not sleep in unit tests unless a test turns waits back on."""
    with retry.zero_waits():
        yield


@dataclass
class Req:
    """One request as the scripted server saw it."""

    method: str
    target: str
    headers: dict[str, str]
    arrived: float
    index: int
    connection: int = 0


@dataclass
class Reply:
    """What the scripted server answers.

    ``truncate`` sends only that many body bytes (with the full Content-Length)
    and closes; ``reset`` aborts the connection (RST) before answering;
    ``delay`` sleeps before answering; ``content_length`` overrides the header;
    ``close`` closes the connection after a complete answer (no keep-alive).
    """

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/octet-stream"
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    truncate: int | None = None
    reset: bool = False
    content_length: int | None = None
    close: bool = False
    reason: str | None = None  # the status line's reason phrase (None: the usual one)


Handler = Callable[[Req], Reply]

_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ScriptServer:
    """An HTTP/1.1 keep-alive server whose answers are scripted by ``handler``.

    ``server.Reply`` is :class:`Reply`, so tests need not import this module.
    """

    Reply = Reply

    def __init__(self) -> None:
        self.handler: Handler = lambda req: Reply(body=b"ok", content_type="text/plain")
        self.requests: list[Req] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start serving in the background thread."""
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("script server did not start")

    def stop(self) -> None:
        """Stop the server and its thread."""

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def script(self, *replies: Reply) -> None:
        """Answer the given replies in order, repeating the last one forever."""
        queue = list(replies)

        def handler(req: Req) -> Reply:
            return queue.pop(0) if len(queue) > 1 else queue[0]

        self.handler = handler

    def peak_rate(self, window: float = 1.0) -> int:
        """Most arrivals in any closed window of ``window`` seconds."""
        times = sorted(r.arrived for r in self.requests)
        best = 0
        start = 0
        for end, t in enumerate(times):
            while t - times[start] > window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def boot() -> None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

        self._loop.run_until_complete(boot())
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        try:
            first = await reader.read(1)
            if first == b"\x16":  # a TLS ClientHello on a plain port: answer like nginx
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            while True:
                try:
                    head = first + await reader.readuntil(b"\r\n\r\n")
                    first = b""
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                with self._lock:
                    req = Req(method, target, headers, time.monotonic(), len(self.requests))
                    req.connection = connection
                    self.requests.append(req)
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                try:
                    keep = await self._answer(req, writer)
                finally:
                    self.in_flight -= 1
                if not keep:
                    return
        finally:
            if not writer.is_closing():
                writer.close()

    async def _answer(self, req: Req, writer: asyncio.StreamWriter) -> bool:
        reply = self.handler(req)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.reset:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        length = len(reply.body) if reply.content_length is None else reply.content_length
        reason = _REASONS.get(reply.status, "Whatever") if reply.reason is None else reply.reason
        lines = [f"HTTP/1.1 {reply.status} {reason}"]
        if reply.content_type is not None:
            lines.append(f"Content-Type: {reply.content_type}")
        lines.append(f"Content-Length: {length}")
        lines += [f"{name}: {value}" for name, value in reply.headers]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = reply.body if reply.truncate is None else reply.body[: reply.truncate]
        writer.write(head + (body if req.method != "HEAD" else b""))
        await writer.drain()
        if reply.truncate is not None or reply.content_length is not None or reply.close:
            writer.close()
            return False
        return True


@pytest.fixture
def server() -> Iterator[ScriptServer]:
    """A running scripted HTTP server (stopped after the test)."""
    srv = ScriptServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
