"""What changed on the server since DIR's earlier runs, as one rerun saw it.

A nightly job re-harvesting a folder wants one line saying what the study did since the
last night: images new to DIR, images the server no longer lists, labels edited by a
curator, images renamed or moved. The run knows each from what it journals: an image record
written where the journal had none is new, one written over a record of other labels was
relabelled (``--refresh-labels``), over another name or place was renamed or moved; an
image journaled in a dataset or plate this walk listed whole, and that the walk did not
meet anywhere, is no longer listed. Why here and not in ``status``: the journals keep only
each image's latest record, so the run that writes it is the one that can tell.

Nothing is removed for an image no longer listed (a mirror keeps what it fetched: the
server may list it again, or have hidden it by mistake); the line names its ids, so that
whoever reads the log can decide.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harvester.models import ImageRef, placed_before
from harvester.placing import IdSet
from harvester.text import plural
from harvester.walk import SeenIds

#: How many ids of images no longer listed the line names before "and N more".
SHOWN_IDS = 10

#: The fields of a record that are an image's name or place (not its labels).
_PLACE_FIELDS = tuple(f for f in ImageRef.__dataclass_fields__ if f not in ("image_id", "labels"))


@dataclass
class Changes:
    """Counts of the changes a run journaled (:meth:`saw`) and the images it found
    no longer listed (:attr:`unlisted`)."""

    #: DIR journaled images before this run, and the last walk of these targets (and
    #: selection) listed everything: only then is "new" news (a first run's every image is
    #: new; a resume's after a walk cut short, or of another --where, is no server change).
    had_images: bool = False
    new: int = 0
    relabelled: int = 0
    renamed: int = 0
    #: Images placed now under a parent that ranks before their journaled one
    #: (:func:`~harvester.models.placed_before`: an image in two datasets, a dataset in two
    #: projects): news (linked there since) only where "new" is (:attr:`had_images`); a
    #: walk of other targets meets parents the last one did not, which changed nothing.
    replaced: int = 0
    unlisted: list[int] = field(default_factory=list)
    #: The images this run journaled: a second record of one (its place decided once the
    #: walk met it under another parent) is this run's own doing, no change on the server.
    recorded: SeenIds = field(default_factory=SeenIds)

    def saw(self, journaled: ImageRef | None, ref: ImageRef, *, unasked: bool = False) -> None:
        """Count the record of ``ref`` written over ``journaled`` (None: no record yet);
        ``unasked``: ``journaled``'s labels were never asked (a ``--no-labels`` run's), so
        labels found now are no edit."""
        if not self.recorded.add(ref.image_id):
            return
        if journaled is None:
            self.new += 1
            return
        if journaled.labels != ref.labels and not unasked:
            self.relabelled += 1
        if any(_changed(getattr(journaled, f), getattr(ref, f)) for f in _PLACE_FIELDS):
            if placed_before(ref, journaled):
                self.replaced += 1
            else:  # renamed in its place, or moved away (the walk found its place without it)
                self.renamed += 1

    def line(self) -> str:
        """The summary's line, or "" when nothing changed (or on a first run)."""
        parts = []
        if self.new and self.had_images:
            parts.append(f"{plural(self.new, 'image')} new to the folder")
        if self.unlisted:
            parts.append(unlisted_text(self.unlisted))
        if self.relabelled:
            parts.append(f"labels changed on {plural(self.relabelled, 'image')}")
        renamed = self.renamed + (self.replaced if self.had_images else 0)
        if renamed:
            parts.append(f"{plural(renamed, 'image')} renamed or moved")
        return f"changes on the server since the last run: {'; '.join(parts)}" if parts else ""


def _changed(before: object, now: object) -> bool:
    """Did a name or place field change on the server? Only where both records knew it: an
    image given by id (``--image``) is journaled by id alone until its imgData or a walk
    tells its name and place, and learning them is no rename (it said "1 image renamed or
    moved" of an image nobody touched); a run that knows less (no imgData) neither."""
    unknown = (None, "")
    return before not in unknown and now not in unknown and before != now


def unlisted_text(image_ids: list[int]) -> str:
    """``2 images no longer listed by the server (files and index rows kept): 5, 7``."""
    shown = ", ".join(str(i) for i in image_ids[:SHOWN_IDS])
    more = len(image_ids) - SHOWN_IDS
    rest = f" and {more} more" if more > 0 else ""
    return (
        f"{plural(len(image_ids), 'image')} no longer listed by the server "
        f"(files and index rows kept): {shown}{rest}"
    )


def no_longer_listed(
    images: Mapping[int, ImageRef],
    sent: IdSet,
    listed_whole: Callable[[ImageRef], bool],
    skip: Container[int] = frozenset(),
) -> list[int]:
    """Ids of the journaled ``images`` whose place (dataset or plate) this walk listed
    whole (``listed_whole``) and which it did not send (``sent``) from anywhere, ascending;
    ``skip``: ids not to name (recorded gone by ``harvester forget``)."""
    return sorted(
        image_id
        for image_id, ref in images.items()
        if image_id not in sent and image_id not in skip and listed_whole(ref)
    )


def one_server(out_dir: Path, base_url: str, run_id: str) -> bool:
    """Are DIR's target sets all of ``base_url``'s server? Image ids are one server's: in a
    folder of two, an image journaled from the other in a dataset of the same id is no
    image this walk could have met. Reads every run's saved settings: call it in a thread."""
    from harvester.config import normal_base_url, recorded_target_sets

    sets = recorded_target_sets(out_dir, besides=run_id)
    return {normal_base_url(s.base_url) for s in sets} <= {normal_base_url(base_url)}
