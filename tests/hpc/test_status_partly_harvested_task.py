"""A job-array task killed mid-image after reaching every image of its share.

Each task of a plan's array journals an image as it starts it, and its stack's planes as
they come. Killed with one stack short (``kill -9`` as it waited on a plane; a time limit
or ``scancel`` alike), the task leaves every image of its share reached and one partly
harvested. Status counted only images no run had reached as a task's work: it named no
such task as killed, and its resume line resubmitted the whole array (every finished
task with it) instead of ``--array=K``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from hpc_helpers import run_array_task
from test_status_killed_task import _fake_slurm, _status

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.plan import iter_plan_ids
from harvester.shard import shard_of

JOB = "4343"
TASKS = 2
#: The task killed: the first render it asks is held, the others answered.
KILLED = 0
WAIT_S = 60


def _done_records(out: Path) -> int:
    """Artifacts journaled done by the runs of task KILLED."""
    lines = []
    for journal in (out / "journals").glob(f"*-shard-{KILLED}-of-{TASKS}.jsonl"):
        lines += journal.read_text().splitlines()
    return sum('"rec": "done"' in line or '"rec":"done"' in line for line in lines)


def _kill_when_only_the_held_stack_is_left(script: Path, emu: EmulatorThread, done: int) -> None:
    """Run task KILLED as SLURM would and kill -9 it once ``done`` artifacts are journaled
    and its held plane waits at the gate: its one unfinished stack."""
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": str(KILLED),
           "SLURM_ARRAY_TASK_COUNT": str(TASKS), "SLURM_ARRAY_JOB_ID": JOB}  # fmt: skip
    log = script.parent / "logs" / f"harvest-{JOB}_{KILLED}.log"
    with log.open("a") as handle:
        proc = subprocess.Popen(["bash", str(script)], env=env, stdout=handle,
                                stderr=subprocess.STDOUT)  # fmt: skip
        try:
            emu.wait_held("plane", 1, WAIT_S)
            deadline = time.monotonic() + WAIT_S
            while _done_records(script.parent) < done:
                assert proc.poll() is None, "the task ended before it could be killed"
                assert time.monotonic() < deadline, "the task did not finish its other images"
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(WAIT_S)
    emu.release("plane")


def test_a_task_killed_with_every_image_reached_is_named_and_resubmitted_alone(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A task killed mid-stack after every image of its share was reached is named by status
    and its resume line resubmits that task alone (--array=K), not the whole array."""
    emu: EmulatorThread = make_emulator(
        preset="demo", faults="only:image:render,first:hold,hold:plane"
    )
    out = tmp_path / "study"
    assert main(["plan", "--base-url", emu.base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail,stack", "--quiet"]) == 0  # fmt: skip
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", str(TASKS),
                 "--max-parallel", "1", "--rate", "none", "--quiet"]) == 0  # fmt: skip
    share = [i for i in iter_plan_ids(out) if shard_of(i, TASKS) == KILLED]
    assert len(share) >= 2  # (one held, the others finished)
    script = out / "harvest.sbatch"
    # Every image's thumbnail and stack but the held one's stack.
    _kill_when_only_the_held_stack_is_left(script, emu, 2 * len(share) - 1)
    for task in range(TASKS):
        if task != KILLED:
            assert run_array_task(script, task, TASKS, JOB).returncode == 0

    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    text, data = _status(out, capsys)
    (mine,) = [t for t in data["array_tasks"] if t["task"] == KILLED]
    assert (mine["reached"], mine["complete"], mine["partial"]) == (len(share), len(share) - 1, 1)
    assert [e["task"] for e in data["ended_without_summary"]] == [KILLED]
    assert any(
        line.startswith(f"  task {KILLED}: ") and "ended without its summary" in line
        for line in text
    ), text
    resume = f"jid=$(sbatch --parsable --array={KILLED} {script}) && "
    assert data["resume"].startswith(resume), data["resume"]
    assert text[-1] == "to resume: " + data["resume"]
