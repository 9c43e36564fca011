"""Which images of a plate are in the fileset one of them named: proven by the server.

Why: no listing OMERO.web serves names the fileset of a plate's images (README, ``paths``),
so each image asked ``original_file_paths`` for the same list: 3,456 times 460 KB for a
plate of 3,456 images in one fileset. OMERO.web's webclient answers a cheap question that
proves membership instead: ``webclient/fileset_check/delete/?Image=1,2,3`` (the delete
dialog's check, omero-web's ``views.fileset_check`` over OMERO's
``IContainer.getImagesBySplitFilesets``) lists each fileset the given images *split* (hold
some of its images, not all): its id, how many of the given images it holds and how many
others.

The proof: a page that lists one split fileset alone, holding exactly as many of the
given images as were given, proves each of them is in that fileset (the count is of the
given images it holds); they store its answer without a request, or, if none is held yet,
the first of them asks and the others wait for it
(:class:`harvester.fileset_answers.FilesetAnswers`). Once the answer of one image A of the
plate named fileset F, batches of other images of the plate (never A) are checked, so F is
split whenever it holds a whole batch. Any other page proves nothing for the batch as
given: two filesets listed (a plate of several filesets), a count short, no split at all
(a batch holding the whole of a fileset). Such a batch is checked again as two halves, and
they as halves in turn, within :func:`split_budget` checks in all: a plate whose filesets
each take a run of its wells is proven a run at a time, each fileset asked once; one whose
images alternate filesets spends those few checks and its images ask for themselves, as
before. A page that lists no split fileset, while no check of the plate has listed one,
ends the plate's checks (:meth:`PlateFilesets._stop_checking`). Another page (an error,
not the dialog's) proves nothing and splits nothing. After a check that was refused (a 4xx,
a redirect) or read as no such page, none is asked again this run (a server without the
view, a proxy in front); after one that failed through its retries (busy, a 500, broken
off), the checks go on, until :data:`FAILED_IN_A_ROW` have failed so in a row: one busy
minute of a long run turned them off for good, and every later image of a plate asked.

Batches are the plate's images the walk queued whose ``paths`` are pending
(:meth:`PlateFilesets.queued`), at most :data:`urls.FILESET_CHECK_BATCH` ids a request
(gunicorn's request line is 4,094 bytes). One event loop: no locks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from itertools import islice

import anyio

from harvester import urls
from harvester.client import Client, Expect
from harvester.errors import FetchError, TransientError

logger = logging.getLogger(__name__)

#: Checks failed through their retries (busy, a 500, broken off) in a row that turn the
#: checks off for the rest of the run (a view that always fails: a few checks wasted).
FAILED_IN_A_ROW = 3

#: The dialog's page: its outer ``div`` (omero-web's
#: ``webclient/activities/fileset_check_dialog_content.html``).
PAGE_MARK = '<div class="split_filesets_info">'
#: One split fileset of the page, up to the next.
_SPLIT = re.compile(r'<div class="split_fileset">(.*?)(?=<div class="split_fileset">|\Z)', re.S)
#: "You tried to delete <strong>N</strong> image(s) from a fileset, leaving <strong>M</strong>."
_COUNTS = re.compile(r"<strong>(\d+)</strong>.*?<strong>(\d+)</strong>", re.S)
#: The fileset's id, in the hidden input the chgrp form sends.
_FILESET = re.compile(r'<input name="fileset" value="(\d+)"')


@dataclass(frozen=True, slots=True)
class SplitFileset:
    """One fileset the images given split: its id, how many of them it holds, how many not."""

    fileset_id: int
    given: int
    others: int


def parse_split_filesets(page: bytes) -> list[SplitFileset] | None:
    """The split filesets a ``fileset_check`` page lists; None: not such a page, or one
    whose listing does not read as the template writes it (then nothing is proven)."""
    text = page.decode("utf-8", "replace")
    if PAGE_MARK not in text:
        return None
    found = []
    for block in _SPLIT.findall(text):
        counts, fileset = _COUNTS.search(block), _FILESET.search(block)
        if counts is None or fileset is None:
            return None
        found.append(SplitFileset(int(fileset[1]), int(counts[1]), int(counts[2])))
    return found


def proven_in(page: list[SplitFileset] | None, batch: int) -> int | None:
    """The fileset the page proves every image of a batch of ``batch`` images in: it lists
    that fileset alone, holding all of them (the count is of the images given it holds).
    None: the page proves nothing."""
    if page is not None and len(page) == 1 and page[0].given == batch > 0:
        return page[0].fileset_id
    return None


def split_budget(batch: int) -> int:
    """The checks a batch that proved nothing may spend on its halves, theirs, and so on:
    four a level, as many levels as halving it to one image takes (32 for a batch of 250).

    Why four: a boundary between two filesets' runs of images costs two checks a level, and
    a batch of a plate imported in parts of a few wells each holds two or three runs; a
    plate whose images alternate filesets wastes these 32 cheap checks, then its 250
    images ask, as they did."""
    return 4 * max(0, batch - 1).bit_length()


@dataclass(slots=True)
class _Budget:
    """The checks left to the parts of one batch (see :func:`split_budget`)."""

    left: int


@dataclass(slots=True)
class _Part:
    """Images of a batch that proved nothing, to be checked again together (a half), and
    what is left of that batch's :func:`split_budget` (shared by all its parts).

    Why halves: a batch is a run of the walk's order, in which a plate's images come well
    by well, so a plate imported in parts has few boundaries between filesets in a batch,
    and halving finds each in about two checks a level."""

    images: list[int]
    budget: _Budget


class PlateFilesets:
    """The plates' filesets learnt this run, and the images proven in them."""

    def __init__(self, client: Client, batch: int | None = None) -> None:
        self.client = client
        self._batch = urls.FILESET_CHECK_BATCH if batch is None else batch
        #: plate -> its images queued with ``paths`` pending, not yet checked (an ordered set).
        self._queued: dict[int, dict[int, None]] = {}
        #: plate -> the fileset the answer of one of its images named.
        self._named: dict[int, int] = {}
        #: plate -> the first ask of its images in flight (the others wait for its answer).
        self._asking: dict[int, anyio.Event] = {}
        #: Plates whose first ask named no fileset (failed, or ``{}``): none waits any more.
        self._unnamed: set[int] = set()
        #: plate -> a check in flight.
        self._checking: dict[int, anyio.Event] = {}
        #: image -> the fileset it is proven in; images a check did not prove (each taken once).
        self._proven: dict[int, int] = {}
        self._unproven: set[int] = set()
        #: Plates no longer checked: a check of their images listed no split fileset, nor
        #: had one before (images the check cannot see: of a group other than the session's).
        self._unlisted: set[int] = set()
        #: Plates a check listed a split fileset for (a later page listing none is a batch
        #: holding whole filesets, not a plate the check cannot see).
        self._listed: set[int] = set()
        #: image -> the part of a batch it is checked again with (see :class:`_Part`).
        self._parts: dict[int, _Part] = {}
        #: No more checks this run (one failed, or its page did not read as the dialog's).
        self.off = False
        #: Checks that failed through their retries since the last one answered.
        self._failed_in_a_row = 0
        #: Checks asked, and images they proved (for the log).
        self.checks = 0
        self.proved = 0

    def queued(self, plate_id: int, image_id: int) -> None:
        """An image of the plate was queued with its ``paths`` pending: checked in a batch."""
        if not self.off and plate_id not in self._unlisted:
            self._queued.setdefault(plate_id, {})[image_id] = None

    def named(self, plate_id: int, image_id: int, fileset: int) -> None:
        """The answer of ``image_id`` named ``fileset``: the plate's other images are checked
        from now on (a batch never holds it, so that fileset is split by any of them)."""
        self._named.setdefault(plate_id, fileset)
        self._queued.get(plate_id, {}).pop(image_id, None)

    def finished(self, plate_id: int, image_id: int) -> None:
        """The image's fetch is over: what is held for it goes, whether or not it asked.

        Why: an image queued, or proven by a check, whose ``paths`` step never came (it
        failed before, ``paths`` was given up on, its run stopped) held its id to the end of
        the run, a plate's worth at most (3,456 of IDR's). One finishing while a batch that
        holds it is being checked, or while it is in a part of a batch still to be checked
        again (:class:`_Part`: its id stays in the part's list, asked with the part and held
        as proven), may still be held, a batch's worth at most (no outcome a user sees either
        way: no test, this note)."""
        queued = self._queued.get(plate_id)
        if queued is not None:
            queued.pop(image_id, None)
            if not queued:
                del self._queued[plate_id]
        self._proven.pop(image_id, None)
        self._unproven.discard(image_id)
        self._parts.pop(image_id, None)

    @asynccontextmanager
    async def membership(self, plate_id: int, image_id: int) -> AsyncIterator[int | None]:
        """The fileset ``image_id`` is proven in (None: not proven: the caller asks). The
        plate's first image to ask holds the others until its block ends, so that they are
        checked against its answer rather than asking beside it."""
        fileset = await self._proven_in(plate_id, image_id)
        first = None
        if (
            fileset is None
            and not self.off
            and plate_id not in self._named
            and plate_id not in self._asking
            and plate_id not in self._unnamed
        ):
            first = self._asking[plate_id] = anyio.Event()
        try:
            yield fileset
        finally:
            if first is not None:
                del self._asking[plate_id]
                if plate_id not in self._named:  # (failed: the others ask side by side)
                    self._unnamed.add(plate_id)
                first.set()

    async def _proven_in(self, plate_id: int, image_id: int) -> int | None:
        while True:
            if image_id in self._proven:
                return self._proven.pop(image_id)
            if image_id in self._unproven:
                self._unproven.discard(image_id)
                return None
            if self.off or plate_id in self._unlisted:
                self._parts.pop(image_id, None)
                return None
            asking = self._asking.get(plate_id)
            if plate_id not in self._named:
                if asking is None or plate_id in self._unnamed:
                    return None
                await asking.wait()  # the plate's first answer, then checked against it
                continue
            checking = self._checking.get(plate_id)
            if checking is not None:
                await checking.wait()  # this image may be in that batch
                continue
            await self._check(plate_id, image_id)

    async def _check(self, plate_id: int, image_id: int) -> None:
        """Check ``image_id`` and the plate's other queued images (a batch), or the part of
        a batch it is in, against the server; each ends proven, not, or in a part of its
        batch checked again (:meth:`_proven_in`)."""
        part = self._parts.get(image_id)
        if part is not None:
            batch = part.images
            for other in batch:
                self._parts.pop(other, None)
        else:
            # In the walk's order (the images of a fileset come together: see _Part),
            # ``image_id`` among them.
            queued = self._queued.get(plate_id, {})
            batch = list(islice(queued, self._batch))
            if image_id not in batch:
                batch = [image_id, *batch[: self._batch - 1]]
            for other in batch:
                queued.pop(other, None)
        event = self._checking[plate_id] = anyio.Event()
        try:
            page = await self._ask(batch)
        finally:
            del self._checking[plate_id]
            event.set()
        if page:
            self._listed.add(plate_id)
        fileset = proven_in(page, len(batch))
        if fileset is not None:
            self._proven.update(dict.fromkeys(batch, fileset))
            self.proved += len(batch)
            logger.debug(
                "plate %s: %d images proven in fileset %s (%d in %d checks this run)",
                plate_id, len(batch), fileset, self.proved, self.checks,
            )  # fmt: skip
            return
        logger.debug("plate %s: %d images not proven in one fileset", plate_id, len(batch))
        if page == [] and plate_id not in self._listed:
            self._unproven.update(batch)
            self._stop_checking(plate_id)
            return
        budget = part.budget if part is not None else _Budget(split_budget(len(batch)))
        if page is None or len(batch) < 2 or budget.left < 2:
            self._unproven.update(batch)  # (each asks)
            return
        budget.left -= 2
        half = len(batch) // 2
        for images in (batch[:half], batch[half:]):
            self._parts.update(dict.fromkeys(images, _Part(images, budget)))

    def _stop_checking(self, plate_id: int) -> None:
        """No more checks of the plate's images: its check's page listed no split fileset,
        nor had any before, so its next checks would not either (each image asks, as it
        would; a plate of single-image filesets ends here too).

        Why: the check answers in the session's group: for the images of a plate in
        another group (a private server, a user in several groups) it lists nothing, and a
        plate of 3,456 images spent 14 checks that proved none of them."""
        self._unlisted.add(plate_id)
        self._queued.pop(plate_id, None)  # (each asks: see _proven_in)
        logger.info(
            "plate %s: the fileset check lists no fileset of its images: they ask their paths",
            plate_id,
        )

    async def _ask(self, batch: list[int]) -> list[SplitFileset] | None:
        """The split filesets the server lists for ``batch``; None when it fails or answers
        another page (then no more checks this run, unless it failed through its retries:
        see :data:`FAILED_IN_A_ROW`)."""
        self.checks += 1
        try:
            fetched = await self.client.get(urls.fileset_check(batch), Expect.ANY)
        except TransientError as exc:
            self._failed_in_a_row += 1
            if self._failed_in_a_row < FAILED_IN_A_ROW:  # (this batch's images ask)
                logger.info("fileset check failed (%s): %d images ask their paths", exc, len(batch))
                return None
            logger.info("fileset check failed (%s): each image of a plate asks its paths", exc)
            self._turn_off()
            return None
        except FetchError as exc:
            logger.info("fileset check failed (%s): each image of a plate asks its paths", exc)
            self._turn_off()
            return None
        self._failed_in_a_row = 0
        page = parse_split_filesets(fetched.body)
        if page is None:
            logger.info("fileset check answered another page: each image of a plate asks its paths")
            self._turn_off()
        return page

    def _turn_off(self) -> None:
        """No more checks this run: each image of a plate asks its own ``paths``."""
        self.off = True
        self._queued.clear()
        self._parts.clear()
