"""What a resume checks on disk: the files an interrupted run recorded, and nothing else.

A resume trusts the journals (a finished folder of 100,000 files resumes without a stat).
A run that did not end cleanly (killed, its folder moved or copied while it wrote) leaves
its pending file behind; then a journal line can outlive its file, and the resume used to
skip that file for good: only ``harvester verify`` found it. Now the next run stats the
files that run recorded and fetches the missing ones again, saying so once. A cleanly
finished run's files are not stat'ed: a file deleted by hand there is ``verify``'s to find.
The interrupted runs are processes of their own (killed mid-run, some folders copied first);
every other command runs as ``harvester ARGS`` (in the test process, tests/cli_in_process.py).
All against an emulator over real sockets.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gate_helpers import held_after, holding
from harvest_helpers import kind_files, reaped, start_cli
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread

#: Screen 2302 of the demo preset: 80 images.
SCREEN = "2302"
#: The emulator's gate the thumbnail in flight at a run's kill waits at (the run cannot
#: end before it is killed, however slow the machine).
GATE = "in-flight"
#: Plate 7375 of the demo preset: 8 images.
PLATE = "7375"


def journal_records(out: Path) -> list[dict[str, Any]]:
    """Every complete, parseable line of DIR's journals (a kill may leave a torn last one)."""
    records = []
    for path in sorted((out / "journals").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def done_paths(out: Path) -> list[str]:
    """The thumbnails DIR's journals record as done, relative to DIR."""
    return [
        rec["path"]
        for rec in journal_records(out)
        if rec.get("rec") == "done" and rec.get("kind") == "thumbnail"
    ]


def wait_for_done(out: Path, count: int, timeout: float = 30.0) -> None:
    """Until the journals record at least ``count`` done thumbnails (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (out / "journals").is_dir() and len(done_paths(out)) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} done records after {timeout} s")


def test_files_a_killed_run_recorded_and_lost_are_fetched_again_by_the_resume(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """kill -9 mid-run, two files its journal records as done deleted: the same command
    resumes (exit 0), says once that 2 files of that run are missing, fetches both again,
    and the folder verifies clean with all 80 thumbnails."""
    emu = make_emulator(preset="demo", faults=held_after(4, GATE, "image:thumbnail"))
    out = tmp_path / "out"
    args = [
        "harvest", "--base-url", emu.base_url, "--screen", SCREEN, "--artifacts", "thumbnail",
        "--out", str(out), "--rate", "none",
    ]  # fmt: skip
    with reaped(start_cli(*args)) as proc, holding(emu, GATE):
        wait_for_done(out, 4)
        proc.kill()
        proc.communicate(timeout=30)
    run = next(rec["run"] for rec in journal_records(out) if rec.get("rec") == "run")
    lost = done_paths(out)[:2]
    for rel in lost:
        (out / rel).unlink()

    resumed = cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    said = f"2 files recorded by the interrupted run {run} are missing; fetching them again"
    assert [line for line in resumed.stderr.splitlines() if "interrupted run" in line] == [
        f"WARNING harvester.problems: {said}"
    ], resumed.stderr
    assert all((out / rel).is_file() for rel in lost)
    assert len(kind_files(out, "thumbnail")) == 80
    verified = cli("verify", str(out))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert ", 0 damaged, 0 missing" in verified.stdout, verified.stdout
    again = cli(*args)  # the interrupted run is checked once: its pending file is gone now
    assert again.returncode == 0 and "interrupted run" not in again.stderr, again.stderr


def test_a_file_of_a_killed_run_cut_short_is_fetched_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """kill -9 mid-run, one recorded file cut to another size than its journal line says:
    the resume says it is missing or not the size recorded and fetches it again whole
    (verify clean)."""
    emu = make_emulator(preset="demo", faults=held_after(2, GATE, "image:thumbnail"))
    out = tmp_path / "out"
    args = [
        "harvest", "--base-url", emu.base_url, "--screen", SCREEN, "--artifacts", "thumbnail",
        "--out", str(out), "--rate", "none",
    ]  # fmt: skip
    with reaped(start_cli(*args)) as proc, holding(emu, GATE):
        wait_for_done(out, 2)
        proc.kill()
        proc.communicate(timeout=30)
    cut = out / done_paths(out)[0]
    whole = cut.read_bytes()
    cut.write_bytes(whole[: len(whole) // 2])

    resumed = cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 file recorded by the interrupted run " in resumed.stderr, resumed.stderr
    assert " is missing or not the size it recorded; fetching it again" in resumed.stderr
    assert cut.read_bytes() == whole
    assert cli("verify", str(out)).returncode == 0


def test_a_copy_made_while_a_run_wrote_gets_the_files_its_journal_has_and_it_lacks(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder copied while a harvest writes to it (`cp -a`, `rsync -a`, or `mv` to another
    filesystem), the copy lacking a thumbnail its journal records (finished after its
    folder was copied, journaled before the journals were): the copy's first resume says
    so, fetches it, and the copy verifies whole (exit 0)."""
    emu = make_emulator(preset="demo", faults=held_after(3, GATE, "image:thumbnail"))
    original, copy = tmp_path / "original", tmp_path / "copy"
    args = ["--base-url", emu.base_url, "--screen", SCREEN, "--artifacts", "thumbnail"]
    run = start_cli("harvest", *args, "--out", str(original), "--rate", "none")
    with reaped(run) as proc, holding(emu, GATE):
        wait_for_done(original, 3)
        shutil.copytree(original, copy, symlinks=True, ignore=shutil.ignore_patterns("*.tmp-*"))
        proc.kill()
        proc.communicate(timeout=30)
    lacking = copy / done_paths(copy)[0]
    lacking.unlink()  # (what the race leaves, made certain)
    # The race may leave more: files the journal copied already records but the images
    # folder, copied first, did not have in place yet. Each is said and fetched.
    missing = [copy / p for p in done_paths(copy) if not (copy / p).is_file()]
    said = "1 file" if len(missing) == 1 else f"{len(missing)} files"

    resumed = cli("harvest", "--out", str(copy), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{said} recorded by the interrupted run " in resumed.stderr, resumed.stderr
    assert all(path.is_file() for path in missing)
    assert len(kind_files(copy, "thumbnail")) == 80
    verified = cli("verify", str(copy))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_file_deleted_from_a_cleanly_finished_folder_is_left_to_verify(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The line between the two: a run that ended cleanly is trusted, so a thumbnail deleted
    by hand afterwards stays missing through a plain resume (exit 0, no file stat'ed, no
    word of it); `harvester verify` finds it (exit 1, 1 missing) and the next resume
    fetches it."""
    out = tmp_path / "out"
    args = [
        "harvest", "--base-url", emulator.base_url, "--plate", PLATE, "--artifacts",
        "thumbnail", "--out", str(out), "--rate", "none",
    ]  # fmt: skip
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    deleted = out / done_paths(out)[0]
    deleted.unlink()

    resumed = cli("harvest", "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "interrupted run" not in resumed.stderr, resumed.stderr
    assert not deleted.exists()
    verified = cli("verify", str(out))
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert ", 0 damaged, 1 missing" in verified.stdout, verified.stdout
    assert f"missing: {deleted.relative_to(out)} " in verified.stdout, verified.stdout
    refetched = cli("harvest", "--out", str(out))
    assert refetched.returncode == 0, refetched.stderr
    assert deleted.is_file()
    assert cli("verify", str(out)).returncode == 0


def test_status_counts_the_files_the_next_run_found_missing_as_awaiting_refetch(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """kill -9 mid-run, two recorded files deleted, then ``harvester plan`` (the next run,
    which marks them for the harvests after it): status counts both as marked invalid,
    naming that check beside verify (it named verify alone), until the harvest fetches them."""
    emu = make_emulator(preset="demo", faults=held_after(4, GATE, "image:thumbnail"))
    out = tmp_path / "out"
    where = ["--base-url", emu.base_url, "--screen", SCREEN, "--artifacts", "thumbnail"]
    run = start_cli("harvest", *where, "--out", str(out), "--rate", "none")
    with reaped(run) as proc, holding(emu, GATE):
        wait_for_done(out, 4)
        proc.kill()
        proc.communicate(timeout=30)
    for rel in done_paths(out)[:2]:
        (out / rel).unlink()

    planned = cli("plan", *where, "--out", str(out))
    assert planned.returncode == 0, planned.stderr
    said = (
        "2 files marked invalid (by verify or the next run's check of an interrupted run), "
        "awaiting refetch by harvest"
    )
    shown = cli("status", str(out))
    assert said in shown.stdout.splitlines(), shown.stdout
    assert json.loads(cli("status", str(out), "--json").stdout)["totals"]["invalid"] == 2
    resumed = cli("harvest", "--out", str(out), "--rate", "none", "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert "marked invalid" not in cli("status", str(out)).stdout
