"""One ``original_file_paths`` request per fileset a walk names, not one per image.

Why: OMERO.web's answer for an image is its fileset's list (omero-py's
``ImageWrapper.getImportedImageFilePaths`` selects the fileset's entries; the image only
picks the fileset), so every image of a fileset gets the same list: a plate of 3,456 images
in one fileset asked IDR for the same 460 KB 3,456 times. When the walk's listing names an
image's fileset (``filesetId`` of ``webclient/api/images/``, datasets only: a plate's grid
does not name it), or the server proved a plate's image in a fileset (the one another
image's answer named, or another of the plate's: :mod:`harvester.plate_filesets`), the
answer fetched for one of its images this run is stored for the others without a request.
An image whose fileset is being asked waits for that answer rather than asking too. If the
asker fails (through all its retries), the next waiter asks and the others keep waiting: a
failing fileset costs one request at a time, not a burst of all its waiting images at once
(13 of 15 on a plate). A fileset whose askers failed :data:`ASKERS_TRIED` times is left to
each image to ask for itself: one that always fails does not make every image wait its turn
behind the others.

Held answers are bounded (:data:`HELD_BYTES`, their entries counted too, the oldest dropped
first): the images of a fileset come together in a listing. A rerun asks once per fileset
again (nothing here reads DIR: a file changed by hand is never spread to other images).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

#: Bytes of answers held for the images still to come (a 3,456-file list: 460 KB).
HELD_BYTES = 32 * 1024 * 1024
#: What one held answer costs beyond its bytes (the entry, its key, the bytes object's
#: header, the table's slack: about 200 bytes in CPython), counted against
#: :data:`HELD_BYTES`. Why: a dataset of single-image filesets holds many answers of ~100
#: bytes, whose entries alone took twice their bytes: the bound was a third of the memory.
ENTRY_COST = 256
#: Askers of one fileset that may fail in turn before its other images stop waiting and
#: each asks for itself (a fileset whose every request fails: a server's broken fileset).
ASKERS_TRIED = 3


class FilesetAnswers:
    """Answers by fileset id, with the filesets being asked (one event loop: no locks)."""

    def __init__(self, held_bytes: int = HELD_BYTES) -> None:
        self._limit = held_bytes
        self._held: OrderedDict[int, bytes] = OrderedDict()
        self._size = 0
        self._asking: dict[int, anyio.Event] = {}
        #: Askers of a fileset whose block ended with no answer held (cleared by one).
        self._failed: dict[int, int] = {}

    async def known(self, fileset: int) -> bytes | None:
        """The answer held for ``fileset``, after waiting for one being asked (None: none;
        the caller then asks, inside :meth:`asking`, with no await in between).

        A waiter woken by a failed asker looks again: when another waiter woke first and
        took the turn to ask, it waits for that one (one request at a time); when
        :data:`ASKERS_TRIED` askers failed, it asks for itself.
        """
        while True:
            body = self._held.get(fileset)
            if body is not None:
                self._held.move_to_end(fileset)
                return body
            event = self._asking.get(fileset)
            if event is None or self._failed.get(fileset, 0) >= ASKERS_TRIED:
                return None
            await event.wait()

    @contextmanager
    def asking(self, fileset: int) -> Iterator[None]:
        """Mark ``fileset`` as being asked: images of it wait (:meth:`known`) until the end
        of the block, whether it gave an answer (:meth:`keep`) or failed (counted). A block
        that ends without error and without an answer held for the fileset lets its waiters
        ask for themselves at once."""
        event = self._asking.setdefault(fileset, anyio.Event())
        try:
            yield
        except BaseException:
            if fileset not in self._held:
                self._failed[fileset] = self._failed.get(fileset, 0) + 1
            raise
        else:
            if fileset not in self._held:
                # Answered, but held for no other image (it named another fileset, or is
                # over the bound): a waiter's turn would only ask the same again, one image
                # at a time, so they all ask now, as before the turns.
                self._failed[fileset] = ASKERS_TRIED
        finally:
            if self._asking.get(fileset) is event:
                del self._asking[fileset]
            event.set()

    def keep(self, fileset: int, body: bytes) -> None:
        """Hold ``body``, the server's answer naming ``fileset``, for its other images."""
        self._failed.pop(fileset, None)
        old = self._held.pop(fileset, None)
        if old is not None:
            self._size -= len(old) + ENTRY_COST
        if len(body) + ENTRY_COST > self._limit:
            return
        self._held[fileset] = body
        self._size += len(body) + ENTRY_COST
        while self._size > self._limit:
            _, dropped = self._held.popitem(last=False)
            self._size -= len(dropped) + ENTRY_COST
