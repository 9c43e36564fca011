"""Consumers: fetch, validate and store the artifacts of one image.

Per image, :meth:`Fetcher.fetch_image` looks up which of the selected
artifacts are already done (``store.state``, loaded from the journals) and
sends no request for those; an image whose artifacts are all done costs
nothing. The rest are fetched in a fixed order, imgData first, because the
``render`` URL and the ``stack`` planes are built from imgData's default
plane, channel windows and colours (imgData is fetched even when not
selected, then not stored; when it is already stored the file on disk is read
instead of asking again, and so is the copy an unfinished stack kept in its staging
folder, for that stack's resume). imgData's ``meta`` also tells the context (name, well, dataset)
of an image given by id, which the consumer journals after this step (``fetch_image``'s
``journal``).

The JSON API image (``api/v0/m/images/{id}/``) is asked once per image: the
``metadata`` artifact is that answer verbatim, and a time series' ``stack``
needs from it only ``Pixels.TimeIncrement`` for its OME-XML. When both are
selected the stack takes that one number from the metadata answer (or from the
stored metadata file on a later run) instead of sending the request again; no
body is kept beyond the image's metadata step.

The ``rois`` artifact (opt-in) is asked last and needs nothing of the others: every
page of the image's JSON API ROI listing, stored as one file (:mod:`harvester.rois`).

Validation beyond what the client checks (status, content type, magic bytes,
JSON parse, Content-Length) is artifact-specific: imgData with an
``Exception`` key is an :class:`~harvester.errors.InvalidBodyError` (retried,
then a failure with the server's message), except the one that says the server
cannot open the image's pixels at all ("Error instantiating pixel buffer", IDR's
answer for every image it has not converted to OME-Zarr), which is an
:class:`~harvester.errors.UnrenderableError`: asking again gets the same answer,
so it is not retried. ``{"ConcurrencyException": {"backOff": ms}}`` is retried
after the server's ``backOff``. A render asked as PNG and answered with JPEG
(classic OMERO.web ignores ``format=png``) fails at once, saying so; metadata
must carry the image; a thumbnail, a JPEG render and a render's JPEG region must be
whole by their markers (:mod:`harvester.jpeg`, retried as any bad body).

:func:`failure_advice` reads a run's (or a folder's) failures and says what to
do instead when a rerun cannot help: the final report and ``harvester status``
print its hints.

Give-up rule: when one artifact kind fails for good with the same answer
(status and reason, digits ignored) for ``give_up_after`` images in a row, that
kind is not requested again in this run (IDR answers 403 to every server-side
render of images it has not converted); the summary says so.

Second chance: a file whose last try failed with a :class:`~harvester.errors.TransientError`
(busy, 5xx, broken off, a bad body) is kept aside, pending, not journaled failed; once the
run's queue has ended the consumers fetch its image again (``fetch_image(again=True)``),
those files only, and only a failure then is journaled (:mod:`harvester.second_chance`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from harvester import layout, urls
from harvester.client import Client, Expect, Fetched
from harvester.early import EarlyAnswers, EarlyRequest
from harvester.errors import (
    FetchError,
    InvalidBodyError,
    PermanentError,
    TransientError,
    UnrenderableError,
    with_status,
)
from harvester.fileset_answers import FilesetAnswers
from harvester.jpeg import check_jpeg
from harvester.models import Artifact, ImageRef, fileset_of

# What the hints of planes refused for their size key on and say (not from planes, which a
# thumbnails-only harvest never needs: see plane_limits).
from harvester.plane_limits import (
    JPEG_MAX_SIDE,
    TOO_BIG_TO_ASSEMBLE,
    TOO_WIDE_FOR_JPEG,
    canvas_gib,
    refused_size,
)
from harvester.second_chance import SecondChance
from harvester.session import SESSION_AGAIN
from harvester.shell_words import shell_quote
from harvester.store import Store
from harvester.text import plural
from harvester.window import WindowError, choose_windows

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from harvester.planes import Region
    from harvester.session import SessionWatch
    from harvester.stack import RenderLimits

logger = logging.getLogger(__name__)

#: Regions of one big render in flight at once (the client's limits still apply).
RENDER_REGION_CONCURRENCY = 4

#: Order of work within one image: imgdata first (render and stack need it).
FETCH_ORDER = (
    Artifact.IMGDATA,
    Artifact.METADATA,
    Artifact.THUMBNAIL,
    Artifact.RENDER,
    Artifact.STACK,
    Artifact.ROIS,
    Artifact.PATHS,
)


@dataclass(frozen=True, slots=True)
class KnownTime:
    """A stack's ``TimeIncrement`` (seconds, None: not stated) already known for one image.

    Why: the stack would otherwise ask the JSON API image for it, the very request the
    ``metadata`` artifact makes. Only this number is kept, not the answer's body.
    """

    seconds: float | None


def artifact_path(image_id: int, artifact: Artifact, render_format: str = "jpeg") -> str:
    """Relative path of an artifact file (``layout.image_path``; a PNG render is ``.png``)."""
    ext = "png" if artifact is Artifact.RENDER and render_format == "png" else None
    return layout.image_path(image_id, artifact.value, ext)


@dataclass(frozen=True)
class FetchSettings:
    """The part of the configuration the fetchers need."""

    artifacts: tuple[Artifact, ...]
    out_dir: Path
    thumbnail_size: int = 96
    render_format: str = "jpeg"
    render_quality: float = 0.9
    window: str = "rendering"
    max_plane: int | None = None
    give_up_after: int = 20
    #: Files that failed on busy or broken answers are asked again once the run's queue has
    #: ended (:mod:`harvester.second_chance`); False for ``--max-retries 0``.
    second_chance: bool = True


@dataclass(frozen=True)
class Failure:
    """One artifact that failed for good in this run."""

    kind: str
    image_id: int
    url: str
    status: int | None
    reason: str


@dataclass
class FetchStats:
    """Counters for progress and the summary."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    images: int = 0
    images_untouched: int = 0
    done_by_kind: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    given_up: dict[str, str] = field(default_factory=dict)
    not_requested: dict[str, int] = field(default_factory=dict)
    max_failures_kept: int = 1000


#: A path in a failure's reason (up to a space or punctuation that ends it).
#: (A pattern, compiled by ``re`` on first use, as the others that only failures meet: a
#: harvest's start-up compiles none of them.)
_PATH_TOKEN = r"/[^\s;,()<>\"']*"


class GiveUp:
    """Tracks identical permanent failures in a row, per artifact kind."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._streak: dict[str, tuple[str, int]] = {}
        self.stopped: dict[str, str] = {}

    @staticmethod
    def signature(status: int | None, reason: str) -> str:
        """Same answer = same status and reason once numbers (image ids) and paths are blanked.

        Paths: IDR's pixel-buffer Exception names each image's own file
        (``/OMERO/ManagedRepo/.../Plate1-Blue-A-12-Scene-3.czi``), letters and all; it is
        the same answer for every image all the same.
        """
        blanked = re.sub(_PATH_TOKEN, "/*", reason)
        return f"{status}|{re.sub(r'[0-9]+', '#', blanked)[:200]}"

    def success(self, kind: str) -> None:
        self._streak.pop(kind, None)

    def failure(self, kind: str, status: int | None, reason: str) -> bool:
        """Count one failure; True when this kind must not be requested any more."""
        sig = self.signature(status, reason)
        previous, count = self._streak.get(kind, ("", 0))
        count = count + 1 if previous == sig else 1
        self._streak[kind] = (sig, count)
        if count >= self.limit and kind not in self.stopped:
            shown = with_status(status, reason)
            self.stopped[kind] = (
                f"{plural(count, 'image')} in a row failed with the same answer ({shown})"
            )
            logger.warning("not requesting %s any more in this run: %s", kind, self.stopped[kind])
        return kind in self.stopped


#: imgData's ``Exception`` text when the server cannot open an image's pixels at all. OMERO
#: words it "Error instantiating pixel buffer: /OMERO/ManagedRepo/..." (idr-api.md §6: IDR
#: in 2026 for every image not converted to OME-Zarr); matched loosely (case, "pixels",
#: "pixel_buffer", the exception class before it), as versions word it a little differently.
_PIXEL_BUFFER = r"pixels?[\s_-]*buffer"
_CANNOT = r"instantiat|creat|open|initiali[sz]|cannot|can't|could not|unable|error|fail"

#: The reason of a PNG render answered with JPEG (kept verbatim: :func:`failure_advice`
#: recognises it in journals).
PNG_IGNORED = "this server ignores format=png and answers JPEG"


def pixels_unreadable(message: str) -> bool:
    """Whether an imgData ``Exception`` message says the pixels cannot be opened at all."""
    found = re.search(_PIXEL_BUFFER, message, re.IGNORECASE)
    return found is not None and re.search(_CANNOT, message, re.IGNORECASE) is not None


def _back_off(value: Any) -> float | None:
    """Seconds from a ConcurrencyException's ``backOff`` (milliseconds); None if unusable."""
    raw = value.get("backOff") if isinstance(value, dict) else None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        return None
    try:
        ms = float(raw)
    except (TypeError, ValueError):
        return None
    return ms / 1000.0 if ms == ms and 0.0 <= ms < float("inf") else None


def check_imgdata(fetched: Fetched) -> None:
    """imgData answers 200 with an ``Exception`` key when the server cannot read the pixels.

    The pixel-buffer Exception is an :class:`UnrenderableError` (never retried: IDR gives
    it for good); any other Exception is retried. A ``ConcurrencyException`` (the server
    is busy with this image, e.g. building its pyramid) is retried after its ``backOff``.
    """
    body = fetched.json()
    if not isinstance(body, dict):
        raise InvalidBodyError(
            "imgData is not a JSON object", url=fetched.url, status=fetched.status
        )
    if "Exception" in body:
        message = " ".join(str(body["Exception"]).split())  # a Java trace: one line
        reason = f"imgData Exception: {message[:300]}"
        if pixels_unreadable(message):
            error = UnrenderableError(reason, url=fetched.url, status=fetched.status)
            meta = body.get("meta")
            error.meta = meta if isinstance(meta, dict) else None
            raise error
        raise InvalidBodyError(reason, url=fetched.url, status=fetched.status)
    if "ConcurrencyException" in body:
        raise InvalidBodyError(
            "imgData ConcurrencyException (server busy)",
            url=fetched.url,
            status=fetched.status,
            retry_after=_back_off(body["ConcurrencyException"]),
        )
    if not isinstance(body.get("size"), dict) or not isinstance(body.get("channels"), list):
        raise InvalidBodyError(
            "imgData without size or channels", url=fetched.url, status=fetched.status
        )


def check_png(fetched: Fetched) -> None:
    """A render asked with ``format=png`` must be a PNG.

    Classic OMERO.web ignores ``format`` and answers JPEG every time: asking again cannot
    help, so that is a :class:`PermanentError` saying what to do; anything else that is
    not a PNG (the client has checked it is an image) is retried as a bad body.
    """
    body = fetched.body
    if body.startswith(b"\x89PNG\r\n\x1a\n"):
        return
    if body.startswith(b"\xff\xd8\xff"):
        raise PermanentError(
            f'{PNG_IGNORED}: set render_format = "jpeg" (or use the stack artifact)',
            url=fetched.url,
            status=fetched.status,
        )
    start = body[:8].hex(" ") or "nothing"
    raise InvalidBodyError(
        f"body is not a PNG image (starts with {start})", url=fetched.url, status=fetched.status
    )


def check_metadata(image_id: int) -> Callable[[Fetched], None]:
    """The JSON API must answer with this very image."""

    def check(fetched: Fetched) -> None:
        body = fetched.json()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("@id") != image_id:
            raise InvalidBodyError(
                f"JSON API answer is not image {image_id}", url=fetched.url, status=fetched.status
            )

    return check


def check_paths(fetched: Fetched) -> None:
    """original_file_paths must be ``{}`` or name a fileset and lists of paths."""
    from harvester.originals import parse_paths  # (not at start-up: paths are asked later)

    try:
        parse_paths(fetched.json())
    except ValueError as exc:
        raise InvalidBodyError(str(exc), url=fetched.url, status=fetched.status) from None


def id_only_request(
    image_id: int, artifact: Artifact, settings: FetchSettings
) -> EarlyRequest | None:
    """The request of an artifact whose URL needs only the image id (None for the others).

    One definition for the fetcher and for the head start
    (:mod:`harvester.early`), so that an early answer is the one the fetcher
    would have asked for, validated the same way.
    """
    if artifact is Artifact.IMGDATA:
        return urls.imgdata(image_id), Expect.JSON, check_imgdata
    if artifact is Artifact.METADATA:
        return urls.image_metadata(image_id), Expect.JSON, check_metadata(image_id)
    if artifact is Artifact.THUMBNAIL:
        return urls.thumbnail(image_id, settings.thumbnail_size), Expect.JPEG, check_jpeg
    if artifact is Artifact.PATHS:
        return urls.original_file_paths(image_id), Expect.JSON, check_paths
    return None


def head_start_requests(
    image_ids: Iterable[int], settings: FetchSettings, limit: int
) -> list[EarlyRequest]:
    """The first ``limit`` id-only requests a new folder's run makes, in the fetcher's order.

    imgData comes first whenever render or stack is selected, as the fetcher
    asks for it then too (not stored unless selected).
    """
    selected = set(settings.artifacts)
    if selected & {Artifact.RENDER, Artifact.STACK}:
        selected.add(Artifact.IMGDATA)
    requests: list[EarlyRequest] = []
    for image_id in image_ids:
        for artifact in FETCH_ORDER:
            if len(requests) >= limit:
                return requests
            if artifact in selected:
                request = id_only_request(image_id, artifact, settings)
                if request is not None:
                    requests.append(request)
    return requests


def render_channels(imgdata: dict[str, Any]) -> list[urls.ChannelSpec]:
    """Every channel's saved window and colour, read by :mod:`harvester.window`.

    The same reading as the ``stack`` artifact's ``--window rendering``, so
    both artifacts agree on what imgData means; only the active flag is
    render-specific. :class:`PermanentError` when imgData has no windows.
    """
    try:
        windows = choose_windows(imgdata, "rendering")
    except WindowError as exc:
        raise PermanentError(f"render: {exc}") from exc
    raw = imgdata.get("channels") or []
    return [
        urls.ChannelSpec(
            index=w.index + 1,
            active=bool(raw[w.index].get("active", True)),
            start=w.start,
            end=w.end,
            color=w.color,
        )
        for w in windows
    ]


def render_path_from_imgdata(
    image_id: int, imgdata: dict[str, Any], quality: float, fmt: str = "jpeg"
) -> str:
    """The render URL for imgData's default plane with its saved rendering settings.

    Every channel is listed with window and colour (inactive ones negated),
    so the request means the same thing on OMERO.web and on IDR's
    image-region microservice, and the URL depends only on imgData (but for an
    image of so many channels that the list would not fit gunicorn's request
    line: the active ones only, :func:`harvester.urls.channels_query`).
    """
    model, z, t = render_plane_of(imgdata)
    return urls.render_image(image_id, z, t, render_channels(imgdata), model, quality, fmt)


def render_plane_of(imgdata: dict[str, Any]) -> tuple[str, int, int]:
    """(model ``c``/``g``, default z, default t) of imgData's rendering settings."""
    rdefs = imgdata.get("rdefs") or {}
    model = "g" if str(rdefs.get("model", "color")).lower().startswith("g") else "c"
    z = int(rdefs.get("defaultZ", 0) or 0)
    t = int(rdefs.get("defaultT", 0) or 0)
    return model, z, t


class Fetcher:
    """Fetches the selected artifacts of images; one instance shared by all workers."""

    def __init__(
        self,
        client: Client,
        store: Store,
        settings: FetchSettings,
        *,
        on_done: Callable[[str, int], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
        on_staged: Callable[[], None] | None = None,
        early: EarlyAnswers | None = None,
        watch: SessionWatch | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.stats = FetchStats()
        self.give_up = GiveUp(settings.give_up_after)
        #: Files whose last try failed on a busy or broken answer, asked again at the end.
        self.later = SecondChance(settings.second_chance)
        self.on_done = on_done
        self.on_failed = on_failed
        #: Told of every plane (or region) of a stack staged: the run's progress.
        self.on_staged = on_staged
        #: Answers the run already holds or has in flight, by request path (an ``--image``
        #: target's existence check, the head start): each is used once instead of a request.
        self.early = early if early is not None else EarlyAnswers()
        #: Told of every file and failure, for a run that sent credentials: it stops the run
        #: once refusals say its session ended or its credentials are refused (None: a run
        #: without any).
        self.watch = watch
        # (Imported here, not with this module: a fetcher is made once the first requests
        # are out, and a harvest's start-up waits for every module it imports.)
        from harvester.plate_filesets import PlateFilesets

        #: The ``paths`` answers of filesets the walk named, for their other images.
        self.filesets = FilesetAnswers()
        #: The images of a plate proven in the fileset one of them named (its answer then
        #: held in ``filesets`` for them): :mod:`harvester.plate_filesets`.
        self.plates = PlateFilesets(client)

    # ------------------------------------------------------------ decisions
    def pending(self, image_id: int) -> list[Artifact]:
        """Selected artifacts not yet done (no request, no stat: journal state only)."""
        done = self.store.state.done
        return [
            a
            for a in FETCH_ORDER
            if a in self.settings.artifacts and (a.value, image_id) not in done
        ]

    # ------------------------------------------------------------ work
    async def fetch_image(
        self,
        ref: ImageRef,
        journal: Callable[[Mapping[str, Any] | None], Awaitable[None]] | None = None,
        *,
        again: bool = False,
    ) -> int:
        """Fetch every pending artifact of one image (imgData first): see :meth:`_fetch_image`.

        ``again``: the image's second chance (:mod:`harvester.second_chance`): only its
        files kept aside after a transient failure are asked, and the image is not counted
        again (found, skipped). Then a plate's image lets go of what the fileset checks
        held for it, whether it asked its ``paths`` or not (:meth:`PlateFilesets.finished`)."""
        try:
            pending = await self._fetch_image(ref, journal, again)
            if not again:
                self.later.hold(ref)
            return pending
        finally:
            if type(ref.plate_id) is int:
                self.plates.finished(ref.plate_id, ref.image_id)

    async def _fetch_image(
        self,
        ref: ImageRef,
        journal: Callable[[Mapping[str, Any] | None], Awaitable[None]] | None = None,
        again: bool = False,
    ) -> int:
        """Fetch every pending artifact of one image (imgData first).

        Returns how many of its artifacts were pending (the others are skipped as done):
        the caller's progress counts this image's own skips from it, which ``stats.skipped``
        cannot say (other workers' images add to it while this one awaits).
        ``journal``: awaited once, after the imgData step and before any other artifact, with
        imgData's ``meta`` when this call asked for (or read) imgData, also from an answer
        with IDR's pixel-buffer Exception, which still has it; without imgData but with
        metadata, after the metadata step, with the name the JSON API image gives; else
        with None. The consumer
        journals an image given by id there, its context completed from ``meta``: once, not
        a bare record and then a completed one (the store's commit loops may write two
        records of one image in either order, and the later ``t`` wins).
        """
        todo = self.pending(ref.image_id)
        if again:  # (counted by its first fetch; a kind that failed for good is not asked)
            kept = self.later.kinds(ref.image_id)
            todo = [a for a in todo if a.value in kept]
        pending = len(todo)
        if not again:
            self.stats.images += 1
            self.stats.skipped += len(self.settings.artifacts) - pending
        if not todo:
            self.stats.images_untouched += 1
            if journal is not None:
                await journal(None)
            return 0
        if Artifact.IMGDATA.value in self.give_up.stopped:
            # Without imgData neither render nor stack can be built: skip them all.
            dependent = (Artifact.IMGDATA, Artifact.RENDER, Artifact.STACK)
            for artifact in todo:
                if artifact in dependent and not again:  # (again: asked once already)
                    kind = artifact.value
                    self.stats.not_requested[kind] = self.stats.not_requested.get(kind, 0) + 1
            todo = [a for a in todo if a not in dependent]
        imgdata: dict[str, Any] | None = None
        imgdata_error: FetchError | None = None
        meta: Any = None
        needs_imgdata = Artifact.IMGDATA in todo or any(
            a in todo and a.value not in self.give_up.stopped
            for a in (Artifact.RENDER, Artifact.STACK)
        )
        if needs_imgdata:
            if again and Artifact.IMGDATA in todo:
                self.later.asking(ref.image_id, Artifact.IMGDATA.value)
            try:
                imgdata = await self._imgdata(
                    ref.image_id, store=Artifact.IMGDATA in todo, stack=Artifact.STACK in todo
                )
            except FetchError as exc:
                imgdata_error = exc
                meta = exc.meta if isinstance(exc, UnrenderableError) else None
            else:
                meta = imgdata.get("meta")
        if journal is not None and not isinstance(meta, dict) and Artifact.METADATA in todo:
            # No imgData (not asked for, or given up on, as on IDR in 2026): the JSON API
            # image, asked next, names the image: journaled once that step has told it.
            deferred = journal
            journal = None
        else:
            deferred = None
        if journal is not None:
            await journal(meta if isinstance(meta, dict) else None)
        # The stack's TimeIncrement, once this image's metadata step has told it (KnownTime).
        known_time: KnownTime | None = None
        stack_pending = Artifact.STACK in todo and Artifact.STACK.value not in self.give_up.stopped
        for artifact in todo:
            if artifact is Artifact.IMGDATA:
                continue
            kind = artifact.value
            if kind in self.give_up.stopped:
                if not again:  # (again: asked once already, journaled with that failure)
                    self.stats.not_requested[kind] = self.stats.not_requested.get(kind, 0) + 1
                if artifact is Artifact.METADATA:
                    # The JSON API image fails for every image: the stack does not ask it.
                    known_time = KnownTime(None)
                continue
            if again:
                self.later.asking(ref.image_id, kind)
            try:
                request = id_only_request(ref.image_id, artifact, self.settings)
                if artifact is Artifact.METADATA and deferred is not None and request is not None:
                    named, deferred = deferred, None
                    if stack_pending:  # failed for good: the stack does not ask it again
                        known_time = KnownTime(None)
                    try:
                        fetched = await self._answer(*request)
                    except FetchError:
                        await named(None)
                        raise
                    await self._put(ref.image_id, artifact, fetched.body)
                    await named(_name_meta(fetched.json()))
                    if stack_pending:
                        known_time = KnownTime(_time_increment_of(fetched.json()))
                elif artifact is Artifact.METADATA and stack_pending and request is not None:
                    # The stack's request would be this one: it gets its number from here,
                    # and none at all if this failed for good (asked with retries already).
                    known_time = KnownTime(None)
                    known_time = await self._metadata(ref.image_id, *request)
                elif artifact is Artifact.PATHS and request is not None:
                    await self._paths(ref, *request)
                elif request is not None:
                    await self._simple(ref.image_id, artifact, *request)
                elif artifact is Artifact.RENDER:
                    if imgdata is None:
                        await self._needs_imgdata(ref.image_id, kind, imgdata_error)
                        continue
                    await self._render(ref.image_id, imgdata)
                elif artifact is Artifact.STACK:
                    if imgdata is None:
                        await self._needs_imgdata(ref.image_id, kind, imgdata_error)
                        continue
                    await self._stack(ref, imgdata, known_time)
                elif artifact is Artifact.ROIS:
                    await self._rois(ref.image_id)
            except FetchError as exc:
                await self._failed(
                    ref.image_id,
                    kind,
                    exc.url,
                    exc.status,
                    exc.reason,
                    transient=isinstance(exc, TransientError),
                )
        if deferred is not None:  # the metadata step was skipped (given up on meanwhile)
            await deferred(None)
        return pending

    async def _needs_imgdata(self, image_id: int, kind: str, error: FetchError | None) -> None:
        reason = f"needs imgData, which failed: {error.reason}" if error else "needs imgData"
        await self._failed(
            image_id,
            kind,
            error.url if error else "",
            error.status if error else None,
            reason,
            transient=isinstance(error, TransientError),  # imgData is asked again with it
        )

    async def stored_meta(self, image_id: int) -> Mapping[str, Any] | None:
        """imgData's ``meta`` from this image's stored imgData file, else the name its stored
        JSON API image (``metadata``) gives, in ``meta``'s shape (None: neither, or unreadable).

        For an image given by id whose files an earlier run stored before its context was
        journaled from them (an older harvester): no request, one small file read.
        """
        done = self.store.state.done
        record = done.get((Artifact.IMGDATA.value, image_id))
        name_only = record is None  # then the JSON API image names it, if stored
        if name_only:
            record = done.get((Artifact.METADATA.value, image_id))
        if record is None:
            return None
        try:
            path = anyio.Path(self.settings.out_dir / record["path"])
            stored = json.loads(await path.read_bytes())
        except (OSError, ValueError, KeyError):
            return None
        if name_only:
            return _name_meta(stored)
        meta = stored.get("meta") if isinstance(stored, dict) else None
        return meta if isinstance(meta, dict) else None

    async def _imgdata(self, image_id: int, *, store: bool, stack: bool) -> dict[str, Any]:
        """imgData as a dict: read from disk when stored (or, ``stack`` pending, kept by the
        image's unfinished stack), else fetched (stored if selected).

        Why only with ``stack``: only a stack's staging keeps it, and looking there cost
        every image of a run without stacks (renders) a failed open in a worker thread."""
        record = self.store.state.done.get((Artifact.IMGDATA.value, image_id))
        if not store:
            stored_path = record.get("path") if record is not None else None
            kept = [self.settings.out_dir / stored_path] if isinstance(stored_path, str) else []
            if stack:
                kept.append(layout.staged_imgdata_path(self.settings.out_dir, image_id))
            for kept_path in kept:
                try:
                    stored = json.loads(await anyio.Path(kept_path).read_bytes())
                except FileNotFoundError:
                    continue
                except (OSError, ValueError):
                    logger.debug("imgData in %s unreadable; fetching it again", kept_path)
                    continue
                if isinstance(stored, dict) and "size" in stored:
                    return stored
        path = urls.imgdata(image_id)
        try:
            fetched = await self._answer(path, Expect.JSON, check_imgdata)
        except FetchError as exc:
            if store:
                await self._failed(
                    image_id,
                    Artifact.IMGDATA.value,
                    exc.url,
                    exc.status,
                    exc.reason,
                    transient=isinstance(exc, TransientError),
                )
            raise
        if store:
            await self._put(image_id, Artifact.IMGDATA, fetched.body)
        parsed = fetched.json()
        if stack and not store and isinstance(parsed, dict) and "size" in parsed:
            # Kept at once, not when the stack's turn comes after the image's other
            # files: a task stopped in between asked it again (keep_imgdata).
            from harvester.stack import keep_imgdata  # (stack pending: imported for it anyway)

            staging = layout.staging_dir(self.settings.out_dir, image_id)
            await anyio.to_thread.run_sync(keep_imgdata, staging, fetched.body)
        return parsed if isinstance(parsed, dict) else {}

    async def _simple(
        self,
        image_id: int,
        artifact: Artifact,
        path: str,
        expect: Expect,
        check: Callable[[Fetched], None] | None,
    ) -> None:
        fetched = await self._answer(path, expect, check)
        # (the answer as check_paths parsed it: not parsed again for the record)
        extra = _paths_record(fetched.json()) if artifact is Artifact.PATHS else None
        await self._put(image_id, artifact, fetched.body, extra)

    async def _paths(
        self,
        ref: ImageRef,
        path: str,
        expect: Expect,
        check: Callable[[Fetched], None] | None,
    ) -> None:
        """The image's ``paths``: its fileset's answer this run already has, if the walk
        named its fileset (no request; see :mod:`harvester.fileset_answers`) or the server
        proved a plate's image in it (:mod:`harvester.plate_filesets`), else asked."""
        fileset = fileset_of(ref)
        if fileset is None and type(ref.plate_id) is int:
            await self._plate_paths(ref.plate_id, ref.image_id, path, expect, check)
            return
        if fileset is None:
            await self._simple(ref.image_id, Artifact.PATHS, path, expect, check)
            return
        await self._fileset_paths(ref.image_id, fileset, path, expect, check)

    async def _fileset_paths(
        self,
        image_id: int,
        fileset: int,
        path: str,
        expect: Expect,
        check: Callable[[Fetched], None] | None,
    ) -> None:
        """The ``paths`` of an image known to be in ``fileset``: the answer held for it,
        else asked, the fileset's other images waiting for that answer."""
        body = await self.filesets.known(fileset)
        if body is not None:
            await self._put(image_id, Artifact.PATHS, body, {"fileset_id": fileset})
            return
        with self.filesets.asking(fileset):
            fetched = await self._answer(path, expect, check)
            extra = _paths_record(fetched.json())
            await self._put(image_id, Artifact.PATHS, fetched.body, extra)
            if extra is not None and extra.get("fileset_id") == fileset:
                # (an answer naming another fileset than the listing: kept for no other image)
                self.filesets.keep(fileset, fetched.body)

    async def _plate_paths(
        self,
        plate_id: int,
        image_id: int,
        path: str,
        expect: Expect,
        check: Callable[[Fetched], None] | None,
    ) -> None:
        """A plate's image's ``paths``: the answer held for the fileset it is proven in
        (none held yet: the first of its images asks, the others wait for that answer, as a
        dataset's do), else asked (the fileset its answer names is then held, and the
        plate's other images checked)."""
        async with self.plates.membership(plate_id, image_id) as fileset:
            if fileset is not None:
                await self._fileset_paths(image_id, fileset, path, expect, check)
                return
            fetched = await self._answer(path, expect, check)
            extra = _paths_record(fetched.json())
            await self._put(image_id, Artifact.PATHS, fetched.body, extra)
            named = extra.get("fileset_id") if extra is not None else None
            if type(named) is int:
                self.filesets.keep(named, fetched.body)
                self.plates.named(plate_id, image_id, named)

    async def _metadata(
        self,
        image_id: int,
        path: str,
        expect: Expect,
        check: Callable[[Fetched], None] | None,
    ) -> KnownTime:
        """Store the metadata artifact and return the stack's TimeIncrement read from it.

        The body is stored verbatim as by :meth:`_simple` and dropped here: only the
        number leaves this method.
        """
        fetched = await self._answer(path, expect, check)
        await self._put(image_id, Artifact.METADATA, fetched.body)
        return KnownTime(_time_increment_of(fetched.json()))

    async def _stored_time(self, image_id: int, imgdata: Mapping[str, Any]) -> KnownTime | None:
        """The TimeIncrement from the stored metadata file (None: ask the server).

        Only for a time series (the stack asks for nothing else), and only when a run
        journaled the metadata artifact: its file is the answer the stack would get.
        """
        size = imgdata.get("size")
        try:
            size_t = int(size.get("t") or 1) if isinstance(size, Mapping) else 1
        except (TypeError, ValueError):
            return None
        record = self.store.state.done.get((Artifact.METADATA.value, image_id))
        if size_t <= 1 or record is None:
            return None
        try:
            data = await anyio.Path(self.settings.out_dir / record["path"]).read_bytes()
            return KnownTime(_time_increment_of(json.loads(data)))
        except (OSError, ValueError, KeyError, TypeError):
            logger.debug("stored metadata of %s unreadable; the stack asks the server", image_id)
            return None

    async def _answer(
        self, path: str, expect: Expect, check: Callable[[Fetched], None] | None
    ) -> Fetched:
        """The early answer for ``path`` if there is a good one, else the client's.

        An early request's final error is raised as the fetcher's own would be.
        """
        # Most requests of a run have no early answer: skip the await once none is left.
        fetched = await self.early.take(path) if self.early else None
        if fetched is not None and check is not None:
            try:
                check(fetched)
            except PermanentError:
                raise  # asking again gets the same answer (a pixel-buffer Exception)
            except FetchError:
                fetched = None  # not good enough to keep: asked for again, with retries
        if fetched is None:
            fetched = await self.client.get(path, expect, check)
        return fetched

    async def _render(self, image_id: int, imgdata: dict[str, Any]) -> None:
        """The default plane as one image; planes bigger than the server renders at
        once (IDR's microservice: 3192 px) are fetched as regions and stitched."""
        # Imported here, not at the top: only renders use the plane helpers
        # (regions, stitching), so other runs do not load them at start-up.
        from harvester.planes import (
            DEFAULT_MAX_PLANE,
            encode_rgb,
            region_grid,
            render_refusal,
            whole_plane_limit,
        )

        fmt = self.settings.render_format
        quality = self.settings.render_quality
        size = imgdata.get("size") if isinstance(imgdata.get("size"), dict) else {}
        assert isinstance(size, dict)
        width, height = int(size.get("width") or 0), int(size.get("height") or 0)
        regions: list[Region] | None = None
        # Refused before any request, however the plane would be asked: the end would be
        # the same. (Checked only for planes over max_plane, a max_plane of 70,000 asked a
        # whole slide in one request.)
        refusal = render_refusal(width, height, fmt)
        if refusal is not None:
            raise PermanentError(refusal)
        if max(width, height) > whole_plane_limit(self.settings.max_plane or DEFAULT_MAX_PLANE):
            limits = await self._render_limits(image_id)
            regions = region_grid(width, height, limits.max_plane, limits.max_tile)
        if regions is None:
            await self._simple(
                image_id,
                Artifact.RENDER,
                render_path_from_imgdata(image_id, imgdata, quality, fmt),
                Expect.IMAGE if fmt == "png" else Expect.JPEG,
                check_png if fmt == "png" else check_jpeg,
            )
            return
        model, z, t = render_plane_of(imgdata)
        channels = render_channels(imgdata)
        paths = [
            urls.render_plane_region(
                image_id, z, t, channels, model, (r.x, r.y, r.width, r.height), "png"
            )
            for r in regions
        ]
        canvas = await self._get_all(paths, regions, (width, height))
        try:
            body = await anyio.to_thread.run_sync(encode_rgb, canvas, fmt, quality)
        except OSError as exc:  # every region decoded: Pillow could not encode the canvas
            # (Not InvalidBodyError: no answer is at fault; the line names the image already.)
            raise PermanentError(f"the stitched render does not encode: {exc}") from exc
        await self._put(image_id, Artifact.RENDER, body)

    async def _render_limits(self, image_id: int) -> RenderLimits:
        """The configured ``max_plane``, else what the server advertises (stack.py's discovery)."""
        from harvester.planes import DEFAULT_MAX_TILE
        from harvester.stack import RenderLimits, discover_limits  # late: heavy module

        if self.settings.max_plane is not None:
            return RenderLimits(self.settings.max_plane, DEFAULT_MAX_TILE, "config")
        return await discover_limits(self.client, image_id)

    async def _get_all(
        self, paths: list[str], regions: list[Region], size: tuple[int, int]
    ) -> PILImage:
        """Fetch region images a few at a time into one canvas; the first failure is raised.

        A PNG region is checked by its CRCs as it comes: one damaged on the way (a proxy)
        is asked again at once, where it failed the whole render after the last region,
        or was pasted with wrong pixels when it still decoded. Each region is decoded
        into the canvas as it arrives (a JPEG has no CRC: decoding is its check), so
        one that does not decode is asked again alone instead of failing the render and
        every region with it. The decode is the client's ``verify``: a region costs at most
        1 + ``max_retries`` requests whatever fails (an answer cut short, one that does not
        decode), each retry after the run's backoff; asked again around the client's own
        retries, it cost up to (1 + ``max_retries``)² requests, the decode failures at once.
        """
        from PIL import Image

        from harvester.planes import (
            PNG_MAGIC,
            PlaneError,
            check_png_chunks,
            paste_region,
            probe_size,
        )

        errors: list[FetchError] = []
        todo = iter(range(len(paths)))
        canvas: PILImage | None = None

        def check_size(region: Region) -> Callable[[Fetched], None]:
            def check(fetched: Fetched) -> None:
                try:
                    got = probe_size(fetched.body)
                    if fetched.body.startswith(PNG_MAGIC):
                        check_png_chunks(fetched.body)
                    else:  # (a JPEG: some damaged ones decode, to wrong pixels)
                        check_jpeg(fetched)
                except PlaneError as exc:
                    # status: the server answered, wrongly (the line said "no answer").
                    raise InvalidBodyError(
                        str(exc), url=fetched.url, status=fetched.status
                    ) from exc
                if got != (region.width, region.height):
                    raise InvalidBodyError(
                        f"rendered region is {got[0]}x{got[1]}, "
                        f"expected {region.width}x{region.height}",
                        url=fetched.url,
                        status=fetched.status,
                    )

            return check

        async def fetch_into_canvas(i: int) -> None:
            async def paste(fetched: Fetched) -> None:
                nonlocal canvas
                if canvas is None:  # after the first region's answer: a refusal allocates none
                    canvas = await anyio.to_thread.run_sync(Image.new, "RGB", size)
                try:
                    await anyio.to_thread.run_sync(paste_region, canvas, regions[i], fetched.body)
                except PlaneError as exc:
                    # The server answered (its status: the failure line said "no answer:
                    # ..."), with a region that does not decode: retried by the client as
                    # any bad body, with its backoff and within its one retry budget.
                    raise InvalidBodyError(
                        str(exc), url=fetched.url, status=fetched.status
                    ) from exc

            await self.client.get(paths[i], Expect.IMAGE, check_size(regions[i]), verify=paste)

        async def worker(scope: anyio.CancelScope) -> None:
            for i in todo:
                try:
                    await fetch_into_canvas(i)
                except FetchError as exc:
                    errors.append(exc)
                    scope.cancel()
                    return

        # The first region alone: a server refusing this image's renders for good
        # (IDR's empty 403) costs one request, not one per worker in flight; it also
        # makes the canvas, which the workers then share.
        await fetch_into_canvas(next(todo))
        workers = min(RENDER_REGION_CONCURRENCY, len(paths) - 1)
        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(worker, tg.cancel_scope)
        if errors:
            raise errors[0]
        assert canvas is not None
        return canvas

    async def _stack(
        self, ref: ImageRef, imgdata: dict[str, Any], known_time: KnownTime | None = None
    ) -> None:
        from harvester.stack import harvest_stack  # imported late: optional heavy module

        if known_time is None:
            known_time = await self._stored_time(ref.image_id, imgdata)
        await harvest_stack(
            self.client,
            self.store,
            ref,
            imgdata,
            window=self.settings.window,
            out_dir=self.settings.out_dir,
            max_plane=self.settings.max_plane,
            time_increment=known_time.seconds if known_time is not None else None,
            ask_time_increment=known_time is None,
            on_staged=self.on_staged,
        )
        # harvest_stack has flushed: the journaled record knows the file's size.
        record: Mapping[str, Any] = (
            self.store.state.done.get((Artifact.STACK.value, ref.image_id)) or {}
        )
        size = record.get("size")
        if not isinstance(size, int):
            rel = artifact_path(ref.image_id, Artifact.STACK)
            try:
                size = (await anyio.Path(self.settings.out_dir / rel).stat()).st_size
            except OSError:
                size = 0
        self._count_done(Artifact.STACK.value, size)

    async def _rois(self, image_id: int) -> None:
        """Every page of the image's ROIs, stored as one file (see :mod:`harvester.rois`)."""
        from harvester.rois import fetch_rois, store_rois  # only runs that fetch ROIs

        got = await fetch_rois(self.client, image_id)
        await store_rois(self.store, image_id, artifact_path(image_id, Artifact.ROIS), got)
        self._count_done(Artifact.ROIS.value, len(got.body))

    async def _put(
        self, image_id: int, artifact: Artifact, body: bytes, extra: dict[str, Any] | None = None
    ) -> None:
        rel = artifact_path(image_id, artifact, self.settings.render_format)
        # The images of one fileset get the same paths answer: one file on disk for them all.
        shared = artifact is Artifact.PATHS
        await self.store.put_bytes(artifact.value, image_id, rel, body, extra=extra, shared=shared)
        self._count_done(artifact.value, len(body))

    def _count_done(self, kind: str, nbytes: int) -> None:
        self.give_up.success(kind)
        if self.later.started:  # (the second chance asks only files kept aside)
            self.later.ended(done=True)
        if self.watch is not None:
            self.watch.answered()
        self.stats.done += 1
        self.stats.bytes += nbytes
        self.stats.done_by_kind[kind] = self.stats.done_by_kind.get(kind, 0) + 1
        if self.on_done is not None:
            self.on_done(kind, nbytes)

    async def _failed(
        self,
        image_id: int,
        kind: str,
        url: str,
        status: int | None,
        reason: str,
        *,
        transient: bool = False,
    ) -> None:
        """A file failed through its retries: journaled failed, or, ``transient`` (a busy or
        broken answer) before the second chance, kept aside for it (pending meanwhile). The
        give-up rule counts it either way: a server that answers every render 503 is given
        up on after so many images in a row, not asked twice for each."""
        failure = Failure(kind, image_id, url, status, reason)
        if transient and self.later.defers():
            self.later.keep(failure)
        else:
            await self._journal_failure(failure)
            if self.later.started:  # (a file asked again: journal_left's were not)
                self.later.ended(done=False)
        self.give_up.failure(kind, status, reason)
        self.stats.given_up = dict(self.give_up.stopped)
        if self.watch is not None:
            await self.watch.failed(status, urls.image_metadata(image_id))

    async def _journal_failure(self, failure: Failure) -> None:
        """Journal ``failure`` and count it (once a run: never for a file kept aside too)."""
        f = failure
        await self.store.record_failure(f.kind, f.image_id, f.url, f.status, f.reason)
        self.stats.failed += 1
        if len(self.stats.failures) < self.stats.max_failures_kept:
            self.stats.failures.append(failure)
        if self.on_failed is not None:
            self.on_failed(f.kind)

    def kept_to_ask(self) -> int:
        """The files kept aside that the second chance will ask: not those of a kind given up
        on, nor a render or stack once imgData is (neither is built without it)."""
        stopped = set(self.give_up.stopped)
        if Artifact.IMGDATA.value in stopped:
            stopped |= {Artifact.RENDER.value, Artifact.STACK.value}
        return self.later.files(stopped)

    async def journal_left(self) -> None:
        """Once the second chance is over (the run not stopped): journal the files kept
        aside that it did not ask again (their kind given up on), with their first failure.
        A run stopped before leaves them pending, for the next run to fetch."""
        for failure in self.later.left():
            await self._journal_failure(failure)


def _paths_record(answer: Any) -> dict[str, Any] | None:
    """The fileset id for a ``paths`` done record (None: no fileset), so that the index and
    the list of originals know it without reading the file (:mod:`harvester.originals`)."""
    from harvester.originals import parse_paths

    fileset = parse_paths(answer).fileset_id  # (checked by check_paths already)
    return None if fileset is None else {"fileset_id": fileset}


# --------------------------------------------------------------------------- advice
#: The hint for failures of images the server does not render (pixel-buffer Exceptions,
#: renders refused with an empty 403 by IDR's proxy).
HINT_NOT_RENDERED = (
    "this server does not render these images (IDR since its move to OME-Zarr): "
    "--artifacts thumbnail,metadata,rois still work; pixels: IDR's OME-Zarr or the original files"
)
#: (Said only where no thumbnail of the size asked came, so the folder holds none of it,
#: and the same --out takes 96 px: it said "in another --out", a folder made for nothing.)
HINT_THUMBNAIL_96 = (
    "this server serves 96 px thumbnails only: use --thumbnail-size 96 "
    "(the same --out takes it while it holds no thumbnail of another size)"
)
HINT_PNG_IGNORED = (
    f'{PNG_IGNORED} (classic OMERO.web): set render_format = "jpeg" in the config, '
    "or use the stack artifact"
)
#: Said of failures answered 401 during the run (the server check passed): the server, or a
#: proxy in front of it, wants HTTP auth for some paths (``/webgateway/`` only, say), or
#: stopped taking the credentials given. Resending without credentials gets 401 again.
HINT_CREDENTIALS = (
    "the server asked for credentials (HTTP 401): give its user and password in --base-url "
    "as https://USER:PASSWORD@HOST/ (sent as HTTP Basic auth), or check the ones given"
)
#: Said of renders and stack planes answered 400: the harvester sized those requests (whole
#: planes up to ``max_plane``, regions beyond), so a 400 is the server refusing that size
#: (IDR's "Requested shape [...] > max plane size 3192 * 3192"), not an id at fault.
HINT_PLANE_TOO_LARGE = (
    "the server refused the plane size asked (HTTP 400: larger than it renders at once): "
    "set max_plane in the config file to the server's limit or below (without it, planes "
    "are asked up to the server's advertised limit, else 3192 px), then resume"
)
#: How IDR's image-region microservice begins its 400 for a render with more active channels
#: than its ``max-active-channels`` (10): ImageRegionCtx's "Too many active channels. Cannot
#: process more than 10 per request".
TOO_MANY_CHANNELS = "Too many active channels"
#: Said of renders answered that 400: the image's saved settings have more active channels
#: than the server renders at once, so no plane size (nor a rerun) gets past it; the stack,
#: which asks one channel at a time, does.
HINT_TOO_MANY_CHANNELS = (
    "the server renders only so many active channels at once (IDR's image-region service: "
    "10) and these images' saved settings have more: --artifacts stack has every channel "
    "(asked one at a time)"
)
#: Said of renders answered 400 whose URL was over gunicorn's request line (4094 bytes):
#: an image of so many active channels that even they alone do not fit in ``c=``.
HINT_REQUEST_LINE = (
    "the server refused the request as too long (over gunicorn's 4094-byte request line: "
    "every active channel is listed in it): --artifacts stack has every channel (asked one "
    "at a time)"
)
#: Said of renders and stacks refused before any request for a plane too big to put
#: together in memory (a whole slide): no setting makes it fit, the thumbnail shows it.
HINT_PLANE_TOO_BIG = (
    f"these planes are {TOO_BIG_TO_ASSEMBLE} (whole slides): the thumbnail shows each "
    "whole, small; full resolution: IDR's OME-Zarr or the original files (--artifacts "
    "paths lists them)"
)
#: How both hints for JPEG renders too wide begin (:data:`HINT_TOO_WIDE_FOR_JPEG`,
#: :func:`too_wide_hint`).
_TOO_WIDE_SET_PNG = (
    f"these renders are {TOO_WIDE_FOR_JPEG} ({JPEG_MAX_SIDE:,} px a side): set "
    'render_format = "png" in the config file'
)
#: Said of JPEG renders refused before any request for a side over 65,500 px (the key of
#: their cause: :func:`failure_advice` says it with their memory, :func:`too_wide_hint`).
HINT_TOO_WIDE_FOR_JPEG = f"{_TOO_WIDE_SET_PNG}, or take the thumbnail"


def too_wide_hint(width: int, height: int) -> str:
    """:data:`HINT_TOO_WIDE_FOR_JPEG` with the memory a PNG render of the largest refused
    plane (``width`` x ``height``) needs: its whole RGB canvas (:func:`canvas_gib`, the
    figure of the refusal of a plane too big to stitch), held while the regions are pasted
    and the PNG encoded. A 66000 x 16000 slide needs 3.9 GiB: told "set render_format"
    alone, a user on a small node found out by being killed for memory."""
    return (
        f"{_TOO_WIDE_SET_PNG} where memory allows (a PNG render holds its whole RGB "
        f"canvas in memory, {canvas_gib(width, height):.1f} GiB for the largest of these, "
        f"{width}x{height} px, beside the PNG it encodes), or take the thumbnail"
    )


_SIZED_THUMBNAIL = r"/render_thumbnail/[0-9]+/([0-9]+)/"


@dataclass(frozen=True, slots=True)
class FailureAdvice:
    """What a report says about failures beyond listing them.

    ``hints``: one line per kind of cause a rerun cannot fix, each saying what to do
    instead. ``rerun_helps``: False when every failure is of such a cause, so the report
    must not end with "rerun to retry the failures" (the rerun would ask again, politely
    but uselessly, and get the same answers).
    """

    hints: tuple[str, ...] = ()
    rerun_helps: bool = True

    def closing(
        self, resume: str, array: str | None = None, plan: tuple[str, int] | None = None
    ) -> str:
        """The report's last line: the rerun command, or why a plain rerun is no use
        (``array``: the folder of the job array the run is a task of; ``plan``: the plan
        its tasks harvest and their count; see :func:`no_rerun_line`)."""
        if self.rerun_helps:
            return f"rerun to retry the failures: {resume}"
        return no_rerun_line(len(self.hints), resume, array, plan)


def no_rerun_line(
    hints: int,
    resume: str,
    array: str | None = None,
    plan: tuple[str, int] | None = None,
    *,
    until: str | None = None,
) -> str:
    """The closing line when no rerun can fix the failures: it points at every hint printed
    above it ("the hint above" under two hints reads as the last one only). ``array``: the
    folder (DIR) of a ``harvester slurm`` job array whose resubmission ``resume`` is: a
    hint's flags (``--artifacts ...``) go to ``harvester slurm --out DIR``, which writes the
    script anew; the script resubmitted as it is asks the same again. ``plan``: the plan
    folder the array's tasks harvest (``--from-plan``) and their count, named in that
    command (``--from-plan PLAN --tasks N``): ``...`` alone left the user to find that the
    script is written from the plan, and with how many tasks. ``until``: the end of what holds
    the folder now (``harvester status`` while a harvest holds its run lock), which ``resume``
    waits for: offered bare, it read as a go that the lock refused (exit 75). Said before the
    command, which stays last on the line, to paste."""
    above = "the hint above" if hints <= 1 else "the hints above"
    where = ""
    if array is not None:
        words = f" --from-plan {shell_quote(plan[0])} --tasks {plan[1]}" if plan else ""
        where = (
            f" (for the job array: a flag it names goes to harvester slurm --out "
            f"{shell_quote(array)}{words} ..., which writes the script anew; resubmitted as "
            "it is, the script asks the same)"
        )
    when = f", once {until}," if until is not None else ""
    return (
        f"a rerun would get the same answers for these failures: follow {above}{where}; "
        f"this folder resumes{when} with: {resume}"
    )


#: Said after failures that are all refusals (:func:`all_refused`), by the harvest's summary
#: and by ``status`` alike: "rerun to retry" reads as a promise a 404 never keeps.
REFUSED_NOTE = (
    "the server refused every one of these (HTTP 4xx): an id that does not exist or is not "
    "public gets the same answer again"
)
#: Said instead of :data:`REFUSED_NOTE` when the run sent a session of its own (a
#: ``sessionid`` cookie, ``?bsession=KEY``) and some refusals are 403s: OMERO.web answers
#: every request of an expired session so, which no id is at fault for.
SESSION_ENDED_NOTE = (
    "the server refused every one of these (HTTP 4xx); an HTTP 403 is also OMERO.web's "
    f"answer once the session this run sent has ended: {SESSION_AGAIN}, then resume"
)
#: The harvest's closing line after :data:`REFUSED_NOTE`, before its resume command: the
#: command is what asks again, for a server where an id became public since.
REFUSED_CLOSING = "to ask for them again anyway (an id made public since)"


def all_refused(failures: Iterable[Failure | Mapping[str, Any]]) -> bool:
    """Whether there are failures and every one got an answer a rerun gets again: a 4xx
    other than 408 (the server timed out) and 429 (too many requests), which a later try
    may pass."""
    statuses = [_field(f, "status") for f in failures]
    return bool(statuses) and all(
        isinstance(s, int) and 400 <= s < 500 and s not in (408, 429) for s in statuses
    )


def _field(failure: Failure | Mapping[str, Any], name: str) -> Any:
    if isinstance(failure, Mapping):
        return failure.get(name)
    return getattr(failure, name, None)


def _cause(failure: Failure | Mapping[str, Any]) -> str | None:
    """Which hint a failure needs: ``HINT_*``, or None (a rerun may fix it)."""
    kind = str(_field(failure, "kind") or "")
    status = _field(failure, "status")
    reason = str(_field(failure, "reason") or "")
    if status == 401:
        return HINT_CREDENTIALS
    if kind in ("imgdata", "render", "stack") and "pixel" in reason.lower():
        message = reason.partition("imgData Exception:")[2]
        if message and pixels_unreadable(message):
            return HINT_NOT_RENDERED
    if kind in ("render", "stack") and status == 400:
        if TOO_MANY_CHANNELS in reason:  # not a size: max_plane would not help
            return HINT_TOO_MANY_CHANNELS
        if urls.request_line_over(str(_field(failure, "url") or "")):
            return HINT_REQUEST_LINE  # (nor here: no plane size shortens the URL)
        return HINT_PLANE_TOO_LARGE
    if kind in ("render", "stack") and status == 403 and ":" not in reason:
        # IDR's proxy blocks server-side renders with an empty 403 (no server message).
        # Renders and stacks are asked only once the image's imgData came (this run or an
        # earlier one), so the account sees the image: the refusal is the server's rule, not
        # a private image (which answers imgData with 403 first).
        return HINT_NOT_RENDERED
    if kind in ("render", "stack") and status is None and TOO_BIG_TO_ASSEMBLE in reason:
        return HINT_PLANE_TOO_BIG
    if kind == "render" and status is None and TOO_WIDE_FOR_JPEG in reason:
        return HINT_TOO_WIDE_FOR_JPEG
    if kind == "render" and reason.startswith(PNG_IGNORED):
        return HINT_PNG_IGNORED
    if kind == "thumbnail" and status == 404:
        sized = re.search(_SIZED_THUMBNAIL, str(_field(failure, "url") or ""))
        if sized is not None and int(sized.group(1)) != 96:
            return HINT_THUMBNAIL_96
    return None


def known_cause(
    failure: Failure | Mapping[str, Any], done_by_kind: Mapping[str, int] | None = None
) -> str | None:
    """The hint for a failure whose cause is known (a rerun cannot fix it: a sized
    thumbnail this server does not serve, an image not rendered, ...), as
    :func:`failure_advice` reads it; None for none. ``done_by_kind``: as there. Why
    public: a 404 so explained is no image gone from the server, which the hint naming
    ``forget --gone-ids-from`` must not say of it."""
    cause = _cause(failure)
    if cause == HINT_THUMBNAIL_96 and done_by_kind and done_by_kind.get("thumbnail"):
        return None  # other thumbnails of this size came: these images lack one
    return cause


def failure_advice(
    failures: Iterable[Failure | Mapping[str, Any]],
    *,
    complete: bool = True,
    done_by_kind: Mapping[str, int] | None = None,
) -> FailureAdvice:
    """Hints for failures a rerun cannot fix, and whether a rerun can help at all.

    ``failures``: :class:`Failure` records (a run's summary) or the mappings of
    ``harvester status`` (``kind``, ``status``, ``reason``, ``url``). ``complete``: they
    are all of them (a summary keeps the first 1,000; walk failures are retried): when
    False, a rerun is never said useless. ``done_by_kind``: artifacts done per kind; a
    sized-thumbnail 404 is this server's rule only if no thumbnail of that size came.
    """
    causes: list[str] = []
    unknown = False
    too_wide: list[tuple[int, int]] = []  # the planes refused as too wide for JPEG
    for failure in failures:
        cause = known_cause(failure, done_by_kind)
        if cause is None:
            unknown = True
            continue
        if cause not in causes:
            causes.append(cause)
        reason = str(_field(failure, "reason") or "")
        if cause == HINT_TOO_WIDE_FOR_JPEG and (size := refused_size(reason)) is not None:
            too_wide.append(size)
    if too_wide:  # said with the memory of the largest
        hint = too_wide_hint(*max(too_wide, key=lambda wh: wh[0] * wh[1]))
        causes = [hint if c == HINT_TOO_WIDE_FOR_JPEG else c for c in causes]
    return FailureAdvice(tuple(causes), rerun_helps=unknown or not complete or not causes)


def _name_meta(image: Any) -> dict[str, Any] | None:
    """The image's name from its JSON API object (``{"data": {"Name": ...}}``), as a
    ``meta`` of imgData's shape (``imageName``): all an image given by id gets where no
    imgData is asked (``--artifacts thumbnail,metadata``, what IDR in 2026 serves)."""
    data = image.get("data") if isinstance(image, dict) else None
    name = data.get("Name") if isinstance(data, dict) else None
    return {"imageName": name} if isinstance(name, str) and name else None


def _time_increment_of(body: Any) -> float | None:
    """``Pixels.TimeIncrement`` of a JSON API image body, as the stack reads it."""
    from harvester.stack import parse_time_increment  # a stack is pending: loaded anyway

    return parse_time_increment(body) if isinstance(body, Mapping) else None


__all__ = [
    "FETCH_ORDER",
    "FailureAdvice",
    "FetchSettings",
    "Fetcher",
    "Failure",
    "PermanentError",
    "artifact_path",
    "check_imgdata",
    "check_jpeg",
    "check_png",
    "failure_advice",
    "known_cause",
    "pixels_unreadable",
    "render_path_from_imgdata",
]
