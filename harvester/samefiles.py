"""One file on disk for identical answers: hard links between files of the same bytes.

Why: every image of a fileset gets the same ``original_file_paths`` answer, the whole
fileset's list. A plate of 3,456 images in one fileset of 3,456 files stored 3,456 copies of
a 460 KB list (1.6 GB). Each image still has its own ``{id}.paths.json`` (its done record,
``verify`` and a resume are unchanged: a done record's file exists), but a file whose bytes
equal a file stored just before is made a hard link to it: one copy on disk, whatever the
number of names.

The rules that keep it safe:

* A link is made to a temp name and renamed into place like any written file, so nothing
  appears under its final name unless complete, and a crash leaves only a temp file the
  pending file lists.
* The source is read back through the new link and compared with the bytes to store: a file
  changed by hand since it was stored is never spread to another image (the bytes are then
  written as a file of their own), nor is a symlink put in its place (no link through it).
* No link where the filesystem has none (``EPERM``, ``EXDEV``, ``ENOTSUP``, ``EMLINK``...):
  the bytes are written, as before.
* Only files stored recently are linked to (:data:`RECENT_FILES`): the images of a fileset
  come together in a walk, and memory stays bounded for a million single-image filesets.
* A resume also links to a file an earlier run stored (:class:`EarlierFiles`): it went on
  with a fileset half done and wrote one more copy of its list. Found by the SHA-256 of the
  done records (one compact entry per distinct content, not per image), checked byte for
  byte as any other source.
"""

from __future__ import annotations

import os
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from harvester.text import agree, plural

#: How many recently stored files (by SHA-256) can be linked to.
RECENT_FILES = 1024


class RecentFiles:
    """The relative paths of the last :data:`RECENT_FILES` shared files stored, by SHA-256.

    Used from the store's commit threads: each dict operation is atomic under the GIL and
    none raises whatever the other thread did meanwhile (two batches in flight may both
    write a first copy: harmless, the later is linked to).
    """

    def __init__(self, limit: int = RECENT_FILES) -> None:
        self._limit = limit
        self._paths: OrderedDict[str, str] = OrderedDict()

    def get(self, sha256: str) -> str | None:
        """The path of a stored file with these bytes (None: none known)."""
        return self._paths.get(sha256)

    def stored(self, sha256: str, rel_path: str) -> None:
        """``rel_path`` now holds the bytes of ``sha256``: linked to from now on."""
        # Not move_to_end: the other commit thread may forget this key between two calls,
        # and move_to_end of a missing key raises KeyError (the batch, journaled, then failed).
        self._paths.pop(sha256, None)
        self._paths[sha256] = rel_path
        while len(self._paths) > self._limit:
            self._paths.popitem(last=False)

    def forget(self, sha256: str) -> None:
        """Its file is gone or changed: the next one with these bytes is written."""
        self._paths.pop(sha256, None)


#: Image ids above this do not fit an :class:`EarlierFiles` entry (OMERO's ids are far below).
_MAX_ID = (1 << 64) - 1


def pack(sha256: bytes, image_id: int) -> int:
    """One :class:`EarlierFiles` entry as one number: the SHA-256's first 8 bytes, then the
    image id (0: not one, a digest of another length or an id out of range)."""
    if len(sha256) != 32 or not 0 < image_id <= _MAX_ID:
        return 0
    return (int.from_bytes(sha256[:8], "big") << 64) | image_id


def _sorted_entries(packed: list[int]) -> tuple[array[int], array[int]]:
    """The prefixes and, for each, its smallest image id, from :func:`pack`'s numbers
    (sorted in place, then cleared: only the two arrays stay)."""
    packed.sort()
    keys, ids = array("Q"), array("Q")
    last = -1
    for value in packed:
        key = value >> 64
        if key != last:
            keys.append(key)
            ids.append(value & _MAX_ID)
            last = key
    packed.clear()
    return keys, ids


class EarlierFiles:
    """Which done image holds a file of given bytes, among the done records a run found.

    Why: :class:`RecentFiles` knows only what this run stored, so a resume that went on with
    a fileset wrote one more copy of its list before linking to that. Built once from the
    done records of one kind (their SHA-256 and image id): per distinct content, the first
    8 bytes of its SHA-256 and one image id, in two sorted arrays (16 bytes a fileset; the
    images of a fileset share one entry). A prefix shared by two contents finds a file with
    other bytes: the byte-for-byte check of :func:`link_same` refuses it.
    """

    def __init__(self, records: Iterable[tuple[bytes, int]]) -> None:
        self._keys, self._ids = _sorted_entries([key for s, i in records if (key := pack(s, i))])

    @classmethod
    def from_done(cls, kind: str, keys: Sequence[Any], records: Sequence[Any]) -> EarlierFiles:
        """Built from a snapshot of done records (``keys``: their ``(kind, id)``, in the
        order of ``records``, which have ``sha256`` bytes): those of ``kind``.

        Why: the store's event loop only copies the two lists (milliseconds at a million
        records); reading the records and sorting is left to a thread. Each entry is one
        number while sorting (:func:`pack`): a list of (SHA-256, id) pairs first took 180 MB
        more at a million records and half a second of the event loop, this 100 and 30 ms."""
        packed = []
        for (rec_kind, image_id), rec in zip(keys, records, strict=True):
            if rec_kind != kind or type(image_id) is not int:
                continue
            digest = getattr(rec, "sha256", None)
            if type(digest) is bytes and (key := pack(digest, image_id)):
                packed.append(key)
        self = cls.__new__(cls)
        self._keys, self._ids = _sorted_entries(packed)
        return self

    def __len__(self) -> int:
        return len(self._keys)

    def image_of(self, sha256: bytes) -> int | None:
        """The image whose done record had (likely) these bytes (None: none)."""
        key = int.from_bytes(sha256[:8], "big")
        at = bisect_left(self._keys, key)
        if at < len(self._keys) and self._keys[at] == key:
            return self._ids[at]
        return None


def link_same(source: Path, tmp: Path, target: Path, data: bytes, *, check: bool) -> bool:
    """Make ``tmp`` a hard link to ``source`` when it holds exactly ``data``; whether it did.

    ``check``: compare the bytes (a stored file, which may have been edited since); a temp file
    of the same batch, written from ``data``'s twin, needs no check. False (and no ``tmp``)
    when the link cannot be made or the bytes differ: the caller writes ``data`` instead. Not
    where ``target`` already is ``source``'s file (an image fetched again whose file is one of
    the links): rename(2) between two names of one file does nothing and would leave ``tmp``.
    """
    try:
        if check and os.path.samefile(source, target):
            return False
    except FileNotFoundError:
        pass  # no target yet (the usual case); a missing source fails the link below
    except OSError:
        return False
    try:
        # Not through a symlink put at the source's name: the image's file would be a name
        # of a file outside DIR, changed whenever that is (a symlink fails the check below).
        os.link(source, tmp, follow_symlinks=False)
    except FileExistsError:
        # A temp left behind, which may itself be a link to a stored file: the caller's
        # write (O_TRUNC) would rewrite that file under every name. Removed: a new file.
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        return False
    except (OSError, NotImplementedError):
        return False  # no such source any more, or no hard links on this filesystem
    if not check:
        return True
    try:
        same = _holds(tmp, data)
    except OSError:
        same = False
    if not same:
        os.unlink(tmp)
    return same


def already_holds(target: Path, data: bytes, source: Path | None) -> bool:
    """Whether ``target`` (an image's own file, fetched again) already is a file of exactly
    ``data``, one whose bytes are durable: a name of ``source``'s file (a stored file with
    these bytes), or, with ``source`` None, a file its own done record says holds them.

    Why: writing it anew made the image's name a copy of its own: a plate's other images
    stayed names of the old file, and the bytes were twice on disk. Kept, it stays one."""
    try:
        if source is not None and not os.path.samefile(source, target):
            return False
        return _holds(target, data)
    except OSError:
        return False  # no such file (the usual case), a symlink, unreadable: written


def _holds(path: Path, data: bytes) -> bool:
    """Whether the file at ``path`` holds exactly ``data`` (a symlink holds nothing: OSError)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with open(fd, "rb") as f:
        if os.fstat(f.fileno()).st_size != len(data):
            return False
        return f.read(len(data) + 1) == data


def linked_files_text(n: int) -> str:
    """``7 paths files are hard links to another image's``: how the summary and ``status``
    name the files stored as links (one wording for both)."""
    return (
        f"{plural(n, 'paths file', spec=',')} "
        f"{agree(n, 'is a hard link', 'are hard links')} to another image's"
    )
