"""How much of a task log `status` reads to find its last start line: a bounded window."""

from __future__ import annotations

from pathlib import Path

from harvester.slurm import task_start_pattern
from harvester.status import _LOG_MAX_BYTES, _since_last_start

START = "harvester shard 1/4: job 182_1 on node01 at Sat Nov 28 12:00:00 UTC 2026"
WARNING = "warning: image of this run said something long\n"


def test_a_log_without_a_start_line_near_its_end_is_read_no_further_than_the_cap(
    tmp_path: Path,
) -> None:
    """A 3 MB log whose start line is at its head: what is read is its last 1 MiB at most,
    and the answer says the start line was not found (it read up to 16 MiB, 21 MB in all)."""
    log = tmp_path / "harvest-182_1.log"
    log.write_text(f"{START}\n" + WARNING * (3 * (1 << 20) // len(WARNING)) + "interrupted\n")
    lines, found = _since_last_start(log, task_start_pattern())
    assert not found
    assert lines[-1] == "interrupted"
    assert sum(len(line) + 1 for line in lines) <= _LOG_MAX_BYTES
    assert not [line for line in lines if line.startswith("harvester shard")]


def test_a_start_line_within_the_cap_is_found_with_every_line_after_it(tmp_path: Path) -> None:
    """A start line 600 KB from the end (past the first 64 KiB read): found, whole, and
    every line after it read; a log shorter than the first read is read whole."""
    log = tmp_path / "harvest-182_1.log"
    after = WARNING * (600_000 // len(WARNING))
    log.write_text(WARNING * 1000 + f"{START}\n{after}interrupted\n")
    lines, found = _since_last_start(log, task_start_pattern())
    assert found
    assert START in lines
    assert lines[lines.index(START) + 1 :] == [*after.splitlines(), "interrupted"]

    short = tmp_path / "harvest-182_2.log"
    short.write_text(f"{WARNING}interrupted\n")
    assert _since_last_start(short, task_start_pattern()) == (
        [WARNING.strip(), "interrupted"],
        True,
    )


def _lines_of_size(size: int) -> str:
    """Short lines of ``size`` bytes in all, the last one ending it."""
    pad = "w" * 99 + "\n"
    text = pad * ((size - 1) // len(pad))
    return text + "x" * (size - len(text) - 1) + "\n"


def test_a_start_line_that_begins_the_last_mib_exactly_is_found(tmp_path: Path) -> None:
    """A start line whose first byte is the first byte of the log's last 1 MiB (the line
    before it ends just outside): it is whole in what is read, so found, not said unread
    (it was); a CRLF the window's edge splits gives back no empty or cut line."""
    after = _lines_of_size(_LOG_MAX_BYTES - len(START) - 1)
    log = tmp_path / "harvest-182_1.log"
    log.write_text(WARNING * 100 + f"{START}\n{after}")
    assert log.stat().st_size == len(WARNING) * 100 + _LOG_MAX_BYTES
    lines, found = _since_last_start(log, task_start_pattern())
    assert found
    assert lines == [START, *after.splitlines()]

    after = _lines_of_size(_LOG_MAX_BYTES - 1)
    crlf = tmp_path / "harvest-182_2.log"
    crlf.write_bytes(f"{WARNING * 100}{START}\r\n{after}".encode())
    assert crlf.read_bytes()[-_LOG_MAX_BYTES - 1 :].startswith(b"\r\n")  # (CR | LF ...)
    lines, found = _since_last_start(crlf, task_start_pattern())
    assert not found
    assert lines == after.splitlines()
