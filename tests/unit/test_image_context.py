"""The context of an image given by id, from imgData's ``meta`` and from its journal record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harvester.journal import Journal, JournalState
from harvester.models import ImageRef, has_context, with_context_of, with_meta
from harvester.walk import AskedRef

#: IDR's imgData meta of an HCS image (idr0013, 2026): no single dataset or project.
IDR_HCS_META: dict[str, Any] = {
    "imageName": "Plate8_Actinome1 [Well O02 Field #1]",
    "imageDescription": "",
    "imageAuthor": "Public data",
    "projectName": "Multiple",
    "projectId": None,
    "projectDescription": "",
    "datasetName": "Multiple",
    "datasetId": None,
    "datasetDescription": "",
    "wellSampleId": "",
    "wellId": 45217,
    "imageTimestamp": 1194540393.0,
    "imageId": 122770,
    "pixelsType": "uint16",
}
DATASET_META: dict[str, Any] = {
    "imageName": 'a, "b"\n.tif',
    "projectName": "p",
    "projectId": 51,
    "datasetName": "CDK5RAP2-C",
    "datasetId": 51,
    "wellSampleId": 7,  # older servers: an int, not a well
    "wellId": "",
}


def test_meta_of_an_hcs_image_gives_its_name_and_well() -> None:
    """An HCS image's metadata gives its name and well."""
    ref = with_meta(ImageRef(122770), IDR_HCS_META)
    assert ref == ImageRef(122770, image_name="Plate8_Actinome1 [Well O02 Field #1]", well_id=45217)
    assert has_context(ref)


def test_meta_of_a_dataset_image_gives_dataset_and_project() -> None:
    """A dataset image's metadata gives its name, dataset and project."""
    ref = with_meta(ImageRef(5), DATASET_META)
    assert (ref.image_name, ref.well_id) == ('a, "b"\n.tif', None)
    assert (ref.dataset_id, ref.dataset_name, ref.project_id) == (51, "CDK5RAP2-C", 51)


def test_meta_fills_empty_fields_only_and_ignores_wrong_types() -> None:
    """Metadata fills only empty fields, and values of the wrong type are ignored."""
    walked = ImageRef(1, image_name="walk", plate_id=3, well_id=9, well_row=0, dataset_id=None)
    assert with_meta(walked, {**IDR_HCS_META, "wellId": 10}) is walked  # nothing empty to fill
    odd = {"imageName": 7, "wellId": True, "datasetId": "51", "datasetName": "x", "projectId": 1.0}
    assert with_meta(ImageRef(1), odd) == ImageRef(1)
    assert with_meta(ImageRef(1), None) == ImageRef(1)
    assert with_meta(ImageRef(1), ["meta"]) == ImageRef(1)


def test_the_walkers_asked_ref_stays_one() -> None:
    """A walker's asked ref stays one, with its labels, once filled from metadata."""
    ref = AskedRef(image_id=1, labels=(("Gene", "X"),))
    completed = with_meta(ref, IDR_HCS_META)
    assert isinstance(completed, AskedRef) and completed.labels == (("Gene", "X"),)


def test_a_bare_ref_takes_the_journaled_context_but_keeps_its_labels() -> None:
    """A bare ref takes the journaled context but keeps its own labels and given fields."""
    journaled = ImageRef(1, "n", 2, 3, "plate", 4, 0, 0, 0, None, None, None, "", (("a", "b"),))
    ref = with_context_of(ImageRef(1, labels=(("c", "d"),)), journaled)
    assert ref == ImageRef(1, "n", 2, 3, "plate", 4, 0, 0, 0, None, None, None, "", (("c", "d"),))
    named = with_context_of(ImageRef(1, image_name="given"), journaled)
    assert named.image_name == "given" and named.well_row == 0  # row A (0) is a value
    assert with_context_of(ImageRef(1), ImageRef(1)) == ImageRef(1)


def test_the_completed_record_is_the_one_folded(tmp_path: Path) -> None:
    """Bare then completed in one batch (same ``t``): the later line wins, on load as live;
    a later walk's record replaces it; a "labels not asked" mark follows the newest record."""
    bare = {"rec": "image", "ref": ImageRef(1).to_json(), "t": 5.0, "labels_asked": False}
    completed = dict(bare, ref=with_meta(ImageRef(1), IDR_HCS_META).to_json())
    with Journal(tmp_path, "w1") as journal:
        journal.append([bare, completed])
    state = JournalState.load(tmp_path, remember=False)
    assert state.images[1].well_id == 45217 and state.labels_unasked == {1}
    live = JournalState.from_records([])
    for rec in (bare, completed):
        live.apply(rec)
    assert live.images == state.images and live.labels_unasked == {1}

    walk = {"rec": "image", "ref": ImageRef(1, "w", 2, 3, "p", 4).to_json(), "t": 6.0}
    with Journal(tmp_path, "w2") as journal:
        journal.append([walk])
    state = JournalState.load(tmp_path, remember=False)
    assert state.images[1] == ImageRef(1, "w", 2, 3, "p", 4) and state.labels_unasked == set()
