"""Fidelity checks of the emulator against facts read in OMERO.web's source.

Each test copies the fact it checks as a literal, with where it comes from, so
the suite never reads the shared notes at run time. The facts were gathered
in idr-api.md (§ numbers below) and re-read in ``ome/omero-web``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import pytest
from api_helpers import call as api_call

from harvester.emulator.app import App, build_app
from harvester.emulator.http import Request, Response

BASE = "http://127.0.0.1:8123"


@pytest.fixture(scope="module")
def app() -> App:
    """The demo application (screen 2302, project 51)."""
    return build_app("demo")


def call(app: App, url: str, headers: dict[str, str] | None = None) -> Response:
    """:func:`api_helpers.call` with this file's server address."""
    return api_call(app, url, headers, base=BASE)


def body(resp: Response) -> Any:
    """The JSON body of ``resp``."""
    return json.loads(resp.body)


# -- /api/v0 list filters ------------------------------------------------------------
# omeroweb/api/views.py (PlatesView.get_opts etc.):
#     screen = getIntOrDefault(request, "screen", None)      # outside get_opts's try
# omeroweb/webgateway/util.py:
#     def getIntOrDefault(request, name, default):
#         index = request.GET.get(name, request.POST.get(name, default))
#         if index is not None:
#             index = int(index)                              # ValueError propagates
# omeroweb/api/decorators.py json_response.handle_error: any other exception ->
#     status 500, {"message": str(ex), "stacktrace": trace}


@pytest.mark.parametrize(
    "url",
    [
        "/api/v0/m/plates/?screen=abc",
        "/api/v0/m/plates/?well=x1",
        "/api/v0/m/datasets/?project=abc",
        "/api/v0/m/images/?dataset=abc",
        "/api/v0/m/wells/?plate=abc",
        "/api/v0/m/projects/?dataset=abc",
        "/api/v0/m/screens/?plate=abc",
    ],
)
def test_non_integer_filter_is_500_json_with_trace(app: App, url: str) -> None:
    """A junk filter id is an error, not a silently dropped filter listing everything."""
    resp = call(app, url)
    assert resp.status == 500
    assert resp.content_type == "application/json"
    assert ("X-OMERO-ApiVersion", "0.2") in resp.headers
    err = body(resp)
    assert list(err) == ["message", "stacktrace"]
    bad = parse_qsl(url.partition("?")[2])[0][1]
    assert err["message"] == f"invalid literal for int() with base 10: '{bad}'"
    assert err["stacktrace"].startswith("Traceback (most recent call last):")


def test_get_opts_400_wins_over_a_bad_filter(app: App) -> None:
    """``offset``/``limit``/``owner`` are parsed first, inside a try -> 400 without trace."""
    resp = call(app, "/api/v0/m/plates/?screen=abc&limit=foo")
    assert resp.status == 400
    assert body(resp) == {"message": "invalid literal for int() with base 10: 'foo'"}


def test_bad_owner_is_400_like_limit(app: App) -> None:
    """``owner`` sits in get_opts's try with offset and limit -> BadRequestError (400)."""
    resp = call(app, "/api/v0/m/screens/?owner=me")
    assert resp.status == 400
    assert body(resp) == {"message": "invalid literal for int() with base 10: 'me'"}


def test_good_filter_and_owner_still_work(app: App) -> None:
    """A numeric filter filters; a numeric owner is accepted."""
    data = body(call(app, "/api/v0/m/plates/?screen=2302&owner=2"))
    assert data["meta"]["totalCount"] == 10


def test_single_object_views_do_not_read_group(app: App) -> None:
    """ObjectView.get never parses ``group``: a junk one is harmless there.

    (ObjectsView.get -- lists -- does: ``group = getIntOrDefault(request, "group", -1)``.)
    """
    resp = call(app, "/api/v0/m/screens/2302/?group=x")
    assert resp.status == 200
    assert body(resp)["data"]["@id"] == 2302
    assert call(app, "/api/v0/m/screens/?group=x").status == 500


# -- webgateway: routes, @jsonp and getIntOrDefault ---------------------------------------
# omeroweb/webgateway/urls.py (every id is [0-9]+):
#     r"^plate/(?P<pid>[0-9]+)/(?:(?P<field>[0-9]+)/)?$"   (5.26 adds an acquisition id)
# omeroweb/webgateway/views.py:
#     VALID_JS_VARIABLE = re.compile(r"^[a-zA-Z_$][0-9a-zA-Z_$]*$")
#     jsonp: except Exception as ex: ... return JsonResponse(
#                {"message": str(ex), "stacktrace": trace}, status=status)   # no callback
#     plateGrid_json:       thumbsize = getIntOrDefault(request, "size", None)
#     listWellImages_json:  acq = getIntOrDefault(request, "run", None)
#     get_thumbnails_json:  image_ids = get_longs(request, "id")   # long() of each
#     _render_thumbnail:    z = getIntOrDefault(request, "z", None) ... raise Http404(
#                               "Failed to render thumbnail")


@pytest.mark.parametrize(
    "url", ["/webgateway/plate/abc/", "/webgateway/plate/7375/abc/", "/webgateway/plate/7375/0/x/"]
)
def test_plate_grid_non_numeric_path_is_django_404(app: App, url: str) -> None:
    """No route matches: Django's HTML 404, not the view's JSON 500 or a grid."""
    resp = call(app, url)
    assert resp.status == 404
    assert resp.content_type == "text/html; charset=utf-8"
    assert b"Page not found" in resp.body


@pytest.mark.parametrize(
    ("url", "bad"),
    [
        ("/webgateway/plate/7375/?size=big", "big"),
        ("/webgateway/well/1475376/children/?run=r1", "r1"),
        ("/webgateway/well/1/children/?run=r1", "r1"),  # parsed before the well lookup
        ("/webgateway/get_thumbnails/?id=9762957&id=abc", "abc"),
        ("/webgateway/get_thumbnail/9762957/?z=top", "top"),
    ],
)
def test_jsonp_views_turn_int_junk_into_500_json(app: App, url: str, bad: str) -> None:
    """A junk integer parameter is @jsonp's 500 JSON with a ValueError trace."""
    resp = call(app, url + "&callback=cb" if "?" in url else url)
    assert resp.status == 500
    assert resp.content_type == "application/json"  # the except branch ignores callback
    err = body(resp)
    assert err["message"] == f"invalid literal for int() with base 10: '{bad}'"
    assert "ValueError: invalid literal" in err["stacktrace"]


def test_get_thumbnail_unknown_image_is_http404_as_500_json(app: App) -> None:
    """_render_thumbnail raises Http404; inside @jsonp that is a 500 JSON answer."""
    resp = call(app, "/webgateway/get_thumbnail/999/")
    assert resp.status == 500
    err = body(resp)
    assert err["message"] == "Failed to render thumbnail"
    assert "django.http.response.Http404: Failed to render thumbnail" in err["stacktrace"]


@pytest.mark.parametrize(
    "url",
    ["/webgateway/render_thumbnail/9762957/?z=top", "/webclient/render_thumbnail/9762957/?t=x"],
)
def test_render_thumbnail_int_junk_is_django_500_page(app: App, url: str) -> None:
    """render_thumbnail is not @jsonp: the ValueError reaches Django's 500 page."""
    resp = call(app, url)
    assert resp.status == 500
    assert resp.content_type == "text/html; charset=utf-8"
    assert b"Server Error (500)" in resp.body


@pytest.mark.parametrize("callback", ["a.b", "jQuery.fn", "cb()", "1x"])
def test_jsonp_callback_must_be_one_identifier(app: App, callback: str) -> None:
    """VALID_JS_VARIABLE allows no dots: 'a.b' is 400 'Invalid callback'."""
    resp = call(app, f"/webgateway/imgData/9762957/?callback={callback}")
    assert resp.status == 400
    assert resp.body == b"Invalid callback"


def test_jsonp_callback_identifier_still_wraps(app: App) -> None:
    """A plain identifier (with $ and _) wraps the JSON in application/javascript."""
    resp = call(app, "/webgateway/imgData/9762957/meta/?callback=$cb_1")
    assert resp.status == 200
    assert resp.content_type == "application/javascript"
    assert resp.body.startswith(b"$cb_1({") and resp.body.endswith(b"})")


# -- webclient/api: group membership ---------------------------------------------------
# omeroweb/webclient/views.py, api_container_list / api_dataset_list / api_image_list /
# api_plate_list, after parsing page/limit/group/id inside a try (400 on junk):
#     if not conn.isValidGroup(group_id):
#         return HttpResponseForbidden("Not a member of Group: %s" % group_id)
# api_plate_acquisition_list parses only page, limit and id (no group).
# IDR's public user is in the "user" system group (1) and the public data group.


@pytest.mark.parametrize(
    "path",
    [
        "/webclient/api/containers/",
        "/webclient/api/plates/?id=2302",
        "/webclient/api/datasets/?id=51",
        "/webclient/api/images/?id=51",
    ],
)
def test_webclient_list_foreign_group_is_403(app: App, path: str) -> None:
    """A group the public user is not in: 403 text, not data from every group."""
    sep = "&" if "?" in path else "?"
    resp = call(app, f"{path}{sep}group=5")
    assert resp.status == 403
    assert resp.content_type == "text/html; charset=utf-8"
    assert resp.body == b"Not a member of Group: 5"
    for ok in ("-1", "1", "3"):
        assert call(app, f"{path}{sep}group={ok}").status == 200
    assert call(app, f"{path}{sep}group=x").body == b"Invalid parameter value"


def test_plate_acquisitions_ignore_group(app: App) -> None:
    """api_plate_acquisition_list never reads ``group``: junk or foreign, same answer."""
    plain = call(app, "/webclient/api/plate_acquisitions/?id=7375")
    for group in ("5", "x"):
        other = call(app, f"/webclient/api/plate_acquisitions/?id=7375&group={group}")
        assert other.status == 200 and other.body == plain.body


# -- imgData key selection -------------------------------------------------------------
# omeroweb/webgateway/marshal.py imageMarshal (5.2x):
#     except Exception as ex:  # Handle everything else.
#         rv["Exception"] = ex.message
#         return rv  # Return what we have already, in case it's useful
#     ...
#     if key is not None and rv is not None:
#         for k in key.split("."):
#             rv = rv.get(k, {})
#         if rv == {}:
#             rv = None


def test_imgdata_key_selects_and_missing_is_null(app: App) -> None:
    """Known keys give their value (falsy ones included); unknown ones give null."""
    assert body(call(app, "/webgateway/imgData/9762957/meta.imageId/")) == 9762957
    assert body(call(app, "/webgateway/imgData/9762957/meta.imageDescription/")) == ""
    assert body(call(app, "/webgateway/imgData/9762957/tiles/")) is False
    assert body(call(app, "/webgateway/imgData/9762957/nokey/")) is None
    assert body(call(app, "/webgateway/imgData/9762957/size.nokey/")) is None


@pytest.mark.parametrize(
    ("key", "type_name"),
    [("meta.projectId.x", "NoneType"), ("size.width.x", "int"), ("meta.imageName.x", "str")],
)
def test_imgdata_key_through_a_leaf_is_500_json(app: App, key: str, type_name: str) -> None:
    """``None.get``/``int.get`` raise AttributeError: @jsonp's 500 JSON, not null."""
    resp = call(app, f"/webgateway/imgData/9762957/{key}/")
    assert resp.status == 500
    assert body(resp)["message"] == f"'{type_name}' object has no attribute 'get'"


def test_imgdata_exception_body_ignores_the_key() -> None:
    """The Exception answer returns before key selection: the whole 4-key body."""
    exc_app = build_app("demo", imgdata_exception=True)
    resp = call(exc_app, "/webgateway/imgData/9762957/size/")
    assert resp.status == 200
    assert list(body(resp)) == ["id", "meta", "perms", "Exception"]


# -- /api/v0/login/ -------------------------------------------------------------------
# /api/v0/ advertises "url:login". omeroweb/webgateway/views.py LoginView.get:
#     return JsonResponse({"message": ("POST only with username, password, "
#                                      "server and csrftoken")}, status=405)
# (a plain JsonResponse: no json_response decorator, so no X-OMERO-ApiVersion).
# A POST meets Django's CsrfViewMiddleware first; on IDR token/ sets no csrftoken
# cookie (the proxy hides Set-Cookie on /api/*), so it fails with OMERO.web's
# CSRF_FAILURE_VIEW (omeroweb/feedback/views.py csrf_failure): 403 JSON
#     {"message": "CSRF Error. You need to include valid CSRF tokens for any POST, ..."}


def test_api_login_get_is_405_json(app: App) -> None:
    """Following url:login with GET: 405 and the view's message, not a 404 page."""
    base = body(call(app, "/api/v0/"))
    assert base["url:login"] == f"{BASE}/api/v0/login/"
    resp = call(app, "/api/v0/login/")
    assert resp.status == 405
    assert resp.content_type == "application/json"
    assert body(resp) == {"message": "POST only with username, password, server and csrftoken"}
    assert not any(name == "X-OMERO-ApiVersion" for name, _ in resp.headers)


def test_api_login_post_fails_csrf(app: App) -> None:
    """POST without the CSRF cookie: OMERO.web's 403 CSRF JSON, never a session."""
    resp = app.handle(
        Request("POST", "/api/v0/login/", "/api/v0/login/", (), {}, "127.0.0.1", BASE)
    )
    assert resp.status == 403
    assert resp.content_type == "application/json"
    assert body(resp)["message"].startswith("CSRF Error. You need to include valid CSRF tokens")
    assert not any(name == "Set-Cookie" for name, _ in resp.headers)


# -- the id-collision trap (idr-api.md §2.1, §12, §14.9) ---------------------------------
# "screens and projects have independent id spaces (screen 51 = idr0003 screenA,
#  project 51 = idr0021 experimentA) -- asking ?screen=<project id> silently returns
#  another study; check link.parent.name". Wells (>=45 217 ... 1 475 376) and images
#  (~10^5 ... 15 190 881) share a numeric range on IDR too.


@pytest.fixture(scope="module")
def clash() -> App:
    """The ``idclash`` preset: screen/plate/project/dataset 51, wells = project images."""
    return build_app("idclash")


def _parents(app: App, query: str) -> list[tuple[str, int, str]]:
    anns = body(call(app, f"/webclient/api/annotations/?{query}"))["annotations"]
    return sorted(
        {
            (a["link"]["parent"]["class"], a["link"]["parent"]["id"], a["link"]["parent"]["name"])
            for a in anns
        }
    )


def test_screen_and_project_51_are_different_studies(clash: App) -> None:
    """Same number, two objects: only link.parent tells which one answered."""
    assert _parents(clash, "type=map&screen=51") == [
        ("ScreenI", 51, "idr0003-emulated-idclash/screenA")
    ]
    assert _parents(clash, "type=map&project=51") == [
        ("ProjectI", 51, "idr0021-emulated-idclash/experimentA")
    ]
    screens = body(call(clash, "/api/v0/m/screens/51/"))["data"]
    projects = body(call(clash, "/api/v0/m/projects/51/"))["data"]
    assert screens["Name"] != projects["Name"]


def test_well_and_image_with_one_id_carry_their_own_annotations(clash: App) -> None:
    """?well=2400001 is well A1 of plate 51; ?image=2400001 is a project image."""
    assert _parents(clash, "type=map&well=2400001") == [("WellI", 2400001, "A1")]
    assert _parents(clash, "type=map&image=2400001") == [("ImageI", 2400001, "image0001.tif")]
    genes = {
        kind: {
            v
            for a in body(call(clash, f"/webclient/api/annotations/?type=map&{kind}=2400001"))[
                "annotations"
            ]
            for k, v in a["values"]
            if k == "Gene Symbol"
        }
        for kind in ("well", "image")
    }
    assert genes["well"] and genes["image"] and genes["well"] != genes["image"]
    well = body(call(clash, "/api/v0/m/wells/2400001/"))["data"]
    image_in_well = well["WellSamples"][0]["Image"]["@id"]
    assert image_in_well == 2450001 != 2400001
    grid = body(call(clash, "/webgateway/plate/51/"))
    assert grid["grid"][0][0]["wellId"] == 2400001 and grid["grid"][0][0]["id"] == 2450001


# -- bulk-annotation tables --------------------------------------------------------------
# Real body (idr-samples/webgateway_table_query_Screen.plateLinks.child.wells_45217.json,
# IDR 2022, GET /webgateway/table/Screen.plateLinks.child.wells/45217/query/?query=Well-45217),
# top level and meta verbatim, data abridged:
REAL_TABLE_KEYS = [
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
REAL_TABLE_META = {"rowCount": 4224, "totalCount": 1, "limit": None, "offset": 0}
# omeroweb/webgateway/views.py _table_query / perform_table_query / object_table_query:
#     if not query: return dict(error="Must specify query parameter, use * to retrieve all")
#     offset = int(request.GET.get("offset", 0))           # junk -> ValueError -> 500
#     if query == "*": hits = range(start, end); totalCount = rows
#     match = re.match(r"^(\w+)-(\d+)", query) ... query = "(%s==%s)" % (c_name, id)
#     except Exception: return dict(error="Error executing query: %s" % query)
#     tableData["parentType"] = ann["parentType"]            # = objtype.split(".")[0]
# IDR attaches bulk tables to screens, so Plate/{id} has none.
WELLS_PATH = "/webgateway/table/Screen.plateLinks.child.wells"


def test_table_well_query_has_the_real_shape(app: App) -> None:
    """Same keys in the same order; one hit; rowCount = the whole screen table."""
    got = body(call(app, f"{WELLS_PATH}/1475376/query/?query=Well-1475376"))
    assert list(got) == REAL_TABLE_KEYS
    assert list(got["meta"]) == list(REAL_TABLE_META)
    assert got["meta"]["totalCount"] == 1 and got["meta"]["rowCount"] == 80
    assert got["parentType"] == "Screen" and got["parentId"] == 2302
    assert got["data"]["rows"][0][:2] == [7375, 1475376]


def test_table_query_is_mandatory(app: App) -> None:
    """No ``query``: the table's own error, not every row."""
    for url in (f"{WELLS_PATH}/1475376/query/", f"{WELLS_PATH}/1475376/query/?query="):
        resp = call(app, url)
        assert resp.status == 200
        assert body(resp) == {"error": "Must specify query parameter, use * to retrieve all"}


def test_table_star_pages_and_counts_every_row(app: App) -> None:
    """``*`` with offset/limit: a page of rows, totalCount = rowCount (all rows)."""
    got = body(call(app, "/webgateway/table/Screen/2302/query/?query=*&offset=78&limit=5"))
    assert got["meta"] == {"rowCount": 80, "totalCount": 80, "limit": 5, "offset": 78}
    assert len(got["data"]["rows"]) == 2


def test_table_word_id_queries_any_id_column(app: App) -> None:
    """``Plate-N`` is ``(Plate==N)``; an unknown column names the rewritten query."""
    got = body(call(app, f"{WELLS_PATH}/1475376/query/?query=Plate-7375"))
    assert got["meta"]["totalCount"] == 8 and {r[0] for r in got["data"]["rows"]} == {7375}
    assert (
        body(call(app, f"{WELLS_PATH}/1475376/query/?query=(Well==1475377)"))["meta"]["totalCount"]
        == 1
    )
    err = body(call(app, f"{WELLS_PATH}/1475376/query/?query=Foo-3"))
    assert err == {"error": "Error executing query: (Foo==3)"}


def test_table_on_a_plate_is_missing_on_idr(app: App) -> None:
    """Tables hang on screens: the plate itself has none (and no screen table in disguise)."""
    assert body(call(app, "/webgateway/table/Plate/7375/query/?query=*")) == {
        "error": "Could not retrieve bulk annotations table"
    }
    via_plate = body(call(app, "/webgateway/table/Screen.plateLinks.child/7375/query/?query=*"))
    assert via_plate["meta"]["rowCount"] == 80 and via_plate["parentId"] == 2302


def test_table_junk_offset_is_500_json(app: App) -> None:
    """int(request.GET.get("offset")) of junk escapes to @jsonp: 500 JSON."""
    resp = call(app, f"{WELLS_PATH}/1475376/query/?query=*&offset=x")
    assert resp.status == 500
    assert body(resp)["message"] == "invalid literal for int() with base 10: 'x'"


def test_table_by_file_id(app: App) -> None:
    """``table/{fileid}/query/`` reads the same table without the annotation keys."""
    by_obj = body(call(app, "/webgateway/table/Screen/2302/query/?query=*"))
    by_file = body(call(app, f"/webgateway/table/{by_obj['id']}/query/?query=*"))
    assert list(by_file) == ["data", "meta"] and by_file["data"] == by_obj["data"]
    assert body(call(app, "/webgateway/table/1/query/?query=*")) == {"error": "Table 1 not found"}


# -- Django error handlers for XHR requests --------------------------------------------
# omeroweb/feedback/views.py:
#     def handler404(request, exception=None):
#         if request.is_ajax(): return HttpResponseNotFound()        # empty, text/html
#     def handler500(request):
#         error500 = "%s\n%s" % (as_string, request_repr)
#         if request.is_ajax(): return HttpResponseServerError(error500)
XHR = {"x-requested-with": "XMLHttpRequest"}


def test_xhr_404_is_empty_html(app: App) -> None:
    """An XHR to an unknown path gets HttpResponseNotFound(): no body at all."""
    resp = call(app, "/nothing/here/", headers=XHR)
    assert resp.status == 404
    assert resp.body == b""
    assert resp.content_type == "text/html; charset=utf-8"


def test_xhr_500_is_the_bare_traceback(app: App) -> None:
    """An XHR hitting an unguarded int(): the traceback text, not a page."""
    resp = call(app, "/webclient/api/annotations/?image=abc", headers=XHR)
    assert resp.status == 500
    assert resp.content_type == "text/html; charset=utf-8"
    assert resp.body.startswith(b"Traceback (most recent call last):")
    assert b"invalid literal for int() with base 10: 'abc'" in resp.body
    assert b"<html>" not in resp.body


def test_annotations_ignore_empty_ids(app: App) -> None:
    """omeroweb/webclient/views.py get_list: ``[i for i in val if i != ""]``.

    ``?image=`` (empty) is dropped, not an int() error; junk still is a 500.
    """
    resp = call(app, "/webclient/api/annotations/?type=map&image=&image=9762957")
    assert resp.status == 200
    assert {a["link"]["parent"]["id"] for a in body(resp)["annotations"]} == {9762957}
    assert body(call(app, "/webclient/api/annotations/?image=")) == {
        "annotations": [],
        "experimenters": [],
    }
    assert call(app, "/webclient/api/annotations/?image=x").status == 500


def test_searchengine_unknown_path_is_flasks_404(app: App) -> None:
    """The search engine is a Flask app behind nginx ``^~ /searchengine`` (idr-api.md §0).

    Werkzeug's NotFound body, not OMERO.web's page.
    """
    resp = call(app, "/searchengine/api/v1/resources/image/nosuchview/")
    assert resp.status == 404
    assert resp.content_type == "text/html; charset=utf-8"
    assert resp.body.startswith(b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>")
    assert b"OMERO.web" not in resp.body
