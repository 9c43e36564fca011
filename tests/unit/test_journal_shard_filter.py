"""A shard's store loads the journal records of its own images only.

Every task of a SLURM array used to fold every shard's records, so each of N tasks held the
state of the whole folder. ``JournalState.load(images=...)`` keeps the records of the images
the filter accepts (artifacts, refs, failures, verify's invalid records) and every record that
is about no image (study objects, runs); for those images the state is exactly the unfiltered
one. index.csv is never built from such a partial state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harvester.index import current_state, write_index
from harvester.journal import Journal, JournalState
from harvester.models import ImageRef
from harvester.shard import in_shard
from harvester.store import Store


def _done(kind: str, i: int, t: float) -> dict[str, Any]:
    return {
        "rec": "done",
        "kind": kind,
        "id": i,
        "path": f"images/000/000/{i}.{kind}.jpg" if kind != "plate" else f"study/plate-{i}/p.json",
        "size": 1,
        "sha256": "00" * 32,
        "t": t,
        "run": "r1",
    }


def _image(i: int, t: float) -> dict[str, Any]:
    return {"rec": "image", "ref": ImageRef(i, image_name=f"img{i}", plate_id=7).to_json(), "t": t}


def _failed(kind: str, i: int, t: float) -> dict[str, Any]:
    return {"rec": "failed", "kind": kind, "id": i, "url": "u", "status": 500, "reason": "x"}


def _shard_folder(out: Path, ids: range) -> None:
    """Two writers (as two shards would be) with images, artifacts, a failure, a study record."""
    with Journal(out, "w0") as j0, Journal(out, "w1") as j1:
        for i in ids:
            journal = j0 if i % 2 else j1
            journal.append([_image(i, float(i)), _done("thumbnail", i, float(i) + 0.5)])
        j0.append([{**_failed("render", ids[0], 99.0), "t": 99.0}, _done("plate", 7, 100.0)])
        j1.append([{"rec": "run", "run": "r1", "writer": "w1", "shard": "1/3", "started": 1.0}])


def _mine(image_id: int) -> bool:
    return in_shard(image_id, 1, 3)


def test_filtered_load_keeps_exactly_its_images_and_everything_else(tmp_path: Path) -> None:
    """A shard's filtered load keeps exactly its images' records and every non-image record."""
    ids = range(1000, 1060)
    _shard_folder(tmp_path, ids)
    full = JournalState.load(tmp_path, remember=False)
    mine = JournalState.load(tmp_path, images=_mine)
    expected_ids = {i for i in ids if _mine(i)}
    assert 0 < len(expected_ids) < len(ids)
    assert set(mine.images) == expected_ids
    assert mine.images == {i: full.images[i] for i in expected_ids}
    assert {key: dict(rec) for key, rec in mine.done.items()} == {
        key: dict(rec)
        for key, rec in full.done.items()
        if key[0] != "thumbnail" or key[1] in expected_ids
    }
    assert ("plate", 7) in mine.done  # not an image: kept
    assert mine.runs == full.runs
    assert (("render", ids[0]) in mine.failed) == _mine(ids[0])
    assert mine.partial and not full.partial


def test_a_filtered_state_catches_up_with_its_images_only(tmp_path: Path) -> None:
    """Other shards append while this one runs: catching up keeps the filter, and equals a
    fresh filtered load."""
    _shard_folder(tmp_path, range(1000, 1030))
    mine = JournalState.load(tmp_path, remember=False, images=_mine)
    with Journal(tmp_path, "w2") as j2:
        j2.append(
            [r for i in range(2000, 2030) for r in (_image(i, 200.0), _done("thumbnail", i, 201.0))]
        )
    caught = mine.catch_up()
    fresh = JournalState.load(tmp_path, images=_mine)
    assert (
        set(caught.images)
        == set(fresh.images)
        == {i for i in [*range(1000, 1030), *range(2000, 2030)] if _mine(i)}
    )
    assert caught.done.keys() == fresh.done.keys()


def test_a_filtered_load_does_not_leak_into_a_full_one(tmp_path: Path) -> None:
    """Loads of one folder share a memo of what was read; a filtered fold must not become
    what the next full load (status, index, verify) starts from, nor the reverse."""
    ids = range(1000, 1040)
    _shard_folder(tmp_path, ids)
    full_before = JournalState.load(tmp_path)  # remembered
    mine = JournalState.load(tmp_path, images=_mine)
    full_after = JournalState.load(tmp_path)
    assert set(full_before.images) == set(full_after.images) == set(ids)
    assert set(mine.images) == {i for i in ids if _mine(i)}


def test_index_from_a_partial_state_is_the_whole_folder(tmp_path: Path) -> None:
    """A shard's partial state handed to the index is not taken as the whole: every image
    of the folder gets its row."""
    ids = range(1000, 1020)
    _shard_folder(tmp_path, ids)
    mine = JournalState.load(tmp_path, images=_mine)
    assert set(current_state(tmp_path, mine).images) == set(ids)
    assert write_index(tmp_path, mine) == len(ids)


@pytest.mark.anyio
async def test_a_shard_store_holds_its_own_images_and_journals_its_own_work(
    tmp_path: Path,
) -> None:
    """Store.open(images=...) (what a --shard K/N harvest passes): the other shards' images
    are not in its state, its own are, and what it stores is journaled for everyone."""
    ids = range(1000, 1100)
    _shard_folder(tmp_path, ids)
    async with Store.open(tmp_path, run_id="r2", writer="w9", images=_mine) as store:
        assert set(store.state.images) == {i for i in ids if _mine(i)}
        assert {key[1] for key in store.state.done if key[0] == "thumbnail"} == {
            i for i in ids if _mine(i)
        }
        new = next(i for i in range(5000, 6000) if _mine(i))
        await store.put_bytes("thumbnail", new, f"images/{new}.jpg", b"\xff\xd8\xff" + b"x" * 10)
    everyone = JournalState.load(tmp_path, remember=False)
    assert set(everyone.images) == set(ids)
    assert ("thumbnail", new) in everyone.done
