"""``--out ""`` (``--out "$OUT"`` with OUT unset) is refused, not taken as the current folder.

As a Path, "" is ".": found by review, ``harvester harvest --project 51 --out ""`` put
harvest.json, images/, study/, journals/, runs/, locks/ and index.csv into the folder it was
started from, exit 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread


@pytest.mark.parametrize("command", ["harvest", "plan"])
def test_an_empty_out_is_a_usage_error_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorThread,
    command: str,
) -> None:
    """Exit 2 with a line naming --out; the folder it was started from stays empty."""
    monkeypatch.chdir(tmp_path)
    code = main([command, "--base-url", emulator.base_url, "--project", "51", "--out", ""])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--out" in err.splitlines()[0], err
    assert list(tmp_path.iterdir()) == []


def test_an_out_that_is_a_broken_symlink_is_named_as_such(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A dangling symlink as DIR: exit 2, one line saying so (not "File exists" with a hint to
    re-run to resume), and nothing is created at its target."""
    out = tmp_path / "d"
    out.symlink_to(tmp_path / "gone" / "x")
    code = main(["harvest", "--base-url", emulator.base_url, "--project", "51", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "is a broken symbolic link" in err.splitlines()[0], err
    assert "resume" not in err
    assert not (tmp_path / "gone").exists()
