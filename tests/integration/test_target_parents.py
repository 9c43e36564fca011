"""A plate or dataset given alone gets its parent's id in index.csv, as a walk from it does.

Found by a stack walkthrough: `harvest --plate P` left `screen_id` empty in every row (and
`--dataset D` left `project_id` empty), so the rows of two harvests of one screen's plates
could not be merged or told apart by screen. The walk asks the JSON API for the parent once
per target (`m/plates/{id}/screens/`, `m/datasets/{id}/projects/`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread

DEMO_SCREEN, DEMO_PLATE = 2302, 7361
DEMO_PROJECT, DEMO_DATASET = 51, 51


def index_rows(out: Path) -> list[dict[str, str]]:
    with (out / "index.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    ("flag", "target", "column", "parent"),
    [
        ("--plate", DEMO_PLATE, "screen_id", DEMO_SCREEN),
        ("--dataset", DEMO_DATASET, "project_id", DEMO_PROJECT),
    ],
)
def test_a_lone_plate_or_dataset_gets_its_parent_id(
    emulator: EmulatorThread, tmp_path: Path, flag: str, target: int, column: str, parent: int
) -> None:
    """A plate or dataset harvested alone gets its screen or project id in index.csv."""
    out = tmp_path / "d"
    argv = ["harvest", "--base-url", emulator.base_url, flag, str(target), "--out", str(out),
            "--artifacts", "thumbnail", "--rate", "none", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    rows = index_rows(out)
    assert rows and {row[column] for row in rows} == {str(parent)}
