"""A paused run shows its state between checks, not only at each check.

Checks come 5 s to 72 s apart; the progress heard of the pause only at each check, so a
terminal showed nothing for a minute at a time and a log's line a minute could be two
minutes late. Now the pause tells the progress every second (no request of its own): the
``images found`` bar says ``paused: server down since HH:MM, next check in 40s (...)`` and a
log's ``progress:`` line comes on time. Here checks are 0.8 s apart and the pause tells the
progress every 0.1 s.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

import harvester.outage
from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.pipeline import RunSummary, run_harvest
from harvester.progress import Progress
from harvester.retry import zero_waits

PLATE = 7361  # a plate of the demo preset: 8 images


@pytest.fixture(autouse=True)
def slow_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks 0.8 s apart (instead of 5 s to 60 s), the progress told every 0.1 s."""
    monkeypatch.setattr(harvester.outage, "FIRST_CHECK", 0.8)
    monkeypatch.setattr(harvester.outage, "CHECK_CAP", 0.8)
    monkeypatch.setattr(harvester.outage, "TICK", 0.1)


class Terminal(io.StringIO):
    """A stream that says it is a terminal, so that the bars are drawn into it."""

    def isatty(self) -> bool:
        return True


def screen(drawn: str) -> list[str]:
    """The lines a terminal shows after ``drawn`` (carriage returns, newlines and tqdm's
    cursor-up moves applied; trailing spaces dropped)."""
    rows: list[list[str]] = [[]]
    row = col = 0
    for piece in re.split(r"(\r|\n|\x1b\[A)", drawn):
        if piece == "\r":
            col = 0
        elif piece == "\n":
            row, col = row + 1, 0
            rows.extend([] for _ in range(row + 1 - len(rows)))
        elif piece == "\x1b[A":
            row = max(0, row - 1)
        else:
            line = rows[row]
            line.extend(" " * (col + len(piece) - len(line)))
            line[col : col + len(piece)] = piece
            col += len(piece)
    return ["".join(line).rstrip() for line in rows]


def harvest_into(
    progress: Progress, base_url: str, out: Path, outage_wait: float = 3600.0
) -> RunSummary:
    """A harvest of a demo plate's thumbnails (retries without waits), bounded."""
    cfg = HarvestConfig(
        base_url=base_url, out=out, plates=(PLATE,), artifacts=("thumbnail",), rate=None,
        max_retries=1, outage_wait=outage_wait,
    )  # fmt: skip

    async def bounded() -> RunSummary:
        with anyio.fail_after(20):
            return await run_harvest(cfg, progress=progress)

    with zero_waits(), progress.shown():
        return anyio.run(bounded)


def test_a_log_gets_its_progress_line_between_checks(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The API root down at the start for 4 checks (3.2 s at least), a line every 0.3 s
    wanted: the waiting lines come that often (not once a check), count down to the next
    check, and no extra request goes out."""
    # Down for a count of requests, not for a time from the emulator's start: a loaded
    # machine's start ate half of a 1 s window, and a pause of 0.5 s has one line or two.
    # The check at start's four tries, then 4 checks 0.8 s apart (or more, never less).
    emu = make_emulator(preset="demo", faults=f"first:503*{4 + 4},only:api_versions")
    lines = io.StringIO()
    summary = harvest_into(Progress(file=lines, line_interval=0.3), emu.base_url, tmp_path / "d")
    assert summary.exit_code == 0 and summary.outage_waited >= 4 * 0.8, summary
    waiting = [line for line in lines.getvalue().splitlines() if "waiting for the server" in line]
    # Told only at each check, there were 5 at most (one as the pause began, one a check).
    assert len(waiting) >= 7, lines.getvalue()
    assert all("(HTTP 503 Service Unavailable), next check in " in line for line in waiting)
    # The lines asked nothing: the check at start's tries, the 4 checks; the check answered
    # and the check at start asked again.
    assert emu.stats()["by_route"]["api_versions"] == {"503": 4 + 4, "200": 2}, emu.stats()


def test_a_terminal_shows_the_pause_on_its_bar(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """On a terminal, a run paused at its start opens its bars and says on the first one
    since when the server is down and when the next check comes; the words go once it is
    back."""
    # Down for the check at start's four tries and one check (a window from the emulator's
    # start could be over before a loaded machine's run began).
    emu = make_emulator(preset="demo", faults="first:503*5,only:api_versions")
    terminal = Terminal()
    summary = harvest_into(Progress(file=terminal), emu.base_url, tmp_path / "d")
    assert summary.exit_code == 0 and summary.outage_waited > 0
    drawn = terminal.getvalue()
    assert re.search(
        r"images found: 0 img .*paused: server down since \d\d:\d\d, next check in 1s "
        r"\(HTTP 503 Service Unavailable\)",
        drawn,
    ), drawn
    last = drawn.replace("\r", "\n").splitlines()
    found = [line for line in last if line.startswith("images found: 8 img")]
    assert found and "paused" not in found[-1], drawn


def test_a_terminal_is_left_clear_when_the_pause_at_the_start_ends_the_run(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A run that gives up in a pause at its start (--outage-wait 1s), before any image: the
    pause showed on a bar meanwhile, and the bars are gone at the end (three empty bars, one
    still saying "next check in 1s", stood above the stop line)."""
    emu = make_emulator(preset="demo", faults="maintenance:20s@0s")
    terminal = Terminal()
    summary = harvest_into(Progress(file=terminal), emu.base_url, tmp_path / "d", 1.0)
    assert summary.exit_code == 75 and summary.server_down
    drawn = terminal.getvalue()
    assert "paused: server down since " in drawn
    assert not any(screen(drawn)), screen(drawn)
