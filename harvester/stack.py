"""The ``stack`` artifact: every (t, z, c) plane of an image as one OME-TIFF.

Flow for one image (:func:`harvest_stack`):

1. imgData -> :class:`~harvester.planes.Geometry` and one window per channel
   (:mod:`harvester.window`);
2. the server's render limits (``OPTIONS`` on the render route, else the
   configured/default 3192 px) decide whether planes are fetched whole or as
   ``render_image_region`` regions;
3. missing requests are fetched through the shared client (its rate limit,
   concurrency and retries apply) and each answer is written atomically to
   ``DIR/staging/<image_id>/`` — a crash or kill loses at most the requests in
   flight, and a rerun fetches only what is not staged;
4. once every request is staged, the OME-TIFF is assembled in a worker thread
   plane by plane (bounded memory) to a temp file, handed to
   :meth:`Store.put_file <harvester.store.Store.put_file>`, and after the
   store has journaled it the staging folder is removed (and ``DIR/staging``
   once empty). Each answer is checked as it comes, before it is staged (a PNG's
   CRCs, a JPEG's markers: :func:`_verify_plane`), so a plane damaged on the way
   is asked again within the client's one retry budget (1 + ``max_retries``
   requests a plane at most). A staged file that does not decode at assembly, or
   a JPEG whose markers show it damaged (:mod:`harvester.jpeg`), stops the
   assembly: one an earlier run staged (on disk since, a killed run's) is fetched
   again, after every staged file is checked, so that the damaged ones alone are
   fetched at once, and the assembly starts over, once per file; one fetched in
   this run, the image fails with its other planes kept. A cancellation (Ctrl-C)
   stops the assembly at the next plane and removes its temp file; once the file
   is whole, storing it and removing the staging finish regardless, so a
   journaled stack is always counted.

A ``stack.json`` in the staging folder records the request set (windows, limits,
sizes); if a rerun would ask for different planes (another ``--window``), the
stale staging is discarded rather than mixed. Beside it, ``imgdata.json`` keeps the
imgData the planes were planned from, which a resume reads instead of asking again
(:data:`harvester.layout.STAGED_IMGDATA`); a half-written OME-TIFF a killed process left
there is removed as the stack is staged again (:func:`prepare_staging`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import shutil
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import anyio
import numpy as np
from numpy.typing import NDArray

from harvester import layout
from harvester.client import Client, Expect, Fetched
from harvester.errors import (
    FetchError,
    InvalidBodyError,
    PermanentError,
    StorageError,
    redact_url,
)
from harvester.ometiff import StackMetadata, write_ome_tiff
from harvester.planes import (
    DEFAULT_MAX_PLANE,
    DEFAULT_MAX_TILE,
    Geometry,
    PlaneError,
    PlaneRequest,
    StagedPlaneError,
    body_damage,
    expected_size,
    extension,
    image_format,
    plan_requests,
    probe_size,
    read_plane,
    staged_files,
    too_big_to_assemble,
    undecodable,
    write_atomic,
)
from harvester.si import SI_PREFIXES
from harvester.store import storage_error
from harvester.text import agree, plural
from harvester.window import WindowError, choose_windows

if TYPE_CHECKING:  # only a type: keeps this module importable on its own
    from harvester.models import ImageRef

logger = logging.getLogger(__name__)

#: Requests of one image in flight at once (the client's own limits still apply).
DEFAULT_PLANE_CONCURRENCY: Final = 4
#: The journal/layout kind of the artifact (``Artifact.STACK.value``).
STACK_KIND: Final = "stack"
STAGING_RECORD: Final = "stack.json"
ASSEMBLY_NAME: Final = layout.ASSEMBLY_NAME
_STAGING_VERSION: Final = 1


class StackStore(Protocol):
    """What a stack needs from :class:`harvester.store.Store` (durable adoption + flush)."""

    async def put_file(
        self,
        kind: str,
        object_id: int,
        rel_path: str,
        tmp_path: Path,
        sha256: str | None = None,
    ) -> None:
        """Adopt a finished temp file as ``rel_path`` and journal it."""

    async def flush(self) -> None:
        """Return once everything queued is durable and journaled."""


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """The largest plane and region the server renders in one request."""

    max_plane: int = DEFAULT_MAX_PLANE
    max_tile: int = DEFAULT_MAX_TILE
    source: str = "default"  # "options", "config" or "default"


_limits_cache: weakref.WeakKeyDictionary[Any, RenderLimits] = weakref.WeakKeyDictionary()
#: One discovery per client at a time: the first stacks of a run start together, and each
#: sent its own OPTIONS (the same answer) before the first one was cached.
_limits_locks: weakref.WeakKeyDictionary[Any, anyio.Lock] = weakref.WeakKeyDictionary()


def parse_options(body: Mapping[str, Any]) -> RenderLimits | None:
    """Limits from the microservice's ``OPTIONS`` JSON, or None if it has none.

    The answer looks like ``{"provider": "ImageRegionMicroservice", "options":
    {"maxTileLength": 2048, "maxPlaneWidth": 3192, "maxPlaneHeight": 3192}}``.
    """
    options = body.get("options")
    if not isinstance(options, Mapping):
        return None
    sides = [options.get("maxPlaneWidth"), options.get("maxPlaneHeight")]
    plane = [v for v in sides if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    if not plane:
        return None
    tile = options.get("maxTileLength")
    max_tile = tile if isinstance(tile, int) and not isinstance(tile, bool) and tile > 0 else None
    return RenderLimits(
        max_plane=min(plane), max_tile=max_tile or DEFAULT_MAX_TILE, source="options"
    )


async def discover_limits(client: Client, image_id: int) -> RenderLimits:
    """Ask the render route's ``OPTIONS`` once per client; defaults when unsupported.

    omero-web answers OPTIONS with nothing useful (or an error); any failure
    (after the client's retries of a busy or broken answer) means "use the defaults".
    """
    cached = _limits_cache.get(client)
    if cached is not None:
        return cached
    lock = _limits_locks.get(client)
    if lock is None:
        lock = _limits_locks[client] = anyio.Lock()
    async with lock:
        cached = _limits_cache.get(client)
        if cached is not None:  # another image asked while this one waited
            return cached
        return await _ask_limits(client, image_id)


async def _ask_limits(client: Client, image_id: int) -> RenderLimits:
    """One ``OPTIONS`` request; the limits are cached for ``client``."""
    limits = RenderLimits()
    options = getattr(client, "options", None)
    if options is not None:
        try:
            fetched: Fetched = await options(f"webgateway/render_image/{image_id}/0/0/")
            parsed = parse_options(json.loads(fetched.body))
        except (FetchError, ValueError, TypeError, AttributeError) as exc:
            logger.debug("OPTIONS gave no render limits (%s); using defaults", exc)
            parsed = None
        if parsed is not None:
            limits = parsed
    logger.info(
        "render limits: plane %d px, region %d px (%s)",
        limits.max_plane,
        limits.max_tile,
        limits.source,
    )
    _limits_cache[client] = limits
    return limits


def _record(
    geometry: Geometry, window: str, limits: RenderLimits, requests: Sequence[PlaneRequest]
) -> dict[str, Any]:
    """What identifies a staging area's content: same record = planes reusable."""
    digest = hashlib.sha256("\n".join(r.url for r in requests).encode()).hexdigest()
    return {
        "version": _STAGING_VERSION,
        "image_id": geometry.image_id,
        "window": window,
        "size": [
            geometry.size_t,
            geometry.size_z,
            geometry.size_c,
            geometry.size_y,
            geometry.size_x,
        ],
        "max_plane": limits.max_plane,
        "max_tile": limits.max_tile,
        "requests": len(requests),
        "urls_sha256": digest,
    }


def prepare_staging(
    staging: Path, record: Mapping[str, Any], imgdata: Mapping[str, Any] | None = None
) -> dict[str, Path]:
    """Create or reuse the staging folder; return the complete staged files by stem.

    ``imgdata``, the answer the record was planned from, is kept beside it
    (:data:`harvester.layout.STAGED_IMGDATA`) for a resume of the stack to read instead of
    asking the server again.

    A half-written stack a killed process left (:func:`harvester.layout.assembly_leftovers`:
    its temp file, its levels' folder, as big as the stack) is removed: it is never resumed,
    and it held that disk unnoticed. A folder staged for a different request set is emptied
    first. Other render limits alone do not make one (``max_plane`` set in the config since,
    say): when they leave every URL as it was, so are the planes, which are kept.
    """
    record_path = staging / STAGING_RECORD
    try:
        previous = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = None
    # (a folder holding the imgData kept as it came alone, keep_imgdata, has no planes)
    if not _same_requests(previous, record) and staging.exists() and not _kept_alone(staging):
        logger.info("staging %s was for other requests; starting it afresh", staging)
        shutil.rmtree(staging)
    _remove_assembly_leftovers(staging)
    try:
        try:
            staging.mkdir(parents=True, exist_ok=True)
        except FileNotFoundError:
            # Another process removed DIR/staging as it emptied it (remove_staging)
            # between our making it and our image's folder in it: make both again.
            staging.mkdir(parents=True, exist_ok=True)
        if previous != record:
            write_atomic(record_path, json.dumps(record, indent=1).encode())
        imgdata_path = staging / layout.STAGED_IMGDATA
        if imgdata is not None and not imgdata_path.exists():
            write_atomic(imgdata_path, json.dumps(imgdata).encode())
    except OSError as exc:
        raise storage_error(exc, f"the staging folder {staging}") from exc
    return staged_files(staging)


def keep_imgdata(staging: Path, body: bytes) -> None:
    """Keep an image's imgData answer in its staging folder (:data:`STAGED_IMGDATA`) as soon
    as it comes, before the image's other files are fetched and its stack is staged.

    Why: imgData is asked first, and the stack staged it only once its turn came, after the
    image's thumbnail and metadata: a task killed, cancelled or cut short by its time limit
    in between lost it, and its resubmission asked the server again (an HPC walkthrough
    counted 88 imgData answers for 80 images over one array and its resubmission). IDR's
    proxy does not cache imgData: every one reaches OMERO.web. Best effort: a folder that
    cannot be written is left to :func:`prepare_staging`, which says so."""
    path = staging / layout.STAGED_IMGDATA
    if path.exists():
        return
    try:
        staging.mkdir(parents=True, exist_ok=True)
        write_atomic(path, body)
    except OSError as exc:
        logger.debug("imgData not kept in %s: %s", staging, exc)


def drop_kept_imgdata(staging: Path) -> None:
    """Remove an image's staging folder that holds its kept imgData alone
    (:func:`keep_imgdata`): for a stack refused for good before any plane (no rerun
    reads it), and nothing else of it is there to keep."""
    if _kept_alone(staging):
        remove_staging(staging)


def _kept_alone(staging: Path) -> bool:
    """Whether ``staging`` holds the imgData :func:`keep_imgdata` kept and nothing else."""
    try:
        return [entry.name for entry in os.scandir(staging)] == [layout.STAGED_IMGDATA]
    except OSError:
        return False


def _remove_assembly_leftovers(staging: Path) -> None:
    """Remove a killed process's half-written stack from ``staging`` (:func:`prepare_staging`)."""
    for path in layout.assembly_leftovers(staging):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as exc:
            raise StorageError(f"cannot remove the half-written stack {path}: {exc}") from exc
        logger.info("removed %s, the half-written stack of a run killed while assembling it", path)


#: Keys of a staging record that say why its requests are what they are, not what they are.
_LIMIT_KEYS: Final = frozenset({"max_plane", "max_tile"})


def _same_requests(previous: Any, record: Mapping[str, Any]) -> bool:
    """Whether a staging record names the same requests as ``record`` (limits aside:
    ``urls_sha256`` already says whether they cut the planes into the same regions)."""
    if not isinstance(previous, Mapping):
        return False
    keys = (set(previous) | set(record)) - _LIMIT_KEYS
    return all(previous.get(key) == record.get(key) for key in keys)


def _plane_check(request: PlaneRequest, geometry: Geometry) -> Any:
    """A client ``check``: the answer is a PNG/JPEG of exactly the asked size (its header
    alone: :func:`_verify_plane` reads the rest, off the event loop)."""
    expected = expected_size(geometry, request)

    def check(fetched: Fetched) -> None:
        try:
            size = probe_size(fetched.body)
        except PlaneError as exc:
            # status: the server answered, wrongly (the failure line said "no answer").
            raise InvalidBodyError(str(exc), url=fetched.url, status=fetched.status) from exc
        if size != expected:
            raise InvalidBodyError(
                f"rendered plane is {size[0]}x{size[1]}, expected {expected[0]}x{expected[1]}",
                url=fetched.url,
                status=fetched.status,
            )

    return check


async def _verify_plane(fetched: Fetched) -> None:
    """A client ``verify``: the answer is undamaged (:func:`harvester.planes.body_damage`:
    a PNG's CRCs, a JPEG's markers), checked in a worker thread as it comes.

    Why here and not at assembly alone: a plane damaged on the way was staged, found as
    the stack was assembled and fetched again with a fresh retry budget, up to
    2 x (1 + ``max_retries``) requests a plane. Raised here, it is retried by the client
    with its backoff, within the request's one budget, and never staged. (A JPEG has no
    checksum and Pillow decodes some damaged ones without a word, to wrong pixels.)
    """
    damage = await anyio.to_thread.run_sync(body_damage, fetched.body)
    if damage is not None:
        # status: the server answered, wrongly (the failure line would say "no answer").
        raise InvalidBodyError(damage, url=fetched.url, status=fetched.status)


async def fetch_missing(
    client: Client,
    geometry: Geometry,
    missing: Sequence[PlaneRequest],
    staging: Path,
    *,
    concurrency: int = DEFAULT_PLANE_CONCURRENCY,
    on_staged: Callable[[], None] | None = None,
) -> None:
    """Fetch and stage ``missing`` requests; the first failure stops the rest and is raised.

    ``on_staged`` is called after each file is staged (the run's progress).

    The first plane is asked alone, the others ``concurrency`` at a time after it: a server
    that refuses this image's renders (IDR's proxy answers 403 to every one since its move
    to OME-Zarr) costs one request, not one per worker already in flight.
    """
    pending: Iterator[PlaneRequest] = iter(missing)
    errors: list[FetchError | StorageError] = []

    async def fetch(request: PlaneRequest) -> None:
        fetched = await client.get(
            request.url, Expect.IMAGE, check=_plane_check(request, geometry), verify=_verify_plane
        )
        target = staging / (request.stem + extension(image_format(fetched.body)))
        try:
            await anyio.to_thread.run_sync(write_atomic, target, fetched.body)
        except OSError as exc:
            raise storage_error(exc, f"a plane staged in {staging}") from exc
        if on_staged is not None:
            on_staged()

    async def worker(scope: anyio.CancelScope) -> None:
        for request in pending:
            try:
                await fetch(request)
            except (FetchError, StorageError) as exc:
                errors.append(exc)
                scope.cancel()
                return

    workers = max(1, min(concurrency, len(missing)))
    if workers > 1:
        await fetch(next(pending))  # raises its failure: nothing else was sent
        workers = min(workers, len(missing) - 1)
    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker, tg.cancel_scope)
    if errors:
        raise errors[0]


def remove_staging(staging: Path) -> None:
    """Remove one image's staging folder, and ``DIR/staging`` too once it is empty.

    ``DIR/staging`` holds stacks in progress only (README, on-disk layout): an
    empty one left after the last stack is noise in a finished folder. It is
    removed only when empty (``rmdir``), so another shard's staging is kept.
    """
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):  # not empty (another image in progress) or gone
        staging.parent.rmdir()


def source_format(files: Mapping[str, Path]) -> str:
    """``png``, ``jpeg`` or ``png+jpeg`` from the staged files' extensions."""
    kinds = sorted({"png" if p.suffix == ".png" else "jpeg" for p in files.values()})
    return "+".join(kinds) or "png"


def assemble(
    geometry: Geometry,
    requests: Sequence[PlaneRequest],
    files: Mapping[str, Path],
    meta: StackMetadata,
    out_path: Path,
    *,
    between_planes: Callable[[], None] | None = None,
) -> None:
    """Write the OME-TIFF from staged files, one plane in memory at a time.

    ``between_planes`` is called before each plane, each region of a plane
    and each row of tiles; it may raise to abandon the file
    (:func:`harvest_stack` passes anyio's ``from_thread.check_cancelled``, so
    a Ctrl-C stops a long assembly within a fraction of a plane instead of
    after the last plane). On any exception ``out_path`` is
    removed: a half-written assembly is never left beside the staged planes.
    """
    by_plane: dict[tuple[int, int, int], list[PlaneRequest]] = {}
    for request in requests:
        by_plane.setdefault((request.t, request.z, request.c), []).append(request)

    def source(t: int, z: int, c: int) -> NDArray[np.uint8]:
        return read_plane(geometry, by_plane[(t, z, c)], files, between_planes)

    scratch = out_path.with_name(layout.ASSEMBLY_LEVELS)
    try:
        write_ome_tiff(out_path, meta, source, scratch=scratch, check=between_planes)
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise


#: Seconds in one of each OMERO ``UnitsTime`` (the names the JSON API's ``Unit`` holds; the
#: same units as ome.xsd's UnitsTime: the SI-prefixed seconds, minute, hour and day).
_TIME_UNITS: Final = {f"{p.name}SECOND": 10.0**p.exponent for p in SI_PREFIXES} | {
    "MINUTE": 60.0,
    "HOUR": 3600.0,
    "DAY": 86400.0,
}


def parse_time_increment(body: Mapping[str, Any]) -> float | None:
    """Seconds between time points from ``/api/v0/m/images/{id}/``, if stated.

    imgData does not carry it; the JSON API's ``Pixels.TimeIncrement`` does,
    as a unit object (``{"Unit": "SECOND", "Value": 30.0}``) or a number.
    """
    data = body.get("data")
    pixels = data.get("Pixels") if isinstance(data, Mapping) else None
    value = pixels.get("TimeIncrement") if isinstance(pixels, Mapping) else None
    if isinstance(value, Mapping):
        number, unit = value.get("Value"), str(value.get("Unit") or "SECOND").upper()
        scale = _TIME_UNITS.get(unit)
        if isinstance(number, int | float) and scale is not None and number > 0:
            seconds = float(number) * scale
            # A huge or tiny value in an extreme unit: inf or 0 seconds is no interval.
            return seconds if 0 < seconds < math.inf else None
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


async def fetch_time_increment(client: Client, image_id: int) -> float | None:
    """Best effort: one JSON API request; any failure means "unknown"."""
    try:
        fetched = await client.get(f"api/v0/m/images/{image_id}/", Expect.JSON)
        body = fetched.json()
    except (FetchError, ValueError) as exc:
        logger.debug("no TimeIncrement for image %d: %s", image_id, exc)
        return None
    return parse_time_increment(body) if isinstance(body, Mapping) else None


async def _stage_missing(
    client: Client,
    geometry: Geometry,
    requests: Sequence[PlaneRequest],
    files: Mapping[str, Path],
    staging: Path,
    plane_concurrency: int,
    on_staged: Callable[[], None] | None,
) -> dict[str, Path]:
    """Fetch the requests not in ``files`` into ``staging``; every staged file by stem.

    A refusal for good before any plane came removes the staging folder (a folder with
    only its ``stack.json`` and staged imgData would be kept for a resume that gets the
    same answer).
    """
    missing = [r for r in requests if r.stem not in files]
    if not missing:
        return dict(files)
    try:
        await fetch_missing(
            client, geometry, missing, staging, concurrency=plane_concurrency, on_staged=on_staged
        )
    except PermanentError:
        if not await anyio.to_thread.run_sync(staged_files, staging):
            await anyio.to_thread.run_sync(remove_staging, staging)
        raise
    staged = await anyio.to_thread.run_sync(staged_files, staging)
    lost = [r.stem for r in requests if r.stem not in staged]
    if lost:
        raise StorageError(f"staged planes vanished from {staging}: {lost[:3]}")
    return staged


async def _refetch_undecodable(
    client: Client,
    geometry: Geometry,
    requests: Sequence[PlaneRequest],
    files: Mapping[str, Path],
    staging: Path,
    found: StagedPlaneError,
    refetched: set[str],
    plane_concurrency: int,
    on_staged: Callable[[], None] | None,
) -> dict[str, Path]:
    """Drop every staged file that does not decode and fetch those again; the staged files.

    ``found`` is the one the assembly met. Only a file staged by an earlier run (killed, or
    spoilt on disk since) is fetched again: one fetched in this run (``refetched``, updated
    here) passed its checks as it came (:func:`_verify_plane`, within its retry budget), so
    one that still does not decode is the server's answer, not an accident; asked again, it
    cost another budget. :class:`InvalidBodyError` then, the damaged files dropped (the next
    run asks them again) and the image's other planes kept for the next run.
    """
    try:
        bad = await anyio.to_thread.run_sync(
            functools.partial(
                undecodable, geometry, requests, files, check=anyio.from_thread.check_cancelled
            )
        )
    except OSError as exc:  # raised in an except clause: the caller's OSError one misses it
        raise StorageError(f"cannot read the staged planes in {staging}: {exc}") from exc
    if found.path not in bad:
        bad.append(found.path)
    stems = {path.name.rpartition(".")[0] for path in bad}
    for path in bad:
        await _drop_staged(path)
    again = sorted(stems & refetched)
    if again:
        others = sum(1 for stem in files if stem not in stems)
        # status 200: the server answered, with a body that does not decode (the
        # failure line then says "HTTP 200", not "no answer").
        raise InvalidBodyError(
            f"{found}, as fetched in this run ({others} other staged plane files "
            "kept for the next run)",
            url=next((r.url for r in requests if r.stem == again[0]), ""),
            status=200,
        ) from found
    refetched |= stems
    logger.warning(
        "stack %d: %s %s not decode (%s); fetching them again",
        geometry.image_id,
        plural(len(bad), "staged plane file"),
        agree(len(bad), "does", "do"),
        found,
    )
    kept = {stem: path for stem, path in files.items() if stem not in stems}
    return await _stage_missing(
        client, geometry, requests, kept, staging, plane_concurrency, on_staged
    )


async def _drop_staged(path: Path) -> None:
    """Remove one staged file that does not decode, so that it is fetched again."""
    try:
        await anyio.Path(path).unlink(missing_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot remove the damaged staged plane {path}: {exc}") from exc


def _server_of(client: Client) -> str:
    settings = getattr(client, "settings", None)
    base = getattr(settings, "base_url", None)
    return redact_url(str(base)) if base else "unknown server"


async def harvest_stack(
    client: Client,
    store: StackStore,
    ref: ImageRef,
    imgdata: dict[str, Any],
    *,
    window: str,
    out_dir: Path,
    max_plane: int | None = None,
    max_tile: int | None = None,
    server: str | None = None,
    time_increment: float | None = None,
    plane_concurrency: int = DEFAULT_PLANE_CONCURRENCY,
    ask_time_increment: bool = True,
    on_staged: Callable[[], None] | None = None,
) -> None:
    """Fetch every plane of ``ref`` (resuming from staging) and store its OME-TIFF.

    ``max_plane``/``max_tile`` override what the server's OPTIONS says (None:
    ask, else 3192/2048). ``time_increment`` (seconds) goes into the OME-XML;
    imgData does not carry it, so for time series it is otherwise asked from
    the JSON API (``ask_time_increment``). ``on_staged`` is called after each plane
    (or region) is staged: the run's progress. Raises
    :class:`~harvester.errors.PermanentError` when imgData cannot describe a
    stack, the client's :class:`~harvester.errors.FetchError` when a plane
    fails for good (staged planes are kept for the next run), and
    :class:`~harvester.errors.StorageError` on disk trouble.
    """
    staging = layout.staging_dir(out_dir, ref.image_id)
    try:
        geometry = Geometry.from_imgdata(imgdata)
        windows = choose_windows(imgdata, window)
    except (PlaneError, WindowError) as exc:
        await anyio.to_thread.run_sync(drop_kept_imgdata, staging)
        raise PermanentError(str(exc)) from exc  # the failure line names the image
    # No "stack of image N:" in it: the failure line names the kind and the image.
    if (too_big := too_big_to_assemble(geometry.size_x, geometry.size_y, "stack")) is not None:
        await anyio.to_thread.run_sync(drop_kept_imgdata, staging)
        raise PermanentError(too_big)
    if max_plane is not None:
        limits = RenderLimits(max_plane, max_tile or DEFAULT_MAX_TILE, "config")
    else:
        limits = await discover_limits(client, ref.image_id)
        if max_tile is not None:
            limits = RenderLimits(limits.max_plane, max_tile, limits.source)
    requests = plan_requests(
        geometry, windows, max_plane=limits.max_plane, max_tile=limits.max_tile
    )
    record = _record(geometry, window, limits, requests)
    files = await anyio.to_thread.run_sync(prepare_staging, staging, record, imgdata)
    missing = [r for r in requests if r.stem not in files]
    logger.info(
        "stack %d: %d planes, %d requests, %d staged, %d to fetch",
        ref.image_id,
        geometry.plane_count,
        len(requests),
        len(requests) - len(missing),
        len(missing),
    )
    files = await _stage_missing(
        client, geometry, requests, files, staging, plane_concurrency, on_staged
    )
    if time_increment is None and geometry.size_t > 1 and ask_time_increment:
        time_increment = await fetch_time_increment(client, ref.image_id)
    meta = StackMetadata(
        image_id=geometry.image_id,
        name=geometry.name or ref.image_name,
        server=server or _server_of(client),
        size_x=geometry.size_x,
        size_y=geometry.size_y,
        size_z=geometry.size_z,
        size_c=geometry.size_c,
        size_t=geometry.size_t,
        windows=windows,
        window_mode=window,
        source_format=source_format(files),
        pixel_type=geometry.pixel_type,
        physical_size_x=geometry.physical_size_x,
        physical_size_y=geometry.physical_size_y,
        physical_size_z=geometry.physical_size_z,
        time_increment=time_increment,
        acquisition_ts=geometry.acquisition_ts,
        levels=geometry.levels,
        extra=(
            ("requests", str(len(requests))),
            ("max_plane", f"{limits.max_plane} ({limits.source})"),
        ),
    )
    # The planes fetched in this run were checked as they came: only an earlier run's
    # are fetched again when the assembly finds one damaged (_refetch_undecodable).
    refetched = {r.stem for r in missing}
    tmp = staging / ASSEMBLY_NAME
    while True:
        try:
            await anyio.to_thread.run_sync(
                functools.partial(
                    assemble,
                    geometry,
                    requests,
                    files,
                    meta,
                    tmp,
                    between_planes=anyio.from_thread.check_cancelled,
                )
            )
            break
        except StagedPlaneError as exc:
            # A damaged file an earlier run staged (spoilt on disk since, or served so
            # before planes were checked as they came) costs its request again, not the
            # whole staging: that held every plane of the image. The others are checked
            # now, so that all the damaged ones are fetched at once.
            files = await _refetch_undecodable(
                client,
                geometry,
                requests,
                files,
                staging,
                exc,
                refetched,
                plane_concurrency,
                on_staged,
            )
            # (a plane fetched again may come in the other format: the OME-XML says which)
            meta = dataclasses.replace(meta, source_format=source_format(files))
        except OSError as exc:
            # (a full disk, a quota, a file-size limit: said as every other file's, with
            # what to do; it was "cannot write stack of image N: [Errno 28] No space left
            # on device", no hint, where stacks are a folder's largest files)
            raise storage_error(exc, f"the stack of image {ref.image_id}") from exc
        except PlaneError as exc:
            # Not a staged file's (those are StagedPlaneError above): drop the staging
            # so the next run refetches, and report it.
            await anyio.to_thread.run_sync(remove_staging, staging)
            raise InvalidBodyError(str(exc)) from exc  # (the failure line names the image)
    rel_path = layout.image_path(ref.image_id, STACK_KIND)
    # The stack is whole: hand it over, make it durable and drop its staging even if
    # the run is interrupted meanwhile (a few seconds at most). Cancelled half-way,
    # the file would be journaled but this function would not return, so the run's
    # summary would not count it and its staging (the size of the stack) would stay.
    with anyio.CancelScope(shield=True):
        await store.put_file(STACK_KIND, ref.image_id, rel_path, tmp)
        await store.flush()
        await anyio.to_thread.run_sync(remove_staging, staging)
    logger.info("stack %d stored as %s", ref.image_id, rel_path)
