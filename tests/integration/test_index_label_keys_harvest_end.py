"""The end of a harvest keeps the label keys ``harvester index --label-key`` recorded.

The issue as a user met it: ``harvester index DIR --label-key "Gene Symbol"``, then the
same ``harvester harvest`` again (a resume, an hourly sync) without keys wrote a plain
index.csv and removed labels.csv. See ``test_index_label_keys_remembered.py`` for the
index command itself. Real command line, emulator over loopback sockets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from label_keys_helpers import (
    DAMAGES,
    GENE,
    damage_record,
    damaged_warning,
    harvest,
    index,
    labels,
    plate,
    problem_lines,
    rows,
)

from harvester.emulator import EmulatorThread

__all__ = ["plate"]  # the fixture, used by name


def test_a_resumed_harvest_without_keys_keeps_the_labels(
    emulator: EmulatorThread, plate: Path
) -> None:
    """labels.csv and the label columns stay through a harvest without keys, byte for
    byte, and nothing is said about removing them."""
    index_before = (plate / "index.csv").read_bytes()
    labels_before = (plate / "labels.csv").read_bytes()
    result = harvest(emulator, plate)
    assert "removed" not in result.stderr and "WARNING" not in result.stderr
    assert (plate / "labels.csv").read_bytes() == labels_before
    assert (plate / "index.csv").read_bytes() == index_before


def test_a_harvest_after_dropping_stays_plain(emulator: EmulatorThread, plate: Path) -> None:
    """After ``harvester index --no-label-key`` a harvest writes a plain index, silently."""
    index(plate, "--no-label-key")
    result = harvest(emulator, plate)
    assert "WARNING" not in result.stderr
    assert not (plate / "labels.csv").exists() and "label" not in rows(plate)[0]


def test_a_rerun_with_keys_is_the_newest_even_when_it_did_nothing(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """harvest --label-key A, index --label-key B, then the first harvest again (nothing
    new: its journal and config are removed): A was given last, so the index keeps A."""
    out = tmp_path / "rerun"
    harvest(emulator, out, "--label-key", "Phenotype")
    phenotypes = labels(out)
    index(out, "--label-key", GENE)
    harvest(emulator, out, "--label-key", "Phenotype")
    assert labels(out) == phenotypes
    index(out)
    assert labels(out) == phenotypes
    record = json.loads((out / "label_keys.json").read_text(encoding="utf-8"))
    assert record["label_keys"] == ["Phenotype"] and record["by"] == "harvester harvest"


@pytest.mark.parametrize(("damage", "why"), DAMAGES)
def test_a_damaged_record_is_one_warning_line_at_the_end_of_a_harvest(
    emulator: EmulatorThread, plate: Path, damage: bytes | None, why: str
) -> None:
    """The harvest ends as it would (exit 0, index.csv written) with one warning line."""
    record = plate / "label_keys.json"
    damage_record(record, damage)
    result = harvest(emulator, plate)
    damaged_warning(problem_lines(result.stderr), record, plate, why)
    assert "Traceback" not in result.stderr
    assert "label" not in rows(plate)[0]
