"""DoneRecord: a done record held compactly reads back exactly as the journal wrote it.

A harvest keeps one done record per stored artifact for the whole run, and every SLURM task
folds the whole folder's journals, so these records are most of a large run's memory. They are
kept in slots (the SHA-256 as 32 bytes) instead of as the parsed dicts; everything that reads
them (index, status, verify, catch-up) must see the same keys, values and order as before.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from harvester.journal import DoneRecord, JournalState

SHA = "1e27984670aea73a0ebac580c6c513bb9fd69b4f5aea8f385d68a20c4b238a00"


def record(image_id: int = 10000001, **changes: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "rec": "done",
        "kind": "thumbnail",
        "id": image_id,
        "path": f"images/010/000/{image_id}.thumbnail.jpg",
        "size": 2750,
        "sha256": SHA,
        "t": 1795689433.6802704,
        "run": "20261126T103713Z-f2b09f",
    }
    rec.update(changes)
    return rec


@pytest.mark.parametrize(
    "rec",
    [
        record(),
        record(files=[{"path": "screens/1/plate.json", "size": 9, "sha256": SHA}]),
        record(sha256=SHA.upper()),  # not what the store writes: kept exactly as written
        record(sha256="not a digest"),
        record(sha256=" " + SHA[1:]),  # fromhex would skip the space
        record(sha256=None),
        {"rec": "done", "kind": "stack", "id": 7, "t": 1.0},  # keys missing
        {"kind": "stack", "id": 7, "t": 1.0, "rec": "done", "_writer": "w1"},  # another order
    ],
)
def test_reads_back_exactly_as_written(rec: dict[str, Any]) -> None:
    """A compact done record reads back equal to the journal dict it came from, odd values kept."""
    done = DoneRecord.from_json(rec)
    assert dict(done) == rec
    assert done == rec and rec == done
    assert len(done) == len(rec)
    assert (
        done["sha256" if "sha256" in rec else "kind"]
        == rec["sha256" if "sha256" in rec else "kind"]
    )
    assert done.get("nope") is None and "nope" not in done
    with pytest.raises(KeyError):
        done["nope"]


def test_keys_come_in_the_journal_order() -> None:
    """A done record's keys come in its journal line's order."""
    rec = record(files=[])
    assert list(DoneRecord.from_json(rec)) == list(rec)


def test_loaded_state_holds_compact_records_equal_to_the_journal(tmp_path: Path) -> None:
    """Loaded journals hold compact done records equal to the lines written."""
    journals = tmp_path / "journals"
    journals.mkdir()
    written = [record(10000001 + n) for n in range(50)]
    lines = "".join(json.dumps(rec, separators=(",", ":")) + "\n" for rec in written)
    (journals / "w1.jsonl").write_text(lines, encoding="utf-8")
    state = JournalState.load(tmp_path, remember=False)
    assert len(state.done) == 50
    for rec in written:
        kept = state.done[("thumbnail", rec["id"])]
        assert isinstance(kept, DoneRecord)
        assert kept == rec


def test_takes_less_than_half_the_memory_of_the_dicts() -> None:
    """Measured by allocation (tracemalloc), not time: 2,000 records as parsed dicts against
    the same records compact (values shared where the journal parser shares them)."""
    lines = [json.dumps(record(10000001 + n)) for n in range(2000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        dicts = [json.loads(line) for line in lines]
        as_dicts = tracemalloc.get_traced_memory()[0] - before
        before = tracemalloc.get_traced_memory()[0]
        compact = [DoneRecord.from_json(json.loads(line)) for line in lines]
        as_compact = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(dicts) == len(compact)
    assert as_compact < 0.5 * as_dicts, (as_compact, as_dicts)
