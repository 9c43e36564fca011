"""``harvester status`` on a job array's folder says how to try dropped kinds again there.

After a ``harvester slurm`` array whose renders and imgdata failed (the migration-2026
server) was written anew without them, their failures are "not asked for any more". Status
said one ``harvester harvest ... --shard K/N`` command per shard to try them again: pasted on
the login node, they harvested there, outside the job array. It now gives the ``harvester
slurm --out DIR ...`` command that writes the script anew with those kinds, once no task of
the array is queued or running (it was said while they were, as if the array were over; so
was the closing line of failures no rerun fixes). SLURM's tools are faked (``squeue`` answers
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
    gives it once no task is queued or running; --json keeps the command."""
    emu: EmulatorThread = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "study"
    _array(emu.base_url, out)
    _array(emu.base_url, out, "--artifacts", "thumbnail,metadata")
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4242|1|{out / 'harvest.sbatch'}\\n")
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
    [command] = json.loads(capsys.readouterr().out)["not_asked_commands"]
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
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4242|1|{out / 'harvest.sbatch'}\\n")
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
