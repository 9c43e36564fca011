"""The emulator over real sockets against IDR's captured bodies, JSON types included, and
against the OMERO.web facts the app-level fidelity tests do not hold.

The other fidelity tests compare values with ``==``, which cannot tell ``0`` from ``0.0``
or ``1`` from ``true``: a harvester that reads ``window.start`` as a float, or a table cell
as an int, trips on a type the emulator got wrong while every such test passes. Here each
captured body (idr-samples/ in the shared notes, copied below trimmed, never read at run
time) is compared by its JSON type shape: keys, key order where the capture kept the
server's, and the JSON type of every value (int and float apart, null apart).
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
import pytest
from PIL import Image

from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import (
    BIGSCREEN_PLATES,
    BIGSCREEN_SCREEN_ID,
    DEMO_IMAGE_ID,
    DEMO_NO_FILESET_IMAGE_ID,
    DEMO_SCREEN_ID,
    DEMO_WELL_ID,
)
from harvester.emulator.catalogue_presets import (
    LINKS_DATASET_IDS,
    LINKS_PROJECT_ID,
    LINKS_SECOND_PROJECT_ID,
    LINKS_SHARED_IMAGE_ID,
)
from harvester.emulator.site import API_MAX_LIMIT, STOCK_API_MAX_LIMIT

UNKNOWN = 999_999_999

# idr-samples/webclient_imgData_122770_2022.json: GET /webclient/imgData/122770/ on IDR
# (IDR/idr-notebooks 3beba14, printed r.json(): the server's key order), channels cut to one.
IMGDATA_122770_2022 = json.loads(
    '{"id": 122770, "meta": {"imageName": "Plate8_Actinome1 [Well O02 Field #1]",'
    ' "imageDescription": "", "imageAuthor": "Public data", "projectName": "Multiple",'
    ' "projectId": null, "projectDescription": "", "datasetName": "Multiple", "datasetId": null,'
    ' "datasetDescription": "", "wellSampleId": "", "wellId": 45217,'
    ' "imageTimestamp": 1194540393.0, "imageId": 122770, "pixelsType": "uint16"},'
    ' "perms": {"canAnnotate": false, "canEdit": false, "canDelete": false, "canLink": false},'
    ' "tiles": false, "interpolate": true,'
    ' "size": {"width": 696, "height": 520, "z": 1, "t": 1, "c": 3},'
    ' "pixel_size": {"x": 1.25195005, "y": 1.25195005, "z": null}, "init_zoom": 0,'
    ' "pixel_range": [0, 65535], "channels": [{"emissionWave": null, "label": "DAPI",'
    ' "color": "FF0000", "inverted": false, "reverseIntensity": false, "family": "linear",'
    ' "coefficient": 1.0, "window": {"min": 250.0, "max": 4095.0, "start": 250.0,'
    ' "end": 4095.0}, "active": true}], "split_channel": {"g": {"width": 1398,'
    ' "height": 1046, "border": 2, "gridx": 2, "gridy": 2}, "c": {"width": 1398,'
    ' "height": 1046, "border": 2, "gridx": 2, "gridy": 2}}, "rdefs": {"model": "color",'
    ' "projection": "normal", "defaultZ": 0, "defaultT": 0, "invertAxis": false}}'
)

# idr-samples/webclient_imgData_9762957_2021.json: GET /webclient/imgData/9762957/ on IDR
# (BiAPoL blog, printed with sort_keys=True: the order is not the server's), complete.
# The demo preset serves this very image (plate '1988', well A1 of screen 2302).
IMGDATA_9762957_2021 = json.loads(
    '{"channels": [{"active": true, "coefficient": 1.0, "color": "FF0000",'
    ' "emissionWave": null, "family": "linear", "inverted": false,'
    ' "label": "alpha-tubulin (microtubule cytoskeleton)", "reverseIntensity": false,'
    ' "window": {"end": 187.0, "max": 65535.0, "min": 0.0, "start": 0.0}},'
    ' {"active": true, "coefficient": 1.0, "color": "00FF00", "emissionWave": null,'
    ' "family": "linear", "inverted": false, "label": "gamma-tubulin (centrosomes)",'
    ' "reverseIntensity": false, "window": {"end": 342.0, "max": 65535.0, "min": 0.0,'
    ' "start": 0.0}}, {"active": true, "coefficient": 1.0, "color": "0000FF",'
    ' "emissionWave": null, "family": "linear", "inverted": false,'
    ' "label": "phospho-histone H3 serine 10 (mitotic cells)", "reverseIntensity": false,'
    ' "window": {"end": 117.0, "max": 65535.0, "min": 0.0, "start": 1.0}},'
    ' {"active": false, "coefficient": 1.0, "color": "FF0000", "emissionWave": null,'
    ' "family": "linear", "inverted": false, "label": "Hoechst (DNA)",'
    ' "reverseIntensity": false, "window": {"end": 381.0, "max": 65535.0, "min": 0.0,'
    ' "start": 0.0}}], "id": 9762957, "init_zoom": 0, "interpolate": true,'
    ' "meta": {"datasetDescription": "", "datasetId": null, "datasetName": "Multiple",'
    ' "imageAuthor": "Public data", "imageDescription": "", "imageId": 9762957,'
    ' "imageName": "1988 [Well A-1; Field #1]", "imageTimestamp": 1404512029.0,'
    ' "pixelsType": "uint16", "projectDescription": "", "projectId": null,'
    ' "projectName": "Multiple", "wellId": 1475376, "wellSampleId": ""},'
    ' "perms": {"canAnnotate": false, "canDelete": false, "canEdit": false,'
    ' "canLink": false}, "pixel_range": [0, 65535],'
    ' "pixel_size": {"x": 0.6459, "y": 0.6459, "z": null},'
    ' "rdefs": {"defaultT": 0, "defaultZ": 0, "invertAxis": false, "model": "color",'
    ' "projection": "normal"}, "size": {"c": 4, "height": 493, "t": 1, "width": 659,'
    ' "z": 1}, "split_channel": {"c": {"border": 2, "gridx": 3, "gridy": 2, "height": 992,'
    ' "width": 1985}, "g": {"border": 2, "gridx": 2, "gridy": 2, "height": 992,'
    ' "width": 1324}}, "tiles": false}'
)

# idr-samples/webgateway_table_query_Screen.plateLinks.child.wells_45217.json: GET
# /webgateway/table/Screen.plateLinks.child.wells/45217/query/?query=Well-45217 on IDR
# (2022, complete in the notes); here its first three and last two columns of 157.
TABLE_45217_2022 = json.loads(
    '{"data": {"column_types": ["PlateColumn", "StringColumn", "WellColumn",'
    ' "StringColumn", "StringColumn"], "columns": ["Plate", "Well Number", "Well",'
    ' "Plate Name", "Well Name"], "rows": [[340, "338", 45217, "Plate8_Actinome1", "o2"]]},'
    ' "meta": {"rowCount": 4224, "totalCount": 1, "limit": null, "offset": 0},'
    ' "id": 15026339, "annId": 8368945, "owner": "Public data", "addedBy": "Public data",'
    ' "parentType": "Screen", "parentId": 206, "addedOn": 1502896910574}'
)

# idr-samples/webgateway_get_thumbnails_value_only.json: one value of a get_thumbnails body
# on IDR (2017): a data URI of a JFIF JPEG, 96 x 73 (96 = the longest side, by default).
THUMBNAIL_URI_PREFIX = "data:image/jpeg;base64,/9j/"
THUMBNAIL_2017_SIZE = (96, 73)

# idr-samples/webclient_api_annotations_type_map_project_NON_IDR_2018.json: a complete
# api/annotations body of an older (Python 2, unordered) omero-web; today's adds "name".
ANNOTATIONS_2018 = json.loads(
    '{"annotations": [{"description": null, "class": "MapAnnotationI",'
    ' "date": "2018-03-07T06:28:24Z", "link": {"owner": {"id": 2},'
    ' "date": "2018-03-07T06:28:24Z", "id": 5, "parent": {"id": 2, "name": "test-project",'
    ' "class": "ProjectI"}, "permissions": {"canAnnotate": true, "canEdit": true,'
    ' "canDelete": true, "canLink": true}}, "owner": {"id": 2},'
    ' "values": [["stash", "123123123"]],'
    ' "ns": "openmicroscopy.org/omero/client/mapAnnotation", "id": 5,'
    ' "permissions": {"canAnnotate": true, "canEdit": true, "canDelete": true,'
    ' "canLink": true}}], "experimenters": [{"lastName": "Sacal Bonequi",'
    ' "omeName": "135553", "id": 2, "firstName": "Moises"}]}'
)


def shape(value: Any, *, ordered: bool = True) -> Any:
    """The JSON type shape of ``value``: a dict's keys (in order, or sorted) with their
    shapes, a list's distinct element shapes, else the JSON type (int, float, bool, null
    and str apart)."""
    if isinstance(value, dict):
        keys = list(value) if ordered else sorted(value)
        return [(key, shape(value[key], ordered=ordered)) for key in keys]
    if isinstance(value, list):
        shapes: list[Any] = []
        for item in value:
            if (s := shape(item, ordered=ordered)) not in shapes:
                shapes.append(s)
        return ["list", *shapes]
    if value is None:
        return "null"
    return type(value).__name__


def get_json(client: httpx.Client, url: str) -> Any:
    """GET ``url`` over the socket; assert a 200 ``application/json`` answer; its body."""
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.text[:200])
    assert resp.headers["content-type"] == "application/json", url
    return resp.json()


@pytest.fixture
def client(emulator: EmulatorThread) -> Any:
    """An httpx client on the demo emulator's socket."""
    with httpx.Client(base_url=emulator.base_url, timeout=10) as c:
        yield c


@pytest.mark.parametrize("route", ["webclient", "webgateway"])
def test_imgdata_has_the_2022_bodys_types_in_its_order(client: httpx.Client, route: str) -> None:
    """imgData's keys, key order and value types (every channel's) are those of IDR's body."""
    got = get_json(client, f"/{route}/imgData/{DEMO_IMAGE_ID}/")
    assert len(got["channels"]) == 4  # one shape: every channel typed as the captured one
    assert shape(got) == shape(IMGDATA_122770_2022)


def test_imgdata_of_the_demo_image_is_idrs_2021_body_exactly(client: httpx.Client) -> None:
    """Image 9762957 answers what IDR answered in 2021, value for value and type for type."""
    got = get_json(client, f"/webclient/imgData/{DEMO_IMAGE_ID}/")
    assert json.dumps(got, sort_keys=True) == json.dumps(IMGDATA_9762957_2021, sort_keys=True)


def test_table_query_has_the_captured_types(client: httpx.Client) -> None:
    """A bulk-table row's cells are typed by their column (Plate/Well ints, strings), and
    the envelope's values have the captured types (limit null, addedOn in milliseconds)."""
    url = f"/webgateway/table/Screen.plateLinks.child.wells/{DEMO_WELL_ID}/query/"
    got = get_json(client, url + f"?query=Well-{DEMO_WELL_ID}")
    sample = TABLE_45217_2022
    envelope = {k: v for k, v in got.items() if k != "data"}
    assert shape(envelope) == shape({k: v for k, v in sample.items() if k != "data"})
    assert list(got["data"]) == list(sample["data"])
    kinds_and_cells = zip(sample["data"]["column_types"], sample["data"]["rows"][0], strict=True)
    cell_type = {kind: type(cell).__name__ for kind, cell in kinds_and_cells}
    assert cell_type == {"PlateColumn": "int", "StringColumn": "str", "WellColumn": "int"}
    (row,) = got["data"]["rows"]
    kinds = got["data"]["column_types"]
    assert {"PlateColumn", "WellColumn", "StringColumn"} <= set(kinds)
    assert [type(cell).__name__ for cell in row] == [cell_type[kind] for kind in kinds]
    assert got["data"]["columns"][-2:] == sample["data"]["columns"][-2:]  # Plate/Well Name
    assert got["addedOn"] > 10**12 and got["parentType"] == sample["parentType"]


def test_get_thumbnails_value_is_a_data_uri_like_idrs(client: httpx.Client) -> None:
    """A get_thumbnails value is a JPEG data URI sized like IDR's: 96 on the longest side."""
    got = get_json(client, f"/webgateway/get_thumbnails/?id={DEMO_IMAGE_ID}&id={UNKNOWN}")
    assert list(got) == sorted([str(DEMO_IMAGE_ID), str(UNKNOWN)], key=int)
    assert got[str(UNKNOWN)] is None
    value = got[str(DEMO_IMAGE_ID)]
    assert value.startswith(THUMBNAIL_URI_PREFIX)
    jpeg = Image.open(io.BytesIO(base64.b64decode(value.partition(",")[2])))
    assert jpeg.format == "JPEG" and max(jpeg.size) == max(THUMBNAIL_2017_SIZE)


def test_annotations_have_the_captured_types(client: httpx.Client) -> None:
    """An api/annotations entry and its experimenter have the captured keys and types
    (plus today's ``"name": null``); values are [str, str] pairs."""
    got = get_json(client, f"/webclient/api/annotations/?type=map&screen={DEMO_SCREEN_ID}")
    (ann,) = got["annotations"]
    assert ann.pop("name") is None
    (want,) = ANNOTATIONS_2018["annotations"]
    assert shape(ann, ordered=False) == shape(want, ordered=False)
    assert shape(got["experimenters"], ordered=False) == shape(
        ANNOTATIONS_2018["experimenters"], ordered=False
    )


def test_imgdata_unknown_id_is_403_public_404_logged_in(
    emulator: EmulatorThread, make_emulator: Any
) -> None:
    """imgData of an unknown id: an empty 403 for IDR's public user, but for a logged-in
    user of a private OMERO.web the view's 404 ``Image:<id> not found`` (imageData_json)."""
    public = httpx.get(f"{emulator.base_url}/webclient/imgData/{UNKNOWN}/", timeout=10)
    assert (public.status_code, public.content) == (403, b"")
    private = make_emulator(preset="demo", session_key="KEY")
    for route in ("webclient", "webgateway"):
        url = f"{private.base_url}/{route}/imgData/{UNKNOWN}/?bsession=KEY"
        resp = httpx.get(url, headers={"X-Requested-With": "XMLHttpRequest"}, timeout=10)
        assert resp.status_code == 404, route
        assert resp.headers["content-type"] == "text/html; charset=utf-8"
        assert resp.text == f"Image:{UNKNOWN} not found"
        known = httpx.get(url.replace(str(UNKNOWN), str(DEMO_IMAGE_ID)), timeout=10)
        assert known.status_code == 200 and known.json()["id"] == DEMO_IMAGE_ID


def test_json_api_clamps_limit_to_the_sites_max_limit(make_emulator: Any) -> None:
    """``limit=1000`` is clamped silently to ``omero.web.api.max_limit``: 1000 on IDR, 500
    on a stock OMERO.web (``api_max_limit=500``), which meta's ``limit``/``maxLimit`` say."""
    url = f"/api/v0/m/screens/{BIGSCREEN_SCREEN_ID}/plates/?offset=0&limit=1000"
    for max_limit in (API_MAX_LIMIT, STOCK_API_MAX_LIMIT):
        emu = make_emulator(preset="bigscreen", api_max_limit=max_limit)
        with httpx.Client(base_url=emu.base_url, timeout=10) as client:
            got = get_json(client, url)
        assert len(got["data"]) == max_limit, max_limit
        assert got["meta"] == {
            "offset": 0,
            "limit": max_limit,
            "maxLimit": max_limit,
            "totalCount": BIGSCREEN_PLATES,
        }


def test_an_image_in_two_datasets_is_listed_by_both(make_emulator: Any) -> None:
    """``links``: image 4300001 is in datasets 62001 and 62002 (Dataset-Image links are
    many-to-many): both list it (62002 in name order, childCount 4), the JSON API names
    both datasets, imgData says "Multiple", and the all-images list has it once."""
    emu = make_emulator(preset="links")
    shared = LINKS_SHARED_IMAGE_ID
    first, second = LINKS_DATASET_IDS
    with httpx.Client(base_url=emu.base_url, timeout=10) as client:
        listed = get_json(client, f"/webclient/api/datasets/?id={LINKS_PROJECT_ID}")
        assert [(d["id"], d["childCount"]) for d in listed["datasets"]] == [(first, 3), (second, 4)]
        images = get_json(client, f"/webclient/api/images/?id={second}")["images"]
        assert [i["id"] for i in images] == [shared, shared + 3, shared + 4, shared + 5]
        assert [i["name"] for i in images] == sorted(i["name"] for i in images)
        own = get_json(client, f"/webclient/api/images/?id={first}")["images"]
        assert [i["id"] for i in own] == [shared, shared + 1, shared + 2]
        api = get_json(client, f"/api/v0/m/images/{shared}/datasets/")
        assert [d["@id"] for d in api["data"]] == [first, second]
        assert api["meta"]["totalCount"] == 2
        api_images = get_json(client, f"/api/v0/m/datasets/{second}/images/")
        assert api_images["meta"]["totalCount"] == 4
        assert api_images["data"][0]["@id"] == shared
        meta = get_json(client, f"/webclient/imgData/{shared}/")["meta"]
        assert (meta["datasetName"], meta["datasetId"]) == ("Multiple", None)
        assert (meta["projectName"], meta["projectId"]) == ("Multiple", None)
        alone = get_json(client, f"/webclient/imgData/{shared + 1}/")["meta"]
        assert (alone["datasetId"], alone["projectId"]) == (first, LINKS_PROJECT_ID)
        every = [i["id"] for i in get_json(client, "/webclient/api/images/")["images"]]
        assert sorted(every) == list(range(shared, shared + 6))


def test_original_file_paths_name_the_fileset_as_idr_imported_it(client: httpx.Client) -> None:
    """original_file_paths: repo and client paths of every file of the image's fileset (a
    plate's: one per image) and its id; IDR's client paths lead to the FTP mirror's
    study folder; an image without a fileset answers {}; an unknown image is @jsonp's 500
    JSON for Http404."""
    got = get_json(client, f"/webgateway/original_file_paths/{DEMO_IMAGE_ID}/")
    assert list(got) == ["repo", "client", "fileset"]
    assert list(got["fileset"]) == ["id"] and isinstance(got["fileset"]["id"], int)
    assert len(got["repo"]) == len(got["client"]) == 8  # plate '1988': 8 imaged wells
    # As IDR imported idr0056 and idr0021 (its download_urls.tsv): not all under filesets.
    assert all(p.startswith("nfs/bioimage/drop/idr0056-stojic-lncrnas/") for p in got["client"])
    assert [p.rsplit("/", 1)[1] for p in got["repo"]] == [
        p.rsplit("/", 1)[1] for p in got["client"]
    ]
    assert get_json(client, f"/webgateway/original_file_paths/{DEMO_NO_FILESET_IMAGE_ID}/") == {}
    project = get_json(client, "/webgateway/original_file_paths/1884801/")
    assert project["client"] == [
        "uod/idr/incoming/idr0021-lawo-pericentriolarmaterial/CDK5RAP2-C/CDK5RAP2-C_0001.tif"
    ]
    missing = client.get(f"/webgateway/original_file_paths/{UNKNOWN}/")
    assert missing.status_code == 500
    assert missing.headers["content-type"] == "application/json"
    assert "Http404" in missing.json()["stacktrace"]


def test_a_dataset_in_two_projects_is_listed_by_both(make_emulator: Any) -> None:
    """``links``: dataset 62002 is in projects 2001 and 2002 (Project-Dataset links are
    many-to-many): both list and count it, the JSON API names both projects, its images'
    imgData says project "Multiple" (dataset kept), and the all-datasets list has it once."""
    emu = make_emulator(preset="links")
    linked = LINKS_DATASET_IDS[1]
    with httpx.Client(base_url=emu.base_url, timeout=10) as client:
        tree = get_json(client, "/webclient/api/containers/")["projects"]
        assert [(p["id"], p["childCount"]) for p in tree] == [
            (LINKS_PROJECT_ID, 2),
            (LINKS_SECOND_PROJECT_ID, 1),
        ]
        second = get_json(client, f"/webclient/api/datasets/?id={LINKS_SECOND_PROJECT_ID}")
        assert [d["id"] for d in second["datasets"]] == [linked]
        holders = get_json(client, f"/api/v0/m/datasets/{linked}/projects/")["data"]
        assert [p["@id"] for p in holders] == [LINKS_PROJECT_ID, LINKS_SECOND_PROJECT_ID]
        every = get_json(client, "/webclient/api/datasets/")["datasets"]
        assert [d["id"] for d in every] == list(LINKS_DATASET_IDS)
        meta = get_json(client, f"/webclient/imgData/{LINKS_SHARED_IMAGE_ID + 4}/")["meta"]
        assert (meta["projectName"], meta["projectId"]) == ("Multiple", None)
        assert (meta["datasetName"], meta["datasetId"]) == ("linked-B", linked)


def test_concurrency_fault_is_imgdatas_busy_answer(make_emulator: Any) -> None:
    """The concurrency fault: imgData answers 200 {"ConcurrencyException": {"backOff": ms}}
    (imageMarshal's answer while OMERO is busy), then the real body; counted as a fault."""
    emu = make_emulator(preset="demo", faults="first:concurrency,only:image:imgdata")
    with httpx.Client(base_url=emu.base_url, timeout=10) as client:
        busy = get_json(client, f"/webclient/imgData/{DEMO_IMAGE_ID}/")
        assert shape(busy) == [("ConcurrencyException", [("backOff", "int")])]
        assert busy["ConcurrencyException"]["backOff"] > 0
        assert get_json(client, f"/webclient/imgData/{DEMO_IMAGE_ID}/")["id"] == DEMO_IMAGE_ID
    assert emu.stats()["faults"] == {"concurrency": 1}


# gunicorn/http/message.py read_line: a request line (without its CRLF) longer than
# limit_request_line (default 4094, kept by OMERO.web's WSGI server and so by IDR) raises
# LimitRequestLine, which util.write_error answers as a 400 HTML page before Django runs.
GUNICORN_LINE_LIMIT = 4094
GUNICORN_TOO_LARGE = (
    "<html>\n  <head>\n    <title>Bad Request</title>\n  </head>\n  <body>\n"
    "    <h1><p>Bad Request</p></h1>\n    Request Line is too large ({size} &gt; 4094)\n"
    "  </body>\n</html>\n"
)


def _annotations_url_of_line(length: int) -> str:
    """An annotations URL whose request line (``GET URL HTTP/1.1``) is ``length`` bytes."""
    url = f"/webclient/api/annotations/?type=map&screen={DEMO_SCREEN_ID}&pad="
    return url + "x" * (length - len(f"GET {url} HTTP/1.1"))


def test_request_line_over_gunicorns_limit_is_its_400(
    client: httpx.Client, make_emulator: Any
) -> None:
    """A 4094-byte request line is answered; one byte more is gunicorn's 400 page naming
    both sizes, on any route; ``request_line_limit=0`` lifts the limit."""
    fits = client.get(_annotations_url_of_line(GUNICORN_LINE_LIMIT))
    assert fits.status_code == 200 and fits.json()["annotations"]
    for url in (
        _annotations_url_of_line(GUNICORN_LINE_LIMIT + 1),
        f"/api/v0/m/images/{DEMO_IMAGE_ID}/?pad=" + "x" * GUNICORN_LINE_LIMIT,
    ):
        size = len(f"GET {url} HTTP/1.1")
        resp = client.get(url)
        assert resp.status_code == 400, url[:60]
        assert resp.headers["content-type"] == "text/html"
        assert resp.text == GUNICORN_TOO_LARGE.format(size=size)
    assert client.get("/webclient/api/containers/").status_code == 200  # the connection lives
    unlimited = make_emulator(preset="demo", request_line_limit=0)
    url = unlimited.base_url + _annotations_url_of_line(GUNICORN_LINE_LIMIT * 2)
    assert httpx.get(url, timeout=10).status_code == 200
