"""Review of --ids-from from a pipe or standard input (the spooled copy)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import cli_env
from harvest_helpers import spooled_copies as _spooled_copies
from test_head_start_review import _feed_fifo

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import HUGE_FIRST_IMAGE_ID


def test_a_spooled_copy_is_removed_when_the_output_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spool_dir: Path
) -> None:
    """The pipe is copied before the output folder is checked: a refused --out (a file)
    must not leave the copy of the ids in the temporary folder."""
    fifo = tmp_path / "ids.fifo"
    feeder = _feed_fifo(fifo, "1\n2\n3\n")
    out = tmp_path / "a-file"
    out.write_text("not a folder")
    code = main(
        ["harvest", "--base-url", "http://127.0.0.1:9", "--out", str(out), "--ids-from", str(fifo)]
        + ["--quiet"]
    )
    feeder.set()
    err = capsys.readouterr().err
    assert code == 2 and "is a file" in err  # an unusable output folder
    assert _spooled_copies(spool_dir) == set()


def test_ids_from_dash_on_a_terminal_is_refused_not_waited_for(
    tmp_path: Path, spool_dir: Path
) -> None:
    """`--ids-from -` typed at a terminal (nothing piped in) would wait silently for ids
    to be typed: a one-line usage error instead, nothing written or copied."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "harvester", "harvest", "--base-url", "http://127.0.0.1:9"]
            + ["--out", str(tmp_path / "out"), "--ids-from", "-", "--quiet"],
            stdin=follower,
            capture_output=True,
            text=True,
            timeout=60,
            env=cli_env(),
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 2, proc.stderr
    assert "standard input is a terminal" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
    assert _spooled_copies(spool_dir) == set()


def test_ids_from_dash_redirected_from_a_file(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`harvester harvest --ids-from - < ids.txt`: standard input is then a regular file,
    not a pipe. The run reads its ids from it, not from a file named '-'."""
    emu = make_emulator(preset="huge")
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{HUGE_FIRST_IMAGE_ID + i}\n" for i in range(5)))
    out = tmp_path / "out"
    with ids.open("rb") as stdin:
        proc = subprocess.run(
            [sys.executable, "-m", "harvester", "harvest", "--base-url", emu.base_url]
            + ["--out", str(out), "--ids-from", "-", "--artifacts", "thumbnail"]
            + ["--no-labels", "--rate", "none", "--quiet"],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=cli_env(),
        )
    assert proc.returncode == 0, proc.stderr
    assert len(list((out / "images").rglob("*.jpg"))) == 5


def test_plan_takes_its_ids_from_standard_input(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`cmd | harvester plan --ids-from - --out DIR`: the plan lists the piped ids (the
    cluster workflow's first step takes --ids-from as harvest does)."""
    emu = make_emulator(preset="huge")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "harvester", "plan", "--base-url", emu.base_url]
        + ["--out", str(out), "--ids-from", "-", "--artifacts", "thumbnail"],
        input="".join(f"{HUGE_FIRST_IMAGE_ID + i}\n" for i in range(7)),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=cli_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "planned 7 images" in proc.stdout
