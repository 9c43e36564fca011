"""Client against the IDR emulator over sockets: politeness under faults, and fault-mix recovery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from harvester.client import Client, ClientSettings, Expect, Fetched
from harvester.emulator.catalogue import DEMO_IMAGE_ID, DEMO_PROJECT_IMAGE_IDS
from harvester.errors import InvalidBodyError, TransportError

IMAGE_IDS = (DEMO_IMAGE_ID, *DEMO_PROJECT_IMAGE_IDS)


def reject_imgdata_exception(fetched: Fetched) -> None:
    """imgData answered 200 with an "Exception" key: a failure with the server's reason."""
    data = fetched.json()
    if isinstance(data, dict) and "Exception" in data:
        raise InvalidBodyError(f"imgData Exception: {data['Exception']}", url=fetched.url)


def requests_for(image_ids: tuple[int, ...]) -> list[tuple[str, Expect, Any]]:
    """Thumbnail, imgData and JSON-API metadata of each image."""
    out: list[tuple[str, Expect, Any]] = []
    for image_id in image_ids:
        out.append((f"webgateway/render_thumbnail/{image_id}/", Expect.JPEG, None))
        out.append((f"webgateway/imgData/{image_id}/", Expect.JSON, reject_imgdata_exception))
        out.append((f"api/v0/m/images/{image_id}/", Expect.JSON, None))
    return out


async def harvest(
    settings: ClientSettings, jobs: list[tuple[str, Expect, Any]]
) -> dict[str, bytes]:
    """Fetch every job concurrently; path -> body (the server's own address masked out)."""
    bodies: dict[str, bytes] = {}
    async with Client(settings) as client:

        async def one(path: str, expect: Expect, check: Any) -> None:
            body = (await client.get(path, expect, check)).body
            bodies[path] = body.replace(settings.base_url.encode(), b"BASE")

        async with anyio.create_task_group() as tg:
            for path, expect, check in jobs:
                tg.start_soon(one, path, expect, check)
    return bodies


async def test_fault_mix_ends_with_bodies_identical_to_a_fault_free_run(
    make_emulator: Callable[..., Any],
) -> None:
    """Under a mix of faults every request succeeds with bodies identical to a clean run."""
    jobs = requests_for(IMAGE_IDS)
    clean = make_emulator(preset="demo")
    faulty = make_emulator(
        preset="demo",
        faults="503:10%,429:5%,retry-after:1s|date,reset:5%,truncate:5%,html200:3%,"
        "exception:5%,trickle:5%,trickle-delay:10ms,seed:11",
    )
    with anyio.fail_after(60):
        expected = await harvest(ClientSettings(clean.base_url, rate=None), jobs)
        got = await harvest(
            ClientSettings(faulty.base_url, rate=None, concurrency=8, max_retries=10), jobs
        )
    assert got == expected
    assert len(got) == len(jobs)
    by_status = faulty.stats()["by_status"]
    assert set(by_status) - {"200"}, "the fault spec injected no failure at all"


@pytest.mark.slow
async def test_rate_and_concurrency_never_exceeded_with_overload_and_retries(
    make_emulator: Callable[..., Any],
) -> None:
    """With rate 5 and concurrency 4 under 429/503 faults, the emulator never sees more than
    4 requests in flight or 5 arrivals in any 1-second window."""
    emu = make_emulator(
        preset="demo", faults="503:6%,429:6%,retry-after:1s|date,latency:30ms,seed:5"
    )
    jobs = requests_for(IMAGE_IDS[:3])
    settings = ClientSettings(emu.base_url, rate=5.0, burst=1, concurrency=4, max_retries=10)
    with anyio.fail_after(60):
        bodies = await harvest(settings, jobs)
    stats = emu.stats()
    assert len(bodies) == len(jobs)
    assert stats["requests"] > len(jobs)  # retries happened
    assert stats["peak_concurrency"] <= 4
    assert stats["peak_rate_1s"] <= 5


async def test_concurrency_cap_holds_with_slow_answers(make_emulator: Callable[..., Any]) -> None:
    """With no rate limit, concurrency 4 and slow answers, at most 4 requests are ever in flight."""
    emu = make_emulator(preset="demo", faults="503:5%,reset:5%,latency:60ms,jitter:40ms,seed:2")
    jobs = requests_for(IMAGE_IDS)
    with anyio.fail_after(60):
        bodies = await harvest(
            ClientSettings(emu.base_url, rate=None, concurrency=4, max_retries=10), jobs
        )
    assert len(bodies) == len(jobs)
    assert 1 <= emu.stats()["peak_concurrency"] <= 4


async def test_burst_setting_is_respected_by_the_emulator_count(
    make_emulator: Callable[..., Any],
) -> None:
    """With rate 4 and burst 6 the emulator counts at most 6 arrivals in any second."""
    emu = make_emulator(preset="demo")
    jobs = requests_for(IMAGE_IDS[:3])  # 9 requests
    settings = ClientSettings(emu.base_url, rate=4.0, burst=6, concurrency=9)
    with anyio.fail_after(60):
        await harvest(settings, jobs)
    assert emu.stats()["peak_rate_1s"] <= 6


async def test_options_reads_the_microservice_render_limits(
    make_emulator: Callable[..., Any],
) -> None:
    """OPTIONS on a render path returns the microservice's advertised plane and tile limits."""
    from harvester.errors import FetchError
    from harvester.stack import discover_limits

    micro = make_emulator(preset="demo", mode="microservice")
    async with Client(ClientSettings(base_url=micro.base_url, rate=None)) as client:
        fetched = await client.options(f"webgateway/render_image/{DEMO_IMAGE_ID}/0/0/")
        options = fetched.json()["options"]
        assert (options["maxPlaneWidth"], options["maxTileLength"]) == (3192, 2048)
        limits = await discover_limits(client, DEMO_IMAGE_ID)
        assert (limits.max_plane, limits.max_tile, limits.source) == (3192, 2048, "options")

    classic = make_emulator(preset="demo", mode="omeroweb")
    async with Client(ClientSettings(base_url=classic.base_url, rate=None)) as client:
        with pytest.raises(FetchError):
            await client.options(f"webgateway/render_image/{DEMO_IMAGE_ID}/0/0/")
        assert (await discover_limits(client, DEMO_IMAGE_ID)).source == "default"


async def fetch_all_at_once(client: Client) -> None:
    """Every job of IMAGE_IDS at once (the client's slots bound how many are in flight)."""
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for path, expect, check in requests_for(IMAGE_IDS):
                tg.start_soon(client.get, path, expect, check)


def assert_one_connection_per_slot(stats: dict[str, Any], *, slots: int) -> None:
    assert stats["connections"] == slots
    assert stats["requests"] == len(requests_for(IMAGE_IDS))


async def test_preconnect_opens_every_slot_and_requests_reuse_those_connections(
    make_emulator: Callable[..., Any],
) -> None:
    """preconnect() opens one connection per concurrency slot; the requests that follow use
    them (no new connection), and a second preconnect opens nothing."""
    emu = make_emulator(preset="demo")
    settings = ClientSettings(emu.base_url, concurrency=4, rate=None)
    async with Client(settings) as client:
        assert await client.preconnect() == 4
        assert await client.preconnect() == 0
        await fetch_all_at_once(client)
    assert_one_connection_per_slot(emu.stats(), slots=4)


async def test_preconnect_to_a_closed_port_reports_nothing_and_requests_still_fail_clearly() -> (
    None
):
    """A failed preconnect is silent; the request that needs the connection reports it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        settings = ClientSettings(f"http://127.0.0.1:{port}", concurrency=3, max_retries=0)
        async with Client(settings) as client:
            assert await client.preconnect() == 0
            with pytest.raises(TransportError, match="cannot connect"):
                await client.get("api/v0/", Expect.JSON)


async def test_requests_wait_for_connections_being_opened_instead_of_opening_more(
    make_emulator: Callable[..., Any],
) -> None:
    """Requests sent right after start_preconnect() (the run's first round, with the probe
    answered before the connections are up) use those connections: no second connection per
    slot, however the opening and the requests interleave."""
    emu = make_emulator(preset="demo")
    settings = ClientSettings(emu.base_url, concurrency=4, rate=None)
    async with Client(settings) as client:
        client.start_preconnect()
        await fetch_all_at_once(client)
    assert_one_connection_per_slot(emu.stats(), slots=4)


async def test_leaving_the_client_cancels_unfinished_preconnects() -> None:
    """A run that ends before its connections are up (or fails at the probe) leaves no
    connection attempt behind."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # accepts nothing: connects stay pending in the backlog or time out
        port = listener.getsockname()[1]
        settings = ClientSettings(f"http://127.0.0.1:{port}", concurrency=3, timeout=30)
        with anyio.fail_after(5):
            async with Client(settings) as client:
                client.start_preconnect()
                await anyio.sleep(0.05)
        pending = [slot.connecting for slot in client._connections._all if slot.connecting]
        assert pending == []
