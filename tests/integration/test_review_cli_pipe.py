"""A harvest whose stdout reader went away (`| head -1`, a dead `| tee`) still says what matters.

The summary's totals go to stdout, the problems and the rerun hint to stderr. When stdout is a
closed pipe, the harvest has already run to its end (its journal is safe): what is left is its
outcome. A run with failures must still exit 1 and still print its ``failed:`` lines and
``rerun to retry the failures`` on stderr; a wrapper that retries on exit 1 must not see 141
instead. A run that went well has nothing more to say: 141, as documented for a closed pipe.

Run as a real process with a real closed pipe on stdout, with and without
PYTHONUNBUFFERED (set in many containers and job scripts: then the very first line of the
summary meets the closed pipe, before any stderr line was printed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harvester.emulator import EmulatorThread

PROJECT = "51"  # the demo preset's project: 8 images


def run_with_closed_stdout(args: list[str], unbuffered: bool) -> tuple[int, str]:
    """``python -m harvester ARGS`` with stdout a pipe whose reader is already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "harvester", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    return proc.returncode, proc.stderr


def harvest_args(base_url: str, out: Path) -> list[str]:
    return [
        "harvest", "--base-url", base_url, "--project", PROJECT, "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--max-retries", "0",
    ]  # fmt: skip


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_failures_keep_exit_1_and_their_report_when_stdout_is_closed(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], unbuffered: bool
) -> None:
    """Every thumbnail fails (503, no retries): exit 1, not 141; the failures and the rerun
    hint are on stderr; the journal holds the failures (status counts them)."""
    emu = make_emulator(preset="demo", faults="503:100%,only:/webgateway/render_thumbnail/")
    out = tmp_path / "d"
    # --outage-wait 0: the failures come at once (with the pause, they wait for the next
    # check of the server, 5 s; the pause is tests/integration/test_outage_wait.py's subject).
    args = [*harvest_args(emu.base_url, out), "--outage-wait", "0"]
    code, err = run_with_closed_stdout(args, unbuffered)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert code == 1, err
    assert "failed: thumbnail of image" in err, err
    assert "rerun to retry the failures: harvester harvest" in err, err
    status = subprocess.run(
        [sys.executable, "-m", "harvester", "status", "--json", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(status.stdout)["kinds"]["thumbnail"]["failed"] == 8


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_a_clean_harvest_with_stdout_closed_is_141_and_silent(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], unbuffered: bool
) -> None:
    """Nothing failed: the closed pipe is the only news, exit 141 with no message, files kept."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "d"
    code, err = run_with_closed_stdout(harvest_args(emu.base_url, out), unbuffered)
    assert (code, err) == (141, "")
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 8
