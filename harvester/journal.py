"""Append-only JSON Lines journals: the single source of truth for what is done.

Each process appends to its own ``DIR/journals/<writer>.jsonl`` (opened with ``O_APPEND``), so
writers never interleave and no lock is needed. A batch of records is one ``write`` and one
``fdatasync``. Readers take complete lines only: a torn last line (process killed mid-write, or a
journal still being appended to) is skipped silently, and a garbled line in the middle is skipped
(its bytes logged at debug level). Garbled middle lines and lines of NUL bytes (what a crash leaves
on some filesystems) are counted per journal (:attr:`JournalState.damaged_lines`), for each
command to say once (:func:`harvester.verify.damaged_journal_lines`); a torn or garbled last line
is not.
Records (keys exactly these, compact JSON)::

    {"rec": "done",    "kind", "id", "path", "size", "sha256", "t", "run"[, "files"][, "roi_count"]}
    {"rec": "failed",  "kind", "id", "url", "status", "reason", "t", "run"}
    {"rec": "image",   "ref": ImageRef.to_json(), "t"[, "labels_asked": false][, "unlisted": true]}
    {"rec": "invalid", "kind", "id", "path", "reason", "t"}          (written by verify; by a
                        store's open for an interrupted run's lost files: store.lost_files)
    {"rec": "run",     "run", "writer", "shard", "started", "argv"[, "order"]}
    {"rec": "walk",    "targets", "shard", "finished", "failures", "t", "run"[, "sample_of"]
                       [, "sample_draw", "sample_said"]}

:class:`JournalState` folds every journal into "what is done / failed / known", ordering records
by their timestamp ``t`` so that the order in which journals are read does not matter. A store
dates its records above every record and run it loaded (``Store._now``: a hybrid logical
clock), so a run's records outrank those of every run before it whatever the hosts' clocks.

``"labels_asked": false`` marks an image journaled by a ``--no-labels`` run without labels: its
empty labels mean "never asked", not "asked, none", so a later run with labels asks for them
(and journals the image again, without the mark). Journals of 0.1.3 and before lack the mark
(see ``Harvest._note_runs_without_labels``).

``"unlisted": true`` marks an image whose labels no longer match the ``--where`` terms that
selected it (a curator edited them on the server, ``--refresh-labels`` asked them again): its
record holds the labels now, its files stay, and index.csv has no row of it
(:class:`harvester.index.IndexRows`) until a run selects it again and journals it without
the mark (``Harvest._relabel_passed_over``).

"walk" records say whether a run's walk of its targets listed everything: one with
``"finished": false`` when the walk starts, one with ``"finished": true`` and the listings that
failed for good (``failures``: ``{"what", "url", "status", "reason"}`` each, and
``"study_only": true`` where every image under it had been listed and only its study files
failed, a plate's runs or grids) when it ends: once every image it sent is journaled (a
``--sample``'s walk once its sample, chosen whole, is). The images under a failed listing, or not
listed before a run stopped, were never journaled, so without these ``status`` would count
none of them as pending and call the folder complete. A run stopped because the session it
sent ended journals one more ``"finished": false`` record, with ``"session_ended"`` (what the
server answered), for ``status`` to say why; one stopped because the server refused the
credentials it sent (401), with ``"credentials_refused"``; one its ``--max-bytes`` budget
stopped, with ``"max_bytes"`` (the budget, ``20G``) and, where the server then went down or
the session ended as the walk looked for work left, ``"server_down"`` (what it answered),
``"session_ended"`` or ``"credentials_refused"``. A ``--sample`` run whose sample an
earlier run drew first names that run (``"sample_of"``): its records replace that run's, the
only trace of a draw stopped before any image was fetched (``pipeline._run_drew``).
A finished walk under a selection (``--where``, a sample) keeps the digests of the
selection's warnings (``"sample_said"``: a list, empty where there were none;
``select.warning_digest``; named for the sample's warnings, the first kept, and since
0.1.23 also holding the ``--where`` lines) and of its draw (``"sample_draw"``: the run's
selection and server): the next run of the same draw, targets and shard says only lines
not among them (``pipeline.Harvest._sample_said_before``). Records without them (0.1.21
and before) tell nothing: the warnings are said.
``targets`` is the run's targets as flags (:meth:`harvester.config.HarvestConfig.walk_targets`:
an ``--ids-from`` file by its absolute path, ids read once by their run); the latest record per
(targets, shard) is the one that counts, so a later walk of the same targets that finishes with
no failure clears an earlier failure (and an unsharded one a shard's: see
:func:`harvester.status.unfinished_walks`).
"""

from __future__ import annotations

import fcntl
import gc
import hashlib
import json
import logging
import os
import threading
from collections.abc import (
    Callable,
    Collection,
    Container,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeVar

from harvester.layout import (
    ARTIFACT_FILES,
    default_image_path,
    journal_path,
    journals_dir,
    run_config_path,
)
from harvester.models import ImageRef

logger = logging.getLogger(__name__)

JOURNAL_SUFFIX = ".jsonl"
#: Bytes read and parsed at a time. A chunk's records exist twice while it is parsed (lines and
#: dicts); with 4 MB chunks that transient was the peak of loading a 100,000-image folder
#: (256 KB: 182 -> 141 MB for `harvester index`, and no slower).
_CHUNK = 256 << 10

Key = tuple[str, int]
#: A walk's targets (as flags) and shard ("K/N", or None): see the "walk" records.
WalkKey = tuple[str, str | None]
#: A walk's targets and shard, and the draw its selection's warnings were said for (the
#: ``sample_draw`` of a "walk" record: its run's selection and server, as a digest).
SaidKey = tuple[str, str | None, str]
#: How a walk failure that lost no image (``"study_only"``) is named after its listing, in
#: the run's summary and in ``status``.
STUDY_ONLY = " (study files only)"

#: Which image ids a loaded state keeps records of (a shard's filter; None keeps every image).
ImageFilter = Callable[[int], bool]


_GC_LOCK = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the body without the cyclic garbage collector (restored afterwards).

    Folding journals or building index rows makes hundreds of thousands of small dicts and
    lists that are never garbage; each allocation burst triggers collections that walk every
    live object again, which cost 2-3x the work itself for 100,000 images. Nothing made here
    holds reference cycles, so pausing is safe; nested or concurrent pauses (threads) share one
    pause that ends with the last of them.
    """
    global _gc_pausers, _gc_was_enabled
    with _GC_LOCK:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


#: ``json.dumps(record, separators=(",", ":"))``'s encoder, made once: ``dumps`` with any
#: option makes a new one for each record, a fifth of the time a journal line took (the
#: encoder keeps no state between calls: the store's two commit threads share it).
_LINE_ENCODER = json.JSONEncoder(separators=(",", ":"))


def encode_records(records: Iterable[Mapping[str, Any]]) -> bytes:
    """Compact JSON Lines for ``records`` (ASCII only, so a byte offset never splits a char)."""
    encode = _LINE_ENCODER.encode
    return "".join([encode(r) + "\n" for r in records]).encode("ascii")


#: ``fcntl``'s ``F_FULLFSYNC`` where the system has one (macOS), else None (Linux: there
#: fsync and fdatasync already ask the drive to write its cache out).
FULLFSYNC: int | None = getattr(fcntl, "F_FULLFSYNC", None)


def flush_drive(fd: int) -> None:
    """Make ``fd``'s file, and all else its drive holds in its cache, permanent: one
    ``F_FULLFSYNC`` (macOS); plain fsync where there is none, or the filesystem refuses it.

    Why: macOS's fsync hands the data to the drive, which may keep it in its cache and
    write it out in another order (``man 2 fsync``): after a power loss a journal's done
    line could be on disk and the bytes of the file it names not, and a resume trusted
    that file. Some network filesystems refuse F_FULLFSYNC; their fsync is what they offer
    (as SQLite does)."""
    if FULLFSYNC is not None:
        try:
            fcntl.fcntl(fd, FULLFSYNC)
        except OSError:
            pass
        else:
            return
    os.fsync(fd)


def flush_drives(fds: Iterable[int]) -> None:
    """A barrier: :func:`flush_drive` once per device among ``fds`` where the system has
    ``F_FULLFSYNC`` (macOS; one flush empties that drive's whole cache); nothing elsewhere,
    where the fsyncs the caller made of each file already reached permanent storage."""
    if FULLFSYNC is None:
        return
    devices: set[int] = set()
    for fd in fds:
        device = os.fstat(fd).st_dev
        if device not in devices:
            devices.add(device)
            flush_drive(fd)


def _datasync(fd: int) -> None:
    """Make an append durable: fdatasync (it flushes the size change too), or on macOS,
    which lacks it and whose fsync stops at the drive's cache, :func:`flush_drive`."""
    datasync = getattr(os, "fdatasync", None)
    if FULLFSYNC is not None or datasync is None:
        flush_drive(fd)
    else:
        datasync(fd)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """``os.write`` until every byte of ``data`` is written (a write may be partial)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# Records this process appended to each journal (by absolute path), so that a live
# JournalState can tell whether it has folded in every record its own writer journaled.
_APPENDED: dict[str, int] = {}
_APPENDED_LOCK = threading.Lock()


def _appended_to(path: Path) -> int:
    with _APPENDED_LOCK:
        return _APPENDED.get(os.path.abspath(path), 0)


class Journal:
    """One writer's append-only journal file (``DIR/journals/<writer>.jsonl``)."""

    def __init__(self, out_dir: Path, writer: str) -> None:
        self.path = journal_path(out_dir, writer)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._key = os.path.abspath(self.path)
        self._lock = threading.Lock()
        self._broken: OSError | None = None
        self._fd: int | None = os.open(
            self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644
        )
        #: Records this object appended (a run that journaled only its "run" record did nothing).
        self.appended = 0
        # A reused journal whose last line was torn must not glue our first record onto it.
        size = os.fstat(self._fd).st_size
        #: Did this object create the file (or find it empty)? Only then is it all its own.
        self.started_empty = size == 0
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            write_all(self._fd, b"\n")

    def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append ``records`` with one write and one fdatasync (durable when this returns).

        Thread-safe: the store commits two batches at once from worker threads.
        """
        if not records:
            return
        if self._fd is None:
            raise ValueError(f"journal {self.path} is closed")
        data = encode_records(records)
        # One writer thread at a time so batches never interleave; the fsync runs unlocked so
        # that concurrent batches share the disk flush.
        with self._lock:
            if self._broken is not None:
                # A failed write may have left a torn line: appending after it would glue a good
                # record onto it, so this journal takes nothing more (a new run gets a new one).
                raise OSError(self._broken.errno, f"journal unusable after: {self._broken}")
            try:
                write_all(self._fd, data)
            except OSError as exc:
                self._broken = exc
                raise
            with _APPENDED_LOCK:
                _APPENDED[self._key] = _APPENDED.get(self._key, 0) + len(records)
            self.appended += len(records)
        _datasync(self._fd)

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def journal_files(out_dir: Path) -> list[Path]:
    """Every journal in DIR, sorted by name (one directory listing, no stat per file)."""
    folder = journals_dir(out_dir)
    try:
        names = [e.name for e in os.scandir(folder) if e.name.endswith(JOURNAL_SUFFIX)]
    except FileNotFoundError:
        return []
    return [folder / name for name in sorted(names)]


def _parse_lines(lines: list[bytes]) -> list[Any] | None:
    """Fast path: parse many complete lines with ONE json.loads of a JSON array.

    Per-line ``json.loads`` spends most of its time in Python-level wrappers; one C-level parse
    of ``[line,line,...]`` is several times faster. Returns None when the chunk holds a bad line
    (or lines that do not map one-to-one to objects): the caller then parses line by line.
    """
    good = [line for line in lines if line.strip(b"\x00 \t\r")]
    if not good:
        return []
    try:
        parsed = json.loads(b"[" + b",".join(good) + b"]")
    except ValueError:
        return None
    if len(parsed) != len(good) or not all(type(rec) is dict for rec in parsed):
        return None
    return parsed  # type: ignore[no-any-return]


def read_journal(path: Path, mark: ReadMark | None = None) -> Iterator[dict[str, Any]]:
    """Records of one journal, complete lines only (see the module docstring).

    ``mark``: once the records are all read, it says how many damaged lines were skipped
    (``mark.damaged``), for ``status`` to report.
    """
    return _read_from(path, mark if mark is not None else _Mark())


@dataclass
class _Mark:
    """Where a read of one journal starts and, once it is exhausted, where the next may resume.

    ``offset``/``lines`` end after the last complete line, or before a garbled last line (which
    the next read must see again: lines after it make it a garbled *middle* line, warned about).
    ``damaged``: complete lines before ``offset`` that were skipped as damage: lines of NUL
    bytes (what a crash leaves on some filesystems where a record was being written; nothing
    else in a journal holds a NUL) and garbled middle lines. Recovery needs no count (a
    rerun records again what they held), but ``verify``/``status`` say so: silently lost
    records are how a user ends up wondering why a harvest fetched files again.
    """

    offset: int = 0
    lines: int = 0
    damaged: int = 0


#: Public name of a read position, for :func:`read_journal`'s ``mark``.
ReadMark = _Mark


def _read_from(path: Path, mark: _Mark) -> Iterator[dict[str, Any]]:
    """Records of ``path`` from ``mark``; advances ``mark`` when the generator is exhausted."""
    # chain.from_iterable hands the records of each parsed chunk over in C, without resuming a
    # generator per record (a tenth of the time of loading 100,000 images).
    return chain.from_iterable(_read_batches(path, mark))


def _read_batches(path: Path, mark: _Mark) -> Iterator[list[dict[str, Any]]]:
    """:func:`_read_from`, a list of records at a time."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally; generator keeps it open
    except FileNotFoundError:
        return
    try:
        fh.seek(mark.offset)
        # The line being read, not ended yet: its chunks are kept apart and joined once its
        # newline comes (joining and splitting it again with every chunk made a line k chunks
        # long cost k times its length: a 64 MB record took 8 s to read instead of 0.3 s).
        rest: list[bytes] = []
        lineno = mark.lines
        consumed = mark.offset  # file offset of the first byte not yet split into lines
        pending_bad: tuple[int, bytes] | None = None
        pending_at = (0, 0)  # (offset, lines before it) of the pending garbled line
        damaged_at: list[int] = []  # offsets of the damaged lines met (see _Mark.damaged)
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            if b"\n" not in chunk:
                rest.append(chunk)
                continue
            data = b"".join((*rest, chunk)) if rest else chunk
            lines = data.split(b"\n")
            tail = lines.pop()  # after the last newline: incomplete (torn or still being written)
            rest = [tail] if tail else []
            base = consumed
            consumed += len(data) - len(tail)
            fast = _parse_lines(lines)
            if fast is not None:
                if len(fast) != len(lines):  # blank or NUL lines were skipped: find the NUL ones
                    _nul_lines(lines, base, damaged_at)
                if fast and pending_bad is not None:
                    _warn_garbled(path, pending_bad)
                    damaged_at.append(pending_at[0])
                    pending_bad = None
                yield fast
            else:
                good: list[dict[str, Any]] = []
                at = base
                for offset, line in enumerate(lines):
                    line_at = at
                    at += len(line) + 1
                    if not line.strip(b"\x00 \t\r"):
                        if b"\x00" in line:
                            damaged_at.append(line_at)
                        continue
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        rec = None
                    if pending_bad is not None:
                        _warn_garbled(path, pending_bad)
                        damaged_at.append(pending_at[0])
                        pending_bad = None
                    if isinstance(rec, dict):
                        good.append(rec)
                    else:
                        pending_bad = (lineno + offset + 1, line)
                        pending_at = (line_at, lineno + offset)
                yield good
            lineno += len(lines)
        if pending_bad is not None:
            # A garbled *last* complete line is the classic power-loss tail: tolerated quietly.
            logger.debug("ignoring garbled last line %d of journal %s", pending_bad[0], path)
            mark.offset, mark.lines = pending_at
        else:
            mark.offset, mark.lines = consumed, lineno
        # Lines past the new offset (after a garbled last line) are read, and counted, again.
        mark.damaged += sum(1 for at in damaged_at if at < mark.offset)
        if b"".join(rest).strip(b"\x00 \t\r"):
            logger.debug("ignoring incomplete last line of journal %s", path)
    finally:
        fh.close()


def _nul_lines(lines: list[bytes], base: int, into: list[int]) -> None:
    """Append to ``into`` the offsets of ``lines`` (starting at file offset ``base``) that
    hold nothing but NUL bytes and blanks."""
    at = base
    for line in lines:
        if b"\x00" in line and not line.strip(b"\x00 \t\r"):
            into.append(at)
        at += len(line) + 1


def _warn_garbled(path: Path, bad: tuple[int, bytes]) -> None:
    """Debug only: each command says the damaged lines once, counted per journal
    (:func:`harvester.verify.damaged_journal_lines`), not once per line with its bytes."""
    logger.debug("skipping garbled line %d of journal %s: %r", bad[0], path, bad[1][:80])


def read_all(out_dir: Path) -> Iterator[dict[str, Any]]:
    """Records of every journal of DIR (journal by journal, each in write order)."""
    for path in journal_files(out_dir):
        yield from read_journal(path)


def failure_records(out_dir: Path, keys: Collection[Key]) -> dict[Key, list[dict[str, Any]]]:
    """Every failure record of each of ``keys`` (kind, id), oldest first (by ``t``), not
    only the latest one that :class:`JournalState` keeps.

    Why: the fold keeps one failure per kind and id, whichever server made it. In a folder
    of two servers whose runs both failed an id (each its own image of it), the older
    server's failure was hidden by the newer one's: ``status --failed-ids --base-url`` of
    the older server left its image out, and ``forget --gone-ids-from`` recorded it gone
    from the newer one alone. Reads every journal once: for those commands alone, in a
    folder of two servers."""
    wanted = set(keys)
    found: dict[Key, list[dict[str, Any]]] = {}
    for rec in read_all(out_dir):
        if rec.get("rec") != "failed":
            continue
        key = (rec.get("kind"), rec.get("id"))
        if key in wanted:
            found.setdefault(key, []).append(rec)
    for records in found.values():
        records.sort(key=_record_t)
    return found


def _record_t(rec: Mapping[str, Any]) -> float:
    """A record's ``t`` (0 where it has none)."""
    t = rec.get("t")
    return float(t) if isinstance(t, int | float) else 0.0


def writer_of(path: Path) -> str:
    """The writer name of a journal file."""
    return path.name[: -len(JOURNAL_SUFFIX)]


def journals_of_other_writers(sources: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, str]:
    """Of (journal file name, its run record) pairs: the journals none of whose run records
    names the file's writer, with the writer the first of them names. A copy of a journal
    (``journals/foo-copy.jsonl``) holds foo's records: read as a writer of its own it was a
    phantom writer in ``status``, with foo's run and counts."""
    named: dict[str, str] = {}
    own: set[str] = set()
    for name, run in sources:
        writer = run.get("writer")
        if not isinstance(writer, str) or not name.endswith(JOURNAL_SUFFIX):
            continue
        if writer == name[: -len(JOURNAL_SUFFIX)]:
            own.add(name)
        else:
            named.setdefault(name, writer)
    return {name: writer for name, writer in sorted(named.items()) if name not in own}


def runs_newest_last(state: JournalState) -> list[str]:
    """The run ids of DIR's "run" records, oldest first, newest last.

    Ordered by the time each run's store opened (``order``, sub-second, else ``started``:
    :func:`run_orders`), ties by run id, and never by run id alone: an id
    (:func:`harvester.layout.new_run_id`) holds its start time to the second only, then a
    random suffix, so two runs that start within one second (the shards of a job array, a
    quick rerun) would be ordered by chance. A run id with several records counts from its
    latest; a record without either time counts as oldest.
    """
    order = run_orders(state)
    return sorted(order, key=lambda run: (order[run], run))


def run_orders(state: JournalState) -> dict[str, float]:
    """Where each run of ``state`` is in DIR's order of runs: its latest "run" record's
    ``order`` (:func:`harvester.layout.run_order_time`), or its ``started`` where it has
    none (a run of 0.1.16 or before: its host's clock).

    Why not ``started`` alone: that is the host's clock, and on a folder shared by hosts
    whose clocks disagree a run started after another could come before it. ``order`` is
    never below the order of a run its store saw when it opened.
    """
    orders: dict[str, float] = {}
    for rec in state.runs:
        run = rec.get("run")
        if not isinstance(run, str) or not run:
            continue
        at = _record_time(rec, "order")
        if at is None:
            at = _record_time(rec, "started")
        at = 0.0 if at is None else at
        orders[run] = max(orders.get(run, at), at)
    return orders


def _record_time(rec: Mapping[str, Any], key: str) -> float | None:
    """``rec[key]`` as a time (None: missing or not a number)."""
    t = rec.get(key)
    return float(t) if isinstance(t, int | float) and not isinstance(t, bool) else None


class SavedConfigs:
    """Saved run configurations (``runs/<run>/config.json``), each file read and parsed at
    most once, for a command that asks several things of them: ``status`` takes the
    artifact kinds, the label keys and the target sets (with their resume line) from them,
    and the label keys alone read every config where no run set any. The values are
    shared between the askers: read them, never change them."""

    def __init__(self) -> None:
        self._values: dict[Path, Any] = {}

    def read(self, path: Path) -> Any:
        """The JSON value saved at ``path``; None when it cannot be read or parsed.

        A file not there yet is not remembered as None: a run starting while ``status``
        reads saves its config (in one rename) between two asks, and the second one, whether
        the file is damaged (:func:`harvester.config.damaged_run_configs`), then took the
        first's None for a file that is there: "config.json is damaged ... remove runs/<run>/"
        of a live run."""
        if path not in self._values:
            try:
                self._values[path] = json.loads(path.read_bytes())
            except FileNotFoundError:
                return None
            except (OSError, ValueError):
                self._values[path] = None
        return self._values[path]


def saved_run_configs(
    out_dir: Path,
    state: JournalState,
    *,
    whole: bool = False,
    saved: SavedConfigs | None = None,
) -> Iterator[dict[str, Any]]:
    """The configuration each run of DIR saved (``runs/<run>/config.json``), newest run first.

    The one reader of saved configs, for the settings a later command takes from the newest
    run that recorded them (``status``: the artifact kinds; ``index``: the label keys).
    ``state`` names the runs and their order (:func:`runs_newest_last`). A run without a
    readable config (a plan, a run killed before saving it) is skipped. The pipeline nests
    the resolved configuration under ``"config"``; a file without it is taken as it is.
    ``whole``: the file's whole object (with the harvester ``"version"`` that wrote it).
    ``saved``: the files a caller read already (read here once more otherwise).
    """
    saved = saved if saved is not None else SavedConfigs()
    for run in reversed(runs_newest_last(state)):
        data = saved.read(run_config_path(out_dir, run))
        if isinstance(data, dict):
            yield data if whole else run_config_of(data)


def newest_saved_config(
    out_dir: Path, state: JournalState, *, besides: str, tries: int = 3
) -> dict[str, Any] | None:
    """The configuration saved by the newest run of DIR other than ``besides`` (this run),
    reading at most ``tries`` config files (runs without one, a plan or a killed run, are
    passed over); None if none of them has one. Bounded on purpose: a rerun of every task
    of a 1,000-task array must not read every other task's config (a million small reads
    on a shared filesystem)."""
    for run in reversed(runs_newest_last(state)):
        if run == besides:
            continue
        if tries <= 0:
            return None
        tries -= 1
        try:
            data = json.loads(run_config_path(out_dir, run).read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return run_config_of(data)
    return None


def run_config_of(saved: dict[str, Any]) -> dict[str, Any]:
    """The resolved configuration in a saved ``runs/<run>/config.json``: nested under
    ``"config"`` as the pipeline writes it, else the file's object as it is."""
    nested = saved.get("config")
    return nested if isinstance(nested, dict) else saved


#: The keys a done record is written with, in that order (see the module docstring).
_DONE_KEYS = ("kind", "id", "path", "size", "sha256", "t", "run")
_DONE_KEY_SET = frozenset(_DONE_KEYS)


def _packed_sha256(value: Any) -> Any:
    """A lower-case hex SHA-256 as its 32 bytes; anything else as it was written."""
    # islower(): no upper-case hex (it would come back lower-case); len(raw): fromhex skips
    # spaces. What passes both reads back exactly as written.
    if type(value) is not str or len(value) != 64 or not value.islower():
        return value
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return value
    return raw if len(raw) == 32 else value


class _AtLayout:
    """The ``path`` of a done record whose file is where the layout puts its kind and id."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<the layout's path>"

    def __reduce__(self) -> str:
        """One instance: copies and pickles of a record get :data:`_AT_LAYOUT` itself."""
        return "_AT_LAYOUT"


_AT_LAYOUT = _AtLayout()


def _path_slot(kind: Any, object_id: Any, path: Any) -> Any:
    """What a :class:`DoneRecord` keeps of ``path``: :data:`_AT_LAYOUT` where it is the
    layout's path of that kind and id (:func:`harvester.layout.image_path`, given back
    when read), else ``path`` as written. Why: a path of ~40 characters is ~90 bytes per
    artifact kept for the whole run, and nearly every record has the layout's."""
    if (
        type(object_id) is int
        and object_id >= 0
        and type(kind) is str
        and kind in ARTIFACT_FILES
        and path == default_image_path(object_id, kind)
    ):
        return _AT_LAYOUT
    return path


class DoneRecord(Mapping[str, Any]):
    """One "done" record, read-only, in much less memory than the dict it was parsed from.

    A harvest holds one per stored artifact for the whole run, and every task of a SLURM
    array folds the whole folder's journals: for a million-image screen with three artifacts,
    three million of them. Here the values sit in slots (a dict of eight keys alone is 272
    bytes), the SHA-256 is 32 bytes instead of 64 hex characters and a path where the layout
    puts the file is not kept (:func:`_path_slot`). It reads like the dict
    (``rec["path"]``, ``rec.get("files")``, ``dict(rec)``, equality with dicts) and gives the
    same keys; keys beyond the usual ones (``files`` of a multi-file record) are kept in a
    small dict. An unset slot is a key the record did not have. Keys come in the order the
    store writes them ("rec", the usual keys, then the others as written), which is the
    journal's order for every record the store wrote; a line written in another order reads
    back in this one (nothing depends on it: only ``json.dumps(dict(rec))`` would show it).
    Read the SHA-256 as ``rec["sha256"]`` (the hex string); the ``sha256`` attribute holds
    the packed bytes. Unlike the dicts, instances are tracked by the garbage collector.
    """

    __slots__ = ("kind", "id", "path", "size", "sha256", "t", "run", "_extra")
    kind: str
    id: int
    path: Any  # a str, or _AT_LAYOUT
    size: int
    sha256: Any
    t: float
    run: Any
    _extra: dict[str, Any] | None

    @classmethod
    def from_json(cls, rec: Mapping[str, Any], shared: dict[Any, Any] | None = None) -> DoneRecord:
        """From a parsed journal line (or any mapping with ``"rec": "done"``).

        ``shared``: a dict through which records with equal extra keys and values (all
        strings) share one dict of them: ``status`` tags every record with its writer,
        which was a dict of ~200 bytes per record (records never change theirs). Strings
        only: ``True == 1``, and a shared ``{"linked": true}`` would stand for a 1."""
        obj = cls.__new__(cls)
        if len(rec) == 8 and rec.get("rec") == "done":
            # The usual record, exactly the keys the store writes (journal loading's hot path).
            try:
                kind, object_id = obj.kind, obj.id = rec["kind"], rec["id"]
                obj.path = _path_slot(kind, object_id, rec["path"])
                obj.size, obj.sha256 = rec["size"], _packed_sha256(rec["sha256"])
                obj.t, obj.run, obj._extra = rec["t"], rec["run"], None
                return obj
            except KeyError:
                obj = cls.__new__(cls)
        extra: dict[str, Any] | None = None
        for key, value in rec.items():
            if key in _DONE_KEY_SET:
                setattr(obj, key, _packed_sha256(value) if key == "sha256" else value)
            elif key != "rec":
                if extra is None:
                    extra = {}
                extra[key] = value
        if extra is not None and shared is not None and all(type(v) is str for v in extra.values()):
            extra = shared.setdefault(tuple(extra.items()), extra)
        obj._extra = extra
        if hasattr(obj, "path") and hasattr(obj, "kind") and hasattr(obj, "id"):
            obj.path = _path_slot(obj.kind, obj.id, obj.path)
        return obj

    def __getitem__(self, key: str) -> Any:
        if key in _DONE_KEY_SET:
            try:
                value = getattr(self, key)
            except AttributeError:
                raise KeyError(key) from None
            if value is _AT_LAYOUT:
                return default_image_path(self.id, self.kind)
            return value.hex() if key == "sha256" and type(value) is bytes else value
        if key == "rec":
            return "done"
        extra = self._extra
        if extra is not None and key in extra:
            return extra[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield "rec"
        for key in _DONE_KEYS:
            if hasattr(self, key):
                yield key
        if self._extra is not None:
            yield from self._extra

    def __len__(self) -> int:
        present = sum(1 for key in _DONE_KEYS if hasattr(self, key))
        return 1 + present + (len(self._extra) if self._extra is not None else 0)

    def __repr__(self) -> str:
        return f"DoneRecord({dict(self)!r})"

    @property
    def at_layout(self) -> bool:
        """Is ``path`` where the layout puts this kind and id (:func:`_path_slot`)? Then a
        file found there can be told this record's by the kind and id its name holds."""
        return getattr(self, "path", None) is _AT_LAYOUT


@dataclass
class JournalState:
    """What the journals of DIR say, folded.

    ``done[(kind, id)]``: the latest "done" record (a :class:`DoneRecord`) not superseded by a
    later "invalid";
    ``failed[(kind, id)]``: the latest failure of something that is not done;
    ``images[id]``: the latest :class:`ImageRef` journaled for that image;
    ``invalid[(kind, id)]``: the latest "invalid" record (kept for reports);
    ``runs``: every "run" record;
    ``labels_unasked``: the images whose latest image record says its labels were never asked
    (``"labels_asked": false``, written by ``--no-labels`` runs);
    ``unlisted``: the images whose latest image record says they left index.csv
    (``"unlisted": true``: they no longer match the ``--where`` that selected them);
    ``walks[(targets, shard)]``: the latest "walk" record of those targets (and shard);
    ``sample_walks[(targets, shard, draw)]``: the latest "walk" record of those that said
    the selection's warnings of ``draw`` (``sample_draw``): one per selection and server, so
    that another class's run between two of one class does not hide what was said;
    ``voided[(kind, id)]``: the done record a later "invalid" voided, for a state that
    :meth:`load` folded (empty in others): ``verify`` checks the file against it again, a
    file restored from a backup since being whole again.
    """

    done: dict[Key, DoneRecord] = field(default_factory=dict)
    failed: dict[Key, dict[str, Any]] = field(default_factory=dict)
    images: dict[int, ImageRef] = field(default_factory=dict)
    invalid: dict[Key, dict[str, Any]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    labels_unasked: set[int] = field(default_factory=set)
    unlisted: set[int] = field(default_factory=set)
    walks: dict[WalkKey, dict[str, Any]] = field(default_factory=dict)
    sample_walks: dict[SaidKey, dict[str, Any]] = field(default_factory=dict)
    voided: dict[Key, DoneRecord] = field(default_factory=dict, repr=False, compare=False)
    #: The latest ``t`` of the image records folded (refs keep none): see :meth:`newest_t`.
    images_t: float = field(default=0.0, repr=False, compare=False)
    # Set by load(): where the journals were read up to, for catch_up().
    _origin: _Origin | None = field(default=None, init=False, repr=False, compare=False)
    # Equal labels tuples (and pairs, context values) shared by the refs (ImageRef.from_json),
    # those apply() adds too.
    _labels: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    # The image filter a load kept (see load()); caught-up states keep saying so.
    _images: ImageFilter | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def load(
        cls, out_dir: Path, *, remember: bool = True, images: ImageFilter | None = None
    ) -> JournalState:
        """Fold every journal of DIR. Reads journals only: no artifact file is touched.

        ``images``: keep the records of the images it accepts only (artifacts, image refs,
        their failures); study and run records are all kept. A shard's run passes its
        shard test: it never looks at another shard's images, and holding every shard's
        records would make each of N tasks hold the whole folder's state. Such a state
        is partial: :func:`harvester.index.current_state` reads DIR in full instead of
        catching it up. It is not remembered for a later load.

        ``remember=False`` keeps no fold for a later load (a harvest's store, which loads once
        and then catches up with :meth:`catch_up`): the fold holds about a fifth more memory
        than the state itself (~30 MB per 100,000 images).

        The fold of the last DIR loaded is kept (one per process): loading the same DIR again
        parses only what was appended since, provided every journal read before is still there
        with the same bytes up to where it was read (else a full reload). That is checked on
        the first and last 64 KiB of what was read, not all of it: journals are only appended
        to, and this tells one that grew from one that was replaced or truncated.
        (A harvest loads DIR once, when its store opens; for index.csv it catches that state
        up with :meth:`catch_up` instead of loading again.)
        """
        global _memo
        folder = journals_dir(out_dir)
        with _MEMO_LOCK, paused_gc():
            memo = _memo if _memo is not None and _memo.folder == folder else None
            if images is not None:
                memo = None  # a filtered fold: neither taken from nor kept for other loads
            else:
                _memo = None
            paths = journal_files(out_dir)
            if memo is not None and not memo.still_valid(paths):
                memo = None
            if memo is None:
                memo = _Memo(folder, _Fold(images))
            for path in paths:
                mark = memo.marks.setdefault(path.name, _Mark())
                memo.fold.add(_read_from(path, mark), path.name)
                memo.digests[path.name] = _edge_digest(path, mark.offset)
            kept = images is None and remember
            # (run_sources first: a state made with last=True may take the fold's containers)
            run_sources = memo.fold.run_sources()
            state = memo.fold.state(last=not kept)
            if kept:
                _memo = memo
            state._origin = _Origin(
                out_dir=Path(out_dir),
                marks={name: _Mark(m.offset, m.lines, m.damaged) for name, m in memo.marks.items()},
                samples=dict(memo.digests),
                appended={path.name: _appended_to(path) for path in paths},
                run_sources=run_sources,
                images=images,
            )
            state._images = images
        return state

    @property
    def damaged_lines(self) -> dict[str, int]:
        """Journal file name -> damaged lines skipped in it (see ``_Mark.damaged``), for a
        state from :meth:`load`; empty for other states (the store's caught-up ones)."""
        origin = self._origin
        if origin is None:
            return {}
        return {name: mark.damaged for name, mark in sorted(origin.marks.items()) if mark.damaged}

    @property
    def misnamed_journals(self) -> dict[str, str]:
        """Journal file name -> the writer its "run" records name, for journals none of whose
        run records names the file's own writer (a journal copied or renamed by hand: a
        writer's journal is ``<writer>.jsonl`` and starts with its run record). A state from
        :meth:`load` only; empty for others."""
        origin = self._origin
        if origin is None:
            return {}
        return journals_of_other_writers(zip(origin.run_sources, self.runs, strict=False))

    @property
    def partial(self) -> bool:
        """True for a state loaded with an image filter (see :meth:`load`)."""
        return self._images is not None

    def catch_up(self) -> JournalState:
        """This state plus whatever other journals of its DIR appended since it was loaded.

        For a state from :meth:`load` that a live writer has kept current with :meth:`apply`
        (a running :class:`~harvester.store.Store`'s ``state``): instead of reading and folding
        every journal again, only the lines other writers appended since the load are read and
        merged in, exactly as a fresh :meth:`load` would fold them. This process's own journal
        is not read: every record it journaled was applied (checked by counting; if not, or if a
        journal was replaced, or a merge would need what the fold pruned, it falls back to a
        full :meth:`load`). The result may be this very object when nothing was appended: treat
        it as read-only. A state not made by :meth:`load` is returned as it is.
        """
        origin = self._origin
        if origin is None:
            return self
        merged = self._merge_appended(origin)
        if merged is not None:
            return merged
        logger.debug("journals of %s: reading them all again", origin.out_dir)
        return JournalState.load(origin.out_dir, images=origin.images)

    def _merge_appended(self, origin: _Origin) -> JournalState | None:
        """:meth:`catch_up`'s fast path; None when only a full load gives the exact answer."""
        if not origin.mergeable or (origin.applied and origin.live is None):
            return None
        paths = journal_files(origin.out_dir)
        names = {path.name for path in paths}
        if not names.issuperset(origin.marks) or (origin.live and origin.live not in names):
            return None  # a journal read before, or this writer's own, is gone
        if origin.live is not None:
            ours = journals_dir(origin.out_dir) / origin.live
            if _appended_to(ours) - origin.appended.get(origin.live, 0) != origin.applied:
                return None  # journaled records that were never applied (or the reverse)
        fold = _Fold(origin.images)
        read = 0
        for path in paths:
            name = path.name
            if name == origin.live:
                continue
            old = origin.marks.get(name)
            if old is not None and _edge_digest(path, old.offset) != origin.samples.get(name):
                return None  # rewritten rather than appended to
            mark = _Mark(old.offset, old.lines) if old is not None else _Mark()
            fold.add(_read_from(path, mark), name)
            read += mark.lines - (old.lines if old is not None else 0)
        logger.debug("journals of %s: %d lines appended by other writers", origin.out_dir, read)
        if fold.empty():
            # Nothing new: this state as it is, its runs in journal-name order as a load gives.
            if len(origin.run_sources) == len(self.runs):
                pairs = sorted(zip(origin.run_sources, self.runs, strict=True), key=lambda p: p[0])
                origin.run_sources[:] = [source for source, _ in pairs]
                self.runs[:] = [run for _, run in pairs]
            return self
        merged = _merge(self, origin, fold)
        if merged is not None:
            merged._images = origin.images  # still one shard's images only, if it was
        return merged

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> JournalState:
        """Fold records given in any order (ties in ``t`` resolve in favour of the later one)."""
        fold = _Fold()
        with paused_gc():
            fold.add(records)
            return fold.state(last=True)

    @classmethod
    def from_journals(
        cls, journals: Iterable[tuple[str, Iterable[dict[str, Any]]]]
    ) -> tuple[JournalState, Callable[[Key], str]]:
        """Fold each journal's records, given as (journal name, records) in name order, as
        :meth:`load` folds DIR's; with the state, what gives the name of the journal whose
        record of a done key the state kept.

        Why: ``status`` counts each done record for its journal's writer. Tagging every
        record with it made each done record a dict of nine keys, off the fold's fast path
        (:meth:`DoneRecord.from_json`), and a third of a big folder's load."""
        fold = _Fold()
        with paused_gc():
            for name, records in journals:
                fold.add(records, name)
            sources, main = fold.source["d"], fold.main or ""
            state = fold.state(last=True)

        def source_of(key: Key) -> str:
            return sources.get(key, main)

        return state, source_of

    def newest_t(self) -> float:
        """The latest ``t`` of the records this state holds (0.0: none), for a store to date
        its own records after (``Store._now``). Computed when asked (a harvest's store, once):
        a fold of 100,000 images would spend tens of milliseconds on it at every load.

        The records a fold dropped are no later than those it kept, or do not compete
        with a new record: a done record an invalid one voided (the invalid is no earlier),
        a failure of something done (a done record outranks any failure)."""
        held: tuple[Mapping[Any, Mapping[str, Any]], ...] = (self.failed, self.invalid, self.walks)
        return max(
            self.images_t,
            _latest(list(map(_DONE_T, self.done.values()))),
            *(_latest([rec.get("t") for rec in records.values()]) for records in held),
        )

    def is_done(self, kind: str, object_id: int) -> bool:
        """True when ``(kind, object_id)`` is journaled done and not invalidated since."""
        return (kind, object_id) in self.done

    def apply(self, rec: Mapping[str, Any]) -> None:
        """Fold one record that is newer than everything seen (the live store's commits).

        The records applied to a loaded state are taken to be its writer's own journal, which
        the first "run" record applied names; :meth:`catch_up` then skips that journal.
        """
        kind = rec.get("rec")
        origin = self._origin
        if origin is not None:
            origin.applied += 1
            if kind == "run":
                name = f"{rec.get('writer')}{JOURNAL_SUFFIX}"
                if origin.live is None:
                    origin.live = name
                origin.mergeable &= origin.live == name
                origin.run_sources.append(name)
            elif kind == "invalid":
                origin.mergeable = False  # it may revive a failure the fold pruned
        if kind == "done":
            key = (rec["kind"], rec["id"])
            self.done[key] = DoneRecord.from_json(rec)
            self.failed.pop(key, None)
        elif kind == "failed":
            key = (rec["kind"], rec["id"])
            if key not in self.done:
                self.failed[key] = dict(rec)
        elif kind == "image":
            ref = ImageRef.from_json(rec["ref"], self._labels)
            self.images[ref.image_id] = ref
            self.images_t = max(self.images_t, _record_time(rec, "t") or 0.0)
            if rec.get("labels_asked") is False:
                self.labels_unasked.add(ref.image_id)
            else:
                self.labels_unasked.discard(ref.image_id)
            if rec.get("unlisted") is True:
                self.unlisted.add(ref.image_id)
            else:
                self.unlisted.discard(ref.image_id)
        elif kind == "invalid":
            key = (rec["kind"], rec["id"])
            self.invalid[key] = dict(rec)
            self.done.pop(key, None)
        elif kind == "run":
            self.runs.append(dict(rec))
        elif kind == "walk":
            self.walks[_walk_key(rec)] = dict(rec)
            if (said := _said_key(rec)) is not None:
                self.sample_walks[said] = dict(rec)


class _Fold:
    """Every journal record folded, before invalid records and done artifacts prune it.

    Kept unpruned so that more records can be folded in later (see :meth:`JournalState.load`);
    :meth:`state` derives a :class:`JournalState` with fresh containers each time. Each kept
    record remembers its journal's name: ``JournalState.load`` of the whole DIR reads journals
    in name order with ties in ``t`` going to the later record, so (t, journal name) decides
    here, which gives the same result whatever order the records arrive in.
    """

    def __init__(self, images: ImageFilter | None = None) -> None:
        self.keep = images  # see JournalState.load
        self.done: dict[Key, DoneRecord] = {}
        self.failed: dict[Key, dict[str, Any]] = {}
        self.invalid: dict[Key, dict[str, Any]] = {}
        # The kept image's ref and its record's t apart: a (t, ref) pair per image would be
        # one more object for the garbage collector to walk for as long as the fold is kept.
        self.images: dict[int, ImageRef] = {}
        self.image_t: dict[int, Any] = {}
        self.unasked: set[int] = set()  # see JournalState.labels_unasked
        self.unlisted: set[int] = set()  # see JournalState.unlisted
        # Journal name of each kept record, by record type ("d", "i", "f", "v") and key. Done
        # and image records from the first journal folded (``main``) are not entered: the
        # records of a folder are mostly in one journal, and an entry per image is ~50 bytes.
        self.source: dict[str, dict[Any, str]] = {
            "d": {}, "i": {}, "f": {}, "v": {}, "w": {}, "s": {}
        }  # fmt: skip
        self.main: str | None = None
        self.walks: dict[WalkKey, dict[str, Any]] = {}
        self.sample_walks: dict[SaidKey, dict[str, Any]] = {}
        self.runs: dict[str, list[dict[str, Any]]] = {}  # journal name -> its run records
        # One object per distinct kind, run and extra keys of done records (DoneRecord.from_json).
        self.kinds: dict[Any, Any] = {}
        # One object per distinct labels tuple, label pair and study context value, shared by
        # the refs (ImageRef.from_json).
        self.labels: dict[Any, Any] = {}

    def add(self, records: Iterable[dict[str, Any]], source: str = "") -> None:
        """Fold ``records`` of journal ``source`` in (a tie in ``t`` goes to the later one)."""
        # Runs once per record of every journal: locals, no call per record but from_json.
        done, failed, invalid, images = self.done, self.failed, self.invalid, self.images
        image_t, kinds, labels, unasked = self.image_t, self.kinds, self.labels, self.unasked
        unlisted = self.unlisted
        src_d, src_i, src_f, src_v, src_w = (self.source[k] for k in ("d", "i", "f", "v", "w"))
        walks, sample_walks, src_s = self.walks, self.sample_walks, self.source["s"]
        runs = self.runs.setdefault(source, [])
        keep = self.keep
        if self.main is None:
            self.main = source
        main = self.main
        for rec in records:
            kind = rec.get("rec")
            try:
                if keep is not None and not _kept(rec, keep):
                    continue
                if kind == "done":
                    # Share the few distinct strings of millions of records (memory).
                    rec["rec"] = "done"
                    kind = rec["kind"] = kinds.setdefault(rec["kind"], rec["kind"])
                    run = rec.get("run")
                    rec["run"] = kinds.setdefault(run, run)
                    object_id = rec["id"]
                    if type(object_id) is int and (of := images.get(object_id)) is not None:
                        object_id = rec["id"] = of.image_id  # one int object, not two
                    key = (kind, object_id)
                    kept = done.get(key)
                    t = rec["t"]
                    if kept is None or _newer(t, source, kept["t"], src_d, key, main):
                        done[key] = DoneRecord.from_json(rec, kinds)
                        if source != main:
                            src_d[key] = source
                        elif kept is not None:
                            src_d.pop(key, None)
                elif kind == "image":
                    ref = rec["ref"]
                    image_id = ref["image_id"]
                    t = rec.get("t", 0.0)
                    old = image_t.get(image_id)
                    if old is None or _newer(t, source, old, src_i, image_id, main):
                        images[image_id] = ImageRef.from_json(ref, labels)
                        image_t[image_id] = t
                        if source != main:
                            src_i[image_id] = source
                        elif old is not None:
                            src_i.pop(image_id, None)
                        if rec.get("labels_asked") is False:
                            unasked.add(image_id)
                        else:
                            unasked.discard(image_id)
                        if rec.get("unlisted") is True:
                            unlisted.add(image_id)
                        else:
                            unlisted.discard(image_id)
                elif kind == "failed":
                    key = (rec["kind"], rec["id"])
                    prev = failed.get(key)
                    if prev is None or _newer(rec["t"], source, prev["t"], src_f, key):
                        failed[key] = rec
                        src_f[key] = source
                elif kind == "invalid":
                    key = (rec["kind"], rec["id"])
                    prev = invalid.get(key)
                    if prev is None or _newer(rec["t"], source, prev["t"], src_v, key):
                        invalid[key] = rec
                        src_v[key] = source
                elif kind == "run":
                    runs.append(dict(rec))
                elif kind == "walk":
                    key_w = _walk_key(rec)
                    prev = walks.get(key_w)
                    if prev is None or _newer(rec["t"], source, prev["t"], src_w, key_w):
                        walks[key_w] = rec
                        src_w[key_w] = source
                    key_s = _said_key(rec)
                    prev = sample_walks.get(key_s) if key_s is not None else None
                    if key_s is not None and (
                        prev is None or _newer(rec["t"], source, prev["t"], src_s, key_s)
                    ):
                        sample_walks[key_s] = rec
                        src_s[key_s] = source
            except (KeyError, TypeError) as exc:
                logger.warning("skipping malformed journal record %r (%s)", rec, exc)

    def empty(self) -> bool:
        """True when no record was folded in."""
        return not (
            self.done
            or self.failed
            or self.invalid
            or self.images
            or self.walks
            or any(self.runs.values())
        )

    def run_sources(self) -> list[str]:
        """The journal name of each run record, in the order :meth:`state` lists them."""
        return [name for name in sorted(self.runs) for _ in self.runs[name]]

    def state(self, *, last: bool = False) -> JournalState:
        """The folded state: done minus what a later invalid record voids; failures not done.

        ``last``: this fold is dropped once the state is made, so the state takes its dicts
        of done records and images instead of copies (two dicts of an entry per image, ~10 MB
        per 100,000 images, at the peak of a load); the fold is not to be used again."""
        done = self.done if last else dict(self.done)
        voided: dict[Key, DoneRecord] = {}
        for key, inv in self.invalid.items():
            rec_done = done.get(key)
            if rec_done is not None and rec_done["t"] <= inv["t"]:
                voided[key] = done.pop(key)
        failed = {key: rec for key, rec in self.failed.items() if key not in done}
        state = JournalState(
            done=done,
            failed=failed,
            images=self.images if last else dict(self.images),
            invalid=dict(self.invalid),
            runs=[dict(run) for name in sorted(self.runs) for run in self.runs[name]],
            labels_unasked=self.unasked if last else set(self.unasked),
            unlisted=self.unlisted if last else set(self.unlisted),
            walks=dict(self.walks),
            sample_walks=dict(self.sample_walks),
            voided=voided,
            images_t=_latest(self.image_t.values()),
        )
        state._labels = self.labels
        return state


_DONE_T = attrgetter("t")


def _latest(times: Collection[Any]) -> float:
    """The latest of ``times`` that is a number (0.0: none is). One ``max`` in C where
    every one is a number, as the store writes them; a hand-edited time of another type
    is skipped (the fold kept it unread: nothing compared it)."""
    try:
        newest = max(times, default=0.0)
    except TypeError:
        newest = None
    if type(newest) is float or type(newest) is int:
        return float(newest)
    return max((float(t) for t in times if type(t) is float or type(t) is int), default=0.0)


def _kept(rec: Mapping[str, Any], keep: ImageFilter) -> bool:
    """Does an image filter keep this record? (Records of no image are always kept.)

    The filter sees int ids only: a record of an image kind whose id is anything else (a
    hand-edited or foreign line) is no shard's image and is dropped here, where the
    filter (a shard test, which takes ``int()`` of it) could otherwise raise and stop the
    load that a full load gets through."""
    if rec.get("rec") == "image":
        image_id = rec["ref"]["image_id"]
    elif type(kind := rec.get("kind")) is str and kind in ARTIFACT_FILES:
        image_id = rec["id"]
    else:
        return True
    return type(image_id) is int and bool(keep(image_id))


def _newer(
    t: Any, source: str, prev_t: Any, sources: dict[Any, str], key: Any, main: str = ""
) -> bool:
    """Does a record (t, source) replace the kept one? Ties in t: the later journal name wins.

    ``main``: the journal of a kept record that ``sources`` has no entry for."""
    if t != prev_t:
        return bool(t > prev_t)
    return source >= sources.get(key, main)


@dataclass
class _Origin:
    """Where a loaded :class:`JournalState` was read from, for :meth:`JournalState.catch_up`.

    ``marks``/``samples``: how far each journal was read and a digest of that prefix's edges;
    ``appended``: this process's appends to each journal at load time (see ``_APPENDED``);
    ``run_sources``: the journal of each of the state's runs; ``live``/``applied``: the
    journal whose records :meth:`JournalState.apply` folded in, and how many there were.
    """

    out_dir: Path
    marks: dict[str, _Mark]
    samples: dict[str, bytes]
    appended: dict[str, int]
    run_sources: list[str]
    live: str | None = None
    applied: int = 0
    mergeable: bool = True
    images: ImageFilter | None = None  # the filter the state was loaded with


def _merge(live: JournalState, origin: _Origin, fold: _Fold) -> JournalState | None:
    """``live`` with the records of other journals in ``fold``, as one fold of all would be.

    ``live`` is pruned (a done record voided by "invalid" is gone, failures of done artifacts
    are gone), so where the answer depends on a pruned record, or on the journal name that
    breaks a tie in ``t``, this returns None and the caller loads in full.
    """
    done, failed, invalid = dict(live.done), dict(live.failed), dict(live.invalid)
    images = dict(live.images)
    if not (_take_newer(invalid, fold.invalid) and _take_newer(done, fold.done)):
        return None
    for key in fold.done.keys() | fold.invalid.keys():
        kept, inv = done.get(key), invalid.get(key)
        if kept is not None and inv is not None and kept["t"] <= inv["t"]:
            if key in live.done:
                return None  # its failures, pruned from live, would count again
            del done[key]
        if key in done:
            failed.pop(key, None)
    if not _take_newer(failed, fold.failed, skip=done):
        return None
    walks = dict(live.walks)
    if not _take_newer(walks, fold.walks):
        return None
    sample_walks = dict(live.sample_walks)
    if not _take_newer(sample_walks, fold.sample_walks):
        return None
    unasked, unlisted = set(live.labels_unasked), set(live.unlisted)
    for image_id, ref in fold.images.items():
        cur_ref = images.get(image_id)
        other_unasked = image_id in fold.unasked
        other_unlisted = image_id in fold.unlisted
        if cur_ref is not None and (
            cur_ref != ref
            or (image_id in unasked) != other_unasked
            or (image_id in unlisted) != other_unlisted
        ):
            return None  # which is newer needs the time of live's record, not kept
        images[image_id] = ref
        if other_unasked:
            unasked.add(image_id)
        if other_unlisted:
            unlisted.add(image_id)
    runs = sorted(
        zip(origin.run_sources + fold.run_sources(), live.runs + fold.state().runs, strict=True),
        key=lambda pair: pair[0],
    )
    return JournalState(
        done=done,
        failed=failed,
        images=images,
        invalid=invalid,
        runs=[run for _, run in runs],
        labels_unasked=unasked,
        unlisted=unlisted,
        walks=walks,
        sample_walks=sample_walks,
        images_t=max(live.images_t, _latest(fold.image_t.values())),
    )


def walk_listed_all(rec: Mapping[str, Any]) -> bool:
    """Does a "walk" record say its walk finished with no failed listing?"""
    return rec.get("finished") is True and not rec.get("failures")


def walk_lost_images(walk: Mapping[str, Any]) -> bool:
    """Did a walk leave images out of every journal: it did not finish, or a listing failed
    that was not ``study_only``? (A failed study file loses no image: every image under
    it was listed.) ``walk``: a walk as :func:`harvester.status.unfinished_walks` gives it
    (``failures``: dicts)."""
    return not walk.get("finished") or any(
        not f.get("study_only") for f in walk.get("failures") or ()
    )


def _said_key(rec: Mapping[str, Any]) -> SaidKey | None:
    """The (targets, shard, draw) of a "walk" record that kept its selection's warnings
    (None: it kept none, as records before 0.1.22, walks under no selection, and before
    0.1.23 walks that drew no sample)."""
    draw, said = rec.get("sample_draw"), rec.get("sample_said")
    if not isinstance(draw, str) or not isinstance(said, list):
        return None
    return (*_walk_key(rec), draw)


def _walk_key(rec: Mapping[str, Any]) -> WalkKey:
    """The (targets, shard) a "walk" record is about (KeyError/TypeError: malformed)."""
    targets, shard = rec["targets"], rec.get("shard")
    if not isinstance(targets, str) or not (shard is None or isinstance(shard, str)):
        raise TypeError("walk record with targets or shard that is not a string")
    if "!" in targets or " =" in targets:
        targets = _quoted_as_now(targets)
    return targets, shard


def _quoted_as_now(targets: str) -> str:
    """Walk ``targets`` holding a ``!`` or a word starting with ``=`` as this version quotes
    them (``--screen 'a'\\!'b'``, ``--screen '=a'``).

    Why: a walk's key is its targets as printed flags, and 0.1.24 quotes a ``!`` outside
    the single quotes and a word starting with ``=`` (:mod:`harvester.shell_words`) where
    0.1.23 and before wrote ``--screen 'a!b'`` and ``--screen =a``: read as written, an
    unfinished walk of such a name (or ``--ids-from`` path) journaled before was another
    walk than the resume's, never cleared by it, and ``status`` said it had not finished
    ever after. Text that is no shell words stays as it is."""
    import shlex  # (only for a key holding a `!` or ` =`)

    from harvester.shell_words import shell_join

    try:
        return shell_join(shlex.split(targets))
    except ValueError:  # (an unclosed quote: no flags this version wrote)
        return targets


_Rec = TypeVar("_Rec", bound=Mapping[str, Any])
_K = TypeVar("_K", bound=Hashable)


def _take_newer(
    into: dict[_K, _Rec], records: Mapping[_K, _Rec], *, skip: Container[_K] = ()
) -> bool:
    """Put each of ``records`` in ``into`` where it is newer (by ``t``) than what is there.

    False on a tie in ``t``: the journal name would break it, and ``into`` does not
    keep it, so only a full load gives the exact answer. Keys in ``skip`` are left out.
    """
    for key, rec in records.items():
        if key in skip:
            continue
        cur = into.get(key)
        if cur is not None:
            if rec["t"] == cur["t"]:
                return False
            if rec["t"] < cur["t"]:
                continue
        into[key] = rec
    return True


@dataclass
class _Memo:
    """The fold of one DIR's journals and how far each journal was read."""

    folder: Path
    fold: _Fold = field(default_factory=_Fold)
    marks: dict[str, _Mark] = field(default_factory=dict)
    digests: dict[str, bytes] = field(default_factory=dict)

    def still_valid(self, paths: Sequence[Path]) -> bool:
        """True when every journal read before is present with the same bytes as read."""
        names = {path.name for path in paths}
        if not names.issuperset(self.marks):
            return False
        return all(
            _edge_digest(self.folder / name, mark.offset) == self.digests.get(name)
            for name, mark in self.marks.items()
        )


_MEMO_LOCK = threading.Lock()
_memo: _Memo | None = None


_EDGE = 64 << 10


def _edge_digest(path: Path, length: int) -> bytes:
    """Hash of the first and last 64 KiB of ``path``'s first ``length`` bytes (b"" if shorter).

    Journals are only ever appended to, so this tells a journal that grew (same edges) from
    one that was replaced or truncated without reading all of it.
    """
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as fh:
            info = os.fstat(fh.fileno())
            if info.st_size < length:
                return b""
            # A copy put in its place (rsync, a restore) is a new inode even with equal edges.
            digest.update(info.st_ino.to_bytes(8, "little"))
            digest.update(fh.read(min(length, _EDGE)))
            if length > _EDGE:
                fh.seek(max(_EDGE, length - _EDGE))
                digest.update(fh.read(length - fh.tell()))
    except OSError:
        return b""
    return digest.digest() + length.to_bytes(8, "little")
