"""Harvests under injected faults: complete, byte-identical, and polite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
