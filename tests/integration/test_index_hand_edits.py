"""An ``index.csv`` (or ``labels.csv``) changed by hand is kept, not overwritten.

Every harvest and ``harvester index`` rebuild these files from the journals. A person who
added a column of notes to ``index.csv`` in a spreadsheet lost it, without a word, at the
next resume (an hourly cron job's). Now the changed copy is kept beside it as
``index.edited-<UTC time>.csv`` with one warning, ``status`` and ``verify`` say so
beforehand, and an untouched file (also one copied with a new time) is rewritten as
before. And a missing ``index.csv`` while a harvest runs is not "rebuild it": that run
writes it at its end. Each command runs as ``harvester ARGS`` (in the test process,
tests/cli_in_process.py) against the emulator over real sockets.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from harvest_helpers import run_cli as cli
from harvest_helpers import run_lock_held

from harvester import index
from harvester.emulator import EmulatorThread

PLATE = "7375"  # 8 images
NOTE = (
    "note: index.csv has been changed since harvester wrote it: the next harvest (or "
    "harvester index) keeps that copy as index.edited-<UTC time>.csv and writes a new one"
)


def harvested(emu: EmulatorThread, out: Path, *extra: str) -> None:
    proc = cli(
        "harvest", "--base-url", emu.base_url, "--plate", PLATE, "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "-q", *extra,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def kept_copies(out: Path, stem: str) -> list[Path]:
    return sorted(out.glob(f"{stem}.edited-*.csv"))


def with_notes_column(text: str) -> str:
    """index.csv as a person leaves it: a column of their own, filled on the first row."""
    lines = text.splitlines()
    lines[0] += ",my_notes"
    lines[1] += ",looks blurry"
    return "\n".join(lines) + "\n"


def test_a_resume_keeps_an_index_edited_by_hand_and_writes_a_new_one(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A column added to index.csv: status and verify note it; the resume keeps those exact
    bytes as index.edited-*.csv (one warning), writes index.csv as harvester makes it, and
    the next resume keeps nothing more."""
    out = tmp_path / "d"
    harvested(emulator, out)
    original = (out / "index.csv").read_bytes()
    edited = with_notes_column(original.decode())
    (out / "index.csv").write_text(edited)

    status = cli("status", str(out))
    assert status.returncode == 0 and NOTE in status.stdout.splitlines(), status.stdout
    verify = cli("verify", str(out))
    assert verify.returncode == 0 and NOTE in verify.stdout.splitlines(), verify.stdout

    proc = cli("harvest", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    [kept] = kept_copies(out, "index")
    assert kept.read_text() == edited
    assert (out / "index.csv").read_bytes() == original
    assert proc.stderr.splitlines() == [
        f"WARNING harvester.problems: {out / 'index.csv'} had been changed since harvester "
        f"wrote it: kept that copy as {kept}; index.csv is rebuilt from the journals at every "
        "harvest (keep your own columns in a copy)"
    ]
    again = cli("harvest", "--out", str(out), "-q")
    assert again.returncode == 0 and again.stderr == "", again.stderr
    assert kept_copies(out, "index") == [kept]
    assert NOTE not in cli("status", str(out)).stdout


def _mixed_in(out: Path, entries: int) -> str:
    """The warning of a first harvest into folder ``out`` holding ``entries`` of the user's
    (README: Harvesting), said before the tables it keeps aside."""
    held = "1 entry" if entries == 1 else f"{entries} entries"
    return (
        f"WARNING harvester.problems: --out {out} is no harvest folder (no harvest.json) but "
        f"holds {held}: harvester's files and folders (harvest.json, journals/, images/, "
        f"study/, index.csv, ...) go in among them; for a folder of its own, give --out "
        f"{out / 'harvest'}"
    )


def test_a_first_harvest_keeps_the_labels_and_splits_csv_it_found_there(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """An existing folder holding the user's own labels.csv and splits.csv: a harvest with
    neither label keys nor a split, which removes such tables it left itself, keeps these
    as *.edited-*.csv with their bytes (they were deleted, found by a walkthrough)."""
    out = tmp_path / "d"
    out.mkdir()
    (out / "labels.csv").write_text("cat,0\n")
    (out / "splits.csv").write_text("train,1\n")
    proc = cli(
        "harvest", "--base-url", emulator.base_url, "--plate", PLATE, "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert not (out / "labels.csv").exists() and not (out / "splits.csv").exists()
    [labels] = kept_copies(out, "labels")
    [splits] = kept_copies(out, "splits")
    assert labels.read_text() == "cat,0\n" and splits.read_text() == "train,1\n"
    assert proc.stderr.splitlines() == [
        _mixed_in(out, 2),
        *(
            f"WARNING harvester.problems: {out / name} was not written by harvester: kept it "
            f"as {kept}; {name} is rebuilt from the journals at every harvest (keep your own "
            "files under other names)"
            for name, kept in (("splits.csv", splits), ("labels.csv", labels))
        ),
    ]


def test_an_untouched_index_with_a_new_time_is_rewritten_without_a_copy(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """index.csv with the same bytes but another modification time (`cp -r`, `touch`) is
    not taken for an edit: no note, no copy, no warning."""
    out = tmp_path / "d"
    harvested(emulator, out)
    os.utime(out / "index.csv", (1_000_000_000, 1_000_000_000))
    assert "note:" not in cli("status", str(out)).stdout
    proc = cli("harvest", "--out", str(out), "-q")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert kept_copies(out, "index") == []


def test_a_first_harvest_into_a_folder_keeps_the_index_csv_it_found_there(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """An existing folder holding the user's own index.csv: the first harvest keeps those
    bytes as index.edited-*.csv with one warning saying harvester did not write it, rather
    than overwriting them; the next harvest keeps nothing more."""
    out = tmp_path / "d"
    out.mkdir()
    mine = "sample,condition\nA1,control\n"
    (out / "index.csv").write_text(mine)
    proc = cli(
        "harvest", "--base-url", emulator.base_url, "--plate", PLATE, "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    [kept] = kept_copies(out, "index")
    assert kept.read_text() == mine
    assert (out / "index.csv").read_text().startswith("image_id,")
    assert proc.stderr.splitlines() == [
        _mixed_in(out, 1),
        f"WARNING harvester.problems: {out / 'index.csv'} was not written by harvester: "
        f"kept it as {kept}; index.csv is rebuilt from the journals at every harvest "
        "(keep your own files under other names)",
    ]
    again = cli("harvest", "--out", str(out), "-q")
    assert again.returncode == 0 and again.stderr == "", again.stderr
    assert kept_copies(out, "index") == [kept]


def test_harvester_index_keeps_a_labels_csv_edited_by_hand(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`harvester index --label-key`, labels.csv edited, `harvester index` again: the edited
    labels.csv is kept as labels.edited-*.csv and a fresh one written (exit 0)."""
    out = tmp_path / "d"
    harvested(emulator, out)
    first = cli("index", str(out), "--label-key", "Gene Symbol")
    assert first.returncode == 0, first.stderr
    original = (out / "labels.csv").read_bytes()
    (out / "labels.csv").write_bytes(original + b"my own class,99,0\n")

    proc = cli("index", str(out))
    assert proc.returncode == 0, proc.stderr
    [kept] = kept_copies(out, "labels")
    assert kept.read_bytes() == original + b"my own class,99,0\n"
    assert (out / "labels.csv").read_bytes() == original
    assert f"kept that copy as {kept}" in proc.stderr
    assert kept_copies(out, "index") == []


def test_verify_does_not_ask_to_rebuild_the_index_a_running_harvest_writes(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """index.csv missing while a harvest without --shard runs: verify and status say that
    run writes it at its end (not "rebuild it"); with a shard running, rebuild once it ends;
    with nothing running, rebuild it."""
    out = tmp_path / "d"
    harvested(emulator, out)
    (out / "index.csv").unlink()
    rebuild = f"note: index.csv is missing: rebuild it with harvester index {out}"
    with run_lock_held(out, None) as holder:
        for command in ("verify", "status"):
            proc = cli(command, str(out))
            assert proc.returncode == 0, proc.stderr
            assert (
                f"note: index.csv is missing: a harvest of the whole set (pid {holder.pid} on "
            ) in proc.stdout, proc.stdout
            assert "), running now, writes it at its end" in proc.stdout
            assert rebuild not in proc.stdout
    with run_lock_held(out, "1/2") as holder:
        proc = cli("verify", str(out))
        assert (
            f"{rebuild} once the harvests running now have ended (shard 1/2 (pid {holder.pid}"
        ) in proc.stdout, proc.stdout
    proc = cli("verify", str(out))
    assert rebuild in proc.stdout.splitlines(), proc.stdout


def test_two_index_writes_at_once_take_nothing_for_a_hand_edit(
    tmp_path: Path, emulator: EmulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    """Two writers of index.csv at once with other rows (harvester index while a harvest's
    ends): neither keeps the other's new file as an edit or warns, and written.json then
    records the index.csv left (nothing is said at the next write either)."""
    out = tmp_path / "d"
    harvested(emulator, out)
    full = (out / "index.csv").read_bytes()
    short = full[: full.rindex(b"\n", 0, len(full) - 1) + 1]  # one row fewer

    def writes(data: bytes) -> None:
        for _ in range(100):
            index.write_table(out, out / "index.csv", data)

    caplog.set_level(logging.WARNING)
    writers = [threading.Thread(target=writes, args=(data,)) for data in (full, short)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert not any(writer.is_alive() for writer in writers)
    assert kept_copies(out, "index") == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not index.changed_by_hand(out, out / "index.csv")


def test_an_index_write_waits_for_a_stuck_writer_only_so_long(
    tmp_path: Path, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holding the index lock (a writer stuck on a slow filesystem) delays
    harvester index by the lock's bounded wait, then the index is written all the same."""
    out = tmp_path / "d"
    harvested(emulator, out)
    (out / "index.csv").unlink()
    monkeypatch.setattr(index, "INDEX_LOCK_WAIT", 0.5)
    fd = os.open(out / "locks" / index.INDEX_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        started = time.monotonic()
        assert index.write_index(out) == 8
        assert 0.5 <= time.monotonic() - started < 10
    finally:
        os.close(fd)
    assert (out / "index.csv").read_bytes().startswith(b"image_id,")


@pytest.mark.parametrize(
    "flags", [["--label-key", "Gene Symbol"], ["--split", "a=0.5,b=0.5"]], ids=["labels", "split"]
)
def test_a_labelled_or_split_harvest_waits_for_a_stuck_index_lock_once(
    tmp_path: Path, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch, flags: list[str]
) -> None:
    """A resume of a folder with label keys or a split, its end finding DIR's index lock
    held by a stuck writer: one bounded wait for it, then the tables are written. (The
    plain index writer let the lock go on finding the keys or the split, and the labelled
    one waited for it again: two waits of 2 minutes each.)"""
    from harvester import runlock

    out = tmp_path / "d"
    harvested(emulator, out, *flags)
    (out / "index.csv").unlink()
    monkeypatch.setattr(index, "INDEX_LOCK_WAIT", 0.3)
    waits_run_out: list[Path] = []
    real_within = runlock._flock_within

    def within(fd: int, path: Path, *args: object, **kwargs: object) -> bool:
        held = real_within(fd, path, *args, **kwargs)  # type: ignore[arg-type]
        if path.name == index.INDEX_LOCK and not held:
            waits_run_out.append(path)
        return held

    monkeypatch.setattr(runlock, "_flock_within", within)
    fd = os.open(out / "locks" / index.INDEX_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        harvested(emulator, out)  # (the keys or the split as the folder records them)
    finally:
        os.close(fd)
    assert len(waits_run_out) == 1
    header = (out / "index.csv").read_text().splitlines()[0].split(",")
    assert ("label" if flags[0] == "--label-key" else "split") in header


def test_an_index_lock_file_of_another_user_does_not_stop_the_index_write(
    tmp_path: Path, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """locks/index.lock made by another user of a shared folder (0644: not writable here):
    harvester's index write goes on unlocked and writes index.csv, as before the lock."""
    out = tmp_path / "d"
    harvested(emulator, out)
    (out / "index.csv").unlink()
    lock = out / "locks" / index.INDEX_LOCK
    lock.touch()
    real_open = os.open
    refused: list[str] = []

    def other_users(path: object, flags: int, *args: int) -> int:
        if Path(str(path)) == lock:  # (root here: the permission bits alone would not refuse)
            refused.append(str(path))
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", other_users)
    assert index.write_index(out) == 8
    monkeypatch.undo()
    assert refused, "the index write never tried the lock file: nothing was refused"
    assert (out / "index.csv").read_bytes().startswith(b"image_id,")
