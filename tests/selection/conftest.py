"""Fixtures for the selection tests: a demo emulator that records image requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selection_helpers import DEMO_SCREEN, RecordingApp, harvest

from harvester.emulator import EmulatorThread
from harvester.journal import JournalState
from harvester.models import ImageRef


@pytest.fixture
def recording() -> Iterator[tuple[EmulatorThread, RecordingApp]]:
    """A demo emulator on a loopback port whose app records the image ids requested."""
    app = RecordingApp()
    with EmulatorThread(app=app) as emu:
        yield emu, app


@pytest.fixture(scope="session")
def demo_refs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, ImageRef]:
    """Every image of the demo screen with its labels (one plain harvest, made once)."""
    out: Path = tmp_path_factory.mktemp("all") / "harvest"
    with EmulatorThread(preset="demo") as emu:
        harvest(emu.base_url, out, screens=(DEMO_SCREEN,))
    return dict(JournalState.load(out).images)
