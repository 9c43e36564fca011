"""`harvester slurm --refresh-labels`: a job array's tasks ask the labels again, as a
harvest given the flag does (it was refused by slurm: an array user could not refresh)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hpc_helpers import run_array_task

from harvester.cli import main
from harvester.emulator import EmulatorThread


def test_slurm_refresh_labels_reaches_every_task(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The flag is on the tasks' harvest line, and a task run as SLURM would exits 0."""
    out = tmp_path / "study"
    code = main(["slurm", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--tasks", "2", "--refresh-labels"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    script = out / "harvest.sbatch"
    harvest_line = next(line for line in script.read_text().splitlines() if " harvest " in line)
    assert "--refresh-labels" in harvest_line, harvest_line
    (out / "logs").mkdir(exist_ok=True)
    assert run_array_task(script, 0, 2).returncode == 0, list((out / "logs").iterdir())


def test_slurm_refresh_labels_beside_no_labels_is_one_line(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--refresh-labels with --no-labels: refused now in one line (not in every task)."""
    out = tmp_path / "study"
    code = main(["slurm", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
                 "--tasks", "2", "--refresh-labels", "--no-labels"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "error: --refresh-labels: asks the labels again, which --no-labels skips" in err, err
    assert not (out / "harvest.sbatch").exists()


def test_slurm_refresh_labels_with_a_plan_is_refused_before_the_script(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--refresh-labels with --from-plan: refused now, exit 2, no script (it wrote one
    whose every task a harvest from a plan refused, exit 2, in the queue)."""
    out = tmp_path / "study"
    plan = ["plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(out)]
    assert main([*plan, "--artifacts", "thumbnail", "-q", "--rate", "none"]) == 0
    capsys.readouterr()
    code = main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2",
                 "--refresh-labels"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --refresh-labels: a run from a plan asks no labels"), err
    assert "Traceback" not in err
    assert not (out / "harvest.sbatch").exists()
