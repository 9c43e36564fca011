"""Contract tests of the search engine emulation (idr-api.md §9.2)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from api_helpers import call

from harvester.emulator import catalogue as c
from harvester.emulator.app import App, build_app

SEARCH = "/searchengine/api/v1/resources/{}/search/?key={}&value={}"
WRAPPER_KEYS = [
    "notice",
    "query_details",
    "raw_elasticsearch_query",
    "resource",
    "results",
    "server_query_time",
]
HIT_KEYS = {
    "id",
    "name",
    "description",
    "key_values",
    "project_id",
    "project_name",
    "dataset_id",
    "dataset_name",
    "screen_id",
    "screen_name",
    "plate_id",
    "plate_name",
    "well_id",
    "wellsample_id",
    "owner_id",
    "group_id",
}


def search(app: App, resource: str, key: str, value: str, extra: str = "") -> Any:
    """Run one search, assert a 200 JSON answer, parse it."""
    resp = call(app, SEARCH.format(resource, quote(key), quote(value)) + extra)
    assert resp.status == 200 and resp.content_type == "application/json"
    return json.loads(resp.body)


def test_image_search_shape_and_matches() -> None:
    """Image hits carry the documented keys; every hit really has the gene."""
    app = build_app("demo")
    body = search(app, "image", "Gene Symbol", "ect2")
    assert list(body) == WRAPPER_KEYS  # Flask's jsonify sorts keys
    results = body["results"]
    assert list(results) == ["bookmark", "pagination", "results", "size", "total_pages"]
    hits = results["results"]
    assert hits and set(hits[0]) == HIT_KEYS
    assert results["size"] == len(hits) and results["total_pages"] == 1
    assert results["bookmark"] == [hits[-1]["id"]]
    for hit in hits:
        pairs = {(kv["name"], kv["value"]) for kv in hit["key_values"]}
        assert ("Gene Symbol", "ECT2") in pairs
    screen_hit = next(h for h in hits if h["screen_id"] == c.DEMO_SCREEN_ID)
    assert screen_hit["plate_id"] is not None and screen_hit["well_id"] is not None
    assert [h["id"] for h in hits] == sorted(h["id"] for h in hits)


def test_bookmark_paging_visits_every_hit_once() -> None:
    """With small pages, following bookmark=[last id] yields all hits, then results == []."""
    app = build_app("plate384", search_page_size=5)
    first = search(app, "image", "Gene Symbol", "CDC20")
    total = first["results"]["size"]
    assert total > 5 and first["results"]["total_pages"] == -(-total // 5)
    assert first["results"]["pagination"]["next_page"] == 2
    seen = [h["id"] for h in first["results"]["results"]]
    bookmark = first["results"]["bookmark"][0]
    while True:
        page = search(app, "image", "Gene Symbol", "CDC20", f"&bookmark={bookmark}")
        if page["results"] == []:
            break
        assert "pagination" not in page["results"]
        seen += [h["id"] for h in page["results"]["results"]]
        bookmark = page["results"]["bookmark"][0]
    assert len(seen) == total == len(set(seen)) and seen == sorted(seen)


def test_no_results_is_200_error() -> None:
    """A query without hits answers HTTP 200 {"Error": "Your query returns no results"}."""
    app = build_app("demo")
    body = search(app, "image", "Gene Symbol", "NOSUCHGENE")
    assert body == {"Error": "Your query returns no results"}
    assert "Error" in search(app, "image", "Gene Symbol", "ect2", "&operator=bogus")


def test_operators_and_case_sensitivity() -> None:
    """contains matches substrings; case_sensitive=true makes 'ect2' miss 'ECT2'."""
    app = build_app("plate384")
    contains = search(app, "image", "Gene Symbol", "KIF", "&operator=contains")
    symbols = {
        kv["value"]
        for h in contains["results"]["results"]
        for kv in h["key_values"]
        if kv["name"] == "Gene Symbol"
    }
    assert symbols and all("KIF" in s for s in symbols) and len(symbols) > 1
    strict = search(app, "image", "Gene Symbol", "ect2", "&case_sensitive=true")
    assert strict == {"Error": "Your query returns no results"}


def test_well_screen_plate_project_resources() -> None:
    """Wells, plates, screens and projects are searchable; study keys match containers."""
    app = build_app("demo")
    wells = search(app, "well", "Gene Symbol", "ECT2")["results"]["results"]
    assert wells and all(w["screen_id"] == c.DEMO_SCREEN_ID for w in wells)
    screens = search(app, "screen", "Organism", "Homo sapiens")["results"]["results"]
    assert [s["id"] for s in screens] == [c.DEMO_SCREEN_ID]
    projects = search(app, "project", "Gene Symbol", "ECT2")["results"]["results"]
    assert [p["id"] for p in projects] == [c.DEMO_PROJECT_ID]
    plates = search(app, "plate", "Gene Symbol", "ECT2")["results"]["results"]
    assert plates and {p["id"] for p in plates} <= set(c.DEMO_PLATE_IDS)


def test_searchengine_sets_no_cookie() -> None:
    """The search engine is not OMERO.web: no sessionid_idr cookie."""
    resp = call(build_app("demo"), SEARCH.format("image", "Gene%20Symbol", "ECT2"))
    assert all(k.lower() != "set-cookie" for k, _ in resp.headers)


def test_huge_search_pages_fast_and_counts_exactly() -> None:
    """On ``huge`` the total is exact (arithmetic) and deep bookmarks still answer."""
    app = build_app("huge")
    body = search(app, "image", "Gene Symbol", "PLK1")
    size = body["results"]["size"]
    assert size == app.site.catalogue.count_samples(
        app.site.catalogue.projects()[0].spec,
        app.site.catalogue.matching_genes("Gene Symbol", "PLK1"),
    )
    assert len(body["results"]["results"]) == 1000
    deep = search(app, "image", "Gene Symbol", "PLK1", "&bookmark=10990000")
    assert all(h["id"] > 10_990_000 for h in deep["results"]["results"])
