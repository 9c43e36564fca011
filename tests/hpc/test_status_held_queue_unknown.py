"""``harvester status`` on a job array's folder a harvest holds where SLURM cannot be asked.

Both held: a run lock (a task, or a harvest started by hand) and no controller answering
``scontrol ping``. Status said only ``to resume, once the running harvests have ended``: the
note that the queue cannot be asked (tasks of the array may still be queued) was never
printed, its branch coming after the running harvests' one, and that line read as a go once
the harvest had ended. SLURM's tools are faked; task 0 runs as SLURM would run it, against
the emulator over real sockets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hpc_helpers import run_array_task
from test_status_killed_task import _fake_slurm, _status

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.runlock import acquire_run_lock, release_run_lock

PLATE = "7375"  # the demo preset's small plate: 8 images


def test_a_held_lock_and_a_queue_not_asked_are_both_said_before_the_resume(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Task 1 of 2 holding DIR, no controller: the queue-unknown note, then the resume for
    once the running harvests have ended and no task is queued, a line each; --json says
    both (running, queue_unknown)."""
    emu: EmulatorThread = make_emulator(preset="demo")
    out = tmp_path / "study"
    assert main(["slurm", "--base-url", emu.base_url, "--plate", PLATE, "--out", str(out),
                 "--artifacts", "thumbnail", "--tasks", "2", "--rate", "none",
                 "--quiet"]) == 0  # fmt: skip
    assert run_array_task(out / "harvest.sbatch", 0, 2).returncode == 0
    _fake_slurm(tmp_path, monkeypatch, up=False, queue="")
    fd = acquire_run_lock(out, "1/2")  # (as task 1 holds it, running on a node)
    try:
        text, data = _status(out, capsys)
    finally:
        release_run_lock(fd)
    assert [x for x in text if x.startswith("running now: ")] != [], text
    assert text[-2:] == [
        "note: the SLURM queue cannot be asked here (scontrol ping finds no SLURM controller): "
        "tasks of the job array may still be queued or running, another user's too; check "
        "with squeue -n harvester -o '%i %u %T %o' where SLURM answers before resuming",
        "to resume, once the running harvests have ended and no task of the job array is "
        f"queued: {data['resume']}",
    ], text[-3:]
    assert data["resume"].startswith("jid=$(sbatch --parsable --array=1 "), data["resume"]
    assert data["queue_unknown"] == "scontrol ping finds no SLURM controller"
    assert len(data["running"]) == 1, data["running"]
