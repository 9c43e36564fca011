"""IDR's search engine: ``/searchengine/api/v1/resources/{resource}/search/`` (idr-api.md §9.2).

The search engine is a Flask app (``omero_search_engine``), not OMERO.web:
its JSON comes from ``jsonify`` (keys sorted, compact separators), it sets
no session cookie, and its errors are HTTP 200 ``{"Error": "..."}``. Hits are
ordered by id and paged with ``search_after``: each page carries
``bookmark: [<last id>]`` and the next request passes ``?bookmark=<id>``.
The first page (no bookmark) also carries ``pagination``; a page past the
end has ``"results": []`` (a list, not the usual object), as the real code
returns. The page size is ``Site.search_page_size`` (1000 like IDR; tests
shrink it).

Matching is on the emulated mapr keys (``Gene Symbol``, ``Gene Identifier``,
``siRNA Identifier``, ``siRNA Pool Identifier``, ``Phenotype``, ``Phenotype
Term Accession``) with ``operator`` equals (default), contains,
not_equals, not_contains; case-insensitive unless ``case_sensitive=true``.
Screens and projects also match on their study keys (``Organism`` ...).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from harvester.emulator.catalogue import GROUP_ID, OWNER_ID, Catalogue, Well
from harvester.emulator.http import Request, Response, Route
from harvester.emulator.routes_common import JSON
from harvester.emulator.site import Site

RESOURCES = ("image", "screen", "project", "plate", "well")
OPERATORS = ("equals", "contains", "not_equals", "not_contains")
NO_RESULTS = "Your query returns no results"


def flask_json(obj: Any, status: int = 200) -> Response:
    """``flask.jsonify``: sorted keys, compact separators, ASCII-escaped."""
    body = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("ascii")
    return Response(status=status, body=body + b"\n", content_type=JSON)


def _error(message: str) -> Response:
    return flask_json({"Error": message})


def _key_values(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"name": k, "value": v, "index": i} for i, (k, v) in enumerate(pairs)]


def _image_hit(cat: Catalogue, image_id: int) -> dict[str, Any] | None:
    loc = cat.locate(image_id)
    if loc is None:
        return None
    return {
        "id": image_id,
        "name": loc.image.name,
        "description": "",
        "key_values": _key_values(cat.sample_values(loc)),
        "project_id": loc.project.id if loc.project else None,
        "project_name": loc.project.name if loc.project else None,
        "dataset_id": loc.dataset.id if loc.dataset else None,
        "dataset_name": loc.dataset.name if loc.dataset else None,
        "screen_id": loc.screen.id if loc.screen else None,
        "screen_name": loc.screen.name if loc.screen else None,
        "plate_id": loc.plate.id if loc.plate else None,
        "plate_name": loc.plate.name if loc.plate else None,
        "well_id": loc.well.id if loc.well else None,
        "wellsample_id": loc.image.well_sample_id,
        "owner_id": OWNER_ID,
        "group_id": GROUP_ID,
    }


def _well_hit(cat: Catalogue, well: Well) -> dict[str, Any]:
    plate = cat.plate(well.plate_id)
    assert plate is not None
    screen = cat.screen(plate.screen_id)
    assert screen is not None
    pairs = [kv for ann in cat.well_annotations(well.id) for kv in ann.values]
    return {
        "id": well.id,
        "name": well.label,
        "description": "",
        "key_values": _key_values(pairs),
        "plate_id": plate.id,
        "plate_name": plate.name,
        "screen_id": screen.id,
        "screen_name": screen.name,
        "owner_id": OWNER_ID,
        "group_id": GROUP_ID,
    }


def _container_hit(cat: Catalogue, kind: str, obj_id: int, name: str) -> dict[str, Any]:
    pairs: list[tuple[str, str]] = []
    if kind in ("screen", "project"):
        ann = cat.study_annotation("screen" if kind == "screen" else "project", obj_id)
        if ann is not None:
            pairs = list(ann.values)
    return {
        "id": obj_id,
        "name": name,
        "description": "",
        "key_values": _key_values(pairs),
        "owner_id": OWNER_ID,
        "group_id": GROUP_ID,
    }


def _parse_bookmark(text: str | None) -> int | None:
    """``bookmark=123`` or ``bookmark=[123]``; junk -> None (treated as absent)."""
    if not text:
        return None
    m = re.fullmatch(r"\[?\s*(\d+)\s*\]?", text.strip())
    return int(m.group(1)) if m else None


def _pagination(total_pages: int, bookmark: list[int]) -> dict[str, Any]:
    """``get_pagination`` for the first page."""
    return {
        "total_pages": total_pages,
        "page_records": [{"page": 2, "bookmark": bookmark}],
        "current_page": 1,
        "next_page": 2 if total_pages > 1 else None,
    }


def search(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``GET {resource}/search/?key=&value=[&operator=][&case_sensitive=][&bookmark=]``."""
    resource = match.group("resource")
    if resource not in RESOURCES:
        return _error(f"{resource} is not a valid resurce")
    key = req.param("key")
    value = req.param("value")
    if not key or value is None:
        return _error("Key and value are required")
    operator = (req.param("operator") or "equals").strip()
    if operator not in OPERATORS:
        return _error(f"Operator {operator} is not supported")
    case_sensitive = (req.param("case_sensitive") or "").lower() == "true"
    after = _parse_bookmark(req.param("bookmark"))
    cat = site.catalogue
    page_size = site.search_page_size
    genes = cat.matching_genes(key, value, operator, case_sensitive)
    hits: list[dict[str, Any]]
    if resource == "image":
        ids, total = cat.search_images(genes, after or 0, page_size)
        hits = [h for h in (_image_hit(cat, i) for i in ids) if h is not None]
    elif resource == "well":
        wells, total = cat.search_wells(genes, after or 0, page_size)
        hits = [_well_hit(cat, w) for w in wells]
    else:
        kind: Literal["screen", "project", "plate"] = (
            "screen" if resource == "screen" else "project" if resource == "project" else "plate"
        )
        found = sorted(
            cat.containers_with(kind, key, value, operator, case_sensitive), key=lambda c: c[1]
        )
        total = len(found)
        hits = [_container_hit(cat, k, i, n) for k, i, n in found if after is None or i > after]
        hits = hits[:page_size]
    if total == 0:
        return _error(NO_RESULTS)
    total_pages = -(-total // page_size)
    results: Any
    if not hits:
        results = []  # the real code returns its empty hit list here
    else:
        bookmark = [hits[-1]["id"]]
        results = {"bookmark": bookmark, "results": hits, "size": total, "total_pages": total_pages}
        if after is None:
            results["pagination"] = _pagination(total_pages, bookmark)
    filters = [{"name": key, "operator": operator, "resource": resource, "value": value}]
    return flask_json(
        {
            "notice": "",
            "query_details": {
                "and_filters": filters,
                "case_sensitive": case_sensitive,
                "or_filters": [],
            },
            "raw_elasticsearch_query": {
                "query": {
                    "bool": {
                        "must": [
                            {
                                "nested": {
                                    "path": "key_values",
                                    "query": {
                                        "bool": {
                                            "must": [
                                                {
                                                    "match": {
                                                        "key_values.value.keyvaluenormalize": value
                                                    }
                                                },
                                                {
                                                    "match": {
                                                        "key_values.name.keynamenormalize": key
                                                    }
                                                },
                                            ]
                                        }
                                    },
                                }
                            }
                        ]
                    }
                }
            },
            "resource": resource,
            "results": results,
            "server_query_time": "0.01",
        }
    )


def search_index(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``/searchengine/api/v1/resources/``: the plain-text banner."""
    return Response(body=b"OMERO search engine (API V1)", content_type="text/html; charset=utf-8")


ROUTES: list[Route] = [
    Route(
        "searchengine_search",
        re.compile(r"/searchengine/api/v1/resources/(?P<resource>[^/]+)/search/"),
        search,
    ),
    Route("searchengine_index", re.compile(r"/searchengine/api/v1/resources/"), search_index),
]
