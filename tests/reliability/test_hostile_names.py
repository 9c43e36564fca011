"""Server-supplied hostile names ('../', '/', NUL, control characters, 1,000 characters)."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

from reliability_helpers import (
    assert_verify_clean,
    cli,
    done_counts,
    harvest_args,
    temp_files,
)

from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import NAMES_PROJECT_ID, NAMES_SCREEN_ID


def assert_valid_component(part: str) -> None:
    """A portable, harmless path component."""
    assert part not in ("", ".", ".."), part
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in part), repr(part)
    assert "/" not in part and "\\" not in part, repr(part)
    assert len(part.encode("utf-8")) <= 255, len(part)


def test_hostile_names_stay_inside_dir(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Harvesting the `names` preset through the CLI: exit 0, every path under DIR is inside
    DIR (no symlink, no '..'), every component valid, every file recorded, index.csv parses
    with the hostile names kept as data; and nothing was written outside DIR."""
    emu = make_emulator(preset="names")
    sandbox = tmp_path / "sandbox"
    out = sandbox / "out"
    sandbox.mkdir()
    proc = cli(
        *harvest_args(
            emu.base_url,
            out,
            "--screen",
            str(NAMES_SCREEN_ID),
            "--project",
            str(NAMES_PROJECT_ID),
            rate="none",
        )  # fmt: skip
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in sandbox.iterdir()) == ["out"]  # nothing escaped beside DIR
    root = os.path.realpath(out)
    count = 0
    for dirpath, dirnames, filenames in os.walk(out):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            assert not os.path.islink(path), path
            assert os.path.realpath(path).startswith(root + os.sep), path
            for part in Path(path).relative_to(out).parts:
                assert_valid_component(part)
            count += 1
    assert count > 50
    images = {key for key in done_counts(out) if key[0] == "thumbnail"}
    with (out / "index.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(images) > 0
    assert any("../" in row["image_name"] for row in rows)
    assert any(len(row["image_name"]) >= 1000 for row in rows)
    assert temp_files(out) == []
    assert_verify_clean(out)
