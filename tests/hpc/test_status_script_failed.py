"""`harvester status` says which job-array tasks ended before harvester began, and why.

Found by an HPC walkthrough: a colleague resubmitted a shared folder's array from a shell
whose user could not run the script's Python (`/work/venv/bin/python: Permission denied`);
every task ended at once (exit 126), and status listed each with its work left and nothing
more, then offered the resubmission that fails the same way. A venv on a file system the
compute nodes do not mount, or a module not loaded, does the same (exit 127). Each such
task's line now quotes the shell's words, and one line says what to fix first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hpc_helpers import run_array_task
from test_resubmit_tasks_left import _queue_empty
from test_status_task_ended import _task_lines

from harvester.cli import main
from harvester.emulator import EmulatorThread


def _array_with_task_0_done(base_url: str, out: Path) -> Path:
    """Project 51 (8 images) planned, an array of 2 tasks written, shard 0 harvested (in
    process, as its task would): the script."""
    assert main(["plan", "--base-url", base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2",
                 "--rate", "none", "--quiet"]) == 0  # fmt: skip
    assert main(["harvest", "--out", str(out), "--from-plan", str(out), "--shard", "0/2",
                 "--rate", "none", "--quiet"]) == 0  # fmt: skip
    return out / "harvest.sbatch"


def _with_python(script: Path, python: str) -> None:
    """The script's task command run by ``python`` instead of the one it names."""
    text = script.read_text()
    (line,) = [x for x in text.splitlines() if x.startswith("exec ")]
    script.write_text(text.replace(line, f"exec {python} -m" + line.partition(" -m")[2]))


@pytest.mark.parametrize(
    ("python", "code", "words"),
    [
        ("/opt/not-mounted/bin/python", 127, "No such file or directory"),
        ("NOT-EXECUTABLE", 126, "Permission denied"),
    ],
)
def test_a_task_whose_python_the_node_cannot_run_is_named_with_what_to_fix(
    python: str, code: int, words: str, emulator: EmulatorThread, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Task 1's script cannot start its Python (missing, or not executable for this user):
    its line quotes the shell's words and one line says what to fix before resubmitting;
    `--json` has them as the task's `not_started`. Once its share is harvested, the task
    is named no more."""
    out = tmp_path / "study"
    script = _array_with_task_0_done(emulator.base_url, out)
    if python == "NOT-EXECUTABLE":
        python = str(tmp_path / "python")
        Path(python).write_text("#!/bin/sh\n")  # (no x bit: execve refuses it, root too)
    _with_python(script, python)
    assert run_array_task(script, 1, 2).returncode == code
    _queue_empty(tmp_path, monkeypatch)
    lines, last = _task_lines(out, capsys)
    log = f"{out}/logs/harvest-4242_1.log"
    assert lines[1] == (
        f"  task 1: 0 of 3 images complete, 3 not reached, harvester did not start: {python}: "
        f"{words} (log: {log})"
    ), lines
    assert lines[2:] == [
        "  harvester did not start in 1 task: the compute nodes must run the Python of the "
        f"exec line in {script} with harvester installed (see Install in README.md), or write "
        "the script again with harvester slurm from a Python they run; resubmitted as it is, "
        "the script fails the same way"
    ], lines
    assert f"--array=1 {script}" in last, last

    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    tasks = json.loads(capsys.readouterr().out)["array_tasks"]
    assert [t["not_started"] for t in tasks] == [None, f"{python}: {words}"], tasks

    assert main(["harvest", "--out", str(out), "--from-plan", str(out), "--shard", "1/2",
                 "--rate", "none", "--quiet"]) == 0  # fmt: skip
    lines, _last = _task_lines(out, capsys)
    assert lines == ["job array: 2 of 2 tasks complete"], lines


def test_a_harvest_error_naming_a_files_line_is_not_a_script_that_failed(
    emulator: EmulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Harvester's own `error:` line may name a file's line as bash names the script's: the
    task began, so its line says nothing of a script that failed, and no advice follows."""
    out = tmp_path / "study"
    script = _array_with_task_0_done(emulator.base_url, out)
    log = out / "logs" / "harvest-4242_1.log"
    log.write_text(  # (as a task refused by its config file could have left it)
        "harvester shard 1/2: job 4242_1 on n01 at Sat Nov 28 23:57:20 UTC 2026\n"
        f"error: {out}/my.toml: line 3: unknown key 'rate_limit'\n"
    )
    _queue_empty(tmp_path, monkeypatch)
    lines, _last = _task_lines(out, capsys)
    assert lines[1:] == [f"  task 1: 0 of 3 images complete, 3 not reached (log: {log})"], lines
    assert script.is_file()
