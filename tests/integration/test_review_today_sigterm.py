"""Review of "SIGTERM is handled like Ctrl-C": at every moment of a harvest, and with
SIGINT ignored.

SLURM's ``scancel`` and ``kill`` send SIGTERM once, at any moment. The run's own signal
watcher handles it while images are fetched; before it (the probe) and after it (the
journals' flush, ``index.csv``, the summary) the CLI's handler must, or Python's default
ends the process on the spot: no resume line, and the temporary copy of ``--ids-from -``
left behind. A background job of a shell script starts with SIGINT ignored: SIGTERM must
still stop it cleanly.
"""

from __future__ import annotations

import csv
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from child_scripts import checked
from harvest_helpers import DEMO_PROJECT, cli_env, harvest, interrupt, reaped

from harvester.cli import main
from harvester.emulator import EmulatorThread

# Runs the CLI as `python -m harvester` does, with a SIGTERM sent to itself at the moment
# index.csv is written: after the run's signal watcher has ended.
_TERMINATED_AT_THE_INDEX = checked(
    textwrap.dedent(
        """
    import os, signal, sys
    import harvester.plain_index as plain_index
    import harvester.select as select
    from harvester.cli import main

    def terminated_meanwhile(real):
        def write_index(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGTERM)
            # (in a worker thread: the write goes on once the event loop took the signal,
            # which sets the run's stop; the plain writer, quick, often ended the run first,
            # exit 0. Bounded: a stop never set fails the exit code below.)
            kwargs["stop"].wait(30)
            return real(*args, **kwargs)

        return write_index

    # (a folder without labels or a split is written by plain_index's writer)
    plain_index.write_plain_index = terminated_meanwhile(plain_index.write_plain_index)
    select.write_labelled_index = terminated_meanwhile(select.write_labelled_index)
    sys.argv[0] = "harvester"
    sys.exit(main())
    """
    )
)


def _project_ids(tmp_path: Path, base_url: str) -> list[int]:
    found = tmp_path / "found"
    assert harvest(base_url, found, projects=(DEMO_PROJECT,),
                   artifacts=("metadata",)).exit_code == 0  # fmt: skip
    assert main(["index", str(found)]) == 0
    with (found / "index.csv").open(newline="") as handle:
        return [int(row["image_id"]) for row in csv.DictReader(handle)]


def test_sigterm_after_the_runs_signal_watcher_is_still_a_clean_interruption(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """SIGTERM while index.csv is written exits 130 with a resume line; the stdin copy is gone."""
    emu = make_emulator(preset="demo")
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{i}\n" for i in _project_ids(tmp_path, emu.base_url)))
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    out = tmp_path / "out"
    args = ["harvest", "--base-url", emu.base_url, "--ids-from", "-", "--out", str(out)]
    args += ["--artifacts", "thumbnail", "--rate", "none", "--quiet"]
    with ids.open() as stdin:
        proc = subprocess.run(
            [sys.executable, "-c", _TERMINATED_AT_THE_INDEX, *args],
            stdin=stdin,
            capture_output=True,
            text=True,
            env={**cli_env(), "TMPDIR": str(spool_dir)},
            timeout=60,
        )
    assert proc.returncode == 130, (proc.returncode, proc.stderr)  # not -15: killed
    assert "resume with: harvester harvest" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(spool_dir.iterdir()) == []  # the copy of --ids-from - is removed
    assert len(list(out.glob("images/**/*.jpg"))) == len(ids.read_text().split())


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("command", ["harvest", "plan"])
def test_sigterm_during_the_probe_with_sigint_ignored(tmp_path: Path, command: str) -> None:
    """A background job (``harvester ... &`` in a script) has SIGINT ignored: SIGTERM
    still ends it as an interruption (exit 130), its temporary files removed."""
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{n}\n" for n in range(1, 101)))
    with socket.socket() as listener, ids.open() as stdin:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(30)
        port = listener.getsockname()[1]
        args = [command, "--base-url", f"http://127.0.0.1:{port}", "--ids-from", "-"]
        args += ["--out", str(tmp_path / "early")]
        args += ["--quiet"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "harvester", *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**cli_env(), "TMPDIR": str(spool_dir)},
            preexec_fn=_ignore_sigint,
        )
        with reaped(proc):
            conn, _addr = listener.accept()  # the probe is connected and waits for an answer
            with conn:
                stderr = interrupt(proc, signal.SIGTERM)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert list(spool_dir.iterdir()) == []
