"""Producers: expand screens, projects, plates, datasets and ids into ImageRefs.

Each target is expanded page by page and every image found is sent into a
bounded anyio memory object stream; when the stream is full the walker waits,
so memory stays flat however large the study is (only one page of wells or
images is held per running walker). Several plates or datasets are walked at
once (``walk_concurrency``).

Sources used (cheapest complete ones):

* screen -> plates: ``webclient/api/plates/?id=`` (paged by 500; ``childCount``
  is the number of runs);
* plate -> images: the JSON API wells ``api/v0/m/plates/{id}/wells/`` (1000 wells
  a request, column-major). Their WellSamples give every field and run of every
  well with the image id and name in one request, where the plate grids
  (``webgateway/plate/{id}/{field}/``) would need one request per field; the
  grids are still saved as study metadata;
* project -> datasets -> images: ``webclient/api/datasets/?id=`` and
  ``webclient/api/images/?id=`` (paged by 500);
* labels: ``webclient/api/annotations/?type=map&well=..`` (or ``image=``) in
  batches of at most 200 ids; pairs are kept in server order, duplicates too.
  An image whose labels this walk asked for is sent as an :class:`AskedRef`
  (also without labels wanted, where the study files needed the annotations); one
  given by id whose annotation request failed, as an :class:`UnaskedRef`.

Study metadata (screen/project JSON with annotations, plate JSON with runs,
grids, wells and well annotations, dataset JSON with images and image
annotations) goes to a :class:`StudySink` when one is given (not in dry runs,
and only by shard 0 of a sharded run): once, and again where a rerun's complete
listing of a saved dataset, project or screen holds other children than its saved
listing (:meth:`Walker._outdated`: an image moved to another dataset).

A step that fails through its retries on a busy or broken answer (a plate, a dataset, a
screen's or project's listing, a batch of ids) is kept aside and walked once more at the
end of the walk, with a fresh retry budget (:class:`WalkAgain`); only a failure then is a
:class:`WalkFailure`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import weakref
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from anyio.abc import ObjectSendStream
from anyio.streams.memory import MemoryObjectSendStream

from harvester import urls
from harvester.client import Client, Expect, Fetched
from harvester.early import EarlyAnswers
from harvester.errors import (
    PROBLEMS_LOGGER,
    FetchError,
    InvalidBodyError,
    PermanentError,
    TargetNotFoundError,
    TransientError,
    UsageError,
    redact_base_url,
    redact_url,
    server_is_there,
    unavailable,
    url_holds_secret,
)
from harvester.models import FIELD_VALUES, FilesetRef, ImageRef, has_context
from harvester.placing import Listed
from harvester.processes import HOST, host_may_be_shared, process_alive, process_start
from harvester.target_text import (
    KINDS,
    MAX_ID,
    MAX_ID_DIGITS,
    OVER_MAX_ID,
    TargetTextError,
    a_kind,
    ask_hint,
    comma_ids,
    comma_item_refusal,
    id_range,
    is_link,
    marked_range_refusal,
    not_an_id,
    parse_link,
    positive_id,
    range_respelt,
    several_ids,
    typed_id,
    typed_well,
    well_refusal,
    with_login,
)
from harvester.text import and_list, plural

if TYPE_CHECKING:
    from harvester.session import SessionWatch

logger = logging.getLogger(__name__)

Labels = tuple[tuple[str, str], ...]


class _LabelsFactRef(ImageRef):
    """An :class:`ImageRef` carrying a fact about its labels on the queued item, not in a
    field: it compares and hashes equal to the plain ref with the same values (the
    journal's, a plan's), being the same image in the same context."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ImageRef):
            return bool(FIELD_VALUES(self) == FIELD_VALUES(other))
        return NotImplemented

    __hash__ = ImageRef.__hash__


class AskedRef(_LabelsFactRef):
    """An :class:`ImageRef` whose labels this walk asked the server for.

    A ``--no-labels`` walk still fetches the map annotations of the plates and datasets
    whose study files it saves (a first run into a new folder): the images found there
    carry the labels the server gave, "none" included. The pipeline journals such a ref
    as asked (``isinstance(ref, AskedRef)``), so that a later run with labels does not ask
    for them again. The fact rides on the queued item: no per-image set is kept, however
    large the study. It is the same image in the same context, so it compares and hashes
    equal to the plain ref with the same values (the journal's, a plan's).
    """

    __slots__ = ()


class AskedFilesetRef(FilesetRef, AskedRef):
    """An :class:`AskedRef` whose fileset the listing named (:class:`FilesetRef`)."""

    __slots__ = ()


class UnaskedRef(_LabelsFactRef):
    """An :class:`ImageRef` whose labels this walk could not ask: the annotation request
    failed through its retries (an image given by id, ``--image`` or ``--ids-from``, is
    sent all the same: its files do not need its labels).

    The pipeline journals it as not asked (``"labels_asked": false``, as a ``--no-labels``
    run's image), so the next run asks again. Why: journaled as a run with labels journals
    its images, its empty labels read as "asked, none", and no later run asked them: the
    image kept an empty label in index.csv for good. Where the journal holds its labels
    already, the ref carries those (:meth:`Walker._labels_kept`) and nothing changes.
    """

    __slots__ = ()


def labels_were_asked(ref: ImageRef, wanted: bool) -> bool:
    """Did the run that sent ``ref`` ask for its labels? ``wanted``: the run asks labels
    (labels on, or a plan's, asked when it was made). An :class:`AskedRef` was asked
    anyway (study files), an :class:`UnaskedRef` was not (its request failed)."""
    if isinstance(ref, UnaskedRef):
        return False
    return wanted or isinstance(ref, AskedRef)


def _with_fileset(ref: ImageRef, fileset: object) -> ImageRef:
    """``ref`` keeping the fileset its listing named (``filesetId``, omitted when null), of
    the :class:`FilesetRef` class matching its own; ``ref`` itself where none was named.

    Why made from the ref rather than in its place: the listing's loop makes the plain ref
    as it always did (a dict of its fields and a ``**`` call cost ~0.7 us more an image, in
    every walk of a dataset); only a run that fetches ``paths`` pays for a second one."""
    if type(fileset) is not int:
        return ref
    keeping = AskedFilesetRef if isinstance(ref, AskedRef) else FilesetRef
    return keeping(*FIELD_VALUES(ref), fileset_id=fileset)  # (positional: in field order)


#: Targets checked at once by :func:`preflight` (the client's caps apply too).
PREFLIGHT_CONCURRENCY = 8


class StudySink(Protocol):
    """Where study-level metadata goes (the pipeline adapts the store to this)."""

    def wants(self, kind: str, object_id: int) -> bool:
        """False when this study object's files are already saved (skip the requests)."""

    async def save(self, kind: str, object_id: int, files: dict[str, bytes]) -> None:
        """Save the files (name -> bytes) describing one study object."""

    async def saved_listing(
        self, kind: str, object_id: int, name: str, sha256: str
    ) -> bytes | None:
        """The bytes of file ``name`` of a saved study object, where the digest recorded
        for it is not ``sha256`` (a walk's fresh answer); None where it is, or where no
        such file is recorded (nothing to compare). A file gone or unreadable: ``b""``."""


@dataclass
class WalkFailure:
    """A walk request that failed for good: the images under it are missing."""

    what: str
    url: str
    status: int | None
    reason: str
    #: The server was busy or broke off its answers (:func:`~harvester.errors.unavailable`).
    busy: bool = False
    #: Every image under it was listed already: only its study files (a plate's runs and
    #: grids) are missing, which a rerun's walk fetches. ``status`` said "the images under
    #: them are not counted" of such a failure too, while all of them were.
    study_only: bool = False

    @property
    def labels_only(self) -> bool:
        """The request that failed asked images' labels (:data:`LABELS_OF`), not a listing:
        the images were sent without them. Why: a plan refused for it said it would miss
        "their images", of images it held."""
        return self.what.startswith(LABELS_OF)


#: How a failed annotation request of images names what failed (``labels of 2 images``).
LABELS_OF = "labels of "


#: The kind of the children a screen's and a project's walk lists.
_CHILD_KIND = {"screen": "plate", "project": "dataset"}


@dataclass
class WalkStats:
    """What the walk found; read by the pipeline for progress and the summary."""

    images: int = 0
    #: Of ``images``, those taken from an ids file alone: the walk asked the server nothing
    #: of them (``--image`` ids are checked first; a dry run's note counts these).
    unchecked: int = 0
    duplicates: int = 0
    out_of_shard: int = 0
    plates: int = 0
    datasets: int = 0
    failures: list[WalkFailure] = field(default_factory=list)
    #: Plates (datasets) the walk knows it has to list: those of the screens (projects)
    #: listed so far, and those given as targets; and of them, those whose walk is over
    #: (listed, or failed): how far a long walk is, for the progress (:meth:`listed_text`).
    plates_known: int = 0
    plates_listed: int = 0
    datasets_known: int = 0
    datasets_listed: int = 0
    #: The images each plate (dataset) listed whole holds on the server, before any shard
    #: or selection, and the children each screen (project) listed: what tells a target
    #: that holds no image (:meth:`empty_targets`). One entry a plate or dataset.
    images_listed: dict[tuple[str, int], int] = field(default_factory=dict)
    children_listed: dict[tuple[str, int], tuple[int, ...]] = field(default_factory=dict)
    #: Walk steps walked again at the end after failing on busy or broken answers
    #: (:class:`WalkAgain`), that walk ended (not cut short by a stop), and of them, those
    #: that did not fail then (the summary's line).
    walked_again: int = 0
    walked_again_done: int = 0

    def empty_targets(self, targets: Mapping[str, Iterable[int]]) -> list[tuple[str, int]]:
        """The (kind, id) of each of ``targets`` (kind -> the ids given) that the walk
        listed whole and found no image in: a plate or dataset whose listing is empty, a
        screen or project whose every plate or dataset is (or that has none). A target
        whose listing failed is none of them: its images are unknown, not none."""
        child_kind = _CHILD_KIND
        empty: list[tuple[str, int]] = []
        for kind, ids in targets.items():
            for object_id in ids:
                if kind in child_kind:
                    children = self.children_listed.get((kind, object_id))
                    if children is not None and all(
                        self.images_listed.get((child_kind[kind], c)) == 0 for c in children
                    ):
                        empty.append((kind, object_id))
                elif self.images_listed.get((kind, object_id)) == 0:
                    empty.append((kind, object_id))
        return empty

    def listed_every_image(self) -> bool:
        """No failure lost an image (none, or only ``study_only`` ones): the images found
        are all there are, so a ``--sample`` of them is the sample, and the total is known."""
        return all(f.study_only for f in self.failures)

    def listed_text(self) -> str:
        """``188 of 1,200 plates listed, 225,600 images found``: how far the walk is.

        Why: a sampled harvest lists a whole screen before it fetches an image, which on a
        busy server takes many minutes; its progress said "0 images found" all along.
        """
        parts = [
            f"{listed:,} of {plural(known, kind, spec=',')} listed"
            for listed, known, kind in (
                (self.plates_listed, self.plates_known, "plate"),
                (self.datasets_listed, self.datasets_known, "dataset"),
            )
            if known
        ]
        parts.append(f"{plural(self.images, 'image', spec=',')} found")
        if self.failures:
            parts.append(f"{plural(len(self.failures), 'listing', spec=',')} failed")
        return ", ".join(parts)


class QueueRoom:
    """Wakes a walk that waits on the workers' full queue once they have taken half of it,
    rather than at every image they take.

    Why: a walk that lists faster than the workers fetch (an ids file, a listing of cached
    pages) waits on the full queue for the rest of the run, and the queue woke it for each
    image a worker took, to send one more: two turns of its task (and of the coroutines
    it runs in) for every image. Woken at half, it sends half a queue at once. Measured
    (10,000 thumbnails, c=32): an eighth of the harvester's CPU time went on that.

    The walk counts what it sends (:meth:`sent`), the workers what they take
    (:meth:`took`); a worker that ends says so (:meth:`closed`): the walk then waits on the
    queue alone, as it did, which tells it when the workers are gone. Only for a walk that
    sends to the workers' queue itself, every image it sends one they take: a walk into a
    selection's queue, which leaves images out, would wait for takes that never come.
    """

    def __init__(self, size: int) -> None:
        #: Woken at this many images queued or fewer.
        self.low = size // 2
        self._queued = 0
        self._open = True
        self._event: anyio.Event | None = None

    def sent(self) -> None:
        """The walk queued an image."""
        self._queued += 1

    def took(self) -> None:
        """A worker took an image off the queue."""
        self._queued -= 1
        event = self._event
        if event is not None and self._queued <= self.low:
            self._event = None
            event.set()

    def closed(self) -> None:
        """A worker ended: the walk waits on the queue alone from now on."""
        self._open = False
        event, self._event = self._event, None
        if event is not None:
            event.set()

    async def __aenter__(self) -> QueueRoom:
        """A worker's: it ends (:meth:`closed`) when the block does, however it does."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.closed()

    async def wait(self) -> None:
        """Until the workers have taken the queue down to :attr:`low` (at once when they
        have, or when one of them ended)."""
        if not self._open or self._queued <= self.low:
            return
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()


class SeenIds:
    """Image ids already sent, as a growable bitmap (15 M ids = 2 MB).

    A Python set of a million ints costs ~60 MB; ids on IDR are dense and
    below ~2**24, so a bitmap is both smaller and faster. Ids beyond
    ``_BITMAP_LIMIT`` fall back to a set.
    """

    _BITMAP_LIMIT = 1 << 31

    def __init__(self) -> None:
        self._bits = bytearray()
        self._big: set[int] = set()

    def add(self, image_id: int) -> bool:
        """Record ``image_id``; True when it was new."""
        if image_id >= self._BITMAP_LIMIT or image_id < 0:
            if image_id in self._big:
                return False
            self._big.add(image_id)
            return True
        byte, bit = divmod(image_id, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(max(byte + 1 - len(self._bits), len(self._bits) // 2)))
        mask = 1 << bit
        if self._bits[byte] & mask:
            return False
        self._bits[byte] |= mask
        return True

    def __contains__(self, image_id: int) -> bool:
        """Was ``image_id`` recorded?"""
        if image_id >= self._BITMAP_LIMIT or image_id < 0:
            return image_id in self._big
        byte, bit = divmod(image_id, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))

    def __iter__(self) -> Iterator[int]:
        """The ids recorded (bitmap ones ascending, then the others): for a check once a
        walk has ended (``pipeline.Harvest``), not a hot path."""
        for byte, value in enumerate(self._bits):
            if value:
                base = byte * 8
                yield from (base + bit for bit in range(8) if value >> bit & 1)
        yield from self._big


def json_bytes(obj: Any) -> bytes:
    """Serialise merged metadata the way OMERO.web does (default separators)."""
    return json.dumps(obj).encode("utf-8")


#: The listings whose items' ``childCount`` is compared with the saved one's as well as
#: their ids: a project's datasets (their images) and a screen's plates (their runs).
COUNTED_LISTINGS = frozenset({"datasets", "plates"})

#: The most bytes of listing pages a rerun's walk of one dataset keeps for a re-save
#: (:attr:`ListingDigest.pages`): about 21,000 images at the ~100 bytes an item takes.
HELD_LISTING_BYTES = 2 << 20


class ListingDigest:
    """What a rerun's walk keeps of a listing it does not save: the SHA-256 of the file
    ``json_bytes({key: items})`` would be, fed a page at a time, and the items' ids.

    Why: a saved dataset's ``images.json`` was never written again, so an image that moved
    to another dataset stayed listed in the old one's. Comparing the digest with the one
    journaled for the saved file tells an unchanged listing without reading the file or
    holding the items (a page at a time, as the walk of a saved dataset did; their ids
    only are kept, for a listing whose digest differs).

    ``hold``: keep the pages' bytes too while they total at most that many bytes, so that
    a listing found outdated is saved again from the pages the walk listed, not asked
    again page by page (:attr:`pages`).
    """

    def __init__(self, key: str, *, hold: int = 0) -> None:
        self._head = f"{{{json.dumps(key)}: [".encode()
        self._sha = hashlib.sha256(self._head)
        self._separator = b""
        self._counted = key in COUNTED_LISTINGS
        #: The ids of the items listed, in the server's order (in a listing of
        #: ``COUNTED_LISTINGS``, each with its ``childCount``: ``(id, childCount)``).
        self.ids: list[Any] = []
        #: Each page's items as the file holds them (brackets cut off), while they total
        #: at most ``hold`` bytes; None past that (dropped: a dataset of a million images
        #: would hold about 100 MB) or when none are kept.
        self.pages: list[bytes] | None = [] if hold > 0 else None
        self._room = hold

    def add(self, items: list[dict[str, Any]]) -> None:
        """One page of items (as json_bytes joins a list: ``", "`` between items).

        The page is encoded in one call, its brackets cut off: one ``json.dumps`` per
        item cost a rerun's walk about 40% more (0.39 against 0.23 s per 100,000 images)."""
        if not items:
            return
        page = json_bytes(items)[1:-1]
        self._sha.update(self._separator + page)
        self._separator = b", "
        if self._counted:
            self.ids.extend((item.get("id"), item.get("childCount")) for item in items)
        else:
            self.ids.extend(item.get("id") for item in items)
        self._keep(page)

    def _keep(self, page: bytes) -> None:
        """Hold ``page`` while the pages fit in the room left; past it, drop them all."""
        if self.pages is None:
            return
        self._room -= len(page)
        if self._room < 0:
            self.pages = None
        else:
            self.pages.append(page)

    def hexdigest(self) -> str:
        """The SHA-256 of the whole listing's file (more pages may still be added)."""
        sha = self._sha.copy()
        sha.update(b"]}")
        return sha.hexdigest()

    def file(self) -> bytes | None:
        """The whole listing's file (``json_bytes({key: items})``, the bytes
        :meth:`hexdigest` hashes) from the pages held; None where they were not held."""
        if self.pages is None:
            return None
        return self._head + b", ".join(self.pages) + b"]}"


def listed_ids(data: bytes, key: str) -> list[Any] | None:
    """The ids of the items a saved listing file (``{key: [items]}``) holds, sorted by
    their text (in a listing of ``COUNTED_LISTINGS``, each with its ``childCount``, as
    :attr:`ListingDigest.ids`); None for a file that is not such a listing (damaged, or
    gone: ``b""``)."""
    try:
        items = json.loads(data).get(key)
    except (ValueError, AttributeError, RecursionError):  # (a hand edit nested deep)
        return None
    if not isinstance(items, list):
        return None
    items = [item for item in items if isinstance(item, dict)]
    if key in COUNTED_LISTINGS:
        return sorted(((item.get("id"), item.get("childCount")) for item in items), key=repr)
    return sorted((item.get("id") for item in items), key=repr)


def _listing_differs(saved: bytes, key: str, ids: list[Any], digest: str) -> bool:
    """Does the saved listing file ``saved`` hold other ids than ``ids`` (a fresh listing,
    its file's SHA-256 ``digest``), or is it that fresh listing itself, where its record
    gives another digest (see ``Walker._outdated``)?"""
    if listed_ids(saved, key) != sorted(ids, key=repr):
        return True
    return hashlib.sha256(saved).hexdigest() == digest


def labels_by_parent(annotations_body: Any, parent_class: str) -> dict[int, list[tuple[str, str]]]:
    """Map annotation key/value pairs per parent id, de-duplicated on (annotation, parent).

    OMERO.web orders annotations by namespace only, so two map annotations of one namespace
    on one object (two gene annotations) may come in either order from one request to the
    next; a key both hold would then read ``A | B`` in one harvest and ``B | A`` in the
    next. The server's namespace order is kept, and ties are put in annotation-id order.
    """
    out: dict[int, list[tuple[str, str]]] = {}
    seen: set[tuple[int, int]] = set()
    listed = [
        a for a in (annotations_body or {}).get("annotations", []) or [] if isinstance(a, dict)
    ]
    ns_rank: dict[str, int] = {}
    for ann in listed:
        ns_rank.setdefault(str(ann.get("ns")), len(ns_rank))
    listed.sort(key=lambda a: (ns_rank[str(a.get("ns"))], _annotation_id(a)))
    for ann in listed:
        if ann.get("class") != "MapAnnotationI":
            continue
        parent = (ann.get("link") or {}).get("parent") or {}
        if parent.get("class") != parent_class or not isinstance(parent.get("id"), int):
            continue
        key = (int(ann.get("id") or 0), parent["id"])
        if key in seen:
            continue
        seen.add(key)
        pairs = out.setdefault(parent["id"], [])
        for pair in ann.get("values") or []:
            if isinstance(pair, list | tuple) and len(pair) == 2:
                pairs.append((str(pair[0]), str(pair[1])))
    return out


def _annotation_id(ann: dict[str, Any]) -> int:
    """An annotation's id for ordering (0 where the server gave none that is a number)."""
    value = ann.get("id")
    return value if isinstance(value, int) else 0


@dataclass(frozen=True)
class LinkServers:
    """The servers an ids file's links may be of, and how a link of another is refused.

    ``said`` names them after "not of" (``the server asked, URL``); ``hint`` says what to
    do instead (None: give the link's server as ``--base-url``, what a run can do; a
    command with no ``--base-url``, as ``forget``, says its own). ``image_of``: where
    the ids name images of a folder of several servers, the servers (as
    :func:`~harvester.config.normal_base_url` gives them) the folder's image of an id came
    from (empty: none the folder knows of, not in question); a link's image must be of
    one of those, not merely of one of ``urls`` (another server's image 123 is another
    image). ``linked``: where given, filled as the file is read: each id a link line
    named -> the servers (normal URLs) of those links, for a reader that acts on the
    link's server's image alone (``forget --gone-ids-from``: the other server's image of
    that id is another image)."""

    urls: tuple[str, ...]
    said: str
    hint: str | None = None
    image_of: Callable[[int], AbstractSet[str]] | None = None
    linked: dict[int, set[str]] | None = field(default=None, hash=False, compare=False)


def _ids_file_hint(path: Path, said: str) -> str:
    """The hint of an ids file that cannot be opened: a harvest folder given whole
    (``--ids-from idr0056``, to fetch its images again with other artifacts) is told to
    give its ``index.csv``, which ``--ids-from`` reads; else what ``--ids-from`` takes."""
    from harvester.layout import INDEX_NAME
    from harvester.shell_words import shell_quote

    if path.is_dir() and (path / INDEX_NAME).is_file():
        return (
            f"{said} is a harvest folder: give its {INDEX_NAME} instead, "
            f"{shell_quote(str(Path(said) / INDEX_NAME))}, whose image_id column is read"
        )
    return "--ids-from takes a text file with one image id a line"


def read_ids_file(
    path: Path, server: str | LinkServers | None = None, said: str | None = None
) -> Generator[int, None, None]:
    """Image ids, one a line; blank lines and ``#`` comments ignored (and a UTF-8 byte
    order mark at the start, which Windows editors write).

    A line may also be written as users paste it (:func:`_line_ids`): ``Image:123``, a
    range ``100-120``, an image link (``.../webclient/?show=image-1|image-2``,
    ``.../iviewer/?images=1,2``...). ``server``: the base URL of the run that reads the
    file, whose server a link must be of (another server's image 123 is another image),
    or :class:`LinkServers` (a folder's, for ``forget --gone-ids-from``); None where the
    server is not in question (a file already checked).

    A CSV or TSV whose first line names an ``image_id`` column (a harvester's own
    ``index.csv``, a table filtered in pandas or a spreadsheet) gives that column's ids:
    picking a training set and fetching it again with other artifacts needs no ``cut``.

    Raises UsageError naming the first junk line (checked lazily while
    streaming, so a 10-million-line file is never held in memory). ``said``: how the
    errors name the source, where not as ``path`` (``-`` as typed for standard input,
    which is read as ``/dev/stdin``: a user who typed ``-`` never named that path).
    """
    said = str(path) if said is None else said
    try:
        handle = path.open("r", encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise UsageError(
            f"cannot read ids file {said!r}: {exc.strerror or exc}", hint=_ids_file_hint(path, said)
        ) from None
    where = _Where(said, _link_servers(server))
    with handle:
        first = True
        for number, line in enumerate(handle, start=1):
            if number == 1 and ("\x00" in line or line.startswith(_UTF16_BOM_READ)):
                why = _NOT_TEXT if "\x00" in line else _UTF16_BOM
                raise UsageError(f"{said} is not a text file ({why})", hint=_NOT_TEXT_HINT)
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            # Once per line of files of millions: a plain id is read here, not in _line_ids
            # (positive_id inlined: no call per line). ASCII digits alone, as the flags take
            # them: int() reads "١٢٣" and "１２３" as 123, and a line of 34 digits is no id.
            if text.isdigit() and text.isascii() and len(text) <= MAX_ID_DIGITS:
                image_id = int(text)
                if 0 < image_id <= MAX_ID:
                    first = False
                    yield image_id
                    continue
            if first:
                first = False
                if text.startswith(("{", "[")):
                    raise UsageError(
                        f"{said}: line {number}: JSON, not one image id a line "
                        "(an answer of IDR's search engine?)",
                        hint=_json_hint(said),
                    )
                column = _id_column(line)
                if column is not None:
                    yield from _csv_ids(where, handle, number, *column)
                    return
                if (
                    not text.isdigit()
                    and any(d in text for d in (",", "\t", ";"))
                    and not is_link(text)  # (an iviewer link's ?images=1,2 has commas)
                ):
                    # A table without the column (an index.csv cut without image_id): saying
                    # "one integer a line" would read as if CSVs were not taken at all.
                    yield from _line_ids(text, where, number, _NO_ID_COLUMN_HINT)
                    continue
            yield from _line_ids(text, where, number, _PLAIN_HINT)


def _json_hint(said: str) -> str:
    """The hint for an ids file that is JSON: the jq filter that takes the image ids out
    of a search engine answer, for that file or (``-``, ``/dev/stdin``, ``/dev/fd/63``) in
    the pipe. Why: the README's search engine line pipes the answer through jq; a user
    without jq saved (or piped) the answer itself, whose first line was called "not an
    image id" with a hint about CSV columns, which said neither."""
    from harvester.shell_words import shell_quote

    take = "jq '.results.results[].id'"
    if _a_pipe(said):
        return f"take the image ids out of it first, one a line: ... | {take} | harvester ..."
    return (
        f"take the image ids out of it first, one a line: {take} {shell_quote(said)} "
        "> ids.txt, then --ids-from ids.txt"
    )


def _a_pipe(said: str) -> bool:
    """Whether the ids source named ``said`` is a pipe (``-``, ``/dev/stdin``, ``<(...)``'s
    ``/dev/fd/63``), by what it is, not where: a saved file under ``/dev/shm`` (a tmpfs) was
    told the pipe's hint."""
    import stat

    if said == "-":
        return True
    try:
        return not stat.S_ISREG(os.stat(said).st_mode)
    except OSError:  # (a pipe's descriptor closed since it was read: judged by its name)
        from harvester.config import ids_read_once

        return ids_read_once(said)


#: The hint for a junk line of a plain ids file.
_PLAIN_HINT = "one positive integer a line; '#' starts a comment"

#: The most ids one range line of an ids file may name. More than a range given to a flag
#: (:data:`~harvester.target_text.MAX_RANGE`: a file's ids are streamed, never held nor
#: saved), yet bounded: ``1-9762957`` for ``9762950-9762957`` would ask for millions.
MAX_LINE_RANGE = 100_000


def _link_servers(server: str | LinkServers | None) -> LinkServers | None:
    """A run's base URL as the :class:`LinkServers` its ids file's links must be of."""
    if not isinstance(server, str):
        return server
    return LinkServers((server,), f"the server asked, {redact_base_url(server).partition('?')[0]}")


@dataclass(frozen=True)
class _Where:
    """The ids file being read, as its errors name it, and the servers its links must be
    of (None: any)."""

    said: str
    servers: LinkServers | None


#: Why an ids file whose first line holds a NUL byte is no text file: an Excel or
#: LibreOffice workbook (a zip archive, or an .xls's OLE2 header), or Excel's "Unicode
#: Text" (UTF-16), where a biologist's list of ids often lives. Its first line read as
#: an id showed the zip header's bytes, and a hint about integers, which said neither.
_NOT_TEXT = (
    "its first line holds NUL bytes: a spreadsheet workbook, .xlsx .xls or .ods, or UTF-16 text?"
)
#: A UTF-16 byte order mark (FF FE, FE FF) as the UTF-8 reading shows it. Why: Excel's
#: "Unicode Text" of a sheet whose first row is blank has no NUL on its first line (the
#: mark, then the line's end), and its mark was shown as a junk id.
_UTF16_BOM_READ = "\ufffd\ufffd"
_UTF16_BOM = "it starts with a UTF-16 byte order mark: Excel's Unicode Text?"
_NOT_TEXT_HINT = (
    "save the sheet as CSV UTF-8 with an image_id column (or 'Image ID'), or as plain text"
    " with one image id a line, and give that file"
)

#: The hint for a CSV/TSV header line that names no image id column.
_NO_ID_COLUMN_HINT = (
    "a CSV or TSV needs an image_id column (or 'Image ID', 'ImageId') in its first line;"
    " a plain ids file has one positive integer a line"
)


#: Header names of the column a CSV's ids are read from (lower case, without ``_``/spaces).
_ID_HEADERS = frozenset({"imageid"})


def _id_column(header: str) -> tuple[str, int] | None:
    """(delimiter, index) of the image id column when ``header`` is a CSV/TSV header line."""
    for delimiter in (",", "\t", ";"):
        names = [_header_key(name) for name in header.split(delimiter)]
        if len(names) > 1 or delimiter == ",":  # one column: no delimiter at all
            for index, name in enumerate(names):
                if name in _ID_HEADERS:
                    return delimiter, index
    return None


def _header_key(name: str) -> str:
    """``"Image ID"``, ``image_id`` and ``ImageId`` alike: spreadsheets rename columns."""
    return name.strip().strip('"').lower().replace("_", "").replace(" ", "")


def _csv_ids(
    where: _Where, rows: Iterable[str], header_line: int, delimiter: str, column: int
) -> Generator[int, None, None]:
    """The ``column`` of every row after a CSV header (quoted fields as the csv module reads)."""
    import csv  # only for a CSV ids file

    reader = csv.reader(rows, delimiter=delimiter)
    hint = "the image_id column of a CSV holds one positive integer a row"
    for row in reader:
        number = header_line + reader.line_num
        if not any(field.strip() for field in row):
            continue
        if column >= len(row):
            raise UsageError(f"{where.said}: line {number}: no image_id field", hint=hint)
        yield from _line_ids(row[column].strip(), where, number, hint)


def _line_ids(text: str, where: _Where, number: int, hint: str) -> Iterable[int]:
    """The image ids of one line: an id, ``Image:123`` (as OMERO.downloader and the omero
    CLI write it), a range ``100-120`` or an image link; else a UsageError naming line
    ``number`` of the file."""
    if (image_id := positive_id(text)) is not None:
        return (image_id,)
    path = where.said
    if text.isdigit():  # (the flags refuse these alike: "is not a numeric id")
        why = _digits_not_id(text)
        raise UsageError(f"{path}: line {number}: {why}", hint=hint)
    typed = typed_id(text) if ":" in text else None
    if typed is not None:
        kind, object_id = typed
        if kind != "image":  # (an ids file is images: a plate's id is another image's)
            raise UsageError(
                f"{path}: line {number}: {text!r} is {a_kind(kind)}, not an image: give it "
                f"as {KINDS[kind][1]} {object_id}",
                hint="an ids file holds image ids, one a line",
            )
        return (object_id,)
    try:
        well = typed_well(text) if ":" in text else None
    except TargetTextError as exc:  # (an id over OMERO's largest)
        raise UsageError(f"{path}: line {number}: {exc}", hint=hint) from None
    if well is not None:  # (as ``--image Well:ID`` and a well's link; "not an image id")
        raise UsageError(
            f"{path}: line {number}: {text!r} is a well, {well_refusal(well)}",
            hint="an ids file holds image ids, one a line",
        )
    if is_link(text):
        return _link_ids(text, where, number)
    range_hint = (
        f"a range line is FIRST-LAST, at most {MAX_LINE_RANGE:,} ids (split a longer one over "
        "lines)"
    )
    try:
        ids = id_range(text, None, most=MAX_LINE_RANGE) if "-" in text else None
    except TargetTextError as exc:
        raise UsageError(f"{path}: line {number}: {exc}", hint=range_hint) from None
    if ids is not None:
        return ids
    # A range written otherwise (`1..5`), one that names no id (`1..0`), or such an item of a
    # comma list (`1,5..3`: that item named alone), worded as the flags word them: these
    # lines were "not an image id", as if no range were taken.
    refusal = marked_range_refusal(text, None, most=MAX_LINE_RANGE)
    if refusal is not None:
        raise UsageError(f"{path}: line {number}: {refusal}", hint=range_hint)
    if (respelt := range_respelt(text)) is not None:
        raise UsageError(
            f"{path}: line {number}: {text!r} is not a range harvester reads: give it as "
            f"FIRST-LAST, {respelt}",
            hint=range_hint,
        )
    # (an item that is no id at all, as `name` of `id,name`: the line is named whole, a
    # CSV's header it may be)
    of_list = comma_item_refusal(text, None, most=MAX_LINE_RANGE, what="an image id")
    if of_list is not None and of_list.a_range:
        raise UsageError(f"{path}: line {number}: {of_list.said}", hint=range_hint)
    # (a row of ids: a CSV hint would not say it)
    if several_ids(text) is not None or comma_ids(text) is not None:
        raise UsageError(
            f"{path}: line {number}: {not_an_id(text, 'one image id')} but several",
            hint="an ids file takes one image id a line, or a CSV or TSV whose first line "
            "names an image_id column",
        )
    raise UsageError(f"{path}: line {number}: {not_an_id(text, 'an image id')}", hint=hint)


def _digits_not_id(text: str) -> str:
    """Why a line of digits (``str.isdigit``) is no image id: 0, digits other than ASCII's
    (Arabic-Indic ``١٢٣``, fullwidth ``１２３``, ``²``), or more than :data:`MAX_ID_DIGITS`.
    Why said: ``int()`` read the first two as 123, so a line the ``--image`` flag refuses
    named image 123, and a 34-digit line an id no server has."""
    said = not_an_id(text, "an image id")
    if not text.isascii():
        return f"{said} (digits other than 0-9)"
    if len(text) > MAX_ID_DIGITS:
        return f"{said} (more than {MAX_ID_DIGITS} digits)"
    if int(text) > MAX_ID:
        return f"{said} ({OVER_MAX_ID})"
    return said


def _link_ids(text: str, where: _Where, number: int) -> tuple[int, ...]:
    """The images a link line shows (:func:`~harvester.target_text.parse_link`), of the
    run's server; a link of another kind or server, or none harvester reads, a UsageError
    (naming the link without its query: it may hold a session key)."""
    from harvester.config import normal_base_url

    line = f"{where.said}: line {number}"
    try:
        link = parse_link(text)
    except TargetTextError as exc:
        raise UsageError(
            f"{line}: {exc}", hint="an ids file holds image ids, one a line (or image links)"
        ) from None
    if (refused := link.other_kinds("image")) is not None:
        raise UsageError(
            f"{line}: {refused}", hint="an ids file holds image ids, one a line (or image links)"
        )
    servers = where.servers
    if servers is not None and normal_base_url(link.server) not in {
        normal_base_url(url) for url in servers.urls
    }:
        raise UsageError(
            f"{line}: the link is of {link.server}, not of {servers.said}",
            hint=servers.hint
            or "an ids file's links are of the run's server: to ask the link's, give "
            + ask_hint(with_login(text, link.server)),
        )
    ids = tuple(link.ids_of("image"))
    if servers is not None and servers.image_of is not None:
        mine = normal_base_url(link.server)
        for image_id in ids:
            came_from = servers.image_of(image_id)
            if came_from and mine not in came_from:
                theirs = " or ".join(
                    url for url in servers.urls if normal_base_url(url) in came_from
                )
                raise UsageError(
                    f"{line}: the link is of {link.server}, but image {image_id} came from "
                    f"{theirs or 'another server'} (of {servers.said})",
                    hint=servers.hint,
                )
    if servers is not None and servers.linked is not None:
        for image_id in ids:
            servers.linked.setdefault(image_id, set()).add(normal_base_url(link.server))
    return ids


def first_ids(path: Path, count: int, keep: Callable[[int], bool] | None = None) -> list[int]:
    """The first ``count`` distinct ids of an ids file that ``keep`` accepts; reads no further."""
    found: list[int] = []
    seen: set[int] = set()
    if count <= 0:
        return found
    with contextlib.closing(read_ids_file(path)) as ids:
        for image_id in ids:
            if image_id in seen or (keep is not None and not keep(image_id)):
                continue
            seen.add(image_id)
            found.append(image_id)
            if len(found) >= count:
                break
    return found


#: What the lines of a plain ids file are made of: digits and line ends (\n or \r\n).
_PLAIN_ID_BYTES = b"0123456789\r\n"
_CHECK_BLOCK = 1 << 20


def standard_input_ids(command: str) -> Path:
    """Where ``--ids-from -`` reads: standard input, which must not be a terminal.

    Nothing piped in, a run would wait silently for ids typed by hand: a usage error.
    ``command`` names the command in the hint.
    """
    if os.isatty(0):  # /dev/stdin is descriptor 0, whatever sys.stdin is
        raise UsageError(
            "--ids-from -: standard input is a terminal, not a list of ids",
            hint=f"pipe the ids in (cmd | harvester {command} --ids-from - ...) or name a file",
        )
    return Path("/dev/stdin")


#: The names of :func:`spool_ids_file`'s copies: PREFIX HOST-PID-START-RANDOM .txt.
_COPY_PREFIX = "harvester-ids-"


def _own_copy_prefix() -> str:
    """The start of this process's copy's name (mkstemp adds a random part, no "-" in it)."""
    pid = os.getpid()
    return f"{_COPY_PREFIX}{HOST}-{pid}-{process_start(pid) or 0}-"


def remove_dead_runs_copies(folder: Path) -> int:
    """Remove the ids copies in ``folder`` of this user's runs on this host that have ended
    without removing them (killed); returns how many.

    A copy names its process (:func:`_own_copy_prefix`); one whose process is gone (or
    whose pid another process has since) is litter. Copies of other hosts (a shared
    TMPDIR), of other users, of live runs, and of harvester before 0.1.15 (no owner in the
    name) are left alone; so is every copy when this host's name may be another machine's
    too (a container's ``localhost``, :func:`~harvester.processes.host_may_be_shared`): with
    a shared TMPDIR, a pid not alive here may be a live run's there, whose walk still reads
    its copy. (Litter in the temporary folder is the cheaper mistake; the store, whose
    clean-up keeps a folder's crash promise, judges a killed writer by its pid even there.)
    """
    if host_may_be_shared(HOST):
        return 0
    removed = 0
    uid = os.getuid()
    for entry in os.scandir(folder):
        name = entry.name
        if not (name.startswith(_COPY_PREFIX) and name.endswith(".txt")):
            continue
        parts = name[len(_COPY_PREFIX) : -len(".txt")].rsplit("-", 3)
        if len(parts) != 4 or parts[0] != HOST:
            continue
        _host, pid, start, _random = parts
        if not (pid.isdigit() and start.isdigit()):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != uid or not entry.is_file():
                continue
        except OSError:
            continue
        if process_alive(int(pid), int(start) or None):
            continue
        with contextlib.suppress(FileNotFoundError):  # (another run removed it first)
            os.unlink(entry.path)
            removed += 1
    if removed:
        logger.debug("removed %d ids copies of ended runs from %s", removed, folder)
    return removed


def spool_ids_file(path: Path, server: str | None = None, said: str | None = None) -> Path:
    """Read an ids source that can be read only once (a pipe, ``<(cmd)``, a device) to a
    temporary file, checking every line; returns that file, which the caller removes.

    A harvest reads its ids file more than once (the up-front check, the head start's
    first ids, the walk): from a pipe the first reading would leave nothing for the walk.
    The copy has one id a line, in the source's order (a bad line is named by its number
    in the source); it goes to the system's temporary folder, never into DIR. Its name
    says whose it is (host, pid, the process's start), so that the copies of runs killed
    before they could remove theirs (SIGKILL, the OOM killer) are removed by the next
    copy made on this machine (:func:`remove_dead_runs_copies`). ``server``: the run's, that
    of the links the source holds (:func:`read_ids_file`): the copy holds their ids alone.
    ``said``: how errors name the source (``-`` for standard input, as typed).
    """
    said = str(path) if said is None else said
    spooled: Path | None = None
    try:
        import tempfile  # only for --ids-from - or a pipe: not on every run's start-up

        with contextlib.suppress(OSError):  # (tidying up: never a reason to fail)
            remove_dead_runs_copies(Path(tempfile.gettempdir()))
        handle, name = tempfile.mkstemp(prefix=_own_copy_prefix(), suffix=".txt")
        spooled = Path(name)
        with os.fdopen(handle, "w", encoding="ascii") as out:
            for image_id in read_ids_file(path, server, said):
                out.write(f"{image_id}\n")
    except OSError as exc:
        if spooled is not None:
            spooled.unlink(missing_ok=True)
        raise UsageError(
            f"cannot copy the ids of {said!r} to a temporary file: {exc.strerror or exc}",
            hint="set TMPDIR to a folder with room, or give --ids-from a regular file",
        ) from None
    except BaseException:
        if spooled is not None:
            spooled.unlink(missing_ok=True)
        raise
    return spooled


def check_ids_file(path: Path, server: str | LinkServers | None = None) -> None:
    """Validate a whole ids file up front (before anything is written).

    It runs before every ``--ids-from`` harvest, so the common file (nothing
    but numbers without leading zeros, one a line) is checked a megabyte at a
    time with a few byte-string scans, several times faster than parsing each
    line. Anything else (comments, blanks, a junk line, an unreadable file)
    goes through :func:`read_ids_file`, which accepts it or names the first
    bad line exactly as the walk will, and a link of another server than ``server`` (the
    run's base URL; the walk, reading a file checked, does not ask again).
    """
    if _plain_ids_file(path):
        return
    for _ in read_ids_file(path, server):
        pass


def _plain_ids_file(path: Path) -> bool:
    """True if ``path`` is a plain ids file (False: not necessarily bad, look closer).

    A line of as many digits as :data:`~harvester.target_text.MAX_ID` or more is left to
    :func:`read_ids_file`, which names it if it is over that id (the flags refuse it; a
    line of 4,300 digits or more made ``int()`` fail). Checking that also stops a huge line
    from being carried from block to block.
    """
    try:
        with path.open("rb") as handle:
            rest = b""
            while block := handle.read(_CHECK_BLOCK):
                block = rest + block
                cut = block.rfind(b"\n") + 1
                block, rest = block[:cut], block[cut:]
                if not _plain_id_lines(block) or len(rest) > MAX_ID_DIGITS + 1:
                    return False
    except OSError:
        return False
    return _plain_id_lines(rest)


#: Every ASCII digit as ``0`` (the rest as they are): a run of :data:`_LONG_ID` in a block
#: so translated is a line of as many digits as OMERO's largest id or more, which only
#: :func:`read_ids_file` tells from an id (no id of IDR has half as many). One translation
#: and one search a block (a loop of finds per line window took four times the rest).
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_ID = b"0" * len(str(MAX_ID))


def _plain_id_lines(lines: bytes) -> bool:
    """Whole lines of digits only, none starting with 0 (so none is 0) nor as long as
    OMERO's largest id (:data:`_LONG_ID`), CR only before LF."""
    return (
        not lines.translate(None, _PLAIN_ID_BYTES)
        and not lines.startswith(b"0")
        and b"\n0" not in lines
        and lines.count(b"\r") == lines.count(b"\r\n")
        and _LONG_ID not in lines.translate(_DIGITS_AS_ZERO)
    )


def _json_object(fetched: Fetched) -> None:
    """Every listing OMERO.web serves is a JSON object; a list or string is not it."""
    if not isinstance(fetched.json(), dict):
        raise InvalidBodyError("expected a JSON object", url=fetched.url, status=fetched.status)


def _first_image_id(well: dict[str, Any], keep: Callable[[int], bool] | None) -> int | None:
    """The image of the well's first WellSample that ``keep`` accepts (every field of a
    well carries the well's labels, so any of them tells them); None if there is none."""
    samples = well.get("WellSamples")
    if not isinstance(samples, list):
        return None
    for sample in samples:
        image_id = ((sample if isinstance(sample, dict) else {}).get("Image") or {}).get("@id")
        if isinstance(image_id, int) and (keep is None or keep(image_id)):
            return image_id
    return None


def _items(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The objects listed under ``key`` (missing, null or odd entries ignored)."""
    value = body.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _digest(key: str, items: list[dict[str, Any]]) -> ListingDigest:
    """The :class:`ListingDigest` of a listing held whole (a project's datasets...)."""
    digest = ListingDigest(key)
    digest.add(items)
    return digest


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(eq=False)
class WalkAgain:
    """A walk step that failed through its retries on a busy or broken answer
    (:class:`~harvester.errors.TransientError`), kept aside to be walked once more at the end
    of the walk, the queue still open, with a fresh retry budget (:meth:`Walker.walk`).

    Why: on a flaky server a listing now and then meets a fault on every try, and one
    listing lost many images (a plate's 8 of 80, a dataset's, a batch of 200 ids, or a
    plate's study files) until a rerun, which listed it at once. The files have such a
    second chance (:mod:`harvester.second_chance`); one listing costs more than a file.

    A step is what the walk asks as one: a plate, a dataset, a screen's or a project's
    listing, a batch of given ids (their labels). ``redo`` walks it again, given this
    record (a failure then is said as any: :attr:`failed`) and the task group a screen's or
    project's plates or datasets are walked in. ``met``: the images its first walk went
    through, in the listing's order (sent, or met as another shard's or as sent under
    another parent): the second walk passes over those it finds sent or met already, so
    that none is counted, queued or journaled twice. ``study_only``: every image under it
    was sent by the first walk (only its study files failed; a screen's or project's
    children were walked then)."""

    what: str
    study_only: bool
    redo: Callable[[WalkAgain, anyio.abc.TaskGroup], Awaitable[None]]
    met: int = 0
    #: The second walk failed too (said as a failed listing).
    failed: bool = False


class Walker:
    """Expands targets into ImageRefs on ``send``; one instance per run.

    ``keep(ref)`` decides whether a found image goes to the queue (shard
    filtering); ``on_image`` is called for every queued image (progress);
    ``on_listed`` after each listing that advanced the walk (a page of wells or images,
    a screen's plates, a batch of ids), when :attr:`stats` has grown (progress too: once
    a listing, never once an image). ``on_again`` is told of each image of this walk met
    again under another parent (OMERO's links are many-to-many: an image in two datasets,
    a dataset in two projects): it is queued once, under the parent reached first, and
    the caller picks the context to index (:func:`~harvester.models.placed_before`).
    ``second_chance``: a step failed on a busy or broken answer is walked again at the end
    (:class:`WalkAgain`; False: said at once, as for ``--max-retries 0``).
    """

    def __init__(
        self,
        client: Client,
        send: ObjectSendStream[ImageRef],
        *,
        walk_concurrency: int = 4,
        study: StudySink | None = None,
        keep: Callable[[int], bool] | None = None,
        on_image: Callable[[ImageRef], None] | None = None,
        prefetched: dict[tuple[str, int], Any] | None = None,
        known: Mapping[int, ImageRef] | None = None,
        labels: bool = True,
        refresh_labels: bool = False,
        empty_labels_known: Callable[[int], bool] | None = None,
        labels_for: Callable[[int], bool] | None = None,
        said_in_summary: bool = False,
        on_listed: Callable[[], None] | None = None,
        watch: SessionWatch | None = None,
        on_again: Callable[[ImageRef], None] | None = None,
        filesets: bool = False,
        second_chance: bool = False,
    ) -> None:
        self.client = client
        self.second_chance = second_chance
        #: The steps kept aside for the end of the walk (:class:`WalkAgain`).
        self._later: list[WalkAgain] = []
        self.on_again = on_again
        #: Keep the fileset a dataset's listing names on its images' refs (:class:`FilesetRef`):
        #: the ``paths`` artifact then asks once per fileset. Only when it is fetched: such a
        #: ref costs more to make, on every image of a million-image walk.
        self.filesets = filesets
        #: Told of every listing and failed listing, for a run that sent credentials: a
        #: session that ends while the run only walks stops it too (None: a run without).
        self.watch = watch
        #: Failed listings refused as the watch counts (403/401) while it has not said yet
        #: whether what the run sent still opens the server: (status, streak, what, error,
        #: study_only). Said once it has (see :meth:`_release`).
        self._held: list[tuple[int, int, str, FetchError, bool]] = []
        #: The run of refusals in a row (:meth:`SessionWatch.streak`) each watched refusal
        #: joined, taken before the watch is told of it: a check that refusal starts and
        #: that finds the session alive begins the next run, which it is none of.
        self._joined: weakref.WeakKeyDictionary[FetchError, int] = weakref.WeakKeyDictionary()
        self._walking = False
        # A harvest's summary says each failed listing (``walk failed: ...``), as it says
        # each failed file: a warning as well printed it twice. Then it is a debug line.
        self._fail_level = logging.DEBUG if said_in_summary else logging.WARNING
        self.labels = labels
        #: Ask every page's labels again, those journaled too (``--refresh-labels``): a
        #: curator's edit of an annotation on the server reaches index.csv, which a resume
        #: taking journaled labels never asks for.
        self.refresh_labels = refresh_labels
        # Images whose labels this run needs (None: every kept one): a sample without
        # --where needs those it may fetch only (select.SampleReuse), so a resume whose
        # such images are journaled asks no annotations again.
        self.labels_for = labels_for
        #: True once the run's ``--max-bytes`` budget is reached, and then it stops the run
        #: (None: no budget, or a ``--where`` run, whose annotations decide whether an
        #: image is work left). No annotations are asked from then on: they only label
        #: images that no run can fetch before a new budget, and the next run asks them
        #: again (see :meth:`_labels`).
        self.past_budget: Callable[[], bool] | None = None
        #: True for an ``--ids-from`` id not to ask this server for (None: ask every id):
        #: DIR's image of that id is another server's (:mod:`harvester.ids_servers`).
        self.ids_skip: Callable[[int], bool] | None = None
        # False when an earlier run of DIR did not ask for labels: a journaled image without
        # labels may then never have been asked (see _known_labels).
        self._empty_labels_known = empty_labels_known
        self.send = send
        self._send_nowait = send.send_nowait if isinstance(send, MemoryObjectSendStream) else None
        #: Told by the workers as they take images (None: the walk waits on the queue alone).
        self.room: QueueRoom | None = None
        self.study = study
        self.keep = keep
        self.on_image = on_image
        self.on_listed = on_listed
        self.stats = WalkStats()
        #: The ids of the images this walk sent (this shard's only): whether a walk that
        #: ended had each of them journaled is asked of these (``pipeline.Harvest``).
        self.seen = SeenIds()
        #: Other shards' ids met, each counted once as out of shard (:meth:`_out_of_shard`).
        self._others_seen = SeenIds()
        #: The study objects (kind, id) this walk saves again (:meth:`_outdated`). Why: a
        #: dataset linked from two projects is walked under each, and each walk found its
        #: saved listing outdated and saved its files again (its JSON, listing and images'
        #: annotations asked twice), the first one's record not journaled yet.
        self._saving: set[tuple[str, int]] = set()
        #: The places this walk listed whole, which tell a moved image (placing.Listed).
        self.listed = Listed()
        self.walk_concurrency = walk_concurrency
        # The walk yields once after this many images, so that the first round of requests
        # goes out while the queue is being filled (not ~5 ms later, once 1,000 are queued).
        self._first_round = client.settings.concurrency
        self._limiter = anyio.CapacityLimiter(walk_concurrency)
        self._prefetched = dict(prefetched or {})
        self._known: Mapping[int, ImageRef] = known or {}

    # ------------------------------------------------------------ plumbing
    async def _json(self, path: str) -> dict[str, Any]:
        """A listing as a JSON object (anything else is an invalid body, retried).

        Each answer and failure is told to the watch: without it, once the session ended,
        every listing left failed in turn (no give-up rule stops a walk)."""
        try:
            fetched = await self.client.get(path, Expect.JSON, _json_object)
        except FetchError as exc:
            if self.watch is not None:
                if exc.status is not None and self.watch.watches(exc.status):
                    self._joined[exc] = self.watch.streak(exc.status)
                await self.watch.failed(exc.status, urls.screens(0, 1))
            raise
        if self.watch is not None:
            self.watch.answered()
            if self._held:
                self._release()
        body: dict[str, Any] = fetched.json()
        return body

    async def _object(self, kind: str, object_id: int, path: str) -> Any:
        """A single object's JSON, reusing what the preflight check already fetched."""
        cached = self._prefetched.pop((kind, object_id), None)
        if cached is not None:
            return cached
        return await self._json(path)

    async def _named(
        self, kind: str, object_id: int, path: str, save: bool, name: str | None
    ) -> tuple[Any, str | None]:
        """The object's JSON if it is saved or its name unknown (else None), and its name."""
        obj: Any = None
        if save or name is None:
            obj = await self._object(kind, object_id, path)
            if name is None:
                name = str(((obj or {}).get("data") or {}).get("Name", ""))
        return obj, name

    def _listed(self) -> None:
        """A listing advanced the walk: tell ``on_listed``."""
        if self.on_listed is not None:
            self.on_listed()

    def _fail(
        self,
        what: str,
        exc: FetchError,
        *,
        study_only: bool = False,
        again: WalkAgain | None = None,
        redo: Callable[[WalkAgain, anyio.abc.TaskGroup], Awaitable[None]] | None = None,
        met: int = 0,
    ) -> bool:
        """A listing failed through its retries; True where it is kept aside to be walked
        again at the end (``redo``, on a busy or broken answer: :class:`WalkAgain`, ``met``
        its images met so far), not said. ``again``: the step's second walk, whose failure
        is said. A refusal the watch counts is held until the watch
        has said what it was (:meth:`_release`): once the session has ended, every
        listing in flight is refused, and each said ``walk of dataset N failed`` (about
        six) before the run's one error said why."""
        if again is not None:
            again.failed = True
        elif redo is not None and self.second_chance and isinstance(exc, TransientError):
            logger.debug("walk of %s failed, walked again at the end: %s", what, exc)
            self._later.append(WalkAgain(what, study_only, redo, met))
            return True
        watch = self.watch
        if self._walking and watch is not None and watch.watches(exc.status):
            assert exc.status is not None  # (watched: 401 or 403)
            streak = self._joined.pop(exc, None)
            if streak is None:  # (a refusal the watch was not told of: the run it is in)
                streak = watch.streak(exc.status)
            self._held.append((exc.status, streak, what, exc, study_only))
            self._release()
            return False
        self._failed(what, exc, study_only)
        return False

    def _release(self, *, final: bool = False) -> None:
        """Say the held refusals the watch has judged: their own (a private folder), as
        any failed listing; the end of what the run sent, only in the debug log (the
        run's error says it, and the walk is left unfinished, for the resume). ``final``:
        the walk is over: those not judged yet are their own, unless the run stopped."""
        watch = self.watch
        if watch is None:
            return
        held, self._held = self._held, []
        for status, streak, what, exc, study_only in held:
            verdict = watch.verdict(status, streak)
            if verdict is None and not final:
                self._held.append((status, streak, what, exc, study_only))
            elif verdict or (verdict is None and watch.ended):
                logger.debug("walk of %s refused as the run stopped for it: %s", what, exc)
            else:
                self._failed(what, exc, study_only)

    def _failed(self, what: str, exc: FetchError, study_only: bool) -> None:
        """Said and counted: a listing failed for good."""
        logger.log(self._fail_level, "walk of %s failed: %s", what, exc)
        busy = server_is_there(exc)
        self.stats.failures.append(
            WalkFailure(what, exc.url, exc.status, exc.reason, busy, study_only)
        )

    def _out_of_shard(self, image_id: int) -> bool:
        """True for another shard's image, counted once as out of shard, then as a duplicate."""
        if self.keep is None or self.keep(image_id):
            return False
        if self._others_seen.add(image_id):
            self.stats.out_of_shard += 1
        else:
            self.stats.duplicates += 1
        return True

    def _met_before(self, image_id: int) -> bool:
        """Did this walk meet ``image_id`` already (sent it, or counted it as another
        shard's)? A step walked again passes over such an image among those its first walk
        met (:attr:`WalkAgain.met`): counted then, not again."""
        return image_id in self.seen or image_id in self._others_seen

    def _own(self, image_ids: Sequence[int]) -> list[int]:
        """The ids of ``image_ids`` this walk keeps (all of them without a shard filter)."""
        keep = self.keep
        return list(image_ids) if keep is None else [i for i in image_ids if keep(i)]

    async def _emit(self, ref: ImageRef) -> None:
        if self._out_of_shard(ref.image_id):
            return
        if not self.seen.add(ref.image_id):
            self.stats.duplicates += 1
            if self.on_again is not None and has_context(ref):  # (not an id given twice)
                self.on_again(ref)
            return
        room = self.room
        if self._send_nowait is None:
            await self.send.send(ref)
        else:  # no checkpoint while the queue has room (anyio's send() checkpoints every item)
            try:
                self._send_nowait(ref)
            except anyio.WouldBlock:
                if room is not None:
                    await room.wait()  # (until the workers took half the queue: QueueRoom)
                await self.send.send(ref)
            except anyio.BrokenResourceError:
                # Every receiver is gone: the run is stopping (a --max-bytes stop or a signal
                # cancelled the workers, and a selection's stage with them). send() would meet
                # that cancellation at its checkpoint; send_nowait() has none, so the walk
                # ended with an internal error instead of the stop: it is taken here.
                await anyio.lowlevel.checkpoint()
                raise
        if room is not None:
            room.sent()
        self.stats.images += 1
        if self.on_image is not None:
            self.on_image(ref)
        if self.stats.images == self._first_round:
            await anyio.lowlevel.checkpoint()

    async def _labels(
        self, kind: str, parent_class: str, ids: Sequence[int]
    ) -> tuple[dict[int, list[tuple[str, str]]], list[Any]]:
        """Labels of many objects, plus the raw annotation lists for the study files.

        Batches of 200 ids are requested at once (the client's limits still
        apply), so a 500-image page costs one round trip, not three; results
        are merged in batch order, so the outcome does not depend on timing.

        None is asked once the run's budget is reached (:attr:`past_budget`, which stops
        the run: cancelled here). Why: the walk goes on after the budget only to learn
        whether work is left, which its listings tell; a page of images no journal holds
        asked their annotations, each request wasted (the next run, with a budget of its
        own, asks them again). Such images are pending, so the run stops as for work left
        (exit 8). A ``--where`` run has no :attr:`past_budget`: its annotations decide
        whether its images are work at all (``Harvest._past_budget``).
        """
        if self.past_budget is not None and self.past_budget():
            await anyio.lowlevel.checkpoint()  # (the run is stopping: cancelled here)
        batches = list(_chunks(ids, urls.ANNOTATION_BATCH))
        bodies: list[dict[str, Any] | None] = [None] * len(batches)
        errors: list[FetchError] = []

        async def fetch(index: int, batch: Sequence[int]) -> None:
            try:
                bodies[index] = await self._json(urls.map_annotations(kind, batch))
            except FetchError as exc:  # re-raised below, outside the task group
                errors.append(exc)

        if len(batches) == 1:
            await fetch(0, batches[0])
        else:
            async with anyio.create_task_group() as tg:
                for index, batch in enumerate(batches):
                    tg.start_soon(fetch, index, batch)
        if errors:
            raise errors[0]
        labels: dict[int, list[tuple[str, str]]] = {}
        raw: list[Any] = []
        for body in bodies:
            assert body is not None
            raw.extend(_items(body, "annotations"))
            for parent_id, pairs in labels_by_parent(body, parent_class).items():
                labels.setdefault(parent_id, []).extend(pairs)
        return labels, raw

    def _known_labels(self, image_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]] | None:
        """Labels an earlier run journaled for every one of ``image_ids``, else None.

        With ``labels=False`` nothing is asked: an image gets the labels journaled for it,
        else none (annotations fetched for study files anyway still label their images).

        A resumed walk still lists plates and datasets (to find every image)
        but need not ask for annotations it already has: a page whose images
        are all known takes its labels from the journal. A shard's walk needs
        the labels of its own images only (its store holds no others). An image
        journaled without labels counts as known only if every earlier run asked
        for labels (``empty_labels_known(image_id)``, None: every one): an image a
        ``--no-labels`` run journaled without asking is asked when labels are turned on.
        With ``refresh_labels`` none is known: every page's labels are asked again.
        """
        if not self.labels:
            # Labels not wanted: no request. Those an earlier run journaled stay (the
            # image is journaled again if its ref changes: "none" would erase them).
            known = self._known
            return {
                image_id: list(ref.labels) if (ref := known.get(image_id)) is not None else []
                for image_id in image_ids
            }
        if self.refresh_labels:
            return None
        keep, needed = self.keep, self.labels_for
        if not image_ids or (not self._known and keep is None and needed is None):
            return None
        found: dict[int, list[tuple[str, str]]] = {}
        for image_id in image_ids:
            if keep is not None and not keep(image_id):
                found[image_id] = []  # another shard's: dropped, its labels are not needed
                continue
            ref = self._trusted(image_id)
            if ref is not None:
                found[image_id] = list(ref.labels)
            elif needed is not None and not needed(image_id):
                found[image_id] = []  # this run cannot fetch it: its labels are not needed
            else:
                return None
        return found

    def _labels_kept(
        self,
        image_id: int,
        labels: Mapping[int, list[tuple[str, str]]],
        fetched: AbstractSet[int],
    ) -> Labels:
        """An image's labels as asked or known (``labels``; none when asked, ``fetched``,
        and the server has none), else those journaled for it, else none.

        Why: an image whose annotation request failed is in neither; with
        ``--refresh-labels`` (which takes no journaled labels) it was emitted with none and
        journaled again so, which erased labels a first run had stored, for good (its empty
        labels then read as asked). The failure is the walk's (exit 1); the old labels stay.
        """
        if image_id in labels or image_id in fetched:
            return tuple(labels.get(image_id, ()))
        ref = self._known.get(image_id)
        return ref.labels if ref is not None else ()

    def _trusted(self, image_id: int) -> ImageRef | None:
        """The journaled ref of an image whose labels the journal knows, else None.

        Labels known: non-empty, or empty after a run that asked (``empty_labels_known``).
        """
        ref = self._known.get(image_id)
        if ref is None or ref.labels or self._empty_labels_known is None:
            return ref
        return ref if self._empty_labels_known(image_id) else None

    def _label_image(self, well: dict[str, Any]) -> int | None:
        """The image of a well whose labels stand for the well's (every field carries them).

        The first kept one, as before; with ``labels_for``, when the well holds an image
        whose labels are needed, an image of the well whose labels are journaled if there
        is one (they are the well's), else the first needed one: a well is asked for only
        when an image of it needs labels that no journal holds.
        """
        first = _first_image_id(well, self.keep)
        needed = self.labels_for
        if first is None or needed is None:
            return first
        ids = [
            i
            for sample in well.get("WellSamples") or []
            if isinstance(i := ((sample or {}).get("Image") or {}).get("@id"), int)
            and (self.keep is None or self.keep(i))
        ]
        wanted = [i for i in ids if needed(i)]
        if not wanted:
            return first
        return next((i for i in ids if self._trusted(i) is not None), wanted[0])

    async def labels_of(self, refs: Sequence[ImageRef]) -> list[ImageRef] | None:
        """``refs`` with the labels of their well (or image), asked now; None if that failed.

        For sampled images whose labels the walk did not ask (select.SampleReuse): a
        failure is recorded as the walk's, so the run ends with exit 1. Asked after the
        walk, they have its second chance all the same (:class:`WalkAgain`), at once: one
        busy moment withheld the whole sample.
        """
        what = f"{LABELS_OF}{plural(len(refs), 'sampled image')}"
        asked: list[list[ImageRef]] = []

        async def ask(again: WalkAgain | None) -> None:
            try:
                asked.append(await self._labelled(refs))
            except FetchError as exc:
                self._fail(what, exc, again=again, redo=lambda again, _tg: ask(again))

        await ask(None)
        await self._walk_again()  # (this one, where it was kept aside)
        return asked[0] if asked else None

    async def _labelled(self, refs: Sequence[ImageRef]) -> list[ImageRef]:
        """``refs`` with the labels of their well (or image), asked now (:meth:`labels_of`)."""
        wells = sorted({r.well_id for r in refs if r.well_id is not None})
        images = sorted({r.image_id for r in refs if r.well_id is None})
        by_well = (await self._labels("well", "WellI", wells))[0] if wells else {}
        by_image = (await self._labels("image", "ImageI", images))[0] if images else {}
        out: list[ImageRef] = []
        for ref in refs:
            pairs = by_well.get(ref.well_id, []) if ref.well_id is not None else None
            if pairs is None:
                pairs = by_image.get(ref.image_id, [])
            values = {name: getattr(ref, name) for name in ImageRef.__dataclass_fields__}
            values["labels"] = tuple(pairs)
            out.append(AskedRef(**values))
        return out

    async def _save(self, kind: str, object_id: int, files: dict[str, bytes]) -> None:
        if self.study is not None:
            await self.study.save(kind, object_id, files)

    def _wants(self, kind: str, object_id: int) -> bool:
        return self.study is not None and self.study.wants(kind, object_id)

    async def _outdated(self, kind: str, object_id: int, key: str, fresh: ListingDigest) -> bool:
        """Does the saved listing ``<key>.json`` of this object (saved by an earlier run)
        hold other children than this walk's complete listing ``fresh``? Then the
        object's study files are saved again: an image moved to another dataset was still
        listed in its old dataset's ``images.json``. Only the ids count, and in a project's
        or screen's listing each child's ``childCount`` (``COUNTED_LISTINGS``: the
        datasets.json of a project whose dataset lost an image still said it held it): a
        name or the permissions the server shows this session (``permsCss``) changed
        alone save nothing again (each would cost the object's requests at every rerun).

        A saved listing that is ``fresh`` itself, its record another's, is saved again
        too: a re-save renamed into place, its record never journaled (a run killed in
        between), held the fresh ids, so nothing saved it again, the object's other files
        stayed as they were, and ``verify`` said the listing damaged."""
        claim = (kind, object_id)
        if self.study is None or claim in self._saving:
            return False  # (saved by another walk of it in this run)
        digest = fresh.hexdigest()
        saved = await self.study.saved_listing(kind, object_id, f"{key}.json", digest)
        if saved is None or claim in self._saving:
            return False
        # (a saved listing of 100,000 images decoded and hashed: not in the event loop)
        differs = await anyio.to_thread.run_sync(_listing_differs, saved, key, fresh.ids, digest)
        if not differs or claim in self._saving:
            return False
        self._saving.add(claim)
        return True

    async def _paged_webclient(self, make: Callable[[int], str], key: str) -> list[dict[str, Any]]:
        """Every item of a ``webclient/api`` list (no totals: stop on a short page)."""
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            body = await self._json(make(page))
            chunk = _items(body, key)
            items.extend(chunk)
            if len(chunk) < urls.WEBCLIENT_PAGE:
                return items
            page += 1

    # ------------------------------------------------------------ entry point
    async def walk(
        self,
        *,
        screens: Iterable[int] = (),
        projects: Iterable[int] = (),
        plates: Iterable[int] = (),
        datasets: Iterable[int] = (),
        images: Iterable[int] = (),
        ids_file: Path | None = None,
    ) -> WalkStats:
        """Walk every target; returns when every found image has been sent, having said
        which targets hold no image (:meth:`say_empty_targets`)."""
        screens, projects = tuple(screens), tuple(projects)
        plates, datasets = list(plates), list(datasets)
        self.stats.plates_known += len(plates)
        self.stats.datasets_known += len(datasets)
        self._walking = True
        try:
            async with anyio.create_task_group() as tg:
                for screen_id in screens:
                    await self.walk_screen(screen_id, tg)
                for project_id in projects:
                    await self.walk_project(project_id, tg)
                for plate_id in plates:
                    tg.start_soon(self._limited, self._walk_target_plate, plate_id, None, None)
                for dataset_id in datasets:
                    tg.start_soon(self._limited, self._walk_target_dataset, dataset_id, None, None)
            await self.walk_images(list(images))
            if ids_file is not None:
                await self.walk_ids_file(ids_file)
            await self._walk_again()
            await self.say_empty_targets(
                {"screen": screens, "project": projects, "plate": plates, "dataset": datasets}
            )
        finally:
            self._walking = False
            self._release(final=True)  # (also when stopped: its failures said or dropped)
        return self.stats

    async def _walk_again(self) -> None:
        """The steps kept aside (:class:`WalkAgain`) walked once more, ``walk_concurrency``
        at once, while the queue is still open (their images reach the workers, and the
        files' own second chance). In rounds until none is left: a screen walked again
        lists plates walked for the first time, each with a second chance of its own.
        A stop before (Ctrl-C, the budget) cancels this: the walk is left unfinished."""
        while self._later:
            later, self._later = self._later, []
            logger.warning(
                "walking again at the end: %s that failed on busy or broken answers",
                plural(len(later), "listing"),
            )
            async with anyio.create_task_group() as tg:
                for again in later:
                    tg.start_soon(self._redo, again, tg)

    async def _redo(self, again: WalkAgain, tg: anyio.abc.TaskGroup) -> None:
        """Walk ``again`` once more; counted for the summary once that walk ended, done or
        failed. Why not when it began: a run stopped meanwhile (Ctrl-C, the budget) said
        ``walked again at the end: 1 listing ..., 0 done`` beside no failure, as if it had
        failed again, of a step left for the resume (a file a stop cuts short in its own
        second chance is not counted either)."""
        async with self._limiter:
            await again.redo(again, tg)
        self.stats.walked_again += 1
        self.stats.walked_again_done += not again.failed

    async def _walk_target_plate(
        self,
        plate_id: int,
        screen_id: int | None,
        name: str | None,
        again: WalkAgain | None = None,
    ) -> None:
        """A ``--plate`` target: its screen is asked first, for index.csv's ``screen_id``
        (:meth:`_parent_id`; ``again``: the target's second walk, :class:`WalkAgain`)."""
        if screen_id is None:
            later, screen_id = await self._parent_id(
                urls.plate_screens(plate_id),
                f"the screen of plate {plate_id}",
                again,
                lambda again, _tg: self._walk_target_plate(plate_id, None, name, again),
            )
            if later:
                return
        await self.walk_plate(plate_id, screen_id, name)  # (its listing's own second chance)

    async def _walk_target_dataset(
        self,
        dataset_id: int,
        project_id: int | None,
        name: str | None,
        again: WalkAgain | None = None,
    ) -> None:
        """A ``--dataset`` target: its project is asked first, for index.csv's ``project_id``
        (:meth:`_parent_id`; ``again``: the target's second walk, :class:`WalkAgain`)."""
        if project_id is None:
            later, project_id = await self._parent_id(
                urls.dataset_projects(dataset_id),
                f"the project of dataset {dataset_id}",
                again,
                lambda again, _tg: self._walk_target_dataset(dataset_id, None, name, again),
            )
            if later:
                return
        await self.walk_dataset(dataset_id, project_id, name)  # (its own second chance)

    async def _parent_id(
        self,
        path: str,
        what: str,
        again: WalkAgain | None,
        redo: Callable[[WalkAgain, anyio.abc.TaskGroup], Awaitable[None]],
    ) -> tuple[bool, int | None]:
        """The id of the one parent listed at ``path``, else None; first True where the
        request failed on a busy or broken answer and the target is kept aside to be walked
        again at the end, this asked first (``redo``: :class:`WalkAgain`).

        Why: a walk from a screen or project gives its images the parent's id in
        ``index.csv``; a plate or dataset given alone left it empty, so two harvests of one
        screen's plates could not be told apart or merged by screen. One small request per
        target. None when the server lists no parent or several (an object can be linked to
        more than one), or when the request fails for good: the images are harvested all
        the same. Why the second chance: one busy moment left the parent's id empty for
        good (the images are journaled with it), though every image was found.
        """
        try:
            body = await self._json(path)
        except FetchError as exc:
            if again is not None:
                again.failed = True  # (said: the images go on without it)
                logger.warning("%s is left empty in index.csv, asked twice: %s", what, exc)
            elif self.second_chance and isinstance(exc, TransientError):
                logger.debug("%s failed, walked again at the end: %s", what, exc)
                self._later.append(WalkAgain(what, False, redo))
                return True, None
            else:
                logger.info("no parent id for %s: %s", path, exc)
            return False, None
        ids = [o.get("@id") for o in _items(body, "data") if isinstance(o, dict)]
        return False, ids[0] if len(ids) == 1 and isinstance(ids[0], int) else None

    async def walk_ids_file(self, path: Path) -> None:
        """Ids from a file, in batches of 200 whose labels are fetched
        ``walk_concurrency`` batches at a time (so label latency overlaps the
        fetching); the file is streamed, never held whole. A shard batches its own ids."""
        slots = anyio.Semaphore(self.walk_concurrency)

        async def one(batch: list[int]) -> None:
            try:
                await self.walk_images(batch, names=False)
            finally:
                slots.release()

        skip = self.ids_skip
        async with anyio.create_task_group() as tg:
            batch: list[int] = []
            for image_id in read_ids_file(path):
                if self._out_of_shard(image_id):
                    # Batches hold this shard's ids only, so that N shards send one labels
                    # request per 200 of their own ids, not N for every 200 ids of the file.
                    continue
                if skip is not None and skip(image_id):
                    continue  # (after the shard's: each shard says its own ids left out)
                batch.append(image_id)
                if len(batch) >= urls.ANNOTATION_BATCH:
                    await slots.acquire()
                    tg.start_soon(one, batch)
                    batch = []
            if batch:
                await slots.acquire()
                tg.start_soon(one, batch)

    async def _limited(
        self,
        func: Callable[[int, int | None, str | None], Awaitable[None]],
        object_id: int,
        parent_id: int | None,
        name: str | None,
    ) -> None:
        async with self._limiter:
            await func(object_id, parent_id, name)

    async def say_empty_targets(self, targets: Mapping[str, Iterable[int]]) -> None:
        """One warning (``--quiet`` too) per target of ``targets`` (kind -> ids given) the
        walk listed whole and found no image in (:meth:`WalkStats.empty_targets`), with
        the other kind of that id where the server has one (:func:`_other_kind_hint`).

        Why: a dataset the server lists empty (its images deleted, or not shown to this
        user), or a dataset's id meant as its project's, ended in ``0 images found`` and
        exit 0, as if nothing were wrong: a first-time user could not tell a wrong id
        from an empty one."""
        server = redact_url(self.client.settings.base_url.partition("?")[0])
        for kind, object_id in self.stats.empty_targets(targets):
            holds = "lists no image"
            if kind in _CHILD_KIND:
                children = len(self.stats.children_listed[(kind, object_id)])
                child = _CHILD_KIND[kind]
                holds = "holds no image " + (
                    f"(it has no {child})"
                    if not children
                    else f"(its {plural(children, child)} list none)"
                    if children > 1
                    else f"(its one {child} lists none)"
                )
            logging.getLogger(PROBLEMS_LOGGER).warning(
                "%s %d %s on %s: nothing to harvest from it (empty, or its images are not "
                "shown to this user); check that it is the %s meant%s%s",
                KINDS[kind][1],
                object_id,
                holds,
                server,
                kind,
                _SEPARATE_IDS.get(kind, ""),
                await _other_kind_hint(self.client, kind, object_id, server),
            )

    # ------------------------------------------------------------ screens and plates
    async def walk_screen(self, screen_id: int, tg: anyio.abc.TaskGroup) -> None:
        """Screen -> plates (paged) -> one plate walk each, ``walk_concurrency`` at once."""
        await self._walk_parent(
            "screen",
            screen_id,
            "ScreenI",
            urls.screen(screen_id),
            "plates",
            lambda page: urls.screen_plates(screen_id, page),
            self.walk_plate,
            tg,
        )

    async def _walk_parent(
        self,
        kind: str,
        object_id: int,
        ann_class: str,
        object_path: str,
        children: str,
        children_page: Callable[[int], str],
        walk_child: Callable[[int, int | None, str | None], Awaitable[None]],
        tg: anyio.abc.TaskGroup,
        again: WalkAgain | None = None,
    ) -> None:
        """A screen or project: list its ``children`` (paged); save the object, its
        annotations and that list if wanted; then one ``walk_child`` each (limited).
        ``again``: its second walk (:class:`WalkAgain`); where the first listed the
        children (only the study files failed), they are not walked again.

        Once the children are listed, a failure of the study files (the object's map
        annotations, say) loses no image: the children are walked all the same, and the
        failure is ``study_only``. It used to end the walk of the whole screen or project
        there, every image under it unlisted for a file about the study."""
        items: list[Any] | None = None
        resaving = False  # (its claim on the re-save: given back if walked again)
        walked = again is not None and again.study_only  # (its children: by the first walk)
        try:
            items = await self._paged_webclient(children_page, children)
            save = self._wants(kind, object_id)
            if not save and self.study is not None:  # (else nothing to compare: no digest)
                save = resaving = await self._outdated(
                    kind, object_id, children, _digest(children, items)
                )
            if save:
                obj = await self._object(kind, object_id, object_path)
                _, annotations = await self._labels(kind, ann_class, [object_id])
                await self._save(
                    kind,
                    object_id,
                    {
                        f"{kind}.json": json_bytes(obj),
                        "annotations.json": json_bytes({"annotations": annotations}),
                        f"{children}.json": json_bytes({children: items}),
                    },
                )
        except FetchError as exc:
            args = (kind, object_id, ann_class, object_path, children, children_page, walk_child)
            kept = self._fail(
                f"{kind} {object_id}",
                exc,
                study_only=items is not None or walked,
                again=again,
                redo=lambda again, tg: self._walk_parent(*args, tg, again),
            )
            if kept and resaving:
                self._saving.discard((kind, object_id))
            if items is None:
                if not kept:
                    self._listed()
                return
        if walked:
            self._listed()
            return
        children_ids = sum(1 for child in items if isinstance(child.get("id"), int))
        self.listed.children(
            kind, object_id, frozenset(c["id"] for c in items if isinstance(c.get("id"), int))
        )
        self.stats.children_listed[(kind, object_id)] = tuple(
            c["id"] for c in items if isinstance(c.get("id"), int)
        )
        if kind == "screen":
            self.stats.plates_known += children_ids
        else:
            self.stats.datasets_known += children_ids
        self._listed()
        for child in items:
            if isinstance(child.get("id"), int):
                tg.start_soon(
                    self._limited,
                    walk_child,
                    child["id"],
                    object_id,
                    str(child.get("name", "")),
                )

    async def walk_plate(
        self,
        plate_id: int,
        screen_id: int | None,
        name: str | None,
        again: WalkAgain | None = None,
    ) -> None:
        """Every field of every well of one plate, from the JSON API wells. ``again``: its
        second walk (:class:`WalkAgain`), past the images its first one met."""
        if again is None:
            self.stats.plates += 1
        skip = 0 if again is None else again.met
        save = self._wants("plate", plate_id)
        listed = False  # every image of the plate emitted: a later failure loses none
        found = 0  # images the plate holds (every shard's), in the order met
        try:
            plate_obj, name = await self._named("plate", plate_id, urls.plate(plate_id), save, name)
            wells_all: list[Any] = []
            well_annotations: list[Any] = []
            max_fields = 0
            run_fields: dict[int, int] = {}  # run id -> fields per well (the most seen)
            offset = 0
            while True:
                body = await self._json(urls.plate_wells(plate_id, offset))
                wells = _items(body, "data")
                total = int((body.get("meta") or {}).get("totalCount", 0))
                well_ids = [w["@id"] for w in wells if isinstance(w.get("@id"), int)]
                first_image = {
                    w["@id"]: image_id
                    for w in wells
                    if isinstance(w.get("@id"), int)
                    and isinstance(image_id := self._label_image(w), int)
                }
                known = None if save else self._known_labels(list(first_image.values()))
                raw: list[Any] = []
                asked_page = False  # were this page's labels asked for (not taken as known)?
                if not (save or first_image):
                    # No image of this page is emitted (none, or none of this shard's):
                    # their labels are not needed, and the plate's files are not saved.
                    labels = {}
                elif known is not None:
                    labels = {well: known[image] for well, image in first_image.items()}
                elif well_ids:
                    # The study files need every well's annotations; a shard's images only
                    # their own wells' (a 64-shard walk asked for every well 64 times).
                    asked = well_ids if save else list(first_image)
                    labels, raw = await self._labels("well", "WellI", asked)
                    asked_page = True  # every well of an image emitted below was asked
                else:
                    labels, raw = {}, []
                if save:
                    wells_all.extend(wells)
                    well_annotations.extend(raw)
                for well in wells:
                    samples = well.get("WellSamples") or []
                    max_fields = max(max_fields, len(samples))
                    well_labels: Labels = tuple(labels.get(well.get("@id", -1), ()))
                    make = AskedRef if asked_page and isinstance(well.get("@id"), int) else ImageRef
                    run_first: dict[int, int] = {}  # run id -> its lowest WellSample index
                    for index, sample in enumerate(samples):
                        image = (sample or {}).get("Image") or {}
                        if not isinstance(image.get("@id"), int):
                            continue
                        found += 1
                        run = (sample.get("PlateAcquisition") or {}).get("@id")
                        # OMERO: within a run, a field counts from the run's first WellSample.
                        field_index = index
                        if isinstance(run, int):
                            field_index = index - run_first.setdefault(run, index)
                            run_fields[run] = max(run_fields.get(run, 0), field_index + 1)
                        if found <= skip and self._met_before(image["@id"]):
                            continue  # (met by its first walk: WalkAgain)
                        await self._emit(
                            make(
                                image_id=image["@id"],
                                image_name=str(image.get("Name", "")),
                                screen_id=screen_id,
                                plate_id=plate_id,
                                plate_name=name or "",
                                well_id=well.get("@id"),
                                well_row=well.get("Row"),
                                well_column=well.get("Column"),
                                field=field_index,
                                run_id=run if isinstance(run, int) else None,
                                labels=well_labels,
                            )
                        )
                offset += len(wells)
                self._listed()
                # totalCount is exact on OMERO; without it, a short page is the last one.
                if not wells or (offset >= total if total else len(wells) < urls.API_PAGE):
                    break
            listed = True
            self.listed.images("plate", screen_id, plate_id)
            self.stats.images_listed[("plate", plate_id)] = found
            if save:
                runs = await self._json(urls.plate_runs(plate_id))
                files = {
                    "plate.json": json_bytes(plate_obj),
                    "runs.json": json_bytes(runs),
                    "wells.json": json_bytes(
                        {"data": wells_all, "meta": {"totalCount": len(wells_all)}}
                    ),
                    "well-annotations.json": json_bytes({"annotations": well_annotations}),
                }
                if len(run_fields) > 1:  # one grid per run and field within the run
                    for run_id, count in sorted(run_fields.items()):
                        for field_index in range(count):
                            grid = await self._json(urls.plate_grid(plate_id, field_index, run_id))
                            files[f"grid-{run_id}-{field_index}.json"] = json_bytes(grid)
                else:
                    for field_index in range(max(max_fields, 1)):
                        grid = await self._json(urls.plate_grid(plate_id, field_index))
                        files[f"grid-{field_index}.json"] = json_bytes(grid)
                await self._save("plate", plate_id, files)
        except FetchError as exc:
            if self._fail(
                f"plate {plate_id}",
                exc,
                study_only=listed or (again is not None and again.study_only),
                again=again,
                redo=lambda again, _tg: self.walk_plate(plate_id, screen_id, name, again),
                met=found,
            ):
                return  # (listed once walked again)
        self.stats.plates_listed += 1
        self._listed()

    # ------------------------------------------------------------ projects and datasets
    async def walk_project(self, project_id: int, tg: anyio.abc.TaskGroup) -> None:
        """Project -> datasets (paged) -> one dataset walk each."""
        await self._walk_parent(
            "project",
            project_id,
            "ProjectI",
            urls.project(project_id),
            "datasets",
            lambda page: urls.project_datasets(project_id, page),
            self.walk_dataset,
            tg,
        )

    async def walk_dataset(
        self,
        dataset_id: int,
        project_id: int | None,
        name: str | None,
        again: WalkAgain | None = None,
    ) -> None:
        """Dataset -> images (paged by 500), labels from the images' map annotations.
        ``again``: its second walk (:class:`WalkAgain`), past the images its first one met."""
        if again is None:
            self.stats.datasets += 1
        skip = 0 if again is None else again.met
        save = self._wants("dataset", dataset_id)
        listed = False  # every image of the dataset emitted: a later failure loses none
        met = 0  # images sent or passed over, in the listing's order
        resaving = False  # (its claim on the re-save: given back if walked again)
        try:
            dataset_obj, name = await self._named(
                "dataset", dataset_id, urls.dataset(dataset_id), save, name
            )
            images_all: list[Any] = []
            annotations_all: list[Any] = []
            # A rerun's, to tell its saved listing's age; none where no study file is saved
            # (a shard but 0, a dry run): each hashed every listing it walked, for nothing.
            listing = (
                ListingDigest("images", hold=HELD_LISTING_BYTES)
                if self.study is not None and not save
                else None
            )
            found = 0  # images the dataset holds (every shard's)
            page = 1
            while True:
                body = await self._json(urls.dataset_images(dataset_id, page))
                chunk = _items(body, "images")
                if listing is not None:
                    listing.add(chunk)
                ids = [i["id"] for i in chunk if isinstance(i.get("id"), int)]
                found += len(ids)
                known = None if save else self._known_labels(ids)
                raw: list[Any] = []
                make: type[ImageRef] = ImageRef
                if known is not None:
                    labels = known
                elif ids:
                    # As for plates: all for the study files, else this shard's images only.
                    asked = ids if save else self._own(ids)
                    labels, raw = await self._labels("image", "ImageI", asked)
                    make = AskedRef  # every image emitted below was asked
                else:
                    labels, raw = {}, []
                if save:
                    images_all.extend(chunk)
                    annotations_all.extend(raw)
                for item in chunk:
                    if not isinstance(item.get("id"), int):
                        continue
                    met += 1
                    if met <= skip and self._met_before(item["id"]):
                        continue  # (met by its first walk: WalkAgain)
                    ref = make(
                        image_id=item["id"],
                        image_name=str(item.get("name", "")),
                        project_id=project_id,
                        dataset_id=dataset_id,
                        dataset_name=name or "",
                        labels=tuple(labels.get(item["id"], ())),
                    )
                    if self.filesets:
                        ref = _with_fileset(ref, item.get("filesetId"))
                    await self._emit(ref)
                self._listed()
                if len(chunk) < urls.WEBCLIENT_PAGE:
                    break
                page += 1
            self.listed.images("dataset", project_id, dataset_id)
            self.stats.images_listed[("dataset", dataset_id)] = found
            listed = True
            if listing is not None and await self._outdated(
                "dataset", dataset_id, "images", listing
            ):
                resaving = True
                await self._save(
                    "dataset",
                    dataset_id,
                    await self._dataset_files(dataset_id, dataset_obj, listing),
                )
            elif save:
                await self._save(
                    "dataset",
                    dataset_id,
                    {
                        "dataset.json": json_bytes(dataset_obj),
                        "images.json": json_bytes({"images": images_all}),
                        "image-annotations.json": json_bytes({"annotations": annotations_all}),
                    },
                )
        except FetchError as exc:
            if self._fail(
                f"dataset {dataset_id}",
                exc,
                study_only=listed or (again is not None and again.study_only),
                again=again,
                redo=lambda again, _tg: self.walk_dataset(dataset_id, project_id, name, again),
                met=met,
            ):
                if resaving:
                    self._saving.discard(("dataset", dataset_id))
                return  # (listed once walked again)
        self.stats.datasets_listed += 1
        self._listed()

    async def _dataset_files(
        self, dataset_id: int, obj: Any, listing: ListingDigest
    ) -> dict[str, bytes]:
        """A saved dataset's files made anew (:meth:`_outdated`), as a first harvest saves
        them: its object, its listing and its images' annotations.

        ``listing``: the walk's, whose pages make ``images.json`` where it held them (they
        are what its digest found outdated); else (a dataset past ``HELD_LISTING_BYTES``)
        the pages are asked again. The annotations are asked: the walk took its images'
        labels from the journal. ``obj``: the object the walk has (a ``--dataset``
        target's, its name unknown), else None: asked again, it was asked twice (the
        preflight check's was taken already)."""
        if obj is None:
            obj = await self._object("dataset", dataset_id, urls.dataset(dataset_id))
        images, ids = listing.file(), listing.ids
        if images is None:
            items = await self._paged_webclient(
                lambda page: urls.dataset_images(dataset_id, page), "images"
            )
            images, ids = json_bytes({"images": items}), [item.get("id") for item in items]
        return {
            "dataset.json": json_bytes(obj),
            "images.json": images,
            "image-annotations.json": json_bytes(
                {"annotations": await self._page_annotations(ids)}
            ),
        }

    async def _page_annotations(self, ids: list[Any]) -> list[Any]:
        """The map annotations of the images ``ids`` lists (the listing's, in its order),
        asked a listing page at a time as the walk of a dataset asks them.

        Why by page: the server orders a request's annotations by namespace, so batches
        cut elsewhere (200 ids at a time over the whole list) gave a file of the same
        annotations in another order than a first harvest's."""
        annotations: list[Any] = []
        for page in _chunks(ids, urls.WEBCLIENT_PAGE):  # (full pages but the last)
            asked = [i for i in page if isinstance(i, int)]
            if asked:
                annotations.extend((await self._labels("image", "ImageI", asked))[1])
        return annotations

    # ------------------------------------------------------------ single images
    async def walk_images(
        self, image_ids: Sequence[int], *, names: bool = True, again: WalkAgain | None = None
    ) -> None:
        """Single images: labels from their own map annotations; names from the
        preflight check when it fetched them (``--image``), else left empty.
        ``names=False``: an ids file's batch, whose ids nothing checked (``stats.unchecked``).
        Where their labels failed on a busy or broken answer, the images are sent once
        walked again at the end (``again``: that walk, :class:`WalkAgain`), with them."""
        todo = list(image_ids)
        if not todo:
            return
        # A shard asks for its own images' labels only (the others are dropped below):
        # ``--image`` ids are every shard's, as plate wells and dataset pages are.
        asked = self._own(todo)
        # The ids whose labels were asked for here (not taken from the journal): at most the
        # ids given, which are held already.
        fetched: set[int] = set()
        failed = False
        labels: dict[int, list[tuple[str, str]]] = {}
        try:
            for batch in _chunks(asked, urls.ANNOTATION_BATCH):
                known = self._known_labels(batch)
                if known is None:
                    known, _ = await self._labels("image", "ImageI", batch)
                    fetched.update(batch)
                labels.update(known)
        except FetchError as exc:
            failed = True
            if self._fail(
                f"{LABELS_OF}{plural(len(asked), 'image')}",
                exc,
                again=again,
                redo=lambda again, _tg: self.walk_images(todo, names=names, again=again),
            ):
                return  # (sent once walked again)
        for image_id in todo:
            name = ""
            # An ids file's id may hold the check's answer too: given as ``--image`` as
            # well, whose batch was kept aside to be walked again (:class:`WalkAgain`), it
            # is sent here first, named as that walk would have (it was sent nameless, and
            # counted as unchecked).
            cached = self._prefetched.pop(("image", image_id), None)
            if isinstance(cached, dict):
                name = str((cached.get("data") or {}).get("Name", ""))
            elif image_id in self._known:
                name = self._known[image_id].image_name
            make = AskedRef if image_id in fetched else ImageRef
            if failed and image_id not in fetched and image_id not in labels:
                make = UnaskedRef  # (journaled as not asked: the next run asks again)
            kept = self._labels_kept(image_id, labels, fetched)
            found = self.stats.images
            await self._emit(make(image_id=image_id, image_name=name, labels=kept))
            if not names and cached is None and self.stats.images > found:
                # (an ids file's, new: not checked)
                self.stats.unchecked += 1
        self._listed()  # (a batch of an ids file: once per 200 ids, not once an image)


#: Why an id may be right yet not found: OMERO numbers each object type on its own, so a
#: project's id given as a screen (or a screen's as a plate) names nothing or something else.
_SEPARATE_IDS = {
    "screen": " (screens and projects have separate ids)",
    "project": " (screens and projects have separate ids)",
    "plate": " (plates and screens have separate ids)",
    "dataset": " (datasets and projects have separate ids)",
    "image": " (images, plates and datasets have separate ids)",
}


#: Where else an id not found as one kind may be, asked in this order once it was not
#: found (a plate's id given as ``--screen``, found by a first-time user's walkthrough;
#: a plate's or dataset's id given as ``--image`` to get its images, or an image's id
#: given as ``--plate``, found by a later one: images are asked last, as the rarer slip).
#: A well's id, which the webclient shows beside a plate's fields, given as ``--plate``
#: or ``--image``, is asked after them: no flag takes a well, and "not found" was all
#: the hint said of one.
_OTHER_KINDS: dict[str, tuple[str, ...]] = {
    "screen": ("plate", "project", "image"),
    "project": ("dataset", "screen", "image"),
    "plate": ("screen", "dataset", "image", "well"),
    "dataset": ("project", "plate", "image"),
    "image": ("plate", "dataset", "screen", "project", "well"),
}


#: Where the id of a plate or dataset known by its name is found: the flags take ids, and
#: index.csv shows each name beside its id (on IDR many plates are named by a number).
_BY_ID = {
    kind: f"; {kind}s are given by id, not by name: a {kind}'s id is in index.csv's "
    f"{kind}_id column (beside {kind}_name), and in the webclient's link to it "
    f"(?show={kind}-ID)"
    for kind in ("plate", "dataset")
}


async def _given_as_name_hint(index: Path | None, kind: str, object_id: int, base_url: str) -> str:
    """``"; INDEX names plate 7361 '1977' (plates are given by id, not by name): --plate
    7361 if that is the one meant"`` when the run's ``index.csv`` gives a plate (dataset)
    the name ``object_id`` ("" for none), and DIR was harvested from ``base_url`` alone
    (:func:`harvester.index_names.index_of_server`: another server's plate 7361 is another
    plate). Read from disk, in a worker thread (a big index), only on the not-found path;
    no request."""
    if index is None or kind not in _BY_ID:
        return ""
    from harvester.index_names import ids_named_on

    ids = await anyio.to_thread.run_sync(ids_named_on, index, kind, str(object_id), base_url)
    if not ids:
        return ""
    named = f"{kind} {ids[0]}" if len(ids) == 1 else f"{kind}s {and_list(list(map(str, ids)))}"
    return (
        f"; {index} names {named} '{object_id}' ({kind}s are given by id, not by name): "
        f"{KINDS[kind][1]} {ids[0]} if that is the one meant"
    )


async def _other_kind_hint(client: Client, kind: str, object_id: int, server: str) -> str:
    """``"; URL has a plate 7375: --plate 7375 if that is the one meant"``, for the first
    other kind the server has an object of ``object_id`` of ("" for none, or asking failed).

    Why: "not found" was all a user who gave a plate's id as ``--screen`` learnt. Asked
    only on that error's path, one request a kind. Ids of different kinds collide on IDR
    (it has a screen, plate, project and dataset 51), so it is worded as a possibility.
    """
    paths = {
        "screen": urls.screen,
        "project": urls.project,
        "plate": urls.plate,
        "dataset": urls.dataset,
        "image": urls.image_metadata,
        "well": urls.well_plates,
    }
    for other in _OTHER_KINDS.get(kind, ()):
        try:
            fetched = await client.get(paths[other](object_id), Expect.JSON)
        except FetchError:
            continue
        if other == "well":
            return _well_hint(fetched, object_id, server)
        return (
            f"; {server} has {a_kind(other)} {object_id}: --{other} {object_id} "
            "if that is the one meant"
        )
    return ""


def _well_hint(fetched: Fetched, well_id: int, server: str) -> str:
    """``"; URL has a well 1474512 (of plate 7361), not a target harvester takes: ..."``
    from the well's plates listing; "" where it lists none (OMERO.web answers an unknown
    well's listing with an empty one, not a 404) or the answer is no such listing."""
    try:
        body = fetched.json()
    except ValueError:
        return ""
    plates = [p.get("@id") for p in _items(body if isinstance(body, dict) else {}, "data")]
    if len(plates) != 1 or not isinstance(plates[0], int):
        return ""
    return f"; {server} has a well {well_id} (of plate {plates[0]}), " + well_refusal(
        well_id, plates[0]
    )


#: OMERO.web's JSON API answer to a login-required view without a session (403): a
#: private server, not a private object.
NOT_LOGGED_IN = "Not logged in"


def _check_failed_hint(
    kind: str,
    object_id: int,
    server: str,
    status: int | None,
    *,
    sent: bool = False,
    reason: str = "",
) -> str:
    """The next step after a target's check failed otherwise than "not found" or "busy": a
    server error (5xx, or no answer) may pass (exit 2 all the same: said why), a refusal
    (403) is about access: whether it
    is public, or, with credentials ``sent``, whether they may see it; a server saying
    "Not logged in" to a run that sent none wants a session."""
    if status is None or status >= 500:
        # Exit 2 on purpose, not 75: a target the server fails on every time (a broken
        # plate) would keep a cron job that retries on 75 asking for ever. "Run again later"
        # beside exit 2 said the opposite; the hint says when running again helps.
        return (
            f"the server failed on {kind} {object_id} through the retries; if it failed for "
            f"a moment, run the same command again later; if {kind} {object_id} fails again, "
            f"check it on {server} or tell the server's administrators (exit 2, not 75 "
            f"'try again later': a {kind} that fails every time would keep a job that "
            f"retries on 75 asking for ever)"
        )
    if sent:
        return (
            f"the server refused {kind} {object_id}: check that the credentials given may "
            f"see it on {server} (a session key expires)"
        )
    if status == 403 and NOT_LOGGED_IN in reason:
        return (
            f"{server} wants a login (an OMERO.web without public data): give an OMERO "
            "session key as ?bsession=KEY at the end of --base-url, or in a config file "
            'as [cookies] sessionid = "KEY"'
        )
    return f"the server refused {kind} {object_id}: check that it is public on {server}"


async def preflight(
    client: Client,
    *,
    screens: Iterable[int] = (),
    projects: Iterable[int] = (),
    plates: Iterable[int] = (),
    datasets: Iterable[int] = (),
    images: Iterable[int] = (),
    answers: EarlyAnswers | None = None,
    watch: SessionWatch | None = None,
    index: Path | None = None,
) -> dict[tuple[str, int], Any]:
    """Check that every named target exists (one JSON API request each).

    An unknown id is a :class:`TargetNotFoundError` before anything is fetched; the
    bodies are returned so the walk does not ask again. ``answers``, when
    given, also holds each image's whole answer by request path: it is the
    image's metadata artifact, which the fetcher then stores without asking
    again (:attr:`harvester.fetch.Fetcher.early`). The checks run
    ``PREFLIGHT_CONCURRENCY`` at a time (a rerun naming 100 datasets would
    otherwise wait 100 round trips before starting); the error raised is
    the one of the first failing target in the order given, as before.
    ``watch``: a run's that sent credentials: a refusal that shows them ended raises
    :class:`~harvester.errors.SessionEndedError` (:func:`harvester.session.raise_if_ended`).
    ``index``: the run's ``DIR/index.csv``, where a plate or dataset not found may be the
    name of one (:func:`_given_as_name_hint`; only where DIR is of this server alone).
    """
    checks = (
        [("screen", i, urls.screen(i)) for i in screens]
        + [("project", i, urls.project(i)) for i in projects]
        + [("plate", i, urls.plate(i)) for i in plates]
        + [("dataset", i, urls.dataset(i)) for i in datasets]
        + [("image", i, urls.image_metadata(i)) for i in images]
    )
    outcomes: list[Fetched | FetchError | None] = [None] * len(checks)
    limiter = anyio.CapacityLimiter(PREFLIGHT_CONCURRENCY)

    async def check(n: int, path: str) -> None:
        async with limiter:
            try:
                outcomes[n] = await client.get(path, Expect.JSON)
            except FetchError as exc:
                outcomes[n] = exc

    async with anyio.create_task_group() as tg:
        for n, (_, _, path) in enumerate(checks):
            tg.start_soon(check, n, path)
    found: dict[tuple[str, int], Any] = {}
    settings = client.settings
    server = redact_url(settings.base_url.partition("?")[0])
    # A private OMERO.web answers an object the session may not see as it answers an
    # unknown id (404, or 403): with credentials sent, they are the other thing to check.
    sent = bool(settings.headers or settings.cookies) or url_holds_secret(settings.base_url)
    for (kind, object_id, path), outcome in zip(checks, outcomes, strict=True):
        if isinstance(outcome, PermanentError) and outcome.status == 404:
            also = ", and that the credentials given may see it (a session key expires)"
            raise TargetNotFoundError(
                f"{kind} {object_id} not found on the server",
                hint=f"check the {kind} id on {server}{_SEPARATE_IDS.get(kind, '')}"
                + (also if sent else "")
                + (
                    await _given_as_name_hint(index, kind, object_id, settings.base_url)
                    or await _other_kind_hint(client, kind, object_id, server)
                    or _BY_ID.get(kind, "")
                ),
            ) from None
        if isinstance(outcome, FetchError):
            if watch is not None:  # (its module only on this error path of a private run)
                from harvester.session import raise_if_ended

                await raise_if_ended(watch, outcome)
            # Busy after the retries (a maintenance window that began after the check at
            # start): "try again later", exit 75, as the check at start says it.
            busy = unavailable(
                server,
                outcome,
                f" (asked for {kind} {object_id})",
                honoured=client.retry.max_retry_after,
            )
            if busy is not None:
                raise busy
            if outcome.hint is None:
                # Any other failure (a 500 through the retries, a 403) was a bare "error:
                # HTTP 500 ...: URL", exit 2, with no next step.
                outcome.hint = _check_failed_hint(
                    kind, object_id, server, outcome.status, sent=sent, reason=outcome.reason
                )
            raise outcome
        assert outcome is not None
        found[(kind, object_id)] = outcome.json()
        if answers is not None and kind == "image":
            answers.hold(path, outcome)
    return found
