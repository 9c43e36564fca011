"""walk.ListingDigest: a rerun's digest of a listing is the saved file's (README: study files).

A saved dataset's images.json is compared with the rerun's fresh listing by the SHA-256 the
journal keeps for the file; a digest that drifted from ``json_bytes`` would read every saved
listing at every rerun, and one fed page by page must equal the file's whole.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from harvester.walk import ListingDigest, _listing_differs, json_bytes, listed_ids

ITEMS: list[dict[str, Any]] = [
    {"id": 4300001, "name": "café \u00e9\u4e2d", "ownerId": 2, "permsCss": ""},
    {"id": 4300002, "name": 'quote " and \\', "archived": False, "filesetId": None},
    {"id": 4300003, "name": "x", "nested": {"@id": 7, "list": [1, 2.5, "z"]}},
]


@pytest.mark.parametrize("pages", [[], [ITEMS], [ITEMS[:1], ITEMS[1:]], [ITEMS[:2], [], ITEMS[2:]]])
def test_the_digest_fed_by_pages_is_the_saved_files(pages: list[list[dict[str, Any]]]) -> None:
    """Fed in any pages, the digest is the SHA-256 of json_bytes({"images": all items})."""
    digest = ListingDigest("images")
    for page in pages:
        digest.add(page)
    whole = [item for page in pages for item in page]
    assert digest.hexdigest() == hashlib.sha256(json_bytes({"images": whole})).hexdigest()
    assert digest.ids == [item["id"] for item in whole]


def test_listed_ids_reads_a_saved_listing_and_nothing_else() -> None:
    """The ids of a saved listing, sorted; None for a file that is no such listing."""
    saved = json_bytes({"images": [ITEMS[2], ITEMS[0], "odd"]})
    assert listed_ids(saved, "images") == [4300001, 4300003]
    assert listed_ids(saved, "datasets") is None
    assert listed_ids(b"", "images") is None
    assert listed_ids(b"[1, 2]", "images") is None
    assert listed_ids(b"[" * 100_000 + b"]" * 100_000, "images") is None  # (RecursionError)


@pytest.mark.parametrize("pages", [[], [ITEMS], [ITEMS[:1], ITEMS[1:]], [ITEMS[:2], [], ITEMS[2:]]])
def test_the_pages_held_make_the_file_the_digest_hashes(pages: list[list[dict[str, Any]]]) -> None:
    """Pages held (room enough) make json_bytes({"images": all items}), the digest's bytes;
    with too little room for them, none is held (the file is None)."""
    whole = json_bytes({"images": [item for page in pages for item in page]})
    held = ListingDigest("images", hold=len(whole))
    cramped = ListingDigest("images", hold=len(whole) // 2 or 1)
    for page in pages:
        held.add(page)
        cramped.add(page)
    assert held.file() == whole
    assert hashlib.sha256(whole).hexdigest() == held.hexdigest()
    assert cramped.file() == (None if any(pages) else whole)  # (an empty listing: no page)
    assert ListingDigest("images").file() is None  # (nothing held unless asked)


def test_a_projects_listing_differs_in_a_childs_count_and_an_images_does_not() -> None:
    """A dataset's childCount changed alone makes a saved datasets.json differ (the count
    of images it gives is the dataset's images.json's); a name or permsCss changed alone
    does not, nor does a count in an images.json."""
    saved = [{"id": 62001, "name": "A", "childCount": 3, "permsCss": ""}]
    for key, item, differs in (
        ("datasets", {"id": 62001, "name": "A", "childCount": 2, "permsCss": ""}, True),
        ("datasets", {"id": 62001, "name": "B", "childCount": 3, "permsCss": "canEdit"}, False),
        ("images", {"id": 62001, "name": "A", "childCount": 2, "permsCss": ""}, False),
    ):
        fresh = ListingDigest(key)
        fresh.add([item])
        data = json_bytes({key: saved})
        assert _listing_differs(data, key, fresh.ids, fresh.hexdigest()) is differs, key
    assert listed_ids(json_bytes({"plates": saved}), "plates") == [(62001, 3)]
