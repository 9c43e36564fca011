"""The checks of a paused run: growing waits, each up to a fifth longer at random."""

from __future__ import annotations

import pytest

from harvester import outage as outage_module
from harvester.errors import FetchError, OverloadError
from harvester.outage import CHECK_CAP, FIRST_CHECK, JITTER, TICK, Outage


async def test_waits_between_checks_grow_and_spread(monkeypatch: pytest.MonkeyPatch) -> None:
    """5 s doubling to 60 s, each at most a fifth longer, slept a second at a time (the
    progress hears of the pause each second); two runs do not wait in step."""
    slept: list[float] = []
    slices: list[float] = []
    told: list[float | None] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        slices.append(seconds)

    monkeypatch.setattr(outage_module.anyio, "sleep", fake_sleep)
    down = OverloadError("HTTP 503 Service Unavailable", url="http://x/api/", status=503)
    runs: list[list[float]] = []
    for _ in range(2):
        answers: list[FetchError | None] = [down] * 7 + [None]
        pause = Outage(
            limit=10_000.0, on_wait=lambda _reason, _seconds, next_check: told.append(next_check)
        )
        waits: list[float] = []

        async def check(
            answers: list[FetchError | None] = answers, waits: list[float] = waits
        ) -> FetchError | None:
            waits.append(sum(slept))  # the slices slept since the last check
            slept.clear()
            return answers.pop(0)

        pause.check = check
        told.clear()
        await pause.wait_at_start(down)
        assert not pause.paused and pause.stats.checks == 8
        runs.append(waits)
        assert all(0 < seconds <= TICK for seconds in slices)
        assert len(told) >= sum(waits) / TICK  # once a second at least
        assert any(left is not None and left > CHECK_CAP / 2 for left in told)
    plain = [min(CHECK_CAP, FIRST_CHECK * 2**n) for n in range(8)]
    for waits in runs:
        assert len(waits) == 8
        assert all(p <= w <= p * JITTER for w, p in zip(waits, plain, strict=True))
    assert runs[0] != runs[1]
