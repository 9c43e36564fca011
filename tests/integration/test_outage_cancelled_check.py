"""A request waiting on a check of the API root that is cancelled does not fail for good.

One check decides a pause for every request failing meanwhile. When the task running it was
cancelled (a scope cancelled partway: the start-of-run requests dropped when the first
server check fails), the requests waiting on it saw no pause and failed for good, as if
the server had answered. They ask again now: another check decides.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import pytest

import harvester.outage
from harvester.client import Client, ClientSettings
from harvester.emulator import EmulatorThread
from harvester.errors import OverloadError
from harvester.outage import Outage


@pytest.fixture(autouse=True)
def short_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first check of a pause 0.2 s in (instead of 5 s)."""
    monkeypatch.setattr(harvester.outage, "FIRST_CHECK", 0.2)


async def test_a_request_waiting_on_a_cancelled_check_asks_again(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The check deciding a pause is cancelled before its (slow) answer: the request waiting
    on it runs its own, is answered 503, pauses the run and is held until the server is
    back (True: ask again), rather than failing for good."""
    emu = make_emulator(preset="demo", faults="latency:300ms,first:503*2,only:api_versions")
    outage = Outage(60.0)
    settings = ClientSettings(emu.base_url, rate=None, max_retries=0)
    busy = OverloadError("HTTP 503 Service Unavailable", url=emu.base_url, status=503)
    held: list[bool] = []
    with anyio.fail_after(20):
        async with Client(settings, outage=outage):
            last_try = time.monotonic()

            async def waiting() -> None:
                held.append(await outage.held(busy, last_try))

            async with anyio.create_task_group() as tg:
                with anyio.CancelScope() as deciding:
                    tg.start_soon(waiting)  # starts after the deciding check below
                    tg.start_soon(_cancel_soon, deciding)
                    await outage.held(busy, last_try)
    assert held == [True]
    assert outage.stats.pauses == 1 and not outage.paused
    assert emu.stats()["by_route"]["api_versions"].get("200") == 1


async def _cancel_soon(scope: anyio.CancelScope) -> None:
    """Cancel ``scope`` once its check of the API root is on its way (not yet answered)."""
    await anyio.sleep(0.1)
    scope.cancel()
