"""Ctrl-C while the store opens: the run's own signal watcher stops it, nothing left running.

Before the watcher covered the whole run, a SIGINT before the fetching stage went to
asyncio's handler, which cancels the main task natively. That abandons the worker thread
that opens the store (journal load, stale temp files) and, twice in the soak script under
heavy load, let a run go on harvesting as if no signal had come. Now every moment of the
run is covered by one anyio cancellation.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.store import Store

PROJECT = "51"  # the demo preset's project: 8 images


def test_ctrl_c_while_the_store_opens_stops_the_run_and_leaves_nothing_running(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store's opening takes a second (a big folder); SIGINT arrives in the middle: exit
    130 with the resume line, no image fetched, and the opening has finished (its thread is
    not abandoned) by the time the command returns."""
    opened: list[float] = []
    real_open = Store._open_sync

    def slow_open(self: Store, *args: object, **kwargs: object) -> None:
        # SIGINT from inside the opening, which goes on for a second: it surely comes in
        # its middle (a timer's half-second could come before it on a loaded machine).
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1.0)
        real_open(self, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(time.monotonic())

    monkeypatch.setattr(Store, "_open_sync", slow_open)
    out = tmp_path / "d"
    code = main(
        ["harvest", "--base-url", emulator.base_url, "--project", PROJECT,
         "--out", str(out), "--artifacts", "thumbnail", "--rate", "none", "--quiet"]
    )  # fmt: skip
    returned = time.monotonic()
    err = capsys.readouterr().err
    assert code == 130, err
    assert "interrupted: every finished file is kept and journaled; resume with:" in err
    assert "Traceback" not in err
    assert list(out.rglob("*.thumbnail.jpg")) == []
    assert opened and opened[0] <= returned  # the opening ended before the command did
    assert emulator.stats()["image_requests"] == 0
