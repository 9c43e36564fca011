"""One job-array script per selection of a folder: a second selection never takes the first's.

Found on a shared cluster folder: `harvester slurm` of other targets wrote its script over
`DIR/harvest.sbatch` while the first array still had a task to run again. `status` then
offered the new script (another selection) as the first array's resubmission, and once the
first array was complete, the new script, never submitted, was not mentioned at all. Now the
second selection's script is `harvest-2.sbatch`, the first is kept, and status lists each
with its state and the exact line that submits or resubmits it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hpc_helpers import run_array_task
from test_resubmit_tasks_left import _queue_empty
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

    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4301|0|PENDING|{out}/harvest-2.sbatch\\n")
    said = _status(out, capsys)
    assert _scripts_said(said, out)[1] == (
        f"  {out}/harvest-2.sbatch (2 tasks; --plate 7375): queued or running as job 4301"
    )
    # (its array queued: no resubmission before it has ended, harvest.sbatch's neither)
    assert said[-1] == (
        f"to resume, once the queued job array has ended: {_submit(out, 'harvest.sbatch', '1')}"
    ), said
