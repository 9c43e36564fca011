"""A harvest into a folder whose harvest.json is damaged says so and how to go on.

Found by a damaged-folder walkthrough: a marker cut short (a full disk, a bad copy) in a
folder full of journals got "holds a harvest.json that was not written by harvester; hint:
choose another --out folder", which tells the user to give up a week of downloads. The
marker can be removed: it is written again, with the settings the runs saved. status,
verify and index note the same damage in the same words.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread


def test_a_damaged_marker_is_named_and_removing_it_resumes(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A damaged harvest.json is named by harvest and status; once removed, nothing is refetched."""
    out = tmp_path / "d"
    argv = ["harvest", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
            "--artifacts", "thumbnail", "--rate", "none", "--quiet",
            "--thumbnail-size", "64"]  # fmt: skip
    assert main(argv) == 0
    marker = out / "harvest.json"
    marker.write_bytes(b'{"tool": "harvester", "lay')
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    damage = f"{marker} is damaged (not a JSON object, 26 bytes)"
    assert err[0] == f"error: {damage}, but {out} holds harvest journals"
    hint = f"remove {marker} and run the harvest again (it is written again, with the settings"
    assert err[1].startswith(f"hint: {hint}")
    # status names the same file in the same words, with the same next step (it said "not
    # a JSON object" where the harvest said "not JSON")
    assert main(["status", str(out)]) == 0
    assert (
        f"note: {damage}; the journals were read anyway. A harvest refuses this folder: {hint}"
        in capsys.readouterr().out
    )
    marker.unlink()
    emulator.reset_stats()
    assert main(argv) == 0
    assert emulator.stats()["image_requests"] == 0
    assert '"thumbnail_size": 64' in marker.read_text()  # the settings came back
