"""One copy of a shared file per folder, across the processes that store into it.

Why: :mod:`harvester.samefiles` links an image's ``paths`` file to an identical one that
*this process* stored (or an earlier run's, found in the done records it read at open).
The tasks of a job array run at the same time, each its own process, and a plate's images
are spread over all of them: each task stored its own first copy of the plate's list (two,
as two batches are written at once), so a shared folder held 2 x N copies where one run
holds one or two. None can see the others' files as it stores (no task knows which images
another task holds, nor their done records), and a lock on the way to the disk would slow
every task for a rare file.

So each run, as it ends, makes its names of such a file names of one file the folder
already holds: the first run to end with a SHA-256 registers one of its names for it in
``locks/same-files.tsv``; every run that ends later makes its own names of those bytes hard
links to it (the file checked byte for byte, a temp link renamed over the name, as the
store makes links). The register is written, and the lines appended since a run's first
read of it are read, under ``locks/same-files.lock`` (an exclusive ``flock``), so that two
runs ending together agree on one file; the bulk of it is read before the lock (a long
register read under it kept the tasks ending together waiting on each other). A run of the
whole set (no other run stores beside it) does this for the files it linked only: its two
batches in flight may each have stored a first copy.

The rules that keep it safe:

* Only the run's own names are replaced: those its done records name, of its own images
  (its shard's), under its run lock. Another run's file is only ever linked to.
* A name is replaced only while its file holds the very bytes its record says (a hand edit
  is kept), by a link to a file that holds them too (a registered name removed or changed
  since is not used, and one of this run's names is registered in its place).
* No lock (a filesystem without ``flock``), no hard links: nothing is changed.
* The register is read line by line, keeping the lines of the run's own SHA-256s (a
  line per distinct file of a shard's run while an array runs: about 100 bytes an image
  for a folder of single-image filesets, about a second a million lines; then compacted,
  below); the last line of a SHA-256 wins; a line not ended by a newline is not read.

The register is bounded: a run that ends while no other run holds a run lock of DIR (the
last task of an array to end, a resubmission alone) compacts it under the lock, once it
holds :data:`COMPACT_FROM` bytes and twice what its last compaction kept. Kept: the last
line of each SHA-256 whose file is still a regular file of more than one name. Why: a file
of one name is no copy made one (a fileset of one image, the usual case of a dataset), and
no run is running that could end with a copy of it; one started later (an array run a task
at a time) stores its own copy of such a file, which is left as a copy. Not while a killed
run's pending file is in ``journals/`` (no run opened since): its resubmission links its
copies to the registered files, some of one name. Written beside it,
synced, renamed over it (a ``kill -9`` at any moment leaves the old register or the new,
whole); a run that read it before the lock reads it again from its start when the file it
read was replaced meanwhile. The first line, ``#kept\t<bytes>``, is skipped by every
reader (0.1.24's too).

What is left: a run killed (``kill -9``, out of memory) ends without this step, so its
copies stay until a later run of its shard ends: one that stores a shared file, or that
found the killed run's pending file as it opened (its resubmission, with nothing left to
store: :meth:`harvester.store.Store.shares`). No other task may make them one (they are
another shard's names, written under that shard's run lock), nor ``index``/``verify``
(they hold no run lock). So do those of a run stopped (Ctrl-C, SIGTERM: a time limit)
while another run held the lock: it does not wait.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from contextlib import suppress
from pathlib import Path

from harvester.layout import IMAGES_DIR, check_relative, resolve
from harvester.runlock import LOCKS_DIR, LockWaitStopped, folder_lock

logger = logging.getLogger(__name__)

#: ``DIR/locks/<REGISTER>``: ``<sha256 hex>\t<path in DIR>`` lines, the file of those bytes
#: runs link their own names to.
REGISTER = "same-files.tsv"
#: ``DIR/locks/<LOCK>``: held while the register's new lines are read, it is written, and
#: names relinked.
LOCK = "same-files.lock"
#: How long a run waits for another ending at the same time (seconds); then nothing is done.
LOCK_WAIT = 60.0
#: A register of fewer bytes is never compacted (a read of it costs nothing to speak of).
COMPACT_FROM = 64 * 1024
#: The first line of a compacted register: ``#kept\t<bytes of its lines>``. Why: it is
#: compacted again only once it doubled, not at every run that ends alone (each a stat a line).
KEPT_MARK = b"#kept\t"

#: ``relink(source, target, data)``: make ``target`` (a name of this run) a hard link to
#: ``source``, which holds ``data`` (checked again through the link); whether it did.
Relink = Callable[[Path, Path, bytes], bool]


def one_copy(
    out_dir: Path,
    names: Mapping[bytes, list[str]],
    relink: Relink,
    stored: AbstractSet[str] | None = None,
    stop: threading.Event | None = None,
    alone: Callable[[], bool] | None = None,
) -> tuple[int, int]:
    """Make this run's ``names`` (SHA-256 -> its names in DIR of files with those bytes)
    names of one file per SHA-256: the registered one, else the one of its own files that
    has the most of them, registered. Returns how many of this run's copies are no more
    (each name of them made a link) and their bytes, which the run's summary adds to its
    links: of the copies whose every name is of ``stored`` (the names this run stored,
    whose bytes its summary counts; None: every name). Why: a copy an earlier run left (a
    task killed before its end) is made one too, but its bytes are not this run's: counted,
    its summary's ``on disk`` took them off the bytes it stored (0 B on disk for a run
    that wrote a new file). ``stop``: set, the run is stopping (Ctrl-C, SIGTERM): a lock
    another run holds is not waited for (the copies stay, as a killed task's do). Why: the
    tasks of an array that reach their time limit get SIGTERM at once, and SLURM kills each
    ``KillWait`` seconds later (30 by default): a wait of LOCK_WAIT ended in the kill,
    before the task's summary. ``alone``: asked under the lock, whether no other run holds
    a run lock of DIR: then the register is compacted when due (:func:`compact`), unless
    the run is stopping (seconds a million lines: the next run alone does it). Errors
    are logged, never raised: the files are whole either way."""
    if not names:
        return 0, 0
    # Most of the register read before the lock, the lines appended since under it. Why: it
    # holds a line per distinct file of every shard's run (100 MB for a million single-image
    # filesets, seconds to read): read under the lock, the tasks of an array ending together
    # queued behind each other's reads, and those still waiting after LOCK_WAIT gave up.
    registered, read_to, read_file = _read_register(out_dir, names.keys(), 0)
    try:
        with folder_lock(out_dir, LOCK, wait=LOCK_WAIT, stop=stop) as held:
            if not held:
                return 0, 0
            if _identity(out_dir) == read_file:
                registered.update(_read_register(out_dir, names.keys(), read_to)[0])
            else:  # (compacted meanwhile: its offsets are another file's)
                registered = _read_register(out_dir, names.keys(), 0)[0]
            made = _under_lock(out_dir, names, relink, registered, stored)
            stopping = stop is not None and stop.is_set()  # (SLURM kills it soon: no time)
            if (
                alone is not None
                and not stopping
                and _compaction_due(out_dir)
                and alone()
                and not _killed_run_unresumed(out_dir)
            ):
                compact(out_dir)
            return made
    except (OSError, LockWaitStopped) as exc:  # (a read-only folder; a stop while waiting)
        logger.debug("shared files not made one: %s", exc)
        return 0, 0


def _under_lock(
    out_dir: Path,
    names: Mapping[bytes, list[str]],
    relink: Relink,
    registered: Mapping[bytes, str],
    stored: AbstractSet[str] | None,
) -> tuple[int, int]:
    new: dict[bytes, str] = {}
    gone = gone_bytes = 0
    for sha256, rels in names.items():
        rel = registered.get(sha256)
        if len(rels) == 1 and (rel is None or rel == rels[0]):
            # One name, its own or none registered (an image of a fileset of its own, the
            # usual case): no stat, no read; registered for the runs that end later.
            if rel is None:
                new[sha256] = rels[0]
            continue
        files = _by_file(out_dir, rels)
        source = _holding(out_dir, rel, sha256) if rel is not None else None
        if source is None:  # (none registered, or its file gone or changed since)
            for group in sorted(files.values(), key=lambda g: (-len(g), g[0])):
                if (source := _holding(out_dir, group[0], sha256)) is not None:
                    break
            if source is None:
                continue
            new[sha256] = source[0]
        made = _link_names(out_dir, files, source, sha256, relink, stored)
        gone += made
        gone_bytes += made * len(source[1])
    if new:
        try:
            _register(out_dir, new)
        except OSError as exc:  # (a full disk: the links made stand; a later run registers)
            logger.debug("%s not written: %s", REGISTER, exc)
    return gone, gone_bytes


def _link_names(
    out_dir: Path,
    files: Mapping[tuple[int, int], list[str]],
    source: tuple[str, bytes],
    sha256: bytes,
    relink: Relink,
    stored: AbstractSet[str] | None,
) -> int:
    """Make each name of ``files`` that is not ``source``'s file a link to it, file by file,
    each file's bytes checked first (one changed by hand keeps its names); how many files
    of this run's are no more (all their names made links, all of ``stored``): the copies
    the folder lost. (Their names but one were counted as links as they were stored.)"""
    path = resolve(out_dir, source[0])
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    gone = 0
    for key, rels in files.items():
        if key == (st.st_dev, st.st_ino) or _holding(out_dir, rels[0], sha256) is None:
            continue
        made = sum(relink(path, resolve(out_dir, rel), source[1]) for rel in rels)
        gone += made == len(rels) and (stored is None or all(rel in stored for rel in rels))
    return gone


def _by_file(out_dir: Path, rels: Iterable[str]) -> dict[tuple[int, int], list[str]]:
    """The names grouped by the file they name ((device, inode)); names that are gone, are
    no regular file (a symlink) or unsafe are left out."""
    files: dict[tuple[int, int], list[str]] = {}
    for rel in rels:
        try:
            st = os.lstat(resolve(out_dir, rel))
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(st.st_mode):
            files.setdefault((st.st_dev, st.st_ino), []).append(rel)
    return files


def _holding(out_dir: Path, rel: str, sha256: bytes) -> tuple[str, bytes] | None:
    """``(rel, its bytes)`` when the file at ``rel`` holds bytes of this SHA-256 (not
    through a symlink), else None."""
    try:
        fd = os.open(resolve(out_dir, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    with open(fd, "rb") as f:
        try:
            data = f.read()
        except OSError:
            return None
    return (rel, data) if hashlib.sha256(data).digest() == sha256 else None


def read_register(out_dir: Path, wanted: AbstractSet[bytes]) -> dict[bytes, str]:
    """SHA-256 -> the registered name (the last line of each wins), for the SHA-256s of
    ``wanted`` only (read line by line: a folder of many filesets has a long register);
    lines that do not read as ``<64 hex digits>\t<safe path under images/>\n`` are skipped
    (a line cut short by a full disk, one edited by hand)."""
    return _read_register(out_dir, wanted, 0)[0]


#: A file as (device, inode); None: none there.
FileId = tuple[int, int] | None


def _identity(out_dir: Path) -> FileId:
    """The register's (device, inode) now (None: none)."""
    try:
        st = os.stat(out_dir / LOCKS_DIR / REGISTER)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _read_register(
    out_dir: Path, wanted: AbstractSet[bytes], start: int
) -> tuple[dict[bytes, str], int, FileId]:
    """:func:`read_register` from byte ``start`` on, the byte its last whole line ends
    at (a line not ended yet, being written by a run that holds the lock, is read again
    from there) and the file read (a compaction renames another over it). Only the lines
    of ``wanted`` SHA-256s are decoded and checked: the rest of a long register costs a set
    look-up a line."""
    found: dict[bytes, str] = {}
    keys = {sha256.hex().encode("ascii"): sha256 for sha256 in wanted}
    try:
        f = (out_dir / LOCKS_DIR / REGISTER).open("rb")
    except OSError:
        return found, start, None
    read_to = start
    with f:
        st = os.fstat(f.fileno())
        try:
            f.seek(start)
            for line in f:
                if not line.endswith(b"\n"):
                    break  # (being written, or cut short: a later line starts on a new one)
                read_to += len(line)
                key = keys.get(line[:64])
                if key is None or line[64:65] != b"\t":
                    continue
                rel = _image_file(line)
                if rel is not None:
                    found[key] = rel
        except OSError as exc:  # (what was read stands: the rest is only copies left)
            logger.debug("%s not read to its end: %s", REGISTER, exc)
    return found, read_to, (st.st_dev, st.st_ino)


def _image_file(line: bytes) -> str | None:
    """The path a register line (``<sha256 hex>\t<path>\n``, its SHA-256 read already)
    names, when it is a safe path under images/ (an image's file: never one a command
    rewrites, nor one outside DIR); else None."""
    rel = line[65:-1].decode("utf-8", errors="replace")
    if not rel.startswith(f"{IMAGES_DIR}/"):
        return None
    try:
        check_relative(rel)
    except ValueError:
        return None
    return rel


def _register(out_dir: Path, new: Mapping[bytes, str]) -> None:
    """Append ``new``'s lines to the register (one write; no fsync: a line lost to a power
    loss only leaves a copy that a later run registers again)."""
    # (a new line first: a line cut short before, by a full disk, ends there, not at the
    # start of this run's first; an empty line is skipped)
    lines = "\n" + "".join(f"{sha256.hex()}\t{rel}\n" for sha256, rel in new.items())
    path = out_dir / LOCKS_DIR / REGISTER
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        data = memoryview(lines.encode("utf-8"))
        while data:
            data = data[os.write(fd, data) :]
    finally:
        with suppress(OSError):
            os.close(fd)


def _compaction_due(out_dir: Path) -> bool:
    """Does the register hold :data:`COMPACT_FROM` bytes, and twice what its last
    compaction kept (its :data:`KEPT_MARK` line; none: never compacted)?"""
    try:
        with (out_dir / LOCKS_DIR / REGISTER).open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            first = f.readline(64)
    except OSError:
        return False
    if size < COMPACT_FROM:
        return False
    if first.startswith(KEPT_MARK) and first.endswith(b"\n"):
        with suppress(ValueError):
            return size >= 2 * int(first[len(KEPT_MARK) : -1])
    return True


def _killed_run_unresumed(out_dir: Path) -> bool:
    """Did a run of DIR end without its end (``kill -9``, out of memory), and no run opened
    since (its pending file is still in ``journals/``: the next run to open removes it)?

    Why not compacted then: the killed run's copies are still to be made one, by its
    resubmission, with the registered file of their bytes. That file may have one name
    (another shard's image of a fileset of two, one image in each shard): compacted, its
    line went, and the resubmission registered its own copy in its place, two copies kept
    for good. The next run ending alone compacts it (a doubt, unreadable, says no)."""
    from harvester.store import ended_writers  # (the store imports this module)

    try:
        return bool(ended_writers(out_dir))
    except OSError as exc:
        logger.debug("journals not read: %s", exc)
        return True


def compact(out_dir: Path) -> tuple[int, int] | None:
    """Rewrite the register with only the lines still of use (called under its lock, by a
    run that no other run of DIR runs beside): the last line of each SHA-256 whose file is
    a regular file of more than one name (a stat a line, no read: 100,000 reads took 20 s
    on a busy host; a file changed since is found so by the run that reads its line, which
    registers its own). Returns its bytes before and after (None: not compacted: no
    register, an error, logged).

    Why those: a line is read by a run that ends with a copy of its bytes, and only a run
    running now (none) or started later could. A file of one name is the one copy of a
    fileset of one image (a dataset's usual case: a million lines, 100 MB, for a million
    images), or that of a fileset whose every other image is still to be stored: a later run
    that stores them stores its own copy and registers it, as if the first were none; a gone
    file (removed by hand), a symlink and a line that does not read are of no use. Lines of
    another SHA-256 kept in their order: the last of each, as a reader takes it."""
    from harvester.store import atomic_write_bytes  # (the store imports this module)

    path = out_dir / LOCKS_DIR / REGISTER
    kept: dict[bytes, bytes] = {}
    try:
        with path.open("rb") as f:
            like = os.fstat(f.fileno())
            for line in f:
                if not line.endswith(b"\n") or line[64:65] != b"\t":
                    continue
                try:
                    bytes.fromhex(line[:64].decode("ascii"))
                except ValueError:
                    continue
                rel = _image_file(line)
                if rel is not None and _shared_file(out_dir, rel):
                    kept.pop(line[:64], None)  # (its place: where its last line is)
                    kept[line[:64]] = line
        size = sum(map(len, kept.values()))
        head = KEPT_MARK + str(size).encode("ascii") + b"\n"
        atomic_write_bytes(out_dir, path, [head, *kept.values()], like=like)
    except OSError as exc:  # (the register stands as it was: only a read of it costs more)
        logger.debug("%s not compacted: %s", REGISTER, exc)
        return None
    return like.st_size, len(head) + size


def _shared_file(out_dir: Path, rel: str) -> bool:
    """Is ``rel`` a regular file (not through a symlink) of more than one name?"""
    try:
        st = os.lstat(resolve(out_dir, rel))
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode) and st.st_nlink > 1
