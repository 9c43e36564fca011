"""How a harvest said it stopped is read back from its closing line, old logs' too.

``harvester status`` reads a job-array task's log to say how the task ended (its budget,
the server down, a signal). The words were spelled apart in the harvest's printing and in
status's parsing; they are one module's now (:mod:`harvester.end_lines`), and a log an
older version wrote must stay readable whatever the words become.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harvester.cli.harvest import _time_limit_line, dry_run_interrupted_line
from harvester.end_lines import (
    AFTER_BUDGET,
    STOPPED,
    after_budget,
    budget_reached,
    how_it_ended,
    server_stayed_down,
    size_said,
)
from harvester.session import stopped_text

#: Closing lines as harvester 0.1.21 wrote them into task logs, verbatim.
OLD_LINES = [
    (
        "stopped: the --max-bytes budget of 20G was reached; every finished file is kept and "
        "journaled, the rest is pending: continue (with a new budget) with: harvester harvest "
        "--out /s --shard 0/4",
        ("max_bytes", "20G"),
    ),
    ("stopped: the --max-bytes budget of 1", ("max_bytes", None)),  # cut short: disk full
    (  # (0.1.24's words for a budget in bytes: no unit said)
        "stopped: the --max-bytes budget of 20 was reached; every finished file is kept",
        ("max_bytes", "20"),
    ),
    (
        "stopped: the server stayed down for 3m00s (HTTP 503 Service Unavailable); every "
        "finished file is kept and journaled, the rest is pending: run again later: harvester "
        "harvest --out /s",
        ("server_down", None),
    ),
    (
        "interrupted: every finished file is kept and journaled; resume with: harvester "
        "harvest --out /s",
        ("interrupted", None),
    ),
    (
        "interrupted before any file was harvested; run: harvester harvest --out /s",
        (
            "interrupted",
            None,
        ),
    ),  # fmt: skip
    ("stopped: the server stayed down", ("server_down", None)),  # cut short: disk full
    ("done 3 (thumbnail 3), skipped 0 (already done), failed 0; 3 images found", None),
    ("stopped: the session ended (401): log in again", None),
]


@pytest.mark.parametrize(("line", "ended"), OLD_LINES)
def test_closing_lines_of_old_logs_are_read(line: str, ended: tuple[str, str | None]) -> None:
    """Each closing line an earlier version wrote says the end it said then; others none."""
    assert how_it_ended(line) == ended


def test_the_lines_the_harvest_prints_are_the_ones_read_back() -> None:
    """The reasons the run gives (budget, outage) and the CLI's interrupted lines (a dry
    run's, a time limit's) are read back as the ends they are."""
    assert how_it_ended(STOPPED + budget_reached("500M") + "; every finished") == (
        "max_bytes", "500M",
    )  # fmt: skip
    down = server_stayed_down("1m00s", "HTTP 502")
    assert how_it_ended(f"{STOPPED}{down}; nothing harvested yet") == ("server_down", None)
    assert how_it_ended(dry_run_interrupted_line("harvester harvest --dry-run")) == (
        "interrupted", None,
    )  # fmt: skip
    summary = SimpleNamespace(store_opened=True, paused_when_stopped="")
    line = _time_limit_line(summary, "/s/harvest.sbatch", "sbatch --array=1 /s/harvest.sbatch")
    assert how_it_ended(line) == ("interrupted", None)


@pytest.mark.parametrize(
    ("note", "then"),
    [
        # (0.1.22's words, verbatim: status must read the notes older logs hold too)
        ("note: as the walk looked for work left, the server went down (HTTP 503 Service "
         "Unavailable, its API root too)", "server_down"),
        ("note: as the walk looked for work left, the server stayed down for 1h00m (HTTP 503 "
         "Service Unavailable)", "server_down"),
        ("note: as the walk looked for work left, the session this run sent has ended (HTTP 403 "
         "Forbidden: Not logged in): log in to OMERO.web again ... first", "session_ended"),
        ("note: as the walk looked for work left, the server no longer takes the credentials "
         "this run sent (HTTP 401 Unauthorized): renew the token ... first", "credentials_refused"),
        ("note: index.csv lists 2 of the plan's 8 images", None),
        # (the words the run prints now, from where it makes them)
        (AFTER_BUDGET + stopped_text(401, "HTTP 401 Unauthorized"), "credentials_refused"),
        (AFTER_BUDGET + stopped_text(403, "HTTP 403 Forbidden"), "session_ended"),
    ],
)  # fmt: skip
def test_the_note_before_a_budget_line_says_what_ended_the_walk_after_it(
    note: str, then: str | None
) -> None:
    """The note a harvest prints before its budget's closing line where the server went
    down or the session ended after the budget is read back as which (status's task line
    says it, and that a new login comes first); any other note is none of them."""
    assert after_budget(note) == then


@pytest.mark.parametrize(
    ("size", "said"),
    [("20", "20 bytes"), ("1", "1 byte"), ("1048577", "1048577 bytes"), ("20G", "20G"),
     ("500M", "500M"), ("1K", "1K")],
)  # fmt: skip
def test_a_budget_in_bytes_says_its_unit(size: str, said: str) -> None:
    """A budget without a unit is said in bytes in the closing line ("of 20 bytes": it said
    "of 20", 20 of what unsaid), which status reads back as ``--max-bytes`` takes it; one
    with a unit is said as given."""
    line = f"{STOPPED}{budget_reached(size)}; every finished file is kept and journaled"
    assert line.startswith(f"stopped: the --max-bytes budget of {said} was reached; ")
    assert how_it_ended(line) == ("max_bytes", size)
    assert size_said(size) == said


def test_status_says_a_walks_budget_in_bytes_with_its_unit() -> None:
    """A walk its budget of 20 bytes stopped reads "(20 bytes)" on status's line; the
    record keeps the size as ``--max-bytes`` takes it (``20``, as ``--json`` gives it)."""
    from harvester.status import _budget_walk_state

    assert _budget_walk_state({"max_bytes": "20"}) == (
        "stopped by its --max-bytes budget (20 bytes), the rest pending: resume (a new "
        "budget of that size)"
    )
