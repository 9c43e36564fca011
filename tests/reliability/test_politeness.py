"""Politeness end to end: the server never sees more than --rate and --concurrency."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reliability_helpers import CLI_TIMEOUT_S, DEMO_PROJECT, SMALL_PLATE, harvest_args, start_cli

from harvester.emulator import EmulatorThread

#: The gate the two overload answers wait at, so that both are out at once.
GATE = "overload"
#: Overload answers that force retries and the adaptive slowdown, by count, not by clock:
#: the 17th and 18th answers (well into the images, at the run's caps) are held at the gate
#: and then both answered 503. A maintenance window six seconds in gave a loaded machine
#: one 503 or none, as the run had not reached it or had only one request in it. (Random
#: 503s would keep the run near its 0.5/s floor and the test slow: the limiter recovers one
#: step per 16 successes in a row.)
FAULTS = f"first:ok*16|hold+503*2,hold:{GATE}"
OVERLOADS = 2


def test_rate_5_concurrency_4_hold_under_retries_and_slowdown(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`--rate 5 --concurrency 4`, ~1 s answers and two 503s answered together mid-run: the
    run retries both, slows down and completes; the emulator saw at most 5 requests in any
    1-second window and at most 4 at once (and reached 4, so the cap is what held it),
    retries included."""
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
    proc = start_cli(*argv)
    try:
        emu.wait_held(GATE, OVERLOADS, CLI_TIMEOUT_S)  # both overloaded requests out at once
        before_overload = emu.stats()
        emu.release(GATE)
        _stdout, stderr = proc.communicate(timeout=CLI_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    stats = emu.stats()
    assert proc.returncode == 0, stderr[-3000:]
    assert stats["faults"] == {"503": OVERLOADS}, stats["faults"]
    assert stats["by_status"]["503"] == OVERLOADS, stats["by_status"]
    assert "slowing down" in stderr, stderr[-2000:]
    # Both 503'd requests were asked again after their answers (retries), among the rest.
    assert stats["requests"] >= before_overload["requests"] + OVERLOADS, (before_overload, stats)
    assert stats["requests"] >= 25
    assert stats["peak_rate_1s"] <= 5, stats
    assert 3 <= stats["peak_concurrency"] <= 4, stats
