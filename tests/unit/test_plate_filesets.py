"""What proves a batch of a plate's images in a fileset (harvester.plate_filesets): only a
page listing that fileset alone, holding every image of the batch."""

from __future__ import annotations

from harvester.plate_filesets import SplitFileset, parse_split_filesets, proves

F = 700_001


def test_only_the_named_fileset_alone_holding_the_whole_batch_proves_it() -> None:
    """Only a page listing the first answer's fileset alone, holding every image checked,
    proves the batch in it: a count short, another fileset, two, none or no page do not."""
    assert proves([SplitFileset(F, 5, 3)], F, 5)
    assert not proves([SplitFileset(F, 4, 3)], F, 5)  # one image of the batch elsewhere
    assert not proves([SplitFileset(F + 1, 5, 3)], F, 5)  # another fileset
    assert not proves([SplitFileset(F, 5, 3), SplitFileset(F + 1, 1, 2)], F, 5)
    assert not proves([], F, 5)  # nothing split: the whole fileset given, or none
    assert not proves(None, F, 5)  # not the dialog's page


def test_a_page_that_does_not_read_as_the_dialog_proves_nothing() -> None:
    """Another page (a login redirect's home page), or a listing without its counts."""
    assert parse_split_filesets(b"<html><body>OMERO.web</body></html>") is None
    broken = b'<div class="split_filesets_info"><div class="split_fileset">You tried</div></div>'
    assert parse_split_filesets(broken) is None
    assert parse_split_filesets(b'<div class="split_filesets_info">\n</div>') == []
