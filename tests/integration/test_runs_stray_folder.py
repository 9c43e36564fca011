"""A folder of the user's under ``runs/`` (``runs/notes``) is no run of DIR.

Any folder of ``runs/`` counted as a run: ``notes`` sorts after every run id, so it was read
as DIR's newest run, could not be read, and a resume warned about runs "whose settings can be
read". Only names of a run id's form count; ``verify`` says the others are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harvest_helpers import SMALL_PLATE, run_cli

from harvester.emulator import EmulatorThread


def test_a_users_folder_under_runs_is_ignored_and_named_by_verify(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`runs/notes` changes no resume, no status; verify names it as ignored; it is kept."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "d"
    first = run_cli(
        "harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE), "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--quiet",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    notes = out / "runs" / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("ask about plate 7375\n")

    again = run_cli("harvest", "--out", str(out), "--rate", "none")
    assert again.returncode == 0, again.stderr
    assert "notes" not in again.stderr and "warning" not in again.stderr, again.stderr

    # Another server: the warning names DIR's newest run, not "the newest readable one".
    other = make_emulator(preset="demo")
    mixed = run_cli(
        "harvest", "--base-url", other.base_url, "--plate", str(SMALL_PLATE), "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--dry-run",
    )  # fmt: skip
    assert f"{out} was harvested from {emu.base_url}" in mixed.stderr, mixed.stderr
    assert "whose settings can be read" not in mixed.stderr

    status = run_cli("status", str(out))
    assert status.returncode == 0, status.stderr
    assert "notes" not in status.stdout + status.stderr
    assert "warning" not in status.stderr, status.stderr

    verify = run_cli("verify", str(out))
    assert verify.returncode == 0, verify.stderr
    assert (
        "note: runs/notes is not a run's folder (a run's is named by its id, like "
        "20261126T055033Z-3f9a1c): harvester ignores it"
    ) in verify.stdout + verify.stderr
    assert (notes / "todo.txt").read_text() == "ask about plate 7375\n"
