"""A request queued at the run's limits when the server goes down waits for it like the others.

Whether the server was up after a request's last try is judged by the answers to requests
sent after it. That try was stamped before its wait for a slot (or a rate token), the others'
answers when they left: a request queued behind another that was answered just before the
server went down counted that answer as the server up after its own 503, and failed for good
without a check of the API root. With ``--max-retries 0`` and the default ``--rate 10``, a
plain-503 outage starting mid-run failed every request queued at its start (12 thumbnails
and 4 plate walks of the demo screen) and the run never paused.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

import harvester.outage
from harvester import urls
from harvester.client import Client, ClientSettings, Expect, Fetched
from harvester.emulator import EmulatorThread
from harvester.outage import Outage

IMAGES = (9762885, 9762886, 9762887)  # three of the demo preset's images
#: In the order they reach the server (one at a time): two thumbnails answered, then the
#: server down (plain 503s, no Retry-After) for the third and the check of the API root
#: that pauses the run; the next check and everything after it answered.
FAULTS = "first:ok*2|503*2,only:/webgateway/render_thumbnail/|api_versions"


@pytest.fixture(autouse=True)
def short_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first check of a pause 0.2 s in (instead of 5 s)."""
    monkeypatch.setattr(harvester.outage, "FIRST_CHECK", 0.2)


async def test_a_request_queued_as_the_server_goes_down_is_held_not_failed(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Three thumbnails asked at once through one slot, no retries: the third, queued before
    the second left and answered 503 after it, pauses the run (the API root is 503 too) and
    is asked again once the server answers: three JPEGs, no failure."""
    emu = make_emulator(preset="demo", faults=FAULTS)
    outage = Outage(60.0)
    settings = ClientSettings(emu.base_url, concurrency=1, rate=None, max_retries=0)
    got: dict[int, Fetched] = {}
    with anyio.fail_after(20):
        async with Client(settings, outage=outage) as client:

            async def thumbnail(image: int) -> None:
                got[image] = await client.get(urls.thumbnail(image), Expect.JPEG)

            # All three are asked before the first answer comes: the first takes the one
            # slot, the other two wait for it in line, and leave one after the other.
            async with anyio.create_task_group() as tg:
                for image in IMAGES:
                    tg.start_soon(thumbnail, image)
    assert sorted(got) == sorted(IMAGES)
    assert all(fetched.body[:2] == b"\xff\xd8" for fetched in got.values())
    assert outage.stats.pauses == 1 and not outage.paused
    by_route = emu.stats()["by_route"]
    assert by_route["image:thumbnail"] == {"200": 3, "503": 1}
    assert by_route["api_versions"] == {"503": 1, "200": 1}
