"""Fixtures for end-to-end harvests against the emulator over loopback sockets.

``reference`` is one fault-free harvest of the demo screen and project, made
once per test run: the other tests compare their output with it byte for byte.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from harvest_helpers import DEMO_PROJECT, DEMO_SCREEN, Reference, harvest
from once_per_run import once_per_run

from harvester.emulator import EmulatorThread


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The demo screen and project harvested once per test run (not per xdist worker),
    without faults; tests read its folder, never write it (they copy it to change it)."""
    return once_per_run(tmp_path_factory, "reference", _harvest_reference)


def _harvest_reference(folder: Path) -> Reference:
    """The demo screen and project harvested into ``folder/harvest`` from an emulator of
    their own, stopped once done (its URL is kept: the files' JSON names it)."""
    out = folder / "harvest"
    with EmulatorThread(preset="demo") as emu:
        summary = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), projects=(DEMO_PROJECT,))
        base_url = emu.base_url
    return Reference(out, summary, base_url)


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder of this test's own, in-process (``tempfile.tempdir``) and for child
    processes (``TMPDIR``): any other harvester on the machine (a second test run, a user's
    harvest) spools its copies into the shared one, and a leftover there is not this test's."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder
