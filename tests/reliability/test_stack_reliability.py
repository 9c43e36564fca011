"""The n-D stack artifact (OME-TIFF) under the fault mix and under SIGKILLs."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from once_per_run import once_per_run
from reliability_helpers import (
    Harvested,
    assert_artifacts_recorded_once,
    assert_verify_clean,
    cli,
    content,
    harvest_args,
    start_cli,
    temp_files,
)

from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import ZSTACK_PROJECT_ID

FAULTS = "503:10%,429:5%,retry-after:1s|date,reset:2%,truncate:2%,html200:1%,exception:3%,seed:4"
ALL = ("thumbnail", "imgdata", "render", "metadata", "stack")
IMAGES = 3


def stack_args(base_url: str, out: Path) -> list[str]:
    return harvest_args(
        base_url,
        out,
        "--project", str(ZSTACK_PROJECT_ID),
        artifacts="all",
        rate="none",
        max_retries="30",
    )  # fmt: skip


@pytest.fixture(scope="session")
def stack_reference(tmp_path_factory: pytest.TempPathFactory) -> Harvested:
    """The zstack project harvested with every artifact, stack included, without faults:
    once per test run (the module's two tests may run in two xdist workers); read only."""
    return once_per_run(tmp_path_factory, "stack_reference", _harvest_stack_reference)


def _harvest_stack_reference(folder: Path) -> Harvested:
    out = folder / "harvest"
    with EmulatorThread(preset="zstack") as emu:
        proc = cli(*stack_args(emu.base_url, out))
        assert proc.returncode == 0, proc.stderr
        return Harvested(out, emu.base_url)


def renders(emu: EmulatorThread) -> int:
    """Render requests the emulator has answered so far (planes and default renders)."""
    return sum(emu.stats()["by_route"].get("image:render", {}).values())


def assert_no_staging_left(out: Path) -> None:
    staging = out / "staging"
    assert not staging.exists() or not any(staging.iterdir()), list(staging.rglob("*"))[:5]


def test_stack_under_faults_equals_fault_free(
    stack_reference: Harvested, tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Planes fetched under 503/429/resets/truncation/HTML-200/imgData Exceptions assemble
    into OME-TIFFs byte-identical to a fault-free run; no staging or temp file left."""
    emu = make_emulator(preset="zstack", faults=FAULTS, latency_ms=2, jitter_ms=4)
    out = tmp_path / "faulty"
    proc = cli(*stack_args(emu.base_url, out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sum(emu.stats()["faults"].values()) >= 5
    assert content(out, emu.base_url) == content(stack_reference.out, stack_reference.base_url)
    assert_artifacts_recorded_once(out, IMAGES, ALL)
    assert temp_files(out) == []
    assert_no_staging_left(out)
    assert_verify_clean(out)


def test_stack_sigkills_then_resume(
    stack_reference: Harvested, tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Five seeded SIGKILLs while planes are staged and stacks assembled, then a resume:
    byte-identical OME-TIFFs, each artifact journaled once, staging emptied, verify clean."""
    emu = make_emulator(preset="zstack", latency_ms=30, jitter_ms=10)
    out = tmp_path / "killed"
    argv = stack_args(emu.base_url, out) + ["--concurrency", "2"]
    rng = random.Random(7)
    # Kill when the emulator has served a seeded number of plane renders (counted over all
    # lives), so each kill lands while planes are staged or a stack is being assembled.
    for target in sorted(rng.sample(range(4, 60), 5)):
        proc = start_cli(*argv)
        try:
            deadline = time.monotonic() + 30
            while renders(emu) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.random() * 0.05)
        finally:
            proc.kill()
            proc.communicate(timeout=30)
        assert proc.returncode != 0  # killed mid-run, not finished
    final = cli(*argv)
    assert final.returncode == 0, final.stderr[-3000:]
    assert content(out, emu.base_url) == content(stack_reference.out, stack_reference.base_url)
    assert_artifacts_recorded_once(out, IMAGES, ALL)
    assert temp_files(out) == []
    assert_no_staging_left(out)
    assert_verify_clean(out)
