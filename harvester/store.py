"""Atomic, durable, resumable writes into DIR with group commit.

Rules (README "On-disk layout"):

* Nothing appears under its final name unless complete: bytes go to ``<target>.tmp-<writer>``
  beside the target, are made durable, then renamed (atomic) and the folder is fsynced.
* A file is journaled only after its bytes and its name are durable; the journal is the only
  truth a rerun reads (no stat of artifact files), except for the runs that did not end
  cleanly: their recorded files are stat'ed once, by the next open (:func:`lost_files`).
* Group commit: ``put_*`` only queue (bounded: backpressure). One committer task takes up to
  ``batch_size`` items or what arrives within ``flush_interval`` seconds, and in a worker thread
  writes every temp file, makes them durable together, renames them, fsyncs each touched folder
  once, and appends the batch's records to this process's journal with one write + one fsync.

Durability of a batch (``sync``): ``"syncfs"`` flushes the whole filesystem once with
``syncfs(2)``; ``"fsync"`` fsyncs every temp file from a small thread pool; ``"none"`` skips both
(tmpfs benchmarks). ``"auto"`` (default) picks syncfs on Linux >= 5.8 (earlier kernels do not
report write-back errors through syncfs) and fsync elsewhere; ``$HARVESTER_SYNC`` overrides it.
Measured on this machine's virtio disk, 64 files of 5 KB, median per batch: one fsync each in a
loop 16 ms; 8 threads in parallel 6 ms; one syncfs 1.5-5 ms (3-13 ms while other processes were
writing: syncfs also flushes their dirty pages). Concurrent fsyncs share ext4's journal commits,
which is why the pool beats the loop; syncfs needs one journal commit for the whole batch, which
is why it wins. syncfs only covers DIR's own filesystem: files in a folder that lives elsewhere
(a symlinked ``images/``) are fsynced one by one (one stat per folder finds out). Two batches are
committed at once, so one batch's files are written while the other waits for the disk.

Crash clean-up without a stat storm: before a batch creates temp files, their relative paths are
written to ``journals/<writer>.pending`` (truncated again when the batch is done, deleted on clean
close, kept by a close with a batch still in flight; made durable when the store opens, and made
again by the periodic refresh if removed: it is also the mark that has the next run check an
unclean end's files, :func:`lost_files`).
:meth:`Store.open` lists ``journals/`` once and, for each ``.pending`` file of a writer that is
gone (same host and its pid dead, a zombie or reused; other hosts: untouched for an hour),
removes exactly the temp files it lists. No lock is held anywhere, so a killed process cannot
leave one behind. A temp file that no pending file lists (the pending file lost) is found only
by ``verify``, which lists the folders (:func:`find_stray_temps`); those whose writer provably
ended (a writer name of this host whose pid is gone) it lists in a pending file of their own,
``journals/strays-<writer>.pending``, which the next open removes by the rule above.

The marker ``harvest.json`` keeps the settings that shape files but not their names
(:mod:`harvester.folder_settings`); it is created (link(2): the first one wins), given a setting
or re-pinned only under a flock on ``locks/marker.lock``, after reading it again there, and a run
whose settings differ from the folder's is refused before it writes anything, unless the folder
holds no file its value made and nobody else runs (:func:`prepare_out_dir`).

Errors (ENOSPC, EDQUOT, EROFS, EACCES, EFBIG...) become :class:`StorageError` with a one-line
message: the temp files of the failed batch are removed, everything journaled before is untouched,
the store stops accepting, and ``put_*``/``flush``/leaving ``open`` raise it.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from harvester import __version__, onecopy, samefiles
from harvester.errors import PROBLEMS_LOGGER, StorageError, UsageError, redact_url
from harvester.folder_settings import (
    SETTINGS_KEY,
    old_label_keys_time,
    recorded_settings,
    repin_note,
    repinnable,
    settle,
)
from harvester.journal import (
    ImageFilter,
    Journal,
    JournalState,
    flush_drive,
    flush_drives,
    journal_files,
    read_journal,
    run_orders,
    write_all,
)
from harvester.layout import (
    HOST_PART_MAX,
    IMAGES_DIR,
    JOURNALS_DIR,
    LAYOUT_VERSION,
    MARKER_NAME,
    RUN_ID_PATTERN,
    RUNS_DIR,
    STUDY_DIR,
    STUDY_KINDS,
    TEMP_INFIX,
    TOOL_NAME,
    check_relative,
    check_writer,
    ephemeral_writer,
    host_component,
    image_path,
    is_run_id,
    journal_path,
    pending_path,
    resolve,
    run_config_path,
    run_order_time,
    sanitize_component,
    study_dir,
    temp_path,
)
from harvester.models import ImageRef
from harvester.processes import HOST, host_may_be_shared, process_alive, process_start
from harvester.runlock import (
    FLOCK_UNSUPPORTED,
    LOCKS_DIR,
    POLL,
    acquire_run_lock,
    folder_lock,
    lock_name,
    others_may_hold,
    release_run_lock,
)
from harvester.samefiles import RecentFiles, already_holds, link_same
from harvester.shell_words import shell_quote
from harvester.text import and_list, plural

logger = logging.getLogger(__name__)

SyncMode = Literal["auto", "syncfs", "fsync", "none"]

STALE_AFTER = 3600.0
"""Seconds after which another host's non-empty pending file is considered abandoned: a live
writer rewrites it at every batch, touches it every :data:`PENDING_FRESH_EVERY` while open,
and a batch never takes an hour."""

PENDING_FRESH_EVERY = STALE_AFTER / 6
"""Seconds between two refreshes of an open store's pending files, which a run that stores
nothing for a while (a server outage, a long walk) would otherwise leave untouched for
:data:`STALE_AFTER`: a run of another host took it for ended then, stat'ed its files
and removed the pending file its own unclean end would need. A refresh also makes again a
pending file removed meanwhile (:meth:`PendingFile.refresh`)."""

COMMITS_IN_FLIGHT = 2
"""Batches committed at once: while one waits for its fsyncs the next one writes its files."""

DRAIN_TIMEOUT = 1.5
"""On cancellation (Ctrl-C) the queued items get this long to be committed."""


# --------------------------------------------------------------------------- errors


def storage_error(exc: OSError, what: str, *, started: bool = True) -> StorageError:
    """Translate an OSError about ``what`` into a one-line StorageError with a hint.

    ``started``: False for a run that had not begun (its output folder being made): there
    is nothing to resume, so a hint says to run the same command, not "to resume". A
    command that harvests nothing words the hint its own way: :func:`retold_storage_error`.
    """
    code = exc.errno
    said = _storage_failure(code, what) or f"cannot write {what}: {exc.strerror or exc}"
    return StorageError(said, hint=_storage_hint(code, started), cause=exc)


def _storage_failure(code: int | None, what: str) -> str:
    """The one line :func:`storage_error` says for an OSError of errno ``code``."""
    return {
        errno.ENOSPC: f"disk full while writing {what}",
        errno.EDQUOT: f"disk quota exceeded while writing {what}",
        errno.EROFS: f"read-only filesystem: cannot write {what}",
        errno.EACCES: f"permission denied: cannot write {what}",
        errno.EPERM: f"permission denied: cannot write {what}",
        errno.EFBIG: f"file too large for this filesystem or process limit while writing {what}",
        # (a folder someone made where a file goes: rename(2) cannot replace it, and a
        # harvest must not delete a folder it did not make; named as verify names it)
        errno.EISDIR: f"cannot write {what}: a folder is where the file should be",
        errno.ENOTDIR: f"cannot write {what}: a file is where one of its folders should be",
    }.get(code or 0, "")


def _storage_hint(code: int | None, started: bool, again: str | None = None) -> str:
    """The hint of :func:`storage_error` for errno ``code``; ``again``: the words for doing
    it again (:func:`retold_storage_error`), else a harvest's (see :func:`storage_error`)."""
    # (a command given DIR, not --out, has no other folder to choose: it writes DIR's)
    other = " (or choose another --out)" if again is None else ""
    if again is None:
        again = "re-run the same command to resume" if started else "run the same command"
        kept = f"{again}; finished files are kept" if started else again
    else:
        kept = again
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"free some space{other} and {again}"
    if code == errno.EROFS:
        if not other:  # (forget, index: DIR is what they write, given as an argument)
            return f"remount DIR writable, or give a writable copy of it as DIR, then {kept}"
        return "choose a writable --out folder"
    if code in (errno.EACCES, errno.EPERM):
        if not other:
            return f"fix DIR's permissions (or run as its owner), then {kept}"
        return "choose a writable --out folder or fix its permissions"
    if code == errno.EFBIG:
        limit = "raise the file-size limit (ulimit -f, or the batch system's)"
        return f"{limit}{' or choose another --out' if other else ''}, then {kept}"
    if code == errno.EISDIR:
        return "move that folder away (a harvest never deletes what it did not write), then " + kept
    if code == errno.ENOTDIR:
        return f"move that file away, then {kept}"
    return f"fix the problem and {kept}"


#: What a command that harvests nothing says to do once there is space (or a limit raised).
RUN_AGAIN = "run the same command again"


def retold_storage_error(exc: StorageError, again: str = RUN_AGAIN) -> StorageError:
    """``exc`` (a :func:`storage_error`) with its hint worded for a command that harvests
    nothing (``forget``, ``index``): ``again`` where a harvest's says "re-run the same
    command to resume; finished files are kept" (that command resumes nothing, and keeps
    no files: ``index`` writes through the harvest's own index writer). A StorageError
    made otherwise is left as it is."""
    if exc.cause_errno is not None:
        exc.hint = _storage_hint(exc.cause_errno, True, again)
    return exc


# --------------------------------------------------------------------------- syncfs


def _kernel_at_least(major: int, minor: int) -> bool:
    try:
        parts = os.uname().release.split(".")
        return (int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)) >= (
            major,
            minor,
        )
    except (IndexError, ValueError):
        return False


@functools.cache
def _load_syncfs() -> Callable[[int], int] | None:
    """libc's syncfs, looked up on first use: ctypes and libffi cost a harvest's start-up
    ~2 ms before its first request, and a run on tmpfs (``none``) never needs them."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return,unused-ignore]


SYNC_ENV = "HARVESTER_SYNC"
"""Environment override of the "auto" durability method (auto, syncfs, fsync, none)."""


def resolve_sync_mode(mode: SyncMode) -> Literal["syncfs", "fsync", "none"]:
    """The concrete durability method for ``mode`` on this machine.

    ``"auto"`` honours ``$HARVESTER_SYNC`` first (for filesystems where the user knows better,
    and for benchmarks that measure what durability costs).
    """
    if mode == "auto":
        env = os.environ.get(SYNC_ENV, "").strip().lower()
        if env in ("syncfs", "fsync", "none"):
            return resolve_sync_mode(env)  # type: ignore[arg-type]
        if env not in ("", "auto"):
            logger.warning("ignoring %s=%r (expected auto, syncfs, fsync or none)", SYNC_ENV, env)
        return "syncfs" if _load_syncfs() is not None and _kernel_at_least(5, 8) else "fsync"
    if mode == "syncfs" and _load_syncfs() is None:
        return "fsync"
    return mode


def _syncfs(fd: int) -> None:
    syncfs = _load_syncfs()
    assert syncfs is not None
    if syncfs(fd) != 0:
        import ctypes

        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _fsync_dir(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- liveness / pending


class PendingFile:
    """``journals/<writer>.pending``: the temp files this writer is creating right now.

    Line 1 is a JSON header naming the owner (host, pid, process start time); the following
    lines are temp paths relative to DIR. Rewritten (no fsync: a killed process's page cache
    survives) before every batch and truncated back to the header after it.

    It is also the mark of a run that has not ended cleanly: the next run checks the files
    such a run's journal records as done (:func:`lost_files`). So, ``durable``, it is made
    durable as it is made (the file and its folder entry fsynced), before any done line of
    the run can be: after a power loss the journal's lines are never on disk without it.
    And :meth:`refresh` makes it again should it be removed while its writer lives.
    """

    def __init__(self, out_dir: Path, writer: str, *, durable: bool = True) -> None:
        self.writer = writer
        self.path = pending_path(out_dir, writer)
        self._durable = durable
        # begin/end run in a commit thread while refresh may run in another.
        self._lock = threading.Lock()
        pid = os.getpid()
        header = {"writer": writer, "host": HOST, "pid": pid, "start": process_start(pid)}
        self._header = (json.dumps(header) + "\n").encode()
        #: What the file holds now (the header, then the announced temps): what it is made
        #: again with when removed from under this writer.
        self._data = self._header
        self._fd: int | None = self._create()
        self._dirty = False

    def _create(self) -> int:
        """Create the file at :attr:`path` holding :attr:`_data` (durable when asked);
        its descriptor. A write that fails leaves no file behind."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.pwrite(fd, self._data, 0)
            if self._durable:
                os.fsync(fd)
                _fsync_dir(self.path.parent)
        except OSError:
            # A full disk takes the name but not the header: an empty file no run would
            # remove for an hour (STALE_AFTER: it names no host), left by every try.
            os.close(fd)
            with suppress(OSError):
                self.path.unlink()
            raise
        return fd

    def begin(self, rel_temps: Sequence[str]) -> None:
        """Announce the temp files about to be created."""
        data = self._header + "".join(p + "\n" for p in rel_temps).encode("utf-8")
        with self._lock:
            assert self._fd is not None
            os.pwrite(self._fd, data, 0)
            os.ftruncate(self._fd, len(data))
            self._data = data
            self._dirty = True

    def refresh(self, *, remake: bool = True) -> None:
        """Mark the file fresh (its mtime: a live writer's, to a run of another host), or
        make it again where it is gone (removed by hand, or by a run of another host that
        took this writer for ended): without it, this run killed later would leave no mark,
        and the next run would not check the files it recorded. ``remake`` False: only
        touch it (its folder moved or being removed: nothing is made at the old path)."""
        with self._lock:
            if self._fd is None:
                return
            try:  # (a full or read-only disk: the next batch says so)
                if not remake or self._in_place():
                    os.utime(self._fd)
                    return
                fd = self._create()
            except OSError as exc:
                # The folder moved or removed (the next batch says so), or the disk full.
                logger.debug("could not refresh %s: %s", self.path, exc)
                return
            os.close(self._fd)
            self._fd = fd
        logger.warning(
            "%s/%s was removed while this run wrote to %s; made it again (it marks this "
            "run's files for a check, should the run not end cleanly)",
            JOURNALS_DIR,
            self.path.name,
            self.path.parent.parent,
        )

    def _in_place(self) -> bool:
        """Does :attr:`path` still name this writer's open file? (False: gone or replaced.)
        Raises OSError when that cannot be told."""
        assert self._fd is not None
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return False
        opened = os.fstat(self._fd)
        return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)

    def end(self) -> None:
        """The announced temp files are gone (renamed or removed)."""
        with self._lock:
            if self._fd is not None and self._dirty:
                os.ftruncate(self._fd, len(self._header))
                self._data = self._header
                self._dirty = False

    def close(self) -> None:
        """Close and delete (a clean exit leaves nothing to clean up), unless a batch is in
        flight (begun, not ended): then the file stays, listing its temps.

        Why: a forced stop (a third Ctrl-C or SIGTERM: asyncio's KeyboardInterrupt, then its
        cancel of every task) abandons the commit thread mid-batch and still closes the store;
        the process then ends with that batch's temp files on disk. Deleted, this file left
        them listed nowhere: strays that only ``verify`` finds. Kept, it is a dead writer's
        pending file, and the next run removes them (:func:`clean_stale_temps`)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
                if not self._dirty:
                    with suppress(FileNotFoundError):
                        self.path.unlink()


@dataclass(frozen=True)
class EndedWriter:
    """A writer whose ``journals/<writer>.pending`` outlived it: it ended without closing its
    store (killed, its machine gone, its folder moved or copied while it wrote), so what its
    journal says is done was never checked against the disk by a clean end."""

    #: The pending file's name without ``.pending`` (a store's second commit loop adds ``-c1``).
    name: str
    pending: Path
    #: The pending file's lines after its header: the temp files it was creating.
    temps: list[str]


def ended_writers(out_dir: Path, *, own_writer: str | None = None) -> list[EndedWriter]:
    """The writers of DIR's pending files that are gone (same host and its pid dead, a
    zombie or reused; other hosts: pending file untouched for :data:`STALE_AFTER`).

    Lists ``journals/`` once and reads only ``.pending`` files: a folder whose runs all
    ended cleanly holds none, so this costs one directory listing there, whatever its size.
    """
    folder = out_dir / JOURNALS_DIR
    try:
        entries = [e for e in os.scandir(folder) if e.name.endswith(".pending")]
    except FileNotFoundError:
        return []
    own = f"{own_writer}.pending" if own_writer else None
    ended: list[EndedWriter] = []
    for entry in entries:
        if entry.name == own:
            continue
        try:
            raw = Path(entry.path).read_bytes()
            mtime = entry.stat().st_mtime
        except FileNotFoundError:
            continue
        lines = raw.decode("utf-8", "replace").split("\n")
        try:
            header = json.loads(lines[0])
            host, pid, start = header["host"], int(header["pid"]), header.get("start")
        except (ValueError, KeyError, TypeError):
            host, pid, start = None, -1, None
        if host == HOST:
            if process_alive(pid, start):
                continue
        elif time.time() - mtime < STALE_AFTER:
            continue
        ended.append(EndedWriter(entry.name[: -len(".pending")], Path(entry.path), lines[1:]))
    return ended


def clean_stale_temps(
    out_dir: Path, *, own_writer: str | None = None, ended: Sequence[EndedWriter] | None = None
) -> int:
    """Remove the temp files of writers that died, then their pending files; return how
    many temp files were removed.

    ``ended``: those writers, found by :func:`ended_writers` (found here when not given).
    Removes only paths their pending files list that carry the temp infix. Cost is
    proportional to the number of dead writers' in-flight batches, never to the size of DIR.
    """
    if ended is None:
        ended = ended_writers(out_dir, own_writer=own_writer)
    removed = 0
    for writer in ended:
        count = 0
        for rel in writer.temps:
            if TEMP_INFIX not in rel:
                continue
            try:
                resolve(out_dir, rel).unlink()
                count += 1
            except (FileNotFoundError, ValueError):
                pass
        removed += count
        with suppress(FileNotFoundError):
            writer.pending.unlink()
        if count:
            logger.info(
                "removed %s left by dead writer %s", plural(count, "temp file"), writer.pending.name
            )
    return removed


@dataclass
class LostFiles:
    """Files that the journal of a run which ended uncleanly records as done, and that are
    not on disk as it recorded them: each artifact they belong to is to be fetched again."""

    run: str
    #: Files that do not exist (a study record's several files count one each).
    missing: int = 0
    #: Files of another size than the journal recorded.
    resized: int = 0
    #: One ``"invalid"`` record per artifact, for the journal (see :func:`lost_files`).
    invalid: list[dict[str, Any]] = field(default_factory=list)

    @property
    def files(self) -> int:
        return self.missing + self.resized


def claim_ended(ended: Sequence[EndedWriter]) -> tuple[list[EndedWriter], list[int]]:
    """The ``ended`` writers this process is to check and clean up, all of whose pending
    files it could lock (``flock``, non-blocking, in name order), and the descriptors that
    hold those locks (close them once the lost files are journaled and the pending files
    removed).

    Why: the tasks of a job array start together, and each found the same interrupted
    runs ended: each stat'ed every file they had recorded, a stat per file per task on
    a shared filesystem. A writer another process holds (it is checking it) or whose
    pending file is gone (checked since this process listed it) is left to that one; this
    process checks its own images' files of it only (:func:`lost_files`). Where the
    filesystem cannot lock, every writer is claimed, as before.
    """
    groups: dict[str, list[EndedWriter]] = {}
    for writer in sorted(ended, key=lambda w: w.name):
        groups.setdefault(_store_of_loop(writer.name), []).append(writer)
    claimed: list[EndedWriter] = []
    held: list[int] = []
    for group in groups.values():
        fds: list[int] = []
        for writer in group:
            fd = _lock_pending(writer.pending)
            if fd is None:
                break
            fds.append(fd)
        if len(fds) == len(group):
            claimed.extend(group)
            held.extend(fds)
        else:
            for fd in fds:
                os.close(fd)
    return claimed, held


def _lock_pending(path: Path) -> int | None:
    """A descriptor holding ``path``'s lock, or None: held by another process, or gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in FLOCK_UNSUPPORTED:
            return fd
        os.close(fd)
        return None
    try:  # (removed, or removed and made anew, by the process that held it)
        same = os.stat(path).st_ino == os.fstat(fd).st_ino
    except OSError:
        same = False
    if not same:
        os.close(fd)
        return None
    return fd


def lost_files(
    out_dir: Path,
    ended: Sequence[EndedWriter],
    state: JournalState,
    claimed: Sequence[EndedWriter] | None = None,
) -> list[LostFiles]:
    """Of the runs whose writers ended uncleanly (``ended``), the files their journals record
    as done that are missing or of another size now; one entry per run with any.

    Why: a resume trusts the journals without a stat (a finished folder of 100,000 files
    resumes in seconds). A run that ended cleanly closed its store, so its journal and the
    disk agree. A run that did not leaves its pending file, and then a journal line can
    outlive its file: a folder moved to another filesystem while the run wrote (``mv``
    copies the images, then the journals: a file finished between the two is recorded
    but was not copied), a copy by rsync of a folder in use, files deleted by hand. Only
    those runs' own records are stat'ed, each file once (a record a later run superseded
    is that run's), so a folder whose runs all ended cleanly costs nothing here.

    ``claimed``: the writers of ``ended`` this process checks for every image
    (:func:`claim_ended`; None: all of them); of the others, the files of ``state``'s own
    images only (a shard's: another process checks the rest).
    """
    mine = {w.name for w in (ended if claimed is None else claimed)}
    writers: dict[str, str] = {}  # writer -> its run id, from the "run" records
    for rec in state.runs:
        writer, run = rec.get("writer"), rec.get("run")
        if isinstance(writer, str) and isinstance(run, str):
            writers[writer] = run
    found: list[LostFiles] = []
    checked: set[str] = set()
    for pending in ended:
        writer = _writer_of_pending(pending.name, writers)
        if writer is None or writer in checked:
            continue  # no run record names it: no journal of done files (verify's, a plan's)
        checked.add(writer)
        lost = _check_done_records(
            out_dir, writer, writers[writer], state, everyone=pending.name in mine
        )
        if lost.invalid:
            found.append(lost)
    return found


def _writer_of_pending(name: str, writers: Mapping[str, str]) -> str | None:
    """The writer whose pending file is ``journals/<name>.pending``: itself, or for a store's
    second commit loop (``<writer>-c1``) the store's writer; None when no run names it."""
    if name in writers:
        return name
    base = _store_of_loop(name)
    return base if base in writers else None


def _store_of_loop(name: str) -> str:
    """The writer of the store whose commit loop writes ``journals/<name>.pending``: ``name``
    less a second loop's ``-c1`` (``-cN``), else ``name`` itself."""
    base, sep, loop = name.rpartition("-c")
    return base if sep and loop.isdigit() else name


def _check_done_records(
    out_dir: Path, writer: str, run: str, state: JournalState, *, everyone: bool = True
) -> LostFiles:
    """Stat every file that ``writer``'s journal records as done and no later record took
    over (see :func:`lost_files`); ``everyone`` False: of ``state``'s own images only."""
    lost = LostFiles(run)
    try:
        path = journal_path(out_dir, writer)
    except ValueError:
        return lost
    latest: dict[tuple[str, int], Mapping[str, Any]] = {}
    for line in read_journal(path):
        if line.get("rec") == "done" and _well_formed(line):
            with suppress(TypeError):  # (an id that is no key: a list, say)
                latest[(line["kind"], line["id"])] = line
    for key, rec in latest.items():
        now = state.done.get(key)
        if now is None and not (state.partial and everyone):
            continue  # marked invalid since (verify): a harvest fetches it already
        if now is not None and (now["t"], now.get("run")) != (rec["t"], rec.get("run")):
            continue  # a later run recorded it again: its file is that run's
        problems = [p for f in _record_files(rec) if (p := _file_problem(out_dir, f))]
        if not problems:
            continue
        missing = sum(1 for p in problems if p.startswith("missing"))
        lost.missing += missing
        lost.resized += len(problems) - missing
        lost.invalid.append(
            {
                "rec": "invalid",
                "kind": rec["kind"],
                "id": rec["id"],
                "path": rec["path"],
                "reason": f"{'; '.join(problems)} (found by the run after the interrupted "
                f"run {run})",
                "t": invalid_time(rec["t"]),
            }
        )
    return lost


def _well_formed(rec: Mapping[str, Any]) -> bool:
    """Does a done line hold what :func:`_check_done_records` reads (kind, id, path, t)?
    Why: a line without them (a hand edit, another version) is skipped, as the journal's
    load skips it; read here, it stopped the store's open with a traceback."""
    t = rec.get("t")
    return (
        "kind" in rec
        and "id" in rec
        and isinstance(rec.get("path"), str)
        and isinstance(t, int | float)
        and not isinstance(t, bool)
    )


def invalid_time(done_t: object) -> float:
    """The ``t`` of an invalid record voiding a done record of time ``done_t``: now, or
    ``done_t`` where that is later. Why: records are folded by ``t`` (a done record later
    than an invalid one stands), and a run of a host whose clock ran ahead recorded its
    files at times this host has not reached: an invalid record at this host's time (the
    check of an interrupted run, verify's) lost to them, and the file was taken as done by
    every later load."""
    now = time.time()
    if isinstance(done_t, int | float) and not isinstance(done_t, bool):
        return max(now, float(done_t))
    return now


def _record_files(rec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The files of a done record: its own, then the extra ones of a study record."""
    extra = rec.get("files")
    return [rec, *(f for f in extra if isinstance(f, dict))] if isinstance(extra, list) else [rec]


def _file_problem(out_dir: Path, rec: Mapping[str, Any]) -> str | None:
    """What is wrong with one recorded file, in verify's words (``missing: ...``, ``damaged:
    size ...``), or None: as recorded, or it cannot be told (an unsafe path, a file that
    cannot be stat'ed: verify says)."""
    try:
        st = os.stat(resolve(out_dir, str(rec.get("path"))))
    except (FileNotFoundError, NotADirectoryError):
        return "missing: file does not exist"
    except (OSError, ValueError):
        return None
    size = rec.get("size")
    if isinstance(size, int) and stat.S_ISREG(st.st_mode) and st.st_size != size:
        return f"damaged: size {st.st_size} bytes, journal says {size}"
    return None


# --------------------------------------------------------------------------- stray temps

STRAYS_PREFIX = "strays-"
"""``journals/strays-<writer>.pending``: stray temp files of a writer of this host that has
ended, handed over by ``verify`` (:func:`hand_over_strays`) for the next harvest to remove."""


def writer_pid_here(writer: str) -> int | None:
    """The pid in ``writer`` when the name says it is a process of this host, else None.

    Writer names (:mod:`harvester.layout`) are ``<host>-<pid>-<run-id>[-shard-K-of-N][-plan]``
    (a store's, ``-c<n>`` for its second commit loop) or ``<tag>-<host>-<pid>-<6 hex>`` (one
    short task's). Matched whole, against this host's own name part: a host whose name starts
    with ours (``node`` and ``node-12``) cannot pass, since the parts after the pid have a
    fixed form. A name of another form (a run id given by hand) gives None: its writer cannot
    be probed, so nothing of it is ever removed. Nor when this host's name part may be shared
    with other machines: cut to its 40 characters (layout's limit), or a container's default
    (``localhost``): their pids are not ours to probe.
    """
    ours = host_component()
    if len(ours) >= HOST_PART_MAX or host_may_be_shared(ours):
        return None
    host = re.escape(ours)
    m = re.fullmatch(
        rf"{host}-(\d+)-{RUN_ID_PATTERN}(?:-shard-\d+-of-\d+)?(?:-plan)?(?:-c\d+)?", writer
    ) or re.fullmatch(rf"[a-z]+-{host}-(\d+)-[0-9a-f]{{6}}", writer)
    return int(m.group(1)) if m else None


@dataclass
class StrayTemps:
    """Temp files (``<target>.tmp-<writer>``) that no live pending file lists.

    ``ended``: writer -> (its pid, the files), for writers of this host whose process is gone
    (safe to remove: nobody writes them again); ``unknown``: the others, whose writer runs on
    another host, is still running here, or has a name that says neither (never removed).
    """

    ended: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        """Every stray, relative to DIR, sorted."""
        return sorted([p for _, rels in self.ended.values() for p in rels] + self.unknown)

    @property
    def removable(self) -> int:
        """How many belong to writers of this host that have ended."""
        return sum(len(rels) for _, rels in self.ended.values())


def find_stray_temps(out_dir: Path) -> StrayTemps:
    """Temp files under DIR that no writer's pending file lists (a pending file lost, a copy
    made while a harvest ran), with whether their writer has provably ended.

    Lists every folder of ``images/``, ``study/`` and ``runs/`` (and DIR's own files): a cost
    proportional to the folder, for ``verify``, which reads every file anyway; never for a
    harvest's start-up. Paths listed by a ``strays-*`` pending file (handed over by an earlier
    verify, not removed yet) are strays still. ``staging/`` is the stack code's (its own
    temp names), ``journals/`` and ``locks/`` hold none.
    """
    found: list[str] = []
    with suppress(OSError):
        found += [e.name for e in os.scandir(out_dir) if TEMP_INFIX in e.name and e.is_file()]
    for top in (IMAGES_DIR, STUDY_DIR, RUNS_DIR):
        for dirpath, dirs, files in os.walk(out_dir / top):
            rel_dir = Path(dirpath).relative_to(out_dir).as_posix()
            if rel_dir == RUNS_DIR:  # a user's runs/notes is no run's: not ours to remove
                dirs[:] = [name for name in dirs if is_run_id(name)]
                continue
            found += [f"{rel_dir}/{name}" for name in files if TEMP_INFIX in name]
    strays = StrayTemps()
    if not found:
        return strays
    listed = _listed_temps(out_dir)  # read after the walk: a temp made meanwhile is listed
    for rel in sorted(found):
        if rel in listed or not os.path.lexists(out_dir / rel):  # gone: renamed meanwhile
            continue
        writer = rel.rpartition(TEMP_INFIX)[2]
        pid = writer_pid_here(writer)
        if pid is not None and not process_alive(pid, None):
            strays.ended.setdefault(writer, (pid, []))[1].append(rel)
        else:
            strays.unknown.append(rel)
    return strays


def _listed_temps(out_dir: Path) -> set[str]:
    """The temp paths every pending file but the ``strays-*`` ones lists."""
    listed: set[str] = set()
    try:
        entries = [
            e
            for e in os.scandir(out_dir / JOURNALS_DIR)
            if e.name.endswith(".pending") and not e.name.startswith(STRAYS_PREFIX)
        ]
    except OSError:
        return listed
    for entry in entries:
        try:
            raw = Path(entry.path).read_bytes()
        except OSError:
            continue
        listed.update(raw.decode("utf-8", "replace").split("\n")[1:])
    return listed


def hand_over_strays(out_dir: Path, strays: StrayTemps) -> int:
    """Write a pending file per ended writer of ``strays`` (``journals/strays-<writer>.pending``,
    its header naming that writer's host and pid), so that the next harvest's
    :func:`clean_stale_temps` removes them by its usual rule: on this host once the pid is
    still dead (a pid reused since keeps them), elsewhere an hour after this file was written
    (the writer was proven ended here). Returns how many files were handed over; raises
    OSError (a read-only DIR: the caller reports them only)."""
    count = 0
    for writer, (pid, rels) in sorted(strays.ended.items()):
        try:
            path = pending_path(out_dir, f"{STRAYS_PREFIX}{writer}")
        except ValueError:  # too long a name with the prefix: reported, not handed over
            continue
        header = {"writer": writer, "host": HOST, "pid": pid, "start": None, "strays": True}
        data = json.dumps(header) + "\n" + "".join(rel + "\n" for rel in rels)
        atomic_write_bytes(out_dir, path, data.encode("utf-8"), durable=False)
        count += len(rels)
    return count


# --------------------------------------------------------------------------- out dir marker


def atomic_write_bytes(
    out_dir: Path,
    target: Path,
    data: bytes | bytearray | memoryview | Iterable[bytes],
    *,
    durable: bool = True,
    like: os.stat_result | None = None,
    before_rename: Callable[[Path], None] | None = None,
) -> None:
    """Write one file under DIR atomically (temp beside it, fsync, rename, fsync folder).

    ``data``: the bytes, or pieces of them written one after another (a big index.csv is
    rendered a slice of rows at a time, never held whole: see :func:`harvester.index.csv_pieces`).
    ``like``: the stat of the file being rewritten, whose mode and group the new one keeps
    (:func:`_keep_mode_and_group`); None: a new file's (0644 less the umask, the folder's group).
    ``before_rename``: called with the temp file once it is complete (written, synced, its
    mode set: its size and modification time are the target's to be), before the rename
    (:func:`harvester.index.write_table` records the table there).
    Its temp file is announced in a pending file of its own, so a crash mid-way is cleaned up
    by the next :meth:`Store.open` like any other. Raises OSError (callers translate).
    """
    with _announced_temp(out_dir, target) as tmp:
        target.parent.mkdir(parents=True, exist_ok=True)
        pieces = (data,) if isinstance(data, bytes | bytearray | memoryview) else data
        _write_file(tmp, pieces, durable=durable)
        if like is not None:
            _keep_mode_and_group(tmp, like)
        if before_rename is not None:
            before_rename(tmp)
        os.replace(tmp, target)
        if durable:
            _fsync_dir(target.parent)


def _keep_mode_and_group(path: Path, like: os.stat_result) -> None:
    """Give ``path`` (a temp file of ours) the permission bits and group of ``like``, the file
    it replaces: in a group-writable shared folder (an HPC project's), a file rewritten in
    place must stay as its group could use it (0664, the project's group), not become this
    process's default (0644, its own group). The group only where this process may set it
    (root, or a member of that group); else the new file keeps its own (a debug line). The
    owner stays this process's: only root could give the file back to another user."""
    if os.stat(path).st_gid != like.st_gid:
        try:
            os.chown(path, -1, like.st_gid)  # before the chmod: a chown may clear setgid bits
        except PermissionError as exc:
            logger.debug("%s keeps its own group, not %d: %s", path, like.st_gid, exc)
    os.chmod(path, stat.S_IMODE(like.st_mode))


@contextmanager
def _announced_temp(out_dir: Path, target: Path) -> Iterator[Path]:
    """A temp path beside ``target`` for one atomic write, removed if still there at the end.

    It is announced in a pending file of its own while the block runs, so a crash mid-way
    is cleaned up by the next :meth:`Store.open` like any other temp file.
    """
    writer = ephemeral_writer("w")
    (out_dir / JOURNALS_DIR).mkdir(parents=True, exist_ok=True)
    # Not fsynced: it marks no run for the check of done files (no journal goes with it),
    # and a temp it failed to keep through a power loss is verify's to find.
    pending = PendingFile(out_dir, writer, durable=False)
    tmp = temp_path(target, writer)
    try:
        pending.begin([tmp.relative_to(out_dir).as_posix()])
        yield tmp
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()
        pending.end()
        pending.close()


def _write_file(
    path: Path, pieces: Iterable[bytes | bytearray | memoryview], *, durable: bool = True
) -> None:
    """Create ``path`` with ``pieces`` one after another (fsync'd when ``durable``)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        for piece in pieces:
            write_all(fd, piece)
        if durable:
            flush_drive(fd)  # (fsync; on macOS past the drive's cache, before the rename)
    finally:
        os.close(fd)


class DamagedMarkerError(UsageError):
    """``harvest.json`` no longer parses, in a folder whose journals say it is ours.

    A harvest is refused (it would write the marker again without the settings check);
    ``status``, ``verify`` and ``index`` only note it (:func:`harvester.verify.damaged_marker`).
    """

    def __init__(self, out_dir: Path, size: int) -> None:
        self.size = size
        path = out_dir / MARKER_NAME
        #: What is wrong, in the words the notes of ``status``/``verify``/``index`` use too
        #: (they said "not a JSON object" where the harvest said "not JSON", of one file).
        self.damage = f"{path} is damaged (not a JSON object, {size} bytes)"
        super().__init__(
            f"{self.damage}, but {out_dir} holds harvest journals",
            hint=f"remove {path} and run the harvest again (it is written again, with the "
            "settings the runs saved)",
        )


def read_marker(out_dir: Path) -> dict[str, Any] | None:
    """The parsed ``harvest.json`` of DIR, None when absent; UsageError when foreign or newer."""
    try:
        raw = (out_dir / MARKER_NAME).read_bytes()
    except FileNotFoundError:
        return None
    try:
        marker = json.loads(raw)
    except ValueError:
        marker = None
    if not isinstance(marker, dict) and (out_dir / JOURNALS_DIR).is_dir():
        # Ours, by its journals, with the marker cut short or overwritten (a full disk, a
        # bad copy): "choose another --out folder" would tell the user to give up the run.
        raise DamagedMarkerError(out_dir, len(raw))
    if not isinstance(marker, dict) or marker.get("tool") != TOOL_NAME:
        raise UsageError(
            f"{out_dir} holds a {MARKER_NAME} that was not written by harvester",
            hint="choose another --out folder",
        )
    layout = marker.get("layout")
    if not isinstance(layout, int) or layout > LAYOUT_VERSION:
        raise UsageError(
            f"{out_dir} uses on-disk layout version {layout!r}; this harvester "
            f"{__version__} understands up to {LAYOUT_VERSION}",
            hint="upgrade harvester, or choose another --out folder",
        )
    return marker


#: How long a write that found a folder of DIR gone waits to see whether DIR itself goes
#: (a removal under way), before saying only that something inside it went.
FOLDER_GONE_WAIT = 1.0

MARKER_LOCK = "marker.lock"
"""``DIR/locks/marker.lock``: held (flock) while the marker is created or given settings, so
that processes starting together on one folder (SLURM shards) never lose each other's writes."""


@contextmanager
def _marker_lock(out_dir: Path) -> Iterator[bool]:
    """Hold DIR's marker lock; without flock support (some parallel filesystems), run unlocked.

    Yields whether the lock is held: a re-pin (:func:`_write_marker`) needs it to be.
    """
    with folder_lock(out_dir, MARKER_LOCK) as locked:  # held for a marker write: milliseconds
        yield locked


#: Where a re-pin is said: shown under --quiet too (it changes what the folder keeps).
_problems = logging.getLogger(PROBLEMS_LOGGER)


def check_settings(out_dir: Path, settings: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Refuse a run whose kept settings differ from DIR's (:mod:`harvester.folder_settings`).

    Reads only (the marker; for a folder whose marker lacks a setting, the runs' saved
    configurations, and the journals if those disagree with this run): a harvest calls it
    before its first request, a dry run and ``harvester slurm`` too. ``settings``: the run's
    :func:`~harvester.folder_settings.run_settings`. Returns the settings that differ but
    could be re-pinned now (no file of their kind, no run lock of DIR held), name -> (the
    folder's value, the run's): a dry run says so, ``harvester slurm`` re-pins them
    (:func:`repin_settings`). A new folder passes. :meth:`Store.open` checks again under
    the marker lock, after taking the run's own lock, and records (or re-pins).
    """
    if not settings or not out_dir.is_dir():
        return {}
    marker = read_marker(out_dir)
    if marker is None and not (out_dir / JOURNALS_DIR).is_dir():
        return {}
    recorded = recorded_settings(marker)
    old = repinnable(out_dir, recorded, settings, _nobody_else(out_dir))
    settle(out_dir, {**recorded, **{name: settings[name] for name in old}}, settings)
    return {name: (value, settings[name]) for name, value in old.items()}


def repin_settings(out_dir: Path, settings: Mapping[str, Any]) -> None:
    """Re-pin DIR's kept settings that differ from ``settings`` (``harvester slurm``).

    For a command that holds no run lock and writes no artifact: under the marker lock,
    the marker is read again and each differing setting is set to ``settings``' value
    when nothing of its kind is done and no run lock of DIR is held (one warning line
    each); otherwise the refusal is raised as :func:`check_settings` raises it. Settings
    the marker does not keep yet are left to the first run that fetches their kind.
    """
    try:
        marker = read_marker(out_dir)
        if marker is None:
            return
        with _marker_lock(out_dir) as locked:
            recorded = recorded_settings(read_marker(out_dir))
            kept = {name: value for name, value in settings.items() if name in recorded}
            if kept:
                _write_marker(out_dir, kept, repin_if=_nobody_else(out_dir) if locked else None)
    except OSError as exc:
        raise storage_error(exc, f"output folder {out_dir}") from exc


def _nobody_else(out_dir: Path, own: str | None = None) -> Callable[[], bool]:
    """Does no run lock of DIR but ``own`` (the lock file this process holds) look held?"""
    return lambda: not others_may_hold(out_dir, own)


def prepare_out_dir(
    out_dir: Path,
    settings: Mapping[str, Any] | None = None,
    *,
    holding: str | None = None,
) -> None:
    """Create DIR (and its marker) or check that an existing DIR is ours and writable.

    ``settings`` (:func:`~harvester.folder_settings.run_settings` of a harvest): refused with
    a :class:`UsageError` when DIR keeps other values; those DIR does not keep yet are added
    to its marker. The marker is only ever written under DIR's marker lock, after reading it
    again there, so processes starting at once on one folder agree on one set of values.

    ``holding``: the name of the run lock (:func:`~harvester.runlock.lock_name`) this process
    holds. Only then may a differing setting be re-pinned (see
    :func:`~harvester.folder_settings.repinnable`), and only then is the marker read under
    the marker lock even when it keeps this run's values: a value can change now, so a read
    outside the lock could see the old value while another shard writes the new one, and
    both would go on. Under the lock, of two runs the one reading second finds the first's
    run lock held: it sees the first's value, or is refused. Without ``holding``, a run whose
    settings DIR keeps already takes no lock and writes nothing.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise StorageError(
            f"output folder {out_dir} is a file, not a folder", hint="choose another --out"
        )
    if not (out_dir / MARKER_NAME).exists():
        _refuse_harvest_inside_harvest(out_dir)
    wanted = dict(settings or {})
    # What this call makes of a folder that is no harvest yet: its own to undo on failure.
    made: list[Path] = []
    had = {path for path in _start_paths(out_dir) if os.path.lexists(path)}
    try:
        _make_folders(out_dir, made)
        out_dir.mkdir(parents=True, exist_ok=True)  # (what is left: a file there is named)
        marker = read_marker(out_dir)
        if marker is not None and holding is None:
            recorded = recorded_settings(marker)
            for name, value in wanted.items():  # changed only by a lock holder: see above
                if name in recorded and recorded[name] != value:
                    settle(out_dir, recorded, {name: value})  # raises the refusal
        if (
            marker is None
            or (holding is not None and wanted)
            or any(name not in recorded_settings(marker) for name in wanted)
        ):
            with _marker_lock(out_dir) as locked:
                repin_if = _nobody_else(out_dir, holding) if holding and locked else None
                _write_marker(out_dir, wanted, repin_if=repin_if)
        (out_dir / JOURNALS_DIR).mkdir(exist_ok=True)
    except OSError as exc:
        started = out_dir / MARKER_NAME in had  # (a harvest's folder: its runs resume)
        if not started:
            _remove_unstarted(out_dir, made, had)
        raise storage_error(exc, f"output folder {out_dir}", started=started) from exc


def _refuse_harvest_inside_harvest(out_dir: Path) -> None:
    """Refuse to start a harvest in a folder inside another harvest's folder (a UsageError,
    exit 2, naming the outer one); nothing otherwise.

    Why: ``--out DIR/study`` or ``--out DIR/images/x`` (a typo, a path completed one level too
    deep) mixed a second harvest's files into the first's: its study files, images and
    temporary files where the outer run writes, sweeps leftovers and counts what is on disk.
    Only a folder that is no harvest yet is checked: one an older version nested keeps working.
    Where the folder really is decides (:func:`_real_parents`): a symlink into a harvest is
    inside it, one from a harvest to elsewhere is not.
    """
    shown = harvest_folder_above(out_dir)
    if shown is not None:
        undo = ""
        if _below_a_folder_of_its_own(out_dir, shown):
            undo = (
                f"; if {shown} became a harvest folder by mistake (an --out given a folder of "
                f"your own files), its {MARKER_NAME} makes it one: remove it, and what "
                f"that harvest wrote there ({JOURNALS_DIR}/, {RUNS_DIR}/, {IMAGES_DIR}/, "
                f"{STUDY_DIR}/, index.csv, ...)"
            )
        raise UsageError(
            f"output folder {out_dir} is inside the harvest folder {shown}",
            hint=f"choose an --out folder outside {shown} (beside it, for example), or "
            f"--out {shell_quote(str(shown))} to go on with that harvest{undo}",
        )


#: The folders a harvest makes in DIR: an --out below one of them is a path completed one
#: level too deep (``DIR/study``), not a folder of the user's beside the harvest's files.
_HARVEST_SUBFOLDERS = frozenset(
    {IMAGES_DIR, STUDY_DIR, RUNS_DIR, JOURNALS_DIR, "staging", "locks", "plan", "logs", "samples"}
)


def _below_a_folder_of_its_own(out_dir: Path, harvest: Path) -> bool:
    """Is ``out_dir`` below a folder of harvest folder ``harvest`` that no harvest makes
    (``DIR/mydata/x``, ``DIR/new``), rather than below one it does (``DIR/images/x``)?

    Why: after ``--out .`` in a folder of the user's files (said in a warning, and done),
    every later ``--out NEW`` there was refused as inside that harvest, with no word of how
    to undo it."""
    try:
        inner = Path(os.path.relpath(os.path.realpath(out_dir), os.path.realpath(harvest)))
    except ValueError:
        return False
    return bool(inner.parts) and inner.parts[0] not in _HARVEST_SUBFOLDERS


def harvest_folder_above(out_dir: Path) -> Path | None:
    """The harvest folder that holds folder ``out_dir`` (as the user's path names it), the
    nearest; None when none does (:func:`_refuse_harvest_inside_harvest`)."""
    for parent in _real_parents(out_dir):
        if _is_harvest_marker(parent / MARKER_NAME):
            return _as_given(out_dir, parent)
    return None


def _real_parents(out_dir: Path) -> Iterator[Path]:
    """The folders that really hold ``out_dir`` (symlinks and ``..`` resolved, as the
    system resolves them when the folder is made), the nearest first, up to the edge of the
    file system its nearest existing folder is on.

    Why the edge: a harvest's folders are on its own file system, and asking above it
    looks names up in folders such as an automounter's ``/home`` or ``/net``, where a
    name that is not there (``/home/harvest.json``) is a mount attempted over the network,
    once for each new folder (git stops its search for ``.git`` there too).
    """
    device: int | None = None
    for parent in Path(os.path.realpath(out_dir)).parents:
        try:
            here = parent.stat().st_dev
        except OSError:
            continue  # not made yet (or not to be looked in): no harvest's
        if device is None:
            device = here
        elif here != device:
            return
        yield parent


def _as_given(out_dir: Path, real: Path) -> Path:
    """Folder ``real`` as the user's path to ``out_dir`` names it where one of its parents
    is that folder (relative when the path was, but the current folder by its path: "the
    harvest folder ." read as a slip), else ``real`` itself."""
    for parent in Path(os.path.abspath(out_dir)).parents:
        if os.path.realpath(parent) == str(real):
            relative = Path(os.path.relpath(parent))
            return parent if out_dir.is_absolute() or relative == Path(".") else relative
    return real


def _is_harvest_marker(path: Path) -> bool:
    """Whether ``path`` is a harvest.json harvester wrote (any layout version): a foreign
    file of that name, or a ``journals`` folder of the user's, makes no harvest folder."""
    try:
        with path.open("rb") as handle:
            marker = json.loads(handle.read(1 << 20))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("tool") == TOOL_NAME


def _make_folders(out_dir: Path, made: list[Path]) -> None:
    """Make DIR and its parents that do not exist, the outermost first; each this call
    made goes to the front of ``made`` as it is made (DIR first: the order to undo them).

    Why one ``mkdir`` each, not ``mkdir(parents=True)`` after a look at what was missing:
    a folder another process (the user, a second run) made in between was taken for this
    run's and removed with it; and a path through ``..`` (``new/../x``) named the same
    folder twice, so the undo stopped at the first and left the rest behind."""
    missing: list[Path] = []
    for folder in (out_dir, *out_dir.parents):
        if os.path.lexists(folder):
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue  # (made meanwhile by another, or the same folder again through ..)
        made.insert(0, folder)


def _start_paths(out_dir: Path) -> tuple[Path, ...]:
    """What starting a harvest in DIR makes: its marker, ``journals/``, its marker lock and
    ``locks/`` (see :func:`prepare_out_dir`)."""
    locks = out_dir / LOCKS_DIR
    return (out_dir / MARKER_NAME, out_dir / JOURNALS_DIR, locks / MARKER_LOCK, locks)


def _remove_unstarted(out_dir: Path, made: Sequence[Path], had: set[Path]) -> None:
    """Undo the start of a harvest in DIR that :func:`prepare_out_dir` could not finish (a
    disk full as the marker was written): of what it makes (:func:`_start_paths`), what was
    not there before (``had``), then ``made`` (DIR and the parents made for it).

    Why: left, DIR looked like a harvester folder with nothing in it. Only empty folders
    are removed (``rmdir``), the marker lock only where no other process holds it, and
    nothing once DIR has a marker: whatever another process starting on the same folder
    put there stays, and so does everything that was there before this run."""
    marker, journals, lock, locks = _start_paths(out_dir)
    if os.path.lexists(marker):
        return  # another run took DIR meanwhile: it is a harvest now
    if lock not in had:
        _remove_free_lock(lock)
    for folder in (journals, locks, *made):
        if folder in had:
            continue
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError:  # not empty: another process's files, or one of DIR's own
            return


def _remove_free_lock(path: Path) -> None:
    """Remove lock file ``path`` unless another process holds it (then it stays)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink()
    except OSError:
        return
    finally:
        os.close(fd)


def _write_marker(
    out_dir: Path, wanted: Mapping[str, Any], *, repin_if: Callable[[], bool] | None = None
) -> None:
    """Create the marker, add settings to it or re-pin them (the caller holds the marker lock).

    ``repin_if``: given only where a re-pin is allowed (the marker lock really held, and the
    caller's own run lock, if any): says whether no other run can be writing
    (:func:`~harvester.folder_settings.repinnable`).
    """
    marker = read_marker(out_dir)  # again: another process may have written it meanwhile
    recorded = recorded_settings(marker)
    old: dict[str, Any] = {}
    if repin_if is not None and marker is not None:
        old = repinnable(out_dir, recorded, wanted, repin_if)
        recorded.update({name: wanted[name] for name in old})
    add, warnings = settle(out_dir, recorded, wanted)
    if marker is not None and not add and not old:
        return
    new: dict[str, Any] = (
        dict(marker)  # other keys kept as they are (a later version's too)
        if marker is not None
        else {"tool": TOOL_NAME, "layout": LAYOUT_VERSION, "version": __version__}
    )
    new[SETTINGS_KEY] = {**recorded, **add}
    data = json.dumps(new).encode()
    if marker is None:
        if not _create_new(out_dir, out_dir / MARKER_NAME, data):
            _write_marker(out_dir, wanted)  # made meanwhile (unlocked): settle against it
            return
    else:
        atomic_write_bytes(out_dir, out_dir / MARKER_NAME, data)
    for name, value in old.items():
        _problems.warning("%s", repin_note(out_dir, name, value, wanted[name]))
    for line in warnings:
        logger.warning("%s", line)


#: link(2) errors meaning "this filesystem has no hard links": create by rename instead.
#: (ENOTSUP: what macOS answers where a filesystem has none; not EOPNOTSUPP's number there.)
_NO_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK})


def _create_new(out_dir: Path, target: Path, data: bytes) -> bool:
    """Create ``target`` with ``data`` atomically unless it exists; False when it did.

    The marker lock makes this race-free where flock works; link(2), which refuses an
    existing name, keeps the creation so where it does not (shards starting at once on a
    parallel filesystem mounted without flock): the first marker wins, and every other
    process reads it instead of replacing it. The temp file is announced like
    :func:`atomic_write_bytes`'s, so a crash mid-way is cleaned up by the next open.
    """
    with _announced_temp(out_dir, target) as tmp:
        _write_file(tmp, (data,))
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            os.replace(tmp, target)  # no hard links here: as atomic_write_bytes does
        _fsync_dir(target.parent)
        return True


def scrub_saved_credentials(out_dir: Path, runs: Iterable[Mapping[str, Any]]) -> int:
    """Rewrite DIR's saved run records (``runs/<run>/config.json``) that hold a credential in
    a URL in the clear, with it redacted; their number. One line says so (never a value).

    Why: before 0.1.13 a ``--base-url`` user alone (``https://TOKEN@host``, an access token)
    was not taken for a credential, and each run's saved command line (``argv``) kept it.
    ``runs``: the journals' "run" records (:attr:`JournalState.runs`, loaded by the caller),
    whose ``argv`` was saved with the record's: only the records of runs whose journaled
    command line holds such a URL are read (a folder of this version: none; nothing more
    is read). Every string holding a URL is passed through
    :func:`~harvester.errors.redact_url` (idempotent), and a record that changes is written
    again atomically (its mode and group kept), read again under DIR's marker lock, so that
    two commands opening DIR at once do not both write it. A resume still reads it: the base
    URL's word becomes ``REDACTED@host``, which asks for the token again, as a record saved
    now does.
    Journals are not rewritten: each is its writer's append-only history, perhaps being
    appended to by a live run at this moment; the line says they may still hold it.
    A folder that cannot be written (a read-only copy) is left as it is (a debug line).
    """
    held = sorted(
        {
            run_config_path(out_dir, str(rec.get("run")))
            for rec in runs
            if isinstance(rec.get("argv"), list) and _redacted_strings(rec["argv"]) != rec["argv"]
        }
    )
    if not held:
        return 0
    try:
        with _marker_lock(out_dir):
            rewritten = sum(_scrub_record(out_dir, path) for path in held)
    except OSError as exc:
        logger.debug("saved run records of %s not scrubbed: %s", out_dir, exc)
        return 0
    if rewritten:
        _problems.warning(
            "%s of %s (written before harvester 0.1.13) held a --base-url user or token in "
            "the clear: rewritten with it REDACTED; the journals of those runs may still hold "
            "it (append-only history, never rewritten): renew the token if others can read "
            "the folder",
            "1 saved run record (runs/)"
            if rewritten == 1
            else f"{rewritten} saved run records (runs/)",
            out_dir,
        )
    return rewritten


#: A journal's first line, its "run" record, is read up to this size (a long command line,
#: ids typed one by one, may pass 64 KiB; a journal whose first line is longer is passed over).
_RUN_RECORD_MOST = 1 << 20


def scrub_folder_credentials(out_dir: Path) -> int:
    """:func:`scrub_saved_credentials` for a command that loads no journal state (``slurm``,
    ``forget``); the saved run records rewritten.

    Why: those commands read DIR's saved run records too (the folder's server, its target
    sets), and left one written before 0.1.13 with a token in the clear while harvest, plan,
    status, verify and index rewrote it. The journals' "run" records are read from each
    journal's first line alone (the record its writer journals as it opens): a folder of a
    million images is not folded for them. Nothing there (a new DIR): nothing is done.
    """
    return scrub_saved_credentials(out_dir, _journaled_runs(out_dir))


def _journaled_runs(out_dir: Path) -> list[dict[str, Any]]:
    """The "run" record each journal of DIR begins with (unreadable ones passed over)."""
    runs: list[dict[str, Any]] = []
    for path in journal_files(out_dir):
        try:
            with open(path, "rb") as handle:
                first = json.loads(handle.readline(_RUN_RECORD_MOST).strip(b"\x00 \t\r\n"))
        except (OSError, ValueError):
            continue
        if isinstance(first, dict) and first.get("rec") == "run":
            runs.append(first)
    return runs


def _redacted_strings(value: Any) -> Any:
    """``value`` (parsed JSON) with every string that holds a URL redacted (:func:`redact_url`)."""
    if isinstance(value, str):
        return redact_url(value) if "://" in value else value
    if isinstance(value, list):
        return [_redacted_strings(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted_strings(item) for key, item in value.items()}
    return value


def _saved_record(path: Path) -> dict[str, Any] | None:
    """A saved run record of ours, parsed; None for anything else (left alone)."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:  # a run killed before it saved its record
        return None
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("tool") == TOOL_NAME else None


def _scrub_record(out_dir: Path, path: Path) -> bool:
    """Rewrite one saved run record redacted (the caller holds the marker lock), as
    :meth:`Store.save_run_config` writes it; whether it was (read again: it may have been
    rewritten by another command meanwhile)."""
    data = _saved_record(path)
    if data is None:
        return False
    redacted = _redacted_strings(data)
    if redacted == data:
        return False
    text = json.dumps(redacted, indent=2, sort_keys=True, default=str) + "\n"
    # Its mode and group kept: a run record of a shared folder stays its group's to rewrite.
    atomic_write_bytes(out_dir, path, text.encode(), like=path.stat())
    return True


def check_existing_out_dir(out_dir: Path) -> None:
    """For the commands that read a harvest (status, verify, index): DIR must be one.

    The one place that words a wrong DIR for them, so that every command says the same:
    ``DIR does not exist``, ``DIR is a file, not a folder``, or ``DIR is not a harvester folder
    (no harvest.json)``, each a UsageError (exit 2) with a hint; a foreign or newer
    ``harvest.json`` is refused as :func:`read_marker` says. A folder with journals but no
    marker is accepted (its journals are what these commands read).
    """
    hint = "give the --out folder of a harvest"
    if not out_dir.is_dir():
        if out_dir.exists():  # (DIR/index.csv, say: the harvest meant is named)
            near = harvests_near(out_dir)
            raise UsageError(
                f"{out_dir} is a file, not a folder",
                hint=hint + (f": {out_dir} {near.text}" if near else ""),
            )
        raise UsageError(f"{out_dir} does not exist", hint=hint)
    if read_marker(out_dir) is None and not (out_dir / JOURNALS_DIR).is_dir():
        raise UsageError(
            f"{out_dir} is not a harvester folder (no {MARKER_NAME})",
            hint=hint + (f": {out_dir} {near.text}" if (near := harvests_near(out_dir)) else ""),
        )


def refuse_unstarted_array(out: Path, command: str) -> None:
    """Refuse ``harvester COMMAND DIR`` (``index``, ``verify``, ``forget``) on a folder
    ``harvester slurm`` prepared, before any task wrote ``harvest.json``: a UsageError
    (exit 2) that says so, names the tasks' logs and what to do; nothing otherwise.

    Why: ``verify`` and ``forget`` said "DIR is not a harvester folder" of the folder
    status names as a job array not submitted yet, sending the user looking for a wrong
    path; and the index job queued after an array whose every task failed early (a typo in
    the script, a module missing on the nodes) lands here. The folder is right: nothing in
    it is harvested yet, and the tasks' logs say why. Once one task has harvested, each
    command reads what is there.
    """
    from harvester.status import read_slurm_script  # (only beside a folder with no marker)

    if not out.is_dir() or (out / MARKER_NAME).exists() or (out / JOURNALS_DIR).is_dir():
        return
    slurm = read_slurm_script(out)
    if slurm is None:
        return
    where = f"; their logs: {slurm.logs}" if slurm.task_logs and slurm.logs else ""
    quoted = shell_quote(str(out))
    raise UsageError(
        f"nothing to {command} in {out}: no task of its job array has started a harvest yet "
        f"(no {MARKER_NAME}){where}",
        hint=f"harvester status {quoted} says what the tasks did (or how to submit them); "
        f"run harvester {command} again once a task has harvested",
    )


#: How many entries of a folder that is no harvest are looked at for harvests in it: a
#: look, not a search (the folder may be ``images/009`` of a big harvest, or a home).
_NEAR_LOOK = 1000


#: The most entries :func:`foreign_entries` counts (it stops at one more).
FOREIGN_COUNTED = _NEAR_LOOK


def foreign_entries(out_dir: Path, own: Iterable[Path] = ()) -> int:
    """How many entries of folder ``out_dir`` are no harvest's, for a command about to
    start one there: 0 where it is not there (the command makes it), or is a harvest (its
    ``harvest.json`` or ``journals/``) or a folder ``harvester slurm`` prepared for one
    (:func:`_harvest_note`: its tasks start there), else its entries but the hidden ones
    (``.DS_Store``, ``.snapshot``: no files of the user's to mix with) and ``own``
    (the command's own config and ids files, put there to harvest with). At most
    :data:`FOREIGN_COUNTED` + 1 are counted: a look, not a search (``--out ~``).

    Why: ``--out .`` in a folder of the user's own files spread the harvest's files and
    folders among them without a word (:func:`harvester.cli.harvest.warn_foreign_folder`)."""
    try:
        if not out_dir.is_dir() or _harvest_note(out_dir) is not None:
            return 0
        skip = {os.path.realpath(path) for path in own}
        found = 0
        with os.scandir(out_dir) as entries:
            for entry in entries:
                if entry.name.startswith(".") or os.path.realpath(entry.path) in skip:
                    continue
                found += 1
                if found > FOREIGN_COUNTED:
                    break
        return found
    except OSError:  # (unreadable: the run that writes there says so)
        return 0


#: How a harvest ``harvester slurm`` prepared is named in :func:`harvests_near`'s answer.
PREPARED_NOTE = " (prepared by harvester slurm, no task has started)"


def _harvest_note(folder: Path) -> str | None:
    """What :func:`harvests_near` says after ``folder``'s name: "" for a harvest (its
    ``harvest.json``, or its ``journals/``, as :func:`check_existing_out_dir` takes them),
    :data:`PREPARED_NOTE` for a job array ``harvester slurm`` prepared there (its
    ``harvest.sbatch``: no ``harvest.json`` nor journals until a task starts, and
    ``status`` reports it), None for neither.

    Why the prepared ones: ``status data`` on the parent of such a folder named nothing,
    where the folder's own ``status`` is what its script says to run."""
    if (folder / MARKER_NAME).is_file() or (folder / JOURNALS_DIR).is_dir():
        return ""
    from harvester.slurm import SCRIPT_NAME

    if not (folder / SCRIPT_NAME).is_file():
        return None
    from harvester.status import read_slurm_script  # (only beside a script of that name)

    return PREPARED_NOTE if read_slurm_script(folder) is not None else None


#: How many harvests in a folder :class:`HarvestsNear` names (the others are counted).
_NEAR_NAMED = 3


@dataclass(frozen=True)
class HarvestsNear:
    """The harvests by a folder ``D`` that is none (:func:`harvests_near`): the one it is
    ``inside`` (as named, with its note; "" none), else those it ``holds`` (each named with
    its note, sorted; empty: none). False when neither.

    Why a value, not the sentence alone: the resume's hint said "one of them" or "that
    folder" by reading the sentence's words back ("holds ", " harvests, ")."""

    inside: str = ""
    holds: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.inside or self.holds)

    @property
    def text(self) -> str:
        """``"is inside the harvest DIR"`` or ``"holds 2 harvests, D/a and D/b"`` (the
        first :data:`_NEAR_NAMED`, then how many more); "" for none. The caller says the
        folder's name before it."""
        if self.inside:
            return f"is inside the harvest {self.inside}"
        if not self.holds:
            return ""
        more = len(self.holds) - _NEAR_NAMED
        named = [*self.holds[:_NEAR_NAMED], *([f"{more} more"] if more > 0 else [])]
        return f"holds {plural(len(self.holds), 'harvest')}, {and_list(named)}"


def harvests_near(out_dir: Path, *, prepared: bool = True) -> HarvestsNear:
    """The harvests by ``out_dir``, a folder that is none (:class:`HarvestsNear`).
    ``prepared``: also name a folder ``harvester slurm`` prepared, said to be so
    (:func:`_harvest_note`); False for a resume, which has nothing to resume there."""

    # Why: ``harvester status data`` after ``--out data/mitosis``, or ``status DIR/images``,
    # was told only to give a harvest's folder; the one meant is next to it. Reads the
    # folder's first _NEAR_LOOK entries and its parents' markers, nothing more.
    def note(folder: Path) -> str | None:
        said = _harvest_note(folder)
        return None if said == PREPARED_NOTE and not prepared else said

    for parent in Path(os.path.abspath(out_dir)).parents:
        if (said := note(parent)) is not None:
            # Named as DIR was (relative to here when it was), unless that is "." or "..".
            shown = os.path.relpath(parent) if not out_dir.is_absolute() else str(parent)
            return HarvestsNear(inside=f"{parent if shown[:1] == '.' else shown}{said}")
    found: list[str] = []
    with suppress(OSError), os.scandir(out_dir) as entries:
        for n, entry in enumerate(entries):
            if n >= _NEAR_LOOK:
                break
            if entry.is_dir() and (said := note(Path(entry.path))) is not None:
                found.append(f"{out_dir / entry.name}{said}")
    return HarvestsNear(holds=tuple(sorted(found)))


# --------------------------------------------------------------------------- the store


@dataclass
class StoreStats:
    """Counters of what this store committed (for the run summary and progress)."""

    files: int = 0
    bytes: int = 0
    batches: int = 0
    records: int = 0
    #: Files made hard links to an identical file rather than written (see put_bytes).
    linked: int = 0
    #: Their bytes, which take no more disk (counted in ``bytes`` too).
    linked_bytes: int = 0


@dataclass
class _Part:
    rel_path: str
    #: ``DIR/rel_path`` as a string (:meth:`Store._path`, which checked ``rel_path``): the
    #: commit's system calls take it as it is. Why not a Path: making, joining and renaming
    #: Path objects was a tenth of a thumbnail's CPU time in the commit (:attr:`target`
    #: makes one for the rare shared file).
    path: str
    data: bytes | None = None
    src: Path | None = None
    sha256: str | None = None
    size: int = 0
    #: Bytes another image may hold too (a fileset's paths): a hard link where they match
    #: a file stored just before (:mod:`harvester.samefiles`).
    shared: bool = False
    #: A file an earlier run stored with these bytes (a done record's path), linked to when
    #: no file of this run is: a resume's first image of a fileset (:class:`EarlierFiles`).
    earlier: str | None = None
    #: Made a hard link to another file rather than written (its done record says so).
    linked: bool = False
    #: The object's done record says its file holds these bytes (an image fetched again),
    #: and whether it said "linked": kept as it is if it still does (see _kept_shared).
    own: bool = False
    was_linked: bool = False

    @property
    def target(self) -> Path:
        """:attr:`path` as a Path (for the shared files' checks and links)."""
        return Path(self.path)


@dataclass
class _Item:
    kind: str = ""
    object_id: int = 0
    parts: list[_Part] = field(default_factory=list)
    record: dict[str, Any] | None = None
    #: More fields of the done record (a rois file's ``roi_count``, known when it is stored).
    extra: Mapping[str, Any] | None = None
    #: Its place in the queue, from 1 (see :meth:`Store.flush`).
    seq: int = 0


class Store:
    """Durable, journaled writes into DIR for one process (see the module docstring).

    Use :meth:`open`; ``state`` is the folded journals at open time, kept up to date with this
    store's own commits, so the pipeline can skip done work without any request or stat.
    """

    state: JournalState
    stats: StoreStats

    def __init__(
        self,
        out_dir: Path,
        *,
        run_id: str,
        writer: str,
        batch_size: int,
        flush_interval: float,
        sync: SyncMode,
        threads: int,
    ) -> None:
        if batch_size < 1 or flush_interval < 0 or threads < 1:
            raise ValueError("batch_size and threads must be >= 1, flush_interval >= 0")
        try:
            check_writer(writer)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        self.out_dir = out_dir
        self._out_str = os.fspath(out_dir)  # (see _path)
        self.run_id = run_id
        self.writer = writer
        self.sync_mode = resolve_sync_mode(sync)
        self.state = JournalState()
        self.stats = StoreStats()
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._threads = threads
        self._parallel = COMMITS_IN_FLIGHT
        self._limiter = anyio.CapacityLimiter(self._parallel)
        self._pool: ThreadPoolExecutor | None = None
        self._send: MemoryObjectSendStream[_Item]
        self._recv: MemoryObjectReceiveStream[_Item]
        self._send, self._recv = anyio.create_memory_object_stream[_Item](batch_size * 2)
        self._journal: Journal | None = None
        #: The files of runs that ended uncleanly found not on disk at open (see lost_files).
        self.lost: list[LostFiles] = []
        #: Locks on ended writers' pending files while this open checks them (claim_ended).
        self._claims: list[int] = []
        self._empty_journal: Path | None = None  # set on close: see journaled_nothing
        self._walk_records = 0  # "walk" records queued: they alone are no work done
        self._pendings: list[PendingFile] = []
        self._dir_fd: int | None = None
        self._lock_fd: int | None = None
        self._run_lock_name = lock_name(None)  # (the run lock's, once taken: _take_run_lock)
        self._dirs_made: dict[str, bool] = {}  # folder -> on DIR's filesystem
        #: Shared files (put_bytes(shared=True)) stored lately, which the next can link to.
        self._recent_shared = RecentFiles()
        #: The kinds this run stored shared files of, and the SHA-256s of those it linked
        #: (proven shared): what :meth:`_one_copy_sync` makes one file of as the run ends.
        self._shared_kinds: set[str] = set()
        self._proven_shared: set[bytes] = set()
        #: The kinds the run said it stores shared (:meth:`shares`), and whether a run of DIR
        #: ended uncleanly before this one opened (its pending file found: killed, perhaps
        #: before its own end's step left its copies).
        self._declared_shared: set[str] = set()
        self._after_unclean_end = False
        #: Other processes may store into DIR beside this one (a shard's run of a split
        #: into 2 or more: the other tasks of its job array), each its own copies of the
        #: shared files.
        self._beside_others = False
        #: Set by the run as it stops (Ctrl-C, SIGTERM): as the store closes, another run's
        #: hold of the lock of :mod:`harvester.onecopy` is not waited for.
        self.stop_waits: threading.Event | None = None
        #: The done records' files by SHA-256 for shared puts, built at the first of them
        #: (in a thread, under the lock: seconds for a million done records).
        self._earlier: samefiles.EarlierFiles | None = None
        self._earlier_lock = anyio.Lock()
        self._root_dev = -1
        #: Added to this host's clock for each record's ``t`` (see :meth:`_now`); set at open.
        self._skew = 0.0
        self._error: StorageError | None = None
        self._queued = 0
        #: Every item queued up to this one is committed (see :meth:`flush`).
        self._committed_upto = 0
        #: Items committed past a gap (an earlier batch still being written).
        self._committed_past: set[int] = set()
        self._progress = anyio.Event()
        self._batch_ready = anyio.Event()
        self._committer_done = anyio.Event()
        self._collect_scopes: set[anyio.CancelScope] = set()
        #: Callers of :meth:`flush` waiting now: a commit loop takes what is queued at once
        #: while there is one, never waiting out the flush interval for a fuller batch.
        self._flushes_waiting = 0
        self._committer_scope: anyio.CancelScope | None = None
        self._loops_scope: anyio.CancelScope | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        out_dir: Path,
        *,
        run_id: str,
        writer: str,
        batch_size: int = 64,
        flush_interval: float = 0.05,
        shard: str | None = None,
        argv: Sequence[str] = (),
        sync: SyncMode = "auto",
        threads: int = 8,
        lock: bool = False,
        images: ImageFilter | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Store]:
        """Prepare DIR, clean up after dead writers, load the journals, start the committer.

        Leaving the block commits everything queued (on an exception or cancellation: for at
        most ``DRAIN_TIMEOUT`` seconds), closes the journal and raises the StorageError that
        stopped the store, if any. ``shard`` ("K/N") and ``argv`` (already redacted) go into
        this writer's "run" record. ``lock``: hold DIR's run lock for ``shard``
        (:mod:`harvester.runlock`; a harvest run refuses to share DIR with another run of the
        same shard). The store itself is safe with several writers either way. ``images``:
        load the journal records of these images only (a shard's; see
        :meth:`JournalState.load`), so that ``state`` does not grow with the other shards.
        ``settings``: the run's kept settings (:func:`~harvester.folder_settings.run_settings`),
        checked against DIR's and recorded before anything else is written
        (:func:`prepare_out_dir`); a conflict is a :class:`UsageError`.
        """
        out_dir = Path(out_dir)
        store = cls(
            out_dir,
            run_id=run_id,
            writer=writer,
            batch_size=batch_size,
            flush_interval=flush_interval,
            sync=sync,
            threads=threads,
        )
        try:
            await anyio.to_thread.run_sync(
                store._open_sync, shard, list(argv), lock, images, settings
            )
        except BaseException:
            store._send.close()
            store._recv.close()
            raise
        body_exc: BaseException | None = None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(store._committer)
                tg.start_soon(store._keep_pending_fresh)
                try:
                    yield store
                except BaseException as exc:
                    body_exc = exc
                    await store._shutdown(DRAIN_TIMEOUT)
                else:
                    await store._shutdown(None)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(store._close_sync)
        if body_exc is not None:
            raise body_exc
        if store._error is not None:
            raise store._copy_error()

    def _open_sync(
        self,
        shard: str | None,
        argv: list[str],
        lock: bool = False,
        images: ImageFilter | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        # In a harvest (a marker there), the run lock comes first: a run refused as a second
        # run of this DIR and shard leaves harvest.json as it was (no setting recorded for a
        # kind it never fetched). A new DIR's marker is created first, with the settings.
        # The settings are read under the marker lock once this run holds its run lock, so
        # that a setting re-pinned by another run (prepare_out_dir) is seen or refused:
        # in a new DIR a second time, after the lock (another run may have taken DIR and
        # re-pinned it between this run's marker and its lock).
        # A shard of a split into 1 is the whole set: no other run stores beside it (a
        # split of another count is refused while it runs), so it registers only the files
        # it linked, as a run without --shard (it registered every file it stored).
        if shard is not None:
            from harvester.shard import shard_pair  # (a shard's run only: not at start-up)

            split = shard_pair(shard)
            self._beside_others = split is not None and split[1] > 1
        try:
            early = lock and read_marker(self.out_dir) is not None
        except OSError:
            early = False  # DIR is a file, or unreadable: prepare_out_dir says so
        if early:
            self._take_run_lock(shard)
        try:
            prepare_out_dir(self.out_dir, settings, holding=self._holding(shard))
            if lock and not early:
                self._take_run_lock(shard)
                if settings and self._lock_fd is not None:
                    prepare_out_dir(self.out_dir, settings, holding=self._holding(shard))
        except BaseException:
            release_run_lock(self._lock_fd)
            self._lock_fd = None
            raise
        try:
            ended = ended_writers(self.out_dir, own_writer=self.writer)
            self._after_unclean_end = bool(ended)
            self.state = JournalState.load(self.out_dir, remember=False, images=images)
            # Claimed after the load: one whose check ended before is seen gone, and the
            # load may predate its marks (then this run checks its own images' files).
            claimed, self._claims = claim_ended(ended) if ended else ([], [])
            lost = lost_files(self.out_dir, ended, self.state, claimed) if ended else []
            # A harvest's or a plan's DIR: a record saved before 0.1.13 may hold a token.
            scrub_saved_credentials(self.out_dir, self.state.runs)
            self._journal = Journal(self.out_dir, self.writer)
            # Made durable (HARVESTER_SYNC=none aside) before this run journals anything: the
            # folder's fsync also covers the name of the journal made just above.
            self._pendings = [
                PendingFile(
                    self.out_dir,
                    self.writer if n == 0 else f"{self.writer}-c{n}",
                    durable=self.sync_mode != "none",
                )
                for n in range(self._parallel)
            ]
            self._dir_fd = os.open(self.out_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self._root_dev = os.fstat(self._dir_fd).st_dev
            started = time.time()
            # Where DIR's runs put this one: after every run its journals hold, and after
            # every record they hold, whatever their hosts' clocks said (runs of 0.1.16 and
            # before have no "order"); this run's records are dated on from there (_now).
            before = [*run_orders(self.state).values(), self.state.newest_t()]
            old_keys = old_label_keys_time(self.out_dir)  # (compared with runs by time)
            if old_keys is not None:
                before.append(old_keys)
            order = run_order_time(self.run_id, started, before)
            self._skew = order - started
            run = {
                "rec": "run",
                "run": self.run_id,
                "writer": self.writer,
                "shard": shard,
                "started": started,
                "argv": argv,
                "order": order,
            }
            self._journal.append([run])
            self.state.apply(run)
            self._mark_lost(lost)
            # Only now, with the lost files marked in this run's journal: a crash before
            # leaves the ended writers' pending files for the next run to check again.
            clean_stale_temps(self.out_dir, ended=claimed)
            self._release_claims()
        except OSError as exc:
            self._close_sync()
            raise storage_error(exc, f"output folder {self.out_dir}") from exc
        except BaseException:
            self._close_sync()
            raise

    def _release_claims(self) -> None:
        """Let go of the ended writers' pending files this open checked (claim_ended)."""
        claims, self._claims = self._claims, []
        for fd in claims:
            with suppress(OSError):
                os.close(fd)

    def _mark_lost(self, lost: Sequence[LostFiles]) -> None:
        """Journal the files of interrupted runs that are not on disk as recorded as invalid
        (:func:`lost_files`): no longer done, so this run fetches them again, and so does any
        later one should this run stop first. Kept in :attr:`lost` for the run to say."""
        assert self._journal is not None
        for entry in lost:
            for rec in entry.invalid:  # (dated as every record of this run: _now)
                rec["t"] = max(rec["t"], self._now())
            self._journal.append(entry.invalid)
            for rec in entry.invalid:
                self.state.apply(rec)
            logger.info(
                "%s of interrupted run %s not on disk", plural(entry.files, "file"), entry.run
            )
        self.lost = list(lost)

    @property
    def holds_run_lock(self) -> bool:
        """Does this store hold its run lock (False: not asked for, or no ``flock`` here)?"""
        return self._lock_fd is not None

    def _holding(self, shard: str | None) -> str | None:
        """The name of the run lock this store holds (None: none, or no flock here)."""
        return lock_name(shard) if self._lock_fd is not None else None

    def _take_run_lock(self, shard: str | None) -> None:
        try:
            # One run per DIR and shard: a second one is refused before it writes anything.
            self._lock_fd = acquire_run_lock(self.out_dir, shard)
            self._run_lock_name = lock_name(shard)
        except OSError as exc:
            raise storage_error(exc, f"output folder {self.out_dir}") from exc

    def _close_sync(self) -> None:
        self._release_claims()  # (an open that failed while it held them)
        if (
            self._one_copy_kinds()
            and self._journal is not None
            and self._error is None
            and self._committer_done.is_set()  # (nothing of this run is written any more)
        ):
            try:
                self._one_copy_sync()
            except Exception as exc:  # (a saving of disk space, never the run's end)
                # The files are whole either way; what must not be lost is what follows:
                # the journal's close and the run lock's release.
                logger.warning("shared files of %s left as copies: %s", self.out_dir, exc)
                logger.debug("making shared files one copy failed", exc_info=True)
        if self._journal is not None:
            self._journal.close()
            journal = self._journal
            only_run = journal.appended - self._walk_records == 1
            if journal.started_empty and only_run and self._error is None:
                self._empty_journal = journal.path
            elif journal.started_empty and journal.appended == 0:
                # Made by this open, which failed before its "run" record (a full disk):
                # an empty journal that nothing would ever remove.
                with suppress(OSError):
                    journal.path.unlink()
            self._journal = None
        for pending in self._pendings:
            try:
                pending.close()
            except OSError as exc:  # read-only or gone: the next open cleans up
                logger.debug("could not remove pending file: %s", exc)
        self._pendings = []
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        release_run_lock(self._lock_fd)  # last: nothing of this run is left to write
        self._lock_fd = None

    def shares(self, kind: str) -> None:
        """Say that this run stores ``kind`` shared (``put_bytes(shared=True)``), before it
        stores any. Why: a task killed before its end (``kill -9``, out of memory) left its
        copies, and a later run of its shard made them one only when it stored a shared
        file itself: a resubmission with nothing left to store left them for good. Said,
        a shard's run that found a run ended uncleanly as it opened makes its names of
        ``kind`` one file as it ends, whether it stored one or not."""
        self._declared_shared.add(kind)

    def _one_copy_kinds(self) -> set[str]:
        """The kinds whose names :meth:`_one_copy_sync` makes one: those this run stored
        shared, and in a shard's run after a run ended uncleanly, those it said it stores
        so (:meth:`shares`): the killed run's copies are its own shard's names."""
        if self._beside_others and self._after_unclean_end:
            return self._shared_kinds | self._declared_shared
        return self._shared_kinds

    def _one_copy_sync(self) -> None:
        """Make this run's names of shared files names of one file in DIR, where other
        processes (the tasks of a job array, running at once) stored copies of the same
        bytes, or this run's two batches in flight each stored one: see
        :mod:`harvester.onecopy`. Counted as links in the run's summary: the copies it
        stored (an earlier run's copy made one is no byte of this run's).

        Only the names of its own images' done records (under its run lock: no other run
        writes them), an earlier run's too (a task killed before this step left its
        copies): in a shard run, of every SHA-256 (another task may hold more names of
        it); in a run of the whole set, which no other run stores beside, of those this
        run linked (proven shared). One pass over its done records; no stat for an image
        of a fileset of its own."""
        if not (self._beside_others or self._proven_shared):
            return
        names: dict[bytes, list[str]] = {}
        stored: set[str] = set()  # (this run's: its summary counts their bytes)
        kinds = self._one_copy_kinds()
        for (kind, _id), rec in self.state.done.items():
            if kind not in kinds:
                continue
            digest = getattr(rec, "sha256", None)
            if type(digest) is bytes and (self._beside_others or digest in self._proven_shared):
                rel = str(rec.get("path"))
                names.setdefault(digest, []).append(rel)
                if rec.get("run") == self.run_id:
                    stored.add(rel)
        own = self._run_lock_name if self._lock_fd is not None else None
        gone, gone_bytes = onecopy.one_copy(
            self.out_dir,
            names,
            self._relink_sync,
            stored,
            stop=self.stop_waits,
            # (no run lock held: another run may store beside it unseen, never alone)
            alone=None if own is None else lambda: not others_may_hold(self.out_dir, own),
        )
        self.stats.linked += gone
        self.stats.linked_bytes += gone_bytes

    def _relink_sync(self, source: Path, target: Path, data: bytes) -> bool:
        """Make ``target`` (a name of this run's) a hard link to ``source`` (a file of
        ``data``, checked through the link) as a link is stored: a temp name listed in the
        pending file, renamed over the name. Whether it did (no links here, bytes changed)."""
        if not self._pendings:
            return False
        pending = self._pendings[0]
        tmp = temp_path(target, pending.writer)
        try:
            pending.begin([tmp.relative_to(self.out_dir).as_posix()])
            if not link_same(source, tmp, target, data, check=True):
                return False
            os.replace(tmp, target)
            return True
        except OSError as exc:
            logger.debug("%s not made a link to %s: %s", target, source, exc)
            with suppress(OSError):
                tmp.unlink()
            return False
        finally:
            with suppress(OSError):
                pending.end()

    @property
    def journaled_nothing(self) -> bool:
        """Closed, this store's journal holds its "run" record and nothing else (its own file,
        created by it: no file, failure or image was recorded), and no storage error. Its
        "walk" records do not count: whether they matter is the caller's to say."""
        return self._empty_journal is not None

    def forget_run(self) -> bool:
        """Remove the journal and saved config of a closed run that journaled nothing.

        A rerun of a finished folder (an hourly cron sync, a SLURM requeue) changes nothing;
        keeping its files would leave thousands of one-line journals and configs in a year.
        The caller decides that nothing reads them either (the newest config's label keys
        and artifacts are taken by ``harvester index`` and ``status``), and calls this after
        index.csv is written (a live state treats its own journal gone as a reason to read
        every journal again). The config goes first: a crash in between leaves a journal
        holding a run record only, as before. Returns whether the files were removed.
        """
        journal = self._empty_journal
        if journal is None:
            return False
        config = run_config_path(self.out_dir, self.run_id)
        for path in (config, journal):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:  # read-only DIR: the files stay, as they did before
                logger.debug("could not remove %s: %s", path, exc)
                return False
        with suppress(OSError):
            config.parent.rmdir()  # empty unless something else was put there
        self._empty_journal = None
        return True

    async def _shutdown(self, drain_seconds: float | None) -> None:
        self._send.close()
        self._signal_batch_ready()
        with anyio.CancelScope(shield=True), anyio.move_on_after(drain_seconds):
            await self._committer_done.wait()
        if not self._committer_done.is_set():
            logger.warning("stopping with uncommitted files; they will be fetched again")
            if self._committer_scope is not None:
                self._committer_scope.cancel()

    # ------------------------------------------------------------------ public API

    async def put_bytes(
        self,
        kind: str,
        object_id: int,
        rel_path: str,
        data: bytes,
        *,
        extra: Mapping[str, Any] | None = None,
        shared: bool = False,
    ) -> None:
        """Queue ``data`` for ``DIR/rel_path``; journaled as done once durable (with the
        fields of ``extra`` in its done record).

        ``shared``: the same bytes are likely stored for other objects (the images of one
        fileset): where a file stored just before with ``shared`` holds them, or one an
        earlier run stored (a done record of ``kind``), this one is a hard link to it
        (:mod:`harvester.samefiles`); its done record is the same either way, with
        ``"linked": true`` added."""
        part = _Part(rel_path, self._path(rel_path), data=bytes(data), shared=shared)
        own = self.state.done.get((kind, object_id)) if shared else None
        if shared:
            self._shared_kinds.add(kind)
        if shared and (own is not None or self._earlier is None or len(self._earlier)):
            # (hashed here, on the event loop, only where an earlier run's file may match,
            # or the object's own: a run with none, a first one, leaves it to the commit's
            # thread, as before)
            digest = hashlib.sha256(part.data or b"")
            part.sha256 = digest.hexdigest()  # (not hashed again by the commit)
            part.earlier = await self._earlier_file(kind, object_id, digest.digest())
            said = getattr(own, "sha256", None)
            if own is not None and said == digest.digest() and own.get("path") == rel_path:
                part.own, part.was_linked = True, own.get("linked") is True
        await self._queue(_Item(kind, object_id, [part], extra=extra))

    async def _earlier_file(self, kind: str, object_id: int, sha256: bytes) -> str | None:
        """The path of a done ``kind`` file of another object whose record has ``sha256``
        (None: none). Its name as the store gives it, never another path a journal line may
        hold; the bytes themselves are compared when it is linked to."""
        if self._earlier is None:
            async with self._earlier_lock:
                if self._earlier is None:
                    # Taken here, in the event loop that changes the records: two lists
                    # of references, at C speed (a million records: milliseconds, 16 MB);
                    # read and sorted in a thread (see EarlierFiles.from_done).
                    done = self.state.done
                    if done:
                        keys, recs = list(done), list(done.values())
                        self._earlier = await anyio.to_thread.run_sync(
                            samefiles.EarlierFiles.from_done, kind, keys, recs
                        )
                    else:  # (a first run: no thread, no pause before this put is queued)
                        self._earlier = samefiles.EarlierFiles(())
        other = self._earlier.image_of(sha256)
        if other is None or other == object_id:
            return None
        rec = self.state.done.get((kind, other))
        try:
            rel = image_path(other, kind)
        except ValueError:  # (not a per-image kind: nothing to link to)
            return None
        if rec is None or getattr(rec, "sha256", None) != sha256 or rec.get("path") != rel:
            return None
        return rel

    async def put_file(
        self,
        kind: str,
        object_id: int,
        rel_path: str,
        tmp_path: Path,
        sha256: str | None = None,
    ) -> None:
        """Queue a finished file (e.g. a stack OME-TIFF) to be moved to ``DIR/rel_path``.

        The file is moved (renamed, or copied across filesystems), so ``tmp_path`` is gone once
        it is committed. ``sha256`` saves re-reading it when the caller already knows it.
        """
        part = _Part(rel_path, self._path(rel_path), src=Path(tmp_path), sha256=sha256)
        await self._queue(_Item(kind, object_id, [part]))

    async def put_study(self, kind: str, object_id: int, files: Mapping[str, bytes]) -> None:
        """Queue the files (name -> bytes) of one study object as ONE done record.

        Files go to ``study/<kind>-<id>/<sanitised name>``; the record's ``path`` is the first
        file, the others are listed in ``files`` as {"path", "size", "sha256"}.
        """
        if kind not in STUDY_KINDS or not files:
            raise ValueError(f"put_study needs a study kind {STUDY_KINDS} and at least one file")
        base = study_dir(kind, object_id)
        parts = []
        for name, data in files.items():
            rel = f"{base}/{sanitize_component(name)}"
            parts.append(_Part(rel, self._path(rel), data=bytes(data)))
        await self._queue(_Item(kind, object_id, parts))

    def saved_study_file(self, kind: str, object_id: int, name: str, sha256: str) -> bytes | None:
        """The bytes of file ``name`` of a study object saved by :meth:`put_study`, where
        the SHA-256 its done record gives that file is not ``sha256``; None where it is,
        or where no done record names that file. ``b""``: the file cannot be read.

        Why the record's digest first: a rerun's walk compares each saved listing with its
        fresh answer (``walk.ListingDigest``), and an unchanged one costs no read. A file
        damaged since keeps its record's digest, so it stays ``verify``'s to report."""
        rec = self.state.done.get((kind, object_id))
        if rec is None:
            return None
        rel = f"{study_dir(kind, object_id)}/{sanitize_component(name)}"
        files = rec.get("files")
        entries = [dict(rec), *(files if isinstance(files, list) else ())]
        entry = next((e for e in entries if isinstance(e, dict) and e.get("path") == rel), None)
        if entry is None or entry.get("sha256") == sha256:
            return None
        try:
            return self._target(rel).read_bytes()
        except OSError:
            return b""

    async def record_image(
        self, ref: ImageRef, *, labels_asked: bool = True, unlisted: bool = False
    ) -> None:
        """Journal an image and its context (for index.csv and ``status``'s pending count).

        ``labels_asked=False``: its labels were not asked for (a ``--no-labels`` run), so
        its empty labels are not "none" (see :class:`~harvester.journal.JournalState`).
        ``unlisted=True``: it no longer matches the ``--where`` that selected it, so
        index.csv has no row of it (its files stay).
        """
        record: dict[str, Any] = {"rec": "image", "ref": ref.to_json()}
        if not labels_asked:
            record["labels_asked"] = False
        if unlisted:
            record["unlisted"] = True
        await self._queue(_Item(record=record))

    async def record_failure(
        self, kind: str, object_id: int, url: str, status: int | None, reason: str
    ) -> None:
        """Journal a failure (URL redacted); a later done record supersedes it."""
        rec = {
            "rec": "failed",
            "kind": kind,
            "id": object_id,
            "url": redact_url(url),
            "status": status,
            "reason": reason,
        }
        await self._queue(_Item(record=rec))

    async def record_walk(
        self,
        targets: str,
        shard: str | None,
        *,
        finished: bool,
        failures: Sequence[Mapping[str, Any]] = (),
        session_ended: str = "",
        credentials_refused: str = "",
        max_bytes: str = "",
        server_down: str = "",
        sample_of: str | None = None,
        sample_said: tuple[str, Sequence[str]] | None = None,
    ) -> None:
        """Journal that the walk of ``targets`` started (``finished=False``) or ended.

        ``failures``: the listings that failed for good (``what``, ``url``, ``status``,
        ``reason``; URLs redacted here). ``session_ended``: the walk stopped unfinished
        because the session the run sent ended (the server's answer), for ``status`` to
        say; ``credentials_refused``: because the server refused the credentials it sent
        (a 401). ``max_bytes``: because the run's ``--max-bytes`` budget (this size) was
        reached, and ``server_down`` (what the server answered), ``session_ended`` or
        ``credentials_refused`` say what then ended the walk that looked for work left.
        ``sample_of``: the earlier run whose draw this run's sample is (see
        ``pipeline._run_drew``). ``sample_said``: of a walk under a selection, the draw
        (its selection and server, as a digest) and the digests of the selection's
        warnings, ``--where`` and sample alike (``harvester.select.warning_digest``; none
        where it had none), for the next run of the same draw to say only what changed.
        See the "walk" records in :mod:`harvester.journal`.
        """
        rec: dict[str, Any] = {
            "rec": "walk",
            "targets": targets,
            "shard": shard,
            "finished": finished,
            "failures": [{**f, "url": redact_url(str(f.get("url") or ""))} for f in failures],
            "run": self.run_id,
        }
        if session_ended:
            rec["session_ended"] = redact_url(session_ended)
        if credentials_refused:
            rec["credentials_refused"] = redact_url(credentials_refused)
        if max_bytes:
            rec["max_bytes"] = max_bytes
        if server_down:
            rec["server_down"] = redact_url(server_down)
        if sample_of is not None:
            rec["sample_of"] = sample_of
        if sample_said is not None:
            rec["sample_draw"], rec["sample_said"] = sample_said[0], list(sample_said[1])
        self._walk_records += 1
        await self._queue(_Item(record=rec))

    async def flush(self) -> None:
        """Wait until everything queued so far is durable and journaled.

        Counted by the items' places in the queue, not by how many are committed: the
        COMMITS_IN_FLIGHT loops can finish batches out of order, and a count reached by later
        items let a stack's flush return while its own batch was still being written (its
        staging, removed next, was the file that batch was about to move: "cannot write
        images/...stack.ome.tif: No such file or directory" on a loaded machine).
        """
        target = self._queued
        self._flushes_waiting += 1
        try:
            while self._committed_upto < target:
                if self._error is not None:
                    raise self._copy_error()
                if self._committer_done.is_set():
                    break
                for scope in list(self._collect_scopes):
                    scope.cancel()
                await self._progress.wait()
        finally:
            self._flushes_waiting -= 1
        if self._error is not None:
            raise self._copy_error()

    async def save_run_config(self, config: Mapping[str, Any]) -> Path:
        """Write ``runs/<run-id>/config.json`` atomically (the caller removes secrets)."""
        target = run_config_path(self.out_dir, self.run_id)
        data = (json.dumps(dict(config), indent=2, sort_keys=True, default=str) + "\n").encode()
        try:
            await anyio.to_thread.run_sync(atomic_write_bytes, self.out_dir, target, data)
        except OSError as exc:
            raise storage_error(exc, str(target)) from exc
        return target

    # ------------------------------------------------------------------ queue

    def _target(self, rel_path: str) -> Path:
        return resolve(self.out_dir, rel_path)

    def _path(self, rel_path: str) -> str:
        """:meth:`_target` as a string, made without a Path (see :attr:`_Part.path`)."""
        check_relative(rel_path)
        return os.path.join(self._out_str, rel_path)

    def _copy_error(self) -> StorageError:
        assert self._error is not None
        copy = StorageError(str(self._error), hint=self._error.hint)
        copy.out_of_space = self._error.out_of_space  # (a full disk exits 1, not 2)
        return copy

    async def _queue(self, item: _Item) -> None:
        if self._error is not None:
            raise self._copy_error()
        # Its place is taken before it is sent: once sent, a commit loop may take it at once.
        self._queued += 1
        item.seq = self._queued
        try:
            # Without a wait while the queue has room: anyio's send() yields to the
            # event loop on every item, which delays the worker's next request by a turn.
            try:
                self._send.send_nowait(item)
            except anyio.WouldBlock:
                self._signal_batch_ready()
                await self._send.send(item)
            else:
                # Once, when the buffer first holds a full batch (not again for every item
                # queued while the commit loops are busy writing).
                if self._send.statistics().current_buffer_used == self._batch_size:
                    self._signal_batch_ready()
        except BaseException as exc:  # not queued (a wait for room cancelled, say): no flush waits
            self._settled((item.seq,))
            if not isinstance(exc, (anyio.BrokenResourceError, anyio.ClosedResourceError)):
                raise
            if self._error is not None:
                raise self._copy_error() from None
            raise StorageError("the store is closed") from None

    async def _committer(self) -> None:
        # Shielded: when the caller is cancelled (Ctrl-C), the queued items must still be
        # committed during shutdown; _shutdown cancels this scope itself after the drain timeout.
        # COMMITS_IN_FLIGHT loops share the queue, so that one batch's files are written while
        # the previous batch waits for its fsyncs (the disk, not the CPU, is the bottleneck).
        try:
            with anyio.CancelScope(shield=True) as scope:
                self._committer_scope = scope
                async with anyio.create_task_group() as tg:
                    self._loops_scope = tg.cancel_scope
                    with self._recv:
                        for n in range(self._parallel):
                            tg.start_soon(self._commit_loop, self._recv.clone(), n)
        finally:
            self._committer_done.set()
            self._wake()

    async def _keep_pending_fresh(self) -> None:
        """Refresh this store's pending files every :data:`PENDING_FRESH_EVERY` seconds while
        it is open (cancelled with the store's task group): touched, or made again if gone."""
        while True:
            await anyio.sleep(PENDING_FRESH_EVERY)
            await anyio.to_thread.run_sync(self._refresh_pendings, limiter=self._limiter)

    def _refresh_pendings(self) -> None:
        # A pending file is made again only where this run's journal still is, in the
        # folder it opened: not at the path of a folder moved away or being removed.
        journal = self._journal
        remake = journal is not None and journal.path.exists() and self._still_in_place()
        for pending in self._pendings:
            pending.refresh(remake=remake)

    async def _commit_loop(self, recv: MemoryObjectReceiveStream[_Item], n: int) -> None:
        async with recv:
            closed = False
            while not closed:
                try:
                    batch = [await recv.receive()]
                except anyio.EndOfStream:
                    return
                closed = self._take_ready(recv, batch)
                if (
                    not closed
                    and len(batch) < self._batch_size
                    and self._flush_interval
                    and not self._flushes_waiting
                ):
                    # Wait for a full batch (signalled by _queue) or the flush interval, then
                    # take what is there: waking once per queued item would add a turn of the
                    # event loop per file to the workers' requests.
                    with anyio.move_on_after(self._flush_interval) as collect:
                        self._collect_scopes.add(collect)
                        await self._batch_ready.wait()
                    self._collect_scopes.discard(collect)
                    closed = self._take_ready(recv, batch)
                with anyio.CancelScope(shield=True):
                    ok = await self._commit(batch, n)
                if not ok:
                    return

    def _take_ready(self, recv: MemoryObjectReceiveStream[_Item], batch: list[_Item]) -> bool:
        """Move already-queued items into ``batch``; True when the stream has ended."""
        while len(batch) < self._batch_size:
            try:
                batch.append(recv.receive_nowait())
            except anyio.WouldBlock:
                return False
            except anyio.EndOfStream:
                return True
        return False

    def _wake(self) -> None:
        self._progress.set()
        self._progress = anyio.Event()

    def _signal_batch_ready(self) -> None:
        """Wake the commit loops that are collecting a batch (a new event for the next one)."""
        self._batch_ready.set()
        self._batch_ready = anyio.Event()

    async def _commit(self, batch: list[_Item], n: int) -> bool:
        try:
            records, linked = await anyio.to_thread.run_sync(
                self._commit_sync, batch, self._pendings[n], limiter=self._limiter
            )
        except Exception as exc:
            if isinstance(exc, StorageError):
                self._error = exc
                # Raised again to the caller (the CLI prints it as one "error:" line):
                # logging it as an error too would print it twice.
                logger.debug("store stopped: %s", exc)
            else:  # a bug must still stop the run cleanly
                logger.exception("store commit failed")
                self._error = StorageError(f"internal error while storing files: {exc!r}")
            if self._loops_scope is not None:
                self._loops_scope.cancel()
            self._wake()
            return False
        for rec in records:
            self.state.apply(rec)
        self._count(batch, len(records))
        self.stats.linked += linked
        if linked:
            self.stats.linked_bytes += sum(rec["size"] for rec in records if rec.get("linked"))
        self._settled(item.seq for item in batch)
        self._wake()
        return True

    def _settled(self, seqs: Iterable[int]) -> None:
        """Items no flush waits for any more: committed, or never queued (send failed).

        An item whose send was cancelled just after a commit loop took it is settled twice:
        the second time, at or below ``_committed_upto``, it is not kept."""
        self._committed_past.update(s for s in seqs if s > self._committed_upto)
        while self._committed_upto + 1 in self._committed_past:
            self._committed_upto += 1
            self._committed_past.remove(self._committed_upto)

    def _count(self, batch: list[_Item], records: int) -> None:
        for item in batch:
            self.stats.files += len(item.parts)
            self.stats.bytes += sum(p.size for p in item.parts)
        self.stats.batches += 1
        self.stats.records += records

    # ------------------------------------------------------------------ worker thread

    def _ensure_dir(self, folder: str, new_parents: set[str]) -> bool:
        """Create ``folder`` if needed (its new entries' parents go to ``new_parents`` for the
        folder fsync); return whether it is on DIR's filesystem, which one syncfs covers (a
        folder symlinked elsewhere gets per-file fsyncs instead). One stat per folder, cached."""
        same_fs = self._dirs_made.get(folder)
        if same_fs is not None:
            return same_fs
        missing = []
        probe = Path(folder)
        while not probe.is_dir():
            missing.append(probe)
            probe = probe.parent
        if missing and not self._still_in_place():
            # DIR moved (or removed) meanwhile: its path, made again here, took the files
            # whose done records went to the moved journal (a resume of NEW skipped them).
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(folder))
        for path in reversed(missing):
            with suppress(FileExistsError):
                path.mkdir()
            new_parents.add(os.fspath(path.parent))
        same_fs = os.stat(folder).st_dev == self._root_dev
        self._dirs_made[folder] = same_fs
        return same_fs

    def _map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> None:
        if len(items) <= 1:
            for item in items:
                fn(item)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="store-sync")
        for _ in self._pool.map(fn, items):
            pass

    def _commit_sync(
        self, batch: list[_Item], pending: PendingFile
    ) -> tuple[list[dict[str, Any]], int]:
        """Write, make durable, rename, fsync folders, journal: all or StorageError. Returns
        the records and how many files were made hard links (counted here, where the shared
        parts are known, not by a pass over every part of every batch)."""
        assert self._journal is not None
        all_parts = [part for item in batch for part in item.parts]
        # The same target twice in one batch (an image walked twice): write it once, the last
        # bytes win, every item still gets its done record.
        unique = {part.path: part for part in all_parts}
        parts = list(unique.values())
        tag = pending.writer  # per committer loop: two batches in flight never share a temp
        # (temp_path's name, as strings: a temp is its target's path with this suffix)
        suffix = f"{TEMP_INFIX}{tag}"
        temps: list[tuple[str, str]] = []
        firsts: dict[str, Path] = {}  # SHA-256 -> the temp file of the first shared part
        shared: list[_Part] = []  # (put_bytes(shared=True): none in most batches)
        linked = 0
        fds: list[int] = []
        sync_fds: list[int] = []
        renamed = 0
        renaming = False
        # What an OSError was writing, as a path in DIR (the messages name the file).
        what = pending.path.relative_to(self.out_dir).as_posix()
        try:
            if parts:
                pending.begin([p.rel_path + suffix for p in parts])
            dirs: set[str] = set()
            for part in parts:
                what = part.rel_path
                folder = os.path.dirname(part.path)
                same_fs = self._ensure_dir(folder, dirs)
                needs_fsync = self.sync_mode == "fsync" or (
                    self.sync_mode == "syncfs" and not same_fs
                )
                tmp = part.path + suffix
                if part.data is not None:
                    part.size = len(part.data)
                    if part.sha256 is None:  # (a shared part's was taken as it was queued)
                        part.sha256 = hashlib.sha256(part.data).hexdigest()
                    if part.shared:
                        shared.append(part)
                        kept = self._kept_shared(part, firsts)
                        if kept is not None:
                            # Its file holds these bytes, durable: left as it is, no temp.
                            linked += part.linked
                            if kept:  # (a name no record of it says: its folder's fsync)
                                dirs.add(folder)
                            continue
                        if self._link_shared(part, Path(tmp), firsts):
                            # Its bytes are durable already (a stored file) or with its twin's
                            # (a temp of this batch): only its name waits, for the folder fsync.
                            temps.append((tmp, part.path))
                            part.linked = True
                            linked += 1
                            continue
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
                    temps.append((tmp, part.path))
                    fds.append(fd)
                    write_all(fd, part.data)
                    if part.shared:
                        firsts.setdefault(part.sha256, Path(tmp))
                else:
                    assert part.src is not None
                    self._adopt(part, Path(tmp))
                    temps.append((tmp, part.path))
                    if needs_fsync:
                        fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
                        fds.append(fd)
                if needs_fsync:
                    sync_fds.append(fds[-1])
            what = "a batch of files"
            if parts and self.sync_mode == "syncfs" and len(sync_fds) < len(parts):
                assert self._dir_fd is not None
                _syncfs(self._dir_fd)
            self._map(os.fsync, sync_fds)
            if sync_fds:
                # macOS: the fsyncs stopped at the drive's cache, which may write the done
                # line below before these bytes (and the pending file) after a power loss.
                # (DIR's descriptor first: the pending file's drive, if the files' is another.)
                flush_drives([*([] if self._dir_fd is None else [self._dir_fd]), *sync_fds])
            for fd in fds:
                os.close(fd)
            fds.clear()
            renaming = True  # an error now is about temps[renamed]: named in the handler
            for tmp, final in temps:
                os.replace(tmp, final)
                renamed += 1
                dirs.add(os.path.dirname(final))
            renaming = False
            if self.sync_mode != "none":
                self._map(_fsync_dir, sorted(dirs))
            for part in all_parts:
                winner = unique[part.path]
                part.size, part.sha256, part.linked = winner.size, winner.sha256, winner.linked
            records = self._records(batch)
            what = self._journal.path.relative_to(self.out_dir).as_posix()
            self._journal.append(records)
            pending.end()
            for part in shared:
                assert part.sha256 is not None
                self._recent_shared.stored(part.sha256, part.rel_path)
                if part.linked:
                    self._proven_shared.add(bytes.fromhex(part.sha256))
            return records, linked
        except OSError as exc:
            if renaming and renamed < len(temps):
                # Which file could not take its name (a folder in its place): said here, on
                # the error path, rather than tracked per file on the hot one.
                what = Path(temps[renamed][1]).relative_to(self.out_dir).as_posix()
            for fd in fds:
                os.close(fd)
            for tmp, _ in temps[renamed:]:
                with suppress(OSError):
                    os.unlink(tmp)
            with suppress(OSError):
                pending.end()
            raise (self._folder_gone(exc, what) or storage_error(exc, what)) from exc

    def _still_in_place(self) -> bool:
        """Whether DIR's path still names the folder this run opened (not moved, removed or
        replaced); True when that cannot be told (no folder open, an unreadable path)."""
        if self._dir_fd is None:
            return True
        try:
            opened = os.fstat(self._dir_fd)
            named = os.stat(self.out_dir)
        except FileNotFoundError:
            return False
        except OSError:
            return True
        return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)

    def _still_there_a_while(self) -> bool:
        """:meth:`_still_in_place`, asked again for up to :data:`FOLDER_GONE_WAIT` seconds
        while it says yes: ``rm -r`` (and ``mv`` to another filesystem, which ends with one)
        removes DIR's contents before DIR, so a write fails inside a folder about to go."""
        deadline = time.monotonic() + FOLDER_GONE_WAIT
        while self._still_in_place():
            if time.monotonic() >= deadline:
                return True
            time.sleep(POLL)
        return False

    def _folder_gone(self, exc: OSError, what: str) -> StorageError | None:
        """The error for DIR moved or removed while this run wrote to it; None otherwise.

        Why: ``mv DIR NEW`` during a run made its next batch fail with "cannot write
        images/...: No such file or directory" and the hint to re-run the same command,
        which started DIR afresh at the old path while the finished files sat in NEW. The
        folder this run opened is still open (``_dir_fd``): the kernel says where it is now.
        """
        if exc.errno != errno.ENOENT or self._dir_fd is None or self._still_there_a_while():
            return None  # DIR is where it was: something inside it went
        try:
            now = os.readlink(f"/proc/self/fd/{self._dir_fd}")
        except OSError:  # no /proc: where it went cannot be told
            now = ""
        if now.endswith(" (deleted)"):
            # mv to another filesystem copies DIR, then removes it: the kernel cannot tell
            # that from rm -r, and "nothing is left" began afresh what sat complete elsewhere.
            return StorageError(
                f"{self.out_dir} was removed, or moved to another filesystem (which copies it "
                f"and removes it), while this run wrote to it (cannot write {what})",
                hint="if it was moved, resume it where it is now: harvester harvest --out "
                "<its new path> (it fetches again what the copy missed; harvester verify <its "
                "new path> checks every file); if it was removed, run the same command to "
                "start again",
            )
        if not now.startswith("/"):
            return StorageError(
                f"{self.out_dir} was moved or removed while this run wrote to it (cannot "
                f"write {what})",
                hint="resume it where it is now: harvester harvest --out <its new path> "
                "(harvester verify <its new path> checks every file)",
            )
        return StorageError(
            f"{self.out_dir} was moved to {now} while this run wrote to it (cannot write {what})",
            hint="its finished files went with it; resume it there: harvester harvest --out "
            f"{shell_quote(now)} (harvester verify {shell_quote(now)} checks every file)",
        )

    def _kept_shared(self, part: _Part, firsts: dict[str, Path]) -> bool | None:
        """Whether ``part``'s target already is a file of its bytes (an image fetched
        again), to be kept rather than written anew: its own done record said so (False),
        or it is a name of the file stored lately, or by an earlier run, with them (True);
        checked byte for byte either way, or a name of the file this batch kept for another
        image (True). None: written, or linked, as any other part. A kept part is the
        batch's first copy of its bytes, unless the batch has one.

        Why True is told apart: a name no done record of its object says may be one a run
        that stopped before its journal line made, its folder never fsynced: the caller
        fsyncs that folder before this run's done record says it (the bytes are the stored
        file's, durable already). Why a name of the file kept for another image is kept
        too: linked to it, the name was renamed over one of the same file, which rename(2)
        does not do, and the link was left in DIR as a temp file (a plate fetched again in
        one batch left one a batch)."""
        assert part.sha256 is not None and part.data is not None
        source = firsts.get(part.sha256)  # (this batch's copy: a temp, or a file kept)
        if source is None:
            rel = self._recent_shared.get(part.sha256) or part.earlier
            # (not the part's own name: the last file stored lately may be its own)
            source = self._target(rel) if rel is not None and rel != part.rel_path else None
        if part.own and already_holds(part.target, part.data, None):
            part.linked, unsaid = part.was_linked, False
        elif source is not None and already_holds(part.target, part.data, source):
            # (a name of another image's file, as a link made now is)
            part.linked, unsaid = True, True
        else:
            return None
        firsts.setdefault(part.sha256, part.target)
        return unsaid

    def _link_shared(self, part: _Part, tmp: Path, firsts: Mapping[str, Path]) -> bool:
        """Make ``tmp`` a hard link to a file with ``part``'s bytes: a temp of this batch, or
        a shared file stored lately (checked byte for byte); whether it did."""
        assert part.sha256 is not None and part.data is not None
        twin = firsts.get(part.sha256)
        if twin is not None:
            return link_same(twin, tmp, part.target, part.data, check=False)
        rel = self._recent_shared.get(part.sha256)
        if rel is not None:
            if link_same(self._target(rel), tmp, part.target, part.data, check=True):
                return True
            self._recent_shared.forget(part.sha256)  # gone, changed, or no links here
        if part.earlier is None:
            return False
        # (a resume's first image of a fileset: the file an earlier run stored for it)
        return link_same(self._target(part.earlier), tmp, part.target, part.data, check=True)

    def _adopt(self, part: _Part, tmp: Path) -> None:
        assert part.src is not None
        try:
            os.rename(part.src, tmp)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            shutil.copyfile(part.src, tmp)
            os.unlink(part.src)
        part.size = os.stat(tmp).st_size
        if part.sha256 is None:
            part.sha256 = sha256_of(tmp)

    def _now(self) -> float:
        """The ``t`` of a record this run journals now: this host's clock, moved on by how far
        the newest run or record DIR held at open was ahead of it (:meth:`open`'s ``order``).

        Why: journals are folded by ``t`` (the later record of an artifact, image or walk
        wins), and a run of a host whose clock runs behind another's dated its records before
        the other host's older ones: a walk that listed everything lost to an earlier failed
        one (``status`` went on saying the listing failed), a new image record with new
        labels to an older one. Dated so, every record of this run is later than every
        record DIR held when it started, whatever the hosts' clocks (a hybrid logical
        clock; runs started together, none seeing the other, are ordered by their clocks)."""
        return time.time() + self._skew

    def _records(self, batch: list[_Item]) -> list[dict[str, Any]]:
        now = self._now()
        records: list[dict[str, Any]] = []
        for item in batch:
            if item.record is not None:
                rec = dict(item.record)
                rec["t"] = now
                if rec["rec"] == "failed":
                    rec["run"] = self.run_id
                records.append(rec)
                continue
            first = item.parts[0]
            rec = {
                "rec": "done",
                "kind": item.kind,
                "id": item.object_id,
                "path": first.rel_path,
                "size": first.size,
                "sha256": first.sha256,
                "t": self._done_time(item.kind, item.object_id, now),
                "run": self.run_id,
            }
            if item.extra:
                rec.update(item.extra)
            if first.linked:  # (status counts its bytes once: they take no more disk)
                rec["linked"] = True
            if len(item.parts) > 1:
                rec["files"] = [
                    {"path": p.rel_path, "size": p.size, "sha256": p.sha256} for p in item.parts[1:]
                ]
            records.append(rec)
        return records

    def _done_time(self, kind: str, object_id: int, now: float) -> float:
        """The ``t`` of a done record: ``now``, or just after the invalid record that voided
        the artifact's last done record where that is later. Why: a done record no later
        than the invalid one is voided by it at the next load (records fold by ``t``), and
        an invalid record may carry the time of a host whose clock ran ahead
        (:func:`invalid_time`): the file fetched again was fetched again at every run."""
        voided = self.state.invalid.get((kind, object_id))
        t = voided.get("t") if voided is not None else None
        if isinstance(t, int | float) and not isinstance(t, bool) and t >= now:
            return float(t) + 0.001
        return now


def sha256_of(path: Path) -> str:
    """The SHA-256 of the file at ``path``, hex, read in 1 MiB pieces (never whole in memory):
    a staged file's digest, ``verify``'s check, ``written.json``'s fingerprint."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
