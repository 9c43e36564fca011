"""What a damaged folder leaves behind, said in words a user can act on (damage walk-through).

* A folder where an artifact file goes: the harvest stops (a storage error, as every commit
  error is) naming that file relative to DIR, keeps everything journaled, leaves no temp file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.journal import JournalState
from harvester.layout import image_path

KNOWN = 1884801  # an image of the demo preset's project 51 (8 images)


def harvest(emulator: EmulatorThread, out: Path, artifacts: str) -> int:
    return main(
        ["harvest", "--base-url", emulator.base_url, "--out", str(out), "--project", "51",
         "--artifacts", artifacts, "--rate", "none", "--quiet", "--no-labels"]
    )  # fmt: skip


def temps(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_a_folder_where_a_file_goes_is_named_and_nothing_recorded_is_lost(
    tmp_path: Path, emulator: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert harvest(emulator, out, "metadata") == 0
    done = JournalState.load(out).done
    recorded = {key: rec["sha256"] for key, rec in done.items() if key[0] == "metadata"}
    assert len(recorded) == 8
    rel = image_path(KNOWN, "thumbnail")
    (out / rel).mkdir(parents=True)
    (out / rel / "notes.txt").write_text("mine")
    capsys.readouterr()

    code = harvest(emulator, out, "metadata,thumbnail")
    err = capsys.readouterr().err

    assert code == 1  # stopped mid-run by a storage problem, as a full disk is
    assert f"error: cannot write {rel}: a folder is where the file should be" in err
    assert "Is a directory" not in err
    assert "move that folder away" in err
    state = JournalState.load(out)
    assert {k: r["sha256"] for k, r in state.done.items() if k[0] == "metadata"} == recorded
    assert ("thumbnail", KNOWN) not in state.done
    assert (out / rel / "notes.txt").read_text() == "mine"  # the user's folder is untouched
    assert temps(out) == []

    (out / rel / "notes.txt").unlink()
    (out / rel).rmdir()
    assert harvest(emulator, out, "metadata,thumbnail") == 0
    assert (out / rel).is_file()
    done = JournalState.load(out).done
    assert sum(kind in ("metadata", "thumbnail") for kind, _ in done) == 16
