"""Contract tests of /webclient/api/* against idr-api.md §2 and the captured annotation body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_helpers import call

from harvester.emulator import catalogue as c
from harvester.emulator.app import App, build_app

# Key structure of the real body (idr-samples/
# webclient_api_annotations_type_map_project_NON_IDR_2018.json),
# (an older omero-web, Python 2 dict order, so compared as sets; today's code adds "name").
SAMPLE_ANNOTATION_KEYS = {
    "description",
    "class",
    "date",
    "link",
    "owner",
    "values",
    "ns",
    "id",
    "permissions",
}
SAMPLE_LINK_KEYS = {"owner", "date", "id", "parent", "permissions"}
SAMPLE_PARENT_KEYS = {"id", "name", "class"}
SAMPLE_PERMISSION_KEYS = {"canAnnotate", "canEdit", "canDelete", "canLink"}
SAMPLE_EXPERIMENTER_KEYS = {"lastName", "omeName", "id", "firstName"}
# Insertion order of omeroweb/webclient/tree.py _marshal_annotation (current code).
ANNOTATION_KEY_ORDER = [
    "id",
    "ns",
    "name",
    "description",
    "owner",
    "date",
    "permissions",
    "link",
    "class",
    "values",
]
LINK_KEY_ORDER = ["id", "owner", "parent", "date", "permissions"]
CONTAINER_KEY_ORDER = ["id", "name", "ownerId", "childCount", "permsCss"]


@pytest.fixture(scope="module")
def app() -> App:
    """The demo application."""
    return build_app("demo")


def get_json(app: App, url: str) -> Any:
    """GET ``url``, assert a 200 JSON answer, return the parsed body."""
    resp = call(app, url)
    assert resp.status == 200, (url, resp.body[:200])
    assert resp.content_type == "application/json"
    return json.loads(resp.body)


def test_annotations_shape_matches_the_real_body(app: App) -> None:
    """Annotation entries have the real key set (+name) in tree.py's order; values are pairs."""
    body = get_json(app, f"/webclient/api/annotations/?type=map&screen={c.DEMO_SCREEN_ID}")
    assert list(body) == ["annotations", "experimenters"]
    (ann,) = body["annotations"]
    assert list(ann) == ANNOTATION_KEY_ORDER
    assert set(ann) - {"name"} == SAMPLE_ANNOTATION_KEYS
    assert list(ann["link"]) == LINK_KEY_ORDER and set(ann["link"]) == SAMPLE_LINK_KEYS
    assert set(ann["link"]["parent"]) == SAMPLE_PARENT_KEYS
    assert set(ann["permissions"]) == SAMPLE_PERMISSION_KEYS
    assert ann["class"] == "MapAnnotationI" and ann["ns"] == c.NS_STUDY
    assert ann["link"]["parent"] == {
        "id": c.DEMO_SCREEN_ID,
        "class": "ScreenI",
        "name": c.DEMO_SCREEN_NAME,
    }
    assert all(isinstance(kv, list) and len(kv) == 2 for kv in ann["values"])
    assert ["PubMed ID", "32296040"] in ann["values"]
    assert isinstance(ann["id"], int) and isinstance(ann["link"]["id"], int)
    assert ann["date"][-6:] in ("+00:00", "+01:00")  # ISO-8601 with the server's offset
    (exp,) = body["experimenters"]
    assert set(exp) == SAMPLE_EXPERIMENTER_KEYS


def test_annotations_repeatable_ids_and_well_namespaces(app: App) -> None:
    """?well= repeats; gene/siRNA/phenotype namespaces; shared annotation ids, unique links."""
    cat = app.site.catalogue
    wells = cat.wells(c.DEMO_PLATE_ID)
    url = "/webclient/api/annotations/?type=map&" + "&".join(f"well={w.id}" for w in wells)
    anns = get_json(app, url)["annotations"]
    assert {a["ns"] for a in anns} >= {c.NS_GENE, c.NS_SIRNA}
    assert {a["link"]["parent"]["class"] for a in anns} == {"WellI"}
    assert {a["link"]["parent"]["name"] for a in anns} >= {"A1", "B4"}
    assert len({a["link"]["id"] for a in anns}) == len(anns)
    gene_keys = [k for a in anns if a["ns"] == c.NS_GENE for k, _ in a["values"]]
    assert "Gene Symbol" in gene_keys
    assert [a["ns"] for a in anns] == sorted(a["ns"] for a in anns)  # order by ns


def test_annotations_phenotype_keys_repeat() -> None:
    """Phenotype annotations repeat the 'Phenotype' key inside one values list."""
    app = build_app("plate384")
    cat = app.site.catalogue
    ids = [w.id for w in cat.wells(c.PLATE384_PLATE_ID)]
    url = "/webclient/api/annotations/?type=map&" + "&".join(f"well={i}" for i in ids[:48])
    anns = get_json(app, url)["annotations"]
    repeated = [a for a in anns if [k for k, _ in a["values"]].count("Phenotype") > 1]
    assert repeated and all(a["ns"] == c.NS_PHENOTYPE for a in repeated)


def test_annotations_unknown_and_other_types_are_empty(app: App) -> None:
    """Unknown ids, other types, or no ids: 200 with empty lists."""
    empty = {"annotations": [], "experimenters": []}
    assert get_json(app, "/webclient/api/annotations/?type=map&screen=999999") == empty
    assert get_json(app, f"/webclient/api/annotations/?type=tag&screen={c.DEMO_SCREEN_ID}") == empty
    assert get_json(app, "/webclient/api/annotations/") == empty
    # screen and project ids are separate spaces: project 51 is not screen 51
    assert get_json(app, "/webclient/api/annotations/?type=map&screen=51") == empty


def test_annotations_paging_is_per_type(app: App) -> None:
    """limit/page apply per object type; image= on project images works."""
    image_ids = c.DEMO_PROJECT_IMAGE_IDS
    base = "/webclient/api/annotations/?type=map&" + "&".join(f"image={i}" for i in image_ids)
    everything = get_json(app, base)["annotations"]
    first = get_json(app, base + "&limit=3&page=1")["annotations"]
    second = get_json(app, base + "&limit=3&page=2")["annotations"]
    assert len(first) == 3 and first + second == everything[:6]
    assert get_json(app, base + "&page=0&limit=1")["annotations"] == everything
    both = get_json(app, base + f"&limit=1&project={c.DEMO_PROJECT_ID}")["annotations"]
    assert [a["link"]["parent"]["class"] for a in both] == ["ProjectI", "ImageI"]


@pytest.mark.parametrize("query", ["page=x", "limit=1.5", "screen=abc", "well=1&well=two"])
def test_annotations_non_numeric_is_500_html(app: App, query: str) -> None:
    """api/annotations parses ints unguarded: junk -> Django 500 page."""
    resp = call(app, f"/webclient/api/annotations/?type=map&{query}")
    assert resp.status == 500 and resp.content_type.startswith("text/html")
    assert b"invalid literal for int()" in resp.body


@pytest.mark.parametrize(
    "url",
    [
        "/webclient/api/plates/?id=x",
        "/webclient/api/plates/?id=2302&page=a",
        "/webclient/api/datasets/?id=51&limit=",
        "/webclient/api/images/?id=51&limit=1e3",
        "/webclient/api/containers/?page=one",
        "/webclient/api/plate_acquisitions/?id=7375&limit=g",  # (it never reads group)
    ],
)
def test_list_views_bad_param_is_400_text(app: App, url: str) -> None:
    """The guarded list views answer 400 'Invalid parameter value' (text/html)."""
    resp = call(app, url)
    assert resp.status == 400 and resp.body == b"Invalid parameter value"
    assert resp.content_type.startswith("text/html")


def test_plates_of_screen(app: App) -> None:
    """plates?id=screen: real key order, childCount = number of runs, name order."""
    plates = get_json(app, f"/webclient/api/plates/?id={c.DEMO_SCREEN_ID}")["plates"]
    assert [list(p) for p in plates] == [CONTAINER_KEY_ORDER] * 10
    assert [(p["id"], p["name"]) for p in plates] == list(c.DEMO_PLATES)
    counts = {p["id"]: p["childCount"] for p in plates}
    assert counts[7379] == 0 and counts[7375] == 1
    assert {p["permsCss"] for p in plates} == {""}
    assert get_json(app, "/webclient/api/plates/?id=999") == {"plates": []}


def test_plate_acquisitions(app: App) -> None:
    """plate_acquisitions: id mandatory (400), unnamed runs named from their times."""
    runs = get_json(app, "/webclient/api/plate_acquisitions/?id=7375")["acquisitions"]
    assert len(runs) == 1 and list(runs[0]) == ["id", "name", "ownerId", "permsCss"]
    assert " - " in runs[0]["name"]
    assert get_json(app, "/webclient/api/plate_acquisitions/?id=7379") == {"acquisitions": []}
    missing = call(app, "/webclient/api/plate_acquisitions/")
    assert missing.status == 400 and missing.body == b"id (plate) must be specified"


def test_containers_lists_screens_and_projects(app: App) -> None:
    """containers: projects, datasets, screens, plates (no 'orphaned' on IDR)."""
    body = get_json(app, "/webclient/api/containers/")
    assert list(body) == ["projects", "datasets", "screens", "plates"]
    assert [s["id"] for s in body["screens"]] == [c.DEMO_SCREEN_ID]
    assert body["screens"][0]["childCount"] == 10
    assert [p["id"] for p in body["projects"]] == [c.DEMO_PROJECT_ID]
    assert body["projects"][0]["childCount"] == 2


def test_datasets_and_images_with_sizes_and_dates(app: App) -> None:
    """datasets?id=project; images?id=dataset&sizeXYZ&date: sizeX/Y/Z/T (no sizeC), dates."""
    datasets = get_json(app, f"/webclient/api/datasets/?id={c.DEMO_PROJECT_ID}")["datasets"]
    assert [(d["id"], d["childCount"]) for d in datasets] == [(51, 4), (52, 4)]
    images = get_json(app, "/webclient/api/images/?id=51&sizeXYZ=true&date=true")["images"]
    assert [i["id"] for i in images] == list(c.DEMO_PROJECT_IMAGE_IDS[:4])
    first = images[0]
    assert list(first) == [
        "id",
        "name",
        "ownerId",
        "permsCss",
        "filesetId",
        "sizeX",
        "sizeY",
        "sizeZ",
        "sizeT",
        "date",
        "acqDate",
    ]
    assert "sizeC" not in first and first["sizeX"] == 256
    plain = get_json(app, "/webclient/api/images/?id=51")["images"][0]
    assert list(plain) == ["id", "name", "ownerId", "permsCss", "filesetId"]


def test_webclient_paging_default_500_page0_all_no_totals() -> None:
    """Default limit 500; page=0 returns everything; pages stop short at the end."""
    app = build_app("bigproject")
    url = f"/webclient/api/datasets/?id={c.BIGPROJECT_PROJECT_ID}"
    page1 = get_json(app, url)["datasets"]
    page2 = get_json(app, url + "&page=2")["datasets"]
    assert len(page1) == 500 and len(page2) == c.BIGPROJECT_DATASETS - 500
    everything = get_json(app, url + "&page=0")
    assert list(everything) == ["datasets"] and len(everything["datasets"]) == 600
    assert page1 + page2 == everything["datasets"]
    assert get_json(app, url + "&page=3")["datasets"] == []
    small = get_json(app, url + "&limit=7&page=2")["datasets"]
    assert [d["id"] for d in small] == [d["id"] for d in page1[7:14]]


def test_images_without_id_lists_project_images() -> None:
    """images/ without id pages through every (project) image."""
    app = build_app("demo")
    ids = [i["id"] for i in get_json(app, "/webclient/api/images/?limit=3&page=2")["images"]]
    assert ids == list(c.DEMO_PROJECT_IMAGE_IDS[3:6])


def test_hcs_image_shares_its_wells_annotations(app: App) -> None:
    """image=<HCS image> returns the well's (shared) annotation ids through ImageI links."""
    by_well = get_json(app, f"/webclient/api/annotations/?type=map&well={c.DEMO_WELL_ID}")
    by_image = get_json(app, f"/webclient/api/annotations/?type=map&image={c.DEMO_IMAGE_ID}")
    well_anns, image_anns = by_well["annotations"], by_image["annotations"]
    assert [a["id"] for a in image_anns] == [a["id"] for a in well_anns]
    assert {a["link"]["parent"]["class"] for a in image_anns} == {"ImageI"}
    assert not {a["link"]["id"] for a in image_anns} & {a["link"]["id"] for a in well_anns}


def test_annotations_parents_lineage(app: App) -> None:
    """parents=true adds the containers' annotations and the lineage of the requested image."""
    body = get_json(
        app, f"/webclient/api/annotations/?type=map&image={c.DEMO_IMAGE_ID}&parents=true"
    )
    assert list(body) == ["annotations", "experimenters", "parents"]
    assert {a["link"]["parent"]["class"] for a in body["annotations"]} == {"ImageI"}
    parents = body["parents"]
    assert list(parents) == ["annotations", "lineage"]
    lineage = parents["lineage"]
    assert list(lineage) == [
        "ImageI",
        "DatasetI",
        "ProjectI",
        "PlateI",
        "PlateAcquisitionI",
        "WellI",
        "ScreenI",
    ]
    ref = {"id": c.DEMO_IMAGE_ID, "class": "ImageI", "name": "1988 [Well A-1; Field #1]"}
    assert lineage["ScreenI"] == {str(c.DEMO_SCREEN_ID): [ref]}
    assert lineage["WellI"] == {str(c.DEMO_WELL_ID): [ref]}
    classes = {a["link"]["parent"]["class"] for a in parents["annotations"]}
    assert classes == {"ScreenI", "WellI"}
    study = [a for a in parents["annotations"] if a["ns"] == c.NS_STUDY]
    assert len(study) == 1
