"""Harvests under injected faults: complete, byte-identical, and polite."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harvest_helpers import (
    DEMO_PROJECT,
    DEMO_SCREEN,
    Reference,
    content,
    harvest,
    temp_files,
)

from harvester.emulator import EmulatorThread

FAULTS = "503:5%,429:3%,reset:2%,truncate:2%,html200:1%,seed:7"


def test_faults_complete_and_identical(
    reference: Reference, tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Under the fault mix with latency, every artifact is identical to a clean run."""
    emu = make_emulator(preset="demo", faults=FAULTS, latency_ms=2, jitter_ms=2)
    out = tmp_path / "faults"
    summary = harvest(
        emu.base_url, out, screens=(DEMO_SCREEN,), projects=(DEMO_PROJECT,), max_retries=8
    )
    stats = emu.stats()
    assert sum(stats["faults"].values()) > 0, "the fault spec injected nothing"
    assert summary.exit_code == 0, summary.failures[:3]
    assert summary.retries > 0
    assert content(out, "images", base_url=emu.base_url) == content(
        reference.out, "images", base_url=reference.base_url
    )
    assert (out / "index.csv").read_bytes() == (reference.out / "index.csv").read_bytes()
    assert temp_files(out) == []


def test_concurrency_and_rate_never_exceeded(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """With --concurrency 3 --rate 20 the server never sees more, retries and probe included."""
    emu = make_emulator(preset="demo", faults="503:10%,seed:3", latency_ms=30)
    out = tmp_path / "polite"
    summary = harvest(
        emu.base_url,
        out,
        projects=(DEMO_PROJECT,),
        concurrency=3,
        rate=20.0,
        burst=1,
        max_retries=8,
    )
    stats = emu.stats()
    assert summary.exit_code == 0
    assert stats["requests"] > 25
    assert stats["peak_concurrency"] <= 3
    assert stats["peak_rate_1s"] <= 20  # README: no 1-s window holds more than max(R, B)


class _ArrivalLog:
    """Wraps the emulator's app and records when each plate's wells were asked."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.arrivals: list[float] = []

    def handle(self, req: Any) -> Any:
        if re.fullmatch(r"/api/v0/m/plates/\d+/wells/", req.path):
            self.arrivals.append(time.monotonic())
        return self.app.handle(req)

    def route_name(self, req: Any) -> str:
        return str(self.app.route_name(req))


def _peak_overlap(arrivals: list[float], duration: float) -> int:
    """Most requests in flight at once, each lasting ``duration`` from its arrival."""
    events = sorted([(t, 1) for t in arrivals] + [(t + duration, -1) for t in arrivals])
    peak = running = 0
    for _t, step in events:
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize(("walk_concurrency", "at_least", "at_most"), [(4, 2, 4), (1, 1, 1)])
def test_plates_are_walked_several_at_once(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    walk_concurrency: int,
    at_least: int,
    at_most: int,
) -> None:
    """walk_concurrency >= 2 lists several plates' wells at once; 1 lists one at a time."""
    from harvester.emulator.app import build_app

    latency = 0.15
    log = _ArrivalLog(build_app("demo"))
    emu = make_emulator(app=log, latency_ms=latency * 1000)
    summary = harvest(
        emu.base_url,
        tmp_path / "walk",
        screens=(DEMO_SCREEN,),
        dry_run=True,
        concurrency=8,
        walk_concurrency=walk_concurrency,
    )
    assert summary.images == 80
    assert len(log.arrivals) >= 9  # every plate with images listed its wells
    # Half the latency: a request answered after the other arrived overlapped it for sure.
    assert at_least <= _peak_overlap(log.arrivals, latency / 2) <= at_most
