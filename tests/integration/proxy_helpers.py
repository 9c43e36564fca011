"""A small forwarding HTTP proxy on loopback, for the proxy tests (a module with a unique name).

It does what squid or a corporate proxy does with the two kinds of request a
client sends it, over real sockets on an ephemeral port:

* an absolute-form request (``GET http://host:port/path HTTP/1.1``) is
  forwarded to its origin in origin form, ``Proxy-Authorization`` and
  ``Proxy-Connection`` removed, the answer relayed byte for byte; both the
  client's connection and the one to the origin are kept alive;
* ``CONNECT host:port`` opens a TCP connection to the origin, answers 200 and
  relays bytes both ways blindly (TLS inside: the proxy reads none of it), or
  answers ``refuse_connect`` (e.g. 403) and closes;
* with ``require_auth`` (a ``Proxy-Authorization`` value), any request without
  it is answered 407 Proxy Authentication Required, as squid does.

Everything it saw is recorded (request line, headers with their original
names, tunnels, client connections) for the tests to assert on. It runs its own
asyncio loop on a thread, so an in-process harvest (which runs its own loop)
or a subprocess can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit


@dataclass
class Seen:
    """One request the proxy received: method, target as sent, headers (name -> value)."""

    method: str
    target: str
    headers: dict[str, str]

    def header(self, name: str) -> str | None:
        """The value of ``name`` (case-insensitive), or None."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class ProxyLog:
    """What the proxy saw, appended to from its thread."""

    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    tunnels: int = 0


class ForwardingProxy:
    """``with ForwardingProxy() as proxy: ... proxy.url ... proxy.log``."""

    def __init__(
        self, *, refuse_connect: int | None = None, require_auth: str | None = None
    ) -> None:
        self.refuse_connect = refuse_connect
        self.require_auth = require_auth
        self.log = ProxyLog()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="test-proxy", daemon=True)
        self._error: BaseException | None = None
        # Every stream the proxy opened or accepted, closed and awaited as it stops: closed
        # by the handlers' cancellation alone, some were still open when the loop ended
        # (ResourceWarnings that failed the test under load).
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (add credentials yourself)."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ForwardingProxy:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    # ------------------------------------------------------------ server
    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to __enter__
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            writers = list(self._writers)
            for writer in writers:
                writer.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True),
                    5,
                )

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.log.connections += 1
        self._writers.add(writer)
        upstream: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip()] = value.strip()
                seen = Seen(method, target, headers)
                self.log.requests.append(seen)
                wanted = self.require_auth
                if wanted is not None and seen.header("Proxy-Authorization") != wanted:
                    writer.write(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                        b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
                    )
                    await writer.drain()
                    continue
                if method == "CONNECT":
                    await self._tunnel(target, reader, writer)
                    return
                if not target.startswith("http://"):
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    return
                if not await self._forward(method, target, headers, writer, upstream):
                    return
        finally:
            for _r, w in upstream.values():
                w.close()
            writer.close()

    async def _forward(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        writer: asyncio.StreamWriter,
        upstream: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    ) -> bool:
        """Relay one absolute-form request; False when the client connection must end."""
        parts = urlsplit(target)
        authority = parts.netloc
        if authority not in upstream:
            upstream[authority] = await asyncio.open_connection(parts.hostname, parts.port or 80)
            self._writers.add(upstream[authority][1])
        up_reader, up_writer = upstream[authority]
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        kept = {
            name: value
            for name, value in headers.items()
            if name.lower() not in ("proxy-authorization", "proxy-connection")
        }
        fields = "".join(f"{name}: {value}\r\n" for name, value in kept.items())
        up_writer.write(f"{method} {path} HTTP/1.1\r\n{fields}\r\n".encode("latin-1"))
        try:
            answer_head = await up_reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            del upstream[authority]
            up_writer.close()
            return False
        writer.write(answer_head)
        status = int(answer_head.split(b" ", 2)[1])
        answer = {
            name.strip().lower(): value.strip()
            for name, _, value in (
                line.partition(":") for line in answer_head.decode("latin-1").split("\r\n")[1:]
            )
            if name
        }
        keep = "close" not in answer.get("connection", "").lower()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            pass
        elif "chunked" in answer.get("transfer-encoding", "").lower():
            while True:
                size_line = await up_reader.readuntil(b"\r\n")
                writer.write(size_line)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:
                        trailer = await up_reader.readuntil(b"\r\n")
                        writer.write(trailer)
                        if trailer == b"\r\n":
                            break
                    break
                writer.write(await up_reader.readexactly(size + 2))
        elif "content-length" in answer:
            writer.write(await up_reader.readexactly(int(answer["content-length"])))
        else:
            writer.write(await up_reader.read())
            keep = False
        await writer.drain()
        if not keep:
            del upstream[authority]
            up_writer.close()
        return keep

    async def _tunnel(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self.refuse_connect is not None:
            body = b"tunnel refused by the test proxy"
            writer.write(
                b"HTTP/1.1 %d Refused\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n%s" % (self.refuse_connect, len(body), body)
            )
            await writer.drain()
            return
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        self._writers.add(up_writer)
        self.log.tunnels += 1
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(OSError):
                sink.write_eof()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            up_writer.close()
