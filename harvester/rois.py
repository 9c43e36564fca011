"""The ``rois`` artifact: an image's regions of interest, every page of them, in one file.

The JSON API lists an image's ROIs (with their shapes) at ``api/v0/m/images/{id}/rois/``,
in pages of at most ``maxLimit`` (1000 on IDR): ``{"data": [...], "meta": {"offset",
"limit", "maxLimit", "totalCount"}}``. The harvester asks ``offset=0&limit=1000`` first;

* when that one page holds every ROI (``totalCount`` of them, none included), its body is
  stored as the server sent it, byte for byte;
* otherwise the further pages are asked, each through the same client (rate limit, retries),
  ``offset`` moving on by the number of ROIs each page brought (a server with a smaller
  ``maxLimit`` clamps ``limit`` silently), and ONE document is stored: ``{"data": [every ROI
  in the server's order], "meta": {"offset": 0, "limit": N, "maxLimit": <the server's>,
  "totalCount": N}}``, i.e. what one page of ``limit=N`` would have been had the server
  allowed it, serialised as OMERO.web serialises (``json.dumps`` default separators).

A page that still fails after its retries fails the whole artifact: no file is written,
nothing of the pages already fetched is kept, and the next run asks every page again.
Likewise a listing whose ``totalCount`` changes between pages, or a page that brings no ROI
before ``totalCount`` is reached (asking on could loop for ever).

The number of ROIs (``totalCount``) is known once the file is stored; :func:`fetch_rois`
returns it with the bytes, for the journal record and index.csv's ``roi_count`` column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harvester import urls
from harvester.client import Client, Expect, Fetched
from harvester.errors import InvalidBodyError
from harvester.store import Store

#: ROIs asked per page: IDR's (and OMERO.web's default) ``omero.web.api.max_limit``.
ROIS_PAGE = urls.API_PAGE

#: The journal/layout kind of the artifact (``Artifact.ROIS.value``).
ROIS_KIND = "rois"
#: The done record's key (and index.csv's column) with the number of ROIs.
ROI_COUNT_KEY = "roi_count"

#: Pages asked at most for one image (a safety bound: 10 million ROIs at 1000 a page).
MAX_PAGES = 10_000


@dataclass(frozen=True, slots=True)
class RoisFile:
    """What to store for one image: the file's bytes and how many ROIs it holds."""

    body: bytes
    count: int
    pages: int


def _page_of(fetched: Fetched) -> tuple[list[Any], dict[str, Any]]:
    """The ``data`` list and ``meta`` of a listing page, else :class:`InvalidBodyError`."""
    body = fetched.json()
    data = body.get("data") if isinstance(body, dict) else None
    meta = body.get("meta") if isinstance(body, dict) else None
    total = meta.get("totalCount") if isinstance(meta, dict) else None
    if (
        not isinstance(data, list)
        or not isinstance(meta, dict)
        or isinstance(total, bool)
        or not isinstance(total, int)
        or total < 0
    ):
        raise InvalidBodyError(
            "ROI listing without a data list and meta.totalCount",
            url=fetched.url,
            status=fetched.status,
        )
    if not all(isinstance(item, dict) for item in data):
        raise InvalidBodyError(
            "ROI listing with an entry that is not an object",
            url=fetched.url,
            status=fetched.status,
        )
    return data, meta


def check_page(fetched: Fetched) -> None:
    """Client-side check of one page (a bad body is retried like any other)."""
    _page_of(fetched)


async def fetch_rois(client: Client, image_id: int) -> RoisFile:
    """Every ROI of ``image_id``: the one page as it came, or the pages merged.

    Raises the failing page's :class:`~harvester.errors.FetchError` (after the client's
    retries), or :class:`InvalidBodyError` for pages that do not add up.
    """
    fetched = await client.get(urls.image_rois(image_id, 0, ROIS_PAGE), Expect.JSON, check_page)
    data, meta = _page_of(fetched)
    total = meta["totalCount"]
    if len(data) >= total:
        return RoisFile(fetched.body, len(data), 1)
    rois: list[Any] = list(data)
    pages = 1
    while len(rois) < total:
        if not data:
            raise InvalidBodyError(
                f"ROI page at offset {len(rois)} is empty before totalCount {total}",
                url=fetched.url,
                status=fetched.status,
            )
        if pages >= MAX_PAGES:
            raise InvalidBodyError(
                f"more than {MAX_PAGES} pages of ROIs", url=fetched.url, status=fetched.status
            )
        fetched = await client.get(
            urls.image_rois(image_id, len(rois), ROIS_PAGE), Expect.JSON, check_page
        )
        data, page_meta = _page_of(fetched)
        pages += 1
        if page_meta["totalCount"] != total:
            raise InvalidBodyError(
                f"ROI count changed while paging ({total} -> {page_meta['totalCount']})",
                url=fetched.url,
                status=fetched.status,
            )
        rois.extend(data)
    del rois[total:]  # a server answering past totalCount: keep what it said it has
    merged = {
        "data": rois,
        "meta": {
            "offset": 0,
            "limit": total,
            "maxLimit": meta.get("maxLimit", ROIS_PAGE),
            "totalCount": total,
        },
    }
    return RoisFile(json.dumps(merged).encode("utf-8"), total, pages)


async def store_rois(store: Store, image_id: int, rel_path: str, got: RoisFile) -> None:
    """Queue the rois file; its done record carries ``roi_count``.

    The journal keeps extra keys of a done record (:class:`~harvester.journal.DoneRecord`),
    and index.csv's ``roi_count`` column reads it from there (no file is read back).
    """
    await store.put_bytes(ROIS_KIND, image_id, rel_path, got.body, extra={ROI_COUNT_KEY: got.count})


__all__ = [
    "MAX_PAGES",
    "ROIS_KIND",
    "ROIS_PAGE",
    "ROI_COUNT_KEY",
    "RoisFile",
    "check_page",
    "fetch_rois",
    "store_rois",
]
