"""HTTP/1.1 client connections on asyncio: one request at a time, kept alive.

The harvester's hot path is "ask one small GET, read one answer, ask the next"
on up to ``concurrency`` keep-alive connections to one origin. This module is
that and nothing more: :func:`open_connection` (plain TCP or TLS, through
asyncio's own transports) and :meth:`HTTP1Connection.request`, which writes a
request head the caller built and returns the whole answer.

Why not httpcore (httpx's connection layer, used before 0.1.2): its
``handle_async_request`` runs a dozen coroutine layers, two locks, trace
hooks and h11's event objects and header validation for every exchange, and
parses the answer in the requesting task after a wake-up per read. Here the
answer is parsed in the protocol's ``data_received`` callback as the bytes
arrive, and the waiting task wakes once, when the answer is complete. In the
10,000-thumbnail benchmark that cut the client's CPU per request by about a
third and took it off the critical path between one answer and the next
request (README, "Design choices"). Bulk-transfer tools (curl, aria2) own their
HTTP/1.1 parsers for the same reason.

What an answer may look like (RFC 9112): a status line ``HTTP/1.x NNN
reason``; header lines (obsolete line folding joined, LF-only line ends
accepted, as h11 does); interim 1xx answers skipped; a body framed by
``Transfer-Encoding: chunked`` (trailers read and dropped), by
``Content-Length``, or by the server closing the connection (over TLS only with
its closure alert, RFC 9112 9.8); no body for HEAD, 204 and 304. A connection
is not reused after an answer with doubtful framing (bytes beyond it,
Transfer-Encoding beside Content-Length or in HTTP/1.0). Anything else is a
:class:`BadAnswer`, never a hang: headers and trailers are capped at 64 KiB,
each chunk-size line at 8 KiB, a silent server at the caller's timeout, and a
server trickling bytes (one every few seconds keeps a connection from ever being
silent) at the caller's minimum speed, averaged over each timeout-long window
from the answer's first byte on (curl's ``--speed-limit``/``--speed-time``,
aria2's ``--lowest-speed-limit``; both off by default there).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Callable, Iterator

from harvester.text import shown

__all__ = [
    "MAX_HEAD_BYTES",
    "Answer",
    "BadAnswer",
    "ConnectFailed",
    "ConnectionLost",
    "HTTP1Connection",
    "HTTPTimeout",
    "TransferError",
    "open_connection",
    "open_tunnel",
]

#: Status line plus headers of one answer, at most (h11's default is 16 KiB).
MAX_HEAD_BYTES = 64 * 1024
#: Header lines of one answer, at most.
MAX_HEADERS = 256
#: Interim (1xx) answers before the real one, at most: a server that keeps sending them
#: would otherwise hold a request forever while never going silent for the idle timeout.
MAX_INTERIM_ANSWERS = 16
#: A chunk-size line or a trailer line, at most.
MAX_LINE_BYTES = 8 * 1024
#: Digits of a Content-Length, at most (10**18 bytes is far past any answer; and int()
#: refuses more than 4300 digits with a ValueError that must not escape data_received).
_MAX_LENGTH_DIGITS = 18

_HEAD_END = re.compile(rb"\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: ([^\r\n]*))?\r?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class TransferError(Exception):
    """Base of this module's errors; the message is safe to show (no URL, no header)."""


class ConnectFailed(TransferError):
    """The connection could not be opened (refused, unresolvable, TLS handshake failed)."""

    def __init__(self, message: str, *, tls: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.tls = tls
        #: The status a proxy refused a CONNECT tunnel with (407: it wants credentials).
        self.status = status


class HTTPTimeout(TransferError):
    """Connecting, or waiting for the answer's next bytes, took longer than the timeout.

    Also an answer arriving slower than the minimum speed (:meth:`HTTP1Connection.request`).
    """


class ConnectionLost(TransferError):
    """The connection broke (reset, or closed by the server) before the answer was complete."""


class BadAnswer(TransferError):
    """The bytes that came back are not an HTTP/1.x answer."""


class Answer:
    """One complete answer: status, reason, headers (lower-case names), body as received.
    The reason phrase is as a message shows it (:func:`harvester.text.shown`: escaped, cut).

    Repeated headers are combined with ``", "`` (RFC 9110 5.3) except
    Set-Cookie, whose lines are kept apart in ``set_cookie``. ``body`` is the
    payload with the transfer framing removed but any Content-Encoding still
    applied.
    """

    __slots__ = ("body", "headers", "reason", "set_cookie", "status")

    def __init__(
        self,
        status: int,
        reason: str,
        headers: dict[str, str],
        set_cookie: list[str],
        body: bytes,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.set_cookie = set_cookie
        self.body = body


# Parser phases.
_IDLE = 0
_HEAD = 1
_LENGTH = 2
_CHUNK_SIZE_LINE = 3
_CHUNK_DATA = 4
_CHUNK_END = 5
_TRAILERS = 6
_UNTIL_CLOSE = 7


class HTTP1Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; the answer is parsed as its bytes arrive.

    Not shared: one :meth:`request` at a time (the caller's concurrency slot
    owns the connection). After a failure the connection is closed and
    :attr:`reusable` is False for good.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._phase = _IDLE
        self._waiter: asyncio.Future[Answer] | None = None
        self._closed = False
        #: Set by connection_lost: the socket is closed (see :meth:`wait_closed`).
        self._gone = asyncio.Event()
        self._keep_alive = True
        self._no_body = False
        self._received_any = False
        # The answer being parsed.
        self._status = 0
        self._reason = ""
        self._headers: dict[str, str] = {}
        self._set_cookie: list[str] = []
        self._remaining = 0
        self._chunks: list[bytes] = []
        self._line_budget = 0
        self._head_scanned = 0
        self._interim = 0
        # Inactivity timeout, and the minimum speed over each timeout-long window (the
        # window starts at the answer's first byte, interim 1xx answers not counted: the
        # wait for it is the timeout's job).
        self._timeout = 0.0
        self._last_activity = 0.0
        # Kept armed from one request to the next on a busy connection (see request).
        self._timer: asyncio.TimerHandle | None = None
        self._min_speed = 0.0
        self._window_start: float | None = None
        self._window_bytes = 0

    # -------------------------------------------------------------- state
    @property
    def reusable(self) -> bool:
        """True when the next request may go on this connection."""
        return self._phase == _IDLE and self._keep_alive and not self._closed

    def close(self) -> None:
        """Close the connection now (an answer being awaited fails)."""
        self._cancel_timer()
        if self._phase != _IDLE:
            self._abort()
        else:
            self._closed = True
            if self._transport is not None:
                self._transport.close()
        self._fail(ConnectionLost("connection closed by the client"))

    async def wait_closed(self, within: float) -> None:
        """After :meth:`close`, wait until the socket is closed; past ``within`` seconds, drop it.

        A TLS transport's close() sends its closure alert and closes the socket only once the
        peer's alert comes back (or after 30 s): a caller whose event loop ended first left
        the socket open (a ResourceWarning for each, in a notebook or a test run). Plain TCP
        closes at the next turn of the loop.

        The peer's alert is not waited for: ours has left with close() (nothing of the
        connection's was still to send), and TLS does not ask the side that closes to read
        the answer (RFC 8446 6.1, RFC 5246 7.2.1), so the socket is closed at once. Why:
        that wait was a round trip, idle, at the start of every run over HTTPS (the server
        check's client) and another at its end, after the last image (0.1 s each at a
        100 ms round trip, IDR's from far away).
        """
        transport = self._transport
        if transport is None or self._gone.is_set():
            return
        if _alert_sent(transport):
            transport.abort()
        try:
            await asyncio.wait_for(self._gone.wait(), within)
        except TimeoutError:
            transport.abort()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gone.wait(), within)

    def _tunnelled(self, transport: asyncio.Transport) -> None:
        """Carry on over ``transport`` (TLS inside a proxy's CONNECT tunnel), as a new connection.

        The CONNECT answer was this connection's only exchange with the proxy; what
        it said about keep-alive concerns the proxy, not the origin behind the tunnel.
        """
        self._transport = transport
        self._keep_alive = True
        self._buffer.clear()

    def _abort(self) -> None:
        """Drop the connection at once: after a failure there is nothing to say goodbye to.

        (``close()`` on a TLS transport would wait, in the background, up to 30 s for a
        dead peer's closure alert.)
        """
        self._closed = True
        if self._transport is not None:
            self._transport.abort()

    # -------------------------------------------------------------- request
    async def request(
        self,
        head: bytes,
        *,
        idle_timeout: float,
        head_request: bool = False,
        on_sent: Callable[[], None] | None = None,
        min_speed: float = 0.0,
    ) -> Answer:
        """Write ``head`` (a complete request head, no body) and return the answer.

        ``idle_timeout``: the longest wait for the answer's next bytes.
        ``min_speed``: bytes per second the answer must average over each
        ``idle_timeout``-long window from its first byte on (0: no minimum).
        ``on_sent`` runs once the head is handed to the socket.
        """
        if not self.reusable or self._transport is None:
            raise ConnectionLost("connection is not reusable")
        loop = self._loop
        waiter: asyncio.Future[Answer] = loop.create_future()
        self._waiter = waiter
        self._phase = _HEAD
        self._head_scanned = 0
        self._interim = 0
        self._no_body = head_request
        self._received_any = False
        self._timeout = idle_timeout
        self._min_speed = min_speed
        self._window_start = None  # no byte yet
        self._window_bytes = 0
        now = self._last_activity = loop.time()
        # The timer of the request before stays when it fires no later than this one's
        # would: it then looks at this request, and arms itself again for the rest of the
        # timeout (_check_inactivity). A timer made and cancelled for each request was a
        # few per cent of a thumbnail's CPU time (the event loop's heap of timers too).
        timer = self._timer
        if timer is None or timer.when() > now + idle_timeout:
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(now + idle_timeout, self._check_inactivity)
        self._transport.write(head)
        if on_sent is not None:
            on_sent()
        try:
            return await waiter
        except BaseException:
            # Cancelled (or failed): the answer's remaining bytes would be read as the next
            # answer's, so this connection is finished.
            if self._phase != _IDLE:
                self._abort()
                self._phase = _IDLE
            raise
        finally:
            if not self.reusable:  # (a connection that may take a next request keeps it)
                self._cancel_timer()

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _check_inactivity(self) -> None:
        self._timer = None
        if self._phase == _IDLE:
            return
        now = self._loop.time()
        quiet = now - self._last_activity
        if quiet >= self._timeout:
            self._abort()
            self._fail(HTTPTimeout(f"no answer within {self._timeout:g} s"))
            return
        if self._too_slow(now):
            return
        self._timer = self._loop.call_later(self._timeout - quiet, self._check_inactivity)

    def _too_slow(self, now: float) -> bool:
        """Fail the answer if its last full window averaged less than the minimum speed.

        Checked when the inactivity timer fires, about once per timeout while bytes
        keep coming; each check that passes starts a new window.
        """
        start = self._window_start
        if not self._min_speed or start is None or now - start < self._timeout:
            return False
        elapsed = now - start
        if self._window_bytes >= self._min_speed * elapsed:
            self._window_start = now
            self._window_bytes = 0
            return False
        self._abort()
        self._fail(
            HTTPTimeout(
                f"answer slower than {self._min_speed:g} bytes/s "
                f"({self._window_bytes} bytes in {elapsed:.1f} s)"
            )
        )
        return True

    # -------------------------------------------------------------- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._phase == _IDLE:
            # Bytes nobody asked for: the next answer could not be told apart from them.
            self._keep_alive = False
            return
        self._received_any = True
        now = self._last_activity = self._loop.time()
        if self._window_start is None:
            self._window_start = now
        self._window_bytes += len(data)
        self._buffer += data
        try:
            self._advance()
        except BadAnswer as exc:
            self._abort()
            self._fail(exc)

    def eof_received(self) -> bool:
        if self._phase == _UNTIL_CLOSE and not self._closure_alert_received():
            # RFC 9112 9.8: over TLS an unframed body is complete only with the closure
            # alert; a bare TCP close may be an attacker (or a crash) cutting it short.
            self._closed = True
            self._fail(ConnectionLost("TLS connection closed without close_notify mid-body"))
            return False
        self._at_end(None)
        return False  # let the transport close itself

    def _closure_alert_received(self) -> bool:
        """False only for TLS whose peer closed TCP without sending close_notify.

        asyncio's TLS transport calls eof_received (and then connection_lost(None))
        both after the alert and after a bare TCP close. Once all application data
        has been read, the TLS object answers a read with b"" only when the alert
        arrived; without it, it still wants bytes (SSLWantReadError).
        """
        transport = self._transport
        tls = transport.get_extra_info("ssl_object") if transport is not None else None
        if not isinstance(tls, ssl.SSLObject):
            return True  # plain TCP: the close is the end of the body
        try:
            return tls.read(1) == b""
        except ssl.SSLError:
            return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._gone.set()
        self._at_end(exc)

    def _at_end(self, exc: BaseException | None) -> None:
        self._closed = True
        phase = self._phase
        if phase == _IDLE:
            return
        if phase == _UNTIL_CLOSE and exc is None:
            self._chunks.append(bytes(self._buffer))
            self._buffer.clear()
            self._complete()
            return
        if exc is not None:
            reason = str(exc) or type(exc).__name__
            self._fail(ConnectionLost(f"connection lost ({reason})"))
        elif not self._received_any:
            self._fail(ConnectionLost("server closed the connection without answering"))
        elif phase == _HEAD:
            self._fail(ConnectionLost("server closed the connection in the middle of the headers"))
        elif phase == _LENGTH:
            self._fail(
                ConnectionLost(
                    "server closed the connection after "
                    f"{len(self._buffer)} of {self._remaining} body bytes"
                )
            )
        else:
            self._fail(ConnectionLost("server closed the connection inside the chunked body"))

    # -------------------------------------------------------------- parsing
    def _advance(self) -> None:
        """Parse as far as the buffered bytes allow (called from ``data_received``)."""
        buffer = self._buffer
        while True:
            phase = self._phase
            if phase == _HEAD:
                if not self._parse_head():
                    return
            elif phase == _LENGTH:
                remaining = self._remaining
                if len(buffer) < remaining:
                    return
                # One copy out of the buffer (a slice first would be a second one: tens of
                # MB of transient memory for a big rendered image).
                with memoryview(buffer) as view:
                    self._chunks.append(bytes(view[:remaining]))
                del buffer[:remaining]
                self._complete()
                return
            elif phase == _CHUNK_SIZE_LINE:
                line = self._take_line(trailer=False)
                if line is None:
                    return
                size_text = line.split(b";", 1)[0].strip(b" \t")
                if not _CHUNK_SIZE.fullmatch(size_text):
                    raise BadAnswer("invalid chunk size in a chunked body")
                size = int(size_text, 16)
                if size == 0:
                    self._phase = _TRAILERS
                else:
                    self._remaining = size
                    self._phase = _CHUNK_DATA
            elif phase == _CHUNK_DATA:
                if not buffer:
                    return
                take = min(self._remaining, len(buffer))
                with memoryview(buffer) as view:
                    self._chunks.append(bytes(view[:take]))
                del buffer[:take]
                self._remaining -= take
                if self._remaining:
                    return
                self._phase = _CHUNK_END
            elif phase == _CHUNK_END:
                line = self._take_line(trailer=False)
                if line is None:
                    return
                if line:
                    raise BadAnswer("chunk data longer than its declared size")
                self._phase = _CHUNK_SIZE_LINE
            elif phase == _TRAILERS:
                line = self._take_line(trailer=True)
                if line is None:
                    return
                if not line:
                    self._complete()
                    return
            else:  # _UNTIL_CLOSE: everything up to the end of the connection
                if len(buffer) > 1 << 20:
                    self._chunks.append(bytes(buffer))
                    buffer.clear()
                return

    def _take_line(self, *, trailer: bool) -> bytes | None:
        """One line (without its line end) off the buffer, or None until it is complete.

        Every line is capped at MAX_LINE_BYTES. Only the trailer lines share the
        MAX_HEAD_BYTES budget of a head: chunk-size lines come once per chunk,
        and a big answer streamed in small chunks has thousands of them.
        """
        buffer = self._buffer
        end = buffer.find(b"\n", 0, MAX_LINE_BYTES + 1)
        if end < 0:
            if len(buffer) > MAX_LINE_BYTES:
                raise BadAnswer("line in a chunked body too long")
            return None
        if trailer:
            self._line_budget += end + 1
            if self._line_budget > MAX_HEAD_BYTES:
                raise BadAnswer("chunked body trailers too long")
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        return line[:-1] if line.endswith(b"\r") else line

    def _parse_head(self) -> bool:
        """Status line and headers, once complete; False while more bytes are needed."""
        buffer = self._buffer
        if len(buffer) >= 5 and not buffer.startswith(b"HTTP/"):
            raise BadAnswer("not an HTTP answer")
        # Search only the bytes not searched before (less the 2 an end could straddle):
        # a head trickling in small pieces is not scanned again from its start each time.
        found = _HEAD_END.search(buffer, self._head_scanned)
        if found is None:
            if len(buffer) > MAX_HEAD_BYTES:
                raise BadAnswer(f"answer headers longer than {MAX_HEAD_BYTES // 1024} KiB")
            self._head_scanned = max(0, len(buffer) - 2)
            return False
        self._head_scanned = 0
        if found.start() > MAX_HEAD_BYTES:
            raise BadAnswer(f"answer headers longer than {MAX_HEAD_BYTES // 1024} KiB")
        lines = bytes(buffer[: found.start()]).split(b"\n")
        del buffer[: found.end()]
        status_line = _STATUS_LINE.fullmatch(lines[0])
        if status_line is None:
            raise BadAnswer("invalid status line")
        minor, status_text, reason = status_line.groups()
        status = int(status_text)
        if status < 100:
            raise BadAnswer("invalid status code")
        headers, set_cookie = _parse_fields(lines[1:])
        if status < 200:
            if status == 101:
                raise BadAnswer("unexpected 101 Switching Protocols")
            self._interim += 1
            if self._interim > MAX_INTERIM_ANSWERS:
                raise BadAnswer(f"more than {MAX_INTERIM_ANSWERS} interim (1xx) answers")
            # The speed window starts with the real answer: a server still thinking (102
            # Processing, 103 Early Hints) is the idle timeout's, as one saying nothing is.
            self._window_start = None
            self._window_bytes = 0
            return True  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        self._status = status
        # Escaped as every message escapes the server's words (the phrase is only ever
        # quoted): an ESC or BEL in it reached the terminal raw, in the summary's "failed:"
        # lines and the progress bar of a pause ("HTTP 503 <ESC>[2J...").
        self._reason = shown(reason.decode("latin-1")) if reason else ""
        self._headers = headers
        self._set_cookie = set_cookie
        self._chunks = []
        self._line_budget = 0
        tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        self._keep_alive = "close" not in tokens if minor == b"1" else "keep-alive" in tokens
        if self._no_body or status in (204, 304):
            self._complete()
            return False
        coding = headers.get("transfer-encoding")
        if coding is not None:
            if minor == b"0" or "content-length" in headers:
                # RFC 9112 6.1 and 6.3: Transfer-Encoding in an HTTP/1.0 answer, or with a
                # Content-Length, is faulty framing (response splitting, smuggling): read it
                # by its Transfer-Encoding, but do not send the next request after it.
                self._keep_alive = False
            if coding.rsplit(",", 1)[-1].strip().lower() == "chunked":
                self._phase = _CHUNK_SIZE_LINE
            else:
                self._keep_alive = False
                self._phase = _UNTIL_CLOSE
            return True
        length = headers.get("content-length")
        if length is not None:
            values = {v.strip() for v in length.split(",")}
            if (
                len(values) != 1
                or not (value := values.pop()).isdigit()
                or not value.isascii()
                or len(value) > _MAX_LENGTH_DIGITS
            ):
                raise BadAnswer("invalid Content-Length")
            self._remaining = int(value)
            self._phase = _LENGTH
            return True
        self._keep_alive = False
        self._phase = _UNTIL_CLOSE
        return True

    def _complete(self) -> None:
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        answer = Answer(self._status, self._reason, self._headers, self._set_cookie, body)
        self._chunks = []
        self._phase = _IDLE
        if self._buffer:
            # More bytes than the answer: the server and we disagree on framing.
            self._keep_alive = False
            self._buffer.clear()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def _fail(self, error: TransferError) -> None:
        self._phase = _IDLE
        self._keep_alive = False
        self._buffer.clear()
        self._chunks = []
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


#: Header names met so far, as sent -> checked and in lower case: every answer of a server
#: sends the same few, and the check and the case folding were a tenth of an answer's
#: parsing. At most _FIELD_NAMES_KEPT of them (a server inventing names adds none past it).
_FIELD_NAMES: dict[bytes, str] = {}
_FIELD_NAMES_KEPT = 256


def _alert_sent(transport: asyncio.BaseTransport) -> bool:
    """Whether ``transport`` is TLS, closed, with nothing left to send: its closure alert
    left with close(), and only the peer's answer to it is awaited. (The TLS layer's buffer
    is what this sees; the socket's own takes an idle connection's alert whole at once.)"""
    return (
        transport.get_extra_info("ssl_object") is not None
        and transport.is_closing()
        and isinstance(transport, asyncio.WriteTransport)
        and not transport.get_write_buffer_size()
    )


def _parse_fields(lines: list[bytes]) -> tuple[dict[str, str], list[str]]:
    """Header lines -> (combined lower-case headers, Set-Cookie lines)."""
    if len(lines) > MAX_HEADERS:
        raise BadAnswer(f"more than {MAX_HEADERS} header lines")
    headers: dict[str, str] = {}
    set_cookie: list[str] = []
    last: str | None = None
    for raw in lines:
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if line[:1] in (b" ", b"\t"):
            # Obsolete line folding (RFC 9112 5.2): the line continues the previous value.
            if last is None:
                raise BadAnswer("header continuation line without a header")
            extra = line.strip(b" \t").decode("latin-1")
            if last == "set-cookie":
                set_cookie[-1] = f"{set_cookie[-1]} {extra}"
            else:
                headers[last] = f"{headers[last]} {extra}"
            continue
        name_bytes, colon, value_bytes = line.partition(b":")
        if not colon:
            raise BadAnswer("invalid header line")
        name = _FIELD_NAMES.get(name_bytes)
        if name is None:
            if not _TOKEN.fullmatch(name_bytes):
                raise BadAnswer("invalid header line")
            name = name_bytes.decode("ascii").lower()
            if len(_FIELD_NAMES) < _FIELD_NAMES_KEPT:
                _FIELD_NAMES[name_bytes] = name
        value = value_bytes.strip(b" \t").decode("latin-1")
        last = name
        if name == "set-cookie":
            set_cookie.append(value)
        elif name in headers:
            headers[name] = f"{headers[name]}, {value}"
        else:
            headers[name] = value
    return headers, set_cookie


async def open_connection(
    host: str,
    port: int,
    *,
    connect_timeout: float,
    ssl_context: ssl.SSLContext | None = None,
) -> HTTP1Connection:
    """A new connection to ``host:port`` (TLS when ``ssl_context`` is given).

    Raises :class:`ConnectFailed` (``tls=True`` when the TLS handshake or the
    certificate check failed) or :class:`HTTPTimeout`.
    """
    loop = asyncio.get_running_loop()
    with _connect_errors(f"connect to {host}:{port} timed out"):
        async with asyncio.timeout(connect_timeout):
            _transport, connection = await loop.create_connection(
                lambda: HTTP1Connection(loop),
                host,
                port,
                ssl=ssl_context,
                server_hostname=host if ssl_context is not None else None,
            )
    return connection


@contextlib.contextmanager
def _connect_errors(timed_out: str) -> Iterator[None]:
    """What opening a connection (direct or through a tunnel) may raise, as the client's
    :class:`HTTPTimeout` (saying ``timed_out``) or :class:`ConnectFailed` (``tls=True`` for
    the TLS handshake or the certificate check)."""
    try:
        yield
    except TimeoutError:
        raise HTTPTimeout(timed_out) from None
    except ssl.SSLError as exc:
        raise ConnectFailed(_ssl_reason(exc), tls=True) from None
    except OSError as exc:
        raise ConnectFailed(exc.strerror or str(exc) or type(exc).__name__) from None


def _ssl_reason(exc: ssl.SSLError) -> str:
    """The TLS library's reason (e.g. CERTIFICATE_VERIFY_FAILED ...) without the file/line noise."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    return exc.reason or str(exc) or type(exc).__name__


async def open_tunnel(
    proxy: tuple[str, int],
    host: str,
    port: int,
    *,
    connect_timeout: float,
    ssl_context: ssl.SSLContext,
    proxy_fields: bytes = b"",
) -> HTTP1Connection:
    """A TLS connection to ``host:port`` through an HTTP proxy's ``CONNECT`` tunnel.

    What curl, urllib and httpx do for an https:// URL and an http:// proxy:
    ``CONNECT host:port`` to the proxy in plain TCP, and on a 2xx answer TLS with the
    origin over that same socket (asyncio's ``start_tls``), with the origin's server
    name and certificate checks exactly as on a direct connection: the proxy only
    relays bytes it cannot read. ``proxy_fields`` are header lines for the proxy
    alone (``Proxy-Authorization``, ``User-Agent``), sent in the CONNECT request only.

    Raises :class:`ConnectFailed` naming the proxy (host:port, never its
    credentials) when it cannot be reached or refuses the tunnel, with ``tls=True``
    when the TLS handshake with the origin failed; :class:`HTTPTimeout` when the
    whole of it took longer than ``connect_timeout``.
    """
    loop = asyncio.get_running_loop()
    proxy_host, proxy_port = proxy
    shown = f"proxy {_authority(proxy_host, proxy_port)}"
    authority = _authority(host, port).encode("ascii")
    head = b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (authority, authority, proxy_fields)
    transport: asyncio.Transport | None = None
    try:
        with _connect_errors(f"connect to {host}:{port} through {shown} timed out"):
            async with asyncio.timeout(connect_timeout):
                try:
                    transport, connection = await loop.create_connection(
                        lambda: HTTP1Connection(loop), proxy_host, proxy_port
                    )
                except OSError as exc:
                    reason = exc.strerror or str(exc) or type(exc).__name__
                    raise ConnectFailed(f"{shown}: {reason}") from None
                try:
                    # No body follows a 2xx CONNECT answer (RFC 9110 9.3.6): read it as a HEAD's.
                    answer = await connection.request(
                        head, idle_timeout=connect_timeout, head_request=True
                    )
                except HTTPTimeout as exc:  # a silent proxy is a timeout, as a silent server is
                    raise HTTPTimeout(f"{shown}: CONNECT {authority.decode()}: {exc}") from None
                except TransferError as exc:
                    raise ConnectFailed(f"{shown}: CONNECT {authority.decode()}: {exc}") from None
                if not 200 <= answer.status < 300:
                    status = f"HTTP {answer.status} {answer.reason}".rstrip()
                    raise ConnectFailed(
                        f"{shown} refused CONNECT {authority.decode()}: {status}",
                        status=answer.status,
                    )
                tls = await loop.start_tls(transport, connection, ssl_context, server_hostname=host)
                if tls is None:  # only for a transport closed meanwhile
                    raise ConnectFailed(f"{shown} closed the tunnel to {authority.decode()}")
                connection._tunnelled(tls)
                transport = None  # handed over
                return connection
    finally:
        if transport is not None:
            transport.abort()


def _authority(host: str, port: int) -> str:
    """``host:port`` as in a request target (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
