"""`harvester status` names a job-array task that ended without a word.

The task script ``exec``s Python, so a task killed by the out-of-memory killer, ``kill -9`` or
a node failure leaves only its start line in its log and a journal that stops mid-run. Status
showed it as a task with work left, like one still running on a node whose lock it cannot see
or one that ended with failures. It now names it, with the job to ask ``sacct`` about (its log and
``scontrol show job`` where sacct cannot answer: no accounting), once the queue (``squeue``,
faked here) shows it neither running nor queued; where the queue cannot be asked it says so
instead of guessing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hpc_helpers import EmulatorProcess, run_array_task, write_tools
from test_resubmit_tasks_left import _prepare as small_array
from test_slurm import _logs, _wait_gone, require_slurm_cluster
from test_slurm_resume_index import _sbatch

from harvester.cli import main
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.http import Request, Response
from harvester.slurm import tasks_in_queue

JOB = "4242"
#: Screen 2302 of the demo preset: 80 images; of 4 shards, task 1 holds 28.
TASK = 1
#: status's line for task TASK killed without a word of why (none in its log, nor SLURM's).
KILLED_UNSAID = (
    f"task {TASK} (job {JOB}_{TASK}): ended without its summary (killed: out of memory, kill -9 "
    f"or node failure?); see sacct -j {JOB}_{TASK} --format=State,ExitCode,MaxRSS"
)
#: Bounds every wait of a test (a task's journal filling, a killed process reaped).
WAIT_S = 60


def _prepare(base_url: str, out: Path, *flags: str, quiet: bool = True) -> None:
    """A plan of screen 2302 in ``out`` and its array of 4 tasks (``flags``: the tasks';
    ``quiet``: tasks that log only problems, not their warnings)."""
    assert main(["plan", "--base-url", base_url, "--screen", "2302", "--out", str(out),
                 "--artifacts", "thumbnail", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    # --quiet: a task that ends well says nothing either, so its log is its start line too.
    quieted = ["--quiet"] if quiet else []
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "4",
                 "--max-parallel", "4", "--rate", "none", *quieted, *flags]) == 0  # fmt: skip


def _done_records(out: Path, task: int) -> int:
    """Artifacts journaled done by the runs of array task K (shard K of 4)."""
    count = 0
    for journal in (out / "journals").glob(f"*-shard-{task}-of-4.jsonl"):
        count += sum('"rec": "done"' in line or '"rec":"done"' in line
                     for line in journal.read_text().splitlines())  # fmt: skip
    return count


def _kill_task_mid_run(
    script: Path, task: int, signum: int = signal.SIGKILL, notice: str = "",
    meanwhile: Callable[[Path], None] | None = None,
) -> Path:  # fmt: skip
    """Start array task K as SLURM would (the script's env, its log appended) and send it
    ``signum`` (SIGKILL) once it has journaled some of its images (and ``meanwhile(log)``
    has returned), SLURM's ``notice`` line written into its log first, as slurmstepd
    writes it; returns its log."""
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_COUNT": "4",
           "SLURM_ARRAY_JOB_ID": JOB}  # fmt: skip
    log = script.parent / "logs" / f"harvest-{JOB}_{task}.log"
    out = script.parent
    with log.open("a") as handle:
        # The script execs Python: this pid is the harvest's, as slurmstepd sees it.
        proc = subprocess.Popen(["bash", str(script)], env=env, stdout=handle,
                                stderr=subprocess.STDOUT)  # fmt: skip
        try:
            deadline = time.monotonic() + WAIT_S
            while _done_records(out, task) < 3:
                assert proc.poll() is None, "the task ended before it could be killed"
                assert time.monotonic() < deadline, "the task journaled nothing in time"
                time.sleep(0.05)
            if meanwhile is not None:
                meanwhile(log)
            if notice:
                handle.write(notice + "\n")
                handle.flush()
        finally:
            proc.send_signal(signum)
            proc.wait(WAIT_S)
    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:  # (a SIGTERM is the harvest's to handle: it says "interrupted", exits 130)
        assert proc.returncode == 130, proc.returncode
    return log


#: What sacct says on a cluster without accounting (the test cluster's, tests/hpc/slurm_up.sh).
NO_ACCOUNTING = "Slurm accounting storage is disabled"


def _fake_slurm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, up: bool, queue: str,
    accounting: bool = True, shown: str = "",
) -> Path:  # fmt: skip
    """`scontrol`, `squeue` and `sacct` on PATH: the controller up or down, squeue printing
    ``queue`` (its -r -o '%F|%K|%T|%o|%Z' form), sacct answering or refused as without
    accounting, `scontrol -o show job` printing ``shown`` (a job it no longer lists: an
    error); returns the file squeue writes its arguments to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    asked = tmp_path / "squeue-args"
    ping = "echo 'Slurmctld(primary) at h is UP'" if up else "echo 'at h is DOWN'; exit 1"
    show = f'printf "{shown}"' if shown else "echo 'Invalid job id specified' >&2; exit 1"
    sacct = "echo '4242_1 FAILED'" if accounting else f"echo '{NO_ACCOUNTING}' >&2; exit 1"
    write_tools(
        bin_dir,
        (
            ("scontrol", f'if [ "$1" = ping ]; then {ping}; else {show}; fi'),
            ("squeue", f'echo "$@" >> {asked}; printf "{queue}"'),
            ("sacct", sacct),
        ),
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return asked


def _status(out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], dict[str, Any]]:
    """status's text lines and its --json."""
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert main(["status", str(out), "--json"]) == 0
    return text, json.loads(capsys.readouterr().out)


def _status_text(out: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """status's text lines alone."""
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.fixture
def killed(make_emulator: Any, tmp_path: Path) -> Path:
    """An array of 4 whose task 0 finished and task 1 was SIGKILLed mid-run (2 and 3 never
    ran): the study folder. Both logs hold their start line alone."""
    emu: EmulatorThread = make_emulator(preset="demo", latency_ms=100)
    out = tmp_path / "study"
    _prepare(emu.base_url, out)
    assert run_array_task(out / "harvest.sbatch", 0, 4, JOB).returncode == 0
    _kill_task_mid_run(out / "harvest.sbatch", TASK)
    for task in (0, TASK):
        said = (out / "logs" / f"harvest-{JOB}_{task}.log").read_text().splitlines()
        assert len(said) == 1 and said[0].startswith(f"harvester shard {task}/4: job "), said
    return out


def test_status_names_a_task_killed_mid_run_and_the_resume_redoes_it(
    killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Task 1 SIGKILLed mid-run, absent from the queue: status names it and its job for
    sacct, the resume line resubmits it; task 0 (finished, as silent: --quiet) and tasks
    never run are not named. Rerun to its end, the task is named no more."""
    out, script = killed, killed / "harvest.sbatch"
    asked = _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    text, data = _status(out, capsys)
    job = f"{JOB}_{TASK}"
    named = [x for x in text if x.startswith("task ")]
    assert named == [KILLED_UNSAID]
    assert (
        "  the resume line below runs it again; if sacct says OUT_OF_MEMORY, raise "
        f"#SBATCH --mem in {script} first"
    ) in text
    assert text[-1] == (
        f"to resume: jid=$(sbatch --parsable --array=1-3 {script}) && "
        f"sbatch --dependency=afterany:${{jid%%;*}} {out}/index.sbatch"
    ), text[-1]
    assert data["ended_without_summary"] == [
        {"task": TASK, "job": job, "log": str(out / "logs" / f"harvest-{job}.log"),
         "killed": True, "out_of_memory": False, "cancelled": None, "queue_error": None,
         "see": [f"sacct -j {job} --format=State,ExitCode,MaxRSS"], "no_sacct": None,
         "slurm_state": None}
    ]  # fmt: skip
    # (one task a line, pending ones too; every user's: a shared folder's colleague's too)
    assert "-h -r -o %F|%K|%T|%o|%Z|%U|%r" in asked.read_text().splitlines()

    assert run_array_task(script, TASK, 4, JOB).returncode == 0  # appended to the same log
    text, data = _status(out, capsys)
    assert not [x for x in text if x.startswith("task ")], text
    assert "ended_without_summary" not in data
    assert "  task 1: " not in "\n".join(text)  # its share of the plan is complete


def test_a_task_the_queue_holds_is_not_called_killed(
    killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """squeue shows task 1 of DIR's script (running on another node, or queued again): its
    silent log is not taken for a kill."""
    script = killed / "harvest.sbatch"
    queue = f"{JOB}|{TASK}|PENDING|{script}\\n{JOB}|3|PENDING|{script}\\n"
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=queue)
    text, data = _status(killed, capsys)
    assert not [x for x in text if x.startswith("task ")], text
    assert "ended_without_summary" not in data
    assert tasks_in_queue(script) == {TASK, 3}


#: slurmstepd's line in a task log as SLURM requeues it (`scontrol requeue`), as 22.05 writes it.
REQUEUED = (
    "slurmstepd-node01: error: *** JOB 4243 ON node01 CANCELLED AT 2026-11-28T12:00:00 DUE TO "
    "JOB REQUEUE ***"
)
#: The same for a plain `scancel`: the task ended.
SCANCELLED = "slurmstepd-node01: error: *** JOB 4243 ON node01 CANCELLED AT 2026-11-28T12:00:00 ***"


def test_a_task_squeue_lists_completing_as_slurm_requeues_it_is_not_called_ended(
    emulator: EmulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """squeue lists task 1 COMPLETING, and SLURM's line after its start says it cancelled it
    to requeue it: the task is in the queue (it runs again), not called cancelled, and the
    resume waits for the array; with a plain scancel's line instead, COMPLETING is its end,
    as before; where the queue cannot be asked, a requeue's line is no proof of an end."""
    out = tmp_path / "study"
    small_array(emulator.base_url, out)  # (project 51: 8 images, 4 tasks)
    script = out / "harvest.sbatch"
    # (task 0's harvest, in this process: a run has started; task 1's log is written below)
    assert main(["harvest", "--from-plan", str(out), "--out", str(out), "--shard", "0/4",
                 "--rate", "none", "--quiet"]) == 0  # fmt: skip
    log = out / "logs" / f"harvest-{JOB}_{TASK}.log"
    started = f"harvester shard {TASK}/4: job {JOB}_{TASK} on node01 at Sat Nov 28 2026\n"
    log.write_text(f"{started}{REQUEUED}\n")
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"{JOB}|{TASK}|COMPLETING|{script}\n")
    assert tasks_in_queue(script) == {TASK}
    text = _status_text(out, capsys)
    assert not [x for x in text if x.startswith("task ")], text
    (line,) = [x for x in text if x.startswith(f"  task {TASK}: ")]
    assert line.endswith(f", in the queue (log: {log})"), line
    assert f"in the queue now: job {JOB} (squeue -j {JOB})" in text, text
    assert text[-1].startswith("to resume, once the queued job array has ended: "), text[-1]

    log.write_text(f"{started}{SCANCELLED}\n")
    assert tasks_in_queue(script) == set()
    text = _status_text(out, capsys)
    job = f"{JOB}_{TASK}"
    assert [x for x in text if x.startswith("task ")] == [
        f"task {TASK} (job {job}): ended without its summary (cancelled (scancel), as SLURM's "
        f"line in its log says); see sacct -j {job} --format=State,ExitCode,MaxRSS"
    ], text

    log.write_text(f"{started}{REQUEUED}\n")
    _fake_slurm(tmp_path, monkeypatch, up=False, queue="")
    text = _status_text(out, capsys)
    assert [x for x in text if x.startswith("task ")][0].startswith(
        f"task {TASK} (job {job}): no summary in its log, and the queue cannot be asked here "
    ), text


def test_where_the_queue_cannot_be_asked_status_says_so_and_does_not_guess(
    killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """No controller answers `scontrol ping`: task 1 may still run on another node, so it
    is named as unknown, with why and the commands that tell; squeue is not run; and the
    resume line is not a plain `to resume:` (as if nothing ran): a note before it says the
    queue could not be asked and tasks may still run, to check before resuming."""
    asked = _fake_slurm(tmp_path, monkeypatch, up=False, queue="")
    text, data = _status(killed, capsys)
    job = f"{JOB}_{TASK}"
    assert [x for x in text if x.startswith("task ")] == [
        f"task {TASK} (job {job}): no summary in its log, and the queue cannot be asked here "
        "(scontrol ping finds no SLURM controller): still running on another node, or killed "
        f"(out of memory, kill -9 or node failure?); squeue -j {JOB} and sacct -j {job} "
        "--format=State,ExitCode,MaxRSS tell"
    ]
    assert not any("the resume line below runs" in x for x in text)
    [end] = data["ended_without_summary"]
    assert (end["killed"], end["queue_error"]) == (None, "scontrol ping finds no SLURM controller")
    assert not asked.exists()
    script = killed / "harvest.sbatch"
    assert text[-2:] == [
        "note: the SLURM queue cannot be asked here (scontrol ping finds no SLURM controller): "
        "tasks of the job array may still be queued or running, another user's too; check "
        "with squeue -n harvester -o '%i %u %T %o' where SLURM answers before resuming",
        f"to resume, once no task of the job array is running: jid=$(sbatch --parsable "
        f"--array=1-3 {script}) && sbatch --dependency=afterany:${{jid%%;*}} "
        f"{killed}/index.sbatch",
    ], text[-3:]
    assert data["queue_unknown"] == "scontrol ping finds no SLURM controller"


@pytest.mark.parametrize(
    "notice",
    [
        f"slurmstepd: error: Detected 1 oom_kill event in StepId={JOB}_{TASK}.batch. "
        "Some of the step tasks have been OOM Killed.",
        # (the node named, as slurmstepd 22.05 writes its lines on the test cluster)
        f"slurmstepd-node01: error: Detected 1 oom-kill event(s) in StepId={JOB}_{TASK}.batch. "
        "Some of your processes may have been killed by the cgroup out-of-memory handler.",
    ],
)
def test_slurms_out_of_memory_line_is_read_as_what_killed_it(
    notice: str, killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """slurmstepd writes its oom_kill notice into the task's log: status says out of
    memory, not a guess among three; any line of the harvest after the start would not."""
    log = killed / "logs" / f"harvest-{JOB}_{TASK}.log"
    with log.open("a") as handle:
        handle.write(notice + "\n")
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    text, data = _status(killed, capsys)
    assert [x for x in text if x.startswith("task ")] == [
        f"task {TASK} (job {JOB}_{TASK}): ended without its summary (killed: out of memory, as "
        f"SLURM's line in its log says); see sacct -j {JOB}_{TASK} --format=State,ExitCode,MaxRSS"
    ]
    assert data["ended_without_summary"][0]["out_of_memory"] is True

    with log.open("a") as handle:  # the harvest spoke after its start: not a silent end
        handle.write("error: the server answered 503\n")
    text, data = _status(killed, capsys)
    assert not [x for x in text if x.startswith("task ")], text
    assert "ended_without_summary" not in data


#: SLURM's CANCELLED lines in a task's log (22.05; ``scancel --batch --signal=KILL`` names the
#: node) and the cause status reads in each.
CANCELLED_LINES = [
    (f"slurmstepd-node01: error: *** JOB {JOB} ON node01 CANCELLED AT "
     "2026-11-27T23:40:02 ***", "scancel"),
    (f"slurmstepd: error: *** JOB {JOB} ON node01 CANCELLED AT 2026-11-27T23:40:02 DUE "
     "TO TIME LIMIT ***", "time limit"),
]  # fmt: skip


@pytest.mark.parametrize(("notice", "why"), CANCELLED_LINES)
def test_slurms_cancelled_line_is_read_as_a_cancel_not_a_guessed_kill(
    notice: str, why: str, killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """slurmstepd wrote that it cancelled the job into the task's log: status says
    cancelled (scancel, or the reason SLURM names), not "out of memory, kill -9 or node
    failure?", and gives no --mem advice for it (a time limit gets --time/--tasks advice);
    --json says it too."""
    log = killed / "logs" / f"harvest-{JOB}_{TASK}.log"
    with log.open("a") as handle:
        handle.write(notice + "\n")
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    text, data = _status(killed, capsys)
    job = f"{JOB}_{TASK}"
    assert [x for x in text if x.startswith("task ")] == [
        f"task {TASK} (job {job}): ended without its summary (cancelled ({why}), as SLURM's "
        f"line in its log says); see sacct -j {job} --format=State,ExitCode,MaxRSS"
    ]
    assert "  the resume line below runs it again" in text
    assert not any("--mem" in x for x in text), text
    # Only a time limit gets the advice against the next one.
    advice = [x for x in text if "#SBATCH --time" in x]
    assert advice == (
        [f"  a time limit may cancel it again: raise #SBATCH --time in {killed}/harvest.sbatch,"
         " or run more tasks (--tasks N) so each does less"]
        if why == "time limit" else []
    )  # fmt: skip
    [end] = data["ended_without_summary"]
    assert (end["cancelled"], end["out_of_memory"], end["killed"]) == (why, False, True)


def test_without_a_plan_a_task_killed_while_walking_is_named(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Tasks that walk for themselves: task 1 SIGKILLed after journaling some images (its
    walk unfinished) is named as killed, and the resume line resubmits the array."""
    emu: EmulatorThread = make_emulator(preset="demo", latency_ms=100)
    out = tmp_path / "study"
    assert main(["slurm", "--base-url", emu.base_url, "--screen", "2302", "--out", str(out),
                 "--artifacts", "thumbnail", "--tasks", "4", "--rate", "none"]) == 0  # fmt: skip
    _kill_task_mid_run(out / "harvest.sbatch", TASK)
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    text, data = _status(out, capsys)
    assert [x for x in text if x.startswith("task ")] == [KILLED_UNSAID]
    assert [e["task"] for e in data["ended_without_summary"]] == [TASK]
    assert text[-1].startswith(f"to resume: jid=$(sbatch --parsable {out}/harvest.sbatch) && ")


@pytest.mark.slurm
def test_on_a_cluster_a_task_killed_mid_run_is_named_despite_slurms_line(
    tmp_path: Path, emulator_process: EmulatorProcess, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A real array task SIGKILLed mid-run (`scancel --batch --signal=KILL`): SLURM writes
    its own `slurmstepd-<node>: ... CANCELLED` line into the log, which is not the
    harvest's word: status names the task as ended without its summary, cancelled as that
    line says, and what SLURM's FAILED (JobLaunchFailure) for it means, asking the real SLURM
    once each: scontrol ping, squeue, sacct, scontrol show job."""
    require_slurm_cluster()
    out = tmp_path / "study"
    assert main(["plan", "--base-url", emulator_process.base_url, "--screen", "2302",
                 "--out", str(out), "--artifacts", "thumbnail", "--quiet",
                 "--rate", "none"]) == 0  # fmt: skip
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2",
                 "--rate", "4", "--job-name", "hv-killed"]) == 0  # fmt: skip
    array = _sbatch("--array=0", str(out / "harvest.sbatch"), cwd=out)
    try:
        deadline = time.monotonic() + WAIT_S
        while sum(_done_in(journal) for journal in (out / "journals").glob("*-shard-0-of-2*")) < 3:
            assert time.monotonic() < deadline, f"task 0 journaled nothing in time\n{_logs(out)}"
            time.sleep(0.2)
    finally:
        subprocess.run(
            ["scancel", "--batch", "--signal=KILL", f"{array}_0"], timeout=30, check=False
        )
    _wait_gone([array])
    log = out / "logs" / f"harvest-{array}_0.log"
    said = log.read_text().splitlines()
    after = said[[n for n, x in enumerate(said) if x.startswith("harvester shard 0/2")][-1] + 1 :]
    assert after and all(line.startswith("slurmstepd") for line in after), said
    calls = _log_slurm_calls(tmp_path, monkeypatch)
    text, data = _status(out, capsys)
    # The test cluster keeps no accounting (tests/hpc/slurm_up.sh): sacct cannot answer; the
    # controller lists the task for MinJobAge (300 s) after its end.
    [line] = [x for x in text if x.startswith("task ")]
    assert line.startswith(
        f"task 0 (job {array}_0): ended without its summary (cancelled (scancel), as SLURM's "
        f"line in its log says); see its log {log} and scontrol show job {array}_0 (sacct "
        f"says: {NO_ACCOUNTING}); scontrol show job says FAILED (JobLaunchFailure): killed by "
        "a signal: "
    ), (line, _logs(out))
    assert [e["task"] for e in data["ended_without_summary"]] == [0]
    assert data["ended_without_summary"][0]["slurm_state"] == "FAILED (JobLaunchFailure)"
    each_run = ["scontrol ping", "squeue -h", "sacct -n", "scontrol -o"]
    assert calls.read_text().splitlines() == each_run * 2  # (status, then status --json)


def _log_slurm_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`scontrol`, `squeue` and `sacct` first on PATH: each logs its name and first
    argument, then execs the real one; returns the log."""
    calls = tmp_path / "slurm-calls"
    bin_dir = tmp_path / "logging-bin"
    bin_dir.mkdir()
    for name in ("scontrol", "squeue", "sacct"):
        real = shutil.which(name)
        assert real is not None, name
        tool = bin_dir / name
        tool.write_text(f'#!/bin/sh\necho "{name} $1" >> {calls}\nexec {real} "$@"\n')
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return calls


def _done_in(journal: Path) -> int:
    """Artifacts a journal records done."""
    return sum(
        '"rec": "done"' in x or '"rec":"done"' in x for x in journal.read_text().splitlines()
    )


def test_a_killed_task_of_an_older_array_of_another_count_is_not_named(
    killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The script rewritten for 2 tasks after task 1 of 4 was killed: task 1 of the new
    array never ran, and the old log of shard 1/4 is not taken for its silent end."""
    out = killed
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2",
                 "--rate", "none", "--quiet"]) == 0  # fmt: skip
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    text, data = _status(out, capsys)
    assert not [x for x in text if x.startswith("task ") and "ended without" in x], text
    assert "ended_without_summary" not in data


def test_a_task_killed_after_its_progress_lines_is_named(
    killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Without --quiet a task prints a progress line a minute into its log: one killed after
    hours of them (more than the log's tail status reads) still ended without a word."""
    log = killed / "logs" / f"harvest-{JOB}_{TASK}.log"
    with log.open("a") as handle:
        for minute in range(1, 900):  # (fifteen hours: about 73 KB of progress lines)
            clock = f"{minute // 60}h{minute % 60:02d}m"
            done = f"{minute // 30} finished (3%, about 9h00m left)"
            handle.write(f"progress ({clock}): 28 images found, {done}, 1 artifact\n")
    assert log.stat().st_size > 64 * 1024
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    text, data = _status(killed, capsys)
    assert [x for x in text if x.startswith("task ")] == [KILLED_UNSAID]
    assert [e["task"] for e in data["ended_without_summary"]] == [TASK]


def test_a_task_killed_after_logging_warnings_is_named(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A task without --quiet that logged warnings (retries of a flaky server, a slow-down)
    and was then SIGKILLed ended without its summary all the same: it was not named, its
    warnings read as the harvest's last words."""
    emu: EmulatorThread = make_emulator(preset="demo", latency_ms=100, faults="503:15%,seed:3")
    out = tmp_path / "study"
    _prepare(emu.base_url, out, quiet=False)

    def warned(log: Path) -> None:
        deadline = time.monotonic() + WAIT_S
        while "WARNING harvester." not in log.read_text():
            assert time.monotonic() < deadline, "the task logged no warning in time"
            time.sleep(0.05)

    log = _kill_task_mid_run(out / "harvest.sbatch", TASK, meanwhile=warned)
    after_start = log.read_text().splitlines()[1:]
    assert after_start and all(x.startswith("WARNING harvester.") for x in after_start)
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    text, data = _status(out, capsys)
    assert [x for x in text if x.startswith("task ")] == [KILLED_UNSAID]
    assert [e["task"] for e in data["ended_without_summary"]] == [TASK]


def test_a_debugging_task_killed_mid_run_is_named(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A task debugged through its config file (``debug = true``) logs other libraries'
    records too (``DEBUG asyncio: Using selector``): killed mid-run, it ended without its
    summary all the same, yet went unnamed, asyncio's line read as its last words."""
    emu: EmulatorThread = make_emulator(preset="demo", latency_ms=100)
    out = tmp_path / "study"
    config = tmp_path / "debug.toml"
    config.write_text("debug = true\n")
    assert main(["plan", "--base-url", emu.base_url, "--screen", "2302", "--out", str(out),
                 "--artifacts", "thumbnail", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    assert main(["slurm", str(config), "--out", str(out), "--from-plan", str(out),
                 "--tasks", "4", "--max-parallel", "4", "--rate", "none"]) == 0  # fmt: skip

    log = _kill_task_mid_run(out / "harvest.sbatch", TASK)
    after_start = log.read_text().splitlines()[1:]
    assert any(x.startswith("DEBUG asyncio: ") for x in after_start)
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    text, data = _status(out, capsys)
    assert [x for x in text if x.startswith("task ")] == [
        f"task {TASK} (job {JOB}_{TASK}): ended without its summary (killed: out of memory, "
        f"kill -9 or node failure?); see sacct -j {JOB}_{TASK} --format=State,ExitCode,MaxRSS"
    ]
    assert [e["task"] for e in data["ended_without_summary"]] == [TASK]


def test_status_asks_the_queue_once_for_a_killed_task(
    killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """One status run with a silent task: `scontrol ping` once and one `squeue` listing,
    which serves both the queued jobs and the tasks in the queue (it was two of each)."""
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("scontrol", "echo 'Slurmctld(primary) at h is UP'"),
                       ("squeue", "true"), ("sacct", "true")):  # fmt: skip
        tool = bin_dir / name
        tool.write_text(f'#!/bin/sh\necho "{name} $1" >> {calls}\n{body}\n')
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    capsys.readouterr()
    assert main(["status", str(killed)]) == 0
    said = capsys.readouterr().out.splitlines()
    assert [x for x in said if x.startswith(f"task {TASK} (job {JOB}_{TASK}): ended without")]
    # (and sacct once, whether it answers here: it does, so no scontrol show job)
    assert calls.read_text().splitlines() == ["scontrol ping", "squeue -h", "sacct -n"]


def test_without_accounting_status_points_to_the_log_and_scontrol_not_sacct(
    killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A cluster without accounting (sacct refuses, as on the test cluster): status names
    the task's log, and `scontrol show job` while the controller still lists the task,
    never sacct, which cannot answer; the --mem advice does not hang on sacct either."""
    job, script = f"{JOB}_{TASK}", killed / "harvest.sbatch"
    log = killed / "logs" / f"harvest-{job}.log"
    shown = f"JobId=4245 ArrayJobId={JOB} ArrayTaskId={TASK} JobState=FAILED\\n"
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="", accounting=False, shown=shown)
    text, data = _status(killed, capsys)
    assert [x for x in text if x.startswith("task ")] == [
        f"task {TASK} (job {job}): ended without its summary (killed: out of memory, kill -9 "
        f"or node failure?); see its log {log} and scontrol show job {job} (sacct says: "
        f"{NO_ACCOUNTING}); scontrol show job says FAILED"
    ]
    assert (
        "  the resume line below runs it again; after an out-of-memory kill, raise "
        f"#SBATCH --mem in {script} first"
    ) in text
    assert not [x for x in text if "sacct -j" in x], text
    [end] = data["ended_without_summary"]
    assert (end["see"], end["no_sacct"], end["slurm_state"]) == (
        [f"scontrol show job {job}"],
        f"sacct says: {NO_ACCOUNTING}",
        "FAILED",
    )

    _fake_slurm(tmp_path, monkeypatch, up=True, queue="", accounting=False)  # long forgotten
    text, data = _status(killed, capsys)
    assert [x for x in text if x.startswith("task ")] == [
        f"task {TASK} (job {job}): ended without its summary (killed: out of memory, kill -9 "
        f"or node failure?); see its log {log} (sacct says: {NO_ACCOUNTING})"
    ]
    assert data["ended_without_summary"][0]["see"] == []


def test_a_task_slurm_calls_a_launch_failure_is_said_killed_by_a_signal(
    killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """`scancel --batch --signal=KILL` on SLURM 22.05 without accounting: the task is FAILED
    with the reason JobLaunchFailure (`scontrol show job`, `squeue -j`), read as a launch
    that failed. Status names what SLURM says and what it means for the task: a kill, which
    the resume line redoes; --json carries SLURM's state."""
    job, log = f"{JOB}_{TASK}", killed / "logs" / f"harvest-{JOB}_{TASK}.log"
    with log.open("a") as handle:
        handle.write(CANCELLED_LINES[0][0] + "\n")
    shown = (f"JobId=4245 ArrayJobId={JOB} ArrayTaskId={TASK} JobState=FAILED "
             "Reason=JobLaunchFailure Dependency=(null)\\n")  # fmt: skip
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="", accounting=False, shown=shown)
    text, data = _status(killed, capsys)
    assert [x for x in text if x.startswith("task ")] == [
        f"task {TASK} (job {job}): ended without its summary (cancelled (scancel), as SLURM's "
        f"line in its log says); see its log {log} and scontrol show job {job} (sacct says: "
        f"{NO_ACCOUNTING}); scontrol show job says FAILED (JobLaunchFailure): killed by a "
        "signal: SLURM says JobLaunchFailure for any batch script a signal ended (kill -9, "
        "scancel --signal=KILL, the out-of-memory killer), not a launch that failed"
    ]
    assert "  the resume line below runs it again" in text
    assert text[-1].startswith("to resume: jid=$(sbatch --parsable --array=1-3 "), text[-1]
    assert data["ended_without_summary"][0]["slurm_state"] == "FAILED (JobLaunchFailure)"


def test_slurms_reason_none_is_no_reason_in_the_state_said(
    killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """`scontrol show job` says `Reason=None` where it has no reason (a task scancel ended):
    status says SLURM's state alone, CANCELLED, not "CANCELLED (None)", in text and --json."""
    shown = (f"JobId=4245 ArrayJobId={JOB} ArrayTaskId={TASK} JobState=CANCELLED "
             "Reason=None Dependency=(null)\\n")  # fmt: skip
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="", accounting=False, shown=shown)
    text, data = _status(killed, capsys)
    [line] = [x for x in text if x.startswith("task ")]
    assert line.endswith(f"(sacct says: {NO_ACCOUNTING}); scontrol show job says CANCELLED"), line
    assert data["ended_without_summary"][0]["slurm_state"] == "CANCELLED"


def test_without_accounting_or_queue_status_names_the_log_not_sacct(
    killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """No controller answering and no accounting: the task may still run, so squeue tells
    (where SLURM answers); the log is named, sacct is not."""
    _fake_slurm(tmp_path, monkeypatch, up=False, queue="", accounting=False)
    text, _data = _status(killed, capsys)
    log = killed / "logs" / f"harvest-{JOB}_{TASK}.log"
    assert [x for x in text if x.startswith("task ")] == [
        f"task {TASK} (job {JOB}_{TASK}): no summary in its log, and the queue cannot be asked "
        "here (scontrol ping finds no SLURM controller): still running on another node, or "
        f"killed (out of memory, kill -9 or node failure?); squeue -j {JOB} tells where SLURM "
        f"answers; its log: {log} (sacct says: {NO_ACCOUNTING})"
    ]


def _status_cli(out: Path) -> tuple[list[str], dict[str, Any]]:
    """status's text lines and its --json, from `python -m harvester` in a subprocess (with
    this test's PATH: its fake SLURM tools), each asserted to exit 0."""
    import harvester

    root = str(Path(harvester.__file__).absolute().parent.parent)
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    said = [
        subprocess.run(
            [sys.executable, "-m", "harvester", "status", str(out), *flags],
            capture_output=True, text=True, env=env, timeout=WAIT_S, check=False,
        )
        for flags in ((), ("--json",))
    ]  # fmt: skip
    assert [s.returncode for s in said] == [0, 0], [s.stderr for s in said]
    return said[0].stdout.splitlines(), json.loads(said[1].stdout)


@pytest.mark.parametrize(("notice", "why"), CANCELLED_LINES)
def test_where_the_queue_cannot_be_asked_a_cancelled_task_is_said_cancelled(
    notice: str, why: str, killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No controller answers, but SLURM's CANCELLED line in task 1's log proves it ended:
    status says it was cancelled (scancel, or the time limit), not "still running on another
    node, or killed", with the queue's note kept before the resume line; --json says so."""
    with (killed / "logs" / f"harvest-{JOB}_{TASK}.log").open("a") as handle:
        handle.write(notice + "\n")
    _fake_slurm(tmp_path, monkeypatch, up=False, queue="")
    text, data = _status_cli(killed)
    job, script = f"{JOB}_{TASK}", killed / "harvest.sbatch"
    assert [x for x in text if x.startswith("task ")] == [
        f"task {TASK} (job {job}): ended without its summary (cancelled ({why}), as SLURM's "
        f"line in its log says); see sacct -j {job} --format=State,ExitCode,MaxRSS"
    ]
    assert not any("still running on another node" in x for x in text), text
    assert "  the resume line below runs it again" in text
    assert not any("--mem" in x for x in text), text
    advice = [x for x in text if "#SBATCH --time" in x]
    assert advice == (
        [f"  a time limit may cancel it again: raise #SBATCH --time in {script}, or run more "
         "tasks (--tasks N) so each does less"]
        if why == "time limit" else []
    )  # fmt: skip
    assert text[-2].startswith("note: the SLURM queue cannot be asked here (scontrol ping")
    assert text[-1].startswith("to resume, once no task of the job array is running: ")
    [end] = data["ended_without_summary"]
    assert (end["killed"], end["cancelled"], end["queue_error"]) == (
        True,
        why,
        "scontrol ping finds no SLURM controller",
    )


#: slurmstepd's line for a task its time limit cancelled (then SIGTERM, then SIGKILL).
TIME_LIMIT = (f"slurmstepd-node01: error: *** JOB {JOB} ON node01 CANCELLED AT "
              "2026-11-28T02:21:31 DUE TO TIME LIMIT ***")  # fmt: skip


@pytest.mark.parametrize("up", [True, False])
def test_a_time_limited_task_that_said_interrupted_gets_the_time_advice(
    up: bool, make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A task its time limit cancelled with SIGTERM says "interrupted" (not silent): status
    names it as cut short by its time limit and says to raise #SBATCH --time (its resume
    would meet the same limit), with the queue answering or not; --json says it too."""
    emu: EmulatorThread = make_emulator(preset="demo", latency_ms=100)
    out = tmp_path / "study"
    _prepare(emu.base_url, out)
    script = out / "harvest.sbatch"
    log = _kill_task_mid_run(script, TASK, signal.SIGTERM, TIME_LIMIT)
    said = log.read_text().splitlines()
    assert any(x.startswith("interrupted by SLURM's time limit") for x in said), said
    _fake_slurm(tmp_path, monkeypatch, up=up, queue="")
    text, data = _status(out, capsys)
    job = f"{JOB}_{TASK}"
    assert [x for x in text if x.startswith("task ")] == [
        f"task {TASK} (job {job}): cancelled (time limit), as SLURM's line in its log says "
        f"(log: {log})"
    ]
    assert (
        f"  a time limit may cancel it again: raise #SBATCH --time in {script}, or run more "
        "tasks (--tasks N) so each does less"
    ) in text
    assert not any("ended without its summary" in x for x in text), text
    assert data["time_limited"] == [{"task": TASK, "job": job, "log": str(log)}]


@pytest.mark.parametrize("notice", [TIME_LIMIT, ""])
def test_a_time_limited_tasks_own_interrupted_line_says_to_raise_its_time(
    notice: str, make_emulator: Any, tmp_path: Path
) -> None:
    """SIGTERM after SLURM's time-limit line: the task's own `interrupted` line says the same
    limit would cut it short again and to raise #SBATCH --time (or run more tasks) before its
    --array=K resubmission; a plain scancel's SIGTERM keeps the plain line."""
    emu: EmulatorThread = make_emulator(preset="demo", latency_ms=100)
    out = tmp_path / "study"
    _prepare(emu.base_url, out)
    script = out / "harvest.sbatch"
    log = _kill_task_mid_run(script, TASK, signal.SIGTERM, notice)
    [said] = [x for x in log.read_text().splitlines() if x.startswith("interrupted")]
    resubmit = (
        f"jid=$(sbatch --parsable --array={TASK} {script}) && sbatch "
        f"--dependency=afterany:${{jid%%;*}} {out}/index.sbatch  # this task only; every "
        f"task with work left: harvester status {out}"
    )
    if notice:
        assert said == (
            "interrupted by SLURM's time limit, as its line above says: every finished file "
            "is kept and journaled; the same limit would cut the task short again: raise "
            f"#SBATCH --time in {script}, or run more tasks (--tasks N) so each does less, "
            f"then resume with: {resubmit}"
        )
    else:
        assert said == (
            f"interrupted: every finished file is kept and journaled; resume with: {resubmit}"
        )


class _GoesDown:
    """The demo emulator until ``down`` is set, then 503 to everything, its API root too
    (a maintenance window the run pauses for)."""

    def __init__(self) -> None:
        self.inner = build_application("demo", 0, "omeroweb")
        self.down = False

    def handle(self, req: Request) -> Response:
        if self.down:
            return Response(503, b"<h1>maintenance</h1>", route="test:down")
        return self.inner.handle(req)

    def route_name(self, req: Request) -> str:
        return self.inner.route_name(req)


#: The warning a run logs as it pauses for a server that is down (harvester.outage), once
#: the pause has begun: the sure sign that a signal now stops a run waiting for the server.
PAUSED = "WARNING harvester.outage: the server looks down ("


def test_a_task_the_time_limit_ends_while_waiting_for_the_server_says_to_raise_its_time(
    make_emulator: Any, tmp_path: Path
) -> None:
    """The server goes down mid-task, the task pauses for it, then SLURM's time limit ends
    it: its own line says the limit ended it while it waited, and to raise #SBATCH --time
    before the --array=K resubmission (it said "run again later" alone, with the same time)."""
    app = _GoesDown()
    emu: EmulatorThread = make_emulator(app=app, latency_ms=100)
    out = tmp_path / "study"
    # Not --quiet: the task logs its warnings, the pause's among them (its sure sign); the
    # pause comes at the first 503 (no retries).
    _prepare(emu.base_url, out, "--max-retries", "0", quiet=False)
    script = out / "harvest.sbatch"

    def pause(log: Path) -> None:
        app.down = True
        deadline = time.monotonic() + WAIT_S
        while not any(x.startswith(PAUSED) for x in log.read_text().splitlines()):
            assert time.monotonic() < deadline, "the task never paused for the server"
            time.sleep(0.05)

    log = _kill_task_mid_run(script, TASK, signal.SIGTERM, TIME_LIMIT, meanwhile=pause)
    [said] = [x for x in log.read_text().splitlines() if x.startswith("interrupted")]
    resubmit = (
        f"jid=$(sbatch --parsable --array={TASK} {script}) && sbatch "
        f"--dependency=afterany:${{jid%%;*}} {out}/index.sbatch  # this task only; every "
        f"task with work left: harvester status {out}"
    )
    assert re.fullmatch(
        r"interrupted by SLURM's time limit, as its line above says, while waiting for the "
        r"server, down for \d+\.\ds \(HTTP 503 Service Unavailable[^)]*\): every finished "
        r"file is kept and journaled; the wait counted towards the limit, which may cut the "
        r"task short again: raise #SBATCH --time in " + re.escape(str(script)) + r", or run "
        r"more tasks \(--tasks N\) so each does less, then, once the server is back, resume "
        r"with: " + re.escape(resubmit),
        said,
    ), said


#: A long task's words in its log after its start: more than the 64 KiB of its end read first.
LONG_RUN = "\n".join(
    f"harvester.fetch WARNING image {n}: HTTP 503 Service Unavailable (after 4 tries)"
    for n in range(1200)
)


def test_a_time_limited_task_with_a_long_log_is_still_said_cut_short_by_it(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A task cut short by its time limit after more than 64 KiB of its own lines (a long
    run's warnings): its interrupted line and status still say the time limit, whose line
    ends the log, though its start line is further back (both said a plain interruption)."""
    emu: EmulatorThread = make_emulator(preset="demo", latency_ms=100)
    out = tmp_path / "study"
    _prepare(emu.base_url, out)
    script = out / "harvest.sbatch"
    log = _kill_task_mid_run(script, TASK, signal.SIGTERM, f"{LONG_RUN}\n{TIME_LIMIT}")
    assert log.stat().st_size > 64 * 1024
    said = log.read_text().splitlines()
    assert any(x.startswith("interrupted by SLURM's time limit") for x in said), said[-3:]
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    text, data = _status(out, capsys)
    assert data["time_limited"] == [{"task": TASK, "job": f"{JOB}_{TASK}", "log": str(log)}]
    assert f"  a time limit may cancel it again: raise #SBATCH --time in {script}, or run " \
        "more tasks (--tasks N) so each does less" in text  # fmt: skip


def test_a_time_limited_task_with_more_than_a_mib_of_log_says_so_itself(
    make_emulator: Any, tmp_path: Path
) -> None:
    """A task cut short by its time limit after more than 1 MiB of its own lines (a week's
    limit writes that in minute progress lines alone): its own interrupted line still says
    the time limit (it read no more of its log than status does, 1 MiB, and said a plain
    interruption)."""
    emu: EmulatorThread = make_emulator(preset="demo", latency_ms=100)
    out = tmp_path / "study"
    _prepare(emu.base_url, out)
    script = out / "harvest.sbatch"
    week = "\n".join([LONG_RUN] * 14)
    log = _kill_task_mid_run(script, TASK, signal.SIGTERM, f"{week}\n{TIME_LIMIT}")
    assert log.stat().st_size > 1 << 20
    said = log.read_text().splitlines()
    assert any(x.startswith("interrupted by SLURM's time limit") for x in said), said[-3:]


def test_a_time_limited_task_queued_again_gets_no_time_advice(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Task 1, cut short by its time limit, is in the queue again (resubmitted): status
    does not name it as cut short (its new run has not met the limit yet)."""
    emu: EmulatorThread = make_emulator(preset="demo", latency_ms=100)
    out = tmp_path / "study"
    _prepare(emu.base_url, out)
    script = out / "harvest.sbatch"
    _kill_task_mid_run(script, TASK, signal.SIGTERM, TIME_LIMIT)
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"{JOB}|{TASK}|PENDING|{script}\\n")
    text, data = _status(out, capsys)
    assert not [x for x in text if x.startswith("task ") or "#SBATCH --time" in x], text
    assert "time_limited" not in data


def test_a_task_stopped_mid_image_counts_its_partly_harvested_images(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Task 1, stopped (SIGTERM) with its images' imgData written and their thumbnails
    still coming (held by the emulator until the task is gone): its line counts them as
    partly harvested, so that its counts add up to its images (it read "0 of 28 images
    complete, 24 not reached")."""
    # (Never released: the task is stopped while they are held; a timeout well past the
    # task's own wait, so a loaded machine never gets a thumbnail answered before the stop.)
    emu: EmulatorThread = make_emulator(
        preset="demo", faults="hold:thumbnails,hold-timeout:10m,only:image:thumbnail*"
    )
    out = tmp_path / "study"
    assert main(["plan", "--base-url", emu.base_url, "--screen", "2302", "--out", str(out),
                 "--artifacts", "thumbnail,imgdata", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "4",
                 "--max-parallel", "4", "--rate", "none", "--quiet"]) == 0  # fmt: skip
    _kill_task_mid_run(out / "harvest.sbatch", TASK, signal.SIGTERM)
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    text, data = _status(out, capsys)
    task = data["array_tasks"][TASK]
    assert (task["complete"], task["failed"]) == (0, 0)
    assert task["partial"] == task["reached"] >= 3, task
    assert f"  task {TASK}: 0 of 28 images complete, {task['partial']} partly harvested, " in (
        "\n".join(text)
    ), text


def test_tasks_waiting_in_the_queue_are_said_to_be_there(
    killed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """squeue lists tasks 2 and 3 of DIR's script (pending, `%M` reached): their lines say
    "in the queue" (they read as tasks that never ran); task 1, killed, does not."""
    script = killed / "harvest.sbatch"
    queue = f"{JOB}|2|PENDING|{script}\\n{JOB}|3|PENDING|{script}\\n"
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=queue)
    text, _data = _status(killed, capsys)
    tasks = {x.split(":")[0].strip(): x for x in text if x.startswith("  task ")}
    assert set(tasks) == {"task 1", "task 2", "task 3"}, text
    assert tasks["task 2"].endswith(" not reached, in the queue"), tasks
    assert tasks["task 3"].endswith(" not reached, in the queue"), tasks
    assert "in the queue" not in tasks["task 1"], tasks
