"""status and verify say when index.csv lacks images journaled after it was written."""

from __future__ import annotations

from pathlib import Path

from harvest_helpers import SMALL_PLATE, run_cli, status_json

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
        "since it was written (by --shard runs after it, or while it was rebuilt): rebuild "
        f"it with harvester index {out}"
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
