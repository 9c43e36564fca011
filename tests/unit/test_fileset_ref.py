"""FilesetRef: the fileset a listing named rides on the ref, never into the journal."""

from __future__ import annotations

from harvester.models import FilesetRef, ImageRef, fileset_of
from harvester.walk import AskedFilesetRef, AskedRef, _with_fileset


def test_a_fileset_ref_is_the_same_image_and_journals_as_one() -> None:
    """Equal to and hashed as the plain ref with the same values (a rerun's journaled ref:
    not journaled again), its fileset kept out of the record and told by fileset_of."""
    fields = {"image_id": 5, "image_name": "a.lif [Series 1]", "dataset_id": 3, "project_id": 2}
    plain = ImageRef(**fields)  # type: ignore[arg-type]
    for ref in (FilesetRef(**fields, fileset_id=9), AskedFilesetRef(**fields, fileset_id=9)):
        assert ref == plain and plain == ref and hash(ref) == hash(plain)
        assert (plain != ref) is False  # the pipeline's test: journaled != ref
        assert ref.to_json() == plain.to_json() and "fileset_id" not in ref.to_json()
        assert fileset_of(ref) == 9
    assert isinstance(AskedFilesetRef(**fields, fileset_id=9), AskedRef)
    assert not isinstance(FilesetRef(**fields, fileset_id=9), AskedRef)
    assert fileset_of(plain) is None


def test_a_listed_fileset_keeps_the_refs_values_and_whether_its_labels_were_asked() -> None:
    """The walk's ref made keeping its listing's ``filesetId``: same values, an asked ref
    still asked (a labels run journals it so), and no fileset where the listing gave none
    or gave junk (the ref itself, unchanged)."""
    fields = {"image_id": 5, "image_name": "a", "dataset_id": 3, "labels": (("Gene", "X"),)}
    for make in (ImageRef, AskedRef):
        ref = make(**fields)  # type: ignore[arg-type]
        kept = _with_fileset(ref, 9)
        assert kept == ref and fileset_of(kept) == 9 and kept.labels == ref.labels
        assert isinstance(kept, AskedRef) is (make is AskedRef)
        for junk in (None, "9", 9.0, True):
            assert _with_fileset(ref, junk) is ref
