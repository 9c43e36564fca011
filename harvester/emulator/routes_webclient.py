"""``/webclient/api/*``: the tree JSON of OMERO.web's webclient (idr-api.md §2).

Semantics reproduced from ``omeroweb/webclient/views.py`` and ``tree.py``:
``page`` is 1-based (default 1), ``limit`` defaults to ``omero.web.page_size``
(500 on IDR) with no maximum, ``page=0`` (or negative) disables paging, no
totals are reported, lists are ordered by ``lower(name), id`` (plate
acquisitions by id). A non-integer ``page``/``limit``/``id``/``group`` is a
400 ``Invalid parameter value`` -- except in ``api/annotations/`` whose
parsing is unguarded and so fails with Django's 500 page. A ``group`` the
public user is not in is a 403 ``Not a member of Group: N`` (containers,
datasets, images, plates; ``plate_acquisitions`` ignores ``group``). Keys
appear in the order the real marshal functions insert them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar

from harvester.emulator.catalogue import (
    GROUP_ID,
    OWNER_FIRST,
    OWNER_ID,
    OWNER_LAST,
    OWNER_OMENAME,
    ImageLocation,
    MapAnn,
)
from harvester.emulator.http import Request, Response, Route
from harvester.emulator.routes_common import (
    BadParam,
    django_500,
    int_param,
    json_response,
    py_int,
    text_response,
    to_bool,
)
from harvester.emulator.site import Site

T = TypeVar("T")

#: ``ANNOTATIONS_LIMIT`` = ``PAGE * 100`` (50 000 on IDR).
ANNOTATIONS_LIMIT_FACTOR = 100
_NO_PERMS = {"canDelete": False, "canAnnotate": False, "canLink": False, "canEdit": False}


def _server_tz() -> tzinfo:
    """``omero.web.time_zone`` (Europe/London by default); UTC if tzdata is missing."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/London")
    except Exception:  # pragma: no cover - depends on the host's tzdata
        return UTC


SERVER_TZ = _server_tz()


def marshal_date(ts: float) -> str:
    """``tree._marshal_date``: whole seconds, ISO-8601 with the server's offset."""
    return datetime.fromtimestamp(int(ts), SERVER_TZ).isoformat()


def page_slice(items: Sequence[T], page: int, limit: int) -> list[T]:
    """``params.page((page-1)*limit, limit)`` only when ``page > 0``."""
    if page <= 0 or limit <= 0:
        return list(items)
    start = (page - 1) * limit
    return list(items[start : start + limit])


#: Groups IDR's public user belongs to: the system "user" group (1) and the
#: public data group. ``conn.isValidGroup(gid)`` accepts these and -1 (all).
PUBLIC_USER_GROUPS = (-1, 1, GROUP_ID)


class _Paging:
    """``page``/``limit`` (and ``group`` unless told not to) as list views parse them.

    Junk in any is a 400 ``Invalid parameter value``. ``api/plate_acquisitions/``
    never reads ``group`` (``with_group=False``).
    """

    def __init__(self, site: Site, req: Request, with_group: bool = True) -> None:
        page = int_param(req, "page", 1)
        limit = int_param(req, "limit", site.webclient_page_size)
        group = int_param(req, "group", -1) if with_group else -1
        assert page is not None and limit is not None and group is not None
        self.page = page
        self.limit = limit
        self.group = group

    def forbidden(self) -> Response | None:
        """``if not conn.isValidGroup(group_id): HttpResponseForbidden(...)`` (views.py).

        Checked after every parameter parsed (a junk one is still a 400 first).
        """
        if self.group in PUBLIC_USER_GROUPS:
            return None
        return text_response(403, f"Not a member of Group: {self.group}")

    def window(self) -> tuple[int, int | None]:
        """(offset, limit or None for everything)."""
        if self.page <= 0 or self.limit <= 0:
            return 0, None
        return (self.page - 1) * self.limit, self.limit


def _bad_request() -> Response:
    return text_response(400, "Invalid parameter value")


def _container(obj_id: int, name: str, child_count: int) -> dict[str, Any]:
    """``_marshal_project/_dataset/_screen/_plate``: the five keys in their order."""
    return {
        "id": obj_id,
        "name": name,
        "ownerId": OWNER_ID,
        "childCount": child_count,
        "permsCss": "",
    }


# -- lists ------------------------------------------------------------------


def api_containers(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``api/containers/``: projects, orphaned datasets, screens, orphaned plates."""
    try:
        paging = _Paging(site, req)
        int_param(req, "id", -1)
    except BadParam:
        return _bad_request()
    if (forbidden := paging.forbidden()) is not None:
        return forbidden
    cat = site.catalogue
    projects = [_container(p.id, p.name, p.n_datasets) for p in cat.projects()]
    screens = [_container(s.id, s.name, s.n_plates) for s in cat.screens()]
    # Every dataset/plate has a parent here, so the orphan lists are empty; IDR
    # disables the "orphaned" images container (omero.client.ui.tree.orphans).
    body = {
        "projects": page_slice(projects, paging.page, paging.limit),
        "datasets": [],
        "screens": page_slice(screens, paging.page, paging.limit),
        "plates": [],
    }
    return json_response(body)


def api_plates(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``api/plates/?id=<screen>``: childCount = number of runs."""
    try:
        paging = _Paging(site, req)
        screen_id = int_param(req, "id")
    except BadParam:
        return _bad_request()
    if (forbidden := paging.forbidden()) is not None:
        return forbidden
    cat = site.catalogue
    plates = cat.all_plates() if screen_id is None else cat.plates(screen_id)
    items = page_slice(plates, paging.page, paging.limit)
    return json_response({"plates": [_container(p.id, p.name, len(p.run_ids)) for p in items]})


def api_plate_acquisitions(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``api/plate_acquisitions/?id=<plate>``: runs by id; ``id`` is mandatory."""
    try:
        paging = _Paging(site, req, with_group=False)
        plate_id = int_param(req, "id")
    except BadParam:
        return _bad_request()
    if plate_id is None:
        return text_response(400, "id (plate) must be specified")
    runs = page_slice(site.catalogue.runs(plate_id), paging.page, paging.limit)
    out = []
    for run in runs:
        start = datetime.fromtimestamp(run.start_ms / 1000.0, UTC).replace(tzinfo=None)
        end = datetime.fromtimestamp(run.end_ms / 1000.0, UTC).replace(tzinfo=None)
        # IDR's runs are unnamed: the name falls back to "<start> - <end>" (UTC).
        out.append({"id": run.id, "name": f"{start} - {end}", "ownerId": OWNER_ID, "permsCss": ""})
    return json_response({"acquisitions": out})


def api_datasets(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``api/datasets/?id=<project>``: childCount = number of images."""
    try:
        paging = _Paging(site, req)
        project_id = int_param(req, "id")
    except BadParam:
        return _bad_request()
    if (forbidden := paging.forbidden()) is not None:
        return forbidden
    cat = site.catalogue
    datasets = cat.all_datasets() if project_id is None else cat.datasets(project_id)
    items = page_slice(datasets, paging.page, paging.limit)
    return json_response({"datasets": [_container(d.id, d.name, d.n_images) for d in items]})


def api_images(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``api/images/?id=<dataset>`` with ``sizeXYZ`` (no sizeC) and ``date``."""
    try:
        paging = _Paging(site, req)
        dataset_id = int_param(req, "id")
        int_param(req, "experimenter_id", -1)
    except BadParam:
        return _bad_request()
    if (forbidden := paging.forbidden()) is not None:
        return forbidden
    load_pixels = to_bool(req.param("sizeXYZ"))
    with_date = to_bool(req.param("date"))
    thumb_version = to_bool(req.param("thumbVersion"))
    cat = site.catalogue
    offset, limit = paging.window()
    if dataset_id is not None:
        ids = cat.dataset_image_ids(dataset_id, offset, limit)
    else:
        # Without an id OMERO lists every image; here: every project image,
        # dataset by dataset (HCS images are not in datasets).
        every = itertools.chain.from_iterable(
            cat.dataset_image_ids(d.id, linked=False) for d in cat.all_datasets()
        )
        stop = None if limit is None else offset + limit
        ids = list(itertools.islice(every, offset, stop))
    out = []
    for image_id in ids:
        info = cat.image(image_id)
        if info is None:  # pragma: no cover - ids come from the catalogue
            continue
        item: dict[str, Any] = {
            "id": info.id,
            "name": info.name,
            "ownerId": OWNER_ID,
            "permsCss": "",
        }
        if info.fileset_id is not None:
            item["filesetId"] = info.fileset_id
        if load_pixels:
            item.update(
                {
                    "sizeX": info.size_x,
                    "sizeY": info.size_y,
                    "sizeZ": info.size_z,
                    "sizeT": info.size_t,
                }
            )
        if with_date:
            item["date"] = marshal_date(info.acquisition_ts + 86_400)  # import (creation) time
            item["acqDate"] = marshal_date(info.acquisition_ts)
        if thumb_version:
            item["thumbVersion"] = 1
        out.append(item)
    return json_response({"images": out})


# -- annotations ---------------------------------------------------------------

_ANN_PARAMS: tuple[tuple[str, str], ...] = (
    ("project", "Project"),
    ("dataset", "Dataset"),
    ("image", "Image"),
    ("screen", "Screen"),
    ("plate", "Plate"),
    ("acquisition", "PlateAcquisition"),
    ("well", "Well"),
)


def marshal_annotation(ann: MapAnn) -> dict[str, Any]:
    """``tree._marshal_annotation`` for a map annotation and its link."""
    return {
        "id": ann.id,
        "ns": ann.ns,
        "name": None,
        "description": None,
        "owner": {"id": OWNER_ID},
        "date": marshal_date(ann.ts),
        "permissions": dict(_NO_PERMS),
        "link": {
            "id": ann.link_id,
            "owner": {"id": OWNER_ID},
            "parent": {"id": ann.parent_id, "class": ann.parent_class, "name": ann.parent_name},
            "date": marshal_date(ann.ts),
            "permissions": dict(_NO_PERMS),
        },
        "class": "MapAnnotationI",
        "values": [[k, v] for k, v in ann.values],
    }


def _annotations_of(site: Site, dtype: str, obj_id: int) -> list[MapAnn]:
    cat = site.catalogue
    if dtype in ("Screen", "Project"):
        ann = cat.study_annotation("screen" if dtype == "Screen" else "project", obj_id)
        return [] if ann is None else [ann]
    if dtype == "Well":
        return cat.well_annotations(obj_id)
    if dtype == "Image":
        return cat.image_annotations(obj_id)
    return []  # datasets, plates, runs carry no map annotations here


def _marshal_all(
    site: Site,
    ids: dict[str, list[int]],
    ann_type: str | None,
    ns: str | None,
    page: int,
    limit: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``tree.marshal_annotations``: one query per object type, each paged and ns-ordered."""
    annotations: list[dict[str, Any]] = []
    if ann_type in (None, "map"):
        for param, dtype in _ANN_PARAMS:
            found: list[MapAnn] = []
            for obj_id in dict.fromkeys(ids.get(param, [])):
                found += _annotations_of(site, dtype, obj_id)
            if ns is not None:
                found = [a for a in found if a.ns == ns]
            found.sort(key=lambda a: a.ns)  # "order by ch.ns" (stable within ns here)
            annotations += [marshal_annotation(a) for a in page_slice(found, page, limit)]
    experimenters = (
        [
            {
                "id": OWNER_ID,
                "omeName": OWNER_OMENAME,
                "firstName": OWNER_FIRST,
                "lastName": OWNER_LAST,
            }
        ]
        if annotations
        else []
    )
    return annotations, experimenters


_LINEAGE_CLASSES = (
    "ImageI",
    "DatasetI",
    "ProjectI",
    "PlateI",
    "PlateAcquisitionI",
    "WellI",
    "ScreenI",
)
_PARAM_OF_CLASS = {
    "ImageI": "image",
    "DatasetI": "dataset",
    "ProjectI": "project",
    "PlateI": "plate",
    "PlateAcquisitionI": "acquisition",
    "WellI": "well",
    "ScreenI": "screen",
}


def _lineage(site: Site, ids: dict[str, list[int]]) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """``tree.marshal_lineage``: parents of the requested objects, and their ids by param."""
    cat = site.catalogue
    lineage: dict[str, dict[str, list[dict[str, Any]]]] = {k: {} for k in _LINEAGE_CLASSES}
    parents: dict[str, list[int]] = {}

    def add(ref: dict[str, Any], cls: str, obj_id: int | None) -> None:
        if obj_id is None:
            return
        lineage[cls].setdefault(str(obj_id), []).append(ref)
        if obj_id not in ids.get(_PARAM_OF_CLASS[cls], []):
            parents.setdefault(_PARAM_OF_CLASS[cls], []).append(obj_id)

    for image_id in dict.fromkeys(ids.get("image", [])):
        loc = cat.locate(image_id)
        if loc is None:
            continue
        ref = {"id": image_id, "class": "ImageI", "name": loc.image.name}
        holders = cat.image_datasets(image_id)  # every dataset it is linked into
        for holder in holders:
            add(ref, "DatasetI", holder.id)
        projects = (p for holder in holders for p in cat.dataset_project_ids(holder.id))
        for project_id in dict.fromkeys(projects):
            add(ref, "ProjectI", project_id)
        add(ref, "PlateAcquisitionI", loc.image.run_id)
        add(ref, "WellI", loc.well.id if loc.well else None)
        add(ref, "PlateI", loc.plate.id if loc.plate else None)
        add(ref, "ScreenI", loc.screen.id if loc.screen else None)
    for well_id in dict.fromkeys(ids.get("well", [])):
        well = cat.well(well_id)
        plate = cat.plate(well.plate_id) if well else None
        if well is None or plate is None:
            continue
        ref = {"id": well_id, "class": "WellI", "name": well.label}
        add(ref, "PlateI", plate.id)
        add(ref, "ScreenI", plate.screen_id)
    for plate_id in dict.fromkeys(ids.get("plate", [])):
        plate = cat.plate(plate_id)
        if plate is not None:
            add({"id": plate_id, "class": "PlateI", "name": plate.name}, "ScreenI", plate.screen_id)
    for dataset_id in dict.fromkeys(ids.get("dataset", [])):
        dataset = cat.dataset(dataset_id)
        if dataset is not None:
            ref = {"id": dataset_id, "class": "DatasetI", "name": dataset.name}
            for project_id in cat.dataset_project_ids(dataset_id):
                add(ref, "ProjectI", project_id)
    return lineage, {k: list(dict.fromkeys(v)) for k, v in parents.items()}


def api_annotations(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``api/annotations/``: one entry per link, paged per object type, ordered by ns.

    ``parents=true`` adds ``parents: {annotations, lineage}``: the annotations
    of every container above the requested objects and, per container, which
    requested objects sit below it.
    """
    try:
        page = int_param(req, "page", 1)
        limit = int_param(req, "limit", site.webclient_page_size * ANNOTATIONS_LIMIT_FACTOR)
        assert page is not None and limit is not None
        # get_list(): request.GET.getlist(name) without the "" values; the rest
        # reach an unguarded int() (junk -> 500).
        ids = {p: [py_int(v) for v in req.params(p) if v != ""] for p, _ in _ANN_PARAMS}
    except BadParam as exc:
        return django_500(req, "ValueError", str(exc))
    ann_type = req.param("type")
    ns = req.param("ns")
    annotations, experimenters = _marshal_all(site, ids, ann_type, ns, page, limit)
    body: dict[str, Any] = {"annotations": annotations, "experimenters": experimenters}
    if to_bool(req.param("parents")):
        lineage, parent_ids = _lineage(site, ids)
        parent_anns, parent_exps = _marshal_all(site, parent_ids, ann_type, ns, page, limit)
        if parent_exps and not experimenters:
            body["experimenters"] = parent_exps
        body["parents"] = {"annotations": parent_anns, "lineage": lineage}
    return json_response(body)


def _fileset_members(site: Site, loc: ImageLocation) -> list[int]:
    """The image ids of the fileset of the image at ``loc`` (which has one), ascending. A
    plate's fileset holds every image of the plate (of its part, in a plate imported in
    parts); a dataset image's holds it alone, or the images of its multi-series file."""
    cat = site.catalogue
    if loc.plate is not None:
        wells = cat.fileset_wells(loc.plate, loc.sample)
        ids = [i for well in wells for i in cat.well_image_ids(well)]
    elif loc.project is not None and loc.project.spec.images_per_fileset > 1:
        per = loc.project.spec.images_per_fileset
        first = loc.image.id - loc.sample % per
        ids = list(range(first, first + per))
    else:
        ids = [loc.image.id]
    return sorted(ids)


def _split_fileset_html(action: str, fileset: int, given: list[int], others: list[int]) -> str:
    """One split fileset as ``fileset_check_dialog_content.html`` renders it (its first 4
    images of each side as thumbnail links)."""

    def thumbs(ids: list[int]) -> str:
        links = "".join(
            f'\n                <a href="/webclient/?show=image-{iid}">\n'
            f'                    <img src="/webclient/render_thumbnail/size/96/{iid}/" '
            'class="fileset_image"/>\n                </a>'
            for iid in ids[:4]
        )
        more = (
            '\n                <div style="height:35px; float: left; line-height:65px"> ... </div>'
            if len(ids) > 4
            else ""
        )
        return links + more

    plural = "" if len(given) == 1 else "s"
    return (
        '\n    <div class="split_fileset">\n        <div>\n'
        f"            You tried to {action} <strong>{len(given)}</strong>\n"
        f"            image{plural} from a fileset,\n"
        f"            leaving <strong>{len(others)}</strong>.\n"
        "            <!-- When we add this html to chgrp form - fileset will be included -->\n"
        f'            <input name="fileset" value="{fileset}" style="display:none"/>\n'
        "        </div>\n"
        '        <div style="border: 1px solid #87ABD2; float: left">'
        f"{thumbs(given)}\n        </div>\n"
        '        <div style="border: 1px solid #87ABD2; float: left; margin-left:35px">'
        f"{thumbs(others)}\n        </div>\n"
        '        <div style="clear:both"></div>\n    \n\n    </div>\n    '
    )


def fileset_check(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``webclient/fileset_check/{delete|chgrp}/?Image=1,2``: the filesets the images given
    split (hold some of them, not all), as the delete and move dialogs show them.

    omero-web's ``views.fileset_check``: ``int()`` of each comma-separated id (a bad one is
    Django's 500 page), ``IContainer.getImagesBySplitFilesets`` (unknown ids and images
    without a fileset split nothing), the template
    ``webclient/activities/fileset_check_dialog_content.html`` (``chgrp`` says "move").
    ``Image`` only here: ``Dataset`` and ``Project`` are taken as not given.
    """
    text = req.param("Image")
    try:
        given = set() if text is None else {int(i) for i in text.split(",")}
    except ValueError as exc:
        return django_500(req, "ValueError", str(exc))
    filesets: dict[int, tuple[list[int], list[int]]] = {}
    seen: set[int] = set()  # (each fileset's members listed once: a plate's are all its wells')
    for image_id in sorted(given):
        loc = site.catalogue.locate(image_id)
        fileset = None if loc is None else loc.image.fileset_id
        if loc is None or fileset is None or fileset in seen:
            continue
        seen.add(fileset)
        members = _fileset_members(site, loc)
        inside = [i for i in members if i in given]
        if len(inside) < len(members):
            filesets[fileset] = (inside, [i for i in members if i not in given])
    action = "move" if match.group("action") == "chgrp" else "delete"
    verb = "split into 2 groups." if action == "move" else "partially deleted."
    body = "".join(
        _split_fileset_html(action, fileset, inside, others)
        for fileset, (inside, others) in sorted(filesets.items())
    )
    page = (
        '\n<div class="split_filesets_info">\n    <h1>\n'
        '        <img style="vertical-align: middle; position:relative; top:-3px" '
        'src="/static/webgateway/img/failed.png" />\n'
        "        Multi-image filesets cannot be \n"
        f"        \n            {verb}\n        \n    </h1>\n\n    {body}\n\n</div>"
    )
    return text_response(200, page)


ROUTES: list[Route] = [
    Route(
        "webclient_fileset_check",
        re.compile(r"/webclient/fileset_check/(?P<action>delete|chgrp)/"),
        fileset_check,
    ),
    Route(
        "webclient_api_annotations",
        re.compile(r"/webclient/api/annotations/"),
        api_annotations,
        cached=True,
    ),
    Route(
        "webclient_api_containers",
        re.compile(r"/webclient/api/containers/"),
        api_containers,
        cached=True,
    ),
    Route("webclient_api_plates", re.compile(r"/webclient/api/plates/"), api_plates, cached=True),
    Route(
        "webclient_api_plate_acquisitions",
        re.compile(r"/webclient/api/plate_acquisitions/"),
        api_plate_acquisitions,
        cached=True,
    ),
    Route(
        "webclient_api_datasets", re.compile(r"/webclient/api/datasets/"), api_datasets, cached=True
    ),
    Route("webclient_api_images", re.compile(r"/webclient/api/images/"), api_images, cached=True),
]
