"""What proves a batch of a plate's images in a fileset (harvester.plate_filesets): only a
page listing one fileset alone, holding every image of the batch; and what a batch that
proved nothing may spend on its halves."""

from __future__ import annotations

from harvester.plate_filesets import SplitFileset, parse_split_filesets, proven_in, split_budget

F = 700_001


def test_only_one_fileset_alone_holding_the_whole_batch_proves_it() -> None:
    """A page listing one fileset alone, holding every image checked, proves the batch in
    it, whichever fileset it is; a count short, two, none or no page prove nothing."""
    assert proven_in([SplitFileset(F, 5, 3)], 5) == F
    assert proven_in([SplitFileset(F + 1, 5, 3)], 5) == F + 1  # another fileset of the plate
    assert proven_in([SplitFileset(F, 4, 3)], 5) is None  # one image of the batch elsewhere
    assert proven_in([SplitFileset(F, 5, 3), SplitFileset(F + 1, 1, 2)], 5) is None
    assert proven_in([], 5) is None  # nothing split: the whole fileset given, or none
    assert proven_in(None, 5) is None  # not the dialog's page
    assert proven_in([SplitFileset(F, 0, 3)], 0) is None  # (no batch: nothing to prove)


def test_a_batch_may_be_halved_down_to_one_image_for_a_few_boundaries() -> None:
    """Four checks a level, as many levels as halving it to one image takes."""
    assert split_budget(1) == 0 and split_budget(2) == 4
    assert split_budget(250) == 32 and split_budget(47) == 24


def test_a_page_that_does_not_read_as_the_dialog_proves_nothing() -> None:
    """Another page (a login redirect's home page), or a listing without its counts."""
    assert parse_split_filesets(b"<html><body>OMERO.web</body></html>") is None
    broken = b'<div class="split_filesets_info"><div class="split_fileset">You tried</div></div>'
    assert parse_split_filesets(broken) is None
    assert parse_split_filesets(b'<div class="split_filesets_info">\n</div>') == []
