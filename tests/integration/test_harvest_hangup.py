"""SIGHUP (the terminal closed under a run started without nohup) stops a harvest as SIGTERM."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gate_helpers import held_after, holding
from harvest_helpers import DEMO_SCREEN, cli_env, interrupt, reaped, run_cli, wait_for_files

from harvester.emulator import EmulatorThread

#: The emulator's gate a run's thumbnail waits at while the test hangs up on it.
GATE = "in-flight"
#: Five thumbnails answered, the sixth held: the run is mid-run when the hang-up comes.
SIXTH_HELD = held_after(5, GATE, "image:thumbnail")


def _start(base_url: str, out: Path, *, ignore_hangup: bool = False) -> subprocess.Popen[str]:
    """A harvest of the demo screen (``nohup``: SIGHUP
    ignored from the start, as the shell's ``nohup`` leaves it)."""

    def hangup_disposition() -> None:
        # Set either way: a suite itself run under nohup would hand its SIGHUP-ignored
        # disposition to every child, and the run would rightly go on after a hang-up.
        signal.signal(signal.SIGHUP, signal.SIG_IGN if ignore_hangup else signal.SIG_DFL)

    args = ["harvest", "--base-url", base_url, "--screen", str(DEMO_SCREEN),
            "--artifacts", "thumbnail", "--rate", "none", "--concurrency", "2",
            "--out", str(out)]  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        preexec_fn=hangup_disposition,
    )


def test_sighup_stops_cleanly_with_the_resume_line(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """SIGHUP mid-run: exit 130, the summary, index.csv and the resume command, as SIGTERM
    gives (it killed the process on the spot: no summary, no index.csv, status 129)."""
    emu = make_emulator(preset="demo", faults=SIXTH_HELD)
    out = tmp_path / "hup"
    proc = _start(emu.base_url, out)
    with reaped(proc), holding(emu, GATE):
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
    emu = make_emulator(preset="demo", faults=SIXTH_HELD)
    out = tmp_path / "nohup"
    proc = _start(emu.base_url, out, ignore_hangup=True)
    with reaped(proc):
        with holding(emu, GATE):  # (an ignored signal is dropped as it is sent)
            wait_for_files(out, 5)
            proc.send_signal(signal.SIGHUP)
        _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "interrupted" not in stderr
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 80


#: Run in the child: make its standard input (a pty's slave end) its controlling terminal,
#: as a login shell's is, then become the harvester. Closing the pty's master end is then
#: the terminal closing: the kernel sends SIGHUP, and every later write to it is EIO.
_ON_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'harvester', *sys.argv[1:]])"
)


def _hangup_default() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _hang_up_mid_run(base_url: str, out: Path, stderr: Any = None) -> int:
    """A harvest of the demo screen on a terminal of its own (a real pty: stdin, stdout,
    and stderr unless given), which closes once 5 files are written; the exit code."""
    args = ["harvest", "--base-url", base_url, "--screen", str(DEMO_SCREEN),
            "--artifacts", "thumbnail", "--rate", "none", "--concurrency", "2",
            "--out", str(out)]  # fmt: skip
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _ON_TERMINAL, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave if stderr is None else stderr,
            start_new_session=True,  # a session of its own, whose terminal the pty becomes
            preexec_fn=_hangup_default,  # (not inherited as ignored from a nohup'd suite)
            env=cli_env(),
        )
    finally:
        os.close(slave)
    with reaped(proc):  # (text mode is moot: nothing is read from its pipes)
        deadline = time.monotonic() + 30
        try:
            while sum(1 for _ in out.glob("images/*/*/*.*")) < 5:
                assert proc.poll() is None and time.monotonic() < deadline
                if select.select([master], [], [], 0.02)[0]:
                    os.read(master, 65536)  # what the terminal shows (the bars)
        finally:
            os.close(master)  # the terminal closes
        return proc.wait(timeout=60)


def test_terminal_closed_under_a_run_exits_130(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The terminal closed (a real pty hung up): SIGHUP stops the run, and the summary's
    writes to the dead terminal (EIO) do not change its exit code: 130, not 1 (the failed
    write raised, and so did the error line saying so); index.csv is written, and the
    folder resumes."""
    emu = make_emulator(preset="demo", latency_ms=40)
    out = tmp_path / "hup"
    assert _hang_up_mid_run(emu.base_url, out) == 130
    assert (out / "index.csv").is_file()
    status = run_cli("status", str(out))
    assert f"to resume: harvester harvest --out {out}" in status.stdout, status.stdout


def test_terminal_closed_under_a_run_logging_elsewhere(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Standard output on the terminal that closed, standard error in a log: the log has
    the stop and the resume line, and a note (not an error) that the summary on standard
    output was lost; exit 130."""
    emu = make_emulator(preset="demo", latency_ms=40)
    out = tmp_path / "hup"
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        assert _hang_up_mid_run(emu.base_url, out, stderr) == 130
    said = log.read_text()
    assert "interrupted (SIGHUP): finishing what is written" in said
    assert (
        "note: the terminal of standard output has closed: the rest of its output is lost" in said
    )
    assert "resume with: harvester harvest" in said
    assert "Traceback" not in said and "error:" not in said, said
