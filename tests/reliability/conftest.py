"""Fixtures of the reliability suite.

``reference`` is one fault-free harvest (through the CLI) of the demo screen
and project, made once per test run (not once per xdist worker: see once_per_run.py):
chaos, crash, disk-full and concurrency tests compare their output with it byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from once_per_run import once_per_run
from reliability_helpers import DEMO_PROJECT, DEMO_SCREEN, Harvested, cli, harvest_args

from harvester.emulator import EmulatorThread


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Harvested:
    """The demo screen and project harvested once per test run through the CLI, without
    faults; tests read its folder, never write it."""
    return once_per_run(tmp_path_factory, "reliability_reference", _harvest_reference)


def _harvest_reference(folder: Path) -> Harvested:
    """The harvest into ``folder/harvest`` from an emulator of its own, stopped once done
    (its URL is kept: the files' JSON names it, :func:`reliability_helpers.content` masks it)."""
    out = folder / "harvest"
    with EmulatorThread(preset="demo") as emu:
        argv = harvest_args(
            emu.base_url,
            out,
            "--screen", str(DEMO_SCREEN),
            "--project", str(DEMO_PROJECT),
            rate="none",
            concurrency="16",
        )  # fmt: skip
        proc = cli(*argv)
        assert proc.returncode == 0, proc.stderr
        return Harvested(out, emu.base_url)
