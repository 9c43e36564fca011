"""A harvest refused by DIR's run lock while harvester forget holds it is told so."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import SMALL_PLATE, reaped, run_cli, start_cli

from harvester.emulator import EmulatorThread


def test_a_harvest_refused_while_forget_holds_the_folder_is_not_told_a_harvest_runs(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """While forget --gone-ids-from --check-server asks the server (holding DIR's run lock),
    a harvest and a shard are refused, exit 75, naming harvester forget and to run again
    once it ends: not "already being harvested ... nothing needs doing", nor, for the
    shard, exit 2 beside "a harvest of the whole set" of another split, nor as by the
    killed run whose progress line is left (no harvest ran)."""
    emu = make_emulator(preset="demo", latency_ms=500)  # forget asks for each id in turn
    out = tmp_path / "d"
    gone = [str(999_999_900 + n) for n in range(12)]
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(gone) + "\n")
    harvest = ["harvest", "--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out)]
    harvest += ["--artifacts", "imgdata", "--rate", "none", "-q"]
    assert run_cli(*harvest).returncode == 1  # (each id refused: failures to forget)
    # A run of other targets killed with its progress line left (its run id, its settings):
    # the refusal below must not be taken for one by that run.
    other = ["harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE), "--out"]
    with reaped(start_cli(*other, str(out), "--artifacts", "imgdata", "-q")) as killed:
        progress = out / "locks" / "all.progress"
        deadline = time.monotonic() + 60
        while not (progress.is_file() and "\nrun " in progress.read_text()):
            assert killed.poll() is None and time.monotonic() < deadline, killed.communicate()
            time.sleep(0.02)
        killed.kill()
        killed.communicate(timeout=30)
    forget = ["forget", str(out), "--gone-ids-from", str(ids), "--check-server"]
    with reaped(start_cli(*forget)) as holder:
        lock = out / "locks" / "all.lock"
        deadline = time.monotonic() + 60
        while not (lock.is_file() and lock.read_text().startswith(f"pid {holder.pid} ")):
            assert holder.poll() is None and time.monotonic() < deadline, holder.communicate()
            time.sleep(0.02)
        # A harvest of the whole set and a shard (which took it for another split's run).
        tries = [start_cli(*harvest), start_cli(*harvest, "--shard", "0/2")]
        errors = [run.communicate(timeout=120)[1] for run in tries]
        assert holder.poll() is None  # (so each was refused by it)
        _out, err = holder.communicate(timeout=120)
    assert holder.returncode == 0, err
    running = f"pid {holder.pid} on {socket.gethostname()}"
    for run, stderr in zip(tries, errors, strict=True):
        assert run.returncode == 75, stderr
        assert stderr.splitlines() == [
            f"error: {out} is in use by another process: harvester forget ({running}), which "
            "holds it while it records its change",
            "hint: it harvests nothing: run this command again once it has ended",
        ], stderr
