"""Helpers for the tests of label keys that ``harvester index`` records (a module with a
unique name: importable under both ``pytest`` and ``python -m pytest``)."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
from harvest_helpers import SMALL_PLATE
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread

GENE = "Gene Symbol"


def harvest(emulator: EmulatorThread, out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """A thumbnails harvest of the 8-image demo plate into ``out`` (exit 0 asserted)."""
    result = cli(
        "harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE),
        "--artifacts", "thumbnail", "--rate", "none", "--out", str(out), *flags,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def index(out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """``harvester index DIR FLAGS`` (exit 0 asserted)."""
    result = cli("index", str(out), *flags)
    assert result.returncode == 0, result.stderr
    return result


def rows(out: Path) -> list[dict[str, str]]:
    """The rows of DIR/index.csv as dicts."""
    with (out / "index.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def labels(out: Path) -> dict[str, str]:
    """image id -> its ``label`` cell; asserts index.csv has the label columns."""
    found = rows(out)
    assert found and "label" in found[0] and "label_id" in found[0], "no label columns"
    return {row["image_id"]: row["label"] for row in found}


def problem_lines(stderr: str) -> list[str]:
    """Warning and error lines of a command's standard error."""
    return [line for line in stderr.splitlines() if "WARNING" in line or "error" in line]


def damage_record(record: Path, damage: bytes | None) -> None:
    """Replace ``DIR/label_keys.json`` by ``damage`` (None: a folder in its place)."""
    record.unlink()
    if damage is None:
        record.mkdir()
    else:
        record.write_bytes(damage)


#: (what label_keys.json is made to hold, None: a folder; words of the warning)
DAMAGES = [
    (b'{"label_keys": ["Gene', "not JSON, 21 bytes"),
    (b'{"label_keys": "Gene Symbol"}', "not an object with a list of label_keys"),
    (b'{"label_keys": ["Gene Symbol"], "at": 1, "runs": "all"}', "'runs' is not a list"),
    (b"", "not JSON, 0 bytes"),
    (None, "cannot be read (Is a directory)"),
]


def damaged_warning(lines: list[str], record: Path, out: Path, why: str) -> None:
    """The first of ``lines`` is the one-line warning about a damaged record."""
    assert len(lines) in (1, 2), lines  # (2: a plain index removing labels.csv says so)
    assert lines[0].startswith(f"WARNING harvester.problems: {record} ")
    assert why in lines[0]
    assert lines[0].endswith(
        f"to record them again: harvester index {out} --label-key KEY (or --no-label-key)"
    )


@pytest.fixture
def plate(emulator: EmulatorThread, tmp_path: Path) -> Path:
    """The demo plate harvested without label keys, then indexed with ``Gene Symbol``."""
    out = tmp_path / "plate"
    harvest(emulator, out, "--quiet")
    index(out, "--label-key", GENE)
    assert any(labels(out).values())  # the plate's wells have gene symbols
    assert (out / "labels.csv").is_file()
    return out
