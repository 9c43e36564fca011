"""``harvester status`` on a filesystem without ``flock`` says that no lock guards its commands.

There runs take no lock: a run's progress file (``locks/all.<run id>.progress``) is all that
shows it may still go, and status said ``running now, or stopped (...)`` above a plain ``to
resume: ...``, a command no lock refuses there: started at once, it ran beside that run,
fetching the same images again (elsewhere the lock refuses it, exit 75). One note now says
so, under those runs, while status gives a command.

The no-``flock`` filesystem is simulated as in ``test_progress_unlocked_stale.py``: a run's
fresh progress file as such a run leaves it, and the real command line in a subprocess whose
``fcntl.flock`` fails with ENOLCK; the emulator over loopback sockets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import SMALL_PLATE, cli_env, run_cli

from harvester.emulator import EmulatorThread
from harvester.emulator.faults import FaultInjector, FaultSpec
from harvester.status import UNGUARDED_NOTE

#: ``harvester ARGV[1:]`` on a filesystem without ``flock`` (every flock fails, ENOLCK).
NO_FLOCK = """
import errno, fcntl, sys
def no_flock(fd, operation):
    raise OSError(errno.ENOLCK, "no locks available")
fcntl.flock = no_flock
from harvester.cli import main
sys.exit(main(sys.argv[1:]))
"""
#: The id of the run whose progress file is left in DIR (a run going on, seen a moment ago).
OTHER_RUN = "20990101T000000Z-0a0b0c"


def unlocked(*args: str) -> subprocess.CompletedProcess[str]:
    """``harvester ARGS`` without ``flock``, run to its end."""
    return subprocess.run(
        [sys.executable, "-c", NO_FLOCK, *args], stdin=subprocess.DEVNULL,
        capture_output=True, text=True, env=cli_env(), timeout=120, check=False,
    )  # fmt: skip


def harvest_args(base_url: str, out: Path) -> list[str]:
    """A quiet thumbnails harvest of the 8-image plate into ``out``, no retries."""
    return [
        "harvest", "--base-url", base_url, "--out", str(out), "--plate", str(SMALL_PLATE),
        "--artifacts", "thumbnail", "--rate", "none", "--max-retries", "0", "-q",
    ]  # fmt: skip


def other_run_file(out: Path) -> Path:
    """The progress file an unlocked run of DIR keeps while it goes, written just now."""
    path = out / "locks" / f"all.{OTHER_RUN}.progress"
    path.write_text(f"progress (5s): 8 images found\nrun {OTHER_RUN}\n")
    return path


def unguarded_json(out: Path) -> tuple[bool, list[str]]:
    """``status DIR --json``: whether it says ``commands_unguarded`` (true, else absent: a
    false one is a broken contract) and the ids of the runs of its ``unlocked_progress``."""
    result = run_cli("status", str(out), "--json")
    assert result.returncode in (0, 1), result.stderr
    data = json.loads(result.stdout)
    said = "commands_unguarded" in data
    assert not said or data["commands_unguarded"] is True, data
    runs = [live["run"] for live in data.get("unlocked_progress", [])]
    return said, runs


def test_unlocked_runs_that_may_go_on_get_a_note_above_the_command_no_lock_refuses(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """No flock, a run's fresh progress file, failures left: status notes, under that run,
    that nothing refuses the resume below (and, run, it is not refused: it goes on beside);
    that run's file stale (stopped), or nothing to resume, no note."""
    emu = make_emulator(preset="demo", faults="503:100%,only:/webgateway/render_thumbnail")
    out = tmp_path / "d"
    first = unlocked(*harvest_args(emu.base_url, out))
    assert first.returncode == 1, first.stderr  # (every thumbnail failed: a resume is left)
    path = other_run_file(out)

    lines = run_cli("status", str(out)).stdout.splitlines()
    going = f"a harvest of the whole set (run {OTHER_RUN})"
    assert lines.count(UNGUARDED_NOTE) == 1, lines
    at = lines.index(UNGUARDED_NOTE)
    assert lines[at - 2].startswith("running now, or stopped (no lock on this filesystem tells)")
    assert lines[at - 1].startswith(f"  {going}: seen running "), lines
    assert lines[-1] == f"to resume: harvester harvest --out {out}", lines
    assert unguarded_json(out) == (True, [OTHER_RUN])

    then = time.time() - 7200  # not refreshed for two hours: a run that stopped
    os.utime(path, (then, then))
    stale = run_cli("status", str(out)).stdout
    assert "stopped without ending" in stale and UNGUARDED_NOTE not in stale, stale
    assert unguarded_json(out) == (False, [OTHER_RUN])

    other_run_file(out)  # fresh again: nothing refuses the resume, which goes on beside it
    emu.server.faults = FaultInjector(FaultSpec())
    resumed = unlocked("harvest", "--out", str(out), "--rate", "none", "-q")
    assert resumed.returncode == 0, resumed.stderr
    done = run_cli("status", str(out)).stdout
    assert f"  {going}: seen running " in done and "to resume" not in done, done
    assert UNGUARDED_NOTE not in done, done
    assert unguarded_json(out) == (False, [OTHER_RUN])


def test_the_note_names_no_command_below_where_the_only_one_is_above(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Kinds failed and not asked for any more, nothing to resume: the command that tries
    them again is said above the unlocked runs, and the note under those runs is about it
    (it said "a command below", under which status gave none)."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "mg"
    first = unlocked(
        "harvest", "--base-url", emu.base_url, "--out", str(out), "--plate", str(SMALL_PLATE),
        "--rate", "none", "--max-retries", "0", "-q",
    )  # fmt: skip
    assert first.returncode == 1, first.stderr  # (imgdata and renders fail: migration-2026)
    followed = unlocked("harvest", "--out", str(out), "--artifacts", "thumbnail,metadata", "-q")
    assert followed.returncode == 0, followed.stderr
    other_run_file(out)

    lines = run_cli("status", str(out)).stdout.splitlines()
    assert not any(x.startswith("to resume") for x in lines), lines
    (dropped,) = [i for i, x in enumerate(lines) if x.startswith("failed before, not asked")]
    assert f"to try them again: harvester harvest --out {out} " in lines[dropped], lines
    assert lines.count(UNGUARDED_NOTE) == 1, lines
    at = lines.index(UNGUARDED_NOTE)
    assert dropped < at, lines
    assert lines[at - 1].startswith(f"  a harvest of the whole set (run {OTHER_RUN})"), lines
    assert not any("harvester harvest" in x for x in lines[at:]), lines
    assert "below" not in lines[at], lines[at]
    assert unguarded_json(out) == (True, [OTHER_RUN])
