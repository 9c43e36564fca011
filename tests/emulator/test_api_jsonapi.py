"""Contract tests of the OMERO JSON API /api/v0/ (idr-api.md §7)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_helpers import call as api_call

from harvester.emulator import catalogue as c
from harvester.emulator.app import App, build_app
from harvester.emulator.http import Response

BASE = "http://127.0.0.1:8123"
OME = "http://www.openmicroscopy.org/Schemas/OME/2016-06#"
META_KEYS = ["offset", "limit", "maxLimit", "totalCount"]
# api_base's keys, in views.py order
BASE_KEYS = [
    "url:experimenters",
    "url:experimentergroups",
    "url:projects",
    "url:datasets",
    "url:images",
    "url:screens",
    "url:plates",
    "url:rois",
    "url:token",
    "url:servers",
    "url:login",
    "url:save",
    "url:schema",
]


@pytest.fixture(scope="module")
def app() -> App:
    """The demo application."""
    return build_app("demo")


def call(app: App, url: str, base: str = BASE) -> Response:
    """:func:`api_helpers.call` with the JSON API tests' server address."""
    return api_call(app, url, base=base)


def get_json(app: App, url: str, status: int = 200) -> Any:
    """GET ``url``, check status and JSON content type, parse it."""
    resp = call(app, url)
    assert resp.status == status, (url, resp.body[:300])
    assert resp.content_type == "application/json"
    return json.loads(resp.body)


def all_urls(obj: Any) -> list[str]:
    """Every ``url:*`` value anywhere in ``obj``."""
    out: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key.startswith("url:"):
                out += value if isinstance(value, list) else [value]
            else:
                out += all_urls(value)
    elif isinstance(obj, list):
        for item in obj:
            out += all_urls(item)
    return out


def test_versions_and_base_use_the_emulators_own_host(app: App) -> None:
    """/api/ and /api/v0/ list absolute links to this server, never the production host."""
    versions = get_json(app, "/api/")
    assert versions == {"data": [{"version": "0", "url:base": f"{BASE}/api/v0/"}]}
    base = get_json(app, "/api/v0/")
    assert list(base) == BASE_KEYS
    assert base["url:screens"] == f"{BASE}/api/v0/m/screens/"
    assert base["url:schema"] == "http://www.openmicroscopy.org/Schemas/OME/2016-06"
    assert call(app, "/api/v1/").status == 404


def test_screens_list_envelope_and_links(app: App) -> None:
    """m/screens/: envelope, meta (default limit 200, maxLimit 1000), object head keys."""
    body = get_json(app, "/api/v0/m/screens/")
    assert list(body) == ["data", "meta"]
    assert body["meta"] == {"offset": 0, "limit": 200, "maxLimit": 1000, "totalCount": 1}
    (screen,) = body["data"]
    assert list(screen)[:3] == ["@type", "@id", "omero:details"]
    assert screen["@type"] == OME + "Screen" and screen["@id"] == c.DEMO_SCREEN_ID
    assert list(screen["omero:details"]) == ["@type", "owner", "group", "permissions"]
    assert screen["url:plates"] == f"{BASE}/api/v0/m/screens/{c.DEMO_SCREEN_ID}/plates/"
    assert list(screen)[-2:] == ["url:plates", "url:screen"]
    for url in all_urls(body):
        assert url.startswith(BASE + "/api/v0/") and "idr.openmicroscopy.org" not in url


def test_api_base_url_override() -> None:
    """Site option api_base_url replaces the request's base in every link."""
    app = build_app("demo", api_base_url="https://mirror.example/")
    body = json.loads(call(app, "/api/v0/m/screens/").body)
    assert (
        body["data"][0]["url:screen"]
        == f"https://mirror.example/api/v0/m/screens/{c.DEMO_SCREEN_ID}/"
    )


def test_limit_default_clamp_zero_and_offset() -> None:
    """limit: default 200, >1000 clamped, <0 -> 200, 0 -> no data but the real total."""
    app = build_app("bigscreen")
    url = f"/api/v0/m/screens/{c.BIGSCREEN_SCREEN_ID}/plates/"
    first = get_json(app, url)
    assert len(first["data"]) == 200 and first["meta"]["totalCount"] == c.BIGSCREEN_PLATES
    clamped = get_json(app, url + "?limit=5000")
    assert clamped["meta"]["limit"] == 1000 and len(clamped["data"]) == 1000
    assert get_json(app, url + "?limit=-3")["meta"]["limit"] == 200
    zero = get_json(app, url + "?limit=0")
    assert zero["data"] == [] and zero["meta"]["totalCount"] == c.BIGSCREEN_PLATES
    tail = get_json(app, url + "?offset=1150&limit=100")
    assert len(tail["data"]) == 50 and tail["meta"]["offset"] == 1150
    assert get_json(app, url + "?offset=-5&limit=1")["meta"]["offset"] == 0
    names = [p["Name"] for p in first["data"]]
    assert names == sorted(names, key=str.lower)


def test_unknown_params_are_ignored(app: App) -> None:
    """A typo'd filter returns everything (the real API ignores unknown params)."""
    plain = get_json(app, "/api/v0/m/plates/")
    typo = get_json(app, "/api/v0/m/plates/?screeen=1&foo=bar")
    assert plain == typo and plain["meta"]["totalCount"] == 10


def test_bad_limit_is_400_json_and_bad_group_500(app: App) -> None:
    """?limit=foo -> 400 JSON (no stacktrace); ?group=x -> 500 JSON with one."""
    body = get_json(app, "/api/v0/m/screens/?limit=foo", status=400)
    assert body == {"message": "invalid literal for int() with base 10: 'foo'"}
    err = get_json(app, "/api/v0/m/screens/?group=x", status=500)
    assert list(err) == ["message", "stacktrace"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/v0/m/images/1/", "Image 1 not found"),
        ("/api/v0/m/screens/999999/", "Screen 999999 not found"),
        ("/api/v0/m/plates/2/", "Plate 2 not found"),
        ("/api/v0/m/wells/3/", "Well 3 not found"),
        ("/api/v0/m/projects/4/", "Project 4 not found"),
        ("/api/v0/m/datasets/5/", "Dataset 5 not found"),
    ],
)
def test_unknown_object_is_404_json_with_stacktrace(app: App, url: str, message: str) -> None:
    """Single-object views answer 404 JSON {message, stacktrace}."""
    body = get_json(app, url, status=404)
    assert body["message"] == message and body["stacktrace"].startswith("Traceback")


def test_single_plate_has_wellsample_index_links(app: App) -> None:
    """m/plates/{id}/: Rows/Columns, omero:wellsampleIndex and one link per index."""
    data = get_json(app, f"/api/v0/m/plates/{c.DEMO_PLATE_ID}/")["data"]
    assert (data["Rows"], data["Columns"], data["Name"]) == (8, 12, "1988")
    assert data["omero:wellsampleIndex"] == [0, 0]
    assert data["url:wellsampleindex_wells"] == [
        f"{BASE}/api/v0/m/plates/{c.DEMO_PLATE_ID}/wellsampleindex/0/wells/"
    ]
    assert list(data)[-5:] == [
        "url:screens",
        "url:wells",
        "url:plateacquisitions",
        "omero:wellsampleIndex",
        "url:wellsampleindex_wells",
    ]
    assert "RowNamingConvention" not in data  # null fields are omitted


def test_wells_are_column_major_and_empty_wells_omit_wellsamples() -> None:
    """m/plates/{id}/wells/: ordered by column then row; empty wells have no WellSamples."""
    app = build_app("fields")
    body = get_json(app, f"/api/v0/m/plates/{c.FIELDS_PLATE_IDS[0]}/wells/")
    wells = body["data"]
    positions = [(w["Column"], w["Row"]) for w in wells]
    assert positions == sorted(positions)
    assert body["meta"]["totalCount"] == c.FIELDS_IMAGED_WELLS + c.FIELDS_EMPTY_WELLS
    empty = [w for w in wells if "WellSamples" not in w]
    assert len(empty) == c.FIELDS_EMPTY_WELLS and all(w["Row"] == 3 for w in empty)
    full = next(w for w in wells if "WellSamples" in w)
    assert len(full["WellSamples"]) == c.FIELDS_PER_WELL
    sample = full["WellSamples"][0]
    assert sample["@type"] == OME + "WellSample"
    assert sample["Image"]["url:image"].startswith(f"{BASE}/api/v0/m/images/")
    assert "Pixels" not in sample["Image"] and "PlateAcquisition" in sample
    assert list(full)[-2:] == ["url:well", "url:plates"]


def test_wellsampleindex_lists_one_field(app: App) -> None:
    """m/plates/{id}/wellsampleindex/{i}/wells/ returns only samples at index i."""
    app = build_app("fields")
    pid = c.FIELDS_PLATE_IDS[0]
    body = get_json(app, f"/api/v0/m/plates/{pid}/wellsampleindex/2/wells/")
    assert body["meta"]["totalCount"] == c.FIELDS_IMAGED_WELLS
    assert all(len(w["WellSamples"]) == 1 for w in body["data"])
    assert get_json(app, f"/api/v0/m/plates/{pid}/wellsampleindex/9/wells/")["data"] == []


def test_plate_acquisitions_list(app: App) -> None:
    """m/plates/{id}/plateacquisitions/: runs with times and index links; 0-run plate empty."""
    body = get_json(app, f"/api/v0/m/plates/{c.DEMO_PLATE_ID}/plateacquisitions/")
    (run,) = body["data"]
    assert run["@type"] == OME + "PlateAcquisition"
    assert isinstance(run["StartTime"], int) and run["EndTime"] > run["StartTime"]
    assert run["omero:wellsampleIndex"] == [0, 0]
    zero = get_json(app, f"/api/v0/m/plates/{c.DEMO_ZERO_RUN_PLATE_ID}/plateacquisitions/")
    assert zero["data"] == [] and zero["meta"]["totalCount"] == 0


def test_single_well_loads_pixels(app: App) -> None:
    """m/wells/{id}/: images with Pixels (no Channels)."""
    data = get_json(app, f"/api/v0/m/wells/{c.DEMO_WELL_ID}/")["data"]
    image = data["WellSamples"][0]["Image"]
    assert image["@id"] == c.DEMO_IMAGE_ID and image["Pixels"]["SizeX"] == 659
    assert "Channels" not in image["Pixels"]
    assert list(data)[-1] == "url:plates"


def test_single_image_has_full_pixels_and_channels(app: App) -> None:
    """m/images/{id}/: Pixels with sizes, units, type and Channels (names, colours)."""
    data = get_json(app, f"/api/v0/m/images/{c.DEMO_IMAGE_ID}/")["data"]
    assert data["Name"] == "1988 [Well A-1; Field #1]"
    assert data["AcquisitionDate"] == 1404512029000
    pixels = data["Pixels"]
    assert (
        pixels["SizeX"],
        pixels["SizeY"],
        pixels["SizeZ"],
        pixels["SizeC"],
        pixels["SizeT"],
    ) == (659, 493, 1, 4, 1)
    assert pixels["PhysicalSizeX"] == {
        "@type": "TBD#LengthI",
        "Unit": "MICROMETER",
        "Symbol": "\u00b5m",
        "Value": 0.6459,
    }
    assert "PhysicalSizeZ" not in pixels and "TimeIncrement" not in pixels
    assert pixels["Type"] == {"@type": "TBD#PixelsType", "Value": "uint16"}
    assert [ch["Name"] for ch in pixels["Channels"]] == list(c.DEMO_CHANNEL_LABELS)
    assert pixels["Channels"][0]["Red"] == 255 and pixels["Channels"][1]["Green"] == 255
    assert list(data)[-2:] == ["url:datasets", "url:rois"]
    raw = call(app, f"/api/v0/m/images/{c.DEMO_IMAGE_ID}/").body
    assert b"\\u00b5m" in raw  # ASCII-escaped like Django's JsonResponse


def test_projects_datasets_images_chain_with_child_counts(app: App) -> None:
    """projects -> datasets -> images with childCount=true, datasets' images listing Pixels."""
    projects = get_json(app, "/api/v0/m/projects/?childCount=true")["data"]
    (project,) = projects
    assert project["omero:childCount"] == 2 and list(project)[-2:] == [
        "url:datasets",
        "url:project",
    ]
    datasets = get_json(app, f"/api/v0/m/projects/{c.DEMO_PROJECT_ID}/datasets/")["data"]
    assert [d["@id"] for d in datasets] == list(c.DEMO_DATASET_IDS)
    images = get_json(app, "/api/v0/m/datasets/51/images/?limit=2&offset=1")
    assert [i["@id"] for i in images["data"]] == list(c.DEMO_PROJECT_IMAGE_IDS[1:3])
    assert images["meta"]["totalCount"] == 4
    assert "Pixels" in images["data"][0] and "Channels" not in images["data"][0]["Pixels"]
    single = get_json(app, "/api/v0/m/datasets/51/?childCount=true")["data"]
    assert single["omero:childCount"] == 4
    parents = get_json(app, f"/api/v0/m/images/{c.DEMO_PROJECT_IMAGE_IDS[0]}/datasets/")
    assert [d["@id"] for d in parents["data"]] == [51]


def test_normalize_moves_owners_and_groups_out(app: App) -> None:
    """normalize=true: top-level experimenters/experimenterGroups, details reduced to @id."""
    body = get_json(app, "/api/v0/m/screens/?normalize=true")
    assert list(body) == ["experimenters", "experimenterGroups", "data", "meta"]
    assert body["data"][0]["omero:details"]["owner"] == {"@id": c.OWNER_ID}


def test_huge_image_listing_pages_without_materialising() -> None:
    """A deep offset into a 1,000-image dataset of ``huge`` answers the right slice."""
    app = build_app("huge")
    did = c.HUGE_FIRST_DATASET_ID + 999
    body = get_json(app, f"/api/v0/m/datasets/{did}/images/?offset=990&limit=1000")
    ids = [i["@id"] for i in body["data"]]
    assert len(ids) == 10 and ids[-1] == c.HUGE_FIRST_IMAGE_ID + c.HUGE_IMAGE_COUNT - 1
    everything = get_json(app, "/api/v0/m/images/?limit=1&offset=999999")
    assert everything["meta"]["totalCount"] == c.HUGE_IMAGE_COUNT
    assert everything["data"][0]["@id"] == c.HUGE_FIRST_IMAGE_ID + 999_999


def test_every_base_link_that_lists_objects_answers(app: App) -> None:
    """Each list link of /api/v0/ (experimenters, groups, ... ) answers 200 JSON."""
    base = get_json(app, "/api/v0/")
    for key in (
        "url:experimenters",
        "url:experimentergroups",
        "url:projects",
        "url:datasets",
        "url:images",
        "url:screens",
        "url:plates",
        "url:rois",
        "url:token",
        "url:servers",
    ):
        path = base[key][len(BASE) :]
        assert call(app, path).status == 200, key
    owner = get_json(app, f"/api/v0/m/experimenters/{c.OWNER_ID}/")["data"]
    assert owner["UserName"] == "public" and owner["@type"] == OME + "Experimenter"
    get_json(app, "/api/v0/m/experimenters/99/", status=404)
