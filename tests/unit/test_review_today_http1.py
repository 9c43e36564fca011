"""Review of the minimum speed (``--min-speed``): interim answers are not a slow answer.

A server still thinking may send interim answers (``102 Processing``, ``103 Early
Hints``) to show it is alive: each keeps the line from falling silent for the idle
timeout, and until the real answer starts, the wait is the idle timeout's alone (as
for a server that sends nothing while it thinks). The speed window must therefore
start with the real answer, not with the first interim answer's bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest

from harvester.http1 import HTTPTimeout, open_connection

pytestmark = pytest.mark.anyio

REQUEST = b"GET /x HTTP/1.1\r\nHost: test\r\n\r\n"
PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"


@asynccontextmanager
async def _serve_once(pieces: Sequence[bytes], pause: float) -> AsyncIterator[int]:
    """A server answering one request with ``pieces``, ``pause`` seconds before each."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            for piece in pieces:
                await asyncio.sleep(pause)
                writer.write(piece)
                await writer.drain()
            await reader.read()  # silent until the client goes away
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def _ask(pieces: Sequence[bytes], *, pause: float, idle: float, min_speed: float) -> bytes:
    async with _serve_once(pieces, pause) as port:
        connection = await open_connection("127.0.0.1", port, connect_timeout=5)
        try:
            answer = await connection.request(REQUEST, idle_timeout=idle, min_speed=min_speed)
        finally:
            connection.close()
        return answer.body


async def test_interim_answers_while_thinking_are_not_held_against_the_speed() -> None:
    """Six ``102 Processing`` 0.3 s apart (never silent for the 0.5 s timeout), then the
    whole answer at once: it arrives, although the interim bytes average far below 1,000
    bytes/s (the window used to start at the first 102 and cut the answer at ~0.8 s)."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    body = await _ask([PROCESSING] * 6 + [answer], pause=0.3, idle=0.5, min_speed=1000)
    assert body == b"ok"


async def test_real_answer_trickling_after_interim_answers_is_still_cut() -> None:
    """The window restarts with the real answer; a real answer trickling below the minimum
    after its interim answers is cut all the same (it never completes: 1,000 bytes promised,
    a byte every 0.1 s)."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    pieces = [PROCESSING, PROCESSING, head, *([b"x"] * 60)]
    with pytest.raises(HTTPTimeout, match=r"answer slower than 1000 bytes/s"):
        await _ask(pieces, pause=0.1, idle=0.5, min_speed=1000)
