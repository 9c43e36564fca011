"""Harvests on systems other than Linux, simulated here on Linux: macOS has no ``/proc``,
no ``syncfs`` and no ``fdatasync``, and its fsync stops at the drive's cache; Windows has
no ``fcntl``. Every harvest talks to an emulator over real sockets; the missing calls are
taken away (or the macOS one stood in for by a recorder that still fsyncs)."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from harvest_helpers import SMALL_PLATE, harvest, kind_files
from test_interrupted_run_files import journal_records

from harvester import journal, processes, store
from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.layout import temp_path

#: A stand-in for macOS's ``fcntl.F_FULLFSYNC`` (no fcntl command has this number).
FAKE_FULLFSYNC = 0x7FFF_0051


def _path_of(fd: int) -> str:
    """The file an open descriptor is (Linux: its ``/proc/self/fd`` link)."""
    return os.readlink(f"/proc/self/fd/{fd}")


def test_windows_is_refused_in_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On Windows a harvest is refused with one error line and a hint to use WSL (exit 2),
    before any folder is made; it ended in a traceback from harvester's own import."""
    monkeypatch.setattr(sys, "platform", "win32")
    out = tmp_path / "out"
    code = main(["harvest", "--base-url", "http://127.0.0.1:9", "--image", "1", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "error: harvester runs on Linux and macOS, not on this system (win32)",
        "hint: on Windows, install and run it inside WSL (Windows Subsystem for Linux)",
    ]
    assert not out.exists()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_on_macos_each_batch_reaches_the_drive_before_its_done_lines(
    tmp_path: Path, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without syncfs and fdatasync and with F_FULLFSYNC (macOS), a harvest completes with
    its files and journal right, and asks the drive to flush its cache after each batch's
    files are fsynced and before their done lines, after each journal write, and before
    the marker (a one-file write) takes its name."""
    monkeypatch.delenv("HARVESTER_SYNC", raising=False)
    monkeypatch.setattr(store, "_load_syncfs", lambda: None)
    monkeypatch.delattr(os, "fdatasync", raising=False)
    monkeypatch.setattr(journal, "FULLFSYNC", FAKE_FULLFSYNC)
    events: list[tuple[str, str]] = []  # ("fsync" | "flush" | "done", path) in order
    real_fsync, real_fcntl, real_write_all = os.fsync, fcntl.fcntl, journal.write_all

    def fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(("fsync", _path_of(fd)))

    def fake_fcntl(fd: int, cmd: int, arg: Any = 0) -> Any:
        if cmd != FAKE_FULLFSYNC:
            return real_fcntl(fd, cmd, arg)
        real_fsync(fd)  # (what F_FULLFSYNC does beyond it cannot be done here)
        events.append(("flush", _path_of(fd)))
        return 0

    def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
        for line in bytes(data).splitlines():
            record = json.loads(line)
            if record.get("rec") == "done":  # (one event per file the line names)
                paths = [record["path"], *(f["path"] for f in record.get("files", ()))]
                events.extend(("done", os.path.join(folder, path)) for path in paths)
        real_write_all(fd, data)
        events.append(("write", _path_of(fd)))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(fcntl, "fcntl", fake_fcntl)
    monkeypatch.setattr(journal, "write_all", write_all)
    out = tmp_path / "out"
    folder = os.path.realpath(out)
    summary = harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))

    files = kind_files(out, "thumbnail")
    assert summary.done == 8 and len(files) == 8
    done = {r["path"]: r for r in journal_records(out) if r.get("kind") == "thumbnail"}
    assert sorted(done) == sorted(p.relative_to(out).as_posix() for p in files)
    assert all(os.path.getsize(out / path) == rec["size"] for path, rec in done.items())
    (journal_file,) = (str(p) for p in (out / "journals").glob("*.jsonl"))
    dones = [(i, path) for i, (what, path) in enumerate(events) if what == "done"]
    assert len(dones) >= 8 + 1  # (the plate's study files too)
    for i, path in dones:
        synced = [
            j
            for j, e in enumerate(events[:i])
            if e[0] == "fsync" and e[1].startswith(path + ".tmp-")
        ]
        assert synced, f"{path} was not fsynced before its done line"
        assert ("flush", folder) in events[synced[-1] : i], (
            f"no flush between {path}'s fsync and its done line"
        )
    marker = [path for what, path in events if what == "flush" and "harvest.json.tmp-" in path]
    assert marker, "the marker was renamed into place without a flush"
    writes, flushes = (events.count((what, journal_file)) for what in ("write", "flush"))
    assert flushes >= writes > 0, "a journal write was not flushed"


def _pending_of_reused_pid(out: Path, writer: str, start: int) -> Path:
    """Leave in DIR what a killed run leaves: a pending file naming this host, a pid now
    this test's (the number given again) with the start of its earlier owner, and one temp
    file it listed; the temp file."""
    target = kind_files(out, "thumbnail")[0]
    tmp = temp_path(target, writer)
    tmp.write_bytes(b"half a thumbnail")
    header = {"writer": writer, "host": processes.HOST, "pid": os.getpid(), "start": start}
    pending = out / "journals" / f"{writer}.pending"
    pending.write_text(json.dumps(header) + "\n" + tmp.relative_to(out).as_posix() + "\n")
    return tmp


def test_without_proc_a_reused_pid_is_told_apart_by_ps(
    tmp_path: Path, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without /proc (macOS) a pid's start comes from ps: the next harvest removes the temp
    file and pending file of a killed run whose pid a live process has since, and
    completes with its files; kill(0) alone took that run for alive and kept them."""
    monkeypatch.setattr(processes, "_has_proc", lambda: False)
    out = tmp_path / "out"
    first = harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert first.done == 8
    own_start = processes.process_start(os.getpid())
    assert own_start is not None, "ps gave no start time"
    tmp = _pending_of_reused_pid(out, "node-1-4242-killed", own_start - 3600)

    again = harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert not tmp.exists()
    assert not (out / "journals" / "node-1-4242-killed.pending").exists()
    assert again.done + again.skipped == 8 and len(kind_files(out, "thumbnail")) == 8


def test_without_proc_a_live_runs_temp_files_are_kept(
    tmp_path: Path, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without /proc (macOS), a pending file naming a live process with its own start (ps's)
    is a live run's: the next harvest leaves its temp file alone."""
    monkeypatch.setattr(processes, "_has_proc", lambda: False)
    out = tmp_path / "out"
    assert harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",)).done
    own_start = processes.process_start(os.getpid())
    assert own_start is not None, "ps gave no start time"
    tmp = _pending_of_reused_pid(out, "node-1-4242-live", own_start)

    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert tmp.exists() and stat.S_ISREG(tmp.stat().st_mode)
