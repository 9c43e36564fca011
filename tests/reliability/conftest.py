"""Fixtures of the reliability suite.

``reference`` is one fault-free harvest (through the CLI) of the demo screen
and project, made once per session: chaos, crash and concurrency tests compare
their output with it byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reliability_helpers import DEMO_PROJECT, DEMO_SCREEN, Harvested, cli, harvest_args

from harvester.emulator import EmulatorThread


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harvested]:
    """The demo screen and project harvested once through the CLI, without faults."""
    out = tmp_path_factory.mktemp("reference") / "harvest"
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
        yield Harvested(out, emu.base_url)
