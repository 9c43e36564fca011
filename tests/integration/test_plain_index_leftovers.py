"""A harvest's end in a folder with no label keys and no split, but leftovers of them.

Since indexspeed33 such a folder's index is written by :mod:`harvester.plain_index`, which
steps aside for the labelled writer (:mod:`harvester.select`) wherever that writer has
something to remove or forget: a ``labels.csv`` or ``splits.csv`` no setting asks for now
(kept as ``*.edited-*`` first when not harvester's), a warning recorded as said. Each
leftover on its own, so that each of the plain writer's checks is the one that must see it.
Commands run as ``harvester ARGS`` in the test process against the emulator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harvest_helpers import run_cli

from harvester.emulator import EmulatorThread
from harvester.index import SAID_KEY, UNPLACED_KEY, WRITTEN_NAME

PLATE = "7375"  # 8 images


def harvest(emu: EmulatorThread, out: Path) -> str:
    """A thumbnails harvest of PLATE (plain: no label key, no split); its stderr."""
    proc = run_cli(
        "harvest", "--base-url", emu.base_url, "--plate", PLATE, "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


@pytest.mark.parametrize("table", ["labels.csv", "splits.csv"])
def test_a_table_no_setting_asks_for_is_kept_aside_and_removed(
    tmp_path: Path, emulator: EmulatorThread, table: str
) -> None:
    """A labels.csv or splits.csv in a plain folder (one the user put there): the resume
    keeps it as ``<name>.edited-*.csv``, says so, and removes it; index.csv has no label or
    split column."""
    out = tmp_path / "d"
    harvest(emulator, out)
    mine = "label,label_id,images\nmine,0,8\n"
    (out / table).write_text(mine)
    stderr = harvest(emulator, out)
    assert not (out / table).exists()
    (kept,) = out.glob(f"{Path(table).stem}.edited-*.csv")
    assert kept.read_text() == mine
    assert f"{out / table} was not written by harvester: kept it as {kept}" in stderr
    header = (out / "index.csv").read_text().splitlines()[0].split(",")
    assert "label" not in header and "split" not in header


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (SAID_KEY, {"label_spellings": "0" * 64}),
        (UNPLACED_KEY, {"index": "0" * 64, "split": "a=0.5,b=0.5 by well seed 0", "ids": [1]}),
    ],
)
def test_a_record_of_labels_or_a_split_is_dropped_once_they_are_gone(
    tmp_path: Path, emulator: EmulatorThread, key: str, value: object
) -> None:
    """written.json records a label warning as said, or the images a split drew on their
    own (an earlier setting's): the resume of the now plain folder drops that record, so
    that the warning is said again when labels come back, and a later split does not
    count moves against a split no longer there."""
    out = tmp_path / "d"
    harvest(emulator, out)
    record = json.loads((out / WRITTEN_NAME).read_text())
    record[key] = value
    (out / WRITTEN_NAME).write_text(json.dumps(record))
    harvest(emulator, out)
    assert key not in json.loads((out / WRITTEN_NAME).read_text())
