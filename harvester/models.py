"""Values shared across the harvester: what is fetched, and for which image.

Everything here is a small immutable value with no I/O, so that the walker,
the fetchers, the store, the planner and the index can pass them around and
serialise them to journals and plans without knowing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from operator import attrgetter, itemgetter
from typing import Any


class Artifact(StrEnum):
    """Per-image files the harvester can fetch (``--artifacts``)."""

    THUMBNAIL = "thumbnail"
    IMGDATA = "imgdata"
    RENDER = "render"
    METADATA = "metadata"
    STACK = "stack"
    #: The image's regions of interest (the JSON API's ``rois/`` listing, every page):
    #: opt-in (``--artifacts rois`` or ``all``), not among the defaults.
    ROIS = "rois"
    #: Where the image's original files are (``webgateway/original_file_paths/``): opt-in,
    #: as it says nothing about the pixels served (see :mod:`harvester.originals`).
    PATHS = "paths"


DEFAULT_ARTIFACTS: tuple[Artifact, ...] = (
    Artifact.THUMBNAIL,
    Artifact.IMGDATA,
    Artifact.RENDER,
    Artifact.METADATA,
)


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image to harvest, with the context the walk found it in.

    The context (screen, plate, well, field, project, dataset) and the map
    annotation ``labels`` of its well or image go into ``index.csv``; they are
    journaled once per image so that the index can be rebuilt from journals
    alone. ``labels`` keeps OMERO's ordered key/value pairs, duplicates included.
    """

    image_id: int
    image_name: str = ""
    screen_id: int | None = None
    plate_id: int | None = None
    plate_name: str = ""
    well_id: int | None = None
    well_row: int | None = None
    well_column: int | None = None
    field: int | None = None
    run_id: int | None = None
    project_id: int | None = None
    dataset_id: int | None = None
    dataset_name: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (labels as lists of pairs)."""
        # Built by hand rather than with dataclasses.asdict, which deep-copies:
        # this runs once per image on the hot path.
        data: dict[str, Any] = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["labels"] = [list(pair) for pair in self.labels]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], shared: dict[Any, Any] | None = None) -> ImageRef:
        """Inverse of :meth:`to_json`; unknown keys are ignored for forward compatibility.

        Runs once per image record when journals are loaded, so a record with every field
        (what :meth:`to_json` writes) is built positionally in one step; one with keys missing
        (an older or hand-written record) takes the slower path that leaves them at defaults.
        ``shared``: a dict through which refs with equal labels share one labels tuple (the
        fields of a well, the images of a gene): for 100,000 images of a study that is some
        700,000 fewer objects to keep and for the garbage collector to walk. Labels tuples
        met for the first time share their pairs through it too (a study's keys, a gene's
        pairs), and refs share the values of their study context (screen, plate, project,
        dataset: ids and names) where they are equal, each ~30-60 bytes an image otherwise.
        """
        labels = data.get("labels")
        pairs = tuple(map(tuple, labels)) if labels else ()
        if shared is not None and pairs:
            try:  # noqa: SIM105 - once per image: a try costs less than contextlib.suppress
                pairs = _shared_labels(pairs, shared)
            except TypeError:  # a value that is not a string (not written by to_json)
                pass
        try:
            scalars: tuple[Any, ...] = _SCALARS_OF(data)
        except KeyError:
            known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
            known["labels"] = pairs
            return cls(**known)
        if shared is not None:
            scalars = _shared_context(scalars, shared)
        make: Any = cls  # positional, in field order: mypy cannot count a starred tuple
        return make(*scalars, pairs)  # type: ignore[no-any-return]


# Every field of ImageRef but the last (labels), in declaration order, read from a JSON dict.
_SCALARS_OF = itemgetter(*tuple(ImageRef.__dataclass_fields__)[:-1])
assert tuple(ImageRef.__dataclass_fields__)[-1] == "labels"
assert tuple(ImageRef.__dataclass_fields__)[:5] == (
    "image_id", "image_name", "screen_id", "plate_id", "plate_name"
) and tuple(ImageRef.__dataclass_fields__)[10:13] == (
    "project_id", "dataset_id", "dataset_name"
)  # fmt: skip


def _shared_labels(pairs: tuple[Any, ...], shared: dict[Any, Any]) -> tuple[Any, ...]:
    """The labels tuple equal to ``pairs`` kept in ``shared``; where there is none yet, one
    made of the pairs kept there (and of the keys and values kept there, each pair new
    to it), kept for the next (TypeError: a part that is not hashable)."""
    found = shared.get(pairs)
    if found is None:
        found = tuple([shared.get(pair) or _shared_pair(pair, shared) for pair in pairs])
        shared[found] = found
    return found


def _shared_pair(pair: tuple[Any, ...], shared: dict[Any, Any]) -> tuple[Any, ...]:
    """``pair`` made of the strings kept in ``shared`` (else its own), and kept there; a
    pair of anything but two strings is its own (``(True, "a") == (1, "a")``)."""
    if len(pair) != 2 or type(pair[0]) is not str or type(pair[1]) is not str:
        return pair
    key, value = pair
    pair = (shared.setdefault(key, key), shared.setdefault(value, value))
    shared[pair] = pair
    return pair


def _shared_context(scalars: tuple[Any, ...], shared: dict[Any, Any]) -> tuple[Any, ...]:
    """``scalars`` (:data:`_SCALARS_OF`) with their screen, plate, project and dataset ids and
    names taken from ``shared`` where an equal value is there already (else put there).

    Ints and strings only: a bool or a float equal to an int (``True == 1``) would come back
    as that int, of another type than it was written. Once per image of every load: no
    loop, no call but the dict's."""
    (image_id, name, screen, plate, plate_name, well, row, column, field_, run, project,
     dataset, dataset_name) = scalars  # fmt: skip
    share = shared.setdefault
    if type(screen) is int:
        screen = share(screen, screen)
    if type(plate) is int:
        plate = share(plate, plate)
    if type(plate_name) is str and plate_name:
        plate_name = share(plate_name, plate_name)
    if type(project) is int:
        project = share(project, project)
    if type(dataset) is int:
        dataset = share(dataset, dataset)
    if type(dataset_name) is str and dataset_name:
        dataset_name = share(dataset_name, dataset_name)
    return (image_id, name, screen, plate, plate_name, well, row, column, field_, run, project,
            dataset, dataset_name)  # fmt: skip


class FilesetRef(ImageRef):
    """An :class:`ImageRef` whose fileset the walk's listing named (``filesetId`` of
    ``webclient/api/images/``), so that the images of one fileset need ask its list of
    original files once (``paths``: :class:`harvester.fetch.Fetcher`).

    Not a field: it rides on the queued item only, never journaled, and compares and hashes
    equal to the plain ref with the same values (the journal's, a plan's), as
    :class:`harvester.walk.AskedRef` does.
    """

    __slots__ = ("fileset_id",)
    fileset_id: int | None

    def __init__(self, *args: Any, fileset_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "fileset_id", fileset_id)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ImageRef):
            return bool(FIELD_VALUES(self) == FIELD_VALUES(other))
        return NotImplemented

    __hash__ = ImageRef.__hash__


#: Every field of an ImageRef, in declaration order, labels included: what a ref carrying a
#: fact beside its fields compares (FilesetRef, :class:`harvester.walk.AskedRef`).
FIELD_VALUES = attrgetter(*ImageRef.__dataclass_fields__)


def fileset_of(ref: ImageRef) -> int | None:
    """The fileset the walk's listing named for the image (None: not named, or given by id)."""
    fileset = getattr(ref, "fileset_id", None)
    return fileset if type(fileset) is int else None


def has_context(ref: ImageRef) -> bool:
    """Does ``ref`` place its image in a screen, plate, well, project or dataset?

    A walk from a screen, plate, project or dataset always does; an image given by id
    (``--ids-from``, ``--image``) does not until its imgData ``meta`` completed it
    (:func:`with_meta`). Only refs without context are completed from imgData or take the
    context journaled for them (:func:`with_context_of`), so a walk's context always wins.
    """
    # Once per image of every run: attributes, not a loop over field names.
    return not (
        ref.dataset_id is None
        and ref.plate_id is None
        and ref.well_id is None
        and ref.project_id is None
        and ref.screen_id is None
    )


#: Every field of ImageRef but its labels, read from a ref in one call.
_FIELDS_OF = attrgetter(*tuple(ImageRef.__dataclass_fields__)[:-1])


def with_context_of(ref: ImageRef, journaled: ImageRef) -> ImageRef:
    """``ref`` (an image given by id) with the empty fields the journal filled for it.

    Why: an id carries no context, so each run finds the image anew without the name,
    well or dataset an earlier run journaled (from a walk or from imgData); journaling
    that bare ref again would erase them from index.csv, and cost a journal line a run.
    ``ref``'s labels (what this run decided), its class and its non-empty fields stay.
    """
    # Once per image of a rerun by id: one tuple each, no dataclasses.replace (5x slower).
    mine: tuple[Any, ...] = _FIELDS_OF(ref)
    theirs: tuple[Any, ...] = _FIELDS_OF(journaled)
    if mine == theirs:
        return ref
    merged = [
        own if (own is not None and own != "") or other is None or other == "" else other
        for own, other in zip(mine, theirs, strict=True)
    ]  # (a well_row of 0 is row A: a value, not empty)
    if type(ref) is type(journaled) and ref.labels == journaled.labels and tuple(merged) == theirs:
        return journaled  # a rerun's usual case, without making a ref (frozen: slow to make)
    make: Any = type(ref)  # positional, in field order (as ImageRef.from_json)
    return make(*merged, ref.labels)  # type: ignore[no-any-return]


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def with_meta(ref: ImageRef, meta: Any) -> ImageRef:
    """``ref`` with its empty context fields filled from imgData's ``meta`` (``ref`` if none).

    imgData's ``meta`` (OMERO.web's imageMarshal) names the image, its well (``wellId``: an
    int for HCS images, else ``""``) and its dataset and project where there is exactly one
    (else ``datasetId``/``projectId`` null and the name ``"Multiple"``): what index.csv shows
    of an image given by id, which no walk placed. Only empty fields are filled, and only
    from values of the right type (a dataset's name only with its int id), so a walk's
    context is never overwritten and a malformed ``meta`` adds nothing. The class of
    ``ref`` is kept (the walker's ``AskedRef``).
    """
    if not isinstance(meta, dict):
        return ref
    changes: dict[str, Any] = {}
    name = meta.get("imageName")
    if not ref.image_name and isinstance(name, str) and name:
        changes["image_name"] = name
    if ref.well_id is None and (well_id := _int(meta.get("wellId"))) is not None:
        changes["well_id"] = well_id
    if ref.dataset_id is None and (dataset_id := _int(meta.get("datasetId"))) is not None:
        changes["dataset_id"] = dataset_id
        dataset_name = meta.get("datasetName")
        if not ref.dataset_name and isinstance(dataset_name, str):
            changes["dataset_name"] = dataset_name
    if ref.project_id is None and (project_id := _int(meta.get("projectId"))) is not None:
        changes["project_id"] = project_id
    return replace(ref, **changes) if changes else ref


def _parents(ref: ImageRef) -> tuple[Any, ...]:
    """The dataset, project and screen of ``ref``, as :func:`placed_before` orders them:
    each by id, a known one before none."""
    return (
        ref.dataset_id is None,
        ref.dataset_id or 0,
        ref.project_id is None,
        ref.project_id or 0,
        ref.screen_id is None,
        ref.screen_id or 0,
    )


def placed_before(ref: ImageRef, other: ImageRef) -> bool:
    """Is ``ref`` (an image's context) the one to index rather than ``other`` (the same
    image's, under another dataset, project or screen)?

    Why: OMERO's links are many-to-many (an image in two datasets, a dataset in two
    projects, a plate in two screens), and a concurrent walk meets such an image under
    whichever parent it reaches first. The lowest dataset id, then project id, then screen
    id (a known one before none) is the same choice whatever that order, in every shard
    and on every resume. False for the same parents (then the newer context is kept).
    """
    return _parents(ref) < _parents(other)


def placed_as(ref: ImageRef, journaled: ImageRef | None) -> ImageRef:
    """``ref`` as it is to be journaled: in ``journaled``'s context (with ``ref``'s labels
    and class) where that one is :func:`placed_before` it, else ``ref`` itself."""
    if journaled is None or not has_context(ref) or not placed_before(journaled, ref):
        return ref
    make: Any = type(ref)  # positional, in field order (as ImageRef.from_json)
    return make(*_FIELDS_OF(journaled), ref.labels)  # type: ignore[no-any-return]


def keep_placed_first(kept: dict[int, ImageRef], ref: ImageRef) -> None:
    """Keep ``ref`` in ``kept`` (by image id) unless the context kept for its image is
    :func:`placed_before` it: of an image met under several parents, one context, the one
    indexed (a harvest's and a plan's walk both collect them so)."""
    held = kept.get(ref.image_id)
    if held is None or placed_before(ref, held):
        kept[ref.image_id] = ref
