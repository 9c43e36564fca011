"""On a real SLURM cluster: an array that ended short, then resumed as the script says.

The index job runs once the array has ended however its tasks ended (``afterany``), so after
an array that harvested shard 0 of 2 only (a task cancelled or failed) it writes a short
index.csv and says how short, exit 0. The resume line in the script's header resubmits the
array *and* the index job: afterwards index.csv lists every planned image (a plain
``sbatch harvest.sbatch`` resumed the harvest but left the short index.csv behind).
Skipped without a cluster like test_slurm.py (failed in CI).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hpc_helpers import EmulatorProcess, harvester_cmd, run
from test_slurm import _logs, _squeue, _wait_gone, require_slurm_cluster

#: Project 51 of the demo preset: 8 images.
PROJECT_IMAGES = 8
JOB_NAME = "hv-resume-index"


def _sbatch(*args: str, cwd: Path) -> str:
    proc = subprocess.run(
        ["sbatch", "--parsable", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=cwd,
    )
    return proc.stdout.strip().split(";")[0]


@pytest.mark.slurm
def test_short_array_then_resume_line_rebuilds_a_full_index(
    tmp_path: Path, emulator_process: EmulatorProcess
) -> None:
    """After a short array, the script's resume line run as written rebuilds the full index."""
    require_slurm_cluster()
    out = tmp_path / "study"
    run(harvester_cmd("plan", "--base-url", emulator_process.base_url, "--project", "51",
                      "--out", str(out), "--artifacts", "thumbnail", "--quiet",
                      "--rate", "none"))  # fmt: skip
    run(harvester_cmd("slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2",
                      "--rate", "none", "--job-name", JOB_NAME))  # fmt: skip

    # Shard 1 never runs (as if scancel-ed): the index job still runs after the array.
    first = _sbatch("--array=0", str(out / "harvest.sbatch"), cwd=out)
    index = _sbatch(f"--dependency=afterany:{first}", str(out / "index.sbatch"), cwd=out)
    _wait_gone([first, index])
    log = (out / "logs" / f"index-{index}.log").read_text()
    rows = len((out / "index.csv").read_text().splitlines()) - 1
    assert 0 < rows < PROJECT_IMAGES, _logs(out)
    assert f"note: index.csv lists {rows} of the plan's {PROJECT_IMAGES} images;" in log

    # The header's resume line, run as written: array and index job again.
    header = (out / "harvest.sbatch").read_text().splitlines()
    resume = next(line for line in header if "jid=$(sbatch --parsable" in line)
    proc = subprocess.run(
        ["bash", "-c", resume.lstrip("# ")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=out,
    )
    second_index = proc.stdout.split()[-1]
    _wait_gone([second_index])
    state = _squeue("-t", "all", "-j", second_index, "-o", "%T").stdout.strip()
    assert state == "COMPLETED", _logs(out)
    log = (out / "logs" / f"index-{second_index}.log").read_text()
    assert log.splitlines() == [f"wrote {out / 'index.csv'} ({PROJECT_IMAGES} images)"]
    assert len((out / "index.csv").read_text().splitlines()) == 1 + PROJECT_IMAGES
