"""``verify`` racing a folder's first harvest does not call its journals deleted.

verify reads DIR's journals first; a first harvest that started just after (no journal yet)
wrote files into ``images/`` before verify looked there, and verify said "no journal records
any file, yet images/ holds files (were journals/ deleted ...?)" of a folder whose journals
record every one of them. It now looks at the journals again before saying so. The harvest
talks to the emulator over real sockets; it is run at the point of the race (just after
verify's read of the journals).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harvest_helpers import SMALL_PLATE, harvest

from harvester.emulator import EmulatorThread
from harvester.journal import JournalState
from harvester.models import Artifact
from harvester.verify import verify


def test_a_first_harvest_after_verify_read_the_journals_is_not_called_unjournaled(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A harvest ran between verify's journal read and its look at images/: no note says
    the folder's journals are gone, and no file is called unrecorded or bad."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "race"
    # As the first harvest leaves DIR in its first moment: journals/, nothing journaled.
    (out / "journals").mkdir(parents=True)
    load = JournalState.load
    raced: list[JournalState] = []

    def load_then_harvest(out_dir: Path, **kwargs: Any) -> JournalState:
        state = load(out_dir, **kwargs)
        if not raced:  # verify's own read: the harvest starts right after it
            raced.append(state)
            harvest(emu.base_url, out, plates=(SMALL_PLATE,), artifacts=(Artifact.THUMBNAIL,))
        return state

    monkeypatch.setattr(JournalState, "load", load_then_harvest)
    report = verify(out, mark_invalid=False)

    assert raced and not raced[0].done  # verify read no journal record
    assert len(list((out / "images").rglob("*.jpg"))) == 8
    assert not any("no journal records any file" in note for note in report.notes), report.notes
    assert not report.unjournaled_files and not report.problems
