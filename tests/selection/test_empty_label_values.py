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
