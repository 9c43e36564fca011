"""A head start's failures while the server was busy are not the run's once the probe got through.

The head start (harvester.early) sends the first images' requests while the server probe is
out, and a final error of such a request is recorded as the image's failure without asking
again ("exactly what the fetcher's own request would have ended with"). That held while a busy
server ended the run at the probe. Since e6882e9 the probe outlasts a busy server (its quick try
plus the run's whole retry budget) while a head-start request has one budget: a maintenance
window that ends during the probe left the first images failed ("HTTP 503") in a run that then
went well, and the user had to rerun for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from harvester import retry, urls
from harvester.cli import main
from harvester.client import Client, ClientSettings, Expect
from harvester.early import EarlyAnswers
from harvester.emulator import EmulatorThread
from harvester.emulator.app import build_app
from harvester.emulator.http import Request, Response
from harvester.errors import TransientError

IMAGES = range(1884801, 1884809)  # the demo preset's project 51
MAX_RETRIES = 2


class Maintenance:
    """The demo server in maintenance (503 to everything) until the head start's first
    request has used its whole retry budget; the API root then answers again."""

    def __init__(self, busy_answers: int) -> None:
        self.app = build_app("demo")
        self.left = busy_answers  # 503s still to give to requests other than the API root

    def handle(self, req: Request) -> Response:
        if self.left > 0:
            if req.path != "/api/":
                self.left -= 1
            return Response(503, b"<h1>maintenance</h1>", route="busy")
        return self.app.handle(req)

    def route_name(self, req: Request) -> str:
        return "busy"


@pytest.fixture
def no_waits() -> Iterator[None]:
    before = retry.is_testing()
    retry.set_testing(True)
    yield
    retry.set_testing(before)


@pytest.mark.usefixtures("no_waits")
def test_a_maintenance_that_ends_during_the_probe_leaves_no_failure(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Concurrency 2: one head-start request, 503 for its every attempt; the probe gets through
    after that: exit 0, every thumbnail there, no failure reported."""
    emu = make_emulator(app=Maintenance(busy_answers=MAX_RETRIES + 1))
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{i}\n" for i in IMAGES))
    out = tmp_path / "d"
    code = main(
        ["harvest", "--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
         "--artifacts", "thumbnail,imgdata", "--concurrency", "2", "--rate", "none",
         "--max-retries", str(MAX_RETRIES), "--quiet"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert "failed:" not in err, err
    assert code == 0, err
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == len(IMAGES)


@pytest.mark.anyio
@pytest.mark.usefixtures("no_waits")
async def test_a_busy_answer_that_arrives_after_the_probe_passed_is_asked_again(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A head-start request still out when the probe passes, answered 503 through its retries
    after that, is not held as the image's failure: its taker asks again. A request sent after
    the probe passed keeps its failure (it is the run's own)."""
    emu = make_emulator(app=Maintenance(busy_answers=1000), latency_ms=100)
    early_path, late_path = urls.image_metadata(IMAGES[0]), urls.image_metadata(IMAGES[1])
    settings = ClientSettings(base_url=emu.base_url, rate=None, max_retries=MAX_RETRIES)
    with anyio.fail_after(20):
        async with Client(settings) as client, anyio.create_task_group() as tg:
            early = EarlyAnswers()
            assert early.send(tg, client, [(early_path, Expect.JSON, None)]) == 1
            await anyio.sleep(0.05)  # its first try is out, answered in 100 ms
            early.drop_transient_failures()  # the probe passed
            assert await early.take(early_path) is None
            assert early.send(tg, client, [(late_path, Expect.JSON, None)]) == 1
            with pytest.raises(TransientError, match="503"):
                await early.take(late_path)
    assert emu.stats()["by_status"]["503"] == 2 * (MAX_RETRIES + 1)
