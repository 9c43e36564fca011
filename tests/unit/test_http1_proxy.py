"""``open_tunnel``: how a proxy that does not open the CONNECT tunnel is reported.

A refused tunnel is a :class:`ConnectFailed` naming the proxy (host:port) and its
status, never a TLS error (no handshake happened) and never the proxy's
credentials; a proxy that says nothing is a timeout, as a silent server is. The
proxies here are raw asyncio servers on loopback that read the CONNECT request
and answer (or not) as told; what they read is kept for the assertions.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from harvester.http1 import ConnectFailed, HTTPTimeout, open_tunnel

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def _proxy(answer: bytes | None, heads: list[bytes]) -> AsyncIterator[int]:
    """A proxy reading one CONNECT head into ``heads`` and sending ``answer`` (None: silence)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            heads.append(await reader.readuntil(b"\r\n\r\n"))
            if answer is not None:
                writer.write(answer)
                await writer.drain()
            await reader.read()  # until the client goes away
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_refused_tunnel_names_the_proxy_and_status() -> None:
    """407 to CONNECT: ConnectFailed with the proxy's host:port and the status; the CONNECT
    request named the origin and carried the proxy's fields (credentials) to the proxy."""
    heads: list[bytes] = []
    refusal = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\nnope"
    async with _proxy(refusal, heads) as port:
        with pytest.raises(ConnectFailed) as caught:
            await open_tunnel(
                ("127.0.0.1", port),
                "idr.example.org",
                443,
                connect_timeout=5,
                ssl_context=ssl.create_default_context(),
                proxy_fields=b"Proxy-Authorization: Basic dTpTRUNSRVQ=\r\n",
            )
    message = str(caught.value)
    assert message == (
        f"proxy 127.0.0.1:{port} refused CONNECT idr.example.org:443: "
        "HTTP 407 Proxy Authentication Required"
    )
    assert not caught.value.tls
    assert heads == [
        b"CONNECT idr.example.org:443 HTTP/1.1\r\nHost: idr.example.org:443\r\n"
        b"Proxy-Authorization: Basic dTpTRUNSRVQ=\r\n\r\n"
    ]


async def test_silent_proxy_is_a_timeout_naming_the_proxy() -> None:
    """A proxy that never answers CONNECT: HTTPTimeout (retried like a silent server)."""
    heads: list[bytes] = []
    async with _proxy(None, heads) as port:
        with pytest.raises(HTTPTimeout, match=f"proxy 127.0.0.1:{port}"):
            await open_tunnel(
                ("127.0.0.1", port),
                "::1",
                8443,
                connect_timeout=0.3,
                ssl_context=ssl.create_default_context(),
            )
    assert heads == [b"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"]


async def test_unreachable_proxy_is_a_connect_failure_naming_it() -> None:
    """Nobody listening on the proxy's port: ConnectFailed naming the proxy, not TLS."""
    async with _proxy(None, []) as port:
        pass  # closed again: the port is free now
    with pytest.raises(ConnectFailed, match=f"^proxy 127.0.0.1:{port}: ") as caught:
        await open_tunnel(
            ("127.0.0.1", port),
            "idr.example.org",
            443,
            connect_timeout=5,
            ssl_context=ssl.create_default_context(),
        )
    assert not caught.value.tls
