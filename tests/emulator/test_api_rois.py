"""The JSON API's ROI listings (``m/images/{id}/rois/``, ``m/rois/?image=``): shape and paging.

Facts from OMERO.web's ``RoisView`` (ROIs in id order, shapes loaded, ``url:roi`` per
listed ROI) and omero_marshal's 2016-06 encoders (``@type``/``@id``/``omero:details``
first, null fields omitted).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_helpers import call as api_call

from harvester.emulator import catalogue as c
from harvester.emulator.app import App, build_app
from harvester.emulator.rois import SHAPE_KINDS

BASE = "http://127.0.0.1:8123"
OME = "http://www.openmicroscopy.org/Schemas/OME/2016-06#"
GEOMETRY = {
    "Rectangle": ["X", "Y", "Width", "Height"],
    "Mask": ["X", "Y", "Width", "Height"],
    "Ellipse": ["X", "Y", "RadiusX", "RadiusY"],
    "Polygon": ["Points"],
    "Point": ["X", "Y"],
    "Line": ["X1", "Y1", "X2", "Y2"],
}


@pytest.fixture(scope="module")
def app() -> App:
    return build_app("demo")


def get_json(app: App, url: str, status: int = 200) -> Any:
    resp = api_call(app, url, base=BASE)
    assert resp.status == status, (url, resp.body[:300])
    assert resp.content_type == "application/json"
    return json.loads(resp.body)


def test_an_image_without_rois_answers_an_empty_list(app: App) -> None:
    """An image without ROIs, or an unknown image, lists an empty page with a zero total."""
    body = get_json(app, f"/api/v0/m/images/{c.DEMO_NO_ROIS_IMAGE_ID}/rois/")
    assert body == {
        "data": [],
        "meta": {"offset": 0, "limit": 200, "maxLimit": 1000, "totalCount": 0},
    }
    # An unknown image is no error either: the view filters ROIs by image.
    assert get_json(app, "/api/v0/m/images/999999999/rois/")["meta"]["totalCount"] == 0


def test_roi_and_shape_json_shape(app: App) -> None:
    """ROIs and shapes come in OMERO's JSON shape and key and id order, the same by every route."""
    cat = c.Catalogue("demo")
    image_id = next(i for i in c.DEMO_PROJECT_IMAGE_IDS if 0 < cat.roi_count(i) < 200)
    body = get_json(app, f"/api/v0/m/images/{image_id}/rois/")
    assert body["meta"]["totalCount"] == cat.roi_count(image_id) == len(body["data"])
    kinds: set[str] = set()
    for roi in body["data"]:
        assert list(roi)[:3] == ["@type", "@id", "omero:details"]
        assert roi["@type"] == OME + "ROI"
        assert list(roi)[-1] == "url:roi"
        assert roi["url:roi"] == f"{BASE}/api/v0/m/rois/{roi['@id']}/"
        assert roi["shapes"]
        for shape in roi["shapes"]:
            assert list(shape)[:3] == ["@type", "@id", "omero:details"]
            kind = shape["@type"].removeprefix(OME)
            kinds.add(kind)
            assert kind in SHAPE_KINDS
            assert isinstance(shape["TheZ"], int) and isinstance(shape["TheT"], int)
            assert "TheC" not in shape or isinstance(shape["TheC"], int)
            assert None not in shape.values()
            assert list(shape)[-len(GEOMETRY[kind]) :] == GEOMETRY[kind]
            assert shape["StrokeWidth"]["@type"] == "TBD#LengthI"
    assert kinds
    # The listing is in id order, the server's.
    ids = [r["@id"] for r in body["data"]]
    assert ids == sorted(ids) == [r.id for r in cat.image_rois(image_id)]
    # The same ROIs through the filter, and one by its url:roi.
    assert get_json(app, f"/api/v0/m/rois/?image={image_id}")["data"] == body["data"]
    one = get_json(app, f"/api/v0/m/rois/{ids[0]}/")["data"]
    assert one == {k: v for k, v in body["data"][0].items() if k != "url:roi"}


def test_pages_of_a_big_listing(app: App) -> None:
    """A 1203-ROI listing pages by offset and limit, clamped to maxLimit, empty past the end."""
    many = c.DEMO_MANY_ROIS_IMAGE_ID
    url = f"/api/v0/m/images/{many}/rois/"
    first = get_json(app, url + "?offset=0&limit=1000")
    second = get_json(app, url + "?offset=1000&limit=1000")
    assert first["meta"] == {"offset": 0, "limit": 1000, "maxLimit": 1000, "totalCount": 1203}
    assert second["meta"]["offset"] == 1000 and second["meta"]["totalCount"] == 1203
    assert len(first["data"]) == 1000 and len(second["data"]) == 203
    ids = [r["@id"] for r in first["data"] + second["data"]]
    assert ids == [r.id for r in c.Catalogue("demo").image_rois(many)]
    assert len(set(ids)) == 1203
    # limit above maxLimit is clamped silently; limit=0 gives the total and no data.
    assert len(get_json(app, url + "?limit=5000")["data"]) == 1000
    zero = get_json(app, url + "?limit=0")
    assert zero["data"] == [] and zero["meta"]["totalCount"] == 1203
    # Past the end: empty data, the real total.
    assert get_json(app, url + "?offset=5000")["data"] == []


def test_rois_are_deterministic_and_seeded() -> None:
    """The same seed gives the same ROIs; another seed changes the counts but not the fixed ones."""
    a, b = c.Catalogue("demo", seed=0), c.Catalogue("demo", seed=0)
    ids = list(c.DEMO_PROJECT_IMAGE_IDS)
    assert [a.image_rois(i) for i in ids] == [b.image_rois(i) for i in ids]
    other = c.Catalogue("demo", seed=3)
    seeded = [i for i in a.iter_image_ids() if i not in c.ROI_COUNTS]
    assert [a.roi_count(i) for i in seeded] != [other.roi_count(i) for i in seeded]
    assert other.roi_count(c.DEMO_MANY_ROIS_IMAGE_ID) == 1203  # fixed counts stay


def test_unknown_roi_is_404(app: App) -> None:
    """An unknown ROI id answers 404 with a message naming the id."""
    body = get_json(app, "/api/v0/m/rois/123/", status=404)
    assert "123" in body["message"]
