"""``-q`` is ``--quiet`` wherever ``--quiet`` exists, as in curl, wget, aria2c and rclone."""

from __future__ import annotations

from pathlib import Path

import pytest
from harvest_helpers import run_cli

from harvester.emulator import EmulatorThread

DEMO_SCREEN = "2302"


@pytest.mark.parametrize("quiet", ["-q", "--quiet"])
def test_a_quiet_harvest_prints_nothing_but_still_harvests(
    emulator: EmulatorThread, tmp_path: Path, quiet: str
) -> None:
    """-q and --quiet make a harvest print nothing while it still saves every file."""
    common = [
        "--base-url",
        emulator.base_url,
        "--screen",
        DEMO_SCREEN,
        "--artifacts",
        "thumbnail",
        "--rate",
        "none",
    ]
    loud = run_cli("harvest", *common, "--out", str(tmp_path / "loud"))
    assert loud.returncode == 0, loud.stderr
    assert "done 80" in loud.stdout

    run = run_cli("harvest", *common, "--out", str(tmp_path / "quiet"), quiet)
    assert run.returncode == 0, run.stderr
    assert (run.stdout, run.stderr) == ("", "")
    thumbnails = sorted((tmp_path / "quiet" / "images").rglob("*.thumbnail.jpg"))
    assert len(thumbnails) == 80


def test_plan_and_slurm_take_the_short_flag(emulator: EmulatorThread, tmp_path: Path) -> None:
    """`plan -q` prints only errors; `slurm -q` passes --quiet on to every task."""
    out = tmp_path / "hpc"
    plan = run_cli(
        "plan",
        "--base-url",
        emulator.base_url,
        "--screen",
        DEMO_SCREEN,
        "--out",
        str(out),
        "--rate",
        "none",
        "-q",
    )
    assert plan.returncode == 0, plan.stderr
    assert (plan.stdout, plan.stderr) == ("", "")
    assert (out / "plan" / "images.jsonl").is_file()

    slurm = run_cli("slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2", "-q")
    assert slurm.returncode == 0, slurm.stderr
    script = (out / "harvest.sbatch").read_text()
    assert "--quiet" in script
