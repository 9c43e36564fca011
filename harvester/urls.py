"""Every URL the harvester requests, built in one place so that they are byte-stable.

IDR's nginx proxy caches most read routes for a day keyed by the raw request
URI, so the same request must be spelled with the same bytes on every run and
by every process: parameters always in the same order, numbers always
formatted by :func:`num`, and characters that an HTTP client would otherwise
percent-encode on its own (``|``) encoded here already. Paths are relative to
the base URL (no leading slash) and always end with ``/`` (OMERO.web answers
301 otherwise).

Thumbnail choice: for the default size (96, IDR's ``thumb_default_size``) we
request ``webgateway/render_thumbnail/{id}/`` without a size. That is the exact
URL the plate grids advertise (``thumb_url``) and the web UI requests, so it is
the one most likely already in IDR's proxy cache, and it is served from
OMERO's cached thumbnail (``direct=False``); a sized URL renders from pixels,
which IDR can no longer do for most images since its 2026 migration (404).
Other sizes use ``webgateway/render_thumbnail/{id}/{size}/``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT_THUMBNAIL_SIZE = 96
WEBCLIENT_PAGE = 500  # IDR's omero.web.page_size
API_PAGE = 1000  # IDR's omero.web.api.max_limit
ANNOTATION_BATCH = 200  # ids per annotations request (gunicorn request-line limit)
#: gunicorn's ``limit_request_line`` (OMERO.web's WSGI server; IDR keeps the default): a
#: longer ``GET URL HTTP/1.1`` line is refused with a 400 before OMERO.web sees it.
REQUEST_LINE_LIMIT = 4094
#: Bytes of that line kept free for what is added to a path built here: a deployment's
#: prefix (``/omero/``), the host a proxy is given, a session's ``bsession=`` query.
REQUEST_LINE_ROOM = 256


def num(value: float) -> str:
    """Format a number the same way every time: integral values without ``.0``.

    ``repr`` of a float is the shortest round-tripping form and does not depend
    on the locale, so ``0.1`` stays ``0.1`` and ``250.0`` becomes ``250``.
    """
    if isinstance(value, bool):
        raise TypeError("a bool is not a number here")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot put {value!r} in a URL")
    if value.is_integer():
        return str(int(value))
    return repr(value)


# ----------------------------------------------------------------- probing
def api_root() -> str:
    """JSON API version list: answers on every OMERO.web with the API enabled."""
    return "api/"


def containers() -> str:
    """webclient tree root (fallback probe for servers without the JSON API)."""
    return "webclient/api/containers/?page=1&limit=1"


# ----------------------------------------------------------------- JSON API objects
def screen(screen_id: int) -> str:
    return f"api/v0/m/screens/{screen_id}/"


def project(project_id: int) -> str:
    return f"api/v0/m/projects/{project_id}/"


def plate(plate_id: int) -> str:
    return f"api/v0/m/plates/{plate_id}/"


def dataset(dataset_id: int) -> str:
    return f"api/v0/m/datasets/{dataset_id}/"


def screens(offset: int, limit: int = API_PAGE) -> str:
    """A page of every screen (``--screen NAME`` is matched against their names)."""
    return f"api/v0/m/screens/?offset={offset}&limit={limit}"


def projects(offset: int, limit: int = API_PAGE) -> str:
    """A page of every project (``--project NAME`` is matched against their names)."""
    return f"api/v0/m/projects/?offset={offset}&limit={limit}"


def plate_screens(plate_id: int) -> str:
    """The screens a plate belongs to (its parent, for a ``--plate`` target)."""
    return f"api/v0/m/plates/{plate_id}/screens/"


def dataset_projects(dataset_id: int) -> str:
    """The projects a dataset belongs to (its parent, for a ``--dataset`` target)."""
    return f"api/v0/m/datasets/{dataset_id}/projects/"


def well_plates(well_id: int) -> str:
    """The plate a well belongs to (an empty list for an unknown well): asked only where a
    target's id was not found, to tell a well's id given as a plate's or an image's."""
    return f"api/v0/m/wells/{well_id}/plates/"


def image_metadata(image_id: int) -> str:
    """The ``metadata`` artifact: the JSON API image, with pixels and channels."""
    return f"api/v0/m/images/{image_id}/"


def image_rois(image_id: int, offset: int, limit: int = API_PAGE) -> str:
    """A page of the ``rois`` artifact: the image's ROIs with their shapes (JSON API).

    Spelled like the other JSON API listings (``offset`` before ``limit``), so every run
    asks the same bytes and IDR's proxy cache can answer.
    """
    return f"api/v0/m/images/{image_id}/rois/?offset={offset}&limit={limit}"


def original_file_paths(image_id: int) -> str:
    """The ``paths`` artifact: where the image's fileset was imported from (webgateway)."""
    return f"webgateway/original_file_paths/{image_id}/"


#: Image ids a ``fileset_check`` asks at once: 250 ids of 10 digits and their commas are
#: 2,750 bytes, under gunicorn's 4,094-byte request line with the rest of the URL.
FILESET_CHECK_BATCH = 250


def fileset_check(image_ids: Sequence[int]) -> str:
    """The webclient's check of the filesets some images split (its delete dialog's): see
    :mod:`harvester.plate_filesets`."""
    return f"webclient/fileset_check/delete/?Image={','.join(map(str, image_ids))}"


def plate_wells(plate_id: int, offset: int, limit: int = API_PAGE) -> str:
    """JSON API wells: column-major, WellSamples give images, fields and runs."""
    return f"api/v0/m/plates/{plate_id}/wells/?offset={offset}&limit={limit}"


# ----------------------------------------------------------------- webclient tree
def screen_plates(screen_id: int, page: int, limit: int = WEBCLIENT_PAGE) -> str:
    return f"webclient/api/plates/?id={screen_id}&page={page}&limit={limit}"


def plate_runs(plate_id: int) -> str:
    return f"webclient/api/plate_acquisitions/?id={plate_id}"


def project_datasets(project_id: int, page: int, limit: int = WEBCLIENT_PAGE) -> str:
    return f"webclient/api/datasets/?id={project_id}&page={page}&limit={limit}"


def dataset_images(dataset_id: int, page: int, limit: int = WEBCLIENT_PAGE) -> str:
    return f"webclient/api/images/?id={dataset_id}&page={page}&limit={limit}"


def map_annotations(kind: str, ids: Iterable[int]) -> str:
    """``webclient/api/annotations/?type=map&well=1&well=2`` (ids in the given order)."""
    if kind not in ("screen", "project", "plate", "dataset", "well", "image"):
        raise ValueError(f"no map annotations for {kind!r}")
    id_list = list(ids)
    if not id_list or len(id_list) > ANNOTATION_BATCH:
        raise ValueError(f"1..{ANNOTATION_BATCH} ids per annotations request")
    return "webclient/api/annotations/?type=map&" + "&".join(f"{kind}={i}" for i in id_list)


def plate_grid(plate_id: int, field: int, run_id: int | None = None) -> str:
    """A plate grid; with ``run_id`` the field counts from that run's first WellSample."""
    if run_id is None:
        return f"webgateway/plate/{plate_id}/{field}/"
    return f"webgateway/plate/{plate_id}/{field}/{run_id}/"


# ----------------------------------------------------------------- per-image artifacts
def imgdata(image_id: int) -> str:
    """The ``imgdata`` artifact (not proxy-cached on IDR)."""
    return f"webclient/imgData/{image_id}/"


def thumbnail(image_id: int, size: int = DEFAULT_THUMBNAIL_SIZE) -> str:
    """The ``thumbnail`` artifact; see the module docstring for the URL choice."""
    if size == DEFAULT_THUMBNAIL_SIZE:
        return f"webgateway/render_thumbnail/{image_id}/"
    return f"webgateway/render_thumbnail/{image_id}/{size}/"


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One entry of ``c=``: 1-based index, active flag, window and colour."""

    index: int
    active: bool
    start: float
    end: float
    color: str  # RRGGBB

    def render(self) -> str:
        sign = "" if self.active else "-"
        # "|" is not allowed raw in a query (RFC 3986): encode it ourselves so no client does.
        return f"{sign}{self.index}%7C{num(self.start)}:{num(self.end)}${self.color.upper()}"


def _request_line(path: str) -> int:
    """Bytes of ``GET /path HTTP/1.1``: ``|``, sent as ``%7C``, counts three."""
    return len(path.encode()) + 2 * path.count("|") + len("GET / HTTP/1.1")


def request_line_fits(path: str) -> bool:
    """Does ``GET /path HTTP/1.1`` fit gunicorn's request line, with room to spare
    (``REQUEST_LINE_ROOM``)?"""
    return _request_line(path) <= REQUEST_LINE_LIMIT - REQUEST_LINE_ROOM


def request_line_over(url: str) -> bool:
    """Was ``url`` (a failure's, whole) a request line over gunicorn's limit? Why: its 400
    is an HTML page the failure's reason does not carry (``HTTP 400 Bad Request``)."""
    return _request_line(url.split("://", 1)[-1].partition("/")[2]) > REQUEST_LINE_LIMIT


def channels_query(channels: Sequence[ChannelSpec], rest: str) -> str:
    """The ``c=`` value of a render whose URL is ``rest`` besides it: every channel, or
    only the active ones where every channel makes the request line too long.

    Why: an image of ~140 channels or more (hyperspectral, mass-spectrometry imaging)
    gave a URL gunicorn refuses (400, and the hint to set max_plane). A channel left out
    of ``c=`` is rendered inactive, as a negated one is (OMERO's ``setActiveChannels``),
    so the picture is the same; listing every one keeps short URLs as they were."""
    every = ",".join(ch.render() for ch in channels)
    if request_line_fits(rest + every):
        return every
    active = [ch for ch in channels if ch.active]
    return ",".join(ch.render() for ch in active) if active else every


def render_image(
    image_id: int,
    z: int,
    t: int,
    channels: Sequence[ChannelSpec],
    model: str,
    quality: float,
    fmt: str = "jpeg",
) -> str:
    """The ``render`` artifact in the fully specified form both OMERO.web and IDR's
    image-region microservice accept: z and t in the path, every channel with
    window and colour, the model, the quality."""
    if model not in ("c", "g"):
        raise ValueError(f"rendering model must be 'c' or 'g', not {model!r}")
    if not channels:
        raise ValueError("at least one channel is needed")
    path = f"webgateway/render_image/{image_id}/{z}/{t}/"
    query = f"&m={model}&q={num(quality)}" + (f"&format={fmt}" if fmt != "jpeg" else "")
    return f"{path}?c={channels_query(channels, path + query)}{query}"


def render_plane_region(
    image_id: int,
    z: int,
    t: int,
    channels: Sequence[ChannelSpec],
    model: str,
    region: tuple[int, int, int, int],
    fmt: str = "png",
) -> str:
    """A region of one plane (used by the stack fetcher for tiles of big planes)."""
    x, y, w, h = region
    path = f"webgateway/render_image_region/{image_id}/{z}/{t}/"
    query = f"&m={model}&region={x},{y},{w},{h}&format={fmt}"
    return f"{path}?c={channels_query(channels, path + query)}{query}"
