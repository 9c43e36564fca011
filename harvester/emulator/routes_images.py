"""Image routes: thumbnails, renders (omero-web and image-region microservice), imgData.

What each route answers, and the trap it reproduces (idr-api.md §4, §5, §6, §14):

* ``webgateway/render_thumbnail/{id}/[{w}/[{h}/]]``: JPEG, longest side ``w``
  (default 96), aspect kept; ``w`` and ``h`` give exactly ``w x h``; unknown
  image -> Django 404 page.
* ``webclient/render_thumbnail/{id}/[{share}/]`` and
  ``webclient/render_thumbnail/size/{w}/{id}/``: same, but an unknown image
  (or a failed render) -> ``200`` with a *PNG* placeholder labelled
  ``image/jpeg``; the second number of the first form is a share id, not a size.
* ``{webgateway|webclient}/get_thumbnails/[{w}/]?id=..``: JSON
  ``{"<id>": "data:image/jpeg;base64,..." | null}``, duplicates removed, more
  than 50 ids -> ``500 text/javascript`` ``Max 50 thumbnails at a time.``
* ``webgateway/get_thumbnail/{id}/[{w}/[{h}/]]``: a JSON string (data URI);
  unknown image -> ``@jsonp`` 500 JSON.
* ``{webgateway|webclient}/render_image/{id}/[{z}/[{t}/]]`` and
  ``render_image_region/{id}/{z}/{t}/?tile=|region=``: in ``omeroweb`` mode
  as OMERO.web 5.26 (z/t optional, lenient ``c=``, always JPEG, 400 texts for
  malformed tile/region, 404 page on render failure); in ``microservice``
  mode as omero-ms-image-region (z, t, full ``c`` and ``m`` mandatory, plain
  text 400s, ``Cannot find Image:<id>``, ``format=png|tif``, 3192 x 3192 max
  plane area, 2048 max tile side, ``OPTIONS`` -> service details).
* ``webclient/imgData/{id}/``, ``webgateway/imgData/{id}/[{key}/]``: the
  5.26 key order; tiled extras for pyramids; unknown id -> ``403`` empty (public
  user), or ``404`` ``Image:<id> not found`` for a logged-in one (``Site.session_key``);
  ``Site.imgdata_exception`` (or the ``imgdata_exception`` fault) -> 200
  with only ``id, meta, perms, Exception`` (the site's: IDR's "Error instantiating
  pixel buffer", for good; the fault's: a lost connection, which a retry gets past);
  the ``concurrency`` fault -> 200 ``{"ConcurrencyException": {"backOff": ms}}``.
* ``Site.migration_2026``: renders -> ``403`` empty, sized/z/t thumbnails ->
  404 (webgateway) or placeholder (webclient), imgData -> the Exception body.

Thumbnails are cached encoded per (catalogue, id, size, z, t) in a bounded
LRU: benchmarks ask for the same demo thumbnails thousands of times, and the
issue-6 throughput benchmark fetches the same 10,000 huge-preset thumbnails
once per tool and run (like IDR's nginx cache, which keeps rendered
thumbnails), so the LRU holds 16,384 of them (~2.5 KB each).
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from harvester.emulator import render
from harvester.emulator.http import Request, Response, Route
from harvester.emulator.model import LENGTH_UNITS, ImageInfo
from harvester.emulator.pixels import _LRU, level_shape, pixel_range
from harvester.emulator.routes_common import (
    HTML,
    TEXT_JAVASCRIPT,
    BadParam,
    django_404,
    django_500,
    int_param,
    jsonp_response,
    py_int,
    text_response,
    webgateway_error,
    webgateway_value_error,
)

#: Default thumbnail size (``thumb_default_size``) and get_thumbnails batch cap.
THUMB_DEFAULT = 96
THUMBNAILS_BATCH = 50
THUMB_MAX = 4096
#: omero-web's fallback ``omero.pixeldata.max_tile_length`` (server config unreadable).
OMEROWEB_MAX_TILE = 1024
#: omero-ms-image-region defaults as IDR runs it (advertised by OPTIONS).
MS_MAX_TILE = 2048
MS_MAX_PLANE = 3192
MS_MAX_ACTIVE = render.MAX_ACTIVE_CHANNELS
MS_VERSION = "0.16.0"
MS_FEATURES = ("flip", "mask-color", "png-tiles", "quantization", "support-missing-channels")
IMAGE_AUTHOR = "Public data"
PLAIN = "text/plain"
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "tif": "image/tiff"}
VERTX_404 = b"<html><body><h1>Resource not found</h1></body></html>"

_THUMBS: _LRU[tuple[Any, ...], bytes] = _LRU(16384, 64 * 1024 * 1024)
_RENDERS: _LRU[tuple[Any, ...], tuple[bytes, str]] = _LRU(256, 32 * 1024 * 1024)
_PLACEHOLDERS: dict[int, bytes] = {}


class _Bad(Exception):
    """A request error already shaped as a response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


# -- helpers ----------------------------------------------------------------
def _site_key(site: Any) -> tuple[Any, ...]:
    cat = site.catalogue
    return (getattr(cat, "preset", None), getattr(cat, "seed", None), id(cat))


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _empty(status: int) -> Response:
    return Response(status=status, body=b"", content_type=HTML)


def _plain(status: int, text: str) -> Response:
    return Response(status=status, body=text.encode("utf-8"), content_type=PLAIN)


def placeholder_png(size: int = THUMB_DEFAULT) -> bytes:
    """``webclient_gateway.defaultThumbnail``: a grey picture icon as PNG."""
    data = _PLACEHOLDERS.get(size)
    if data is None:
        side = max(1, min(size, THUMB_MAX))
        canvas = np.full((side, side, 3), 236, dtype=np.uint8)
        m = max(1, side // 6)
        canvas[m : side - m, m : side - m] = 190
        canvas[side // 2 : side - m, m : side - m] = 150
        buf = io.BytesIO()
        Image.fromarray(canvas, "RGB").save(buf, format="PNG")
        data = buf.getvalue()
        _PLACEHOLDERS[size] = data
    return data


def _thumbnail_bytes(
    site: Any, iid: int, w: int | None, h: int | None, z: int | None, t: int | None
) -> bytes | None:
    """Encoded JPEG thumbnail, or None when the server would fail to make one."""
    key = (*_site_key(site), iid, w, h, z, t)
    cached = _THUMBS.lookup(key)
    if cached is not None:
        return cached
    image = site.catalogue.image(iid)
    if image is None:
        return None
    direct = (
        (w is not None and w != THUMB_DEFAULT) or h is not None or z is not None or t is not None
    )
    if site.migration_2026 and direct:
        return None
    if (z is not None and not 0 <= z < image.size_z) or (
        t is not None and not 0 <= t < image.size_t
    ):
        return None
    longest = THUMB_DEFAULT if w is None else w
    if not 0 < longest <= THUMB_MAX or (h is not None and not 0 < h <= THUMB_MAX):
        return None
    width, height = (longest, h) if h is not None else render.thumbnail_size(image, longest)
    data = render.encode(render.render_thumbnail(image, width, height, z, t), "jpeg")
    _THUMBS.store(key, data, len(data))
    return data


def _thumb_query(req: Request) -> tuple[int | None, int | None]:
    """``_render_thumbnail``'s ``getIntOrDefault`` of ``z``, ``t``, ``rdefId``.

    Raises :class:`BadParam` on junk, as omero-web's ``int()`` does: a Django 500
    page from ``render_thumbnail``, 500 JSON from the ``@jsonp`` views.
    """
    z, t = int_param(req, "z"), int_param(req, "t")
    int_param(req, "rdefId")
    return z, t


def _data_uri(data: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


# -- thumbnails -------------------------------------------------------------
def _gw_thumbnail(site: Any, req: Request, m: re.Match[str]) -> Response:
    try:
        z, t = _thumb_query(req)
    except BadParam as exc:
        return django_500(req, "ValueError", str(exc))
    data = _thumbnail_bytes(site, int(m["iid"]), _int_or_none(m["w"]), _int_or_none(m["h"]), z, t)
    if data is None:
        return django_404(req)
    return Response(status=200, body=data, content_type="image/jpeg")


def _wc_thumbnail(site: Any, req: Request, m: re.Match[str]) -> Response:
    try:
        z, t = _thumb_query(req)
    except BadParam as exc:
        return django_500(req, "ValueError", str(exc))
    w = _int_or_none(m.groupdict().get("w"))
    data = _thumbnail_bytes(site, int(m["iid"]), w, None, z, t)
    if data is None:  # _defcb=defaultThumbnail: PNG bytes, JPEG label (trap §14.3)
        data = placeholder_png(THUMB_DEFAULT if w is None else w)
    return Response(status=200, body=data, content_type="image/jpeg")


def _get_thumbnails(site: Any, req: Request, m: re.Match[str]) -> Response:
    w = _int_or_none(m["w"])
    try:  # get_longs: long() of every id, junk raises -> @jsonp's 500 JSON
        ids = [py_int(raw) for raw in req.params("id")]
    except BadParam as exc:
        return webgateway_value_error(req, exc)
    ids = list(set(ids))  # as OMERO.web: duplicates removed, set order
    size = THUMB_DEFAULT if w is None else w
    if len(ids) > THUMBNAILS_BATCH:
        text = f"Max {THUMBNAILS_BATCH} thumbnails at a time."
        return text_response(500, text, TEXT_JAVASCRIPT)
    result: dict[int, str | None] = {}
    for iid in ids:
        data = _thumbnail_bytes(site, iid, size, None, None, None)
        result[iid] = None if data is None else _data_uri(data)
    return jsonp_response(req, result)


def _get_thumbnail(site: Any, req: Request, m: re.Match[str]) -> Response:
    try:
        z, t = _thumb_query(req)
    except BadParam as exc:
        return webgateway_value_error(req, exc)
    data = _thumbnail_bytes(site, int(m["iid"]), _int_or_none(m["w"]), _int_or_none(m["h"]), z, t)
    if data is None:  # _render_thumbnail raises Http404, which @jsonp turns into a 500
        return webgateway_error(
            req, "Failed to render thumbnail", exc_type="django.http.response.Http404"
        )
    return jsonp_response(req, _data_uri(data))


# -- rendering: shared ------------------------------------------------------
def _render_key(site: Any, req: Request, m: re.Match[str]) -> tuple[Any, ...]:
    return (*_site_key(site), site.mode, site.migration_2026, m.string, req.query)


def _cached_render(
    site: Any, req: Request, m: re.Match[str], make: Callable[[], Response]
) -> Response:
    if req.method == "OPTIONS":
        return make()
    key = _render_key(site, req, m)
    hit = _RENDERS.lookup(key)
    if hit is not None:
        return Response(status=200, body=hit[0], content_type=hit[1])
    resp = make()
    if resp.status == 200:
        _RENDERS.store(key, (resp.body, resp.content_type), len(resp.body))
    return resp


def _clip_window(
    image: ImageInfo, level: int, x: int, y: int, w: int, h: int
) -> tuple[int, int, int, int] | None:
    """Truncate a window to the level (as the rendering engine does); None if it starts outside."""
    height, width = level_shape(image, level)
    if x < 0 or y < 0 or x >= width or y >= height or w <= 0 or h <= 0:
        return None
    return x, y, min(w, width - x), min(h, height - y)


def _render_image(site: Any, req: Request, m: re.Match[str]) -> Response:
    return _cached_render(site, req, m, lambda: _render(site, req, m, region_route=False))


def _render_image_region(site: Any, req: Request, m: re.Match[str]) -> Response:
    return _cached_render(site, req, m, lambda: _render(site, req, m, region_route=True))


def _render(site: Any, req: Request, m: re.Match[str], *, region_route: bool) -> Response:
    if site.migration_2026:
        return _empty(403)  # blocked at the proxy, every image (idr-api.md §0)
    try:
        if site.mode == "microservice":
            return _ms_render(site, req, m)
        return _web_render(site, req, m, region_route)
    except _Bad as bad:
        return bad.response


# -- rendering: OMERO.web ---------------------------------------------------
def _web_tile(image: ImageInfo, tile: str) -> tuple[int, int, int, int, int]:
    """omero-web's tile parsing: ``(level, x, y, w, h)`` in level pixels, or 400."""
    parts = tile.split(",")
    try:
        w, h = image.tile_width, image.tile_height
        if len(parts) > 4:
            size = [int(parts[3]), int(parts[4])]
            for i, default in enumerate((w, h)):
                if size[i] <= 0:
                    size[i] = default
                if size[i] > OMEROWEB_MAX_TILE:
                    size[i] = OMEROWEB_MAX_TILE
            w, h = size
        v = int(parts[0])
        levels = image.levels - 1
        if v < 0:
            raise _Bad(text_response(400, f"Invalid resolution level {v} < 0"))
        if levels == 0 and v > 0:
            raise _Bad(text_response(400, f"Invalid resolution level {v}, non pyramid file"))
        if levels - v < 0:
            text = f"Invalid resolution level, {v} > number of available levels {levels} "
            raise _Bad(text_response(400, text))
        x = int(parts[1]) * w
        y = int(parts[2]) * h
    except (ValueError, IndexError):
        raise _Bad(text_response(400, f"malformed tile argument, tile={tile}")) from None
    return v, x, y, w, h


def _web_region(region: str) -> tuple[int, int, int, int]:
    parts = region.split(",")
    try:
        return int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3])
    except (ValueError, IndexError):
        raise _Bad(text_response(400, f"malformed region argument, region={region}")) from None


def _web_rendering(image: ImageInfo, req: Request) -> render.Rendering:
    c = req.param("c")
    specs = render.parse_channels(c) if c is not None else None
    try:
        maps = render.parse_maps(req.param("maps"))
    except render.RenderParamError:
        maps = []
    mode, p_start, p_end = render.parse_projection(req.param("p"))
    return render.resolve(
        image,
        specs,
        req.param("m"),
        maps=maps,
        projection=mode,
        p_start=p_start,
        p_end=p_end,
    )


def _quality(req: Request) -> float | None:
    q = req.param("q")
    if q is None:
        return None
    try:
        value = float(q)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _web_render(site: Any, req: Request, m: re.Match[str], region_route: bool) -> Response:
    image = site.catalogue.image(int(m["iid"]))
    if image is None:
        return django_404(req)  # _get_prepared_image comes before any parameter check
    level = 0
    window: tuple[int, int, int, int] | None = None
    if region_route:
        tile, region = req.param("tile"), req.param("region")
        if tile:
            level, x, y, w, h = _web_tile(image, tile)
            window = (x, y, w, h)
        elif region:
            window = _web_region(region)
        else:
            return text_response(400, "tile or region argument required")
    z = render.default_z(image) if m["z"] is None else int(m["z"])
    t = 0 if m["t"] is None else int(m["t"])
    if not (0 <= z < image.size_z and 0 <= t < image.size_t):
        return django_404(req)
    if window is not None:
        window = _clip_window(image, level, *window)
        if window is None:
            return django_404(req)
        area = window[2] * window[3]
    else:
        height, width = level_shape(image, level)
        area = width * height
    if area > MS_MAX_PLANE * MS_MAX_PLANE:
        return django_404(req)  # the rendering engine refuses; omero-web raises Http404
    rgb = render.render(image, z, t, _web_rendering(image, req), window, level)
    return Response(
        status=200, body=render.encode(rgb, "jpeg", _quality(req)), content_type="image/jpeg"
    )


# -- rendering: image-region microservice ------------------------------------
def _java_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _Bad(_plain(400, f'For input string: "{text}"')) from None


def _ms_details() -> Response:
    """``getMicroserviceDetails`` (Jackson ``encodePrettily`` layout)."""
    features = ", ".join(f'"{f}"' for f in MS_FEATURES)
    body = (
        "{\n"
        '  "provider" : "ImageRegionMicroservice",\n'
        f'  "version" : "{MS_VERSION}",\n'
        f'  "features" : [ {features} ],\n'
        '  "options" : {\n'
        f'    "maxTileLength" : {MS_MAX_TILE},\n'
        f'    "maxPlaneWidth" : {MS_MAX_PLANE},\n'
        f'    "maxPlaneHeight" : {MS_MAX_PLANE},\n'
        f'    "maxActiveChannels" : {MS_MAX_ACTIVE}\n'
        "  }\n"
        "}"
    )
    return Response(status=200, body=body.encode("ascii"), content_type="application/json")


def _ms_render(site: Any, req: Request, m: re.Match[str]) -> Response:
    if req.method == "OPTIONS":
        return _ms_details()
    if m["z"] is None or m["t"] is None:
        return Response(status=404, body=VERTX_404, content_type="text/html")
    iid, z, t = int(m["iid"]), int(m["z"]), int(m["t"])
    # ImageRegionCtx: parameters are validated in this order, before the image is looked up.
    tile_arg, region_arg = req.param("tile"), req.param("region")
    tile: list[int] | None = None
    if tile_arg is not None:
        parts = tile_arg.split(",")
        if len(parts) not in (3, 5):
            raise _Bad(
                _plain(400, "Tile string format incorrect. Should be 'r,x,y' or 'r,x,y,w,h'")
            )
        tile = [_java_int(p) for p in parts]
    region: tuple[int, int, int, int] | None = None
    if region_arg is not None:
        parts = region_arg.split(",")
        if len(parts) != 4:
            raise _Bad(_plain(400, "Region string format incorrect. Should be 'x,y,w,h'"))
        try:
            region = (int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3]))
        except ValueError:
            text = f"Improper number formatting in region string {region_arg}"
            raise _Bad(_plain(400, text)) from None
    c = req.param("c")
    if c is None:
        return _plain(400, "Must provide channels in parameter 'c'")
    try:
        specs = render.parse_channels(c, strict=True)
    except render.RenderParamError as exc:
        return _plain(400, str(exc))
    for spec in specs:
        if not spec.has_window or not spec.color:
            text = f"Must include window and color in each channel. Missing in channel {spec.index}"
            return _plain(400, text)
    model = req.param("m")
    if model not in ("g", "c"):
        return _plain(
            400, "Must provide rendering model parameter 'm' with value either 'g' or 'c'"
        )
    q = req.param("q")
    quality: float | None = None
    if q is not None:
        try:
            quality = float(q)
        except ValueError:
            return _plain(400, f'For input string: "{q}"')
    try:
        maps = render.parse_maps(req.param("maps"))
    except render.RenderParamError as exc:
        return _plain(400, str(exc))
    fmt = req.param("format") or "jpeg"
    if fmt not in render.FORMATS:
        return _plain(400, "Unsupported format request.Supported formats are jpeg, png, and tif")
    if sum(1 for s in specs if s.index > 0) > MS_MAX_ACTIVE:
        text = f"Too many active channels. Cannot process more than {MS_MAX_ACTIVE} per request"
        return _plain(400, text)
    for spec in specs:
        if spec.color and render.parse_color(spec.color) is None:
            return _plain(400, f"Invalid color {spec.color}")
    image = site.catalogue.image(iid)
    if image is None:
        return _plain(404, f"Cannot find Image:{iid}")
    if not 0 <= z < image.size_z:
        return _plain(400, f"Z '{z}' greater than sizeZ '{image.size_z}' or < '0'.")
    if not 0 <= t < image.size_t:
        return _plain(400, f"T '{t}' greater than sizeT '{image.size_t}' or < '0'.")
    level = 0
    if tile is not None:
        level = tile[0]
        if level < 0 or level > image.levels - 1:
            if image.levels == 1:
                return _plain(400, f"Invalid resolution level {level}, non pyramid file")
            text = f"Invalid resolution level, {level} > number of available levels "
            return _plain(400, f"{text}{image.levels - 1}")
        w, h = image.tile_width, image.tile_height
        if len(tile) == 5:
            w = tile[3] if tile[3] > 0 else w
            h = tile[4] if tile[4] > 0 else h
        w, h = min(w, MS_MAX_TILE), min(h, MS_MAX_TILE)
        window: tuple[int, int, int, int] | None = (tile[1] * w, tile[2] * h, w, h)
    else:
        window = region
    height, width = level_shape(image, level)
    if window is not None:
        clipped = _clip_window(image, level, *window)
        if clipped is None:
            text = (
                f"Start position ({window[0]},{window[1]}) exceeds image size ({width}, {height})"
            )
            return _plain(400, text)
        window = clipped
        rw, rh = window[2], window[3]
    else:
        rw, rh = width, height
    if rw * rh > MS_MAX_PLANE * MS_MAX_PLANE:
        limit = f"{MS_MAX_PLANE} * {MS_MAX_PLANE}"
        text = f"Requested shape [1, 1, 1, {rh}, {rw}] > max plane size {limit}"
        return _plain(400, text)
    mode, p_start, p_end = render.parse_projection(req.param("p"))
    rendering = render.resolve(
        image, specs, model, maps=maps, projection=mode, p_start=p_start, p_end=p_end
    )
    rgb = render.render(image, z, t, rendering, window, level)
    flip = (req.param("flip") or "").lower()
    if "h" in flip:
        rgb = rgb[:, ::-1]
    if "v" in flip:
        rgb = rgb[::-1]
    body = render.encode(rgb, fmt, quality)
    return Response(status=200, body=body, content_type=CONTENT_TYPES[fmt])


# -- imgData ----------------------------------------------------------------
def split_channel(image: ImageInfo, border: int = 2) -> dict[str, dict[str, int]]:
    """``ImageWrapper.splitChannelDims``: grid for C panes (g) and C+1 panes (c)."""
    out: dict[str, dict[str, int]] = {}
    for key, n in (("g", image.size_c), ("c", image.size_c + 1)):
        root = math.sqrt(n)
        y = int(round(root))
        x = y + 1 if root > y else y
        out[key] = {
            "width": image.size_x * x + border * (x + 1),
            "height": image.size_y * y + border * (y + 1),
            "border": border,
            "gridx": x,
            "gridy": y,
        }
    return out


def _parents(site: Any, image: ImageInfo) -> tuple[Any, Any]:
    """``(project, dataset)`` objects when the image has exactly one, else None.

    marshal.py keeps a dataset only ``if len(datasets) == 1``, and omero-py's
    ``ImageWrapper.getProject`` "Returns None if Image is in more than one Dataset &
    Project" (its query yields one row per dataset link): both "Multiple".
    """
    locate = getattr(site.catalogue, "locate", None)
    if locate is None or len(image.dataset_ids) > 1:
        return None, None
    loc = locate(image.id)
    if loc is None:
        return None, None
    dataset = getattr(loc, "dataset", None)
    holders = getattr(site.catalogue, "dataset_project_ids", None)
    if dataset is not None and holders is not None and len(holders(dataset.id)) > 1:
        return None, dataset  # one dataset, in two projects: getProject finds two rows
    return getattr(loc, "project", None), dataset


def image_meta(site: Any, image: ImageInfo) -> dict[str, Any]:
    """The ``meta`` block of imgData (marshal.py imageMarshal, 5.26 key order)."""
    project, dataset = _parents(site, image)
    return {
        "imageName": image.name,
        "imageDescription": "",
        "imageAuthor": IMAGE_AUTHOR,
        "projectName": project.name if project is not None else "Multiple",
        "projectId": project.id if project is not None else None,
        "projectDescription": (getattr(project, "description", "") or "") if project else "",
        "datasetName": dataset.name if dataset is not None else "Multiple",
        "datasetId": dataset.id if dataset is not None else None,
        "datasetDescription": (getattr(dataset, "description", "") or "") if dataset else "",
        "wellSampleId": "",
        "wellId": image.well_id if image.well_id is not None else "",
        "imageTimestamp": float(image.acquisition_ts),
        "imageId": image.id,
        "pixelsType": image.pixel_type,
    }


_PERMS = {"canAnnotate": False, "canEdit": False, "canDelete": False, "canLink": False}


def _microns(image: ImageInfo, value: float | None) -> float | None:
    """A stored physical size as imgData reports it: in micrometres, or None.

    ``imageMarshal`` converts each size with ``getPixelSizeX("MICROMETER")`` and answers
    null when that fails (``PIXEL`` is no length), so an image stored in nanometres says
    micrometres here; only the JSON API shows the stored unit.
    """
    factor = LENGTH_UNITS[image.length_unit][1]
    if value is None or factor is None:
        return None
    return value if factor == 1.0 else value * factor


def image_data(site: Any, image: ImageInfo) -> dict[str, Any]:
    """The full imgData body of a renderable image, keys in OMERO.web 5.26 order."""
    rv: dict[str, Any] = {"id": image.id, "meta": image_meta(site, image), "perms": dict(_PERMS)}
    rv["tiles"] = image.levels > 1
    if image.levels > 1:
        rv["tile_size"] = {"width": image.tile_width, "height": image.tile_height}
        rv["levels"] = image.levels
        rv["zoomLevelScaling"] = {
            str(i): level_shape(image, i)[1] / image.size_x for i in range(image.levels)
        }
    rv["interpolate"] = True
    rv["size"] = {
        "width": image.size_x,
        "height": image.size_y,
        "z": image.size_z,
        "t": image.size_t,
        "c": image.size_c,
    }
    rv["pixel_size"] = {
        "x": _microns(image, image.physical_size_x),
        "y": _microns(image, image.physical_size_y),
        "z": _microns(image, image.physical_size_z),
    }
    rv["init_zoom"] = 0
    low, high = pixel_range(image.pixel_type)
    rv["pixel_range"] = [int(low), int(high)]
    rv["channels"] = [
        {
            "emissionWave": ch.emission_wave,
            "label": ch.label,
            "color": ch.color,
            "inverted": False,
            "reverseIntensity": False,
            "family": "linear",
            "coefficient": 1.0,
            "window": {
                "min": float(ch.window_min),
                "max": float(ch.window_max),
                "start": float(ch.start),
                "end": float(ch.end),
            },
            "active": ch.active,
        }
        for ch in image.channels
    ]
    rv["split_channel"] = split_channel(image)
    rv["rdefs"] = {
        "model": "color",
        "projection": "normal",
        "defaultZ": render.default_z(image),
        "defaultT": 0,
        "invertAxis": False,
    }
    return rv


#: The ``concurrency`` fault's ``backOff`` (milliseconds): short, so tests wait little.
CONCURRENCY_BACKOFF_MS = 100

#: The ``exception`` fault's message: a rendering engine that failed this once (a lost
#: connection to OMERO.server), which a retry gets past, unlike IDR's pixel-buffer answer.
TRANSIENT_EXCEPTION = "Ice.ConnectionLostException: lost the rendering engine's connection"


def image_data_exception(site: Any, image: ImageInfo, *, transient: bool = False) -> dict[str, Any]:
    """The 200 body when the rendering engine cannot start (IDR 2026, idr-api.md §6).

    ``transient``: the ``exception`` fault's body, whose message is not the pixel-buffer
    one IDR gives for good (a harvester rightly does not retry that one).
    """
    fileset = image.fileset_id if image.fileset_id is not None else image.id
    path = f"/OMERO/ManagedRepo/demo_2/Fileset_{fileset}/{image.id}.tif"
    message = TRANSIENT_EXCEPTION if transient else f"Error instantiating pixel buffer: {path}"
    return {
        "id": image.id,
        "meta": image_meta(site, image),
        "perms": dict(_PERMS),
        "Exception": message,
    }


def _imgdata(site: Any, req: Request, m: re.Match[str]) -> Response:
    image = site.catalogue.image(int(m["iid"]))
    if image is None:
        # webgateway/views.py imageData_json: the public user "should try logging in"
        # (HttpResponseForbidden); a logged-in user gets HttpResponseNotFound.
        if site.session_key is not None:
            return text_response(404, f"Image:{m['iid']} not found")
        return _empty(403)
    if "imgdata_concurrency" in req.inject:
        # marshal.py imageMarshal: ``except omero.ConcurrencyException as ce: return
        # {"ConcurrencyException": {"backOff": ce.backOff}}`` (the server busy, try later).
        return jsonp_response(req, {"ConcurrencyException": {"backOff": CONCURRENCY_BACKOFF_MS}})
    if site.imgdata_exception or site.migration_2026 or "imgdata_exception" in req.inject:
        # imageMarshal returns this early ("Return what we have already"), before
        # its key selection: webgateway/imgData/{id}/{key}/ gets the whole body.
        transient = not (site.imgdata_exception or site.migration_2026)
        return jsonp_response(req, image_data_exception(site, image, transient=transient))
    rv: Any = image_data(site, image)
    key = m.groupdict().get("key")
    if key is not None:
        # marshal.py: for k in key.split("."): rv = rv.get(k, {}); {} -> None.
        # Stepping into a non-dict is an AttributeError, which @jsonp makes a 500.
        for part in key.split("."):
            if not isinstance(rv, dict):
                message = f"'{type(rv).__name__}' object has no attribute 'get'"
                return webgateway_error(req, message, "webgateway/marshal.py", "AttributeError")
            rv = rv.get(part, {})
        if rv == {}:
            rv = None
    return jsonp_response(req, rv)


# -- routes -----------------------------------------------------------------
_GET = frozenset({"GET", "HEAD"})
_RENDER_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _route(name: str, pattern: str, handler: Any, *, cached: bool, methods: Any = _GET) -> Route:
    return Route(name, re.compile(pattern), handler, methods=methods, cached=cached)


ROUTES: list[Route] = [
    _route(
        "image:thumbnail",
        r"/webgateway/render_thumbnail/(?P<iid>\d+)/(?:(?P<w>\d+)/(?:(?P<h>\d+)/)?)?",
        _gw_thumbnail,
        cached=True,
    ),
    _route(
        "image:thumbnail",
        r"/webclient/render_thumbnail/size/(?P<w>\d+)/(?P<iid>\d+)/(?:(?P<share>\d+)/)?",
        _wc_thumbnail,
        cached=True,
    ),
    _route(
        "image:thumbnail",
        r"/webclient/render_thumbnail/(?P<iid>\d+)/(?:(?P<share>\d+)/)?",
        _wc_thumbnail,
        cached=True,
    ),
    _route(
        "image:birds_eye",
        r"/(?:webgateway|webclient)/render_birds_eye_view/(?P<iid>\d+)/(?:(?P<w>\d+)/)?(?P<h>)",
        _gw_thumbnail,
        cached=True,
    ),
    _route(
        "image:thumbnails",
        r"/(?:webgateway|webclient)/get_thumbnails/(?:(?P<w>\d+)/)?",
        _get_thumbnails,
        cached=True,
    ),
    _route(
        "image:thumbnail_json",
        r"/webgateway/get_thumbnail/(?P<iid>\d+)/(?:(?P<w>\d+)/(?:(?P<h>\d+)/)?)?",
        _get_thumbnail,
        cached=True,
    ),
    _route(
        "image:render",
        r"/(?:webgateway|webclient)/render_image/(?P<iid>\d+)/(?:(?P<z>\d+)/(?:(?P<t>\d+)/)?)?",
        _render_image,
        cached=True,
        methods=_RENDER_METHODS,
    ),
    _route(
        "image:render_region",
        r"/(?:webgateway|webclient)/render_image_region/(?P<iid>\d+)/(?P<z>\d+)/(?P<t>\d+)/",
        _render_image_region,
        cached=True,
        methods=_RENDER_METHODS,
    ),
    _route("image:imgdata", r"/webclient/imgData/(?P<iid>\d+)/", _imgdata, cached=False),
    _route(
        "image:imgdata",
        r"/webgateway/imgData/(?P<iid>\d+)/(?:(?P<key>[^/]+)/)?",
        _imgdata,
        cached=False,
    ),
]
