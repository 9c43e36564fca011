"""The folded journals' state holds less per image and reads back exactly as written.

A done record keeps no path where the file is where the layout puts it (given back when
read), refs share their study context values and label pairs, records of a folder's first
journal keep no entry of which journal they came from, and ``status``'s writer tags share one
dict. None of it may change what is read back: paths of other forms, values of other types
(``True`` is not ``1``) and ties in ``t`` between journals read as before.
"""

from __future__ import annotations

import copy
import json
import pickle
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from harvester import journal
from harvester.journal import DoneRecord, Journal, JournalState
from harvester.layout import image_path
from harvester.models import ImageRef

SHA = "1e27984670aea73a0ebac580c6c513bb9fd69b4f5aea8f385d68a20c4b238a00"


def done(image_id: int, path: Any, kind: str = "thumbnail", t: float = 1.0) -> dict[str, Any]:
    return {
        "rec": "done",
        "kind": kind,
        "id": image_id,
        "path": path,
        "size": 2750,
        "sha256": SHA,
        "t": t,
        "run": "20261126T103713Z-f2b09f",
    }


@pytest.mark.parametrize(
    "rec",
    [
        done(10000001, image_path(10000001, "thumbnail")),
        done(7, image_path(7, "render")),
        done(7, "images/000/000/7.render.png", kind="render"),  # another extension
        done(7, "images/000/000/8.thumbnail.jpg"),  # another image's place
        done(7, "moved/7.thumbnail.jpg"),
        done(7, None),
        done(2302, "study/screen-2302/screen.json", kind="screen"),
        done(True, image_path(1, "thumbnail")),  # an id that is no int: kept as written
        {**done(9, image_path(9, "stack"), kind="stack"), "files": [{"path": "x", "size": 1}]},
    ],
)
def test_paths_read_back_as_written_and_survive_copies(rec: dict[str, Any]) -> None:
    """A done record's path reads back as written, in copies and pickles too."""
    kept = DoneRecord.from_json(rec)
    assert kept["path"] == rec["path"] and type(kept["path"]) is type(rec["path"])
    assert dict(kept) == rec and list(kept) == list(rec)
    for twin in (copy.copy(kept), copy.deepcopy(kept), pickle.loads(pickle.dumps(kept))):
        assert dict(twin) == rec


def test_records_at_the_layouts_place_hold_no_path() -> None:
    """2,000 records whose paths are the layout's take at least 60 bytes less each than
    records whose paths are not (measured by allocation, not time)."""

    def held(paths: list[str]) -> int:
        lines = [json.dumps(done(10000001 + n, p)) for n, p in enumerate(paths)]
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            kept = [DoneRecord.from_json(json.loads(line)) for line in lines]
            assert len(kept) == len(lines)
            return tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()

    ids = range(10000001, 10002001)
    at_layout = held([image_path(i, "thumbnail") for i in ids])
    elsewhere = held([image_path(i, "thumbnail").replace("images/", "moved/") for i in ids])
    assert elsewhere - at_layout > 60 * 2000, (at_layout, elsewhere)


def test_refs_share_context_and_pairs_and_keep_types() -> None:
    """Refs read through one shared dict share equal context values and label pairs, and a
    value of another type than the one shared (True, 1.0 against 1) stays what it was."""
    shared: dict[Any, Any] = {}

    def ref(image_id: int, **fields: Any) -> ImageRef:
        data = ImageRef(image_id).to_json()
        data.update(fields)
        return ImageRef.from_json(json.loads(json.dumps(data)), shared)

    labels = [["Gene Symbol", "ECT2"], ["Phenotype", "big"]]
    a = ref(1, project_id=1801, dataset_id=40001, dataset_name="dataset-0001", labels=labels)
    b = ref(2, project_id=1801, dataset_id=40001, dataset_name="dataset-0001", labels=labels[:1])
    assert a.dataset_name is b.dataset_name and a.dataset_id is b.dataset_id
    assert a.labels[0] is b.labels[0]  # a pair of labels met before, in other labels
    c = ref(5, labels=[["Gene Symbol", "BUB1B"], [True, "big"]])
    assert c.labels[0][0] is a.labels[0][0]  # a key met before, in another pair
    assert c.labels[1] == (True, "big") and type(c.labels[1][0]) is bool
    odd = ref(3, project_id=True, dataset_id=40001.0, plate_id=1, plate_name="1")
    assert json.dumps(odd.to_json()) == json.dumps(
        {**ImageRef(3).to_json(), "plate_id": 1, "plate_name": "1", "project_id": True}
        | {"dataset_id": 40001.0}
    )
    assert type(ref(4, screen_id=1).screen_id) is int


def test_status_writer_tags_are_shared_but_other_extras_keep_their_values() -> None:
    """Extra keys of string values share one dict; ``true`` and ``1`` stay apart."""
    shared: dict[Any, Any] = {}
    one = DoneRecord.from_json({**done(1, "p"), "_writer": "w1"}, shared)
    two = DoneRecord.from_json({**done(2, "p"), "_writer": "w1"}, shared)
    assert one["_writer"] == two["_writer"] == "w1"
    linked_true = DoneRecord.from_json({**done(3, "p", kind="paths"), "linked": True}, shared)
    linked_one = DoneRecord.from_json({**done(4, "p", kind="paths"), "linked": 1}, shared)
    assert linked_true["linked"] is True and type(linked_one["linked"]) is int


def _journal(folder: Path, writer: str, records: list[dict[str, Any]]) -> None:
    with Journal(folder, writer) as handle:
        handle.append(records)


@pytest.mark.parametrize("first", ["a", "b"])
def test_ties_in_t_go_to_the_later_journal_in_every_order_of_reading(
    tmp_path: Path, first: str
) -> None:
    """Done and image records tied in ``t`` go to the later journal name, whether the
    records came in one load or in a load and then the appends after it (the fold kept)."""
    image = ImageRef(5, image_name="from a").to_json()
    other = ImageRef(5, image_name="from b").to_json()
    by = {
        "a": [done(5, "from-a"), {"rec": "image", "ref": image, "t": 2.0}],
        "b": [done(5, "from-b"), {"rec": "image", "ref": other, "t": 2.0}],
    }
    second = "b" if first == "a" else "a"
    _journal(tmp_path, first, by[first])
    JournalState.load(tmp_path)  # the fold is kept: the next load reads the appends only
    _journal(tmp_path, second, by[second])
    _journal(tmp_path, first, [done(5, f"again-{first}")])
    caught = JournalState.load(tmp_path)
    journal._memo = None
    fresh = JournalState.load(tmp_path, remember=False)
    assert caught.done == fresh.done and caught.images == fresh.images
    assert fresh.done[("thumbnail", 5)]["path"] == ("from-b" if first == "a" else "again-b")
    assert fresh.images[5].image_name == "from b"


def test_verify_finds_the_files_no_record_names(tmp_path: Path) -> None:
    """verify's look for unrecorded files of ``images/`` tells a record's file by the kind
    and id its name holds, and still finds the files at another's place or left over."""
    from harvester.verify import unrecorded_files

    moved = "images/000/000/8.thumbnail.jpg"  # record 9's file, at image 8's place
    records = [
        done(7, image_path(7, "thumbnail")),
        done(7, image_path(7, "stack"), kind="stack"),
        done(9, moved),
        {**done(10, image_path(10, "render")), "kind": "render"},
    ]
    state = JournalState.from_records(records)
    strays = [
        image_path(9, "thumbnail"),  # record 9's layout place, but it names another path
        image_path(10, "render").replace(".jpg", ".png"),  # another extension
        "images/001/000/7.thumbnail.jpg",  # another bucket
        "images/000/000/07.thumbnail.jpg",
        "images/000/000/11.thumbnail.jpg",  # no record
        "images/000/000/notes.txt",
    ]
    for rel in [r["path"] for r in records] + strays:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert unrecorded_files(tmp_path, state) == sorted(strays)
