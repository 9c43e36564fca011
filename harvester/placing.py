"""Where an image is indexed when a walk meets it under several parents, or finds it moved.

OMERO's links are many-to-many (an image in two datasets, a dataset in two projects, a plate
in two screens), and images move between datasets. index.csv gives each image one row: the
lowest dataset id, then project id, then screen id its walks found it under
(:func:`~harvester.models.placed_before`). A journaled place that ranks first stands while
no walk refutes it; a run that listed that place whole and did not find the image there
knows it moved (:meth:`Listed.left`), and then the place it found is the truth.

:class:`Listed` is what a walk listed whole (the walker fills it; a plan keeps it for the
harvests run from it). :class:`Placing` is a harvest's bookkeeping of the images it met
again or whose journaled place it kept back, bounded: the harvest journals what it can
decide every :data:`PLACING_BATCH` such images (:meth:`Placing.due`), not only at its end.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from harvester.models import ImageRef, has_context, keep_placed_first, placed_as, placed_before

#: Images met again (or kept back) a harvest holds before it journals those it can decide:
#: each costs some 400 bytes, so the bound is a few MB however many images are shared.
PLACING_BATCH = 10_000

_Pair = tuple[int | None, int]


class IdSet(Protocol):
    """A set of image ids: a ``set``, or the walker's bitmap (``walk.SeenIds``)."""

    def add(self, image_id: int, /) -> Any: ...

    def __contains__(self, image_id: int, /) -> bool: ...


class Listed:
    """The places a walk listed whole: a dataset's or plate's every image (under the
    project or screen it was walked from), a project's or screen's every child.

    Only listings that ended are here (a failed one refutes nothing); a few entries per
    dataset or plate, so a study of 100,000 datasets costs a few MB.
    """

    def __init__(self) -> None:
        self._images_of: dict[str, set[_Pair]] = {"dataset": set(), "plate": set()}
        self._containers: dict[str, set[int]] = {"dataset": set(), "plate": set()}
        self._children: dict[str, dict[int, frozenset[int]]] = {"project": {}, "screen": {}}

    def images(self, kind: str, parent_id: int | None, object_id: int) -> None:
        """Every image of dataset (``kind``) or plate ``object_id`` was listed, walked
        from ``parent_id`` (its project or screen; None: walked as a target alone)."""
        self._images_of[kind].add((parent_id, object_id))
        self._containers[kind].add(object_id)

    def children(self, kind: str, object_id: int, child_ids: frozenset[int]) -> None:
        """Every child of project or screen (``kind``) ``object_id`` was listed."""
        self._children[kind][object_id] = child_ids

    def holds_place(self, journaled: ImageRef) -> bool:
        """Did this walk list every image of ``journaled``'s dataset or plate? Then an
        image it did not meet anywhere is no longer listed by the server
        (:func:`harvester.changes.no_longer_listed`)."""
        return (
            journaled.dataset_id is not None and journaled.dataset_id in self._containers["dataset"]
        ) or (journaled.plate_id is not None and journaled.plate_id in self._containers["plate"])

    def left(self, journaled: ImageRef, found: ImageRef) -> bool:
        """Did this walk list ``journaled``'s place whole, and so would have met the image
        there? Asked only where ``journaled`` ranks before ``found`` (this walk's first
        place for it): then the walk did not meet it there, and it has left that place
        (moved on the server). False for a place the walk did not list (a narrower
        target, a failed listing): the journal's place stands."""
        return self._left(
            "dataset", "project", journaled.project_id, journaled.dataset_id, found.dataset_id
        ) or self._left("plate", "screen", journaled.screen_id, journaled.plate_id, found.plate_id)

    def _left(
        self, kind: str, parent: str, parent_id: int | None, object_id: int | None, now: int | None
    ) -> bool:
        if object_id is None:
            return False
        if object_id in self._containers[kind] and now != object_id:
            return True  # its dataset (plate) listed whole without it
        held = self._children[parent].get(parent_id) if parent_id is not None else None
        if held is None:
            return False
        # The parent listed whole: without that child, or with it, listed whole under it.
        return object_id not in held or (parent_id, object_id) in self._images_of[kind]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (a plan keeps it, for the harvests run from it)."""
        return {
            "images": {
                kind: [list(pair) for pair in sorted(held, key=_pair_key)]
                for kind, held in self._images_of.items()
            },
            "children": {
                kind: {str(k): sorted(v) for k, v in sorted(held.items())}
                for kind, held in self._children.items()
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> Listed:
        """Inverse of :meth:`to_json`; anything malformed (a plan of an older harvester,
        or edited) is left out: the journal's places then stand, as before."""
        listed = cls()
        if not isinstance(data, Mapping):
            return listed
        for kind, parent_id, object_id in _pairs(data.get("images")):
            listed.images(kind, parent_id, object_id)
        children = data.get("children")
        for kind in ("project", "screen"):
            held = children.get(kind) if isinstance(children, Mapping) else None
            for key, ids in held.items() if isinstance(held, Mapping) else ():
                if str(key).isdigit() and isinstance(ids, list):
                    kids = frozenset(i for i in ids if type(i) is int)
                    listed.children(kind, int(key), kids)
        return listed


def _pair_key(pair: _Pair) -> tuple[int, int]:
    return (-1 if pair[0] is None else pair[0], pair[1])


def _pairs(data: Any) -> Iterator[tuple[str, int | None, int]]:
    """The (kind, parent id, object id) of :meth:`Listed.to_json`'s ``images``."""
    if not isinstance(data, Mapping):
        return
    for kind in ("dataset", "plate"):
        pairs = data.get(kind)
        for pair in pairs if isinstance(pairs, list) else ():
            if (
                isinstance(pair, list)
                and len(pair) == 2
                and (pair[0] is None or type(pair[0]) is int)
                and type(pair[1]) is int
            ):
                yield kind, pair[0], pair[1]


class Placing:
    """A harvest's choice of each image's place, and the images it has yet to place.

    The walk queues an image once, under the parent it reaches first; its worker journals
    it (:meth:`place`); the walk tells of each later meeting (:meth:`met_again`). An image
    whose journaled place ranks first while the walk has not listed that place yet is
    kept there for now (*kept back*): the walk may still list it (then the image moved)
    or not (a narrower target: the place stands). Those met again and kept back are
    held, one best place each, until :meth:`decide` can tell (their worker's record
    journaled, the walk over or the journaled place listed), which the harvest asks every
    :data:`PLACING_BATCH` of them (:attr:`due`) and at its end.

    ``listed``: the walk's (filled as it goes), or a plan's (whole: ``final``). ``settled``:
    where to mark the images journaled in a place this run met, one per image of the run
    (a harvest passes the walker's bitmap kind: 2 MB for IDR's ids; a ``set`` by default).
    """

    def __init__(
        self,
        listed: Listed,
        *,
        final: bool = False,
        batch: int = PLACING_BATCH,
        settled: IdSet | None = None,
    ) -> None:
        self.listed = listed
        #: The walk is over (or was a plan's): every place it lists, it has listed.
        self.final = final
        self._batch = batch
        self._due_at = batch
        #: This run's best place so far of each image met again or kept back.
        self._held: dict[int, ImageRef] = {}
        #: Images kept back (their journaled place stands for now, see above).
        self._kept: set[int] = set()
        #: Images whose journal record is a place this run met (its worker's decision).
        self._settled: IdSet = set() if settled is None else settled

    def __len__(self) -> int:
        """Images held (met again or kept back, not told yet)."""
        return len(self._held)

    @property
    def due(self) -> bool:
        """Enough images held that the harvest should journal those it can decide now."""
        return len(self._held) >= self._due_at

    def settled(self, image_id: int) -> None:
        """Its worker found the image where the journal has it (nothing to journal)."""
        self._settled.add(image_id)
        if self._kept:
            self._kept.discard(image_id)

    def met_again(self, ref: ImageRef) -> None:
        """The walk met ``ref``'s image again, under another parent."""
        keep_placed_first(self._held, ref)

    def place(self, ref: ImageRef, journaled: ImageRef | None) -> ImageRef:
        """``ref`` (its worker's: this run's first place of the image) as it is to be
        journaled now: in ``journaled``'s place where that ranks first and this run has
        not seen the image leave it (kept back until :meth:`decide` can tell), else
        ``ref`` itself. Marks the image as its worker's (:meth:`ready` for decide)."""
        image_id = ref.image_id
        if journaled is not None and has_context(ref) and image_id in self._held:
            keep_placed_first(self._held, ref)  # met again before its worker took it
        placed = self.peek(ref, journaled)
        if placed is ref:  # this run's place (a better one held is decide()'s), or moved
            self.settled(image_id)
        elif not self.final or image_id in self._held:
            keep_placed_first(self._held, ref)
            self._kept.add(image_id)
        return placed

    def peek(self, ref: ImageRef, journaled: ImageRef | None) -> ImageRef:
        """What :meth:`place` would journal for ``ref`` now, marking nothing: for a record
        made ahead of the image's worker (a sample journaled whole once chosen), which
        then places it itself.

        Why not :meth:`place` there: marked, the image was ready for :meth:`decide` before
        its worker came; decided and forgotten, it was placed by its worker as if this walk
        had never met it in the journal's place (held no more), so that place, listed
        whole, was taken as left: an image of a dataset in two projects went to the
        higher project's row."""
        if journaled is None or not has_context(ref):
            return ref
        held = self._held.get(ref.image_id)
        found = ref if held is None or placed_before(ref, held) else held
        if not placed_before(journaled, ref) or (
            placed_before(journaled, found) and self.listed.left(journaled, found)
        ):
            return ref
        return placed_as(ref, journaled)

    def ready(self) -> list[int]:
        """The held images whose worker has journaled them: :meth:`decide` may tell
        those once their records are committed (taken before the store's flush, so
        that a record queued after it is never read as missing)."""
        settled, kept = self._settled, self._kept
        return [i for i in self._held if i in kept or i in settled]

    def decide(
        self, records: Mapping[int, ImageRef], image_ids: list[int] | None = None
    ) -> Iterator[tuple[ImageRef, ImageRef]]:
        """Yield ``(place, journaled)`` for each of ``image_ids`` (from :meth:`ready`)
        whose place can be told now and differs from its record in ``records`` (the
        journal, every record of those images committed), and forget it. None: the walk
        and the workers are over, and every held image is told (one no worker took, as
        not selected, by the plain rule: the lowest place of this run's and the
        journal's)."""
        last = image_ids is None
        for image_id in list(self._held) if image_ids is None else image_ids:
            best = self._held.get(image_id)
            if best is None:
                continue
            journaled = records.get(image_id)
            if journaled is None:  # (no record: not selected, or gone)
                if last or image_id in self._settled:
                    self._drop(image_id)
                continue
            placed: ImageRef | None = None
            if image_id in self._kept:
                if placed_before(best, journaled):
                    placed = best  # met under a place that ranks first: no doubt left
                elif self.final or self.listed.left(journaled, best):
                    moved = placed_before(journaled, best) and self.listed.left(journaled, best)
                    placed = best if moved else journaled
                if placed is not None:
                    self.settled(image_id)
            elif last or image_id in self._settled:
                placed = best if placed_before(best, journaled) else journaled
            if placed is None:
                continue  # kept back, its place not listed yet
            self._drop(image_id)
            if placed is not journaled:
                yield placed, journaled
        self._due_at = len(self._held) + self._batch

    def _drop(self, image_id: int) -> None:
        del self._held[image_id]
        self._kept.discard(image_id)
