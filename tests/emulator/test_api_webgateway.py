"""Contract tests of webgateway plate grids, well children and tables (idr-api.md §3, §8)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_helpers import call

from harvester.emulator import catalogue as c
from harvester.emulator.app import App, build_app

# Keys of a grid cell in plategrid.py's insertion order, and the real body's top-level keys.
CELL_KEYS = ["type", "id", "name", "description", "author", "date", "wellId", "field", "thumb_url"]
GRID_KEYS = ["grid", "collabels", "rowlabels", "image_sizes"]
# Top-level keys of idr-samples/webgateway_table_query_Screen.plateLinks.child.wells_45217.json
TABLE_KEYS = [
    "data",
    "meta",
    "id",
    "annId",
    "owner",
    "addedBy",
    "parentType",
    "parentId",
    "addedOn",
]


@pytest.fixture(scope="module")
def app() -> App:
    """The demo application."""
    return build_app("demo")


def get_json(app: App, url: str) -> Any:
    """GET ``url``, assert 200 JSON, parse it."""
    resp = call(app, url)
    assert resp.status == 200, (url, resp.body[:300])
    assert resp.content_type == "application/json"
    return json.loads(resp.body)


def test_grid_expands_to_8x12_with_null_cells(app: App) -> None:
    """Demo plates image only A1-B4, yet the grid is 8x12 with nulls; int collabels."""
    body = get_json(app, f"/webgateway/plate/{c.DEMO_PLATE_ID}/")
    assert list(body) == GRID_KEYS
    assert body["collabels"] == list(range(1, 13))
    assert body["rowlabels"] == list("ABCDEFGH")
    grid = body["grid"]
    assert len(grid) == 8 and all(len(row) == 12 for row in grid)
    cells = [cell for row in grid for cell in row if cell is not None]
    assert len(cells) == c.DEMO_WELLS_PER_PLATE
    assert grid[0][4] is None and grid[2][0] is None
    first = grid[0][0]
    assert list(first) == CELL_KEYS
    assert first["id"] == c.DEMO_IMAGE_ID and first["wellId"] == c.DEMO_WELL_ID
    assert first["name"] == "1988 [Well A-1; Field #1]"
    assert first["thumb_url"] == f"/webgateway/render_thumbnail/{c.DEMO_IMAGE_ID}/"
    assert isinstance(first["date"], int) and first["field"] == 0
    assert body["image_sizes"] == [{"x": 659, "y": 493, "image_id": c.DEMO_IMAGE_ID}]


def test_grid_size_param_layouts_and_fields() -> None:
    """?size= changes thumb_url; trim/shrink layouts; per-field grids; out-of-range field."""
    app = build_app("fields")
    pid = c.FIELDS_PLATE_IDS[0]
    sized = get_json(app, f"/webgateway/plate/{pid}/1/?size=64")
    cell = sized["grid"][0][0]
    assert cell["field"] == 1 and cell["thumb_url"].endswith(f"/{cell['id']}/64/")
    trim = get_json(app, f"/webgateway/plate/{pid}/?layout=trim")
    assert len(trim["grid"]) == 4 and trim["collabels"] == [1, 2, 3, 4]  # D row = empty wells
    beyond = get_json(app, f"/webgateway/plate/{pid}/7/")
    assert all(cell is None for row in beyond["grid"] for cell in row)
    assert beyond["image_sizes"] == []
    run = app.site.catalogue.plate(pid).run_ids[0]  # type: ignore[union-attr]
    by_run = get_json(app, f"/webgateway/plate/{pid}/0/{run}/")
    assert by_run["grid"][0][0]["id"] == cell["id"] - 1
    other_run = get_json(app, f"/webgateway/plate/{pid}/0/{run + 999}/")
    assert all(cell is None for row in other_run["grid"] for cell in row)


def test_grid_384_stays_16x24() -> None:
    """A 16x24 plate keeps its size under 'expand'."""
    body = get_json(build_app("plate384"), f"/webgateway/plate/{c.PLATE384_PLATE_ID}/")
    assert len(body["grid"]) == 16 and body["collabels"][-1] == 24 and body["rowlabels"][-1] == "P"


def test_unknown_plate_is_500_json(app: App) -> None:
    """An unknown plate id: 500 JSON with the serialisation message and a stack trace."""
    resp = call(app, "/webgateway/plate/1/")
    assert resp.status == 500 and resp.content_type == "application/json"
    body = json.loads(resp.body)
    assert list(body) == ["message", "stacktrace"]
    assert body["message"] == "Object of type type is not JSON serializable"
    assert body["stacktrace"].startswith("Traceback")


def test_grid_jsonp_callback(app: App) -> None:
    """@jsonp: ?callback=name wraps the JSON; a bad name is 400."""
    resp = call(app, f"/webgateway/plate/{c.DEMO_PLATE_ID}/?callback=cb")
    assert resp.content_type == "application/javascript" and resp.body.startswith(b"cb({")
    assert call(app, f"/webgateway/plate/{c.DEMO_PLATE_ID}/?callback=a-b").status == 400


def test_well_children_and_well_data() -> None:
    """well/{id}/children/: one entry per field with position and run suffix; unknown -> 500."""
    app = build_app("fields")
    well = app.site.catalogue.wells(c.FIELDS_PLATE_IDS[0])[0]
    children = get_json(app, f"/webgateway/well/{well.id}/children/")
    assert len(children) == c.FIELDS_PER_WELL
    assert list(children[0]) == [
        "type",
        "id",
        "name",
        "description",
        "author",
        "date",
        "thumb_url",
        "position",
    ]
    assert " [Run: " in children[0]["name"] and isinstance(children[0]["date"], float)
    assert set(children[1]["position"]) == {"x", "y"}
    missing = call(app, "/webgateway/well/5/children/")
    assert missing.status == 500 and missing.body == b'""'
    data = get_json(app, f"/webgateway/wellData/{well.id}/")
    assert data["wellPos"] == "A1" and data["wellId"] == well.id


def test_table_query_shape(app: App) -> None:
    """webgateway/table query: the real body's keys; unknown object -> 200 + error."""
    url = f"/webgateway/table/Screen.plateLinks.child.wells/{c.DEMO_WELL_ID}/query/"
    body = get_json(app, url + f"?query=Well-{c.DEMO_WELL_ID}")
    assert list(body) == TABLE_KEYS
    assert list(body["data"]) == ["column_types", "columns", "rows"]
    assert list(body["meta"]) == ["rowCount", "totalCount", "limit", "offset"]
    (row,) = body["data"]["rows"]
    assert row[:2] == [c.DEMO_PLATE_ID, c.DEMO_WELL_ID]
    assert "Gene Symbol" in body["data"]["columns"]
    assert body["parentType"] == "Screen" and body["parentId"] == c.DEMO_SCREEN_ID
    err = get_json(app, "/webgateway/table/Screen.plateLinks.child.wells/1/query/?query=*")
    assert list(err) == ["error"]
