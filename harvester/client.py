"""The harvester's HTTP client: the only module that imports httpx (and httpcore).

One :class:`Client` per run holds HTTP/1.1 keep-alive connections to one
origin, as many as the concurrency cap, on httpcore (httpx's connection
layer; see :class:`_Connections` for why not ``httpx.AsyncClient``), and adds,
per request:

* politeness -- every *attempt* takes a concurrency slot and a rate token
  from the :class:`~harvester.ratelimit.AdaptiveLimiter` and keeps the slot
  until the body is read; overload answers slow the whole run down;
* retries -- the one policy of :mod:`harvester.retry`, honouring Retry-After;
* validation -- a response is returned only if its status is 2xx, its
  Content-Type fits what was expected, its body starts with the right magic
  bytes (or parses as JSON and is not an HTML page), and its length equals
  Content-Length; then the caller's ``check`` runs.

Transport exceptions are translated once, here, into :mod:`harvester.errors`.
Requests never leave the base URL's origin (scheme, host, port): absolute
URLs and redirects elsewhere are refused, so cookies cannot go anywhere else.
Credentials (headers, cookies, secret query parameters) never appear in a
:class:`Fetched`, an error message, a log line or a ``repr``: every URL that
leaves this module goes through :func:`redact_url`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import re
import ssl
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType, TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote, urljoin, urlsplit

import httpcore

from harvester import __version__
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
    redact_url,
)
from harvester.ratelimit import AdaptiveLimiter, Stamp
from harvester.retry import (
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_CAP,
    DEFAULT_MAX_RETRIES,
    RetryEvent,
    RetryPolicy,
    parse_retry_after,
    set_testing,
    zero_waits,
)

__all__ = [
    "DEFAULT_USER_AGENT",
    "Client",
    "ClientSettings",
    "ClientStats",
    "Expect",
    "Fetched",
    "RetryEvent",
    "redact_url",
    "set_testing",
    "zero_waits",
]

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
DEFAULT_RATE: float | None = 10.0
DEFAULT_BURST = 1
DEFAULT_TIMEOUT = 30.0
DEFAULT_USER_AGENT = f"harvester/{__version__}"
#: Redirect hops followed within one attempt when ``follow_redirects`` is on.
MAX_REDIRECTS = 5
#: Headers sent unless the user overrides them. ``X-Requested-With`` makes
#: OMERO.web (Django) answer a missing login with 403 instead of a redirect to
#: an HTML login page, and 404/500 with short plain bodies instead of pages.
DEFAULT_HEADERS: Mapping[str, str] = MappingProxyType({"X-Requested-With": "XMLHttpRequest"})

_EMPTY: Mapping[str, str] = MappingProxyType({})

# Retryable statuses (issue 3): overload answers slow the run down as well.
_OVERLOAD_STATUSES = frozenset({429, 503, 504})
_SERVER_STATUSES = frozenset({408, 500, 502})

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF


def _skip_httpcore_sniffio_probe() -> None:
    """Stop httpcore from re-importing a missing ``sniffio`` on every request.

    httpcore asks ``sniffio`` which event loop runs each time it creates a lock
    or an event (about ten times per request). When sniffio is not installed
    (anyio 4 no longer needs it) every one of those is a *failed* import that
    searches sys.path, which cost most of a request's CPU time. Without
    sniffio httpcore assumes asyncio anyway, so answer that directly. With
    sniffio installed nothing is changed.
    """
    if importlib.util.find_spec("sniffio") is not None:
        return
    try:
        from httpcore import _synchronization
    except ImportError:  # pragma: no cover - httpcore layout changed
        return
    if callable(getattr(_synchronization, "current_async_library", None)):
        _synchronization.current_async_library = lambda: "asyncio"


_skip_httpcore_sniffio_probe()


def _stop_httpcore_lock_yields() -> None:
    """Make httpcore's uncontended lock acquisitions not yield to the event loop.

    httpcore takes its connection's state lock twice per request (before the
    request and when the response is closed; with its pool, a third lock and
    an event besides). anyio's ``Lock`` yields to the event loop on every
    uncontended acquire, for fairness; here no lock is ever contended (one
    connection per concurrency slot, one request per connection), so each
    yield only delays the request by one turn of a busy event loop: about 3%
    of the wall time of the 10,000-thumbnail benchmark. anyio's own
    ``fast_acquire`` option turns the yield off; a cancellation is still seen
    at the acquire. Without that option (anyio < 4.5) nothing changes.
    """
    try:
        from httpcore import _synchronization
    except ImportError:  # pragma: no cover - httpcore layout changed
        return
    lock_class = getattr(_synchronization, "AsyncLock", None)
    setup = getattr(lock_class, "setup", None)
    if lock_class is None or setup is None or getattr(setup, "_harvester_fast", False):
        return
    try:
        import anyio

        anyio.Lock(fast_acquire=True)
    except TypeError:  # pragma: no cover - anyio < 4.5
        return

    def fast_setup(self: Any) -> None:
        setup(self)
        if getattr(self, "_backend", None) == "asyncio":
            self._anyio_lock = anyio.Lock(fast_acquire=True)

    fast_setup._harvester_fast = True  # type: ignore[attr-defined]
    lock_class.setup = fast_setup


_stop_httpcore_lock_yields()

# Values of the user's secret headers and cookies, so that log lines and
# repeated server messages can be scrubbed of them (see _RedactingFilter).
_KNOWN_SECRETS: set[str] = set()
_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_COOKIE_IN_TEXT = re.compile(
    r"((?:set-)?cookie['\"]?\s*[,:=]\s*b?['\"]?)[^'\"\r\n]*", re.IGNORECASE
)


class _RedactingFilter(logging.Filter):
    """Scrub URLs, cookie headers and known secrets from httpx/httpcore log records.

    httpx logs every request URL at INFO ("HTTP Request: GET <url>") and
    httpcore logs response headers (Set-Cookie included) at DEBUG. Filters run
    only for records that pass the level check, so this costs nothing unless
    such logging is on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "://" in message:
            message = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), message)
        if "ookie" in message or "OOKIE" in message:
            message = _COOKIE_IN_TEXT.sub(lambda m: m.group(1) + "***", message)
        message = _scrub(message, tuple(_KNOWN_SECRETS))
        record.msg = message
        record.args = None
        return True


_LOG_FILTER = _RedactingFilter()
for _name in (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
):
    logging.getLogger(_name).addFilter(_LOG_FILTER)


class _Protocol(asyncio.Protocol):
    """Receives bytes for one plain-HTTP connection (see :class:`_AsyncioBackend`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.chunks: deque[bytes] = deque()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.paused = False

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # let the transport close itself

    def connection_lost(self, exc: BaseException | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        self.resume_writing()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class _AsyncioStream(httpcore.AsyncNetworkStream):
    """A plain TCP stream on asyncio's transport/protocol, for httpcore.

    Replaces httpcore's anyio stream, which opens an anyio cancel scope for
    every read and write, pauses/resumes the socket's reader (two epoll
    syscalls) per read, and answers "is the idle connection readable?" with a
    ``poll`` and a ``getpeername`` syscall per request: together about a
    sixth of a harvest's CPU time at high request rates.
    """

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    # httpcore's stream/backend interface takes timeouts as arguments.
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        protocol = self._protocol
        chunks = protocol.chunks
        if not chunks and not protocol.eof:
            waiter: asyncio.Future[None] = protocol.loop.create_future()
            protocol.waiter = waiter
            timer = protocol.loop.call_later(timeout, _expire, waiter) if timeout else None
            try:
                await waiter
            except TimeoutError:
                raise httpcore.ReadTimeout("read timed out") from None
            finally:
                if timer is not None:
                    timer.cancel()
                protocol.waiter = None
        if not chunks:
            if protocol.error is not None:
                raise httpcore.ReadError(str(protocol.error) or "connection lost")
            return b""
        data = chunks.popleft()
        if len(data) > max_bytes:
            chunks.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if not buffer:
            return
        transport = self._transport
        protocol = self._protocol
        if transport.is_closing() or protocol.error is not None:
            raise httpcore.WriteError("connection closed")
        transport.write(buffer)
        if protocol.paused:
            drained: asyncio.Future[None] = protocol.loop.create_future()
            protocol.drained = drained
            timer = protocol.loop.call_later(timeout, _expire, drained) if timeout else None
            try:
                await drained
            except TimeoutError:
                raise httpcore.WriteTimeout("write timed out") from None
            finally:
                if timer is not None:
                    timer.cancel()

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.UnsupportedProtocol("TLS is served by httpcore's own backend")

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # idle keep-alive connection: did the server close it?
            return bool(self._protocol.chunks) or self._protocol.eof
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        return None


class _AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Plain-TCP connections straight on asyncio; anything else goes to httpcore's default."""

    def __init__(self) -> None:
        self._fallback = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): httpcore's anyio backend
            return await self._fallback.connect_tcp(
                host, port, timeout, local_address, socket_options
            )
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    lambda: _Protocol(loop), host, port, local_addr=local
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connect to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return _AsyncioStream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._fallback.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


_PLAIN_BACKEND = _AsyncioBackend()


def _ssl_context() -> ssl.SSLContext:
    """httpx's verifying TLS context (certifi's CA bundle, SSL_CERT_FILE/SSL_CERT_DIR honoured).

    httpx is imported here, not at module level: plain-http runs (a local
    OMERO.web, the emulator) do not pay its import time at start-up.
    """
    import httpx

    return httpx.create_ssl_context()


def _cookie_header(cookies: Mapping[str, str]) -> bytes:
    return "; ".join(f"{name}={value}" for name, value in cookies.items()).encode("latin-1")


class _Answer:
    """One raw HTTP answer: status, lower-case headers, body (decoded), raw length."""

    __slots__ = ("body", "headers", "raw_length", "reason", "status")

    def __init__(
        self, status: int, reason: str, headers: dict[str, str], body: bytes, raw_length: int
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.raw_length = raw_length


# Request targets go on the wire exactly as urls.py built them; only bytes
# that cannot appear in a request line (space, controls, non-ASCII) are escaped.
_UNSAFE_TARGET = re.compile(r"[^\x21-\x7e]")
_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%") + "%"


class _Slot:
    """One keep-alive connection (opened on first use, replaced when closed or stale)."""

    __slots__ = ("connection",)

    def __init__(self) -> None:
        self.connection: httpcore.AsyncHTTP11Connection | None = None


class _Connections:
    """HTTP/1.1 keep-alive connections to the base URL's origin, one per slot.

    Built on httpcore, httpx's own connection layer: each concurrency slot owns
    one ``httpcore.AsyncHTTP11Connection``, taken from an idle stack (most
    recently used first, so warm connections are reused) for exactly one
    exchange. The client already caps requests in flight, so no pool is
    needed: measured against one ``httpx.AsyncClient`` with a 32-connection
    pool this costs a fifth of the CPU per request (httpcore's pool scans every
    connection, a ``poll`` syscall per idle one, on each request and release,
    and httpx's request/response models, URL merging and ``http.cookiejar``
    add the rest), and against a single-connection httpcore pool per slot
    another third less. A connection is reopened when the server has closed
    it, as httpcore's pool would.

    Cookies: a plain name -> value jar bound to this one origin (OMERO needs
    a single ``Path=/`` session cookie), updated from Set-Cookie answers.
    """

    def __init__(
        self,
        size: int,
        *,
        origin: tuple[str, str, int | None],
        headers: Mapping[str, str],
        cookies: Mapping[str, str],
        timeout: float,
    ) -> None:
        scheme, host, port = origin
        default_port = 443 if scheme == "https" else 80
        host_header = f"[{host}]" if ":" in host else host
        if port is not None and port != default_port:
            host_header = f"{host_header}:{port}"
        self._scheme = scheme.encode("ascii")
        self._host = host.encode("idna") if not host.isascii() else host.encode("ascii")
        self._port = port
        self._origin = httpcore.Origin(self._scheme, self._host, port or default_port)
        self._ssl = _ssl_context() if scheme == "https" else None
        if self._ssl is not None:
            self._ssl.set_alpn_protocols(["http/1.1"])
        self._tls_backend = httpcore.AnyIOBackend()
        base_headers = {"Host": host_header, "Accept": "*/*", "Accept-Encoding": "gzip, deflate"}
        base_headers.update(headers)
        self._headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in base_headers.items()
        ]
        self._timeout = timeout
        self._timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        self.cookies: dict[str, str] = dict(cookies)
        self._cookie_header = _cookie_header(self.cookies)
        self._all: list[_Slot] = []
        self._idle: list[_Slot] = [self._make() for _ in range(size)]

    def _make(self) -> _Slot:
        slot = _Slot()
        self._all.append(slot)
        return slot

    async def _open(self) -> httpcore.AsyncNetworkStream:
        """A new TCP (plain) or TLS stream to the origin; httpcore errors propagate."""
        host = self._host.decode("ascii")
        port = self._origin.port
        if self._ssl is None:
            return await _PLAIN_BACKEND.connect_tcp(host, port, timeout=self._timeout)
        stream = await self._tls_backend.connect_tcp(host, port, timeout=self._timeout)
        try:
            return await stream.start_tls(self._ssl, server_hostname=host, timeout=self._timeout)
        except BaseException:
            await stream.aclose()
            raise

    async def _connection(self, slot: _Slot) -> httpcore.AsyncHTTP11Connection:
        """The slot's connection if it can take a request now, else a new one."""
        connection = slot.connection
        if connection is not None:
            # has_expired(): the server closed the idle connection (it is readable at EOF).
            if connection.is_idle() and not connection.has_expired():
                return connection
            slot.connection = None
            await connection.aclose()
        stream = await self._open()
        connection = httpcore.AsyncHTTP11Connection(origin=self._origin, stream=stream)
        slot.connection = connection
        return connection

    async def get(self, target: str, trace: Any = None, method: str = "GET") -> _Answer:
        """One request (GET unless told) of ``target``, body read; httpcore errors propagate."""
        if _UNSAFE_TARGET.search(target):
            target = quote(target, safe=_TARGET_SAFE)
        headers = self._headers
        if self._cookie_header:
            headers = [*headers, (b"Cookie", self._cookie_header)]
        extensions: dict[str, Any] = {"timeout": self._timeouts}
        if trace is not None:
            extensions["trace"] = trace
        url = httpcore.URL(
            scheme=self._scheme, host=self._host, port=self._port, target=target.encode("ascii")
        )
        request = httpcore.Request(method, url, headers=headers, extensions=extensions)
        idle = self._idle
        # More requests than slots only if a caller bypasses the limiter: grow.
        slot = idle.pop() if idle else self._make()
        try:
            connection = await self._connection(slot)
            response = await connection.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        finally:
            idle.append(slot)
        raw = response.content
        found: dict[str, str] = {}
        set_cookies: list[str] | None = None
        for raw_name, raw_value in response.headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            if name == "set-cookie":
                set_cookies = [*(set_cookies or ()), value]
            elif name in found:
                found[name] = f"{found[name]}, {value}"
            else:
                found[name] = value
        if set_cookies:
            self._take_cookies(set_cookies)
        body = raw
        encoding = found.get("content-encoding")
        if encoding and encoding != "identity":
            body = _decode(raw, encoding)
        reason = response.extensions.get("reason_phrase", b"")
        return _Answer(
            response.status,
            reason.decode("latin-1") if isinstance(reason, bytes) else "",
            found,
            body,
            len(raw),
        )

    def _take_cookies(self, lines: list[str]) -> None:
        changed = False
        for line in lines:
            pair, _, attributes = line.partition(";")
            name, eq, value = pair.partition("=")
            name = name.strip()
            if not eq or not name:
                continue
            value = value.strip().strip('"')
            if not value or re.search(r"max-age\s*=\s*(0|-)", attributes, re.IGNORECASE):
                changed |= self.cookies.pop(name, None) is not None
            elif self.cookies.get(name) != value:
                self.cookies[name] = value
                changed = True
        if changed:
            self._cookie_header = _cookie_header(self.cookies)

    async def aclose(self) -> None:
        for slot in self._all:
            connection, slot.connection = slot.connection, None
            if connection is not None:
                await connection.aclose()


def _decode(raw: bytes, encoding: str) -> bytes:
    """Undo a gzip/deflate Content-Encoding (the only ones we advertise)."""
    try:
        codings = [c.strip().lower() for c in encoding.split(",")]
        data = raw
        for coding in reversed(codings):
            if coding in ("gzip", "x-gzip"):
                data = zlib.decompress(data, 16 + zlib.MAX_WBITS)
            elif coding == "deflate":
                try:
                    data = zlib.decompress(data)
                except zlib.error:
                    data = zlib.decompress(data, -zlib.MAX_WBITS)
            elif coding != "identity":
                raise _UndecodableBody(f"unsupported Content-Encoding {coding!r}")
        return data
    except zlib.error as exc:
        raise _UndecodableBody(f"{encoding} body does not decompress ({exc})") from None


class _UndecodableBody(Exception):
    """A Content-Encoding we cannot undo (turned into InvalidBodyError)."""


class Expect(StrEnum):
    """What a request must return for its body to be kept."""

    JSON = "json"
    JPEG = "jpeg"
    PNG = "png"
    IMAGE = "image"  # JPEG, PNG or TIFF, recognised by magic bytes
    ANY = "any"  # any 2xx body of the announced length


_NOT_PARSED: Any = object()


@dataclass(frozen=True, slots=True)
class Fetched:
    """A validated answer. ``url`` is redacted; ``body`` is exactly what was sent."""

    url: str
    status: int
    content_type: str
    body: bytes
    _parsed: Any = field(default=_NOT_PARSED, repr=False, compare=False)

    def json(self) -> Any:
        """The body parsed as JSON (parsed once, during validation, when JSON was expected)."""
        if self._parsed is not _NOT_PARSED:
            return self._parsed
        return json.loads(self.body)


@dataclass(frozen=True)
class ClientSettings:
    """How to talk to one server. Validated on construction (bad values: ConfigError).

    ``rate=None`` lifts the rate limit. ``headers`` and ``cookies`` may hold
    credentials: they are sent, never shown (the ``repr`` hides their values).
    """

    base_url: str
    concurrency: int = DEFAULT_CONCURRENCY
    rate: float | None = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout: float = DEFAULT_TIMEOUT
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_cap: float = DEFAULT_BACKOFF_CAP
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    cookies: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    follow_redirects: bool = False
    user_agent: str = DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"base URL must be an http(s) URL, got {redact_url(self.base_url)!r}",
                hint="for example --base-url https://idr.openmicroscopy.org",
            )
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.rate is not None and not (self.rate > 0 and self.rate != float("inf")):
            raise ConfigError(
                f"rate must be a positive number of requests per second, got {self.rate}",
                hint="use --rate none to lift the limit",
            )
        if self.burst < 1:
            raise ConfigError(f"burst must be at least 1, got {self.burst}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be 0 or more, got {self.max_retries}")
        if not self.timeout > 0:
            raise ConfigError(f"timeout must be a positive number of seconds, got {self.timeout}")
        if self.backoff_base < 0 or self.backoff_cap < 0:
            raise ConfigError("backoff_base and backoff_cap must be 0 or more")

    def __repr__(self) -> str:
        hidden_headers = {name: "***" for name in self.headers}
        hidden_cookies = {name: "***" for name in self.cookies}
        return (
            f"ClientSettings(base_url={redact_url(self.base_url)!r}, "
            f"concurrency={self.concurrency}, rate={self.rate}, burst={self.burst}, "
            f"max_retries={self.max_retries}, timeout={self.timeout}, "
            f"backoff_base={self.backoff_base}, backoff_cap={self.backoff_cap}, "
            f"headers={hidden_headers}, cookies={hidden_cookies}, "
            f"follow_redirects={self.follow_redirects}, user_agent={self.user_agent!r})"
        )


@dataclass(slots=True)
class ClientStats:
    """Counters for the progress display and the final summary."""

    requests: int = 0  # attempts sent (retries and redirect hops included)
    retries: int = 0
    bytes_in: int = 0
    overload_events: int = 0  # 429/503/504/timeouts seen
    slowdowns: int = 0  # times the adaptive limiter halved the limits
    current_concurrency: int = 0
    current_rate: float | None = None
    in_flight: int = 0


class Client:
    """Polite, retrying, validating GETs against one OMERO.web server.

    Use as ``async with Client(settings) as client: await client.get(...)``.
    ``on_retry`` receives a :class:`RetryEvent` before every retry sleep.
    ``limiter`` shares another client's limits (e.g. a probe counted towards
    the run's politeness); by default each client has its own.
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        on_retry: Callable[[RetryEvent], None] | None = None,
        limiter: AdaptiveLimiter | None = None,
    ) -> None:
        self.settings = settings
        self._on_retry_hook = on_retry
        # A query on the base URL (``?bsession=KEY``: OMERO.web's session login) is sent
        # with every request, after the request's own query; it is never shown.
        base, _, self._base_query = settings.base_url.partition("#")[0].partition("?")
        base = base if base.endswith("/") else base + "/"
        self._base = base
        self._origin = _origin(base)
        self._base_redacted = redact_url(base)
        self._secrets = _secret_values(settings)
        _KNOWN_SECRETS.update(self._secrets)
        self.limiter = (
            limiter
            if limiter is not None
            else AdaptiveLimiter(settings.concurrency, settings.rate, settings.burst)
        )
        self.retry = RetryPolicy(
            max_retries=settings.max_retries,
            backoff_base=settings.backoff_base,
            backoff_cap=settings.backoff_cap,
            on_retry=self._on_retry,
        )
        self.stats = ClientStats(
            current_concurrency=settings.concurrency, current_rate=settings.rate
        )
        headers = {"User-Agent": settings.user_agent, **DEFAULT_HEADERS, **settings.headers}
        self._connections = _Connections(
            settings.concurrency,
            origin=self._origin,
            headers=headers,
            cookies=settings.cookies,
            timeout=settings.timeout,
        )

    def __repr__(self) -> str:
        return f"Client({self.settings!r})"

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection (same as leaving ``async with``)."""
        await self._connections.aclose()

    @property
    def cookies(self) -> Mapping[str, str]:
        """The cookies currently sent (user's and server's); never log the values."""
        return MappingProxyType(self._connections.cookies)

    def url_for(self, path: str) -> str:
        """The absolute, redacted URL of ``path`` (for failure records)."""
        return redact_url(self._base + path.lstrip("/"))

    def _absolute(self, path: str) -> str:
        """``path`` joined to the base URL, the base URL's query appended (if any)."""
        url = self._base + path.lstrip("/")
        if self._base_query:
            url += ("&" if "?" in url else "?") + self._base_query
        return url

    async def get(
        self,
        path: str,
        expect: Expect,
        check: Callable[[Fetched], None] | None = None,
    ) -> Fetched:
        """GET ``path`` (relative to the base URL, query included), validated, with retries.

        Raises :class:`PermanentError` for answers retrying cannot fix and the
        last :class:`TransientError` once retries are exhausted. ``check`` may
        raise :class:`InvalidBodyError` (retried) or :class:`PermanentError`.
        """
        url = self._resolve(path)

        async def attempt() -> Fetched:
            return await self._attempt(url, expect, check)

        return await self.retry.call(attempt)

    async def options(self, path: str) -> Fetched:
        """OPTIONS ``path`` once, expecting JSON; no retries.

        IDR's image-region microservice advertises its limits this way
        (``{"options": {"maxPlaneWidth": 3192, ...}}``); classic OMERO.web
        answers something else, which raises a :class:`FetchError` and lets
        the caller fall back to its defaults. The rate limit and the
        concurrency cap apply as for every request.
        """
        url = self._resolve(path)
        limiter = self.limiter
        stamp = await limiter.acquire()
        self.stats.in_flight += 1
        try:
            response = await self._send(url, stamp, method="OPTIONS")
        finally:
            self.stats.in_flight -= 1
            limiter.release(stamp)
        return self._validate(url, response, Expect.JSON)

    # -- one attempt ---------------------------------------------------------

    def _resolve(self, path: str) -> str:
        if "://" not in path:
            return self._absolute(path)
        if _origin(path) != self._origin:
            raise PermanentError("refusing a request to another host", url=path)
        return path

    async def _attempt(
        self, url: str, expect: Expect, check: Callable[[Fetched], None] | None
    ) -> Fetched:
        limiter = self.limiter
        stats = self.stats
        stamp = await limiter.acquire()
        stats.in_flight += 1
        try:
            response = await self._send(url, stamp)
            hops = 0
            while 300 <= response.status < 400 and response.status != 304:
                url = self._redirect_target(url, response)
                hops += 1
                if hops > MAX_REDIRECTS:
                    raise PermanentError("too many redirects", url=url, status=response.status)
                hop_stamp = await limiter.acquire_token()
                try:
                    response = await self._send(url, hop_stamp)
                finally:
                    if hop_stamp is not None:
                        hop_stamp.pending = False
            fetched = self._validate(url, response, expect)
            if check is not None:
                check(fetched)
        except TransientError as error:
            if error.overload:
                stats.overload_events += 1
                if limiter.on_overload():
                    stats.slowdowns += 1
                    stats.current_concurrency = limiter.concurrency
                    stats.current_rate = limiter.rate
            raise
        finally:
            stats.in_flight -= 1
            limiter.release(stamp)
        if limiter.degraded:
            limiter.on_success()
            stats.current_concurrency = limiter.concurrency
            stats.current_rate = limiter.rate
        return fetched

    def _trace_for(self, stamp: Stamp) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
        """An httpcore trace hook that reports when the request headers are written."""
        limiter = self.limiter

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event == "http11.send_request_headers.complete":
                limiter.sent(stamp)

        return trace

    async def _send(self, url: str, stamp: Stamp | None, method: str = "GET") -> _Answer:
        """One HTTP exchange, body read; httpcore errors translated to ours.

        With a rate limit, the stamp of the rate token is refined to the moment
        the request leaves (see :class:`~harvester.ratelimit.Stamp`).
        """
        self.stats.requests += 1
        secrets = self._secrets
        trace = self._trace_for(stamp) if stamp is not None else None
        try:
            answer = await self._connections.get(_target_of(url), trace, method)
        except httpcore.TimeoutException as exc:
            raise TransportError(
                f"timed out ({_describe(exc, secrets)})", url=url, overload=True
            ) from None
        except httpcore.ConnectError as exc:
            if _is_tls_failure(exc):
                raise TLSError(
                    f"TLS failure: {_describe(exc, secrets)}",
                    url=url,
                    hint="check the base URL's scheme and the server's certificate",
                ) from None
            raise TransportError(f"cannot connect ({_describe(exc, secrets)})", url=url) from None
        except httpcore.RemoteProtocolError as exc:
            raise TransportError(
                f"incomplete answer ({_describe(exc, secrets)})", url=url
            ) from None
        except _UndecodableBody as exc:
            raise InvalidBodyError(f"body cannot be decoded ({exc})", url=url) from None
        except httpcore.UnsupportedProtocol as exc:
            raise PermanentError(f"invalid URL ({_describe(exc, secrets)})", url=url) from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.ProxyError) as exc:
            # read/write errors, resets, proxy errors
            raise TransportError(
                f"connection failed ({_describe(exc, secrets)})", url=url
            ) from None
        self.stats.bytes_in += answer.raw_length
        return answer

    def _redirect_target(self, url: str, response: _Answer) -> str:
        status = response.status
        location = response.headers.get("location")
        if not location:
            raise PermanentError("redirect without a Location", url=url, status=status)
        target = str(urljoin(url, str(location)))
        if _origin(target) != self._origin:
            raise PermanentError(
                f"redirect to another host refused ({redact_url(target)})",
                url=url,
                status=status,
                hint="harvester never follows a redirect off the base URL's host",
            )
        if not self.settings.follow_redirects:
            raise PermanentError(
                f"redirect not followed ({redact_url(target)})",
                url=url,
                status=status,
                hint="check the base URL, or allow redirects (follow_redirects)",
            )
        return target

    def _validate(self, url: str, response: _Answer, expect: Expect) -> Fetched:
        status = response.status
        if not 200 <= status < 300:
            raise _status_error(url, response, self._secrets)
        body = response.body
        headers = response.headers
        length = headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared != response.raw_length:
                raise TransportError(
                    f"truncated body: {response.raw_length} of {length} bytes",
                    url=url,
                    status=status,
                )
        content_type = headers.get("content-type", "")
        parsed: Any = _NOT_PARSED
        if expect is Expect.JSON:
            parsed = _check_json(url, status, content_type, body)
        elif expect is not Expect.ANY:
            _check_image(url, status, content_type, body, expect)
        return Fetched(
            url=redact_url(url), status=status, content_type=content_type, body=body, _parsed=parsed
        )

    def _on_retry(self, event: RetryEvent) -> None:
        self.stats.retries += 1
        if self._on_retry_hook is not None:
            self._on_retry_hook(event)


# -- helpers (pure) ----------------------------------------------------------


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def _target_of(url: str) -> str:
    """Path and query of an absolute URL, as sent in the request line."""
    authority = url.find("://")
    slash = url.find("/", authority + 3 if authority >= 0 else 0)
    target = url[slash:] if slash >= 0 else "/"
    return target.partition("#")[0]


def _secret_values(settings: ClientSettings) -> tuple[str, ...]:
    """Values that must be scrubbed from any text we repeat from elsewhere."""
    values = list(settings.cookies.values())
    # Every header the user adds may carry a credential, whatever its name.
    values += list(settings.headers.values())
    query = settings.base_url.partition("#")[0].partition("?")[2]
    values += [v for _k, v in parse_qsl(query, keep_blank_values=True)]
    return tuple(v for v in values if len(v) >= 4)


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _describe(exc: BaseException, secrets: tuple[str, ...]) -> str:
    """A short, credential-free description of a foreign exception."""
    message = str(exc) or type(exc).__name__
    if "://" in message:
        message = " ".join(redact_url(word) for word in message.split(" "))
    return _scrub(message, secrets)[:300]


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc) or "SSL" in str(exc)


def _server_message(response: _Answer, secrets: tuple[str, ...]) -> str:
    """The server's own short explanation (a JSON ``message`` or a short plain text), if any.

    IDR's image-region microservice explains a 400 in a text/plain body
    (``Requested shape ... > max plane size 3192 * 3192``): that is the reason.
    """
    content_type = response.headers.get("content-type", "")
    if _media_type(content_type) == "text/plain" and 0 < len(response.body) <= 2048:
        text = " ".join(response.body.decode("utf-8", "replace").split())
        return ": " + _scrub(text[:200], secrets) if text else ""
    if "json" not in content_type or len(response.body) > 65536:
        return ""
    try:
        data = json.loads(response.body)
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str):
        return ""
    return ": " + _scrub(" ".join(message.split())[:200], secrets)


def _status_error(url: str, response: _Answer, secrets: tuple[str, ...]) -> FetchError:
    status = response.status
    reason = f"HTTP {status} {response.reason}".rstrip() + _server_message(response, secrets)
    if status in _OVERLOAD_STATUSES:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return OverloadError(reason, url=url, status=status, retry_after=retry_after)
    if status in _SERVER_STATUSES:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return ServerStatusError(reason, url=url, status=status, retry_after=retry_after)
    return PermanentError(reason, url=url, status=status)


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _looks_html(body: bytes) -> bool:
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<?xml"))


def _check_json(url: str, status: int, content_type: str, body: bytes) -> Any:
    media = _media_type(content_type)
    if media == "text/html" or _looks_html(body):
        raise InvalidBodyError(
            f"HTML page with status {status} where JSON was expected", url=url, status=status
        )
    if media and not ("json" in media or "javascript" in media or media == "text/plain"):
        raise InvalidBodyError(
            f"Content-Type {media} where JSON was expected", url=url, status=status
        )
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidBodyError(
            f"JSON does not parse ({type(exc).__name__} at byte {getattr(exc, 'pos', '?')})",
            url=url,
            status=status,
        ) from None


def _check_image(url: str, status: int, content_type: str, body: bytes, expect: Expect) -> None:
    media = _media_type(content_type)
    if media == "text/html" or _looks_html(body):
        raise InvalidBodyError(
            f"HTML page with status {status} where an image was expected", url=url, status=status
        )
    if media and not (media.startswith("image/") or media == "application/octet-stream"):
        raise InvalidBodyError(
            f"Content-Type {media} where an image was expected", url=url, status=status
        )
    if expect is Expect.JPEG:
        ok = body.startswith(_JPEG_MAGIC)
    elif expect is Expect.PNG:
        ok = body.startswith(_PNG_MAGIC)
    else:
        ok = body.startswith((_JPEG_MAGIC, _PNG_MAGIC, *_TIFF_MAGICS))
    if not ok:
        start = body[:8].hex(" ") or "nothing"
        raise InvalidBodyError(
            f"body is not a {expect.value.upper()} image (starts with {start})",
            url=url,
            status=status,
        )
