"""``harvester status`` on a job array's folder says how to try dropped kinds again there.

After a ``harvester slurm`` array whose renders and imgdata failed (the migration-2026
server) was written anew without them, their failures are "not asked for any more". Status
said one ``harvester harvest ... --shard K/N`` command per shard to try them again: pasted on
the login node, they harvested there, outside the job array. It now gives the ``harvester
slurm --out DIR ...`` command that writes the script anew with those kinds, once no task of
the array is queued or running (it was said while they were, as if the array were over; so
was the closing line of failures no rerun fixes); ``--json`` holds it back the same way
(``not_asked_held``), and a harvest holding DIR, the queue empty, is named as such, not as
the array. SLURM's tools are faked (``squeue`` answers
an empty queue, or lists a task); the tasks run as SLURM would run them, against the
emulator over real sockets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hpc_helpers import run_array_task
from test_status_killed_task import _fake_slurm

from harvester.cli import main
from harvester.emulator import EmulatorThread

PLATE = "7375"  # the demo preset's small plate: 8 images
OTHER_PLATE = "7361"  # another of its plates (8 images)


def _array(base_url: str, out: Path, *extra: str) -> None:
    """Write DIR's 2-task script (``extra``: more flags) and run both tasks."""
    assert main(["slurm", "--base-url", base_url, "--plate", PLATE, "--out", str(out),
                 "--tasks", "2", "--rate", "none", "--max-retries", "0", "--quiet",
                 *extra]) == 0  # fmt: skip
    for task in (0, 1):
        run_array_task(out / "harvest.sbatch", task, 2)


def test_dropped_kinds_of_a_job_array_are_tried_again_through_harvester_slurm(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The "to try them again" command of a job array's folder is harvester slurm --out DIR
    with the widened kinds and the array's task count, never a --shard harvest."""
    emu: EmulatorThread = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "study"
    _array(emu.base_url, out)
    _array(emu.base_url, out, "--artifacts", "thumbnail,metadata")
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    capsys.readouterr()

    assert main(["status", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    said = next(x for x in lines if x.startswith("failed before, not asked for any more:"))
    assert "imgdata 8" in said and "render 8" in said, said
    expected = (
        f"harvester slurm --out {out} --plate {PLATE} --artifacts "
        "thumbnail,imgdata,render,metadata --tasks 2 --submit"
    )
    assert said.endswith(f"to try them again: {expected}"), said
    assert not any("--shard" in x for x in lines), lines

    assert main(["status", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["not_asked_commands"] == [expected]

    # Followed (without --submit: the tasks run here as SLURM would), the kinds are asked
    # for again, from the folder's server: failed now, no longer "not asked for".
    words = expected.split()[1:-1]
    assert main([*words, "--rate", "none", "--max-retries", "0", "--quiet"]) == 0
    for task in (0, 1):
        run_array_task(out / "harvest.sbatch", task, 2)
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert not data.get("not_asked"), data.get("not_asked")
    assert data["kinds"]["imgdata"]["failed"] == 8 and data["kinds"]["render"]["failed"] == 8


def test_while_the_array_is_queued_status_holds_back_the_advice_for_after_it(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """squeue lists a task of DIR's script: the "to try them again" line gives no
    `harvester slurm ... --submit` (a second array beside the queued one) but says status
    gives it once no task is queued or running; --json holds it back the same way, under
    not_asked_held (a script running not_asked_commands queued a second array)."""
    emu: EmulatorThread = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "study"
    _array(emu.base_url, out)
    _array(emu.base_url, out, "--artifacts", "thumbnail,metadata")
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4242|1|PENDING|{out / 'harvest.sbatch'}\\n")
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    said = next(x for x in lines if x.startswith("failed before, not asked for any more:"))
    assert said.endswith(
        f"to try them again: harvester status {out} gives the command once no task of the job "
        "array is queued or running"
    ), said
    assert not any("--submit" in x for x in lines), lines
    assert "in the queue now: job 4242 (squeue -j 4242)" in lines
    assert main(["status", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "not_asked_commands" not in data, data["not_asked_commands"]
    assert data["not_asked"] == {"imgdata": 8, "render": 8}
    held = data["not_asked_held"]
    assert held["by"] == "job_array", held
    [command] = held["commands"]
    assert command.endswith("--tasks 2 --submit"), command


def _dropped_by_hand(base_url: str, out: Path, plate: str) -> None:
    """A second target set in DIR, harvested by hand (no array): every kind, then
    thumbnails and metadata alone, its renders and imgdata failed before."""
    for kinds in ("thumbnail,imgdata,render,metadata", "thumbnail,metadata"):
        main(["harvest", "--base-url", base_url, "--plate", plate, "--out", str(out),
              "--artifacts", kinds, "--rate", "none", "--max-retries", "0", "--quiet"])  # fmt: skip


def test_while_the_array_is_queued_several_sets_commands_are_said_as_several(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Two target sets hold dropped kinds (the array's and a hand-harvested plate's), a task
    queued: the line says status gives the commands, one per set, once no task is queued or
    running (it said "one command per target set holding them: ... gives the command"), and
    --json holds both back; with the queue empty, both are given, a line each."""
    emu: EmulatorThread = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "study"
    _array(emu.base_url, out)
    _array(emu.base_url, out, "--artifacts", "thumbnail,metadata")
    _dropped_by_hand(emu.base_url, out, OTHER_PLATE)
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4242|1|PENDING|{out / 'harvest.sbatch'}\\n")
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    said = next(x for x in lines if x.startswith("failed before, not asked for any more:"))
    assert "imgdata 16" in said and "render 16" in said, said
    assert said.endswith(
        f"(the newest run of their targets asks for other kinds); to try them again: harvester"
        f" status {out} gives the commands (one per target set holding them) once no task of"
        " the job array is queued or running"
    ), said
    assert not any(x.startswith("  harvester ") for x in lines), lines
    assert main(["status", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "not_asked_commands" not in data, data["not_asked_commands"]
    assert data["not_asked_held"]["by"] == "job_array"
    assert len(data["not_asked_held"]["commands"]) == 2, data["not_asked_held"]

    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    assert main(["status", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(n for n, x in enumerate(lines) if x.startswith("failed before, not asked"))
    assert lines[at].endswith("to try them again, one command per target set holding them:")
    given = lines[at + 1 : at + 3]
    assert any(x.startswith("  harvester slurm --out ") for x in given), given
    assert any(x.startswith(f"  harvester harvest --out {out} ") for x in given), given
    assert main(["status", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "not_asked_held" not in data, data["not_asked_held"]
    assert [f"  {c}" for c in data["not_asked_commands"]] == given


def test_a_harvest_holding_the_array_folder_is_named_not_the_array(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The queue empty, a harvest started by hand holds DIR's lock: the dropped kinds'
    command waits for the running harvest (named as such, not as the job array's tasks,
    which the queue says are over), in the text and in --json; once it has ended, it is
    given."""
    from harvester.runlock import acquire_run_lock, release_run_lock

    emu: EmulatorThread = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "study"
    _array(emu.base_url, out)
    _array(emu.base_url, out, "--artifacts", "thumbnail,metadata")
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    capsys.readouterr()
    fd = acquire_run_lock(out, None)  # (as `harvester harvest --out DIR` holds it, running)
    try:
        assert main(["status", str(out)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert main(["status", str(out), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
    finally:
        release_run_lock(fd)
    said = next(x for x in lines if x.startswith("failed before, not asked for any more:"))
    assert said.endswith(
        f"to try them again: harvester status {out} gives the command once the harvests "
        "running now (named below) have ended"
    ), said
    assert not any("job array is queued or running" in x for x in lines), lines
    assert any(x.startswith("running now: ") for x in lines), lines
    assert "not_asked_commands" not in data, data["not_asked_commands"]
    assert data["not_asked_held"]["by"] == "running_harvests", data["not_asked_held"]

    assert main(["status", str(out), "--json"]) == 0  # (the lock released)
    data = json.loads(capsys.readouterr().out)
    assert "not_asked_held" not in data, data["not_asked_held"]
    [command] = data["not_asked_commands"]
    assert command.endswith("--tasks 2 --submit"), command


def test_while_the_array_is_queued_failures_no_rerun_fixes_wait_for_its_end(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Renders the server refuses for good (a hint's --artifacts to follow), task 1 queued
    again: status's last line is the resume for once the queued array has ended, not "a
    rerun would get the same answers ... this folder resumes with" as if it were over; with
    the queue empty, it is."""
    emu: EmulatorThread = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "study"
    assert main(["slurm", "--base-url", emu.base_url, "--plate", PLATE, "--out", str(out),
                 "--artifacts", "thumbnail,render", "--tasks", "2", "--rate", "none",
                 "--quiet"]) == 0  # fmt: skip
    for task in (0, 1):
        assert run_array_task(out / "harvest.sbatch", task, 2).returncode == 1
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4242|1|PENDING|{out / 'harvest.sbatch'}\\n")
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("to resume, once the queued job array has ended: jid=$("), lines
    assert not any(x.startswith("a rerun would get the same answers") for x in lines), lines
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    assert main(["status", str(out)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("a rerun would get the same answers for these failures: "), last
    # No controller to ask: the tasks may still run, and the closing line says so first.
    _fake_slurm(tmp_path, monkeypatch, up=False, queue="")
    assert main(["status", str(out)]) == 0
    end = capsys.readouterr().out.splitlines()[-2:]
    assert end[0].startswith("note: the SLURM queue cannot be asked here (scontrol ping"), end
    assert end[1].startswith("a rerun would get the same answers for these failures: "), end
