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

import pytest

from harvester import retry
from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.app import build_app
from harvester.emulator.http import Request, Response

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
