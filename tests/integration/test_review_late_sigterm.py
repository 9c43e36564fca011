"""Review of 9c3dc7a (SIGTERM a clean interruption to the last moment): its last moments.

Once a command's outcome is decided (its summary or its ``interrupted`` line printed, its
exit code known), a SIGTERM that still arrives (a second ``kill``, ``scancel`` and ``srun``
both signalling the step) must not turn that outcome into a KeyboardInterrupt traceback
and a killed-by-SIGINT exit status: the run's exit code and its resume line stand.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from child_scripts import checked
from harvest_helpers import DEMO_PROJECT, cli_env, harvest, interrupt, reaped

from harvester.emulator import EmulatorThread

# Runs the CLI as `python -m harvester` does. SIGTERM is sent to itself at the moments
# named by the first argument:
#   decided: when `main` is about to return the exit code of a finished harvest (its
#            last gc.freeze, after the command returned);
#   twice:   when index.csv is written (an interruption), and again as the summary
#            with its `interrupted ... resume with` line is printed (print_summary: the
#            hook was cli._interrupted_line, which a harvest's own report no longer calls,
#            so the second SIGTERM had not been sent for a while).
# Each SIGTERM sent is named in the file $SENT_LOG first: a moment the CLI no longer reaches
# (a function renamed) sends none, and the test says so instead of passing untested.
_CHILD = checked(
    textwrap.dedent(
        """
    import gc, os, signal, sys
    import harvester.cli as cli
    import harvester.cli.harvest as harvest_cli
    import harvester.plain_index as plain_index
    import harvester.select as select

    def terminate(moment):
        with open(os.environ["SENT_LOG"], "a") as sent:
            sent.write(moment + "\\n")
        os.kill(os.getpid(), signal.SIGTERM)

    moment = sys.argv.pop(1)
    if moment == "decided":
        real_run, returned = cli._run_command, []

        def run_command(*args):
            code = real_run(*args)
            returned.append(code)
            return code

        class Gc:
            def __getattr__(self, name):
                return getattr(gc, name)

            def freeze(self):
                if returned:
                    terminate("decided")
                gc.freeze()

        cli._run_command, cli.gc = run_command, Gc()
    else:
        real_summary = harvest_cli.print_summary

        def terminated_before(real_index):
            def write_index(*args, **kwargs):
                terminate("index")
                # This runs in a worker thread: the index is written only once the event
                # loop took the signal, which sets the run's stop (the one given here) as it
                # cancels the run. (A fixed half-second let a loaded machine write it first:
                # the run ended with its summary, exit 0.) Bounded: a stop never set is said
                # below.
                if not kwargs["stop"].wait(30):
                    with open(os.environ["SENT_LOG"], "a") as sent:
                        sent.write("never-taken\\n")
                return real_index(*args, **kwargs)

            return write_index

        def print_summary(*args, **kwargs):
            terminate("report")
            return real_summary(*args, **kwargs)

        # (a folder without labels or a split is written by plain_index's writer)
        plain_index.write_plain_index = terminated_before(plain_index.write_plain_index)
        select.write_labelled_index = terminated_before(select.write_labelled_index)
        harvest_cli.print_summary = print_summary
    sys.argv[0] = "harvester"
    sys.exit(cli.main())
    """
    )
)


def _harvest(moment: str, base_url: str, out: Path) -> subprocess.CompletedProcess[str]:
    """The child above harvesting into ``out``, its SIGTERMs named in ``out``'s sibling
    ``sent.log``."""
    args = ["harvest", "--base-url", base_url, "--project", str(DEMO_PROJECT), "--out", str(out)]
    args += ["--artifacts", "thumbnail", "--rate", "none"]
    return subprocess.run(
        [sys.executable, "-c", _CHILD, moment, *args],
        capture_output=True,
        text=True,
        env={**cli_env(), "SENT_LOG": str(out.parent / "sent.log")},
        timeout=60,
    )


def _sent(tmp_path: Path) -> list[str]:
    """The moments the child sent itself SIGTERM at, in order."""
    log = tmp_path / "sent.log"
    return log.read_text().split() if log.exists() else []


def test_sigterm_once_the_exit_code_is_decided_keeps_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A SIGTERM once a finished harvest's exit code is decided leaves it (0) and its summary."""
    emu = make_emulator(preset="demo")
    proc = _harvest("decided", emu.base_url, tmp_path / "out")
    assert _sent(tmp_path) == ["decided"]
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0, (proc.returncode, proc.stderr)  # not -2: killed by SIGINT
    assert "failed 0" in proc.stdout  # the summary of the finished run
    assert (tmp_path / "out" / "index.csv").is_file()


def test_a_second_sigterm_while_the_interruption_is_reported(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """SIGTERM as index.csv is written, and again as the interruption is printed: one
    report, exit 130, no traceback."""
    emu = make_emulator(preset="demo")
    proc = _harvest("twice", emu.base_url, tmp_path / "out")
    assert _sent(tmp_path) == ["index", "report"]
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert "resume with: harvester harvest" in proc.stderr


# `harvester index`, with index.csv written one row at a time: SIGTERM while the third
# piece is rendered (the temporary file half written).
_INDEX_CHILD = checked(
    textwrap.dedent(
        """
    import os, signal, sys
    import harvester.cli as cli
    import harvester.index as index

    index.CSV_PIECE_ROWS = 1
    real, rendered = index._render_piece, []

    def render_piece(header, rows):
        rendered.append(rows)
        if len(rendered) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(header, rows)

    index._render_piece = render_piece
    sys.argv[0] = "harvester"
    sys.exit(cli.main())
    """
    )
)


def test_sigterm_midway_through_a_pieced_index_keeps_the_old_one(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The old index.csv stays whole; no temporary file or pending record is left."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "out"
    assert (
        harvest(emu.base_url, out, projects=(DEMO_PROJECT,), artifacts=("metadata",)).exit_code == 0
    )
    before = sorted(p for p in out.rglob("*") if p.is_file())
    index_bytes = (out / "index.csv").read_bytes()
    assert index_bytes.count(b"\n") > 3  # more pieces than the three rendered
    for keys in ([], ["--label-key", "Gene Symbol"]):
        proc = subprocess.run(
            [sys.executable, "-c", _INDEX_CHILD, "index", str(out), *keys],
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=60,
        )
        assert proc.returncode == 130, proc.stderr
        assert "Traceback" not in proc.stderr
        assert (out / "index.csv").read_bytes() == index_bytes
        assert sorted(p for p in out.rglob("*") if p.is_file()) == before


# `harvester emulate`: a second SIGTERM while the server closes after the first.
_EMULATE_CHILD = checked(
    textwrap.dedent(
        """
    import os, signal, sys
    import harvester.cli as cli
    from harvester.emulator.server import EmulatorServer

    real = EmulatorServer.close

    async def close(self):
        with open(os.environ["SENT_LOG"], "a") as sent:
            sent.write("close\\n")
        os.kill(os.getpid(), signal.SIGTERM)
        await real(self)

    EmulatorServer.close = close
    sys.argv[0] = "harvester"
    sys.exit(cli.main())
    """
    )
)


def test_emulate_a_second_sigterm_while_it_closes(tmp_path: Path) -> None:
    """A second SIGTERM while `harvester emulate` closes after the first: it still ends
    as a stopped server does (exit 0, no traceback), not killed by the signal."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _EMULATE_CHILD, "emulate", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**cli_env(), "SENT_LOG": str(tmp_path / "sent.log")},
    )
    with reaped(proc):
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("serving ")
        stderr = interrupt(proc, signal.SIGTERM)
    assert _sent(tmp_path) == ["close"]  # the second SIGTERM was sent as it closed
    assert "Traceback" not in stderr
    assert proc.returncode == 0, (proc.returncode, stderr)


def test_sigterm_while_the_ids_pipe_is_still_open(tmp_path: Path) -> None:
    """``producer | harvester harvest --ids-from -`` with SIGTERM sent to harvester alone
    (``kill``, ``timeout``): it stops while the producer still writes, its copy removed."""
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"1\n2\n3\n")
        args = ["harvest", "--base-url", "http://127.0.0.1:9", "--ids-from", "-"]
        args += ["--out", str(tmp_path / "out"), "--quiet"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "harvester", *args],
            stdin=read_end,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**cli_env(), "TMPDIR": str(spool_dir)},
        )
        os.close(read_end)
        read_end = -1
        for _ in range(600):  # until the copy has begun (bounded)
            if list(spool_dir.iterdir()) or proc.poll() is not None:
                break
            time.sleep(0.05)
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)  # bounded: the pipe stays open meanwhile
        finally:
            os.close(write_end)
            write_end = -1
            _stdout, stderr = proc.communicate(timeout=30)
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert list(spool_dir.iterdir()) == []
