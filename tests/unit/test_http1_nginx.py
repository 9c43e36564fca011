"""The client against answers shaped like nginx's: gzip'd JSON, chunked, over keep-alive.

IDR is nginx in front of OMERO.web. With ``gzip on`` nginx cannot announce a
Content-Length, so JSON comes gzip'd and chunked, one chunk per compressed
output buffer or per upstream read (small when ``proxy_buffering`` is off).
The emulator always sends Content-Length, so this shape gets its own test: a
raw loopback server writes it, and the client must hand back the JSON intact,
on one kept-alive connection. Here: about 2.5 MB compressed in 256-byte
chunks, some 10,000 chunk-size lines (0.1.2 as first committed refused that,
counting them against the 64 KiB budget meant for headers).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
from collections.abc import AsyncIterator

import pytest

from harvester.client import Client, ClientSettings, Expect

pytestmark = pytest.mark.anyio

IMAGES = 60_000


def _chunked(payload: bytes, size: int) -> bytes:
    pieces = [payload[i : i + size] for i in range(0, len(payload), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@pytest.fixture
async def nginx_like() -> AsyncIterator[tuple[str, list[int], bytes]]:
    """A server answering every GET with the same gzip'd, chunked JSON list."""
    noise = random.Random(7)
    document = json.dumps(
        [{"@id": n, "Name": f"{noise.getrandbits(256):064x}.tif"} for n in range(IMAGES)]
    ).encode()
    wire = (
        b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\nContent-Encoding: gzip\r\n"
        b"Vary: Accept-Encoding\r\n\r\n"
    ) + _chunked(gzip.compress(document), 256)
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(wire)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/", connections, document
    finally:
        server.close()


async def test_gzip_chunked_json_in_small_chunks_arrives_whole(
    nginx_like: tuple[str, list[int], bytes],
) -> None:
    """gzip JSON chunked in small pieces, as nginx sends it, arrives whole over one connection."""
    base, connections, document = nginx_like
    settings = ClientSettings(base, concurrency=1, rate=None, max_retries=0)
    async with Client(settings) as client:
        first = await client.get("api/v0/m/images/", Expect.JSON)
        second = await client.get("api/v0/m/images/", Expect.JSON)
    assert first.body == second.body == document
    assert len(first.json()) == IMAGES
    assert len(connections) == 1
