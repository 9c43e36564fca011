"""Values shared across the harvester: what is fetched, and for which image.

Everything here is a small immutable value with no I/O, so that the walker,
the fetchers, the store, the planner and the index can pass them around and
serialise them to journals and plans without knowing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from operator import itemgetter
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
        700,000 fewer objects to keep and for the garbage collector to walk.
        """
        labels = data.get("labels")
        pairs = tuple(map(tuple, labels)) if labels else ()
        if shared is not None and pairs:
            try:  # noqa: SIM105 - once per image: a try costs less than contextlib.suppress
                pairs = shared.setdefault(pairs, pairs)
            except TypeError:  # a value that is not a string (not written by to_json)
                pass
        try:
            scalars: tuple[Any, ...] = _SCALARS_OF(data)
        except KeyError:
            known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
            known["labels"] = pairs
            return cls(**known)
        make: Any = cls  # positional, in field order: mypy cannot count a starred tuple
        return make(*scalars, pairs)  # type: ignore[no-any-return]


# Every field of ImageRef but the last (labels), in declaration order, read from a JSON dict.
_SCALARS_OF = itemgetter(*tuple(ImageRef.__dataclass_fields__)[:-1])
assert tuple(ImageRef.__dataclass_fields__)[-1] == "labels"
