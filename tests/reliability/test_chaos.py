"""Chaos: a multi-plate screen harvested through the CLI under a heavy fault mix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reliability_helpers import (
    DEMO_IMAGES,
    DEMO_PROJECT,
    DEMO_SCREEN,
    Harvested,
    assert_artifacts_recorded_once,
    assert_verify_clean,
    cli,
    content,
    harvest_args,
    temp_files,
)

from harvester.emulator import EmulatorThread

#: Issue 6's mix: 10% 503, 5% 429 (Retry-After in seconds and as an HTTP-date), 2% resets,
#: 2% truncated bodies, 1% HTML with 200, imgData Exceptions, a 10-second maintenance window
#: opening one second after the emulator starts (so mid-harvest).
CHAOS = (
    "503:10%,429:5%,retry-after:1s|date,reset:2%,truncate:2%,html200:1%,exception:3%,"
    "maintenance:10s@1s,seed:11"
)
FAULT_KINDS = ("503", "429", "reset", "truncate", "html200", "exception", "maintenance")


def test_chaos_harvest_equals_fault_free(
    reference: Harvested, tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Every fault kind hits the run, yet it exits 0 with every artifact valid, journaled
    once, and byte-identical (files, study metadata, index.csv) to a fault-free harvest."""
    emu = make_emulator(preset="demo", faults=CHAOS, latency_ms=5, jitter_ms=15)
    out = tmp_path / "chaos"
    argv = harvest_args(
        emu.base_url,
        out,
        "--screen", str(DEMO_SCREEN),
        "--project", str(DEMO_PROJECT),
        rate="none",
        concurrency="16",
        max_retries="40",
        timeout="10",
    )  # fmt: skip
    proc = cli(*argv)
    stats = emu.stats()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    for kind in FAULT_KINDS:
        assert stats["faults"].get(kind, 0) > 0, (kind, stats["faults"])
    assert content(out, emu.base_url) == content(reference.out, reference.base_url)
    assert_artifacts_recorded_once(out, DEMO_IMAGES)
    assert temp_files(out) == []
    assert_verify_clean(out)
