"""A request queued at the run's limits when the server goes down waits for it like the others.

Whether the server was up after a request's last try is judged by the answers to requests
sent after it. That try was stamped before its wait for a slot (or a rate token), the others'
answers when they left: a request queued behind another that was answered just before the
server went down counted that answer as the server up after its own 503, and failed for good
without a check of the API root. With ``--max-retries 0`` and the default ``--rate 10``, a
plain-503 outage starting mid-run failed every request queued at its start (12 thumbnails
and 4 plate walks of the demo screen) and the run never paused.

The check of the API root that decides a pause queued behind those requests too: the busy
answers had cut the run to one request at a time, 0.6 a second, and it left after an 8 s
outage had ended; answered, it failed every request held for its verdict. It takes the next
slot freed now, before the requests queued for one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

import harvester.outage
from harvester import urls
from harvester.cli import main
from harvester.client import Client, ClientSettings, Expect, Fetched
from harvester.emulator import EmulatorThread
from harvester.emulator.faults import Decision, FaultInjector, parse_faults
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


async def _thumbnails_through_one_slot(
    emu: EmulatorThread, outage: Outage, images: tuple[int, ...]
) -> dict[int, Fetched]:
    """Ask every thumbnail of ``images`` at once through one slot, no retries (bounded)."""
    settings = ClientSettings(emu.base_url, concurrency=1, rate=None, max_retries=0)
    got: dict[int, Fetched] = {}
    with anyio.fail_after(20):
        async with Client(settings, outage=outage) as client:

            async def thumbnail(image: int) -> None:
                got[image] = await client.get(urls.thumbnail(image), Expect.JPEG)

            async with anyio.create_task_group() as tg:
                for image in images:
                    tg.start_soon(thumbnail, image)
    return got


async def test_a_request_queued_as_the_server_goes_down_is_held_not_failed(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Three thumbnails asked at once through one slot, no retries: the third, queued before
    the second left and answered 503 after it, pauses the run (the API root is 503 too) and
    is asked again once the server answers: three JPEGs, no failure."""
    emu = make_emulator(preset="demo", faults=FAULTS)
    outage = Outage(60.0)
    # All three are asked before the first answer comes: the first takes the one slot, the
    # other two wait for it in line, and leave one after the other.
    got = await _thumbnails_through_one_slot(emu, outage, IMAGES)
    assert sorted(got) == sorted(IMAGES)
    assert all(fetched.body[:2] == b"\xff\xd8" for fetched in got.values())
    assert outage.stats.pauses == 1 and not outage.paused
    by_route = emu.stats()["by_route"]
    assert by_route["image:thumbnail"] == {"200": 3, "503": 1}
    assert by_route["api_versions"] == {"503": 1, "200": 1}


async def test_the_check_that_decides_a_pause_goes_before_the_requests_queued(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Four thumbnails through one slot, no retries, the server down (503) for three answers:
    the first one's check of the API root takes the slot before the two still queued, is
    answered 503 and pauses the run: four JPEGs. Behind them it came after the outage,
    was answered, and three thumbnails failed for good."""
    faults = "first:503*3,only:/webgateway/render_thumbnail/|api_versions"
    emu = make_emulator(preset="demo", faults=faults)
    outage = Outage(60.0)
    images = (*IMAGES, 9762888)
    # The first answered 503 hands the slot to the second at once (sent, 503); the check
    # comes next, before the last two, which wait for the pause to end.
    got = await _thumbnails_through_one_slot(emu, outage, images)
    assert sorted(got) == sorted(images)
    assert all(fetched.body[:2] == b"\xff\xd8" for fetched in got.values())
    assert outage.stats.pauses == 1 and not outage.paused
    by_route = emu.stats()["by_route"]
    assert by_route["image:thumbnail"] == {"503": 2, "200": 4}
    assert by_route["api_versions"] == {"503": 1, "200": 1}


class _DownFromFile(FaultInjector):
    """Plain 503s (no Retry-After) for everything from the ``files``-th file asked until the
    API root has answered one: the check that pauses the run, whenever it comes."""

    def __init__(self, files: int) -> None:
        super().__init__(parse_faults("latency:30ms"))
        self.files, self.asked, self.down = files, 0, False

    def decide(self, path: str, client: str, now: float | None = None, route: str = "") -> Decision:
        """The answer to one request, in the order they reach the server."""
        if "/imgData/" in path or "/render_thumbnail/" in path:
            self.asked += 1
            self.down = self.down or self.asked == self.files
        if not self.down:
            return super().decide(path, client, now, route)
        self.down = path != "/api/"  # (the check's own answer is the last 503)
        return Decision("503", delay_s=0.03)


def test_a_harvest_with_no_retries_waits_out_a_plain_503_outage(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """--max-retries 0 at the default --rate and --concurrency, the server down (503, no
    Retry-After) from the 6th of a plate's 16 files: exit 0, no file failed, all 16 there,
    the run paused. The files queued at the rate limit as it went down failed for good."""
    emu = make_emulator(preset="demo")
    emu.server.faults = _DownFromFile(files=6)
    out = tmp_path / "d"
    code = main(
        ["harvest", "--base-url", emu.base_url, "--plate", "7361", "--out", str(out),
         "--artifacts", "thumbnail,imgdata", "--max-retries", "0"]
    )  # fmt: skip
    summary = capsys.readouterr().out
    assert code == 0, summary
    assert "failed 0" in summary
    assert "the server looks down (HTTP 503 Service Unavailable, its API root too)" in caplog.text
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 8
    assert len(list((out / "images").rglob("*.imgdata.json"))) == 8
