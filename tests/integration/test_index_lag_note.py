"""status and verify say when index.csv lacks images journaled after it was written."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import (
    DEMO_PROJECT,
    DEMO_SCREEN,
    SMALL_PLATE,
    reaped,
    run_cli,
    start_cli,
    status_json,
)

from harvester.emulator import EmulatorThread

PLATE_IMAGES = 8


def _rows(out: Path) -> int:
    """index.csv's rows (one per image), its header aside."""
    return len((out / "index.csv").read_text().splitlines()) - 1


def test_an_index_written_before_the_last_shard_is_said_to_lack_its_images(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Shard 0/2, harvester index, then shard 1/2: status, status --json and verify note
    that index.csv lacks shard 1/2's images (counted) with the rebuild command; after
    harvester index, none does (they were silent: an index short of a shard passed)."""
    out = tmp_path / "d"
    base = ["--base-url", emulator.base_url, "--plate", str(SMALL_PLATE), "--out", str(out)]
    base += ["--artifacts", "thumbnail", "--rate", "none", "-q"]
    assert run_cli("harvest", *base, "--shard", "0/2").returncode == 0
    assert run_cli("index", str(out)).returncode == 0
    indexed = _rows(out)
    assert 0 < indexed < PLATE_IMAGES  # (both shards hold images of the plate)
    assert run_cli("harvest", *base, "--shard", "1/2").returncode == 0
    lacking = PLATE_IMAGES - indexed
    note = (
        f"index.csv lacks {lacking} image{'s' if lacking > 1 else ''} with files, journaled "
        "since it was written (by --shard runs after it, a run stopped before its end, or while "
        f"it was rebuilt): rebuild it with harvester index {out}"
    )
    status = run_cli("status", str(out))
    verify = run_cli("verify", str(out))
    assert status.returncode == 0 and verify.returncode == 0, status.stderr + verify.stderr
    assert f"note: {note}" in status.stdout.splitlines(), status.stdout
    assert f"note: {note}" in (verify.stdout + verify.stderr).splitlines(), verify.stdout
    assert note in str(status_json(out)), status_json(out)
    assert run_cli("index", str(out)).returncode == 0
    assert _rows(out) == PLATE_IMAGES
    for after in (run_cli("status", str(out)), run_cli("verify", str(out))):
        assert "lacks" not in after.stdout + after.stderr, after.stdout


def test_a_harvest_running_now_is_not_said_to_be_shards(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder indexed by a finished run, then a harvest of more targets without --shard
    running: status says index.csv lacks the images journaled since, that the run writes it
    at its end, and names no --shard run (none ran); once the run ended, no note at all."""
    emu = make_emulator(preset="demo", faults="latency:60ms")
    out = tmp_path / "d"
    base = ["--base-url", emu.base_url, "--out", str(out), "--artifacts", "thumbnail"]
    base += ["--rate", "none", "-q"]
    assert run_cli("harvest", *base, "--project", str(DEMO_PROJECT)).returncode == 0
    assert _rows(out) == 8
    screen = start_cli("harvest", *base, "--screen", str(DEMO_SCREEN), "--concurrency", "1")
    with reaped(screen):
        deadline = time.monotonic() + 60
        said: list[str] = []
        while not said and screen.poll() is None and time.monotonic() < deadline:
            status = run_cli("status", str(out))
            said = [line for line in status.stdout.splitlines() if "index.csv lacks" in line]
        assert said, "no status saw the index short while the screen's harvest ran"
        assert said[0].endswith("running now, writes it at its end"), said
        assert "--shard" not in said[0], said
        _out, err = screen.communicate(timeout=120)
        assert screen.returncode == 0, err
    assert _rows(out) == 88
    assert "lacks" not in run_cli("status", str(out)).stdout
