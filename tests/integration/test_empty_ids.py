"""An ``--ids-from`` source that holds no id is said, and makes no folder for nothing.

The README's search-engine pipe (``curl ... | jq ... | harvester harvest --ids-from - --out
DIR``) gives no id when curl fails: the run used to exit 0 after making a new DIR with an
empty index, saying nothing. Now one problem line (``--quiet`` too) names the source and
says what happened to DIR; the exit code stays 0 (an emptied ``retry.txt`` replayed by a
resume is no failure).
"""

from __future__ import annotations

from pathlib import Path

from harvest_helpers import SMALL_PLATE, run_cli

from harvester.emulator import EmulatorThread

WARNING = "WARNING harvester.problems: --ids-from"


def tree(out: Path) -> dict[str, bytes]:
    """Every file of DIR with its bytes (the run lock's file too)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_empty_standard_input_makes_no_folder(tmp_path: Path, emulator: EmulatorThread) -> None:
    out = tmp_path / "e1"
    run = run_cli(
        "harvest", "--base-url", emulator.base_url, "--ids-from", "-", "--out", str(out),
        stdin="",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith(WARNING)]
    assert len(lines) == 1, run.stderr
    assert "standard input held no image id" in lines[0]
    assert f"{out} was not created" in lines[0]
    assert "did the command writing the ids fail?" in lines[0]
    assert not out.exists()


def test_comments_only_file_leaves_an_existing_folder_as_it_is(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    out = tmp_path / "d"
    first = run_cli(
        "harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE),
        "--artifacts", "thumbnail", "--out", str(out), "--rate", "none", "-q",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    before = tree(out)
    ids = tmp_path / "retry.txt"
    ids.write_text("# failed ids\n\n")
    run = run_cli(
        "harvest", "--base-url", emulator.base_url, "--ids-from", str(ids), "--out", str(out),
        "-q",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr.count(WARNING) == 1, run.stderr
    assert f"{ids} held no image id" in run.stderr
    assert f"{out} is left as it is" in run.stderr
    assert "did the command" not in run.stderr  # a file named on the command line
    assert tree(out) == before


def test_empty_ids_beside_other_targets_harvests_them(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    out = tmp_path / "d"
    ids = tmp_path / "none.txt"
    ids.write_text("")
    run = run_cli(
        "harvest", "--base-url", emulator.base_url, "--ids-from", str(ids),
        "--plate", str(SMALL_PLATE), "--artifacts", "thumbnail", "--out", str(out),
        "--rate", "none",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"{ids} held no image id" in run.stderr
    assert "harvesting the other targets" in run.stderr
    assert "index: " in run.stdout and "(8 rows)" in run.stdout, run.stdout
