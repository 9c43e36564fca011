"""The record of the images a split drew on their own (``written.json``'s
``split_unplaced``): read back as written, and "not known" wherever it cannot be trusted,
so that the index write then reads the old index.csv rather than miss a move."""

from __future__ import annotations

import json
from pathlib import Path

from harvester.index import UNPLACED_LISTED, record_unplaced_split, unplaced_split_before


def _folder(tmp_path: Path, sha: str = "abc") -> Path:
    """A folder whose written.json records an index.csv written with SHA-256 ``sha``."""
    (tmp_path / "written.json").write_text(json.dumps({"index.csv": {"sha256": sha}}))
    return tmp_path


def test_ids_read_back_as_recorded_ranges_included(tmp_path: Path) -> None:
    """The ids recorded are read back as the same set, runs stored as ranges."""
    out = _folder(tmp_path)
    ids = [5, 6, 7, 8, 20, 22, 9_000_000]
    record_unplaced_split(out, "S", ids)
    assert unplaced_split_before(out, "S") == frozenset(ids)
    listed = json.loads((out / "written.json").read_text())["split_unplaced"]["ids"]
    assert listed == ["5-8", "20", "22", "9000000"]  # runs as ranges: a small file
    record_unplaced_split(out, "S", [])
    assert unplaced_split_before(out, "S") == frozenset()


def test_not_known_without_a_record_or_of_another_index(tmp_path: Path) -> None:
    """No record, another split's, another index.csv's or one written but not recorded:
    not known (the old index.csv is read)."""
    out = _folder(tmp_path)
    assert unplaced_split_before(out, "S") is None  # a folder from before the record
    record_unplaced_split(out, "S", [1, 2])
    assert unplaced_split_before(out, "T") is None  # of another split: the index is read
    _folder(tmp_path, sha="def")  # index.csv rewritten, the record not saved after it
    record = json.loads((out / "written.json").read_text())
    record["split_unplaced"] = {"index": "abc", "split": "S", "ids": ["1", "2"]}
    (out / "written.json").write_text(json.dumps(record))
    assert unplaced_split_before(out, "S") is None
    record["split_unplaced"]["index"] = "def"
    record["index.csv"]["next"] = {"size": 9, "sha256": "ghi"}  # written, not recorded
    (out / "written.json").write_text(json.dumps(record))
    assert unplaced_split_before(out, "S") is None
    record_unplaced_split(out, "S", None)  # no split written: the record dropped
    assert "split_unplaced" not in json.loads((out / "written.json").read_text())


def test_damaged_or_too_long_records_are_not_known(tmp_path: Path) -> None:
    """A damaged record, or one too long to list its ids (counted only): not known."""
    out = _folder(tmp_path)
    for damaged in ({"index": "abc", "split": "S", "ids": ["1", "x"]},
                    {"index": "abc", "split": "S", "ids": [3]},
                    {"index": "abc", "split": "S", "ids": ["9-2"]}, 36, ["1"]):  # fmt: skip
        (out / "written.json").write_text(
            json.dumps({"index.csv": {"sha256": "abc"}, "split_unplaced": damaged})
        )
        assert unplaced_split_before(out, "S") is None, damaged
    record_unplaced_split(out, "S", list(range(1, 2 * UNPLACED_LISTED + 2, 2)))  # no runs
    assert json.loads((out / "written.json").read_text())["split_unplaced"]["count"] > 0
    assert unplaced_split_before(out, "S") is None  # counted only: the old index is read
