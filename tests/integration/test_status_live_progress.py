"""`harvester status` from another shell shows a running harvest's latest progress line."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harvest_helpers import reaped, run_cli, run_lock_held, start_cli

from harvester import status
from harvester.emulator import EmulatorThread


def test_status_shows_a_running_harvest_paused_for_a_server_down(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """While a harvest waits for a server that is down, status says so, with its progress
    (it said only "running now": the pause, counts and time left were in the run's log
    alone); once that run is killed (kill -9), its leftover line is not shown as news."""
    emu = make_emulator(preset="demo", faults="first:ok*30|503*1000")
    out = tmp_path / "d"
    args = ["harvest", "--base-url", emu.base_url, "--screen", "2302", "--out", str(out),
            "--artifacts", "thumbnail", "--rate", "none", "--max-retries", "0"]  # fmt: skip
    with reaped(start_cli(*args)) as proc:
        deadline = time.monotonic() + 30
        status = run_cli("status", str(out))
        while "waiting for the server" not in status.stdout:
            assert proc.poll() is None, proc.communicate(timeout=30)
            assert time.monotonic() < deadline, status.stdout  # (reaped kills the run)
            time.sleep(0.2)
            status = run_cli("status", str(out))
        proc.kill()
        proc.communicate(timeout=30)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("running now: "))
    live = lines[at + 1]
    assert live.startswith("  latest progress line, "), status.stdout
    assert " ago: progress (" in live
    assert "files done" in live and "waiting for the server for " in live
    assert "(HTTP 503 Service Unavailable)" in live
    after = run_cli("status", str(out))
    assert "running now" not in after.stdout and "latest progress line" not in after.stdout
    assert "to resume: harvester harvest --out" in after.stdout


def test_status_does_not_show_the_line_of_the_run_before(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A harvest that has taken DIR's lock but not yet written a progress line (loading a
    big folder's journals, checking the server) is not shown the line of the run before it
    (which said that run's counts, hours old, as this run's: a run killed leaves its line)."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "d"
    done = run_cli("harvest", "--base-url", emu.base_url, "--screen", "2302", "--out", str(out),
                   "--artifacts", "thumbnail", "--rate", "none")  # fmt: skip
    assert done.returncode == 0, done.stderr
    left = out / "locks" / "all.progress"
    assert not left.exists()  # a run that ends removes its line; one killed leaves it:
    left.write_text("progress (3h07m): 91,204 images found, 90,112 finished\nrun R\n")
    old = time.time() - 3600
    os.utime(left, (old, old))  # the run before ended an hour ago
    with run_lock_held(out, None):  # the next run, its lock taken a moment ago
        status = run_cli("status", str(out))
    assert status.returncode == 0, status.stderr
    assert "running now: " in status.stdout
    assert "latest progress line" not in status.stdout, status.stdout


def test_status_read_as_a_run_ends_is_not_told_that_run_stopped(
    tmp_path: Path, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that ends while status reads DIR journals its walk "finished" after status read
    the journals, and lets its lock go before status looks for the runs going on: status
    said "walk ... has not finished: stopped" and "to resume: ...", of a folder complete.
    Read again once the run has ended, it says the folder as the run left it."""
    out = tmp_path / "d"
    done = run_cli("harvest", "--base-url", emulator.base_url, "--plate", "7375", "--out",
                   str(out), "--artifacts", "thumbnail", "--rate", "none", "-q")  # fmt: skip
    assert done.returncode == 0, done.stderr
    (journal,) = (out / "journals").glob("*.jsonl")
    lines = journal.read_text().splitlines(keepends=True)
    (last_walk,) = [line for line in lines if '"rec":"walk"' in line and '"finished":true' in line]
    journal.write_text("".join(line for line in lines if line != last_walk))  # as mid-run
    read_journals = status._load_tagged
    with run_lock_held(out, None) as run:

        def run_ends_as_status_reads(out_dir: Path) -> Any:
            tagged = read_journals(out_dir)
            if run.poll() is None:  # the run's last record, then its end
                with journal.open("a") as end:
                    end.write(last_walk)
                run.kill()
                run.communicate(timeout=30)
            return tagged

        monkeypatch.setattr(status, "_load_tagged", run_ends_as_status_reads)
        report = status.collect_status(out)
    said = report.format_text()
    assert report.walks == [] and report.running == [], said
    assert "has not finished" not in said and "to resume" not in said, said
