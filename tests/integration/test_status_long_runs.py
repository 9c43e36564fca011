"""What ``harvester status`` says of a running harvest and of its table, as a user reads it."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import DEMO_SCREEN, SMALL_PLATE, reaped, run_cli, run_lock_held, start_cli

from harvester.emulator import EmulatorThread


def test_status_says_a_harvest_in_its_first_minute_is_starting(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Before its first progress line (a minute in), a running harvest is shown as starting,
    not as "progress (0s): 0 images found", which status showed for that whole minute."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "d"
    args = ["harvest", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN), "--out",
            str(out), "--artifacts", "thumbnail", "--rate", "5"]  # fmt: skip
    with reaped(start_cli(*args)) as proc:
        deadline = time.monotonic() + 30
        while not (out / "locks" / "all.progress").exists():
            assert proc.poll() is None, proc.communicate(timeout=30)
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status = run_cli("status", str(out))
        proc.kill()
        proc.communicate(timeout=30)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("running now: "))
    assert lines[at + 1].startswith("  latest progress line, "), status.stdout
    assert lines[at + 1].endswith(" ago: starting (the first progress line comes 1m00s in)"), (
        status.stdout
    )
    assert "0 images found" not in status.stdout


def test_status_names_a_run_without_shard_as_a_harvest_of_the_whole_set(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A running harvest without --shard is "a harvest of the whole set", not "without
    --shard" (a flag nobody gave), in status and in its --json."""
    out = tmp_path / "d"
    done = run_cli(
        "harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE), "--out",
        str(out), "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with run_lock_held(out, None) as holder:
        status = run_cli("status", str(out))
        as_json = run_cli("status", str(out), "--json")
    running = f"a harvest of the whole set (pid {holder.pid} on {socket.gethostname()})"
    assert f"running now: {running}" in status.stdout.splitlines(), status.stdout
    assert "without --shard" not in status.stdout
    assert json.loads(as_json.stdout)["running"] == [running], as_json.stdout


def test_refusals_name_a_run_without_shard_as_status_does(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """While a harvest without --shard runs, a second one, a shard and harvester slurm are
    refused naming it "a harvest of the whole set", as status does, not "without --shard"
    (a flag nobody gave)."""
    out = tmp_path / "d"
    done = run_cli(
        "harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE), "--out",
        str(out), "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with run_lock_held(out, None) as holder:
        again = run_cli("harvest", "--out", str(out), "-q")
        shard = run_cli("harvest", "--out", str(out), "--shard", "0/2", "-q")
        slurm = run_cli("slurm", "--out", str(out), "--plate", str(SMALL_PLATE), "--tasks", "2")
    whole = f"in a harvest of the whole set (pid {holder.pid} on {socket.gethostname()})"
    assert again.returncode == 75, again.stderr
    assert again.stderr.splitlines()[0] == (
        f"error: {out} is already being harvested by another process {whole}"
    ), again.stderr
    assert shard.returncode == 2, shard.stderr
    assert shard.stderr.splitlines()[0] == (
        f"error: {out} is being harvested by another process {whole}: shards of different "
        "counts (or a harvest of the whole set) hold the same images"
    ), shard.stderr
    assert slurm.returncode == 2, slurm.stderr
    assert f"error: {out} is being harvested by another process {whole}: " in slurm.stderr
    for run in (again, shard, slurm):
        assert "--shard (" not in run.stderr and "without --shard" not in run.stderr


def test_a_second_copy_of_a_shard_is_told_the_running_copy_does_its_work(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A second copy of shard 1/2 (an array task started twice) exits 75 naming the running
    copy, and its hint says that copy does the shard's work and status follows it, not
    "run again to resume", which read in a task's log asked for a needless rerun."""
    out = tmp_path / "d"
    done = run_cli(
        "harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE), "--out",
        str(out), "--artifacts", "thumbnail", "--rate", "none", "--shard", "0/2", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with run_lock_held(out, "1/2") as holder:
        again = run_cli("harvest", "--out", str(out), "--shard", "1/2", "-q")
    running = f"pid {holder.pid} on {socket.gethostname()}"
    assert again.returncode == 75, again.stderr
    assert again.stderr.splitlines() == [
        f"error: {out} is already being harvested by another process as shard 1/2 ({running})",
        f"hint: the run already going ({running}) is doing shard 1/2's work: nothing needs "
        f"doing if it finishes; harvester status {out} shows how it goes (and the line that "
        "resumes it, if it stops short)",
    ], again.stderr
    assert "run again" not in again.stderr


def test_a_run_of_another_selection_is_not_told_the_running_one_does_its_work(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A harvest of another --where into a folder a harvest is running in exits 75 told to run
    again once that one has ended, not that "nothing needs doing" (the running one does not
    fetch its images); the same command as the running one still gets that hint."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "d"
    common = ["harvest", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN), "--out",
              str(out), "--artifacts", "thumbnail", "-q"]  # fmt: skip
    running = [*common, "--where", "Phenotype~mitotic", "--rate", "2"]
    with reaped(start_cli(*running)) as proc:
        progress = out / "locks" / "all.progress"
        deadline = time.monotonic() + 30
        while "\nrun " not in (progress.read_text() if progress.exists() else ""):
            assert proc.poll() is None, proc.communicate(timeout=30)
            assert time.monotonic() < deadline
            time.sleep(0.05)
        other = run_cli(*common, "--where", "Phenotype~spindle", "--rate", "none")
        same = run_cli(*running)
        proc.kill()
        proc.communicate(timeout=30)
    assert other.returncode == 75, other.stderr
    error, hint = other.stderr.splitlines()
    assert error.startswith(f"error: {out} is already being harvested by another process")
    assert "nothing needs doing" not in hint, hint
    assert hint.startswith("hint: the run already going (run ")
    assert "harvests other targets, artifacts or another selection" in hint, hint
    assert "run this command again once it has ended" in hint, hint
    assert same.returncode == 75, same.stderr
    assert "nothing needs doing if it finishes" in same.stderr, same.stderr


def test_status_rows_of_study_objects_do_not_read_as_files(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The screen and plate rows count objects (a plate's many study files once): they are
    labelled so, and a line under the table says it, beside the thumbnail row's files."""
    out = tmp_path / "d"
    done = run_cli(
        "harvest", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN), "--out",
        str(out), "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    status = run_cli("status", str(out))
    assert status.returncode == 0, status.stderr
    rows = {line.split("  ")[0]: line.split()[-4:] for line in status.stdout.splitlines()}
    assert rows["plates (study)"][:3] == ["10", "0", "0"]
    assert rows["screens (study)"][:3] == ["1", "0", "0"]
    assert rows["thumbnail"][:3] == ["80", "0", "0"]
    assert "plate" not in rows and "screen" not in rows
    assert (
        "rows marked (study) count plates and screens, not files (they are saved in study/);"
        ' the "total" row and each writer\'s "done" count only files, but their bytes include'
        " study/ too"
    ) in status.stdout.splitlines(), status.stdout


def test_status_totals_count_files_not_study_objects(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The total row, --json's totals and each writer's "N done" count files (80 thumbnails,
    not 91 with 10 plates and a screen); study objects are said apart, the bytes are all."""
    out = tmp_path / "d"
    plan = run_cli(
        "plan", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN), "--out",
        str(out), "--artifacts", "thumbnail", "-q",
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    done = run_cli("harvest", "--out", str(out), "--from-plan", str(out), "--rate", "none", "-q")
    assert done.returncode == 0, done.stderr
    status = run_cli("status", str(out))
    data = json.loads(run_cli("status", str(out), "--json").stdout)
    lines = status.stdout.splitlines()
    total = next(line.split() for line in lines if line.startswith("total "))
    every_byte = sum(kind["bytes"] for kind in data["kinds"].values())
    assert total == ["total", "80", "0", "0", f"{every_byte:,}"], status.stdout
    totals = data["totals"]
    assert (totals["done"], totals["bytes"], totals["study"]) == (
        80,
        every_byte,
        {"done": 11, "failed": 0},
    )
    writers = {w["writer"]: w for w in data["writers"]}
    planner = next(w for name, w in writers.items() if name.endswith("-plan"))
    harvester = next(w for name, w in writers.items() if not name.endswith("-plan"))
    assert (planner["done"], planner["study_done"]) == (0, 11)
    assert (harvester["done"], harvester["study_done"]) == (80, 0)
    said = {line.split(" (run ")[0].strip(): line for line in lines if line.startswith("  ")}
    assert said[planner["writer"]].endswith(
        f": 0 done, 0 failed, {planner['bytes']:,} bytes; study objects: 11 saved"
    ), status.stdout
    assert said[harvester["writer"]].endswith(
        f": 80 done, 0 failed, {harvester['bytes']:,} bytes"
    ), status.stdout
    assert sum(run["done"] for run in data["runs"].values()) == 80
