"""The harvester's HTTP client: polite, retrying, validating GETs to one origin.

One :class:`Client` per run holds HTTP/1.1 keep-alive connections to one
origin, as many as the concurrency cap (:mod:`harvester.http1`; httpx only
supplies the verifying TLS context), and adds, per request:

* politeness -- every *attempt* takes a concurrency slot and a rate token
  from the :class:`~harvester.ratelimit.AdaptiveLimiter` and keeps the slot
  until the body is read; overload answers slow the whole run down;
* retries -- the one policy of :mod:`harvester.retry`, honouring Retry-After;
* outages -- with an :class:`~harvester.outage.Outage`, a server down as a whole pauses
  every request (one check of ``api/`` at a time) instead of failing each in turn;
* validation -- a response is returned only if its status is 2xx, its
  Content-Type fits what was expected, its body starts with the right magic
  bytes (or parses as JSON and is not an HTML page), and its length equals
  Content-Length; then the caller's ``check`` runs.

The proxy environment variables are honoured as by curl and urllib
(:func:`proxy_from_environment`, read once per client): an http:// origin is
asked through the proxy in absolute form, an https:// one through a CONNECT
tunnel with TLS to the origin inside; without a proxy a request costs exactly
what it did before (the request head is one formatting either way).

Transport exceptions are translated once, here, into :mod:`harvester.errors`.
Requests never leave the base URL's origin (scheme, host, port): absolute
URLs and redirects elsewhere are refused, so cookies cannot go anywhere else.
Credentials (headers, cookies, secret query parameters) never appear in a
:class:`Fetched`, an error message, a log line or a ``repr``: every URL that
leaves this module goes through :func:`redact_url`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType, TracebackType
from typing import Any
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urljoin, urlsplit

import anyio

from harvester import __version__, urls
from harvester.errors import (
    REDACTED,
    BrokenAnswerError,
    ConfigError,
    FetchError,
    InvalidBodyError,
    OverloadError,
    PermanentError,
    RedirectRefused,
    ServerStatusError,
    TLSError,
    TransientError,
    TransportError,
    redact_base_url,
    redact_loose_url,
    redact_url,
    remember_secrets,
)
from harvester.http1 import (
    BadAnswer,
    ConnectFailed,
    ConnectionLost,
    HTTP1Connection,
    HTTPTimeout,
    TransferError,
    open_connection,
    open_tunnel,
)
from harvester.outage import Outage, shows_server_up
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
from harvester.shell_words import shell_quote
from harvester.text import shown

__all__ = [
    "DEFAULT_USER_AGENT",
    "Client",
    "ClientSettings",
    "ClientStats",
    "Expect",
    "Fetched",
    "Proxy",
    "RetryEvent",
    "check_header_fields",
    "is_http_url",
    "proxy_from_environment",
    "redact_url",
    "set_testing",
    "zero_waits",
]

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
DEFAULT_RATE: float | None = 10.0
DEFAULT_BURST = 1
DEFAULT_TIMEOUT = 30.0
#: Bytes per second an answer must average over each timeout-long window once its first
#: byte has come (0: no minimum). Far below any working link; it ends a server trickling
#: a byte every few seconds, which the idle timeout alone never would.
DEFAULT_MIN_SPEED = 1024.0
DEFAULT_USER_AGENT = f"harvester/{__version__}"
#: Redirect hops followed within one attempt when ``follow_redirects`` is on.
MAX_REDIRECTS = 5
#: Seconds a closing client waits for a TLS server's closure alert before it drops the socket.
CLOSE_WAIT = 0.5
#: Headers sent unless the user overrides them. ``X-Requested-With`` makes
#: OMERO.web (Django) answer a missing login with 403 instead of a redirect to
#: an HTML login page, and 404/500 with short plain bodies instead of pages.
DEFAULT_HEADERS: Mapping[str, str] = MappingProxyType({"X-Requested-With": "XMLHttpRequest"})

_EMPTY: Mapping[str, str] = MappingProxyType({})

#: The hints of a 401 answer to credentials sent: the base URL's (given as --base-url or as
#: base_url in a config file), or an ``Authorization`` header of the config file's. A typo
#: and a token or password that expired (or was changed, revoked) get the same 401, so both
#: are said: "wrong credentials" alone sent a user whose token had expired hunting for a typo.
WRONG_CREDENTIALS_HINT = (
    "check the user and password (or token) in the base URL for a typo (--base-url, or "
    "base_url in the config file; percent-encode an '@', '/', '?', '#' or '%' in them as %40, "
    "%2F, %3F, %23, %25); if they are right as typed, they have expired or been changed: "
    "renew them and give the new ones there"
)
WRONG_HEADER_HINT = (
    "check the Authorization header in the config file's [headers] for a typo (it is sent "
    "instead of a user and password in the base URL); if it is right as typed, its token has "
    "expired or been revoked: renew it and give the new one there"
)
#: What the ``error:`` line of a 401 to credentials sent adds: the two causes it cannot tell.
REFUSED_CAUSES = "mistyped, or expired or changed since they were given"
NO_CREDENTIALS_HINT = (
    "missing credentials: give them in --base-url as https://USER:PASSWORD@HOST/ "
    "(sent as HTTP Basic auth)"
)

# Retryable statuses (issue 3): overload answers slow the run down as well.
_OVERLOAD_STATUSES = frozenset({429, 503, 504})
_SERVER_STATUSES = frozenset({408, 500, 502})

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF


def _ca_variable() -> tuple[str, str] | None:
    """The environment variable httpx takes its CAs from and its value (``SSL_CERT_FILE``
    first, then ``SSL_CERT_DIR``, each when not empty, as httpx reads them), or None:
    certifi's bundle."""
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        value = os.environ.get(name)
        if value:
            return name, value
    return None


def _ssl_context() -> ssl.SSLContext:
    """httpx's verifying TLS context (certifi's CA bundle, SSL_CERT_FILE/SSL_CERT_DIR honoured).

    httpx is imported here, not at module level: plain-http runs (a local
    OMERO.web, the emulator) do not pay its import time at start-up. A CA file that
    cannot be loaded (a path mistyped, a key or DER file) is a bad setting, named: the
    bare ``OSError`` said "error: No such file or directory" and nothing of where.
    """
    import httpx

    try:
        return httpx.create_ssl_context()
    except OSError as exc:  # (ssl.SSLError is one: no certificate in the file)
        name, value = _ca_variable() or ("SSL_CERT_FILE", "")
        raise ConfigError(
            f"{name}={value}: cannot load it as CA certificates ({exc.strerror or exc})",
            hint=f"set {name} to your CA's certificate in PEM (a file with -----BEGIN "
            f"CERTIFICATE-----), or unset it to trust the usual CAs",
        ) from None


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
# What may be sent as a header name (an RFC 9110 token) and value (no line breaks or controls).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")
_COOKIE_PART = re.compile(r"[^\x00-\x20\x7f;,\"\\]*")
# A cookie's name: a part without "=" (``sessionid=KEY`` given as a name is a value pasted in).
_COOKIE_NAME = re.compile(r"[^\x00-\x20\x7f;,\"\\=]*")


class _Slot:
    """One keep-alive connection (opened on first use, replaced when closed or stale).

    ``connecting``: a background task opening the slot's connection ahead of its first
    request (:meth:`_Connections.start_preconnect`); the request waits for it.
    """

    __slots__ = ("connecting", "connection")

    def __init__(self) -> None:
        self.connection: HTTP1Connection | None = None
        self.connecting: asyncio.Task[None] | None = None


class _Connections:
    """HTTP/1.1 keep-alive connections to the base URL's origin, one per slot.

    Each concurrency slot owns one :class:`~harvester.http1.HTTP1Connection`,
    taken from an idle stack (most recently used first, so warm connections
    are reused) for exactly one exchange. The client already caps requests in
    flight, so no pool is needed. A connection is reopened when the server has
    closed it or the last answer left it unusable. The request head is built
    here: the fixed header lines once, only the request line and the cookies
    per request.

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
        min_speed: float = 0.0,
        proxy: Proxy | None = None,
    ) -> None:
        scheme, host, port = origin
        default_port = 443 if scheme == "https" else 80
        # An internationalised host name goes on the wire (and into Host) in its IDNA form.
        self._host = host.encode("idna").decode("ascii") if not host.isascii() else host
        host_header = f"[{self._host}]" if ":" in self._host else self._host
        if port is not None and port != default_port:
            host_header = f"{host_header}:{port}"
        self._port = port or default_port
        self._ssl = _ssl_context() if scheme == "https" else None
        if self._ssl is not None:
            self._ssl.set_alpn_protocols(["http/1.1"])
        base_headers = {
            "Host": host_header,
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
        }
        # Names are case-insensitive: a user's "host" or "user-agent" replaces ours, never
        # goes out beside it (nginx answers a doubled Host with 400).
        merged = {name.lower(): (name, value) for name, value in base_headers.items()}
        for name, value in headers.items():
            merged[name.lower()] = (name, value)
        self._fields = b"".join(
            f"{name}: {value}\r\n".encode("latin-1") for name, value in merged.values()
        )
        # Request line and fixed header lines as one format (method, target, cookie line):
        # the request head costs one formatting per request, with or without a proxy.
        target_prefix = b""
        proxy_fields = b""
        if proxy is not None:
            if proxy.authorization is not None:
                proxy_fields = f"Proxy-Authorization: {proxy.authorization}\r\n".encode("ascii")
            if self._ssl is None:
                # Through an HTTP proxy a request names its origin (absolute form, RFC 9112
                # 3.2.2); the proxy's credentials go with every request, to the proxy only
                # (it removes them before forwarding, RFC 9110 11.7.2).
                target_prefix = f"http://{host_header}".encode("ascii")
                self._fields += proxy_fields
                proxy_fields = b""
            elif "user-agent" in merged:
                # Proxies that filter by client see who is asking for the tunnel.
                name, value = merged["user-agent"]
                proxy_fields = f"{name}: {value}\r\n".encode("latin-1") + proxy_fields
        self._proxy = proxy
        # Over https the proxy sees only the CONNECT request: its fields go there alone.
        self._proxy_fields = proxy_fields
        self._head = (
            b"%s "
            + target_prefix
            + b"%s HTTP/1.1\r\n"
            + self._fields.replace(b"%", b"%%")
            + b"%s\r\n"
        )
        self._timeout = timeout
        self._min_speed = min_speed
        self.cookies: dict[str, str] = dict(cookies)
        self._cookie_line = _cookie_line(self.cookies)
        self._all: list[_Slot] = []
        self._idle: list[_Slot] = [self._make() for _ in range(size)]

    def _make(self) -> _Slot:
        slot = _Slot()
        self._all.append(slot)
        return slot

    async def get(
        self, target: str, on_sent: Callable[[], None] | None = None, method: str = "GET"
    ) -> _Answer:
        """One request (GET unless told) of ``target``, body read; http1 errors propagate."""
        if _UNSAFE_TARGET.search(target):
            target = quote(target, safe=_TARGET_SAFE)
        head = self._head % (method.encode("ascii"), target.encode("ascii"), self._cookie_line)
        idle = self._idle
        # More requests than slots only if a caller bypasses the limiter: grow.
        slot = idle.pop() if idle else self._make()
        try:
            if slot.connecting is not None:
                # Opened ahead of time and not finished yet: wait for it (not cancelling it if
                # this request is cancelled), then use it, or connect as usual if it failed.
                await asyncio.wait((slot.connecting,))
            connection = slot.connection
            if connection is None or not connection.reusable:
                slot.connection = None
                if connection is not None:
                    connection.close()
                connection = slot.connection = await self._open()
            answer = await connection.request(
                head,
                idle_timeout=self._timeout,
                head_request=method == "HEAD",
                on_sent=on_sent,
                min_speed=self._min_speed,
            )
        finally:
            idle.append(slot)
        if answer.set_cookie:
            self._take_cookies(answer.set_cookie)
        raw = answer.body
        body = raw
        encoding = answer.headers.get("content-encoding")
        if encoding and encoding != "identity":
            body = _decode(raw, encoding)
        return _Answer(answer.status, answer.reason, answer.headers, body, len(raw))

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
                if not (_COOKIE_PART.fullmatch(name) and _COOKIE_PART.fullmatch(value)):
                    continue  # would break the Cookie line: never sent back
                self.cookies[name] = value
                changed = True
                log.debug("server set cookie %r (value not shown)", name)
        if changed:
            self._cookie_line = _cookie_line(self.cookies)

    def start_preconnect(self) -> list[asyncio.Task[None]]:
        """Start opening the connection of every slot that has none, in the background.

        A request that takes such a slot waits for its connection instead of opening
        another. A failure is not reported here: the slot stays empty and its request
        connects again and meets (and reports) the error. Returns the tasks started.
        """
        loop = asyncio.get_running_loop()
        tasks = []
        for slot in self._idle:  # not the slots in use: their requests connect them
            if slot.connection is None and slot.connecting is None:
                slot.connecting = loop.create_task(self._preconnect(slot))
                tasks.append(slot.connecting)
        return tasks

    async def preconnect(self) -> int:
        """:meth:`start_preconnect` and wait for it; how many connections were opened."""
        empty = [slot for slot in self._idle if slot.connection is None and slot.connecting is None]
        tasks = self.start_preconnect()
        if tasks:
            await asyncio.wait(tasks)
        return sum(1 for slot in empty if slot.connection is not None)

    async def _open(self) -> HTTP1Connection:
        """A new connection to the origin (TLS for https); http1 errors propagate.

        Through a proxy: a connection to the proxy (http), or a CONNECT tunnel with
        TLS to the origin inside (https). Errors then name the proxy.
        """
        proxy = self._proxy
        if proxy is None:
            return await open_connection(
                self._host, self._port, connect_timeout=self._timeout, ssl_context=self._ssl
            )
        if self._ssl is not None:
            return await open_tunnel(
                (proxy.host, proxy.port),
                self._host,
                self._port,
                connect_timeout=self._timeout,
                ssl_context=self._ssl,
                proxy_fields=self._proxy_fields,
            )
        try:
            return await open_connection(proxy.host, proxy.port, connect_timeout=self._timeout)
        except ConnectFailed as exc:
            raise ConnectFailed(f"proxy {proxy.shown}: {exc}", tls=exc.tls) from None
        except HTTPTimeout as exc:
            raise HTTPTimeout(f"proxy {proxy.shown}: {exc}") from None

    async def _preconnect(self, slot: _Slot) -> None:
        try:
            connection = await self._open()
        except TransferError:
            return
        finally:
            slot.connecting = None
        if slot.connection is None:
            slot.connection = connection
        else:  # cannot happen while a request waits for us; never leak a socket anyway
            connection.close()

    async def aclose(self) -> None:
        pending = [slot.connecting for slot in self._all if slot.connecting is not None]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        closed = []
        for slot in self._all:
            connection, slot.connection = slot.connection, None
            if connection is not None:
                connection.close()
                closed.append(connection)
        # Every socket closed before this returns, so a caller that ends its event loop next
        # leaves none open: TLS ones wait for the server's closure alert, briefly.
        await asyncio.gather(*(c.wait_closed(CLOSE_WAIT) for c in closed))
        if pending:
            # asyncio closes a cancelled connect's socket one loop turn later: let that happen.
            await asyncio.sleep(0)
            await asyncio.sleep(0)


def _cookie_line(cookies: Mapping[str, str]) -> bytes:
    """The ``Cookie:`` header line (with its line end), or nothing without cookies."""
    if not cookies:
        return b""
    pairs = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return f"Cookie: {pairs}\r\n".encode("latin-1")


#: A Content-Encoded body larger than this once decoded is refused: a few kilobytes of gzip
#: can claim gigabytes ("zip bomb"), and OMERO.web's largest JSON answers are megabytes.
MAX_DECODED_BYTES = 256 * 1024 * 1024


def _decode(raw: bytes, encoding: str) -> bytes:
    """Undo a gzip/deflate Content-Encoding (the only ones we advertise)."""
    if not raw:
        return raw  # an empty body labelled gzip (nginx keeps the header; HEAD, 204) is empty
    try:
        codings = [c.strip().lower() for c in encoding.split(",")]
        data = raw
        for coding in reversed(codings):
            if coding in ("gzip", "x-gzip"):
                data = _inflate(data, 16 + zlib.MAX_WBITS)
            elif coding == "deflate":
                try:
                    data = _inflate(data, zlib.MAX_WBITS)
                except zlib.error:
                    data = _inflate(data, -zlib.MAX_WBITS)
            elif coding != "identity":
                raise _UndecodableBody(f"unsupported Content-Encoding {coding!r}")
        return data
    except zlib.error as exc:
        raise _UndecodableBody(f"{encoding} body does not decompress ({exc})") from None


def _inflate(data: bytes, wbits: int) -> bytes:
    """zlib, gzip (every member) or raw deflate, decoded to at most :data:`MAX_DECODED_BYTES`.

    A gzip body may be several members (concatenated gzip files): all are decoded, as
    ``gzip.decompress`` does; bytes after a zlib or raw deflate stream are ignored.
    """
    parts: list[bytes] = []
    size = 0
    while True:
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(data, MAX_DECODED_BYTES + 1 - size)
        size += len(out)
        if size > MAX_DECODED_BYTES:
            raise _UndecodableBody(
                f"body decompresses to more than {MAX_DECODED_BYTES // (1024 * 1024)} MiB"
            )
        if not inflater.eof:
            raise zlib.error("incomplete or truncated stream")
        parts.append(out)
        data = inflater.unused_data
        if not data or wbits != 16 + zlib.MAX_WBITS:
            return parts[0] if len(parts) == 1 else b"".join(parts)


class _UndecodableBody(Exception):
    """A Content-Encoding we cannot undo (turned into InvalidBodyError)."""


@dataclass(frozen=True, slots=True)
class Proxy:
    """The HTTP proxy a run's requests go through (from the environment, see
    :func:`proxy_from_environment`).

    ``shown`` (``host:port``) and ``variable`` (the environment variable it came
    from) are safe to show; ``authorization`` (the ``Proxy-Authorization`` value
    made from the proxy URL's credentials) never is, and the ``repr`` hides it.
    """

    host: str
    port: int
    variable: str
    authorization: str | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        """``host:port``, an IPv6 address in brackets: never the credentials."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


#: Proxy URL schemes understood: a plain-HTTP proxy (CONNECT tunnels for https origins).
_PROXY_SCHEMES = ("http",)


def proxy_from_environment(base_url: str) -> Proxy | None:
    """The proxy for ``base_url``'s scheme from the environment, as urllib chooses it.

    ``urllib.request.getproxies()`` (``http_proxy``/``https_proxy``, then ``all_proxy``;
    lower case winning over upper case) and ``proxy_bypass()`` for ``no_proxy``
    (``*``, host names with their subdomains, ``host:port``); curl, wget, pip and every
    Python HTTP library honour the same variables, and an HPC node or an institutional
    network may reach the internet only that way. A loopback origin is proxied unless
    no_proxy names it, as in urllib and curl. Read once per :class:`Client`, never per
    request. A proxy URL without a scheme is an http:// one (curl, urllib); without a
    port, port 80 (urllib). Other proxy schemes (socks5://, https://) are a
    :class:`ConfigError` naming the variable; the value itself is never repeated (it
    may hold a password).
    """
    if not any(name[-6:].lower() == "_proxy" for name in os.environ):
        # No proxy variable at all (getproxies() reads every NAME_proxy): the usual case
        # costs neither urllib.request's import (~20 ms of start-up) nor a look-up.
        return None
    import urllib.request

    scheme, host, _port = _origin(base_url)
    proxies = urllib.request.getproxies()
    key = scheme if proxies.get(scheme) else "all"
    value = proxies.get(key)
    if not value or not host:
        return None
    netloc = urlsplit(base_url).netloc.rpartition("@")[2]
    if urllib.request.proxy_bypass(netloc) or urllib.request.proxy_bypass(host):
        return None
    variable = _proxy_variable(key, value)
    try:
        parts = urlsplit(value if "://" in value else f"http://{value}")
    except ValueError:  # "Invalid IPv6 URL" (an unclosed "["): a bad URL, not an internal error
        raise ConfigError(
            f"{variable}: the proxy URL cannot be read",
            hint="for example http://proxy.example.org:3128",
        ) from None
    proxy_scheme = parts.scheme.lower()
    if proxy_scheme not in _PROXY_SCHEMES:
        raise ConfigError(
            f"{variable}: {proxy_scheme}:// proxies are not supported, only http:// ones",
            hint=f"set {variable} to an http:// proxy, or add the server to no_proxy",
        )
    if "@" in parts.path + parts.query + parts.fragment:
        # A '/', '?' or '#' in its user or password ended the authority there: the user's
        # first part was taken for the proxy's host and named in every error.
        raise ConfigError(
            f"{variable}: a '/', '?' or '#' in the proxy URL's user or password cuts it short",
            hint="percent-encode them as %2F, %3F, %23 (and an '@' as %40)",
        )
    try:
        proxy_port = parts.port or 80
    except ValueError:
        raise ConfigError(f"{variable}: the proxy URL has an invalid port") from None
    proxy_host = parts.hostname
    if not proxy_host:
        raise ConfigError(
            f"{variable}: the proxy URL names no host",
            hint="for example http://proxy.example.org:3128",
        )
    return Proxy(proxy_host, proxy_port, variable, basic_authorization(parts))


def basic_authorization(parts: SplitResult) -> str | None:
    """The HTTP Basic ``Authorization`` value (RFC 7617) of a URL's ``user:password@``,
    each percent-decoded (a password with ``@`` or ``/`` is given as ``%40``, ``%2F``) and
    sent as UTF-8; None without a user. ``user@`` alone is that user with an empty
    password, as curl sends it. The value is a credential: sent, never shown."""
    if parts.username is None:
        return None
    import base64

    user = unquote(parts.username)
    password = unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _proxy_variable(key: str, value: str) -> str:
    """The name of the environment variable ``getproxies()`` took ``value`` from."""
    wanted = f"{key}_proxy"
    names = [name for name, v in os.environ.items() if name.lower() == wanted and v == value]
    return wanted if wanted in names or not names else names[0]


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
    min_speed: float = DEFAULT_MIN_SPEED
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_cap: float = DEFAULT_BACKOFF_CAP
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    cookies: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    follow_redirects: bool = False
    user_agent: str = DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        if not is_http_url(self.base_url):
            # Without its password, nor any query value (``?sid=``), as the repr shows it.
            shown = redact_base_url(redact_loose_url(self.base_url))
            raise ConfigError(
                f"base URL must be an http(s) URL, got {shown!r}",
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
        # A bool is an int to Python: `timeout=True` would be one second (HarvestConfig
        # refuses it; so does the Python API here).
        if isinstance(self.timeout, bool) or not self.timeout > 0:
            raise ConfigError(f"timeout must be a positive number of seconds, got {self.timeout}")
        if isinstance(self.min_speed, bool) or not 0 <= self.min_speed < float("inf"):
            raise ConfigError(
                f"min_speed must be 0 (no minimum) or more bytes per second, got {self.min_speed}"
            )
        if self.backoff_base < 0 or self.backoff_cap < 0:
            raise ConfigError("backoff_base and backoff_cap must be 0 or more")
        check_header_fields(self.headers, self.cookies, self.user_agent)

    def __repr__(self) -> str:
        hidden_headers = {name: REDACTED for name in self.headers}
        hidden_cookies = {name: REDACTED for name in self.cookies}
        return (
            f"ClientSettings(base_url={redact_base_url(self.base_url)!r}, "
            f"concurrency={self.concurrency}, rate={self.rate}, burst={self.burst}, "
            f"max_retries={self.max_retries}, timeout={self.timeout}, "
            f"min_speed={self.min_speed}, "
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
    the run's politeness); by default each client has its own. ``outage``: the
    run-wide pause while the server is down (:mod:`harvester.outage`); None: none.
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        on_retry: Callable[[RetryEvent], None] | None = None,
        limiter: AdaptiveLimiter | None = None,
        outage: Outage | None = None,
    ) -> None:
        self.settings = settings
        self.outage = outage
        if outage is not None:
            outage.check = self._check_up
            outage.on_resume = self._limits_after_outage
        self._on_retry_hook = on_retry
        #: Has the server (or a proxy before it) answered a request of this client? Until
        #: it has, a timeout is a silent host or a wrong port, not overload (a run's client
        #: is told once the server check got its answer: :func:`harvester.pipeline.probe_server`).
        self.answered = False
        # A query on the base URL (``?bsession=KEY``: OMERO.web's session login) is sent
        # with every request, after the request's own query; it is never shown.
        base, _, self._base_query = settings.base_url.partition("#")[0].partition("?")
        base = base if base.endswith("/") else base + "/"
        self._base = base
        self._origin = _origin(base)
        # Each name=value of that query as sent, and as shown: every value hidden, whatever
        # its name (``?sid=``), as the saved configuration withholds the whole query.
        self._query_shown = [
            (part, f"{part.partition('=')[0]}={REDACTED}")
            for part in self._base_query.split("&")
            if "=" in part and part.partition("=")[2] not in ("", REDACTED)
        ]
        #: The HTTP proxy requests go through (proxy environment variables), or None.
        self.proxy = proxy_from_environment(base)
        self._secrets = _secret_values(settings, self.proxy, self._base_query)
        remember_secrets(self._secrets)  # for a message nobody built to be shown (a bug's)
        if self.proxy is not None and limiter is None:
            # Said once per run: the probe shares the run client's limiter.
            log.debug(
                "requests go through the proxy %s (%s)", self.proxy.shown, self.proxy.variable
            )
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
        headers = {"User-Agent": settings.user_agent, **DEFAULT_HEADERS}
        # The base URL's user:password@ (a proxy in front of OMERO.web asking for HTTP Basic
        # auth): sent with every request, and only ever to this origin, whose connections
        # alone carry it (redirects elsewhere are refused). A user's own Authorization
        # header wins.
        authorization = basic_authorization(urlsplit(base))
        if authorization is not None:
            headers["Authorization"] = authorization
        headers.update(settings.headers)
        header_given = any(name.lower() == "authorization" for name in settings.headers)
        self._authorizes = header_given or authorization is not None
        # A 401's hint names the credentials that were sent: the user's header replaced the
        # URL's, and "check the password in --base-url" sent them to the wrong place.
        self._wrong_hint = WRONG_HEADER_HINT if header_given else WRONG_CREDENTIALS_HINT
        self._connections = _Connections(
            settings.concurrency,
            origin=self._origin,
            headers=headers,
            cookies=settings.cookies,
            timeout=settings.timeout,
            min_speed=settings.min_speed,
            proxy=self.proxy,
        )

    def __repr__(self) -> str:
        return f"Client({self.settings!r})"

    @property
    def authorizes(self) -> bool:
        """Does every request carry an ``Authorization`` (the base URL's ``user:password@``,
        or a header given)? A 401 then refused those credentials, else asked for some."""
        return self._authorizes

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def start_preconnect(self) -> None:
        """Start opening every concurrency slot's connection, in the background.

        For idle time that would otherwise be wasted (the server probe's round
        trip): the first requests then leave at once instead of each waiting for
        its connection, and a request whose slot is still connecting waits for
        that connection rather than opening another. Failures are left for the
        requests to meet and report. Leaving the client cancels what is unfinished.
        """
        self._connections.start_preconnect()

    async def preconnect(self) -> int:
        """:meth:`start_preconnect` and wait for it; how many connections were opened."""
        return await self._connections.preconnect()

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

    def _shown(self, url: str) -> str:
        """``url`` as logs, errors and records show it: :func:`redact_url`, and the base
        URL's query values hidden whatever their names."""
        return self._hidden(redact_url(url))

    def _hidden(self, text: str) -> str:
        """``text`` with each of the base URL's query values hidden (as ``name=REDACTED``)."""
        for sent, hidden in self._query_shown:
            text = text.replace(sent, hidden)
        return text

    def _hide_query(self, error: FetchError) -> None:
        """``error`` without the base URL's query values, in place: its URL, its reason and
        message (a redirect's names where it points, which a front end builds from the
        request, query included), a refused redirect's target."""
        error.url = self._hidden(error.url)
        _rewrite_error(error, self._hidden)
        if isinstance(error, RedirectRefused):
            error.target = self._hidden(error.target)

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
        *,
        verify: Callable[[Fetched], Awaitable[None]] | None = None,
    ) -> Fetched:
        """GET ``path`` (relative to the base URL, query included), validated, with retries.

        Raises :class:`PermanentError` for answers retrying cannot fix and the
        last :class:`TransientError` once retries are exhausted. ``check`` may
        raise :class:`InvalidBodyError` (retried) or :class:`PermanentError`.
        ``verify`` is awaited on each answer that passed ``check``, after its connection
        slot is given back: for a check too costly for the event loop and the slot (a
        region decoded in a worker thread). Its :class:`InvalidBodyError` is retried as a
        ``check``'s is, with the same backoff and within the same ``max_retries``: asking
        again around ``get`` made each decode failure cost a fresh budget, at once.
        """
        url = self._resolve(path)
        outage = self.outage
        if outage is None:
            retries = _retry_flags()

            async def attempt() -> Fetched:
                fetched = await self._attempt(url, expect, check, retry=next(retries))
                return await self._verified(fetched, verify)

            return await self.retry.call(attempt)

        async def attempt_unless_paused(tries: _Tries) -> Fetched:
            await outage.gate()  # no request leaves while the server is down
            fetched = await self._attempt(
                url, expect, check, retry=tries.next_is_retry(), leaving=tries.leaving, hold=outage
            )
            return await self._verified(fetched, verify)

        return await self._through_outage(outage, attempt_unless_paused)

    async def _through_outage(
        self, outage: Outage, attempt: Callable[[_Tries], Awaitable[Fetched]]
    ) -> Fetched:
        """``attempt`` with retries, a run's outage deciding first: a request whose retries a
        server down as a whole used up waits for it (:meth:`~harvester.outage.Outage.held`)
        and is asked again with a fresh retry budget. A Retry-After longer than a retry waits
        (a maintenance page asking for an hour) goes to the outage's check at once
        (``hasty``, :meth:`RetryPolicy.call`); the server up for the others, it is retried as
        any busy answer is, after the longest wait, with the rest of its budget (the tries it
        sent counted). One loop for GET and the OPTIONS probe: the probe sat through 5
        retries of 60 s where a GET had the run pause at once."""
        tries = _Tries()
        # ``tried``: the tries sent of this budget (a hasty failure may come on any of them,
        # after a 503 without Retry-After: counted as one, its budget had a try too many).
        hasty, tried = True, 0

        async def counted() -> Fetched:
            nonlocal tried
            tried += 1
            return await attempt(tries)

        while True:
            try:
                return await self.retry.call(counted, hasty=hasty, tried=tried)
            except TransientError as error:
                if await outage.held(error, tries.last_try):
                    # The server was down and is back: asked again, with a fresh retry budget
                    # (hasty again: a long Retry-After in it goes to the outage first too).
                    tries.flags, hasty, tried = _retry_flags(), True, 0
                    continue
                policy = self.retry
                if not (
                    hasty
                    and tried <= policy.max_retries
                    and policy.asks_too_long(error, hasty=True)
                ):
                    raise
                # Up for the other requests (or its API root): this one's long Retry-After is
                # its own, so it is retried as any busy answer is, after the longest wait, the
                # rest of its budget only.
                hasty = False
                await anyio.sleep(policy.wait_for(tried, error))

    async def _verified(
        self, fetched: Fetched, verify: Callable[[Fetched], Awaitable[None]] | None
    ) -> Fetched:
        """``fetched`` once ``verify`` (if any) accepted it; its error scrubbed as a
        ``check``'s is (it may quote the body)."""
        if verify is not None:
            try:
                await verify(fetched)
            except FetchError as error:
                _scrub_error(error, self._secrets)
                if self._query_shown:
                    self._hide_query(error)
                raise
        return fetched

    async def _check_up(self) -> FetchError | None:
        """One request of the API root, no retries, through the limits but not the outage's
        gate (it is the one request a pause lets through): None if the server answered.

        It takes the next slot freed, ahead of the requests queued for one: behind them, at
        the limits a server's busy answers had cut to one request at 0.6 a second, the check
        that decides a pause left only after an 8 s outage had ended; answered, it failed
        every request held for its verdict, though each had only asked a server down."""
        try:
            api = self._resolve(urls.api_root())
            await self._attempt(api, Expect.ANY, None, learn=False, ahead=True)
        except FetchError as error:
            return error
        return None

    def _limits_after_outage(self) -> str | None:
        """A pause for an outage ended: the limits as before it (see
        :meth:`~harvester.ratelimit.AdaptiveLimiter.forget_outage`); what they are now, if
        they changed (for the log line that says the run goes on)."""
        limiter = self.limiter
        if not limiter.forget_outage():
            return None
        self.stats.current_concurrency = limiter.concurrency
        self.stats.current_rate = limiter.rate
        return f"concurrency {limiter.concurrency}, {limiter.rate_text}"

    async def options(self, path: str) -> Fetched:
        """OPTIONS ``path``, expecting JSON; retried for overload and transport errors only.

        IDR's image-region microservice advertises its limits this way
        (``{"options": {"maxPlaneWidth": 3192, ...}}``); classic OMERO.web
        answers something else (a rendered JPEG, an HTML page, a 404), which
        raises a :class:`PermanentError` at once and lets the caller fall back
        to its defaults: that answer means "no limits here", and asking again
        gets it again. A 429/503/504 (its Retry-After honoured) or a broken or
        timed-out answer is retried as a GET is, and counted in the run's
        retries: one busy answer would otherwise mean the defaults for the
        whole run. The rate limit, the concurrency cap and the outage's pause
        apply as for every request: a probe whose retries a server down as a
        whole used up waits for it (:meth:`~harvester.outage.Outage.held`) and
        is asked again, rather than giving the defaults to the whole run; a
        Retry-After longer than a retry waits (a maintenance page asking for an
        hour) goes to the outage's check at once, as a GET's does
        (:meth:`_through_outage`): the probe sat through 5 retries of 60 s.
        """
        url = self._resolve(path)
        outage = self.outage

        async def attempt(tries: _Tries) -> Fetched:
            try:
                return await self._options_once(
                    url, retry=tries.next_is_retry(), leaving=tries.leaving
                )
            except (OverloadError, TransportError):
                raise
            except TransientError as error:  # not the server's busy answer: no limits here
                raise PermanentError(error.reason, url=error.url, status=error.status) from error

        if outage is None:
            tries = _Tries()
            return await self.retry.call(lambda: attempt(tries))
        return await self._through_outage(outage, attempt)

    async def _options_once(
        self, url: str, *, retry: bool = False, leaving: Callable[[float], None] | None = None
    ) -> Fetched:
        """One OPTIONS of ``url`` (``retry``: a retry, counted when sent; ``leaving``: as
        :meth:`_attempt`'s); a busy answer slows the run as a GET's does, and an answer
        tells the outage that the server is up as a GET's does
        (:meth:`~harvester.outage.Outage.succeeded`)."""
        outage = self.outage
        if outage is not None:
            await outage.gate()
        limiter = self.limiter
        stamp = await limiter.acquire()
        if outage is not None and outage.reason is not None:
            stamp = await self._held_at_limits(outage, stamp)
        sent = time.monotonic()
        if leaving is not None:
            leaving(sent)
        self.stats.in_flight += 1
        try:
            response = await self._send(url, stamp, method="OPTIONS", retry=retry)
            fetched = self._validate(url, response, Expect.JSON)
        except FetchError as error:
            if self._query_shown:  # (as _attempt does: stack.py logs this error)
                self._hide_query(error)
            if self._shows_overload(error) and self._learns(True):
                self._note_overload()
            if outage is not None and shows_server_up(error):
                outage.succeeded(sent)  # (a 404 is the server answering, as for a GET)
            raise
        finally:
            self.stats.in_flight -= 1
            limiter.release(stamp)
        if outage is not None:
            # The server answered: up when this left, as a GET's success tells (without it,
            # a busy answer to a request sent before the probe cost a check of api/).
            outage.succeeded(sent)
        return fetched

    # -- one attempt ---------------------------------------------------------

    def _resolve(self, path: str) -> str:
        if "://" not in path:
            return self._absolute(path)
        if _origin(path) != self._origin:
            raise PermanentError("refusing a request to another host", url=path)
        return path

    async def _attempt(
        self,
        url: str,
        expect: Expect,
        check: Callable[[Fetched], None] | None,
        *,
        learn: bool = True,
        retry: bool = False,
        ahead: bool = False,
        leaving: Callable[[float], None] | None = None,
        hold: Outage | None = None,
    ) -> Fetched:
        """One try of ``url``. ``learn``: report its outcome to the adaptive limiter; not
        for the outage's checks of the API root, whose busy answers measure a server that is
        down, not the run's load (each halved the limits through a maintenance window).
        ``retry``: this try is a retry, counted as one when it is sent.
        ``ahead``: the next slot freed is this try's, before those queued (the checks).
        ``hold``: the run's outage, when this try waits for the end of a pause that began
        while it queued at the limits (:meth:`_held_at_limits`), or while it was out before
        a redirect's hop (:meth:`_hop_held`); None for the checks.

        ``leaving`` hears when the try leaves, past the run's limits: the time
        :meth:`~harvester.outage.Outage.held` compares with the answers of the others, which
        are stamped there too. Stamped before the limits' wait, a try queued behind others
        (``--rate``, ``--concurrency``) counted as older than they: their answers, served
        just before the server went down, made its busy answer look like its own, and it
        failed for good (with ``--max-retries 0``, each request queued as an outage began,
        and the run never paused)."""
        limiter = self.limiter
        stats = self.stats
        stamp = await limiter.acquire(first=ahead)
        if hold is not None and hold.reason is not None:
            stamp = await self._held_at_limits(hold, stamp)
        sent = time.monotonic()
        if leaving is not None:
            leaving(sent)
        stats.in_flight += 1
        holding = True  # the slot of ``stamp`` (given back while a hop waits out a pause)
        try:
            response = await self._send(url, stamp, retry=retry)
            hops = 0
            while 300 <= response.status < 400 and response.status != 304:
                url = self._redirect_target(url, response)
                hops += 1
                if hops > MAX_REDIRECTS:
                    raise PermanentError("too many redirects", url=url, status=response.status)
                hop_stamp = await limiter.acquire_token()
                if hold is not None and hold.reason is not None:
                    # The run paused while this try was out (its redirect answered in the
                    # pause, or its hop waiting for a rate token): the hop waits for the
                    # pause's end as a request queued at the limits does, and leaves then.
                    holding = False  # (given back in the wait: not again if cancelled there)
                    stamp = hop_stamp = await self._hop_held(hold, stamp, hop_stamp)
                    holding = True
                    sent = time.monotonic()
                    if leaving is not None:
                        leaving(sent)
                try:
                    response = await self._send(url, hop_stamp)
                finally:
                    if hop_stamp is not None:
                        hop_stamp.pending = False
            fetched = self._validate(url, response, expect)
            if check is not None:
                try:
                    check(fetched)
                except FetchError as error:
                    # A check quotes the body (imgData's Exception, a Java trace), which
                    # may quote our session key: scrubbed as the server's messages are.
                    _scrub_error(error, self._secrets)
                    raise
        except FetchError as error:
            if self._query_shown:
                self._hide_query(error)
            if self._shows_overload(error) and self._learns(learn):
                self._note_overload()
            if self.outage is not None and shows_server_up(error):
                # A 404 (a stale id) or a 500 is the server answering: it is up, as after
                # a success, so a busy answer meanwhile does not cost a check (outage.held).
                self.outage.succeeded(sent)
            raise
        finally:
            stats.in_flight -= 1
            if holding:
                limiter.release(stamp)
        if learn and limiter.degraded:
            limiter.on_success()
            stats.current_concurrency = limiter.concurrency
            stats.current_rate = limiter.rate
        if self.outage is not None:
            self.outage.succeeded(sent)
        return fetched

    async def _held_at_limits(self, outage: Outage, stamp: Stamp | None) -> Stamp | None:
        """The run paused while this request waited at its limits (for a slot or a rate
        token): give them back, wait for the pause's end as a request at the gate does (its
        checks, its limit, ``--outage-wait``), then take them again; the new stamp.

        The gate before the limits lets no request in while the run is paused, but one
        already queued there was sent once its turn came: a request to a server the run had
        just decided was down (each answered busy, and held afterwards). The slot is given
        back first: the pause's checks take it (with ``--concurrency 1``, the only one).
        """
        limiter = self.limiter
        while outage.reason is not None:
            limiter.release(stamp)
            await outage.gate()
            stamp = await limiter.acquire()
        return stamp

    async def _hop_held(
        self, outage: Outage, stamp: Stamp | None, hop_stamp: Stamp | None
    ) -> Stamp | None:
        """A redirect hop about to leave while the run is paused: wait for the pause's end
        as :meth:`_held_at_limits` does (the slot given back meanwhile: the pause's checks
        may need it), then take the limits again; the new stamp, whose rate token the hop
        leaves with. Its own token, taken for nothing, stands as a start (never sent).

        Only the pause's checks reach a server the run has found down: with redirects
        followed, a hop was sent in the pause (its first request answered with a redirect
        after the pause began, or its token due in the pause), answered busy, and held then.
        """
        if hop_stamp is not None:
            hop_stamp.pending = False
        return await self._held_at_limits(outage, stamp)

    def _note_overload(self) -> None:
        """A busy answer (429/503/504, a timeout): counted, and the limiter told of it."""
        stats = self.stats
        stats.overload_events += 1
        if self.limiter.on_overload():
            stats.slowdowns += 1
            stats.current_concurrency = self.limiter.concurrency
            stats.current_rate = self.limiter.rate

    def _shows_overload(self, error: FetchError) -> bool:
        """Is ``error`` a busy server's (429/503/504, a timeout)? A timeout only once the
        server has answered: before, nothing says it is there at all, and a silent host
        printed "server overloaded: slowing down" above "cannot reach"."""
        if not (isinstance(error, TransientError) and error.overload):
            return False
        return error.status is not None or self.answered

    def _learns(self, learn: bool) -> bool:
        """Does a busy answer now tell the limiter of overload? Not a check's, nor while the
        run is paused (a request in flight when the server went down answers after it)."""
        return learn and (self.outage is None or not self.outage.paused)

    def _sent_hook(self, stamp: Stamp) -> Callable[[], None]:
        """Reports to the limiter when the request head has been written."""
        limiter = self.limiter

        def sent() -> None:
            limiter.sent(stamp)

        return sent

    async def _send(
        self, url: str, stamp: Stamp | None, method: str = "GET", *, retry: bool = False
    ) -> _Answer:
        """One HTTP exchange, body read; transfer errors translated to ours.

        With a rate limit, the stamp of the rate token is refined to the moment
        the request leaves (see :class:`~harvester.ratelimit.Stamp`). ``retry``: the
        request retries a failed one; counted here, as it is sent, with the requests (a
        retry counted when scheduled, then interrupted in its wait, gave "1 request, 1 retry").
        """
        self.stats.requests += 1
        if retry:
            self.stats.retries += 1
        secrets = self._secrets
        on_sent = self._sent_hook(stamp) if stamp is not None else None
        try:
            answer = await self._connections.get(_target_of(url), on_sent, method)
        except HTTPTimeout as exc:
            raise TransportError(
                f"timed out ({_describe(exc, secrets)})", url=url, overload=True
            ) from None
        except ConnectFailed as exc:
            if exc.status == 407 and self.proxy is not None:
                # CONNECT refused for credentials: the same ones get the same answer.
                raise self._proxy_credentials_error(url) from None
            if exc.tls:
                reason = _describe(exc, secrets)
                raise TLSError(f"TLS failure: {reason}", url=url, hint=_tls_hint(reason)) from None
            raise TransportError(f"cannot connect ({_describe(exc, secrets)})", url=url) from None
        except BadAnswer as exc:
            raise TransportError(f"invalid answer ({_describe(exc, secrets)})", url=url) from None
        except ConnectionLost as exc:
            # Resets, and servers closing the connection before the answer was complete.
            raise BrokenAnswerError(
                f"incomplete answer ({_describe(exc, secrets)})", url=url
            ) from None
        except _UndecodableBody as exc:
            raise InvalidBodyError(f"body cannot be decoded ({exc})", url=url) from None
        self.answered = True
        self.stats.bytes_in += answer.raw_length
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s -> %d (%d bytes)", method, self._shown(url), answer.status, answer.raw_length
            )
        return answer

    def _redirect_target(self, url: str, response: _Answer) -> str:
        status = response.status
        location = response.headers.get("location")
        if not location:
            raise PermanentError("redirect without a Location", url=url, status=status)
        target = str(urljoin(url, str(location)))
        if _origin(target) != self._origin:
            raise RedirectRefused(
                f"redirect to another host refused ({redact_url(target)})",
                target=target,
                url=url,
                status=status,
                hint="harvester never follows a redirect off the base URL's host",
            )
        if not self.settings.follow_redirects:
            raise RedirectRefused(
                f"redirect not followed ({redact_url(target)})",
                target=target,
                url=url,
                status=status,
                hint="check the base URL, or allow redirects (follow_redirects)",
            )
        return target

    def _proxy_credentials_error(self, url: str) -> PermanentError:
        """A 407 from the proxy (a request's answer, or a refused CONNECT): not retried.
        Said as missing or as wrong, by whether the proxy URL held any: "give them" to
        whom gave a wrong password sent them looking for where else they go."""
        proxy = self.proxy
        assert proxy is not None
        if proxy.authorization is not None:
            return PermanentError(
                f"proxy {proxy.shown} refused the credentials sent (HTTP 407)",
                url=url,
                status=407,
                hint=f"wrong credentials: check the user and password in {proxy.variable} "
                "(percent-encode an '@', '/', '?', '#' or '%' in them as %40, %2F, %3F, %23, "
                "%25)",
            )
        return PermanentError(
            f"proxy {proxy.shown} asks for credentials (HTTP 407)",
            url=url,
            status=407,
            hint=f"give them in {proxy.variable}: http://USER:PASSWORD@HOST:PORT",
        )

    def _validate(self, url: str, response: _Answer, expect: Expect) -> Fetched:
        status = response.status
        if not 200 <= status < 300:
            if status == 407 and self.proxy is not None:
                # From the proxy, not the server: its credentials are missing or wrong.
                raise self._proxy_credentials_error(url)
            error = _status_error(url, response, self._secrets)
            if status == 401:
                # The server (or an HTTP proxy in front of it) wants HTTP auth: not retried,
                # the same credentials get the same answer; the hint says which are at fault.
                error.hint = self._wrong_hint if self._authorizes else NO_CREDENTIALS_HINT
            raise error
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
            url=self._shown(url),
            status=status,
            content_type=content_type,
            body=body,
            _parsed=parsed,
        )

    def _on_retry(self, event: RetryEvent) -> None:
        # (not counted here: a retry is counted when it is sent, see _send)
        if self._on_retry_hook is not None:
            self._on_retry_hook(event)


# -- helpers (pure) ----------------------------------------------------------


def _retry_flags() -> Iterator[bool]:
    """Whether each call of one request's attempt is a retry: the first is not, the rest are."""
    return itertools.chain((False,), itertools.repeat(True))


@dataclass
class _Tries:
    """One request's tries: whether the next is a retry (counted as one when sent), and when
    the last one left (what :meth:`~harvester.outage.Outage.held` compares with the others'
    answers)."""

    flags: Iterator[bool] = field(default_factory=_retry_flags)
    last_try: float = 0.0

    def next_is_retry(self) -> bool:
        return next(self.flags)

    def leaving(self, sent: float) -> None:
        self.last_try = sent


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


def _secret_values(
    settings: ClientSettings, proxy: Proxy | None, base_query: str
) -> tuple[str, ...]:
    """Values that must be scrubbed from any text we repeat from elsewhere. ``base_query``:
    the base URL's query as the client split it off (sent with every request)."""
    values = list(settings.cookies.values())
    parts = urlsplit(settings.base_url)
    if parts.password:
        values.append(parts.password)  # as typed, percent-encoded or not
    elif parts.username:  # TOKEN@host: the user is the credential (errors._redact_userinfo)
        values += [parts.username, unquote(parts.username)]
    basic = [basic_authorization(parts)]
    if proxy is not None:
        basic.append(proxy.authorization)
    for authorization in basic:
        if authorization is None:
            continue
        import base64

        # The token as sent, and the password decoded (the user, without one): a server or
        # a proxy may echo either.
        token = authorization.removeprefix("Basic ")
        values.append(token)
        user, _, password = base64.b64decode(token).decode().partition(":")
        values.append(password or user)
    # Every header the user adds may carry a credential, whatever its name; a server that
    # echoes an "Authorization: Bearer TOKEN" says the token without its scheme.
    for value in settings.headers.values():
        values.append(value)
        _scheme, space, credentials = value.strip().partition(" ")
        if space:
            values.append(credentials.strip())
    values += [v for _k, v in parse_qsl(base_query, keep_blank_values=True)]
    # As sent in the request line (percent-encoded), which a server may echo back.
    values += [part.partition("=")[2] for part in base_query.split("&")]
    return tuple(v for v in values if len(v) >= 4)


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _tls_hint(reason: str) -> str:
    """What to do about a failed TLS handshake, by its reason.

    A private OMERO.web's certificate is often its institute's CA's, or self-signed: the
    check fails until that CA is trusted, which ``SSL_CERT_FILE`` does (httpx's context
    honours it). A certificate for another name is not fixed by trusting it.
    """
    if "mismatch" in reason:  # "Hostname mismatch" / "IP address mismatch"
        return (
            "the server's certificate is for another name: give --base-url with the host "
            "name the certificate names"
        )
    if "certificate verify failed" in reason:
        trusted = _ca_variable()
        if trusted is not None:  # (the CA given is not the server's: say so, not "set it")
            name, value = trusted
            said = f"a certificate of a CA that {name}={value} does not hold (trusted instead of"
            if name == "SSL_CERT_DIR":  # (OpenSSL looks a CA up there by its hash's name only)
                return (
                    f"{said} the usual CAs): put the CA that issued the server's certificate "
                    f"in it, in PEM, then run: openssl rehash {shell_quote(value)}"
                )
            return (
                f"{said} the usual CAs): set it to the CA that issued the server's certificate, "
                "in PEM (an institute's own, or self-signed; its intermediate CAs too)"
            )
        return (
            "a certificate of a CA this machine does not trust (an institute's own, or "
            "self-signed): trust it with SSL_CERT_FILE=ca.pem (that CA's certificate, PEM) "
            "before the command"
        )
    if _RECORD_LAYER_FAILURE in reason.upper():
        # (OpenSSL 3.2+ says this for a plain-HTTP answer, and for a TLS record it could not
        # read as well: a broken TLS server or a middlebox; so "may", and what else to check)
        return (
            "the server may have answered in plain HTTP, not HTTPS: if so, give its address "
            "with http:// instead of https://; if it does speak HTTPS, its TLS answer was "
            "damaged (check the server, or a proxy or firewall between)"
        )
    if any(said in reason.upper() for said in _PLAIN_HTTP_REASONS):
        # (the handshake got an answer that is no TLS record: the server speaks plain HTTP,
        # as a local emulator or an OMERO.web without TLS does; a certificate is not at fault)
        return (
            "the server answered in plain HTTP, not HTTPS: give its address with http:// "
            "instead of https://"
        )
    return "check the base URL's scheme and the server's certificate"


#: OpenSSL's reasons for a handshake answered by something that is no TLS record (an
#: ``https://`` URL aimed at a plain-HTTP port): 1.1 to 3.1 say the first, later ones may
#: say the second.
_PLAIN_HTTP_REASONS = ("WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG")

#: OpenSSL 3.2+'s reason for a plain-HTTP answer too, but also for any TLS record it could
#: not read: its hint says the plain HTTP "may" be the cause.
_RECORD_LAYER_FAILURE = "RECORD_LAYER_FAILURE"


def _describe(exc: BaseException, secrets: tuple[str, ...]) -> str:
    """A short, credential-free description of a foreign exception: scrubbed as a server's
    echo is (:func:`_scrub_echo`), as it too may quote a request or a secret."""
    return _scrub_echo(str(exc) or type(exc).__name__, secrets)[:300]


def is_http_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL with a host: ``urlsplit`` raises on some text
    (``http://[::1/``: "Invalid IPv6 URL"), ``.port`` on a port out of range or not a number
    (which may be a password's start, ``http://alice:pa/ss@host``): a bad URL, not an
    internal error."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number from 0 to 65535)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_header_fields(
    headers: Mapping[str, str], cookies: Mapping[str, str], user_agent: str | None = None
) -> None:
    """Refuse headers and cookies that cannot go on the wire as given (values never shown).

    A line break in a value would end the header early and start another one
    (header injection); non-Latin-1 text has no HTTP/1.1 encoding. Each error carries its
    setting (``key``): :class:`harvester.config.HarvestConfig` checks them too, so that one
    read from a config file names that file (a user with a secrets file per server could not
    tell which one was at fault).
    """
    extra = () if user_agent is None else (("User-Agent", user_agent),)
    for name, value in (*headers.items(), *extra):
        if not _HEADER_NAME.fullmatch(name):
            raise ConfigError(
                f"headers: {_name_shown(name, _HEADER_NAME)!r} is not a valid header name",
                key="headers",
            )
        if name.lower() in ("content-length", "transfer-encoding"):
            # A GET with a body length makes the server wait for a body: every request times out.
            raise ConfigError(
                f"headers: {name!r} is set by the HTTP layer and cannot be given", key="headers"
            )
        if not _HEADER_VALUE.fullmatch(value) or not _is_latin1(value):
            raise ConfigError(
                f"headers: the value of {name!r} holds a line break, a control character "
                "or non-Latin-1 text",
                key="headers",
            )
    for name, value in cookies.items():
        if not name or not _COOKIE_NAME.fullmatch(name) or not _is_latin1(name):
            raise ConfigError(
                f"cookies: {_name_shown(name, _COOKIE_NAME)!r} is not a valid cookie name",
                key="cookies",
            )
        if not _COOKIE_PART.fullmatch(value) or not _is_latin1(value):
            raise ConfigError(
                f"cookies: the value of {name!r} holds a space, ';', ',', a quote, "
                "a control character or non-Latin-1 text",
                key="cookies",
            )


def _name_shown(name: str, valid: re.Pattern[str]) -> str:
    """A refused header or cookie name as an error shows it: up to the first character that
    cannot be in one, then "…". A value pasted into the name (``Authorization: Bearer T``,
    as curl's -H takes it) would otherwise be printed whole, its token with it."""
    allowed = valid.match(name)
    kept = allowed.group() if allowed else ""
    return name if len(kept) == len(name) else kept + "…"


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


#: The most characters of a server's own explanation of an error that a message shows.
SERVER_MESSAGE_SHOWN = 200


def _server_message(response: _Answer, secrets: tuple[str, ...]) -> str:
    """The server's own short explanation (a JSON ``message`` or a short plain text), if any.

    IDR's image-region microservice explains a 400 in a text/plain body
    (``Requested shape ... > max plane size 3192 * 3192``): that is the reason.
    """
    content_type = response.headers.get("content-type", "")
    if _media_type(content_type) == "text/plain" and 0 < len(response.body) <= 2048:
        text = " ".join(response.body.decode("utf-8", "replace").split())
        return ": " + shown(_scrub_echo(text, secrets), SERVER_MESSAGE_SHOWN) if text else ""
    if "json" not in content_type or len(response.body) > 65536:
        return ""
    try:
        data = json.loads(response.body)
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str):
        return ""
    # (shown: split() leaves an ESC or BEL of the server's in place; escaped, they are inert)
    return ": " + shown(_scrub_echo(" ".join(message.split()), secrets), SERVER_MESSAGE_SHOWN)


def _scrub_echo(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` from the server without our secrets, scrubbed before it is cut short (a
    secret cut in two kept its first part). A server may echo the request it refused
    (``denied /api/?bsession=...``): its URLs are redacted too, so that a secret query
    parameter goes, in whatever spelling it was sent."""
    words = _scrub(text, secrets).split(" ")
    return " ".join(redact_url(word) if "?" in word or "@" in word else word for word in words)


def _scrub_error(error: FetchError, secrets: tuple[str, ...]) -> None:
    """``error`` (its reason and message) without our secrets, in place, if its reason
    quotes one."""
    if _scrub_echo(error.reason, secrets) != error.reason:
        _rewrite_error(error, lambda text: _scrub_echo(text, secrets))


def _rewrite_error(error: FetchError, rewrite: Callable[[str], str]) -> None:
    """``error``'s reason and message through ``rewrite`` (which hides something), in place:
    its class, hint, status and any detail it carries stay. One place that knows where a
    FetchError keeps its text, for the scrubbing of secrets and the hiding of the base URL's
    query alike."""
    error.reason = rewrite(error.reason)
    error.args = (rewrite(str(error)), *error.args[1:])


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
