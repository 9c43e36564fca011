"""Fixtures for end-to-end harvests against the emulator over loopback sockets.

``reference`` is one fault-free harvest of the demo screen and project, made
once per session: the other tests compare their output with it byte for byte.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from harvest_helpers import DEMO_PROJECT, DEMO_SCREEN, Reference, harvest

from harvester.emulator import EmulatorThread


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    """The demo screen and project harvested once, without faults."""
    out = tmp_path_factory.mktemp("reference") / "harvest"
    with EmulatorThread(preset="demo") as emu:
        summary = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), projects=(DEMO_PROJECT,))
        base_url = emu.base_url
    yield Reference(out, summary, base_url)


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
