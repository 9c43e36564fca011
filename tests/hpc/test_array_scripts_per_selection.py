"""One job-array script per selection of a folder: a second selection never takes the first's.

Found on a shared cluster folder: `harvester slurm` of other targets wrote its script over
`DIR/harvest.sbatch` while the first array still had a task to run again. `status` then
offered the new script (another selection) as the first array's resubmission, and once the
first array was complete, the new script, never submitted, was not mentioned at all. Now the
second selection's script is `harvest-2.sbatch`, the first is kept, and status lists each
with its state and the exact line that submits or resubmits it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hpc_helpers import run_array_task
from test_resubmit_tasks_left import _queue_empty
from test_slurm_submit_twice import _fake_sbatch
from test_status_killed_task import _fake_slurm

from harvester.cli import main
from harvester.emulator import EmulatorThread


def _slurm(base_url: str, out: Path, *targets: str) -> list[str]:
    return ["slurm", "--out", str(out), "--base-url", base_url, *targets, "--tasks", "2",
            "--rate", "none", "--artifacts", "thumbnail"]  # fmt: skip


def _submit(out: Path, script: str, array: str = "") -> str:
    only = f" --array={array}" if array else ""
    return (
        f"jid=$(sbatch --parsable{only} {out}/{script}) && "
        f"sbatch --dependency=afterany:${{jid%%;*}} {out}/index.sbatch"
    )


def _status(out: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    return capsys.readouterr().out.splitlines()


def _scripts_said(said: list[str], out: Path) -> list[str]:
    head = (
        f"job array scripts, one per selection ({out}/index.sbatch rebuilds index.csv after "
        "any of them):"
    )
    assert head in said, said
    at = said.index(head)
    return said[at + 1 : at + 3]


def test_a_second_selection_gets_its_own_script_and_status_resubmits_each_its_own(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A project's array of 2 tasks ran task 0 only (task 1 cancelled); a plate's script
    is then written: as harvest-2.sbatch, harvest.sbatch left byte for byte. status lists
    both (the plate's never submitted, with its submit line) and resubmits task 1 of
    harvest.sbatch; once the plate's array has run whole, its script is said to have run
    and the resume line still names harvest.sbatch's task 1 alone; queued, it is named
    with its job."""
    out = (tmp_path / "shared").resolve()
    url = emulator.base_url
    assert main(_slurm(url, out, "--project", "51")) == 0
    first = (out / "harvest.sbatch").read_bytes()
    assert run_array_task(out / "harvest.sbatch", 0, 2).returncode == 0

    capsys.readouterr()
    assert main(_slurm(url, out, "--plate", "7375")) == 0
    said = capsys.readouterr().out.splitlines()
    assert f"wrote {out}/harvest-2.sbatch (2 tasks, at most 2 at once)" in said, said
    assert (
        f"note: this selection's script is harvest-2.sbatch: {out}/harvest.sbatch (another "
        "selection: other targets or --where) is kept as it is, for what its array leaves; "
        f"harvester status {out} names each script with its command"
    ) in said, said
    assert f"both at once: {_submit(out, 'harvest-2.sbatch')}" in said, said
    assert (out / "harvest.sbatch").read_bytes() == first
    # The same selection again (other run settings): its own script rewritten, no third.
    assert main([*_slurm(url, out, "--plate", "7375"), "--max-parallel", "1"]) == 0
    assert "#SBATCH --array=0-1%1" in (out / "harvest-2.sbatch").read_text()
    assert sorted(p.name for p in out.glob("*.sbatch")) == [
        "harvest-2.sbatch", "harvest.sbatch", "index.sbatch",
    ]  # fmt: skip
    assert (out / "harvest.sbatch").read_bytes() == first

    _queue_empty(tmp_path, monkeypatch)
    said = _status(out, capsys)
    assert _scripts_said(said, out) == [
        f"  {out}/harvest.sbatch (2 tasks; --project 51): its array has "
        "run (its line under 'to resume' where it has work left)",
        f"  {out}/harvest-2.sbatch (2 tasks; --plate 7375): written, "
        f"never submitted; to submit: {_submit(out, 'harvest-2.sbatch')}",
    ]
    assert said[-1] == f"to resume: {_submit(out, 'harvest.sbatch', '1')}", said

    for task in (0, 1):
        assert run_array_task(out / "harvest-2.sbatch", task, 2, job_id="4243").returncode == 0
    said = _status(out, capsys)
    assert _scripts_said(said, out)[1] == (
        f"  {out}/harvest-2.sbatch (2 tasks; --plate 7375): its array "
        "has run (its line under 'to resume' where it has work left)"
    )
    # (the plate's array is complete: not resubmitted, nor harvest.sbatch's for its shards)
    assert said[-1] == f"to resume: {_submit(out, 'harvest.sbatch', '1')}", said
    assert not any(line.startswith("  also: ") for line in said), said

    asked = _fake_slurm(
        tmp_path, monkeypatch, up=True, queue=f"4301|0|PENDING|{out}/harvest-2.sbatch\\n"
    )
    said = _status(out, capsys)
    assert _scripts_said(said, out)[1] == (
        f"  {out}/harvest-2.sbatch (2 tasks; --plate 7375): queued or running as job 4301"
    )
    # One listing of the queue for both scripts (it was one for harvest.sbatch, one for all).
    assert len(asked.read_text().splitlines()) == 1, asked.read_text()
    # (its array queued: no resubmission before it has ended, harvest.sbatch's neither)
    assert said[-1] == (
        f"to resume, once the queued job array has ended: {_submit(out, 'harvest.sbatch', '1')}"
    ), said

    # A split run by hand of ids read from a pipe: its shard 1/2, never walked, is its own
    # work (a walk of targets no script's set walks), not each finished array's task 1.
    piped = subprocess.run(
        [sys.executable, "-m", "harvester", "harvest", "--out", str(out), "--base-url", url,
         "--ids-from", "-", "--shard", "0/2", "--rate", "none", "--artifacts", "thumbnail",
         "--quiet"],
        input="1001\n", capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert piped.returncode in (0, 1), piped.stderr
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    said = _status(out, capsys)
    resubmits = [line for line in said if "sbatch --parsable" in line and "submit:" not in line]
    assert resubmits == [f"  also: {_submit(out, 'harvest.sbatch', '1')}"], said


def test_a_queued_array_of_either_selection_is_checked_as_its_script_is_written(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The queued-array checks asked harvest.sbatch's queue alone (found by review): with
    harvest-2.sbatch's array queued, --submit of harvest.sbatch went to sbatch (the two
    arrays' tasks take the same shard locks of DIR) and harvest-2.sbatch was rewritten for
    another task count under its queued array; with harvest.sbatch's queued, writing
    harvest-2.sbatch for another count was refused as if the two held the same images.
    Now the script written is checked against its own array, and another selection's
    queued array is named: --submit refused beside it, writing alone told when to submit."""
    out = (tmp_path / "shared").resolve()
    url = emulator.base_url
    project, plate = _slurm(url, out, "--project", "51"), _slurm(url, out, "--plate", "7375")
    assert main(project) == 0
    assert main(plate) == 0
    first, second = (out / "harvest.sbatch").read_bytes(), (out / "harvest-2.sbatch").read_bytes()
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4301|0|PENDING|{out}/harvest-2.sbatch\\n")
    sbatched = _fake_sbatch(tmp_path)
    capsys.readouterr()
    assert main([*project, "--submit", "--no-check"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"error: {out}/harvest-2.sbatch (another selection's script) is queued or running as"
        " job 4301, whose tasks harvest something else (other targets, artifacts or"
        " selection): an array of harvest.sbatch beside it would have each shard's task"
        " refused while that array's runs (DIR takes one run of a shard at a time), the two"
        " asking the server at up to twice the --rate"
    )
    assert not sbatched.exists()
    assert (out / "harvest.sbatch").read_bytes() == first
    # Its own array of 2 tasks queued: another count for harvest-2.sbatch is refused.
    assert main([*plate, "--tasks", "3", "--no-check"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"error: {out}/harvest-2.sbatch of 2 tasks is queued or running as job 4301: its"
        " tasks and those of a script of 3 tasks would hold the same images, and each would"
        " be refused where they meet"
    )
    assert (out / "harvest-2.sbatch").read_bytes() == second
    # Written alone (another selection's count is its own): told to wait for that array.
    assert main([*project, "--tasks", "3", "--no-check"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert (
        f"note: {out}/harvest-2.sbatch (another selection's script) is queued or running as"
        " job 4301: submit harvest.sbatch once that has ended (squeue -j 4301), not before:"
        " DIR takes one run of a shard at a time, so the tasks of the two arrays would be"
        " refused where they meet"
    ) in said, said
    assert "#SBATCH --array=0-2%3" in (out / "harvest.sbatch").read_text()

    # The reverse: harvest.sbatch's array (now 3 tasks) queued, harvest-2.sbatch written.
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4300|0|RUNNING|{out}/harvest.sbatch\\n")
    assert main([*plate, "--tasks", "4", "--no-check"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert f"wrote {out}/harvest-2.sbatch (4 tasks, at most 4 at once)" in said, said
    assert any(
        line.startswith(f"note: {out}/harvest.sbatch (another selection's script) is queued")
        for line in said
    ), said
    assert main([*plate, "--submit", "--no-check"]) == 2
    refused = capsys.readouterr().err.splitlines()[0]
    assert refused.startswith(
        f"error: {out}/harvest.sbatch (another selection's script) is queued or running as"
        " job 4300, whose tasks harvest something else"
    ), refused
    assert not sbatched.exists()


def test_a_folder_of_two_scripts_no_task_has_started_in_says_each_once(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two selections' scripts written, neither submitted: status said harvest.sbatch's
    "job array: ..." and "not submitted yet: ..." lines above the list of both scripts,
    which says the same of it (found by review). Now the list alone says each."""
    out = (tmp_path / "shared").resolve()
    assert main(_slurm(emulator.base_url, out, "--project", "51")) == 0
    assert main(_slurm(emulator.base_url, out, "--plate", "7375")) == 0
    _queue_empty(tmp_path, monkeypatch)
    said = _status(out, capsys)
    assert said[1:] == [
        "no task has started yet (a task writes harvest.json as it starts)",
        f"job array scripts, one per selection ({out}/index.sbatch rebuilds index.csv after "
        "any of them):",
        f"  {out}/harvest.sbatch (2 tasks; --project 51): written, never submitted; to "
        f"submit: {_submit(out, 'harvest.sbatch')}",
        f"  {out}/harvest-2.sbatch (2 tasks; --plate 7375): written, never submitted; to "
        f"submit: {_submit(out, 'harvest-2.sbatch')}",
        "counts appear once a task has journaled the images it walked",
    ], said


def test_a_tasks_lines_come_from_its_own_scripts_logs(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every script of a folder logs to logs/harvest-%A_%a.log: harvest.sbatch's task 1,
    never run, had harvest-2.sbatch's quiet task 1 (job 4243, a log of its start line
    alone) for its newest log, and status called it killed as job 4243_1 (found by
    review). Each start line now names its script, and a task's lines come from its own
    script's logs: none for a task that never ran."""
    out = (tmp_path / "shared").resolve()
    url = emulator.base_url
    assert main(_slurm(url, out, "--project", "51")) == 0
    assert run_array_task(out / "harvest.sbatch", 0, 2).returncode == 0
    assert main([*_slurm(url, out, "--plate", "7375"), "--quiet"]) == 0
    for task in (0, 1):
        assert run_array_task(out / "harvest-2.sbatch", task, 2, job_id="4243").returncode == 0
    start = (out / "logs" / "harvest-4243_1.log").read_text().splitlines()[0]
    assert start.startswith("harvester shard 1/2: job 4243_1 on "), start
    assert start.endswith(" (by harvest-2.sbatch)"), start
    _queue_empty(tmp_path, monkeypatch)
    said = _status(out, capsys)
    assert not any("4243" in line for line in said), said
    assert said[-1] == f"to resume: {_submit(out, 'harvest.sbatch', '1')}", said


def test_a_task_of_another_selections_array_holding_dir_is_named_with_its_job(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Task 1 of harvest-2.sbatch's array of 4 runs (job 4301, queued): harvest.sbatch
    written again for 3 tasks is refused, and its hint said "or stop it", as for a run by
    hand, since only harvest.sbatch's queue (an array of 2) was asked (found by review).
    Now the queued array of the holder's shard count is named, whichever script it runs."""
    from harvester.runlock import acquire_run_lock, release_run_lock

    out = (tmp_path / "shared").resolve()
    url = emulator.base_url
    assert main(_slurm(url, out, "--project", "51")) == 0
    assert main([*_slurm(url, out, "--plate", "7375"), "--tasks", "4"]) == 0
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4301|1|RUNNING|{out}/harvest-2.sbatch\\n")
    fd = acquire_run_lock(out, "1/4")  # (as task 1 of harvest-2.sbatch's array holds it)
    try:
        capsys.readouterr()
        assert main([*_slurm(url, out, "--project", "51"), "--tasks", "3", "--no-check"]) == 2
        err = capsys.readouterr().err.splitlines()
    finally:
        release_run_lock(fd)
    held = f"error: {out} is being harvested by another process as shard 1/4"
    assert err[0].startswith(held), err
    assert err[1] == (
        "hint: wait for that run to end (or cancel its job array: scancel 4301), then write "
        "the script again; a resubmitted array of the same --tasks resumes its work"
    ), err


def test_a_script_whose_selection_is_forgotten_is_said_forgotten(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The project's array ran task 0 alone, then `harvester forget DIR --project 51`: the
    list said "its array has run (its line under 'to resume' where it has work left)" of a
    selection no resume names any more (found by review). Now it is said forgotten, and
    nothing resubmits it."""
    out = (tmp_path / "shared").resolve()
    url = emulator.base_url
    assert main(_slurm(url, out, "--project", "51")) == 0
    assert run_array_task(out / "harvest.sbatch", 0, 2).returncode == 0
    assert main(_slurm(url, out, "--plate", "7375")) == 0
    for task in (0, 1):
        assert run_array_task(out / "harvest-2.sbatch", task, 2, job_id="4243").returncode == 0
    assert main(["forget", str(out), "--project", "51"]) == 0
    _queue_empty(tmp_path, monkeypatch)
    said = _status(out, capsys)
    assert _scripts_said(said, out) == [
        f"  {out}/harvest.sbatch (2 tasks; --project 51): its array has run; its selection "
        "is forgotten (harvester forget): not resumed",
        f"  {out}/harvest-2.sbatch (2 tasks; --plate 7375): its array has run (its line "
        "under 'to resume' where it has work left)",
    ]
    assert not any("sbatch --parsable" in line for line in said), said
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    states = [s["state"] for s in json.loads(capsys.readouterr().out)["array_scripts"]]
    assert states == ["forgotten", "ran"]


def test_a_plans_tasks_are_counted_by_the_script_that_harvests_the_plan(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """harvest.sbatch is a plate's array of 2 tasks, harvest-2.sbatch the plan's of 4: the
    plan's share of each task was counted by harvest.sbatch's 2 (found by review). Now by
    its own script's 4, each task's queue state that array's."""
    out = (tmp_path / "shared").resolve()
    url = emulator.base_url
    assert main(_slurm(url, out, "--plate", "7375")) == 0
    assert main(["plan", "--base-url", url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "4",
                 "--rate", "none", "--artifacts", "thumbnail"]) == 0  # fmt: skip
    assert (out / "harvest-2.sbatch").is_file()
    assert run_array_task(out / "harvest-2.sbatch", 0, 4, job_id="4243").returncode == 0
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4301|2|PENDING|{out}/harvest-2.sbatch\\n")
    said = _status(out, capsys)
    head = [line for line in said if line.startswith("job array of")]
    assert head == [f"job array of {out}/harvest-2.sbatch: 1 of 4 tasks complete, work left in:"]
    tasks = [line for line in said if line.startswith("  task ")]
    assert len(tasks) == 3, said
    assert [line.partition(":")[0] for line in tasks] == ["  task 1", "  task 2", "  task 3"]
    assert tasks[1].endswith(", in the queue"), tasks
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    shares = json.loads(capsys.readouterr().out)["array_tasks"]
    assert [share["task"] for share in shares] == [0, 1, 2, 3]
    assert sum(share["images"] for share in shares) == 8


def test_a_task_of_another_selections_array_killed_is_named_with_its_script(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """harvest-2.sbatch's task 1 was cut off by a node crash (its log: its start line and
    SLURM's line, no summary), out of the queue: status named harvest.sbatch's killed
    tasks alone, and said nothing of it (found by review). Now it is named with its
    script and job; harvest.sbatch's task 1, never run, still gets no line."""
    out = (tmp_path / "shared").resolve()
    url = emulator.base_url
    assert main(_slurm(url, out, "--project", "51")) == 0
    assert run_array_task(out / "harvest.sbatch", 0, 2).returncode == 0
    assert main([*_slurm(url, out, "--plate", "7375"), "--quiet"]) == 0
    assert run_array_task(out / "harvest-2.sbatch", 0, 2, job_id="4243").returncode == 0
    start = (out / "logs" / "harvest-4243_0.log").read_text().splitlines()[0]
    crashed = start.replace("shard 0/2: job 4243_0", "shard 1/2: job 4243_1")
    assert crashed != start
    (out / "logs" / "harvest-4243_1.log").write_text(
        f"{crashed}\nslurmstepd: error: *** JOB 4243 ON n01 CANCELLED AT 2026-11-29T03:00:00 "
        "DUE TO NODE FAILURE, SEE SLURMCTLD LOG FOR DETAILS ***\n"
    )
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    said = _status(out, capsys)
    named = [line for line in said if line.startswith("task ")]
    assert named == [
        f"task 1 of {out}/harvest-2.sbatch (job 4243_1): ended without its summary (cancelled "
        "(node failure), as SLURM's line in its log says); see sacct -j 4243_1 "
        "--format=State,ExitCode,MaxRSS"
    ], said
    assert any(line.startswith("  the resume line below runs it again") for line in said), said
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    [end] = json.loads(capsys.readouterr().out)["ended_without_summary"]
    assert (end["task"], end["job"], end["script"]) == (1, "4243_1", f"{out}/harvest-2.sbatch")
