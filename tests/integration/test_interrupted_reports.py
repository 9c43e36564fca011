"""What an interrupted dry run, and a run whose finish a second Ctrl-C cut short, say last.

An interrupted dry run printed its counts as if complete (exit 130 alone said otherwise),
and after a second Ctrl-C it said `every finished file is kept and journaled; resume with:
... --dry-run`, though a dry run writes nothing. A harvest whose finish a second Ctrl-C cut
short said its files were kept, not that `index.csv` had not been rewritten.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from gate_helpers import held_after, holding
from harvest_helpers import cli_env, reaped

from harvester.cli import _interrupted_line
from harvester.emulator import EmulatorThread
from harvester.index import file_identity

BIG_PROJECT = 1701  # the bigproject preset: 600 datasets, one image each


def _start_with_ctrl_c(*args: str) -> subprocess.Popen[str]:
    """``python -m harvester ARGS`` that takes SIGINT as a terminal's Ctrl-C (not ignored)."""
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_interrupted_dry_run_says_its_counts_are_short(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Ctrl-C mid-walk of a dry run: exit 130, its counts on stdout, then one last line saying
    they are short, that nothing was written and the command to count again (no resume), and
    no folder made."""
    # Its 11th request (a listing of the walk) held until it is interrupted.
    emu = make_emulator(preset="bigproject", faults=held_after(10, "walk", "/"))
    out = tmp_path / "counted"
    argv = ["harvest", "--base-url", emu.base_url, "--project", str(BIG_PROJECT)]
    argv += ["--out", str(out), "--rate", "none", "--dry-run"]
    with reaped(_start_with_ctrl_c(*argv)) as proc, holding(emu, "walk"):
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stdout.startswith("dry run: "), stdout
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted: the counts are short, nothing was written; run again: ")
    assert last.endswith(f"--out {out} --rate none --dry-run"), last
    assert "resume" not in stderr
    assert not out.exists()


def test_second_ctrl_c_lines_say_what_was_not_written(tmp_path: Path) -> None:
    """The line of a run a second Ctrl-C stopped: a dry run's says nothing was written; a
    harvest's says index.csv was not rewritten while it is as before the run, and not once
    the run has replaced it."""
    out = tmp_path / "mirror"
    out.mkdir()
    index = out / "index.csv"
    index.write_text("image_id\n1\n")
    argv = ["harvest", "--out", str(out)]
    dry = argparse.Namespace(command="harvest", out=str(out), harvest_begun=True)
    dry.harvest_dry_run, dry.harvest_index = True, None
    assert _interrupted_line(dry, [*argv, "--dry-run"]) == (
        "interrupted: the counts are short, nothing was written; run again: harvester "
        f"harvest --out {out} --dry-run"
    )
    run = argparse.Namespace(command="harvest", out=str(out), harvest_begun=True)
    run.harvest_dry_run, run.harvest_index = False, (index, file_identity(index))
    assert _interrupted_line(run, argv) == (
        "interrupted: every finished file is kept and journaled, index.csv not rewritten "
        f"(the resume brings it up to date); resume with: harvester harvest --out {out}"
    )
    replaced = out / "index.new"
    replaced.write_text("image_id\n1\n2\n")
    replaced.replace(index)
    assert _interrupted_line(run, argv) == (
        f"interrupted: every finished file is kept and journaled; resume with: harvester "
        f"harvest --out {out}"
    )


def test_a_demo_stopped_outside_its_harvest_says_how_to_go_on() -> None:
    """A demo interrupted outside its harvest's own handler (while its emulator starts) says
    the command that goes on, its folder quoted for the shell; it said "interrupted" alone."""
    demo = argparse.Namespace(command="demo", out=Path("my demo"))
    assert _interrupted_line(demo, ["demo", "--out", "my demo"]) == (
        "interrupted; run again (it skips what is done): harvester demo --out 'my demo'"
    )
