"""Non-image webgateway JSON: plate grids, well children, well data, bulk tables.

Reproduces ``webgateway/views.py`` (v5.26.0) and ``plategrid.py``:

* ``plate/{pid}/[{field}/[{acq}/]]``: the grid is sized from the highest
  occupied row/column of the plate's wells, then ``layout=expand`` (IDR's
  default) doubles 8x12 until it fits; ``shrink`` drops leading empty
  rows/columns, ``trim`` neither. Cells are ``null`` without an image at that
  field; ``collabels`` are integers, ``rowlabels`` letters; ``thumb_url`` is
  relative (``?size=`` adds the size). An unknown plate makes the view
  *return* ``Http404`` (the class), which ``@jsonp`` cannot serialise: 500
  JSON ``{"message": "Object of type type is not JSON serializable", ...}``.
* ``well/{id}/children/``: images of a well (``simpleMarshal`` + position),
  unknown well -> 500 ``text/javascript`` body ``""``.
* ``original_file_paths/{iid}/``: ``{"repo": [...], "client": [...], "fileset":
  {"id": N}}``, the paths of every file of the image's fileset (a plate's holds the
  files of all its images) in the managed repository and as imported (IDR's client
  paths start ``uod/idr/filesets/<study>/``, the public FTP mirror's layout, or another
  import folder for older studies: the demo's ``nfs/bioimage/drop``, ``uod/idr/incoming``); an
  image without a fileset (imported before OMERO 5) answers ``{}``; an unknown image
  raises ``Http404``, which ``@jsonp`` answers 500 JSON.
* ``table/{Type}/{id}/query/`` and ``table/{fileid}/query/``: each screen's
  bulk-annotation table (one row per imaged well), reached from the screen, a
  plate of it or a well of it, as IDR attaches tables to screens; failures are
  HTTP 200 ``{"error": ...}`` as on IDR.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from harvester.emulator.catalogue import (
    OWNER_FIRST,
    OWNER_LAST,
    Catalogue,
    Plate,
    Well,
    row_letter,
    series_file,
)
from harvester.emulator.http import Request, Response, Route
from harvester.emulator.routes_common import (
    TEXT_JAVASCRIPT,
    BadParam,
    int_param,
    jsonp_response,
    py_int,
    text_response,
    webgateway_error,
    webgateway_value_error,
)
from harvester.emulator.routes_webclient import SERVER_TZ
from harvester.emulator.site import Site

AUTHOR = f"{OWNER_FIRST} {OWNER_LAST}"
LAYOUTS = ("expand", "shrink", "trim")
DEFAULT_LAYOUT = "expand"  # omero.web.plate_layout


def _int_or(text: str | None, default: int | None) -> int | None:
    """``getIntOrDefault`` / ``int(x or 0)`` with a fallback: never raises."""
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        return default


def _thumb_url(image_id: int, size: int | None, prefix: str = "") -> str:
    """The thumbnail's path as Django's ``reverse`` builds it: under the site's prefix."""
    if size is None:
        return f"{prefix}/webgateway/render_thumbnail/{image_id}/"
    return f"{prefix}/webgateway/render_thumbnail/{image_id}/{size}/"


def grid_size(wells: list[Well], layout: str) -> tuple[int, int]:
    """(rows, cols) of the grid: max occupied well + 1, expanded to 8x12*2^k."""
    rows = max((w.row for w in wells), default=-1) + 1
    cols = max((w.col for w in wells), default=-1) + 1
    if layout != "expand":
        return rows, cols
    r, c = 8, 12
    while rows > r or cols > c:
        r, c = r * 2, c * 2
    return r, c


def plate_grid(
    cat: Catalogue,
    plate: Plate,
    field: int,
    acquisition: int | None,
    size: int | None,
    layout: str,
    prefix: str = "",
) -> dict[str, Any] | None:
    """``PlateGrid.metadata``; None when ``shrink`` finds no image (``min([])``)."""
    wells = cat.wells(plate.id)
    rows, cols = grid_size(wells, layout)
    results: list[tuple[Well, int]] = []
    run_ok = acquisition is None or acquisition in plate.run_ids
    # With an acquisition, ``field`` counts from the run's lowest WellSample index.
    offset = cat.run_samples(acquisition)[0] if acquisition is not None and run_ok else 0
    per_run = cat.run_samples(acquisition) if acquisition is not None and run_ok else None
    if run_ok:
        for well in wells:
            ids = cat.well_image_ids(well)
            index = offset + field
            if field >= 0 and index < len(ids) and (per_run is None or index in per_run):
                results.append((well, ids[index]))
    min_row = min_col = 0
    if layout == "shrink":
        if not results:
            return None
        min_row = min(w.row for w, _ in results)
        min_col = min(w.col for w, _ in results)
    collabels = list(range(1, cols + 1))[min_col:]
    rowlabels = [row_letter(r) for r in range(rows)][min_row:]
    grid: list[list[dict[str, Any] | None]] = [[None] * len(collabels) for _ in rowlabels]
    image_sizes: list[dict[str, int]] = []
    for well, image_id in results:
        info = cat.image(image_id)
        if info is None:  # pragma: no cover - ids come from the catalogue
            continue
        grid[well.row - min_row][well.col - min_col] = {
            "type": "Image",
            "id": image_id,
            "name": info.name,
            "description": "",
            "author": AUTHOR,
            "date": int(info.acquisition_ts),
            "wellId": well.id,
            "field": field,
            "thumb_url": _thumb_url(image_id, size, prefix),
        }
        if not image_sizes:
            image_sizes.append({"x": info.size_x, "y": info.size_y, "image_id": image_id})
    return {
        "grid": grid,
        "collabels": collabels,
        "rowlabels": rowlabels,
        "image_sizes": image_sizes,
    }


def plate_grid_view(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``webgateway/plate/{pid}/[{field}/[{acquisition}/]]``."""
    pid_text, field_text, acq_text = match.group("pid", "field", "acq")
    field = _int_or(field_text or "0", 0)
    acquisition = _int_or(acq_text, None) if acq_text is not None else None
    try:  # thumbsize = getIntOrDefault(request, "size", None): junk raises
        size = int_param(req, "size")
    except BadParam as exc:
        return webgateway_value_error(req, exc)
    layout = req.param("layout") or DEFAULT_LAYOUT
    if layout not in LAYOUTS:
        layout = DEFAULT_LAYOUT
    # urls.py matches every id with [0-9]+: anything else never reaches the view
    # (Django's 404 page), so these parse.
    plate = site.catalogue.plate(int(pid_text))
    if plate is None:
        return webgateway_error(req, "Object of type type is not JSON serializable")
    assert field is not None
    grid = plate_grid(site.catalogue, plate, field, acquisition, size, layout, site.prefix)
    if grid is None:
        return webgateway_error(req, "min() arg is an empty sequence", "webgateway/plategrid.py")
    return jsonp_response(req, grid)


def _run_name(cat: Catalogue, run_id: int) -> str:
    """``PlateAcquisitionWrapper.getName``: '<start> - <end>' in server local time."""
    run = cat.run(run_id)
    if run is None:  # pragma: no cover - only called for existing runs
        return f"Run {run_id}"
    start = datetime.fromtimestamp(run.start_ms // 1000, SERVER_TZ).replace(tzinfo=None)
    end = datetime.fromtimestamp(run.end_ms // 1000, SERVER_TZ).replace(tzinfo=None)
    return f"{start} - {end}"


def well_children(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``webgateway/well/{id}/children/[?run=]``: images of the well with positions."""
    cat = site.catalogue
    well = cat.well(int(match.group("wid")))
    try:  # acq = getIntOrDefault(request, "run", None), read before the well check
        run = int_param(req, "run")
    except BadParam as exc:
        return webgateway_value_error(req, exc)
    if well is None:
        return text_response(500, '""', TEXT_JAVASCRIPT)
    out: list[dict[str, Any]] = []
    for fld, image_id in enumerate(cat.well_image_ids(well)):
        info = cat.image(image_id)
        if info is None:  # pragma: no cover
            continue
        if run is not None and info.run_id is not None and info.run_id != run:
            continue
        item: dict[str, Any] = {
            "type": "Image",
            "id": image_id,
            "name": info.name,
            "description": "",
            "author": AUTHOR,
            "date": float(int(info.acquisition_ts)),
            "thumb_url": _thumb_url(image_id, None, site.prefix),
        }
        item["position"] = well_sample_position(fld)
        if info.run_id is not None:
            item["name"] += f" [Run: {_run_name(cat, info.run_id)}]"
        out.append(item)
    return jsonp_response(req, out)


def well_sample_position(field: int) -> dict[str, dict[str, Any]]:
    """Stage position of a field: a 3-column raster, 250 um apart."""
    return {
        "x": {"value": float(field % 3) * 250.0, "unit": "MICROMETER"},
        "y": {"value": float(field // 3) * 250.0, "unit": "MICROMETER"},
    }


def well_data(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``webgateway/wellData/{id}/``: the well's simpleMarshal (first image)."""
    cat = site.catalogue
    well = cat.well(int(match.group("wid")))
    if well is None:
        return text_response(500, '""', TEXT_JAVASCRIPT)
    plate = cat.plate(well.plate_id)
    assert plate is not None
    body: dict[str, Any] = {
        "type": "Well",
        "id": well.id,
        "name": "",
        "description": "",
    }
    ids = cat.well_image_ids(well)
    if ids:
        info = cat.image(ids[0])
        assert info is not None
        body["image"] = {
            "type": "Image",
            "id": info.id,
            "name": info.name,
            "description": "",
            "author": AUTHOR,
            "date": float(int(info.acquisition_ts)),
            "thumb_url": _thumb_url(info.id, None, site.prefix),
        }
    body["wellPos"] = f"{row_letter(well.row)}{well.col + 1}"
    body["plateId"] = plate.id
    body["wellId"] = well.id
    return jsonp_response(req, body)


# -- bulk annotation tables ----------------------------------------------------

_TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Plate", "PlateColumn"),
    ("Well", "WellColumn"),
    ("Plate_Well", "StringColumn"),
    ("Characteristics [Organism]", "StringColumn"),
    ("siRNA Identifier", "StringColumn"),
    ("Gene Identifier", "StringColumn"),
    ("Gene Symbol", "StringColumn"),
    ("Has Phenotype", "StringColumn"),
    ("Phenotype 1", "StringColumn"),
    ("Phenotype 1 Term Accession", "StringColumn"),
    ("Plate Name", "StringColumn"),
    ("Well Name", "StringColumn"),
)


def _table_row(cat: Catalogue, well: Well) -> list[Any]:
    plate = cat.plate(well.plate_id)
    assert plate is not None and well.sample is not None
    gene = cat.gene_of(well.spec, well.sample)
    pheno = gene.phenotypes[0] if gene.phenotypes else ("", "")
    wname = f"{row_letter(well.row).lower()}{well.col + 1}"
    return [
        plate.id,
        well.id,
        f"{plate.name}_{row_letter(well.row)}{well.col + 1}",
        "Homo sapiens",
        gene.sirna,
        gene.ensembl,
        gene.symbol,
        "yes" if gene.phenotypes else "no",
        pheno[0],
        pheno[1],
        plate.name,
        wname,
    ]


#: Object paths that reach a screen's bulk table (IDR attaches every table to
#: its Screen): ``Screen/{screen}``, ``Screen.plateLinks.child/{plate}``,
#: ``Screen.plateLinks.child.wells/{well}``. Any other object has none.
_SCREEN_TABLE_PATHS = ("Screen", "Screen.plateLinks.child", "Screen.plateLinks.child.wells")
_NO_TABLE = {"error": "Could not retrieve bulk annotations table"}
#: ``Word-N`` -> ``(Word==N)``, as perform_table_query rewrites it.
_WORD_ID_RE = re.compile(r"^(\w+)-(\d+)")
_EQ_RE = re.compile(r"\((\w+)==(\d+)\)")
_TABLE_FILE_BASE = 15_000_000


def _table_screen(cat: Catalogue, obj_type: str, obj_id: int) -> Any:
    """The screen whose table ``obj_type``/``obj_id`` reaches, or None."""
    if obj_type == "Screen":
        return cat.screen(obj_id)
    if obj_type == "Screen.plateLinks.child":
        plate = cat.plate(obj_id)
        return cat.screen(plate.screen_id) if plate else None
    if obj_type == "Screen.plateLinks.child.wells":
        well = cat.well(obj_id)
        plate = cat.plate(well.plate_id) if well else None
        return cat.screen(plate.screen_id) if plate else None
    return None


def _table_body(site: Site, req: Request, screen: Any) -> dict[str, Any]:
    """``_table_query`` + ``perform_table_query`` on one screen's table.

    ``query`` is mandatory; ``*`` pages the table (``totalCount`` = all rows);
    ``Word-N`` becomes ``(Word==N)``, which (like ``(Plate==N)``/``(Well==N)``)
    filters an integer column; anything else is ``Error executing query: ...``.
    Junk ``offset``/``limit`` raise ``int()``'s ValueError (the caller's 500).
    """
    cat = site.catalogue
    query = req.param("query")
    if not query:
        return {"error": "Must specify query parameter, use * to retrieve all"}
    offset = py_int(req.param("offset") or "0")  # int(request.GET.get("offset", 0))
    limit_text = req.param("limit")
    limit = py_int(limit_text) if limit_text is not None else None
    wells = [w for p in cat.plates(screen.id) for w in cat.wells(p.id) if w.sample is not None]
    end = min(len(wells), offset + (limit if limit is not None else len(wells)))
    if query == "*":
        picked, total = wells[offset:end], len(wells)
    else:
        word = _WORD_ID_RE.match(query)
        if word:
            query = f"({word.group(1)}=={word.group(2)})"
        eq = _EQ_RE.fullmatch(query)
        if eq is None or eq.group(1) not in ("Plate", "Well"):
            return {"error": f"Error executing query: {query}"}
        value = int(eq.group(2))
        hits = [w for w in wells if (w.plate_id if eq.group(1) == "Plate" else w.id) == value]
        picked, total = hits[offset:end], len(hits)
    return {
        "data": {
            "column_types": [t for _, t in _TABLE_COLUMNS],
            "columns": [c for c, _ in _TABLE_COLUMNS],
            "rows": [_table_row(cat, w) for w in picked],
        },
        "meta": {"rowCount": len(wells), "totalCount": total, "limit": limit, "offset": offset},
    }


def table_query(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``webgateway/table/{Type}[.path]/{id}/query/`` (``object_table_query``).

    Failures are HTTP 200 ``{"error": ...}`` as on IDR; the table's own error
    (no query, bad query) replaces the generic one.
    """
    cat = site.catalogue
    obj_type, obj_id = match.group("type"), int(match.group("oid"))
    screen = _table_screen(cat, obj_type, obj_id) if obj_type in _SCREEN_TABLE_PATHS else None
    if screen is None:
        return jsonp_response(req, _NO_TABLE)
    try:
        body = _table_body(site, req, screen)
    except BadParam as exc:
        return webgateway_value_error(req, exc)
    if "error" in body:
        return jsonp_response(req, body)
    body.update(
        {
            "id": _TABLE_FILE_BASE + screen.id,
            "annId": 8_000_000 + screen.id,
            "owner": AUTHOR,
            "addedBy": AUTHOR,
            "parentType": obj_type.split(".", 1)[0],
            "parentId": screen.id,
            "addedOn": int(screen.spec.acquisition_ts * 1000) + 86_400_000 * 60,
        }
    )
    return jsonp_response(req, body)


def table_file_query(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``webgateway/table/{fileid}/query/`` (``table_query``): the table by file id."""
    file_id = int(match.group("fid"))
    screen = site.catalogue.screen(file_id - _TABLE_FILE_BASE)
    if screen is None:
        return jsonp_response(req, {"error": f"Table {file_id} not found"})
    try:
        return jsonp_response(req, _table_body(site, req, screen))
    except BadParam as exc:
        return webgateway_value_error(req, exc)


#: Where IDR's imports came from (``client`` paths); ``uod/idr/filesets`` -> the FTP mirror.
IDR_FILESETS = "uod/idr/filesets"
#: Studies IDR imported from another folder (IDR's ``_data/download_urls.tsv``: the demo's
#: idr0056 screen came from ``nfs/bioimage/drop``, its idr0021 project from
#: ``uod/idr/incoming``), so that a client of the emulator meets more than one import root.
IDR_IMPORT_ROOTS: dict[str, str] = {
    "idr0056-stojic-lncrnas": "nfs/bioimage/drop",
    "idr0021-lawo-pericentriolarmaterial": "uod/idr/incoming",
}


def _fileset_files(
    cat: Catalogue, image_id: int
) -> tuple[int, list[str], list[str]] | tuple[()] | None:
    """(fileset id, repository paths, client paths) of an image's fileset; ``()`` for an
    image without one; None for an unknown image.

    ``ImageWrapper.getImportedImageFilePaths``: every ``FilesetEntry`` of the fileset,
    ``originalFile.path + name`` and ``clientPath``, one file per image here.
    """
    loc = cat.locate(image_id)
    if loc is None:
        return None
    if loc.image.fileset_id is None:
        return ()
    fileset = loc.image.fileset_id
    if loc.plate is not None and loc.screen is not None:
        study, folder = loc.screen.name.split("/")[0], loc.plate.name
        names = [
            f"{folder}_{well.label}_s{field + 1}.tif"
            for well in cat.fileset_wells(loc.plate, loc.sample)
            for field, _ in enumerate(cat.well_image_ids(well))
        ]
    elif loc.project is not None and loc.dataset is not None:
        study, folder, names = loc.project.name.split("/")[0], loc.dataset.name, [loc.image.name]
        spec = loc.project.spec
        if spec.images_per_fileset > 1:  # a multi-series file: its images share it
            names = [series_file(spec, loc.sample // spec.images_per_fileset)]
    else:  # pragma: no cover - every image has a plate or a dataset
        return None
    repo = [f"demo_2/Fileset_{fileset}/{folder}/{name}" for name in names]
    root = IDR_IMPORT_ROOTS.get(study, IDR_FILESETS)
    client = [f"{root}/{study}/{folder}/{name}" for name in names]
    return fileset, repo, client


def original_file_paths(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``webgateway/original_file_paths/{iid}/`` (webgateway/views.py, ``@jsonp``)."""
    found = _fileset_files(site.catalogue, int(match.group("iid")))
    if found is None:  # ``raise Http404`` (no message) inside @jsonp: a 500 JSON answer
        return webgateway_error(req, "", exc_type="django.http.response.Http404")
    if not found:  # no fileset: nothing imported to name
        return jsonp_response(req, {})
    fileset, repo, client = found
    return jsonp_response(req, {"repo": repo, "client": client, "fileset": {"id": fileset}})


ROUTES: list[Route] = [
    Route(
        "webgateway_plate_grid",
        re.compile(
            r"/webgateway/plate/(?P<pid>[0-9]+)/(?:(?P<field>[0-9]+)/)?(?:(?P<acq>[0-9]+)/)?"
        ),
        plate_grid_view,
    ),
    Route(
        "webgateway_well_children",
        re.compile(r"/webgateway/well/(?P<wid>\d+)/children/"),
        well_children,
    ),
    Route("webgateway_well_data", re.compile(r"/webgateway/wellData/(?P<wid>\d+)/"), well_data),
    Route(
        "webgateway_original_file_paths",
        re.compile(r"/webgateway/original_file_paths/(?P<iid>\d+)/"),
        original_file_paths,
    ),
    Route(
        "webgateway_table_query",
        re.compile(r"/webgateway/table/(?P<type>[\w.]+)/(?P<oid>\d+)/query/"),
        table_query,
    ),
    Route(
        "webgateway_table_file_query",
        re.compile(r"/webgateway/table/(?P<fid>\d+)/query/"),
        table_file_query,
    ),
]
