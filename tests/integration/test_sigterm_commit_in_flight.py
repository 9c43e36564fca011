"""SIGTERM while a batch is being committed: the run waits for that batch, however slow its sync.

Under load one batch's ``syncfs`` can take seconds (it flushes every dirty page of the
filesystem). A run stopped then must not end before the batch is renamed and journaled and
its pending file removed: a process that ended mid-batch would leave temp files, and a pending
file listing them, behind an exit code that says it stopped cleanly. (The soak's seed 28 failed
on such a temp after a SIGTERM life; it proved to be the SIGKILLed life before it's, which the
SIGTERM life, stopped before its store opened the folder, had not removed yet.) The sync is held
here until the test releases it, for longer than the store's drain (``DRAIN_TIMEOUT``) and the
process's wait for its threads (``THREAD_GRACE``) together: the stop lasts as long as the test
says, with no race. A forced stop (a third SIGTERM) does not wait: the batch's temps must then
stay listed in its pending file, for the next run to remove. The harvest is the process's own
command, as a user's is (``main()`` reading ``sys.argv``: the CLI's signal handlers and its end
of the process), against the emulator.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from child_scripts import checked
from harvest_helpers import cli_env, kind_files, reaped, run_cli, temp_files
from test_interrupted_run_files import SCREEN, done_paths

from harvester.cli import THREAD_GRACE
from harvester.emulator import EmulatorThread
from harvester.store import DRAIN_TIMEOUT

#: ``harvester ARGV[4:]`` as the process's command, its first sync of a batch holding thumbnails
#: held: it writes their temp files' paths (relative to DIR, ARGV[3]) to ARGV[1] and waits (60 s
#: at most) for ARGV[2] to exist before the real syncfs runs. Other syncs run as they come.
#: Each SIGTERM the CLI's own handler takes (those after the run's watcher took the first)
#: adds a character to ARGV[1] + ".signals", before that handler acts on it; ARGV[1] + ".ready"
#: is made once that handler is SIGTERM's again (the watcher gone: a signal now is the CLI's).
HELD_SYNC = checked("""
import os, signal, sys, time
from pathlib import Path
import harvester.store
real_syncfs = harvester.store._syncfs
held, release, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])

def syncfs(fd):
    temps = [p.relative_to(out).as_posix() for p in out.rglob("*.thumbnail.jpg.tmp-*")]
    if temps and not os.path.exists(held):
        Path(held + ".part").write_text("\\n".join(temps))
        os.rename(held + ".part", held)
        deadline = time.monotonic() + 60
        while not os.path.exists(release) and time.monotonic() < deadline:
            if signal.getsignal(signal.SIGTERM) is handler:  # the watcher's is gone
                open(held + ".ready", "a").close()
            time.sleep(0.01)
    real_syncfs(fd)

harvester.store._syncfs = syncfs

import harvester.cli
real_handler = harvester.cli._terminate_like_ctrl_c

def handler(signum, frame):
    with open(held + ".signals", "a") as seen:
        seen.write("x")
    real_handler(signum, frame)

harvester.cli._terminate_like_ctrl_c = handler
sys.argv = ["harvester", *sys.argv[4:]]
from harvester.cli import main
main()
""")


def wait_until(what: Callable[[], bool], timeout: float = 30.0) -> None:
    """Until ``what()`` is true (bounded)."""
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.01)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux's")
@pytest.mark.parametrize("sigterms", [1, 2], ids=["one-sigterm", "two-sigterms"])
def test_sigterm_waits_for_the_batch_being_committed(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], sigterms: int
) -> None:
    """SIGTERM (and a second one, as ``scancel`` and ``srun`` both send) while a batch's sync is
    held: the run is still there after the drain timeout and the thread grace; released, it
    exits 130 with its resume line, leaves no temp file and no pending file, and the held
    batch's thumbnails are on disk and journaled done (as is every thumbnail on disk)."""
    emu = make_emulator(preset="demo", latency_ms=5)
    out = tmp_path / "out"
    held, release, said = tmp_path / "held", tmp_path / "release", tmp_path / "stderr.txt"
    args = [
        "harvest", "--base-url", emu.base_url, "--screen", SCREEN, "--artifacts", "thumbnail",
        "--out", str(out), "--rate", "none",
    ]  # fmt: skip
    env = cli_env() | {"HARVESTER_SYNC": "syncfs"}
    with open(said, "w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", HELD_SYNC, str(held), str(release), str(out), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, text=True, env=env,
        )  # fmt: skip
    with reaped(child) as proc:
        wait_until(held.exists)  # a batch's thumbnails are written, its sync not done
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: "interrupted (SIGTERM)" in said.read_text())  # the run took it
        wait_until(Path(f"{held}.ready").exists)
        for _ in range(sigterms - 1):
            proc.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=DRAIN_TIMEOUT + THREAD_GRACE + 1.0)
        release.touch()
        proc.wait(timeout=60)
    stderr_text = said.read_text()
    assert proc.returncode == 130, stderr_text
    assert "resume with: harvester harvest" in stderr_text, stderr_text
    assert temp_files(out) == []
    assert list((out / "journals").glob("*.pending")) == []
    in_flight = {temp.partition(".tmp-")[0] for temp in held.read_text().splitlines()}
    on_disk = {p.relative_to(out).as_posix() for p in kind_files(out, "thumbnail")}
    assert in_flight and in_flight <= on_disk  # the batch held was renamed...
    assert on_disk == set(done_paths(out))  # ...and journaled, as every file on disk


def run_args(base_url: str, out: Path) -> list[str]:
    return [
        "harvest", "--base-url", base_url, "--screen", SCREEN, "--artifacts", "thumbnail",
        "--out", str(out), "--rate", "none",
    ]  # fmt: skip


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux's")
def test_a_forced_stop_mid_batch_leaves_its_temps_for_the_next_run_to_remove(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A third SIGTERM (as a third Ctrl-C) while a batch's sync is held stops the process without
    waiting for the batch (exit 130): its temp files stay, but listed in its pending file,
    which the resume takes as an ended writer's: it removes them, completes (exit 0) and
    leaves no temp or pending file. (The process removed its pending file as its store closed
    under the abandoned batch: the temps were then strays only ``verify`` finds.)"""
    emu = make_emulator(preset="demo", latency_ms=5)
    out = tmp_path / "out"
    held, release, said = tmp_path / "held", tmp_path / "release", tmp_path / "stderr.txt"
    seen = tmp_path / "held.signals"
    env = cli_env() | {"HARVESTER_SYNC": "syncfs"}
    with open(said, "w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", HELD_SYNC, str(held), str(release), str(out),
             *run_args(emu.base_url, out)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, text=True, env=env,
        )  # fmt: skip
    with reaped(child) as proc:
        wait_until(held.exists)
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: "interrupted (SIGTERM)" in said.read_text())  # the watcher's
        wait_until(Path(f"{held}.ready").exists)
        for count in (1, 2):  # the CLI's: asyncio's cancel of the run, then KeyboardInterrupt
            proc.send_signal(signal.SIGTERM)
            wait_until(lambda n=count: seen.is_file() and len(seen.read_text()) == n)
        proc.wait(timeout=60)  # (the batch still held: it does not wait for it)
    assert proc.returncode == 130, said.read_text()
    release.touch()
    left = {p.relative_to(out).as_posix() for p in temp_files(out)}
    assert left  # the held batch's temps, as the process ended
    listed = {
        line
        for pending in (out / "journals").glob("*.pending")
        for line in pending.read_text().splitlines()[1:]
    }
    assert left <= listed

    resumed = run_cli(*run_args(emu.base_url, out))
    assert resumed.returncode == 0, resumed.stderr
    assert temp_files(out) == []
    assert list((out / "journals").glob("*.pending")) == []
    on_disk = {p.relative_to(out).as_posix() for p in kind_files(out, "thumbnail")}
    assert len(on_disk) == 80 and on_disk == set(done_paths(out))
