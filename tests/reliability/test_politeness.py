"""Politeness end to end: the server never sees more than --rate and --concurrency."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reliability_helpers import DEMO_PROJECT, SMALL_PLATE, cli, harvest_args

from harvester.emulator import EmulatorThread

#: Overload answers that force retries and the adaptive slowdown: a one-second maintenance
#: window (503 to every request in flight) six seconds in, once the run has reached its
#: caps. (Random 503s would keep the run near its 0.5/s floor and the test slow: the
#: limiter recovers one step per 16 successes in a row.)
FAULTS = "maintenance:1s@6s"


def test_rate_5_concurrency_4_hold_under_retries_and_slowdown(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`--rate 5 --concurrency 4`, ~1 s answers and a burst of 503s mid-run: the run retries,
    slows down and completes; the emulator saw at most 5 requests in any 1-second window and
    at most 4 at once (and reached 4, so the cap is what held it), retries included."""
    emu = make_emulator(preset="demo", faults=FAULTS, latency_ms=800, jitter_ms=400)
    out = tmp_path / "polite"
    argv = harvest_args(
        emu.base_url,
        out,
        "--plate", str(SMALL_PLATE),
        "--project", str(DEMO_PROJECT),
        quiet=False,
        rate="5",
        concurrency="4",
        burst="1",
        max_retries="20",
        artifacts="thumbnail,render",
    )  # fmt: skip
    proc = cli(*argv)
    stats = emu.stats()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert stats["faults"].get("maintenance", 0) >= 2, stats["faults"]
    assert "slowing down" in proc.stderr, proc.stderr[-2000:]
    assert stats["requests"] >= 25
    assert stats["peak_rate_1s"] <= 5, stats
    assert 3 <= stats["peak_concurrency"] <= 4, stats
