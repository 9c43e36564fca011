"""Review: `harvester slurm --ids-from` names a file every task can read later.

The tasks run later, on other nodes, each reading --ids-from again: a pipe (``<(cmd)``,
``-``) is gone by then and a missing or junk file fails N times in the queue. Refused now,
with nothing written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harvester.cli import main


def _slurm(out: Path, ids: str) -> list[str]:
    return ["slurm", "--out", str(out), "--ids-from", ids, "--tasks", "4"]


def test_a_pipe_as_ids_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """slurm refuses a named pipe as its ids file without reading it, writing no script."""
    fifo = tmp_path / "ids.fifo"
    os.mkfifo(fifo)  # never opened: a check that read it would block the test
    out = tmp_path / "out"
    assert main(_slurm(out, str(fifo))) == 2
    err = capsys.readouterr().err
    assert "regular file" in err and "Traceback" not in err
    assert not (out / "harvest.sbatch").exists()


def test_standard_input_as_ids_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """slurm refuses standard input as its ids file, writing no script."""
    out = tmp_path / "out"
    assert main(_slurm(out, "-")) == 2
    assert "regular file" in capsys.readouterr().err
    assert not (out / "harvest.sbatch").exists()


def test_a_missing_or_junk_ids_file_is_named_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """slurm names a missing ids file, or its junk line, once, writing no script."""
    out = tmp_path / "out"
    assert main(_slurm(out, str(tmp_path / "nope.txt"))) == 2
    assert "nope.txt" in capsys.readouterr().err
    junk = tmp_path / "junk.txt"
    junk.write_text("1\n2\nbanana\n")
    assert main(_slurm(out, str(junk))) == 2
    assert "line 3: 'banana' is not an image id" in capsys.readouterr().err
    assert not (out / "harvest.sbatch").exists()


def test_a_good_ids_file_still_writes_the_script(tmp_path: Path) -> None:
    """slurm with a good ids file writes the script with the file's absolute path."""
    ids = tmp_path / "ids.txt"
    ids.write_text("1\n2\n3\n")
    out = tmp_path / "out"
    assert main(_slurm(out, str(ids))) == 0
    assert str(ids.resolve()) in (out / "harvest.sbatch").read_text()
