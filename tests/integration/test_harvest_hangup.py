"""SIGHUP (the terminal closed under a run started without nohup) stops a harvest as SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import DEMO_SCREEN, cli_env, interrupt, reaped, wait_for_files

from harvester.emulator import EmulatorThread


def _start(base_url: str, out: Path, *, ignore_hangup: bool = False) -> subprocess.Popen[str]:
    """A harvest of the demo screen, slow enough to be caught mid-run (``nohup``: SIGHUP
    ignored from the start, as the shell's ``nohup`` leaves it)."""

    def nohup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    args = ["harvest", "--base-url", base_url, "--screen", str(DEMO_SCREEN),
            "--artifacts", "thumbnail", "--rate", "none", "--concurrency", "2",
            "--out", str(out)]  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        preexec_fn=nohup if ignore_hangup else None,
    )


def test_sighup_stops_cleanly_with_the_resume_line(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """SIGHUP mid-run: exit 130, the summary, index.csv and the resume command, as SIGTERM
    gives (it killed the process on the spot: no summary, no index.csv, status 129)."""
    emu = make_emulator(preset="demo", latency_ms=40)
    out = tmp_path / "hup"
    proc = _start(emu.base_url, out)
    with reaped(proc):
        wait_for_files(out, 5)
        stderr = interrupt(proc, signal.SIGHUP)
    assert proc.returncode == 130, stderr
    assert "interrupted (SIGHUP): finishing what is written" in stderr
    assert "resume with: harvester harvest" in stderr
    assert "Traceback" not in stderr
    assert (out / "index.csv").is_file()


def test_sighup_ignored_by_nohup_stays_ignored(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Under nohup (SIGHUP ignored at start) the run goes on after a SIGHUP, to the end."""
    emu = make_emulator(preset="demo", latency_ms=5)
    out = tmp_path / "nohup"
    proc = _start(emu.base_url, out, ignore_hangup=True)
    with reaped(proc):
        wait_for_files(out, 5)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)
        _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "interrupted" not in stderr
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 80
