"""The server probe honours a busy server's "come back later" before every request it repeats.

A server in maintenance or over its limit answers the API root 429 with a Retry-After. The
probe's quick try and its longer retry budget (pipeline.probe_server) are two clients: the
second one's first request must wait as any retry does, not follow the quick try's last
refusal at once (found by review: ``--debug`` showed two requests to ``api/`` back to back
after "Retry-After: 4"). Ordered, not timed: the server logs each request, ``anyio.sleep``
logs each wait (a long one is recorded, not slept), and between two requests there must be
the wait the server asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.http import Request, Response

RETRY_AFTER = 4


class BusyRoot:
    """An API root that always says 429 "Retry-After: 4"; every request is logged in order."""

    def __init__(self, events: list[tuple[str, float]]) -> None:
        self.events = events

    def handle(self, req: Request) -> Response:
        self.events.append(("request", 0.0))
        headers = [("Retry-After", str(RETRY_AFTER))]
        return Response(429, b"<h1>busy</h1>", headers=headers, route="api_versions")

    def route_name(self, req: Request) -> str:
        return "api_versions"


def test_every_repeated_probe_request_waits_what_the_server_asked(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Busy to the end (--outage-wait 0: the check at start does not pause): exit 75, no
    folder, and a 4 s wait before every request but the first."""
    events: list[tuple[str, float]] = []
    real_sleep = anyio.sleep

    async def sleep(delay: float, *args: Any, **kwargs: Any) -> Any:
        if delay >= 1:  # a retry's wait: recorded, not slept
            events.append(("wait", float(delay)))
            delay = 0
        return await real_sleep(delay, *args, **kwargs)

    monkeypatch.setattr(anyio, "sleep", sleep)
    emu = make_emulator(app=BusyRoot(events))
    out = tmp_path / "d"
    code = main(
        ["harvest", "--base-url", emu.base_url, "--image", "1", "--out", str(out),
         "--max-retries", "2", "--outage-wait", "0", "--quiet"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 75, err
    assert "is unavailable" in err and "Traceback" not in err
    assert not out.exists()
    requests = [n for n, (what, _) in enumerate(events) if what == "request"]
    assert len(requests) >= 3  # the quick try and the budget
    for before, after in zip(requests, requests[1:], strict=False):
        between = [delay for what, delay in events[before:after] if what == "wait"]
        assert between == [float(RETRY_AFTER)], events
