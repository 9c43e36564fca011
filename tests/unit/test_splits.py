"""The split of an image (:mod:`harvester.splits`): its group, its hash, the spec's checks."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from harvester.errors import ConfigError
from harvester.models import ImageRef
from harvester.select import BottomN
from harvester.splits import (
    SPLIT_BY,
    SplitSpec,
    folder_split,
    parse_split,
    remember_split,
    replaced_split,
    split_gaps_line,
)

SPEC = SplitSpec(parse_split("train=0.8,val=0.1,test=0.1"), "image")


def test_fractions_hold_over_many_groups() -> None:
    """100,000 images split by image land within half a percent of each fraction."""
    counts = Counter(SPEC.split_of(ImageRef(n)) for n in range(100_000))
    assert abs(counts["train"] / 100_000 - 0.8) < 0.005
    assert abs(counts["val"] / 100_000 - 0.1) < 0.005
    assert abs(counts["test"] / 100_000 - 0.1) < 0.005


def test_an_image_without_the_grouping_id_is_split_by_its_own_id() -> None:
    """A project image (no well) split by well gets the split it gets split by image."""
    by_well = SplitSpec(SPEC.parts, "well")
    for n in range(200):
        assert by_well.split_of(ImageRef(n, dataset_id=5)) == SPEC.split_of(ImageRef(n))
    assert by_well.group_of(ImageRef(7, well_id=3)) == "well:3"
    assert by_well.group_of(ImageRef(7)) == "image:7"


def test_a_sample_is_not_all_in_the_first_split() -> None:
    """The images --sample keeps (the smallest sample hashes) are split like any others:
    the split's hash is not the sample's."""
    sample = BottomN(500, 0)
    for n in range(20_000):
        sample.offer(ImageRef(n))
    counts = Counter(SPEC.split_of(ref) for ref in sample.result())
    assert 0.7 < counts["train"] / 500 < 0.9
    assert counts["val"] and counts["test"]


@pytest.mark.parametrize("text", ["a=0.7,b=0.2,c=0.1", "a=0.5,b=0.5000000001", " a = 1 "])
def test_fractions_summing_to_one_within_tolerance_are_taken(text: str) -> None:
    """Decimal fractions that sum to 1 only up to rounding (or 1e-10) are a split."""
    assert [name for name, _ in parse_split(text)] == [
        p.split("=")[0].strip() for p in text.split(",")
    ]


def test_a_blank_part_is_no_part() -> None:
    """`train=0.8,val=0.2,` (a list's trailing comma) is the split of its parts: it was
    refused as "'' is not NAME=FRACTION"; nothing but commas is still refused."""
    assert parse_split("train=0.8,val=0.2,") == parse_split("train=0.8, ,val=0.2")
    assert SplitSpec(parse_split("train=0.8,val=0.2,")).text == "train=0.8,val=0.2"
    with pytest.raises(ConfigError, match="expected NAME=FRACTION"):
        parse_split(" , ")


@pytest.mark.parametrize("text", ["a=0.5,b=0.500001", "a=0.5,b=nan", "a=inf", "", "=1", "1a=1"])
def test_bad_splits_are_refused(text: str) -> None:
    """A sum off by more than 1e-9, a fraction that is no number, a bad name: a ConfigError."""
    with pytest.raises(ConfigError) as caught:
        parse_split(text)
    assert caught.value.key == "split"


def test_a_damaged_record_is_one_warning_and_no_split(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A split.json edited into junk gives no split and one warning saying how to fix it."""
    remember_split(tmp_path, SPEC, by="test")
    assert folder_split(tmp_path) == SPEC
    (tmp_path / "split.json").write_text('{"split": "train=2"}')
    with caplog.at_level(logging.WARNING):
        assert folder_split(tmp_path) is None
    assert len(caplog.records) == 1
    assert "is damaged" in caplog.records[0].getMessage()
    assert "--split NAME=FRACTION" in caplog.records[0].getMessage()
    remember_split(tmp_path, None, by="test")
    assert folder_split(tmp_path) is None


def test_a_recorded_split_reads_back_as_given(tmp_path: Path) -> None:
    """Fractions with many digits (thirds) survive split.json: the same spec comes back."""
    spec = SplitSpec(parse_split("a=0.3333333333,b=0.3333333333,c=0.3333333334"), "plate", 5)
    remember_split(tmp_path, spec, by="test")
    assert folder_split(tmp_path) == spec


def test_the_replaced_split_outlives_the_same_split_recorded_again(tmp_path: Path) -> None:
    """Every task of an array records the new split: the split it replaced stays named for
    the index job, and dropping the split forgets it."""
    first = SplitSpec((("train", 0.8), ("test", 0.2)))
    second = SplitSpec((("train", 0.5), ("test", 0.5)), "plate", 3)
    remember_split(tmp_path, first, by="test")
    assert replaced_split(tmp_path) is None
    remember_split(tmp_path, second, by="task 0")
    remember_split(tmp_path, second, by="task 1")
    assert replaced_split(tmp_path) == "split train=0.8,test=0.2 by well, seed 0"
    assert folder_split(tmp_path) == second
    remember_split(tmp_path, None, by="test")
    assert replaced_split(tmp_path) is None


def test_recording_a_split_waits_for_an_index_write(tmp_path: Path) -> None:
    """remember_split takes DIR's index lock: while another writer holds it (an index write
    reading split.json), the new record waits, and is written once the lock is let go."""
    import threading

    from harvester.index import INDEX_LOCK
    from harvester.runlock import folder_lock

    remember_split(tmp_path, SPEC, by="before")
    other = SplitSpec((("train", 0.5), ("test", 0.5)))
    done = threading.Event()

    def record() -> None:
        remember_split(tmp_path, other, by="task")
        done.set()

    with folder_lock(tmp_path, INDEX_LOCK, wait=5):
        writer = threading.Thread(target=record, daemon=True)
        writer.start()
        assert not done.wait(0.5), "split.json was written while the index lock was held"
        assert folder_split(tmp_path) == SPEC
    assert done.wait(10)
    writer.join(10)
    assert folder_split(tmp_path) == other
    assert replaced_split(tmp_path) == SPEC.describe()


@pytest.mark.parametrize(
    "damage",
    [
        b" " * (2 << 20) + b"{}",
        b"[" * 100_000,
        b'{"split": "a=1", "split_seed": ' + b"[" * 50_000,
        b'["train=0.5,test=0.5"]',
    ],
    ids=["oversized", "nested", "nested-inside", "not-an-object"],
)
def test_an_oversized_or_deeply_nested_record_is_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: bytes
) -> None:
    """A split.json over the size limit, nested too deep for the JSON parser or not an
    object is damaged: no split, one warning naming the file and how to record it again,
    never a traceback."""
    (tmp_path / "split.json").write_bytes(damage)
    with caplog.at_level(logging.WARNING):
        assert folder_split(tmp_path) is None
        assert replaced_split(tmp_path) is None
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert f"{tmp_path / 'split.json'} is damaged" in message
    assert "--split NAME=FRACTION" in message


#: Each ``split_by`` and its grouping as asked (every one of SPLIT_BY: the test below).
ASKED = {
    "image": "by image",
    "well": "by well (images without a well alone)",
    "plate": "by plate (images without a plate alone)",
    "dataset": "by dataset (images without a dataset alone)",
}


@pytest.mark.parametrize(("by", "grouping"), ASKED.items())
def test_a_split_asked_names_its_grouping_for_every_by(by: str, grouping: str) -> None:
    """Before the index says which images have a ``by`` id (a damaged record's warning),
    each grouping is said as asked: ``by image`` alone, any other with the images lacking
    its id split alone (``by well`` implied wells a project's folder has none of)."""
    spec = SplitSpec(parse_split("train=0.5,test=0.5"), by, 3)
    assert spec.describe_asked() == f"split train=0.5,test=0.5 {grouping}, seed 3"
    assert ASKED.keys() == set(SPLIT_BY)


def _gaps(per: dict[tuple[str, str], int], unit: str = "well") -> str | None:
    return split_gaps_line(SPEC, per, "split S", "DIR/splits.csv", unit)


def test_gaps_line_names_each_splits_missing_labels_sorted_in_the_order_given() -> None:
    """Each split with images lacking labels is named in spec order with its first three
    missing labels sorted, the rest counted; the empty split is named once, not per label."""
    per = {("test", "e"), ("test", "d"), ("test", "c"), ("test", "b"), ("train", "a")}
    line = _gaps({key: 2 for key in per})
    assert line == (
        "split S leaves gaps: 'val' has no image; 'train' lacks 4 of the 5 labels ('b', 'c', "
        "'d' and 1 more); 'test' lacks 1 ('a'): a model trained or scored on a split never "
        "sees the labels it lacks. A split takes whole wells (no leakage), so a label on few "
        "wells lands in few splits: harvest more wells of each label (a larger --sample, more "
        "plates) or give fewer splits (counts per split and label: DIR/splits.csv)"
    )
    # The same counts met in another order give the same words (said once per state).
    assert _gaps(dict(reversed(list({key: 2 for key in per}.items())))) == line


def test_gaps_line_is_none_when_every_split_has_every_label_or_the_folder_is_empty() -> None:
    """No gap, or no image at all (the empty selection says so itself): no line; unlabelled
    images fill splits too, and an empty split among them is named without labels."""
    full = {(name, label): 1 for name in SPEC.names for label in ("x", "y")}
    assert _gaps(full) is None
    assert _gaps({}) is None
    assert _gaps({("train", ""): 3, ("val", ""): 1, ("test", ""): 1}) is None
    line = _gaps({("train", ""): 3, ("test", ""): 1}, unit="image")
    assert line == (
        "split S leaves gaps: 'val' has no image. 4 images are too few to fill every split: "
        "harvest more images (a larger --sample) or give fewer splits (counts per split: "
        "DIR/splits.csv)"
    )


@pytest.mark.parametrize(
    ("unit", "says"),
    [("image", "1 image is too few to fill every split"),
     ("well", "the well of 1 image is too few to fill every split")],
)  # fmt: skip
def test_gaps_line_of_one_image_reads_as_a_sentence(unit: str, says: str) -> None:
    """One image fills one split: the line agrees with its count ("1 image are" read as a
    template, as "the wells of these 1 image" did)."""
    line = _gaps({("train", ""): 1}, unit=unit)
    assert line is not None and "'val', 'test' have no image. " in line
    assert says in line, line
