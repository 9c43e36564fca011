"""Without ``flock``, a killed run's progress line is said stopped, and the next run removes it.

Each run without a lock keeps its line in ``locks/all.<run id>.progress`` and removes it as
it ends; one killed (``kill -9``) left it forever, and ``status`` kept showing it as
"running now, or stopped", its age growing. A live run now refreshes its file's time every
:data:`~harvester.runlock.UNLOCKED_FRESH_EVERY` whatever happens, so a file not refreshed
for :data:`~harvester.runlock.UNLOCKED_STALE_AFTER` is a stopped run's: ``status`` says so,
and the next run in DIR removes it (never a fresh one: another live run's).

The no-``flock`` filesystem is simulated as in ``test_progress_unlocked.py`` (``fcntl.flock``
raising ENOLCK): in a subprocess for the real command line, in-process for the refresh.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from harvest_helpers import DEMO_PROJECT, DEMO_SCREEN, cli_env, reaped, run_cli

from harvester import runlock
from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.emulator.faults import FaultInjector, FaultSpec
from harvester.pipeline import RunSummary, run_harvest
from harvester.progress import Progress
from harvester.retry import zero_waits

#: ``harvester ARGV[1:]`` on a filesystem without ``flock`` (every flock fails, ENOLCK).
NO_FLOCK = """
import errno, fcntl, sys
def no_flock(fd, operation):
    raise OSError(errno.ENOLCK, "no locks available")
fcntl.flock = no_flock
from harvester.cli import main
sys.exit(main(sys.argv[1:]))
"""
WAIT = 30.0
TWO_HOURS = 7200.0


def no_flock(fd: int, operation: int) -> None:
    """``fcntl.flock`` on a filesystem without it (some NFS mounts)."""
    raise OSError(errno.ENOLCK, "no locks available")


def run_files(out: Path) -> list[Path]:
    """The per-run progress files in ``DIR/locks`` (``all.<run>.progress``), by name."""
    return sorted(p for p in (out / "locks").glob("all.*.progress"))


def run_of(path: Path) -> str:
    return path.name.removeprefix("all.").removesuffix(".progress")


def harvest_args(base_url: str, out: Path, *targets: str) -> list[str]:
    """A quiet, one-at-a-time thumbnails harvest of ``targets`` into ``out``."""
    return [
        "harvest", "--base-url", base_url, "--out", str(out), *targets,
        "--artifacts", "thumbnail", "--rate", "none", "--concurrency", "1", "-q",
    ]  # fmt: skip


def unlocked(*args: str) -> subprocess.CompletedProcess[str]:
    """``harvester ARGS`` without ``flock``, run to its end."""
    return subprocess.run(
        [sys.executable, "-c", NO_FLOCK, *args], stdin=subprocess.DEVNULL,
        capture_output=True, text=True, env=cli_env(), timeout=120, check=False,
    )  # fmt: skip


def killed_run_file(emu: EmulatorThread, out: Path) -> Path:
    """Start a slow harvest of the demo screen without ``flock``, ``kill -9`` it once its
    progress file is there; that file (left behind)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", NO_FLOCK,
         *harvest_args(emu.base_url, out, "--screen", str(DEMO_SCREEN))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    with reaped(proc):
        deadline = time.monotonic() + WAIT
        while not run_files(out) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert run_files(out), proc.communicate(timeout=30)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    (left,) = run_files(out)
    return left


def quick_again(emu: EmulatorThread) -> None:
    """Serve without latency from now on: the slowness only had to hold a run while it was
    looked at, and the rest of that run (or the next) proves nothing by being slow."""
    emu.server.faults = FaultInjector(FaultSpec())


def aged(path: Path, seconds: float) -> None:
    """Make ``path`` look last written ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_killed_unlocked_runs_line_is_said_stopped_and_removed_by_the_next_run(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """No flock, kill -9: status shows its line as running or stopped while it is fresh,
    as stopped (no update for 2h00m) once stale; the next run removes that file, not a
    fresh one of another run, and status then shows no stopped run."""
    emu = make_emulator(preset="demo", latency_ms=100)
    out = tmp_path / "d"
    left = killed_run_file(emu, out)
    quick_again(emu)
    run = run_of(left)
    name = f"a harvest of the whole set (run {run})"

    fresh = run_cli("status", str(out))
    assert f"running now, or stopped (no lock on this filesystem tells): {name}" in (
        fresh.stdout.splitlines()
    ), fresh.stdout
    assert "stopped without ending" not in fresh.stdout

    aged(left, TWO_HOURS)
    stale = run_cli("status", str(out))
    lines = stale.stdout.splitlines()
    assert (
        "stopped without ending (no update for over 10m00s; the next run here removes its "
        f"line): {name}"
    ) in lines, stale.stdout
    (shown,) = [line for line in lines if line.startswith(f"  {name}: ")]
    assert shown.startswith(f"  {name}: stopped (no update for 2h00m): "), shown
    assert "running now" not in stale.stdout
    report = json.loads(run_cli("status", str(out), "--json").stdout)
    assert [(live["run"], live["stale"]) for live in report["unlocked_progress"]] == [(run, True)]

    # Another run's file, refreshed just now (that run lives): never removed.
    other = left.with_name("all.20990101T000000Z-0a0b0c.progress")
    other.write_text("progress (5s): 2 images found\nrun 20990101T000000Z-0a0b0c\n")
    done = unlocked(*harvest_args(emu.base_url, out, "--project", str(DEMO_PROJECT)))
    assert done.returncode == 0, done.stderr
    assert run_files(out) == [other]  # the stale one removed, the run's own too as it ended
    after = run_cli("status", str(out))
    assert "stopped without ending" not in after.stdout
    assert f"a harvest of the whole set (run {run_of(other)}): seen running " in (after.stdout)


async def test_a_live_unlocked_run_keeps_its_file_fresh_while_nothing_happens(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No flock: while a slow run writes no new line, its file's time is refreshed anyway
    (so it is never taken for a killed run's), and a file removed from under it (by a run
    that took it for stale) is written again; the run still removes it as it ends."""
    monkeypatch.setattr(fcntl, "flock", no_flock)
    monkeypatch.setattr(runlock, "UNLOCKED_FRESH_EVERY", 0.1)
    emu = make_emulator(preset="demo", latency_ms=400)
    out = tmp_path / "d"
    cfg = HarvestConfig(
        base_url=emu.base_url, out=out, artifacts=("thumbnail",), rate=None, concurrency=1,
        quiet=True, projects=(DEMO_PROJECT,),
    )  # fmt: skip
    ended: list[RunSummary] = []

    async def harvest() -> None:
        progress = Progress(file=io.StringIO(), line_interval=3600.0)  # (no line of its own)
        ended.append(await run_harvest(cfg, progress=progress))

    async def until(found: Callable[[], bool], what: str) -> None:
        for _ in range(1500):
            if found():
                return
            await anyio.sleep(0.01)
        raise AssertionError(f"no {what} after 15 s")

    with zero_waits(), anyio.fail_after(90):
        async with anyio.create_task_group() as group:
            group.start_soon(harvest)
            await until(lambda: bool(run_files(out)), "progress file")
            (path,) = run_files(out)
            text = path.read_text()
            aged(path, TWO_HOURS)
            await until(lambda: time.time() - path.stat().st_mtime < 5, "refresh")
            assert path.read_text() == text  # the same line: only its time is new
            path.unlink()
            await until(path.exists, "file written again")
            assert path.read_text() == text
            quick_again(emu)
    assert ended[0].exit_code == 0
    assert run_files(out) == []
