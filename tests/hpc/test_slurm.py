"""A real SLURM job array (single-node cluster from tests/hpc/slurm_up.sh) harvests in shards.

The cluster is started by .ci/run (or by hand: ``sudo bash tests/hpc/slurm_up.sh``).
Without it the test is skipped with a loud reason, except in CI (``CI=true``),
where a missing cluster is a failure: the SLURM path must never go untested silently.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from hpc_helpers import (
    ARTIFACTS,
    TARGETS,
    EmulatorProcess,
    assert_each_image_fetched_once,
    assert_same_output,
    harvest_args,
    harvester_cmd,
    image_request_counts,
    run,
)

TASKS = 4
WAIT_S = 240
HERE = Path(__file__).resolve().parent


def _cluster_problem() -> str | None:
    """None if a SLURM controller answers, else why not (for the skip/fail message)."""
    for tool in ("sbatch", "squeue", "scontrol", "sinfo"):
        if shutil.which(tool) is None:
            return f"`{tool}` not on PATH"
    try:
        # `scontrol ping` fails at once when slurmctld is down (sinfo takes ~9 s to fail).
        ping = subprocess.run(
            ["scontrol", "ping"], capture_output=True, text=True, timeout=20, check=False
        )
        if ping.returncode != 0 or "is UP" not in ping.stdout:
            said = [
                line for line in (ping.stdout + ping.stderr).splitlines() if "Slurmctld" in line
            ]
            return f"`scontrol ping`: {said[0].strip() if said else f'exit {ping.returncode}'}"
        info = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"SLURM tools do not answer: {exc}"
    states = info.stdout.split()
    if info.returncode != 0 or not any(
        s in ("idle", "mixed", "allocated", "completing") for s in states
    ):
        return f"no usable node (sinfo: {info.stdout.strip() or info.stderr.strip()})"
    return None


def require_slurm_cluster() -> None:
    """Skip loudly outside CI, fail in CI, when no SLURM cluster answers."""
    problem = _cluster_problem()
    if problem is None:
        return
    message = (
        f"SLURM CLUSTER NOT AVAILABLE ({problem}): the SLURM job-array test did NOT run. "
        f"Start one with `sudo bash {HERE / 'slurm_up.sh'}` (root, Debian/Ubuntu; "
        "installs slurmctld slurmd slurm-client munge)."
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _squeue(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["squeue", "-h", *args], capture_output=True, text=True, timeout=30, check=False
    )


def _wait_gone(job_ids: list[str]) -> None:
    """Poll squeue until no task of the jobs is queued or running (bounded)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        q = _squeue("-j", ",".join(job_ids), "-o", "%i %T")
        # Empty output = every task left the queue; "Invalid job id" = already purged.
        if (q.returncode == 0 and not q.stdout.strip()) or "Invalid job id" in q.stderr:
            return
        time.sleep(0.5)
    subprocess.run(["scancel", *job_ids], timeout=30, check=False)
    pytest.fail(
        f"jobs {job_ids} still queued after {WAIT_S} s: {_squeue('-j', ','.join(job_ids)).stdout}"
    )


def _logs(out: Path) -> str:
    parts = []
    for path in sorted((out / "logs").glob("*.log")):
        parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}")
    return "\n".join(parts)


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_array_equals_single_process_harvest(
    tmp_path: Path, emulator_process: EmulatorProcess
) -> None:
    """`harvester slurm --submit --tasks 4` from a plan: same files and index, no refetch."""
    require_slurm_cluster()
    emu = emulator_process
    reference = tmp_path / "single"
    run(harvest_args(emu.base_url, reference))
    assert_each_image_fetched_once(image_request_counts(emu.stats()))

    emu.reset()
    out = tmp_path / "array"
    run(
        harvester_cmd(
            "plan",
            "--base-url",
            emu.base_url,
            *TARGETS,
            "--out",
            str(out),
            "--artifacts",
            ARTIFACTS,
            "--rate",
            "none",
            "--quiet",
        )
    )
    submitted = run(
        harvester_cmd(
            "slurm",
            "--base-url",
            emu.base_url,
            "--out",
            str(out),
            "--from-plan",
            str(out),
            "--artifacts",
            ARTIFACTS,
            "--tasks",
            str(TASKS),
            "--max-parallel",
            str(TASKS),
            "--rate",
            "400",
            "--submit",
        )
    )
    match = re.search(r"submitted job array (\d+)", submitted.stdout)
    assert match, submitted.stdout
    array_id = match.group(1)
    index_match = re.search(r"index:\s+job (\d+)", submitted.stdout)
    assert index_match, submitted.stdout
    index_id = index_match.group(1)
    assert f"squeue -j {array_id}" in submitted.stdout
    script = (out / "harvest.sbatch").read_text()
    assert f"#SBATCH --array=0-{TASKS - 1}%{TASKS}" in script
    assert "--rate 100 " in script  # 400/s in total over 4 tasks running at once

    _wait_gone([array_id, index_id])
    states = _squeue("-t", "all", "-j", array_id, "-o", "%K %T").stdout.split("\n")
    per_task = dict(line.split() for line in states if line.strip())
    assert per_task == {str(k): "COMPLETED" for k in range(TASKS)}, f"{per_task}\n{_logs(out)}"
    index_state = _squeue("-t", "all", "-j", index_id, "-o", "%T").stdout.strip()
    assert index_state == "COMPLETED", f"index job: {index_state}\n{_logs(out)}"
    logs = sorted(p.name for p in (out / "logs").glob(f"harvest-{array_id}_*.log"))
    assert logs == [f"harvest-{array_id}_{k}.log" for k in range(TASKS)]

    assert_same_output(reference, out)
    # The shards together fetched every image exactly once (no refetch, none skipped).
    assert_each_image_fetched_once(image_request_counts(emu.stats()))

    # Rerunning the same script resumes: nothing left to fetch, no image request at all.
    emu.reset()
    again = subprocess.run(
        ["sbatch", "--parsable", str(out / "harvest.sbatch")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=out,
    )
    rerun_id = again.stdout.strip().split(";")[0]
    _wait_gone([rerun_id])
    assert image_request_counts(emu.stats()) == {}
    assert_same_output(reference, out)
