"""The ``runs`` preset: plates with two runs agree across every route that shows runs."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, unquote

import pytest

from harvester.emulator import catalogue as c
from harvester.emulator.app import App, build_app
from harvester.emulator.http import Request

PER_WELL = c.RUNS_PER_PLATE * c.RUNS_FIELDS_PER_RUN


@pytest.fixture(scope="module")
def app() -> App:
    """The runs application."""
    return build_app("runs")


def get_json(app: App, url: str) -> Any:
    """GET ``url`` (as an XHR), assert 200, parse the JSON body."""
    path, _, qs = url.partition("?")
    headers = {"x-requested-with": "XMLHttpRequest"}
    resp = app.handle(Request("GET", unquote(path), url, tuple(parse_qsl(qs, True)), headers))
    assert resp.status == 200, (url, resp.body[:300])
    return json.loads(resp.body)


def runs_of(plate_index: int) -> list[int]:
    first = c.RUNS_FIRST_RUN_ID + plate_index * c.RUNS_PER_PLATE
    return list(range(first, first + c.RUNS_PER_PLATE))


def test_catalogue_ids_and_runs() -> None:
    """Every well has 2 runs x 3 fields; WellSample k is in run k // 3 as field k % 3."""
    cat = c.Catalogue("runs")
    assert cat.image_count() == c.RUNS_IMAGE_COUNT == 48
    for p, plate_id in enumerate(c.RUNS_PLATE_IDS):
        plate = cat.plate(plate_id)
        assert plate is not None and list(plate.run_ids) == runs_of(p)
        assert [r.max_field_count for r in cat.runs(plate_id)] == [c.RUNS_FIELDS_PER_RUN] * 2
        for well in cat.wells(plate_id):
            ids = cat.well_image_ids(well)
            assert len(ids) == PER_WELL
            for k, image_id in enumerate(ids):
                info = cat.image(image_id)
                assert info is not None and info.field == k
                assert info.run_id == runs_of(p)[k // c.RUNS_FIELDS_PER_RUN]
                assert cat.run(info.run_id) is not None


def test_webclient_lists_two_runs_per_plate(app: App) -> None:
    """webclient: childCount 2 per plate, plate_acquisitions lists both runs by id."""
    plates = get_json(app, f"/webclient/api/plates/?id={c.RUNS_SCREEN_ID}")["plates"]
    assert [(p["id"], p["childCount"]) for p in plates] == [(i, 2) for i in c.RUNS_PLATE_IDS]
    for p, plate_id in enumerate(c.RUNS_PLATE_IDS):
        body = get_json(app, f"/webclient/api/plate_acquisitions/?id={plate_id}")
        assert [a["id"] for a in body["acquisitions"]] == runs_of(p)


def test_json_api_runs_and_wellsamples(app: App) -> None:
    """JSON API: each run's wellsampleIndex range; WellSamples name their run."""
    cat = c.Catalogue("runs")
    plate_id = c.RUNS_PLATE_IDS[1]
    runs = get_json(app, f"/api/v0/m/plates/{plate_id}/plateacquisitions/")["data"]
    assert [(r["@id"], r["MaximumFieldCount"], r["omero:wellsampleIndex"]) for r in runs] == [
        (runs_of(1)[0], 3, [0, 2]),
        (runs_of(1)[1], 3, [3, 5]),
    ]
    wells = get_json(app, f"/api/v0/m/plates/{plate_id}/wells/")["data"]
    assert len(wells) == c.RUNS_IMAGED_WELLS
    for well in wells:
        samples = well["WellSamples"]
        assert len(samples) == PER_WELL
        for sample in samples:
            info = cat.image(sample["Image"]["@id"])
            assert info is not None
            assert sample["PlateAcquisition"]["@id"] == info.run_id
    second = get_json(app, f"/api/v0/m/plateacquisitions/{runs_of(1)[1]}/wells/")["data"]
    assert len(second) == c.RUNS_IMAGED_WELLS
    for well in second:
        assert {s["PlateAcquisition"]["@id"] for s in well["WellSamples"]} == {runs_of(1)[1]}


def test_grid_field_is_relative_to_the_run(app: App) -> None:
    """webgateway/plate/{id}/{field}/{run}/: field counts from the run's first WellSample."""
    cat = c.Catalogue("runs")
    plate_id = c.RUNS_PLATE_IDS[0]
    for r, run_id in enumerate(runs_of(0)):
        for field in range(c.RUNS_FIELDS_PER_RUN):
            grid = get_json(app, f"/webgateway/plate/{plate_id}/{field}/{run_id}/")["grid"]
            cells = [cell for row in grid for cell in row if cell is not None]
            assert len(cells) == c.RUNS_IMAGED_WELLS
            for cell in cells:
                info = cat.image(cell["id"])
                assert info is not None and info.run_id == run_id
                assert info.field == r * c.RUNS_FIELDS_PER_RUN + field
        beyond = get_json(app, f"/webgateway/plate/{plate_id}/{c.RUNS_FIELDS_PER_RUN}/{run_id}/")
        assert all(cell is None for row in beyond["grid"] for cell in row)
    whole = get_json(app, f"/webgateway/plate/{plate_id}/4/")["grid"]
    assert {cell["id"] for row in whole for cell in row if cell} == {
        id_
        for well in cat.wells(plate_id)
        for k, id_ in enumerate(cat.well_image_ids(well))
        if k == 4
    }
