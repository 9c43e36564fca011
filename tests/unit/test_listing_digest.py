"""walk.ListingDigest: a rerun's digest of a listing is the saved file's (README: study files).

A saved dataset's images.json is compared with the rerun's fresh listing by the SHA-256 the
journal keeps for the file; a digest that drifted from ``json_bytes`` would read every saved
listing at every rerun, and one fed page by page must equal the file's whole.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from harvester.walk import ListingDigest, json_bytes, listed_ids

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
