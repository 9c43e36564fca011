"""A run refused by DIR's run lock is told whether the run holding it does its work."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import SMALL_PLATE, interrupt, reaped, run_cli, start_cli

from harvester.emulator import EmulatorThread

DEMO_PROJECT = 51


def test_a_run_of_other_targets_is_not_told_the_running_one_does_its_work(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """While --plate P runs, --project 51 (or P with other kinds) is refused, exit 75, told
    the holder harvests other work (named) and to run again once it ends, not "nothing
    needs doing"; a second copy of --plate P is still told the running copy does it."""
    # Each thumbnail trickles for 8 x 2 s: the holder keeps DIR's lock while the others try.
    emu = make_emulator(preset="demo", faults="trickle:100%,trickle-delay:2s,only:image:*")
    out = tmp_path / "d"
    base = ["--base-url", emu.base_url, "--out", str(out), "--rate", "none", "-q"]
    plate = ["--plate", str(SMALL_PLATE), "--artifacts", "thumbnail", "--min-speed", "0"]
    with reaped(start_cli("harvest", *base, *plate)) as holder:
        lock = out / "locks" / "all.lock"
        deadline = time.monotonic() + 60
        while not (lock.is_file() and lock.read_text().startswith("pid ")):
            assert holder.poll() is None and time.monotonic() < deadline, holder.communicate()
            time.sleep(0.05)
        other = run_cli("harvest", *base, "--project", str(DEMO_PROJECT))
        kinds = run_cli("harvest", *base, *plate[:2], "--artifacts", "thumbnail,imgdata")
        same = run_cli("harvest", *base, *plate)
        assert holder.poll() is None  # (so each was refused by it)
        interrupt(holder, signal.SIGINT)
    running = f"pid {holder.pid} on {socket.gethostname()}"
    for refused in (other, kinds):
        assert refused.returncode == 75, refused.stderr
        assert refused.stderr.splitlines()[1] == (
            f"hint: the run already going ({running}) harvests other targets or artifacts "
            f"(--plate {SMALL_PLATE} --artifacts thumbnail), not this run's: run this command "
            f"again once it has ended; harvester status {out} shows how it goes"
        ), refused.stderr
        assert "nothing needs doing" not in refused.stderr
    assert same.returncode == 75, same.stderr
    assert "is doing this work: nothing needs doing if it finishes" in same.stderr


def test_a_harvest_refused_while_forget_holds_the_folder_is_not_told_a_harvest_runs(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """While forget --gone-ids-from --check-server asks the server (holding DIR's run lock),
    a harvest and a shard are refused, exit 75, naming harvester forget and to run again
    once it ends: not "already being harvested ... nothing needs doing", nor, for the
    shard, exit 2 beside "a harvest of the whole set" of another split (no harvest ran)."""
    emu = make_emulator(preset="demo", latency_ms=500)  # forget asks for each id in turn
    out = tmp_path / "d"
    gone = [str(999_999_900 + n) for n in range(12)]
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(gone) + "\n")
    harvest = ["harvest", "--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out)]
    harvest += ["--artifacts", "imgdata", "--rate", "none", "-q"]
    assert run_cli(*harvest).returncode == 1  # (each id refused: failures to forget)
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
