"""An empty annotation value beside real ones is no part of a label.

A map annotation may hold a key with an empty value (a spreadsheet cell left blank when
the study was annotated). A well that had ``Phenotype = ''`` beside ``Phenotype = mitotic
arrest`` was labelled ``;mitotic arrest``: a class of its own in ``labels.csv``, with a
``label_id`` of its own, and a class of its own for ``--sample-per``, though it is the
well's only phenotype. (A key whose only value is empty was, rightly, no label at all.)

Everything runs the real command line against the emulator over loopback sockets.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalogue_helpers import wells_annotated
from selection_helpers import DEMO_SCREEN, index_rows, run_cli

from harvester.emulator import EmulatorThread


@pytest.fixture(scope="module")
def blank_value_emulator() -> Iterator[EmulatorThread]:
    """The demo preset, every annotated well also annotated ``Phenotype = ''``."""
    with wells_annotated("demo", "Phenotype", "") as emu:
        yield emu


def harvest(emu: EmulatorThread, out: Path, *flags: str) -> None:
    """A quiet thumbnails harvest of the demo screen into ``out`` (exit 0 asserted)."""
    result = run_cli(
        "harvest", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN),
        "--artifacts", "thumbnail", "--rate", "none", "--out", str(out), "-q", *flags,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def table(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_a_blank_value_beside_a_phenotype_labels_as_the_phenotype_alone(
    emulator: EmulatorThread, blank_value_emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--label-key Phenotype: labels.csv is the one of the same wells without the blank
    values (no ';mitotic arrest' class), and every image keeps the label it has there."""
    plain, blank = tmp_path / "plain", tmp_path / "blank"
    harvest(emulator, plain, "--label-key", "Phenotype")
    harvest(blank_value_emulator, blank, "--label-key", "Phenotype")
    assert table(blank / "labels.csv") == table(plain / "labels.csv")
    labels = {row["image_id"]: row["label"] for row in index_rows(plain)}
    assert {row["image_id"]: row["label"] for row in index_rows(blank)} == labels
    assert not any(label.startswith(";") for label in labels.values())


def test_a_blank_value_makes_no_class_of_its_own_for_sample_per(
    emulator: EmulatorThread, blank_value_emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--sample 2 --sample-per Phenotype picks the same images, in the same 11 classes, with
    the blank values as without them."""
    plain, blank = tmp_path / "plain", tmp_path / "blank"
    harvest(emulator, plain, "--sample", "2", "--sample-per", "Phenotype")
    harvest(blank_value_emulator, blank, "--sample", "2", "--sample-per", "Phenotype")
    assert len(table(blank / "labels.csv")) == 1 + 11
    assert table(blank / "labels.csv") == table(plain / "labels.csv")
    assert {row["image_id"] for row in index_rows(blank)} == {
        row["image_id"] for row in index_rows(plain)
    }


@pytest.fixture(scope="module")
def blank_key_emulator() -> Iterator[EmulatorThread]:
    """The demo preset, every annotated well also annotated ``Notes = ''``: a key whose
    every value is blank (a study's column left empty)."""
    with wells_annotated("demo", "Notes", "") as emu:
        yield emu


def harvest_plate(emu: EmulatorThread, out: Path, *flags: str) -> list[str]:
    """A quiet thumbnails harvest of the demo's first plate (8 images) into ``out``, exit 0
    asserted; its warning lines."""
    result = run_cli(
        "harvest", "--base-url", emu.base_url, "--plate", "7361", "--artifacts", "thumbnail",
        "--rate", "none", "--out", str(out), "-q", *flags,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("WARNING")]


KEYS_WITH_VALUES = (
    "keys with values: 'Gene Identifier', 'Gene Identifier URL', 'Gene Symbol', 'Phenotype',"
    " 'Phenotype Term Accession' and 2 more"
)


def test_a_label_key_with_only_blank_values_is_warned_as_a_missing_key(
    blank_key_emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--label-key Notes, every value of it blank: the missing-key warning says so (it was
    counted as there: empty labels, no word), and the key is not recorded for later writes."""
    out = tmp_path / "notes"
    said = harvest_plate(blank_key_emulator, out, "--label-key", "Notes")
    assert said == [
        f"WARNING harvester.problems: label key 'Notes' has only blank values on the 8 images"
        f" in {out / 'index.csv'}, so every label is empty; {KEYS_WITH_VALUES}",
        f"WARNING harvester.problems: label key 'Notes' not recorded in"
        f" {out / 'label_keys.json'}, as no image has them: later index writes keep no label"
        " columns",
    ]
    assert table(out / "labels.csv") == [["label", "label_id", "images"]]
    index = run_cli("index", str(out), "--label-key", "Notes", "--label-key", "Gene Symbol")
    assert index.returncode == 2, index.stderr  # refused: no label would have a Notes part
    assert index.stderr.startswith(
        f"error: --label-key 'Notes' has only blank values on the 8 images in "
        f"{out / 'index.csv'}, so nothing was rewritten; their keys: 'Gene Identifier', "
    )
    assert table(out / "labels.csv") == [["label", "label_id", "images"]]
    index = run_cli("index", str(out), "--label-key", "Gene Symbol")
    assert index.returncode == 0, index.stderr
    assert len(table(out / "labels.csv")) > 1  # (Gene Symbol labels them)


def test_a_sample_per_or_where_key_with_only_blank_values_is_warned(
    blank_key_emulator: EmulatorThread, blank_value_emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--sample-per Notes (every value blank) warns that no image has a class, --where
    'Notes~x' that no image matches it; a key with values beside blank ones (Phenotype of
    the other emulator) warns of neither."""
    said = harvest_plate(
        blank_key_emulator, tmp_path / "per", "--sample", "2", "--sample-per", "Notes"
    )
    assert said == [
        "WARNING harvester.problems: --sample-per key 'Notes' has only blank values on the 8"
        f" walked images, so no image has a class and none is sampled; {KEYS_WITH_VALUES}"
    ]
    said = harvest_plate(blank_key_emulator, tmp_path / "where", "--where", "Notes~x")
    assert said[0] == (
        "WARNING harvester.problems: --where key 'Notes' (Notes~x) has only blank values on"
        f" the 8 walked images, so no image matches it; {KEYS_WITH_VALUES}"
    )
    flags = ("--sample", "1", "--sample-per", "Phenotype", "--where", "Phenotype~a")
    assert harvest_plate(blank_value_emulator, tmp_path / "phenotype", *flags) == []
    assert len(table(tmp_path / "phenotype" / "labels.csv")) > 1
