"""The OMERO JSON API ``/api/`` and ``/api/v0/`` (idr-api.md §7).

Shapes follow ``omero_marshal`` encoders: each object starts with ``@type``,
``@id``, ``omero:details``; fields that are null are *omitted*; units are
``{"@type": "TBD#LengthI", "Unit", "Symbol", "Value"}``; enums are
``{"@type": "TBD#...", "Value"}``. Views (``omeroweb/api/views.py``) append
``url:*`` links -- built from the emulator's own base URL (or the site's
``api_base_url``), never the production host. Lists return
``{"data": [...], "meta": {"offset", "limit", "maxLimit", "totalCount"}}``:
``limit`` defaults to 200, a negative one falls back to 200, anything above
``Site.api_max_limit`` (1000 as on IDR; a stock OMERO.web's is 500) is clamped
silently, ``limit=0`` gives no data but the real total;
unknown query parameters are ignored; wells are ordered column-major.
Errors: unknown id -> 404 JSON with a stack trace, bad ``offset``/``limit``/``owner``
-> 400 JSON without one; on lists, a non-integer filter (``?screen=abc``) or
``group`` -> 500 JSON with one (``getIntOrDefault`` raises outside the view's
``try``; ``json_response`` turns any other exception into a 500). Single-object
views never read ``group``. Checks run in the view's order: ``get_opts``'s
``offset``/``limit``/``owner`` first, then the filters, then ``group``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from harvester.emulator.catalogue import (
    GROUP_ID,
    GROUP_NAME,
    OWNER_FIRST,
    OWNER_ID,
    OWNER_LAST,
    OWNER_OMENAME,
    Catalogue,
    Dataset,
    Plate,
    Project,
    Run,
    Screen,
    Well,
)
from harvester.emulator.http import Request, Response, Route
from harvester.emulator.model import LENGTH_UNITS, ChannelInfo, ImageInfo
from harvester.emulator.rois import ROI_ID_STRIDE, Roi, Shape
from harvester.emulator.routes_common import (
    BadParam,
    json_response,
    py_int,
    traceback_text,
)
from harvester.emulator.routes_webgateway import well_sample_position
from harvester.emulator.site import API_DEFAULT_LIMIT, Site

OME = "http://www.openmicroscopy.org/Schemas/OME/2016-06#"
SCHEMA_URL = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


# -- encoders -------------------------------------------------------------------


def _details() -> dict[str, Any]:
    return {
        "@type": "TBD#Details",
        "owner": {
            "@type": OME + "Experimenter",
            "@id": OWNER_ID,
            "FirstName": OWNER_FIRST,
            "MiddleName": "",
            "LastName": OWNER_LAST,
            "Email": "",
            "Institution": "",
            "UserName": OWNER_OMENAME,
        },
        "group": {"@type": OME + "ExperimenterGroup", "@id": GROUP_ID, "Name": GROUP_NAME},
        "permissions": {
            "@type": "TBD#Permissions",
            "perm": "rwr---",
            "canAnnotate": False,
            "canDelete": False,
            "canEdit": False,
            "canLink": False,
            "isWorldWrite": False,
            "isWorldRead": False,
            "isGroupWrite": False,
            "isGroupRead": True,
            "isGroupAnnotate": False,
            "isUserWrite": True,
            "isUserRead": True,
        },
    }


def _head(cls: str, obj_id: int) -> dict[str, Any]:
    return {"@type": OME + cls, "@id": obj_id, "omero:details": _details()}


def _length(value: float, unit: str = "MICROMETER") -> dict[str, Any]:
    """A ``LengthI`` as stored: the value in its own unit (never converted here)."""
    symbol = LENGTH_UNITS[unit][0]
    return {"@type": "TBD#LengthI", "Unit": unit, "Symbol": symbol, "Value": value}


def _set(d: dict[str, Any], key: str, value: Any) -> None:
    """``set_if_not_none``: null fields are omitted, never sent as null."""
    if value is not None:
        d[key] = value


def encode_screen(screen: Screen) -> dict[str, Any]:
    v = _head("Screen", screen.id)
    v["Name"] = screen.name
    _set(v, "Description", screen.description or None)
    return v


def encode_plate(plate: Plate) -> dict[str, Any]:
    v = _head("Plate", plate.id)
    v["Name"] = plate.name
    v["Columns"] = plate.cols
    v["Rows"] = plate.rows
    return v


def encode_run(run: Run) -> dict[str, Any]:
    v = _head("PlateAcquisition", run.id)
    v["MaximumFieldCount"] = run.max_field_count
    v["StartTime"] = run.start_ms
    v["EndTime"] = run.end_ms
    return v


def encode_project(project: Project) -> dict[str, Any]:
    v = _head("Project", project.id)
    v["Name"] = project.name
    _set(v, "Description", project.description or None)
    return v


def encode_dataset(dataset: Dataset) -> dict[str, Any]:
    v = _head("Dataset", dataset.id)
    v["Name"] = dataset.name
    return v


def _rgba(color: str) -> tuple[int, int, int, int]:
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16), 255


def encode_channel(info: ImageInfo, index: int, channel: ChannelInfo) -> dict[str, Any]:
    red, green, blue, alpha = _rgba(channel.color)
    v = _head("Channel", info.id * 10 + index)
    v.update({"Alpha": alpha, "Blue": blue, "Green": green, "Red": red})
    v["omero:LogicalChannelId"] = info.id * 10 + index
    if channel.emission_wave is not None:
        v["EmissionWavelength"] = {
            "@type": "TBD#LengthI",
            "Unit": "NANOMETER",
            "Symbol": "nm",
            "Value": channel.emission_wave,
        }
    v["Name"] = channel.label
    v["SamplesPerPixel"] = 1
    v["omero:photometricInterpretation"] = {
        "@type": "TBD#PhotometricInterpretation",
        "Value": "Monochrome",
    }
    return v


def encode_pixels(info: ImageInfo, channels: bool) -> dict[str, Any]:
    v = _head("Pixels", info.id)
    if info.physical_size_x is not None:
        v["PhysicalSizeX"] = _length(info.physical_size_x, info.length_unit)
    if info.physical_size_y is not None:
        v["PhysicalSizeY"] = _length(info.physical_size_y, info.length_unit)
    if info.physical_size_z is not None:
        v["PhysicalSizeZ"] = _length(info.physical_size_z, info.length_unit)
    v["omero:sha1"] = "Pending..."
    v["SignificantBits"] = 8 if info.pixel_type in ("uint8", "int8") else 16
    v.update(
        {
            "SizeX": info.size_x,
            "SizeY": info.size_y,
            "SizeZ": info.size_z,
            "SizeC": info.size_c,
            "SizeT": info.size_t,
        }
    )
    if info.time_increment is not None:
        v["TimeIncrement"] = {
            "@type": "TBD#TimeI",
            "Unit": "SECOND",
            "Symbol": "s",
            "Value": info.time_increment,
        }
    v["DimensionOrder"] = {"@type": "TBD#DimensionOrder", "Value": "XYZCT"}
    v["Type"] = {"@type": "TBD#PixelsType", "Value": info.pixel_type}
    if channels:
        v["Channels"] = [encode_channel(info, i, c) for i, c in enumerate(info.channels)]
    return v


def encode_image(
    info: ImageInfo, *, pixels: bool, channels: bool = False, fmt: bool = True
) -> dict[str, Any]:
    v = _head("Image", info.id)
    v["AcquisitionDate"] = int(info.acquisition_ts) * 1000
    v["omero:archived"] = False
    v["Name"] = info.name
    v["omero:series"] = 0
    if fmt:
        v["omero:format"] = {
            "@type": "TBD#Format",
            "Value": "OMETiff" if info.well_id is None else "ScanR",
        }
    if pixels:
        v["Pixels"] = encode_pixels(info, channels)
    return v


# -- the request context ------------------------------------------------------------------


class ApiError(Exception):
    """A JSON-API error answer (status, message, stack trace or None)."""

    def __init__(self, status: int, message: str, trace: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.trace = trace


@dataclass
class Ctx:
    """One request: the catalogue plus ``url()`` for absolute links."""

    site: Site
    req: Request
    base: str

    @property
    def cat(self) -> Catalogue:
        return self.site.catalogue

    def url(self, path: str) -> str:
        return f"{self.base}/api/v0/{path}"

    def param_int(self, name: str) -> int | None:
        value = self.req.param(name)
        if value is None:
            return None
        try:
            return py_int(value)
        except BadParam as exc:
            raise ApiError(400, str(exc), trace=False) from None

    def window(self) -> tuple[int, int]:
        """``ObjectsView.get_opts``: ``offset``, ``limit`` and ``owner`` inside its ``try``.

        Junk in any of them is a ``BadRequestError`` (400, no trace). ``owner`` is
        parsed but does not filter: every emulated object belongs to the public user.
        """
        offset = self.param_int("offset")
        limit = self.param_int("limit")
        self.param_int("owner")
        if offset is None or offset < 0:
            offset = 0
        if limit is None or limit < 0:
            limit = API_DEFAULT_LIMIT
        return offset, min(limit, self.site.api_max_limit)

    def filter_int(self, name: str) -> int | None:
        """A list filter (``?screen=``, ``?dataset=``...) parsed by ``getIntOrDefault``.

        omero-web parses filters after ``get_opts``'s ``try``: junk raises a bare
        ``ValueError``, which ``json_response`` answers with 500 JSON and a stack
        trace (not "ignored": a harvester passing a bad id must see an error).
        """
        value = self.req.param(name)
        if value is None:
            return None
        try:
            return py_int(value)
        except BadParam as exc:
            self.window()  # get_opts ran first: its 400 wins
            raise ApiError(500, str(exc)) from None

    def check_group(self) -> None:
        """``ObjectsView.get`` reads ``group`` last, outside any ``try`` -> 500 on junk."""
        group = self.req.param("group")
        if group is not None:
            try:
                py_int(group)
            except BadParam as exc:
                raise ApiError(500, str(exc)) from None


def _ctx(site: Site, req: Request) -> Ctx:
    return Ctx(site, req, site.base_url(req.base_url))


def _api_response(
    fn: Callable[[Ctx, re.Match[str]], dict[str, Any]],
) -> Callable[[Site, Request, re.Match[str]], Response]:
    """``json_response``: run the view, turn :class:`ApiError` into JSON errors."""

    def handler(site: Site, req: Request, match: re.Match[str]) -> Response:
        ctx = _ctx(site, req)
        try:
            return json_response(fn(ctx, match))
        except ApiError as exc:
            body: dict[str, Any] = {"message": exc.message}
            if exc.trace:
                body["stacktrace"] = traceback_text(
                    "omeroweb.api.api_exceptions.NotFoundError"
                    if exc.status == 404
                    else "ValueError",
                    exc.message,
                    "api/views.py",
                )
            return json_response(body, exc.status)

    return handler


# -- list machinery ---------------------------------------------------------------


@dataclass
class Listing:
    """A lazily sliceable list: ``total`` items, ``items(offset, limit)``."""

    total: int
    items: Callable[[int, int], list[Any]]


def _eager(objs: list[Any]) -> Listing:
    return Listing(len(objs), lambda off, lim: objs[off : off + lim])


def _list(
    ctx: Ctx,
    listing: Listing,
    encode: Callable[[Any], dict[str, Any]],
    child_count: Callable[[Any], int] | None = None,
) -> dict[str, Any]:
    offset, limit = ctx.window()
    ctx.check_group()
    objs = listing.items(offset, limit) if limit > 0 else []
    data = []
    with_counts = ctx.req.param("childCount") == "true" and child_count is not None
    for obj in objs:
        item = encode(obj)
        if with_counts:
            assert child_count is not None
            # marshal_objects merges extras before the view appends url:* links
            urls = {k: item.pop(k) for k in [k for k in item if k.startswith("url:")]}
            item["omero:childCount"] = child_count(obj)
            item.update(urls)
        data.append(item)
    meta = {
        "offset": offset,
        "limit": limit,
        "maxLimit": ctx.site.api_max_limit,
        "totalCount": listing.total,
    }
    if ctx.req.param("normalize") == "true":
        experimenters: dict[int, Any] = {}
        groups: dict[int, Any] = {}
        for item in data:
            details = item["omero:details"]
            experimenters[details["owner"]["@id"]] = details["owner"]
            groups[details["group"]["@id"]] = details["group"]
            details["owner"] = {"@id": details["owner"]["@id"]}
            details["group"] = {"@id": details["group"]["@id"]}
        return {
            "experimenters": list(experimenters.values()),
            "experimenterGroups": list(groups.values()),
            "data": data,
            "meta": meta,
        }
    return {"data": data, "meta": meta}


# -- object encoders with their view's url:* links --------------------------------


def _screen_list_item(ctx: Ctx, s: Screen) -> dict[str, Any]:
    v = encode_screen(s)
    v["url:plates"] = ctx.url(f"m/screens/{s.id}/plates/")
    v["url:screen"] = ctx.url(f"m/screens/{s.id}/")
    return v


def _plate_list_item(ctx: Ctx, p: Plate) -> dict[str, Any]:
    v = encode_plate(p)
    v["url:screens"] = ctx.url(f"m/plates/{p.id}/screens/")
    v["url:wells"] = ctx.url(f"m/plates/{p.id}/wells/")
    v["url:plate"] = ctx.url(f"m/plates/{p.id}/")
    v["url:plateacquisitions"] = ctx.url(f"m/plates/{p.id}/plateacquisitions/")
    return v


def _wellsample_index(ctx: Ctx, plate: Plate, run_id: int | None = None) -> list[int]:
    """``[min, max]`` WellSample index of the plate, or of one of its runs."""
    if not plate.spec.positions:
        return []
    if run_id is not None:
        samples = ctx.cat.run_samples(run_id)
        return [samples[0], samples[-1]] if samples else []
    return [0, plate.spec.fields - 1]


def _put_wellsample_index(
    ctx: Ctx, v: dict[str, Any], base: str, plate: Plate, run_id: int | None = None
) -> None:
    """Set ``omero:wellsampleIndex`` and its ``{base}wellsampleindex/{i}/wells/`` URLs."""
    idx = _wellsample_index(ctx, plate, run_id)
    v["omero:wellsampleIndex"] = idx
    v["url:wellsampleindex_wells"] = (
        [ctx.url(f"{base}wellsampleindex/{i}/wells/") for i in range(idx[0], idx[1] + 1)]
        if idx
        else []
    )


def _run_list_item(ctx: Ctx, run: Run) -> dict[str, Any]:
    v = encode_run(run)
    v["url:plateacquisition"] = ctx.url(f"m/plateacquisitions/{run.id}/")
    plate = ctx.cat.plate(run.plate_id)
    assert plate is not None
    _put_wellsample_index(ctx, v, f"m/plateacquisitions/{run.id}/", plate, run.id)
    return v


def _project_list_item(ctx: Ctx, p: Project) -> dict[str, Any]:
    v = encode_project(p)
    v["url:datasets"] = ctx.url(f"m/projects/{p.id}/datasets/")
    v["url:project"] = ctx.url(f"m/projects/{p.id}/")
    return v


def _dataset_list_item(ctx: Ctx, d: Dataset) -> dict[str, Any]:
    v = encode_dataset(d)
    v["url:images"] = ctx.url(f"m/datasets/{d.id}/images/")
    v["url:dataset"] = ctx.url(f"m/datasets/{d.id}/")
    v["url:projects"] = ctx.url(f"m/datasets/{d.id}/projects/")
    return v


def _image_list_item(ctx: Ctx, info: ImageInfo) -> dict[str, Any]:
    v = encode_image(info, pixels=True)
    v["url:image"] = ctx.url(f"m/images/{info.id}/")
    v["url:datasets"] = ctx.url(f"m/images/{info.id}/datasets/")
    return v


def _encode_well(
    ctx: Ctx, well: Well, *, pixels: bool, index: int | None = None, run_id: int | None = None
) -> dict[str, Any]:
    cat = ctx.cat
    v = _head("Well", well.id)
    v["Column"] = well.col
    v["Row"] = well.row
    samples = []
    in_run = cat.run_samples(run_id) if run_id is not None else None
    for fld, image_id in enumerate(cat.well_image_ids(well)):
        if index is not None and fld != index:
            continue
        if in_run is not None and fld not in in_run:
            continue
        info = cat.image(image_id)
        assert info is not None and info.well_sample_id is not None
        ws = _head("WellSample", info.well_sample_id)
        pos = well_sample_position(fld)
        ws["PositionX"] = {
            "@type": "TBD#LengthI",
            "Unit": "MICROMETER",
            "Symbol": "\u00b5m",
            "Value": pos["x"]["value"],
        }
        ws["PositionY"] = {
            "@type": "TBD#LengthI",
            "Unit": "MICROMETER",
            "Symbol": "\u00b5m",
            "Value": pos["y"]["value"],
        }
        image = encode_image(info, pixels=pixels, fmt=False)
        image["url:image"] = ctx.url(f"m/images/{image_id}/")
        ws["Image"] = image
        if info.run_id is not None:
            run = cat.run(info.run_id)
            assert run is not None
            ws["PlateAcquisition"] = encode_run(run)
        samples.append(ws)
    if samples:
        v["WellSamples"] = samples
    return v


def _well_list_item(
    ctx: Ctx, well: Well, index: int | None = None, run_id: int | None = None
) -> dict[str, Any]:
    v = _encode_well(ctx, well, pixels=False, index=index, run_id=run_id)
    v["url:well"] = ctx.url(f"m/wells/{well.id}/")
    v["url:plates"] = ctx.url(f"m/wells/{well.id}/plates/")
    return v


def _column_major(wells: list[Well]) -> list[Well]:
    return sorted(wells, key=lambda w: (w.col, w.row))


def _images_listing(cat: Catalogue, ids: Callable[[int, int], list[int]], total: int) -> Listing:
    def items(off: int, lim: int) -> list[Any]:
        out = []
        for image_id in ids(off, lim):
            info = cat.image(image_id)
            if info is not None:
                out.append(info)
        return out

    return Listing(total, items)


def _all_image_ids(cat: Catalogue) -> Iterator[int]:
    return cat.iter_image_ids()


# -- views ---------------------------------------------------------------------------


def api_versions(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    return {"data": [{"version": "0", "url:base": ctx.url("")}]}


def api_base(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    return {
        "url:experimenters": ctx.url("m/experimenters/"),
        "url:experimentergroups": ctx.url("m/experimentergroups/"),
        "url:projects": ctx.url("m/projects/"),
        "url:datasets": ctx.url("m/datasets/"),
        "url:images": ctx.url("m/images/"),
        "url:screens": ctx.url("m/screens/"),
        "url:plates": ctx.url("m/plates/"),
        "url:rois": ctx.url("m/rois/"),
        "url:token": ctx.url("token/"),
        "url:servers": ctx.url("servers/"),
        "url:login": ctx.url("login/"),
        "url:save": ctx.url("m/save/"),
        "url:schema": SCHEMA_URL,
    }


def api_token(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    return {"data": ctx.site.session_token[:32].upper()}


def api_servers(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    return {"data": [{"id": 1, "host": "localhost", "port": 4064, "server": "omero"}]}


def screens(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    cat = ctx.cat
    plate_id = _path_or_filter(ctx, match, "plate_id", "plate")
    items = cat.screens()
    if plate_id is not None:
        plate = cat.plate(plate_id)
        items = [s for s in items if plate is not None and s.id == plate.screen_id]
    return _list(ctx, _eager(items), lambda s: _screen_list_item(ctx, s), lambda s: s.n_plates)


def _path_or_filter(ctx: Ctx, match: re.Match[str], group: str, param: str) -> int | None:
    value = match.groupdict().get(group)
    if value is not None:
        return int(value)
    return ctx.filter_int(param)


def plates(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    cat = ctx.cat
    screen_id = _path_or_filter(ctx, match, "screen_id", "screen")
    well_id = _path_or_filter(ctx, match, "well_id", "well")
    items = cat.all_plates() if screen_id is None else cat.plates(screen_id)
    if well_id is not None:
        well = cat.well(well_id)
        items = [p for p in items if well is not None and p.id == well.plate_id]
    return _list(ctx, _eager(items), lambda p: _plate_list_item(ctx, p))


def plate_runs(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    runs = ctx.cat.runs(int(match.group("plate_id")))
    return _list(ctx, _eager(runs), lambda r: _run_list_item(ctx, r))


def wells(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    cat = ctx.cat
    plate_id = _path_or_filter(ctx, match, "plate_id", "plate")
    run_id = match.groupdict().get("run_id")
    index_text = match.groupdict().get("index")
    index = int(index_text) if index_text is not None else None
    if run_id is not None:
        run = cat.run(int(run_id))
        items = cat.wells(run.plate_id) if run is not None else []
    elif plate_id is not None:
        items = cat.wells(plate_id)
    else:
        items = [w for s in cat.screens() for p in cat.plates(s.id) for w in cat.wells(p.id)]
    items = _column_major(items)
    rid = int(run_id) if run_id is not None else None
    if index is not None or rid is not None:
        # Only wells with a sample at that index (or in that run) are listed.
        in_run = cat.run_samples(rid) if rid is not None else None

        def listed(well: Well) -> bool:
            count = len(cat.well_image_ids(well))
            if index is not None:
                return index < count and (in_run is None or index in in_run)
            return in_run is not None and any(k < count for k in in_run)

        items = [w for w in items if listed(w)]
    return _list(ctx, _eager(items), lambda w: _well_list_item(ctx, w, index, rid))


def projects(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    cat = ctx.cat
    dataset_id = _path_or_filter(ctx, match, "dataset_id", "dataset")
    items = cat.projects()
    if dataset_id is not None:
        holders = cat.dataset_project_ids(dataset_id)  # Project-Dataset links: many-to-many
        items = [p for p in items if p.id in holders]
    return _list(ctx, _eager(items), lambda p: _project_list_item(ctx, p), lambda p: p.n_datasets)


def datasets(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    cat = ctx.cat
    project_id = _path_or_filter(ctx, match, "project_id", "project")
    image_id = _path_or_filter(ctx, match, "image_id", "image")
    items = cat.all_datasets() if project_id is None else cat.datasets(project_id)
    if image_id is not None:
        mine = {d.id for d in cat.image_datasets(image_id)}
        items = [d for d in items if d.id in mine]
    return _list(ctx, _eager(items), lambda d: _dataset_list_item(ctx, d), lambda d: d.n_images)


def images(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    cat = ctx.cat
    dataset_id = _path_or_filter(ctx, match, "dataset_id", "dataset")
    if dataset_id is not None:
        ds = cat.dataset(dataset_id)
        total = ds.n_images if ds is not None else 0
        listing = _images_listing(
            cat, lambda off, lim: cat.dataset_image_ids(dataset_id, off, lim), total
        )
    else:
        # Every image, in id order (the real server sorts by name).
        listing = _images_listing(
            cat,
            lambda off, lim: list(itertools.islice(_all_image_ids(cat), off, off + lim)),
            cat.image_count(),
        )
    return _list(ctx, listing, lambda i: _image_list_item(ctx, i))


# -- single objects --------------------------------------------------------------


def _not_found(kind: str, obj_id: int) -> ApiError:
    return ApiError(404, f"{kind} {obj_id} not found")


_T = TypeVar("_T")


def _lookup(match: re.Match[str], find: Callable[[int], _T | None], kind: str) -> tuple[int, _T]:
    """The path's ``obj_id`` and its object; a 404 ApiError when there is none."""
    obj_id = int(match.group("obj_id"))
    obj = find(obj_id)
    if obj is None:
        raise _not_found(kind, obj_id)
    return obj_id, obj


def _child_count(ctx: Ctx, v: dict[str, Any], count: int) -> None:
    if ctx.req.param("childCount") == "true":
        v["omero:childCount"] = count


def screen(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    sid, s = _lookup(match, ctx.cat.screen, "Screen")
    v = encode_screen(s)
    _child_count(ctx, v, s.n_plates)
    v["url:plates"] = ctx.url(f"m/screens/{sid}/plates/")
    return {"data": v}


def plate(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    pid, p = _lookup(match, ctx.cat.plate, "Plate")
    v = encode_plate(p)
    v["url:screens"] = ctx.url(f"m/plates/{pid}/screens/")
    v["url:wells"] = ctx.url(f"m/plates/{pid}/wells/")
    v["url:plateacquisitions"] = ctx.url(f"m/plates/{pid}/plateacquisitions/")
    _put_wellsample_index(ctx, v, f"m/plates/{pid}/", p)
    return {"data": v}


def run_view(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    rid, run = _lookup(match, ctx.cat.run, "PlateAcquisition")
    v = encode_run(run)
    p = ctx.cat.plate(run.plate_id)
    assert p is not None
    _put_wellsample_index(ctx, v, f"m/plateacquisitions/{rid}/", p, rid)
    return {"data": v}


def well(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    wid, w = _lookup(match, ctx.cat.well, "Well")
    v = _encode_well(ctx, w, pixels=True)
    v["url:plates"] = ctx.url(f"m/wells/{wid}/plates/")
    return {"data": v}


def image(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    iid, info = _lookup(match, ctx.cat.image, "Image")
    v = encode_image(info, pixels=True, channels=True)
    v["url:datasets"] = ctx.url(f"m/images/{iid}/datasets/")
    v["url:rois"] = ctx.url(f"m/images/{iid}/rois/")
    return {"data": v}


def project(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    pid, p = _lookup(match, ctx.cat.project, "Project")
    v = encode_project(p)
    _child_count(ctx, v, p.n_datasets)
    v["url:datasets"] = ctx.url(f"m/projects/{pid}/datasets/")
    return {"data": v}


def dataset(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    did, d = _lookup(match, ctx.cat.dataset, "Dataset")
    v = encode_dataset(d)
    _child_count(ctx, v, d.n_images)
    v["url:images"] = ctx.url(f"m/datasets/{did}/images/")
    v["url:projects"] = ctx.url(f"m/datasets/{did}/projects/")
    return {"data": v}


def _experimenter(ctx: Ctx, listed: bool) -> dict[str, Any]:
    v = _head("Experimenter", OWNER_ID)
    v.update(_details()["owner"])
    v["@type"], v["@id"] = OME + "Experimenter", OWNER_ID
    if listed:
        v["url:experimenter"] = ctx.url(f"m/experimenters/{OWNER_ID}/")
    v["url:experimentergroups"] = ctx.url(f"m/experimenters/{OWNER_ID}/experimentergroups/")
    return v


def _group(ctx: Ctx, listed: bool) -> dict[str, Any]:
    v = _head("ExperimenterGroup", GROUP_ID)
    v["Name"] = GROUP_NAME
    if listed:
        v["url:experimentergroup"] = ctx.url(f"m/experimentergroups/{GROUP_ID}/")
    v["url:experimenters"] = ctx.url(f"m/experimentergroups/{GROUP_ID}/experimenters/")
    return v


def experimenters(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    """The public user is the only experimenter."""
    group = match.groupdict().get("group_id")
    items = [] if group is not None and int(group) != GROUP_ID else [OWNER_ID]
    return _list(ctx, _eager(items), lambda _: _experimenter(ctx, True))


def experimenter(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    obj_id = int(match.group("obj_id"))
    if obj_id != OWNER_ID:
        raise _not_found("Experimenter", obj_id)
    return {"data": _experimenter(ctx, False)}


def groups(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    """The public group is the only group."""
    member = match.groupdict().get("experimenter_id")
    items = [] if member is not None and int(member) != OWNER_ID else [GROUP_ID]
    return _list(ctx, _eager(items), lambda _: _group(ctx, True))


def group(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    obj_id = int(match.group("obj_id"))
    if obj_id != GROUP_ID:
        raise _not_found("ExperimenterGroup", obj_id)
    return {"data": _group(ctx, False)}


def encode_shape(shape: Shape) -> dict[str, Any]:
    """A shape as omero_marshal's 2016-06 encoders write it: the ``Shape`` fields
    (null ones omitted), then the kind's own geometry."""
    v = _head(shape.kind, shape.id)
    v["FillColor"] = 0  # transparent: outlines, as most drawn and computed ROIs are
    v["StrokeColor"] = shape.stroke
    v["StrokeWidth"] = {"@type": "TBD#LengthI", "Unit": "PIXEL", "Symbol": "pixel", "Value": 1.0}
    _set(v, "TheC", shape.the_c)
    v["TheT"] = shape.the_t
    v["TheZ"] = shape.the_z
    v.update(shape.geometry)
    return v


def encode_roi(roi: Roi) -> dict[str, Any]:
    """A ROI with its shapes loaded (``RoisView`` sets ``load_shapes``)."""
    v = _head("ROI", roi.id)
    _set(v, "Name", roi.name)
    if roi.shapes:
        v["shapes"] = [encode_shape(s) for s in roi.shapes]
    return v


def _roi_list_item(ctx: Ctx, roi: Roi) -> dict[str, Any]:
    v = encode_roi(roi)
    v["url:roi"] = ctx.url(f"m/rois/{roi.id}/")
    return v


def rois(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    """``RoisView``: an image's ROIs (path or ``?image=``) in id order, shapes loaded.

    Without an image every ROI of the server would be listed; the emulator lists
    none then (nothing asks for that list, and for ``huge`` it would be millions).
    """
    cat = ctx.cat
    image_id = _path_or_filter(ctx, match, "image_id", "image")
    if image_id is None:
        return _list(ctx, _eager([]), lambda r: {})
    listing = Listing(cat.roi_count(image_id), lambda off, lim: cat.image_rois(image_id, off, lim))
    return _list(ctx, listing, lambda r: _roi_list_item(ctx, r))


def roi(ctx: Ctx, match: re.Match[str]) -> dict[str, Any]:
    """One ROI by id (``api_roi``, the target of each listed ROI's ``url:roi``)."""
    roi_id = int(match.group("obj_id"))
    image_id, index = divmod(roi_id - 1, ROI_ID_STRIDE)
    found = ctx.cat.image_rois(image_id, index, 1) if roi_id > 0 else []
    if not found or found[0].id != roi_id:
        raise _not_found("Roi", roi_id)
    return {"data": encode_roi(found[0])}


# -- routes ----------------------------------------------------------------------

_V = r"/api/v0/"


def api_login(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``/api/v0/login/`` (``webgateway.views.LoginView``), advertised as ``url:login``.

    GET: ``JsonResponse({"message": "POST only with username, password, server and
    csrftoken"}, status=405)`` -- a plain JsonResponse, so no ``X-OMERO-ApiVersion``.
    A POST never gets here: the app answers it with Django's CSRF failure first
    (on IDR ``/api/*`` is proxy-cached with ``Set-Cookie`` hidden, so ``token/``
    cannot set the ``csrftoken`` cookie a login needs).
    """
    return json_response(
        {"message": "POST only with username, password, server and csrftoken"}, 405
    )


def _route(name: str, pattern: str, view: Callable[[Ctx, re.Match[str]], dict[str, Any]]) -> Route:
    return Route(f"api_{name}", re.compile(pattern), _api_response(view), cached=True)


ROUTES: list[Route] = [
    _route("versions", r"/api/", api_versions),
    _route("base", _V, api_base),
    _route("token", _V + r"token/", api_token),
    _route("servers", _V + r"servers/", api_servers),
    Route(
        "api_login",
        re.compile(_V + r"login/"),
        api_login,
        methods=frozenset({"GET", "HEAD", "POST"}),
        cached=True,
    ),
    _route("screens", _V + r"m/screens/", screens),
    _route("screen", _V + r"m/screens/(?P<obj_id>\d+)/", screen),
    _route("screen_plates", _V + r"m/screens/(?P<screen_id>\d+)/plates/", plates),
    _route("plates", _V + r"m/plates/", plates),
    _route("plate", _V + r"m/plates/(?P<obj_id>\d+)/", plate),
    _route("plate_wells", _V + r"m/plates/(?P<plate_id>\d+)/wells/", wells),
    _route("plate_screens", _V + r"m/plates/(?P<plate_id>\d+)/screens/", screens),
    _route("plate_runs", _V + r"m/plates/(?P<plate_id>\d+)/plateacquisitions/", plate_runs),
    _route(
        "plate_wsindex_wells",
        _V + r"m/plates/(?P<plate_id>\d+)/wellsampleindex/(?P<index>\d+)/wells/",
        wells,
    ),
    _route("plateacquisition", _V + r"m/plateacquisitions/(?P<obj_id>\d+)/", run_view),
    _route("plateacquisition_wells", _V + r"m/plateacquisitions/(?P<run_id>\d+)/wells/", wells),
    _route(
        "plateacquisition_wsindex_wells",
        _V + r"m/plateacquisitions/(?P<run_id>\d+)/wellsampleindex/(?P<index>\d+)/wells/",
        wells,
    ),
    _route("wells", _V + r"m/wells/", wells),
    _route("well", _V + r"m/wells/(?P<obj_id>\d+)/", well),
    _route("well_plates", _V + r"m/wells/(?P<well_id>\d+)/plates/", plates),
    _route("projects", _V + r"m/projects/", projects),
    _route("project", _V + r"m/projects/(?P<obj_id>\d+)/", project),
    _route("project_datasets", _V + r"m/projects/(?P<project_id>\d+)/datasets/", datasets),
    _route("datasets", _V + r"m/datasets/", datasets),
    _route("dataset", _V + r"m/datasets/(?P<obj_id>\d+)/", dataset),
    _route("dataset_images", _V + r"m/datasets/(?P<dataset_id>\d+)/images/", images),
    _route("dataset_projects", _V + r"m/datasets/(?P<dataset_id>\d+)/projects/", projects),
    _route("images", _V + r"m/images/", images),
    _route("image", _V + r"m/images/(?P<obj_id>\d+)/", image),
    _route("image_datasets", _V + r"m/images/(?P<image_id>\d+)/datasets/", datasets),
    _route("image_rois", _V + r"m/images/(?P<image_id>\d+)/rois/", rois),
    _route("rois", _V + r"m/rois/", rois),
    _route("roi", _V + r"m/rois/(?P<obj_id>\d+)/", roi),
    _route("experimenters", _V + r"m/experimenters/", experimenters),
    _route("experimenter", _V + r"m/experimenters/(?P<obj_id>\d+)/", experimenter),
    _route(
        "experimenter_groups",
        _V + r"m/experimenters/(?P<experimenter_id>\d+)/experimentergroups/",
        groups,
    ),
    _route("experimentergroups", _V + r"m/experimentergroups/", groups),
    _route("experimentergroup", _V + r"m/experimentergroups/(?P<obj_id>\d+)/", group),
    _route(
        "experimentergroup_experimenters",
        _V + r"m/experimentergroups/(?P<group_id>\d+)/experimenters/",
        experimenters,
    ),
]
