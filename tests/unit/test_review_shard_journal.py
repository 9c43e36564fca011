"""Review of the shard-filtered journal load: malformed records.

A full load skips or keeps a malformed record and goes on; a shard's filtered load must
not be the one that crashes on it (every task of an array would fail to open its store).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harvester.index import current_state
from harvester.journal import Journal, JournalState
from harvester.shard import in_shard


def _done(i: Any, kind: str = "thumbnail") -> dict[str, Any]:
    return {
        "rec": "done",
        "kind": kind,
        "id": i,
        "path": f"images/x/{i}.jpg",
        "size": 1,
        "sha256": "00" * 32,
        "t": 1.0,
        "run": "r1",
    }


def _mine(image_id: int) -> bool:
    return in_shard(image_id, 0, 2)


@pytest.mark.parametrize("bad_id", ["x", 1e400, float("nan"), "12", None, True, [1]])
def test_a_malformed_artifact_id_does_not_break_a_filtered_load(
    tmp_path: Path, bad_id: Any
) -> None:
    """An artifact record whose id is no image id (a hand-edited or foreign journal line)
    is not any shard's image: the filtered load goes on, holding the good records."""
    good = [i for i in range(1000, 1020) if _mine(i)]
    with Journal(tmp_path, "w0") as journal:
        journal.append([_done(bad_id)] + [_done(i) for i in good])
    state = JournalState.load(tmp_path, images=_mine)
    assert sorted(i for _, i in state.done) == good
    full = JournalState.load(tmp_path)
    assert {k: dict(v) for k, v in state.done.items()} == {
        k: dict(v) for k, v in full.done.items() if type(k[1]) is int and _mine(k[1])
    }


def test_a_run_record_with_an_odd_kind_key_is_kept(tmp_path: Path) -> None:
    """Records about no image are kept whatever else they carry (a full load keeps them)."""
    run = {"rec": "run", "run": "r9", "writer": "w9", "shard": "0/2", "started": 1.0, "kind": []}
    with Journal(tmp_path, "w9") as journal:
        journal.append([run])
    assert JournalState.load(tmp_path, images=_mine).runs == JournalState.load(tmp_path).runs


def test_a_caught_up_filtered_state_is_still_partial(tmp_path: Path) -> None:
    """catch_up of a shard's state merges the other writers' new lines into a new state:
    that state holds the shard's images only too, so it must still say so, and an index
    built from it must read the whole folder (not list the shard's images only)."""
    mine_ids = [i for i in range(1000, 1040) if _mine(i)]
    with Journal(tmp_path, "w0") as journal:
        journal.append([_done(i) for i in range(1000, 1020)])
    state = JournalState.load(tmp_path, remember=False, images=_mine)
    with Journal(tmp_path, "w1") as journal:
        journal.append([{**_done(i), "t": 2.0} for i in range(1020, 1040)])
    caught = state.catch_up()
    assert caught is not state and caught.partial
    assert sorted(i for _, i in caught.done) == mine_ids
    assert sorted(i for _, i in current_state(tmp_path, caught).done) == list(range(1000, 1040))
    assert sorted(i for _, i in caught.catch_up().done) == mine_ids
