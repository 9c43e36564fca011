"""A job array's tasks record ``--split`` / ``--label-ids-from`` for the index job, but a
resubmitted script must not undo what the user recorded after it was written
(``harvester index DIR --no-split`` or ``--no-label-ids-from``, a new pin): each task
records only over a record older than its script. A new ``harvester slurm`` script is a
new choice: its tasks record again.

The tasks run the real ``harvest.sbatch``: with the environment SLURM gives them, and
submitted with sbatch to the local single-node cluster.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest
from hpc_helpers import EmulatorProcess, harvester_cmd, run
from test_slurm import _logs, _wait_gone, require_slurm_cluster
from test_slurm_resume_index import _sbatch

GENE = "Gene Symbol"


def _slurm(emu: EmulatorProcess, out: Path, *flags: str) -> None:
    """``harvester slurm`` of the demo screen's thumbnails in 2 tasks (script only)."""
    run(
        harvester_cmd(
            "slurm",
            "--base-url",
            emu.base_url,
            "--out",
            str(out),
            "--screen",
            "2302",
            "--artifacts",
            "thumbnail",
            "--rate",
            "none",
            "--tasks",
            "2",
            "-q",
            *flags,
        )  # fmt: skip
    )


def _task(out: Path, task: int) -> subprocess.CompletedProcess[str]:
    """Task ``task`` of DIR/harvest.sbatch, as SLURM runs it (exit 0 asserted)."""
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_COUNT": "2"}
    proc = subprocess.run(
        ["bash", str(out / "harvest.sbatch")], env=env, cwd=out, capture_output=True,
        text=True, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc


def _header(out: Path) -> list[str]:
    with (out / "index.csv").open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def _ids(out: Path) -> dict[str, str]:
    """label -> label_id of DIR/labels.csv."""
    with (out / "labels.csv").open(encoding="utf-8", newline="") as handle:
        return {row["label"]: row["label_id"] for row in csv.DictReader(handle)}


def test_a_resubmitted_array_keeps_a_later_no_split_and_unpin(
    tmp_path: Path, emulator_process: EmulatorProcess
) -> None:
    """Split and pin given to ``harvester slurm``, then dropped by ``harvester index``:
    the same script submitted again keeps them dropped (one note in the task's output);
    a script written anew with another split records it."""
    pins = tmp_path / "v1.csv"
    pins.write_text("label,label_id\nTPX2,0\nECT2,1\n", encoding="utf-8")
    out = tmp_path / "array"
    _slurm(
        emulator_process, out, "--label-key", GENE, "--label-ids-from", str(pins),
        "--split", "train=0.5,test=0.5",
    )  # fmt: skip
    for task in (0, 1):
        _task(out, task)
    run(harvester_cmd("index", str(out)))
    assert "split" in _header(out)
    assert _ids(out)["TPX2"] == "0" and _ids(out)["ECT2"] == "1"

    run(harvester_cmd("index", str(out), "--no-split", "--no-label-ids-from"))
    again = _task(out, 0)  # sbatch harvest.sbatch once more
    notes = [line for line in again.stderr.splitlines() if "after this array's script" in line]
    assert len(notes) == 2, again.stderr
    assert any(str(out / "split.json") in line for line in notes)
    assert any(str(out / "label_ids.json") in line for line in notes)
    run(harvester_cmd("index", str(out)))
    assert "split" not in _header(out)
    assert json.loads((out / "split.json").read_text())["split"] is None
    ranks = _ids(out)
    assert list(ranks.values()) == [str(n) for n in range(len(ranks))]
    assert list(ranks) == sorted(ranks)

    _slurm(emulator_process, out, "--split", "a=0.5,b=0.5")  # a new script: a new choice
    _task(out, 1)
    run(harvester_cmd("index", str(out)))
    assert json.loads((out / "split.json").read_text())["split"] == "a=0.5,b=0.5"
    assert "split" in _header(out)


@pytest.mark.slurm
def test_on_a_cluster_a_resubmitted_script_keeps_a_later_no_split(
    tmp_path: Path, emulator_process: EmulatorProcess
) -> None:
    """The same on a real cluster: the array and its index job split the folder; after
    ``harvester index --no-split`` the script submitted again with sbatch (and the index
    job after it) leaves index.csv without a split column."""
    require_slurm_cluster()
    out = tmp_path / "cluster"
    _slurm(emulator_process, out, "--split", "train=0.5,test=0.5")
    first = _sbatch(str(out / "harvest.sbatch"), cwd=out)
    index_job = _sbatch(f"--dependency=afterany:{first}", str(out / "index.sbatch"), cwd=out)
    _wait_gone([first, index_job])
    assert "split" in _header(out), _logs(out)
    run(harvester_cmd("index", str(out), "--no-split"))
    again = _sbatch(str(out / "harvest.sbatch"), cwd=out)
    index_again = _sbatch(f"--dependency=afterany:{again}", str(out / "index.sbatch"), cwd=out)
    _wait_gone([again, index_again])
    assert "split" not in _header(out), _logs(out)
    assert json.loads((out / "split.json").read_text())["split"] is None
    kept = [
        path.name
        for path in (out / "logs").glob(f"harvest-{again}_*.log")
        if "after this array's script" in path.read_text(errors="replace")
    ]
    assert len(kept) == 2, _logs(out)


def _written_at(out: Path) -> float:
    """The time DIR/harvest.sbatch says it was written (its HARVESTER_SCRIPT_WRITTEN)."""
    for line in (out / "harvest.sbatch").read_text(encoding="utf-8").splitlines():
        if line.startswith("export HARVESTER_SCRIPT_WRITTEN="):
            return float(line.partition("=")[2])
    raise AssertionError("harvest.sbatch exports no HARVESTER_SCRIPT_WRITTEN")


def _set_written_at(out: Path, when: float) -> None:
    """Make DIR/harvest.sbatch say it was written at ``when`` (another machine's clock)."""
    script = out / "harvest.sbatch"
    lines = script.read_text(encoding="utf-8").splitlines(keepends=True)
    script.write_text(
        "".join(
            f"export HARVESTER_SCRIPT_WRITTEN={when:.3f}\n"
            if line.startswith("export HARVESTER_SCRIPT_WRITTEN=")
            else line
            for line in lines
        ),
        encoding="utf-8",
    )


def test_a_new_script_records_over_a_task_of_a_node_whose_clock_ran_ahead(
    tmp_path: Path, emulator_process: EmulatorProcess
) -> None:
    """The old script's task ran on a node whose clock is ahead of the login node's: its
    record's time is after the new script's, written later on the login node. The new
    script's task records its split and pin all the same (no note), and the old script
    submitted again then keeps them."""
    v1, v2 = tmp_path / "v1.csv", tmp_path / "v2.csv"
    v1.write_text("label,label_id\nTPX2,0\nECT2,1\n", encoding="utf-8")
    v2.write_text("label,label_id\nTPX2,1\nECT2,0\n", encoding="utf-8")
    out = tmp_path / "skew"
    _slurm(
        emulator_process, out, "--label-key", GENE, "--label-ids-from", str(v1),
        "--split", "train=0.5,test=0.5",
    )  # fmt: skip
    old_script = (out / "harvest.sbatch").read_text(encoding="utf-8")
    first = _written_at(out)
    _task(out, 0)
    recorded = json.loads((out / "split.json").read_text())["at"]
    assert recorded > first
    _slurm(
        emulator_process, out, "--label-key", GENE, "--label-ids-from", str(v2),
        "--split", "a=0.5,b=0.5",
    )  # fmt: skip
    # Written after the task's record on the login node's clock, which is behind the node's.
    _set_written_at(out, (first + recorded) / 2)
    new = _task(out, 1)
    assert "after this array's script" not in new.stderr
    assert json.loads((out / "split.json").read_text())["split"] == "a=0.5,b=0.5"
    assert json.loads((out / "label_ids.json").read_text())["label_ids"] == {"ECT2": 0, "TPX2": 1}

    (out / "harvest.sbatch").write_text(old_script, encoding="utf-8")  # the old one resubmitted
    again = _task(out, 0)
    notes = [ln for ln in again.stderr.splitlines() if "after this array's script" in ln]
    assert len(notes) == 2 and all("by a task of a script written at " in n for n in notes)
    run(harvester_cmd("index", str(out)))
    assert json.loads((out / "split.json").read_text())["split"] == "a=0.5,b=0.5"
    assert _ids(out)["TPX2"] == "1" and _ids(out)["ECT2"] == "0"


def test_a_hand_edited_script_says_why_its_split_is_kept_and_what_records_it(
    tmp_path: Path, emulator_process: EmulatorProcess
) -> None:
    """``--split`` edited by hand in harvest.sbatch after ``harvester index --no-split``:
    the script keeps its HARVESTER_SCRIPT_WRITTEN, so the task keeps the record. Its
    warning names who recorded it and when, the script's time and that a hand edit keeps
    it, and a command that records the edited split; run as printed, it does."""
    out = tmp_path / "edited"
    _slurm(emulator_process, out, "--split", "train=0.5,test=0.5")
    _task(out, 0)
    run(harvester_cmd("index", str(out), "--no-split"))
    recorded = json.loads((out / "split.json").read_text())["at_utc"]
    script = out / "harvest.sbatch"
    text = script.read_text(encoding="utf-8")
    assert text.count("--split train=0.5,test=0.5 ") == 1
    script.write_text(
        text.replace("--split train=0.5,test=0.5 ", "--split a=0.3,b=0.7 --split-seed 4 "),
        encoding="utf-8",
    )
    written = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_written_at(out)))
    [note] = [line for line in _task(out, 0).stderr.splitlines() if "kept " in line]
    command = f"harvester index {out} --split a=0.3,b=0.7 --split-seed 4"
    assert note == (
        f"WARNING harvester.problems: kept {out / 'split.json'}, recorded by harvester index "
        f"at {recorded}, after this array's script was written ({written}, as its "
        "HARVESTER_SCRIPT_WRITTEN line says; editing the script by hand does not change it): "
        "this task's --split a=0.3,b=0.7 --split-seed 4 is not recorded; to record it: "
        f"{command} (later index writes keep it), or write a new script with harvester slurm"
    ), note
    assert json.loads((out / "split.json").read_text())["split"] is None

    run(harvester_cmd(*shlex.split(command)[1:]))  # the command as printed
    split = json.loads((out / "split.json").read_text())
    assert (split["split"], split["split_seed"]) == ("a=0.3,b=0.7", 4)
    assert "split" in _header(out)
    other = _task(out, 1)  # the edited script's other task: the same split, kept, no note
    assert "kept " not in other.stderr
    assert json.loads((out / "split.json").read_text())["split"] == "a=0.3,b=0.7"
