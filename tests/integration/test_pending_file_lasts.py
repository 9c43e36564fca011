"""A live run's pending file outlasts what would take it: a power loss, a hand that removes it.

The pending file (``journals/<writer>.pending``) is the mark that makes the next run check
the files an interrupted run recorded (README, "What a resume checks on disk"). It was made
without an fsync: after a power loss the journal's done lines (fsynced) could be on disk
while the pending file was not, and the next run trusted them. And one removed while its
run went on (by a user, or a run of another host) stayed gone: that run, killed later, left
no mark and its files were never checked. Every harvest here talks to an emulator over
real sockets; the fsyncs are seen by wrapping the real calls, which still run.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from child_scripts import checked
from gate_helpers import held_after, holding
from harvest_helpers import SMALL_PLATE, cli_env, harvest, kind_files, reaped, start_cli
from harvest_helpers import run_cli as cli
from test_interrupted_run_files import SCREEN, done_paths, journal_records, wait_for_done

from harvester import journal
from harvester.emulator import EmulatorThread

#: The emulator's gate the answer in flight at a run's kill waits at.
GATE = "in-flight"
#: Three thumbnails answered, the fourth held until the run is killed: it cannot end first.
FOURTH_HELD = held_after(3, GATE, "image:thumbnail")
#: ``harvester ARGV[1:]`` with its pending files refreshed every 0.2 s (not ten minutes).
FAST_REFRESH = checked("""
import sys
import harvester.store
harvester.store.PENDING_FRESH_EVERY = 0.2
from harvester.cli import main
sys.exit(main(sys.argv[1:]))
""")


def run_marks(out: Path) -> list[Path]:
    """The pending files of the one run that wrote to ``out`` (not those of the one-file
    writes, ``w-...``, a run makes as it writes its config or progress line)."""
    (journal_file,) = (out / "journals").glob("*.jsonl")
    writer = journal_file.name.removesuffix(".jsonl")
    return sorted((out / "journals").glob(f"{writer}*.pending"))


def _path_of(fd: int) -> str:
    """The file an open descriptor is (Linux: its ``/proc/self/fd`` link)."""
    return os.readlink(f"/proc/self/fd/{fd}")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
@pytest.mark.parametrize(("mode", "durable"), [("fsync", True), ("none", False)])
def test_the_pending_file_is_fsynced_before_the_first_done_line_is_written(
    tmp_path: Path,
    emulator: EmulatorThread,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    durable: bool,
) -> None:
    """With fsync durability, each of a run's pending files and the journals folder holding
    their names are fsynced before its journal's first done line is written, so a power
    loss cannot keep the line and lose the mark; with HARVESTER_SYNC=none (tmpfs) neither is."""
    monkeypatch.setenv("HARVESTER_SYNC", mode)
    synced: list[str] = []  # every path fsynced so far, in order
    before_done: list[set[str]] = []  # what was fsynced when the first done line was written
    real_fsync, real_write_all = os.fsync, journal.write_all

    def fsync(fd: int) -> None:
        real_fsync(fd)
        synced.append(_path_of(fd))

    def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
        if not before_done and b'"rec":"done"' in bytes(data):
            before_done.append(set(synced))
        real_write_all(fd, data)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(journal, "write_all", write_all)
    out = tmp_path / "out"
    summary = harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert summary.done == 8 and len(kind_files(out, "thumbnail")) == 8
    assert before_done, "no done line was written"
    (journal_file,) = (out / "journals").glob("*.jsonl")
    writer = journal_file.name.removesuffix(".jsonl")
    folder = os.path.realpath(out / "journals")
    marks = {os.path.join(folder, f"{writer}{loop}.pending") for loop in ("", "-c1")}
    if durable:
        assert marks | {folder} <= before_done[0], sorted(before_done[0])
    else:
        assert not (marks | {folder}) & set(synced), synced
    assert not list((out / "journals").glob("*.pending"))  # (a clean end removes them)


def test_a_pending_file_removed_while_its_run_lives_is_made_again_for_the_check(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A live run's pending files removed (by hand, or by a run of another host), then the
    run killed (kill -9) after its next refresh: the refresh made them again, so the resume
    checks that run's files and fetches again one cut short meanwhile (verify clean)."""
    import subprocess

    emu = make_emulator(preset="demo", faults=FOURTH_HELD)
    out = tmp_path / "out"
    args = [
        "harvest", "--base-url", emu.base_url, "--screen", SCREEN, "--artifacts", "thumbnail",
        "--out", str(out), "--rate", "none", "--concurrency", "2",
    ]  # fmt: skip
    child = subprocess.Popen(
        [sys.executable, "-c", FAST_REFRESH, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    with reaped(child) as proc, holding(emu, GATE):  # (it cannot end before it is killed)
        wait_for_done(out, 3)
        marks = run_marks(out)
        assert len(marks) == 2, marks  # (the store's two commit loops)
        for mark in marks:
            mark.unlink()
        # (a refresh each 0.2 s: made again long before; bounded below the gate's timeout)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and not all(m.exists() for m in marks):
            time.sleep(0.05)
        assert all(m.exists() for m in marks), "the run's refresh did not make them again"
        assert proc.poll() is None, "the run ended before it was killed"
        proc.kill()
        _, killed_said = proc.communicate(timeout=30)
    run = next(rec["run"] for rec in journal_records(out) if rec.get("rec") == "run")
    cut = out / done_paths(out)[0]
    whole = cut.read_bytes()
    cut.write_bytes(whole[: len(whole) // 2])

    resumed = cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    said = f"1 file recorded by the interrupted run {run} is missing or not the size it recorded"
    assert said in resumed.stderr, resumed.stderr
    assert cut.read_bytes() == whole
    assert len(kind_files(out, "thumbnail")) == 80
    verified = cli("verify", str(out))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "was removed while this run wrote to" in killed_said, killed_said


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_the_resume_makes_its_marks_durable_before_it_removes_the_killed_runs_mark(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run after a kill -9 (fsync durability) removes the killed run's pending file only
    once its own marks of that run's lost files are on disk: its journal's content and its
    name in the journals folder are both fsynced first, so a power loss then cannot keep the
    removal and lose the marks (the check and its outcome both gone)."""
    emu = make_emulator(preset="demo", faults=FOURTH_HELD)
    out = tmp_path / "out"
    args = [
        "harvest", "--base-url", emu.base_url, "--screen", SCREEN, "--artifacts", "thumbnail",
        "--out", str(out), "--rate", "none", "--concurrency", "2",
    ]  # fmt: skip
    with reaped(start_cli(*args)) as proc, holding(emu, GATE):
        wait_for_done(out, 3)
        proc.kill()
        proc.communicate(timeout=30)
    killed_marks = run_marks(out)
    assert len(killed_marks) == 2, killed_marks
    lost = out / done_paths(out)[0]
    lost.unlink()
    monkeypatch.setenv("HARVESTER_SYNC", "fsync")
    events: list[str] = []  # "made PATH" (a journal created), "synced PATH", in order
    at_removal: list[list[str]] = []  # the events, when a mark of the killed run was removed
    real_open, real_fsync, real_datasync = os.open, os.fsync, journal._datasync
    real_unlink = os.unlink

    def opened(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        made = flags & os.O_CREAT and os.fspath(path).endswith(".jsonl")
        fd = real_open(path, flags, mode, dir_fd=dir_fd)
        if made:
            events.append(f"made {_path_of(fd)}")
        return fd

    def fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(f"synced {_path_of(fd)}")

    def datasync(fd: int) -> None:
        real_datasync(fd)
        events.append(f"synced {_path_of(fd)}")

    def unlink(path: str | os.PathLike[str], *, dir_fd: int | None = None) -> None:
        if os.fspath(path) in {str(mark) for mark in killed_marks}:
            at_removal.append(list(events))
        real_unlink(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", opened)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(journal, "_datasync", datasync)
    monkeypatch.setattr(os, "unlink", unlink)
    summary = harvest(emu.base_url, out, screens=(int(SCREEN),), artifacts=("thumbnail",))
    assert summary.failed == 0 and lost.is_file()
    assert at_removal, "the killed run's pending file was not removed"
    marks = [rec for rec in journal_records(out) if rec.get("rec") == "invalid"]
    assert [rec["path"] for rec in marks] == [lost.relative_to(out).as_posix()]
    new_journals = {
        os.path.realpath(path)
        for path in (out / "journals").glob("*.jsonl")
        if any(rec.get("rec") == "invalid" for rec in journal_records_of(path))
    }
    (new_journal,) = new_journals
    folder = os.path.realpath(out / "journals")
    before = at_removal[0]
    made = before.index(f"made {new_journal}")
    # Its name: the journals folder fsynced after the journal was made; then its lines
    # (the run record, the mark) fsynced after they were written.
    assert f"synced {folder}" in before[made:], before[made:]
    assert f"synced {new_journal}" in before[made:], before[made:]
    assert len(at_removal) == 2 and not any(mark.exists() for mark in killed_marks)


def journal_records_of(path: Path) -> list[dict[str, Any]]:
    """The parseable lines of one journal."""
    records = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            records.append(json.loads(line))
    return records
