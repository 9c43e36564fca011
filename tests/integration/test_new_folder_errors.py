"""A harvest that fails before any work leaves no new output folder behind.

`--screen 9999`, a bad URL or a TLS error already created nothing; an unknown `--image`
id left DIR/ with harvest.json, journals/, runs/ and locks/ (its check ran after the
store had opened). The ids are now checked first in a folder that is not a harvest yet,
and a folder that existed keeps everything it held.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread

KNOWN = "1884801"  # an image of the demo preset's project 51


def harvest(emulator: EmulatorThread, out: Path, *extra: str) -> int:
    return main(
        ["harvest", "--base-url", emulator.base_url, "--out", str(out), "--artifacts",
         "thumbnail,metadata", "--rate", "none", "--quiet", *extra]
    )  # fmt: skip


def listing(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(
    "targets",
    [("--image", "123"), ("--image", KNOWN, "--image", "123"), ("--image", "123", "--dry-run")],
)
def test_unknown_image_leaves_no_new_folder(
    emulator: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    targets: tuple[str, ...],
) -> None:
    """Exit 2 with the id named, and neither DIR nor its missing parents appear."""
    out = tmp_path / "a" / "x3"
    assert harvest(emulator, out, *targets) == 2
    err = capsys.readouterr().err
    assert "error: image 123 not found on the server" in err
    assert not (tmp_path / "a").exists()


def test_unknown_image_in_an_empty_existing_folder_writes_nothing(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A folder made beforehand stays, empty."""
    out = tmp_path / "mine"
    out.mkdir()
    assert harvest(emulator, out, "--image", "123") == 2
    assert out.is_dir() and list(out.iterdir()) == []


def test_unknown_image_in_an_existing_harvest_keeps_every_file(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A harvest folder keeps its files and journals byte for byte; a later run still
    finds the earlier work done."""
    out = tmp_path / "h"
    assert harvest(emulator, out, "--image", KNOWN) == 0
    before = listing(out)
    assert harvest(emulator, out, "--image", KNOWN, "--image", "123") == 2
    after = listing(out)
    assert {k: v for k, v in after.items() if k in before} == before
    assert harvest(emulator, out, "--image", KNOWN) == 0
    assert listing(out)["index.csv"] == before["index.csv"]


def test_a_known_image_in_a_new_folder_is_asked_once(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """The early check's answer is still the image's metadata file (no second request)."""
    out = tmp_path / "new"
    assert harvest(emulator, out, "--image", KNOWN) == 0
    assert (out / "images" / "001" / "884" / f"{KNOWN}.metadata.json").is_file()
    assert emulator.stats()["by_route"]["api_image"] == {"200": 1}


def test_a_failing_target_check_is_one_error_with_a_hint(
    make_emulator: Callable[..., EmulatorThread],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A target check that fails otherwise than "not found" or "busy" (here a 500 through
    the retries) was a bare ``error: HTTP 500 ...: URL`` line: now a hint says what to do
    next; exit 2 and no folder, as for an unknown id."""
    emu = make_emulator(preset="demo", faults="500:100%,only:/api/v0/m/screens/")
    out = tmp_path / "s"
    assert harvest(emu, out, "--screen", "2302", "--max-retries", "0") == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith("error: "), lines
    assert "/api/v0/m/screens/2302/" in lines[0]
    assert lines[1].startswith("hint: ") and "screen 2302" in lines[1], lines
    assert "run the same command again later" in lines[1]
    assert not out.exists()
