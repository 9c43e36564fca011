"""Which answers show the server is up, so that a busy answer meanwhile costs no check.

A request that has used its retries on a busy answer asks the API root once, unless a request
sent after its last try was answered. Only 2xx answers counted: a run of stale ids (404
after 404) spent a check, and up to 5 s of a worker, on each busy answer as if the server
were down. Any whole answer but a down sign counts now; a page a proxy may serve with 200
for a server that is down (HTML where JSON or an image was expected) does not.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import anyio
import pytest

import harvester.outage
from harvester import urls
from harvester.client import Client, ClientSettings, Expect
from harvester.emulator import EmulatorThread
from harvester.errors import FetchError, OverloadError, ServerUnavailableError
from harvester.outage import Outage
from harvester.retry import zero_waits

IMAGE = 9762885  # the demo preset's first image
MISSING = 1  # no image has this id


@pytest.mark.parametrize(
    ("faults", "image", "checks"),
    [
        ("", MISSING, 0),  # 404: the server answered
        ("first:500,only:/webgateway/", IMAGE, 0),  # 500: the server's own failure
        ("", IMAGE, 0),  # 200, the thumbnail
        ("first:html200,only:/webgateway/", IMAGE, 1),  # maybe a proxy's page: not sure
        ("first:503,only:/webgateway/", IMAGE, 1),  # busy: a down sign
    ],
)
async def test_an_answer_after_a_busy_one_decides_without_a_check(
    make_emulator: Callable[..., EmulatorThread], faults: str, image: int, checks: int
) -> None:
    """A thumbnail answered 404, 500 or 200 after a request's last busy try shows the server
    is up (that request fails on its own, no check of the API root); an HTML page with 200 or
    a 503 does not (one check, which answers: no pause)."""
    emu = make_emulator(preset="demo", faults=faults or None)
    outage = Outage(60.0)
    settings = ClientSettings(emu.base_url, rate=None, max_retries=0)
    busy = OverloadError("HTTP 503 Service Unavailable", url=emu.base_url, status=503)
    with anyio.fail_after(10):
        async with Client(settings, outage=outage) as client:
            last_try = time.monotonic()
            with contextlib.suppress(FetchError):
                await client.get(urls.thumbnail(image), Expect.JPEG)
            assert not await outage.held(busy, last_try)
    assert not outage.paused and outage.stats.checks == checks
    assert emu.stats()["by_route"].get("api_versions", {}) == ({"200": 1} if checks else {})


async def test_a_busy_answer_waiting_for_the_next_check_ends_with_an_answer_meanwhile(
    make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request failed for good on a busy answer just after a check answered waits for the
    next check (:data:`harvester.outage.FIRST_CHECK` after it), unless a request sent after
    its last try is answered: it then fails on its own at that answer, not at the check
    (each render refused beside answered thumbnails held its worker for up to 5 s, idle)."""
    monkeypatch.setattr(harvester.outage, "FIRST_CHECK", 60.0)
    emu = make_emulator(preset="demo", faults="hold:G,only:/webgateway/render_thumbnail/")
    outage = Outage(3600.0)
    settings = ClientSettings(emu.base_url, rate=None, max_retries=0)
    busy = OverloadError("HTTP 503 Service Unavailable", url=emu.base_url, status=503)
    decided: list[bool] = []
    with anyio.fail_after(20):  # (60 s, the next check, before the fix)
        async with Client(settings, outage=outage) as client:
            assert not await outage.held(busy, time.monotonic())  # the check: answered
            last_try = time.monotonic()

            async def busy_one() -> None:
                decided.append(await outage.held(busy, last_try))

            async with anyio.create_task_group() as tg:
                tg.start_soon(busy_one)
                tg.start_soon(client.get, urls.thumbnail(IMAGE), Expect.JPEG)
                await anyio.to_thread.run_sync(emu.wait_held, "G", 1, 10.0)
                emu.release("G")
    assert decided == [False]
    assert not outage.paused and outage.stats.checks == 1
    assert emu.stats()["by_route"]["api_versions"] == {"200": 1}


async def test_the_render_limits_probe_takes_a_long_retry_after_to_the_outage_at_once(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A maintenance page asking for an hour answers the OPTIONS probe of the render limits
    (a stack's first request), retries allowed (5): asked once, then the outage's check
    decides (down: the run pauses, and stops at its limit), as a GET is. It sat through its
    5 retries first (60 s each: 5 minutes before a run with ``--outage-wait 1s`` stopped;
    retry waits are zeroed here: 6 tries)."""
    emu = make_emulator(preset="demo", mode="microservice", faults="maintenance:1h@0s")
    outage = Outage(0.1)
    settings = ClientSettings(emu.base_url, rate=None, max_retries=5)
    with zero_waits(), anyio.fail_after(20):
        async with Client(settings, outage=outage) as client:
            with pytest.raises(ServerUnavailableError, match="HTTP 503"):
                await client.options(f"webgateway/render_image/{IMAGE}/0/0/")
    assert emu.stats()["by_route"]["options"] == {"503": 1}
    assert outage.stats.checks >= 1 and client.stats.retries == 0


@pytest.mark.parametrize(
    ("faults", "max_retries", "tries"),
    [
        # every try asks for 90 s (longer than a retry waits): 1 + 3 retries
        ("first:429*9,retry-after:90s", 3, 4),
        # the same in HTTP-date form
        ("first:429*9,retry-after:date", 3, 4),
        # a busy answer without Retry-After first, then the long ones: still 4 in all
        ("first:503|429*9,retry-after:90s", 3, 4),
        ("first:503*2|429*9,retry-after:90s", 3, 4),
        # --max-retries 0: one try
        ("first:429*9,retry-after:90s", 0, 1),
    ],
)
async def test_a_long_retry_after_on_one_url_counts_every_try_in_its_budget(
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
    faults: str,
    max_retries: int,
    tries: int,
) -> None:
    """A thumbnail answered 429 asking for longer than a retry waits, the server up for the
    rest: the outage's check answers (no pause) and the request is retried in its budget,
    exactly ``max_retries + 1`` tries in all. A long Retry-After met on a retry (after a
    503 without one) was counted as the first try: a fifth try of a budget of four."""
    monkeypatch.setattr(harvester.outage, "FIRST_CHECK", 0.1)  # (its last failure's check)
    emu = make_emulator(preset="demo", faults=f"{faults},only:/webgateway/render_thumbnail/")
    outage = Outage(60.0)
    settings = ClientSettings(emu.base_url, rate=None, max_retries=max_retries)
    with anyio.fail_after(20), zero_waits():
        async with Client(settings, outage=outage) as client:
            with pytest.raises(OverloadError):
                await client.get(urls.thumbnail(IMAGE), Expect.JPEG)
    assert not outage.paused
    faults_seen = emu.stats()["faults"]
    assert sum(faults_seen.values()) == tries, faults_seen
