"""Review of the "labels_asked": false mark (d86e16c): a shard's filtered state.

A shard's store loads the records of its own images only; its ``labels_unasked`` must hold
exactly its own marked images, after a load and after catching up with other writers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harvester.journal import Journal, JournalState
from harvester.models import ImageRef


def _image(image_id: int, t: float, *, asked: bool = True) -> dict[str, Any]:
    rec: dict[str, Any] = {"rec": "image", "ref": ImageRef(image_id).to_json(), "t": t}
    if not asked:
        rec["labels_asked"] = False
    return rec


def _even(image_id: int) -> bool:
    return image_id % 2 == 0


def test_a_filtered_state_holds_the_marks_of_its_own_images_only(tmp_path: Path) -> None:
    """A shard's filtered state holds the labels-unasked marks of its own images only."""
    with Journal(tmp_path, "a") as a:
        a.append([_image(i, 1.0, asked=False) for i in range(1, 7)])
    with Journal(tmp_path, "b") as b:
        b.append([_image(2, 2.0), _image(3, 2.0)])  # asked later, by another writer
    state = JournalState.load(tmp_path, images=_even)
    assert state.labels_unasked == {4, 6}
    assert JournalState.load(tmp_path, remember=False).labels_unasked == {1, 4, 5, 6}
    with Journal(tmp_path, "c") as c:
        c.append([_image(8, 3.0, asked=False), _image(9, 3.0, asked=False), _image(4, 3.0)])
    caught = state.catch_up()
    assert caught.labels_unasked == {6, 8}
    assert set(caught.images) == {2, 4, 6, 8}
