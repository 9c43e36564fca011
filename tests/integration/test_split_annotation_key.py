"""A map annotation whose key is ``split`` must not pass for harvester's own split column.

IDR annotation keys are the submitters' words: a study may well annotate its wells with a
``split`` of its own. Without a harvester split, ``index.csv`` then has an annotation column
named ``split``; a first ``--split`` (or one after ``--no-split``) counted that column's
values as the split replaced and warned that every image had moved. The count is keyed off
what harvester recorded of its own index write (``written.json``), not off a column name.

Everything runs the real command line against the emulator over loopback sockets.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from catalogue_helpers import wells_annotated
from harvest_helpers import run_cli as cli
from label_keys_helpers import index, rows

from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import FIELDS_SCREEN_ID

#: The study's own value of its ``split`` key, on every well.
THEIRS = "holdout"


@pytest.fixture(scope="module")
def split_key_emulator() -> Iterator[EmulatorThread]:
    """The ``fields`` preset (72 images), every well also annotated ``split = holdout``."""
    with wells_annotated("fields", "split", THEIRS) as emu:
        yield emu


def harvest(emu: EmulatorThread, out: Path, *flags: str) -> None:
    """A thumbnails harvest of the screen into ``out`` (exit 0 asserted)."""
    result = cli(
        "harvest", "--base-url", emu.base_url, "--screen", str(FIELDS_SCREEN_ID),
        "--artifacts", "thumbnail", "--rate", "none", "--out", str(out), "-q", *flags,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_a_first_split_moves_no_image_of_an_annotation_named_split(
    split_key_emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A folder without a split whose images carry a ``split`` annotation: the first
    ``--split`` says nothing moved; the study's column stays, as ``label:split``."""
    out = tmp_path / "d"
    harvest(split_key_emulator, out)
    assert {row["split"] for row in rows(out)} == {THEIRS}  # the annotation's column
    result = index(out, "--split", "train=0.5,test=0.5")
    assert "the split changed" not in result.stderr, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    found = rows(out)
    assert {row["split"] for row in found} == {"train", "test"}
    assert {row["label:split"] for row in found} == {THEIRS}
    assert list(out.glob("splits.before-*.csv")) == []


def test_a_split_after_no_split_moves_no_image_of_an_annotation_named_split(
    split_key_emulator: EmulatorThread, tmp_path: Path
) -> None:
    """``--no-split`` leaves the study's ``split`` column as the only one of that name: a
    split given again after it counts no image as moved."""
    out = tmp_path / "d"
    harvest(split_key_emulator, out, "--split", "train=0.8,test=0.2")
    index(out, "--no-split")
    assert {row["split"] for row in rows(out)} == {THEIRS}
    result = index(out, "--split", "train=0.5,test=0.5")
    assert "the split changed" not in result.stderr, result.stderr
    assert {row["split"] for row in rows(out)} == {"train", "test"}


def test_harvesters_own_split_column_is_counted_beside_the_annotation(
    split_key_emulator: EmulatorThread, tmp_path: Path
) -> None:
    """With split.json removed, a new split counts the images moved against harvester's
    own split column, never against the study's ``label:split`` column."""
    out = tmp_path / "d"
    harvest(split_key_emulator, out, "--split", "train=0.8,test=0.2")
    before = {row["image_id"]: row["split"] for row in rows(out)}
    (out / "split.json").unlink()
    result = index(out, "--split", "train=0.5,test=0.5")
    after = {row["image_id"]: row["split"] for row in rows(out)}
    moved = sum(after[image] != name for image, name in before.items())
    assert 0 < moved < 72
    assert f"the split changed: {moved} of the 72 images already in" in result.stderr
    assert f"-> {THEIRS}" not in result.stderr and f"{THEIRS} ->" not in result.stderr
