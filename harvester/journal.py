"""Append-only JSON Lines journals: the single source of truth for what is done.

Each process appends to its own ``DIR/journals/<writer>.jsonl`` (opened with ``O_APPEND``), so
writers never interleave and no lock is needed. A batch of records is one ``write`` and one
``fdatasync``. Readers take complete lines only: a torn last line (process killed mid-write, or a
journal still being appended to) is skipped silently, and a garbled line in the middle is skipped
with a warning. Records (keys exactly these, compact JSON)::

    {"rec": "done",    "kind", "id", "path", "size", "sha256", "t", "run"[, "files"]}
    {"rec": "failed",  "kind", "id", "url", "status", "reason", "t", "run"}
    {"rec": "image",   "ref": ImageRef.to_json(), "t"}
    {"rec": "invalid", "kind", "id", "path", "reason", "t"}          (written by verify)
    {"rec": "run",     "run", "writer", "shard", "started", "argv"}

:class:`JournalState` folds every journal into "what is done / failed / known", ordering records
by their timestamp ``t`` so that the order in which journals are read does not matter.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harvester.layout import journal_path, journals_dir
from harvester.models import ImageRef

logger = logging.getLogger(__name__)

JOURNAL_SUFFIX = ".jsonl"
_CHUNK = 4 << 20

Key = tuple[str, int]


def encode_records(records: Iterable[Mapping[str, Any]]) -> bytes:
    """Compact JSON Lines for ``records`` (ASCII only, so a byte offset never splits a char)."""
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode("ascii")


# fdatasync is enough for appends (it flushes the size change too); macOS lacks it.
_datasync = getattr(os, "fdatasync", os.fsync)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Journal:
    """One writer's append-only journal file (``DIR/journals/<writer>.jsonl``)."""

    def __init__(self, out_dir: Path, writer: str) -> None:
        self.path = journal_path(out_dir, writer)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._broken: OSError | None = None
        self._fd: int | None = os.open(
            self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644
        )
        # A reused journal whose last line was torn must not glue our first record onto it.
        size = os.fstat(self._fd).st_size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            _write_all(self._fd, b"\n")

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
                _write_all(self._fd, data)
            except OSError as exc:
                self._broken = exc
                raise
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


def _parse_slow(
    lines: list[bytes], first_lineno: int
) -> Iterator[tuple[int, dict[str, Any] | None, bytes]]:
    """Line by line: (line number, record or None when garbled, raw line)."""
    for offset, line in enumerate(lines):
        if not line.strip(b"\x00 \t\r"):
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        yield first_lineno + offset, rec if isinstance(rec, dict) else None, line


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """Records of one journal, complete lines only (see the module docstring)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally; generator keeps it open
    except FileNotFoundError:
        return
    try:
        rest = b""
        lineno = 0
        pending_bad: tuple[int, bytes] | None = None
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()  # after the last newline: incomplete (torn or still being written)
            fast = _parse_lines(lines)
            if fast is not None:
                if fast and pending_bad is not None:
                    _warn_garbled(path, pending_bad)
                    pending_bad = None
                yield from fast
            else:
                for number, rec, raw in _parse_slow(lines, lineno + 1):
                    if pending_bad is not None:
                        _warn_garbled(path, pending_bad)
                        pending_bad = None
                    if rec is None:
                        pending_bad = (number, raw)
                    else:
                        yield rec
            lineno += len(lines)
        if pending_bad is not None:
            # A garbled *last* complete line is the classic power-loss tail: tolerated quietly.
            logger.debug("ignoring garbled last line %d of journal %s", pending_bad[0], path)
        if rest.strip(b"\x00 \t\r"):
            logger.debug("ignoring incomplete last line of journal %s", path)
    finally:
        fh.close()


def _warn_garbled(path: Path, bad: tuple[int, bytes]) -> None:
    logger.warning("skipping garbled line %d of journal %s: %r", bad[0], path, bad[1][:80])


def read_all(out_dir: Path) -> Iterator[dict[str, Any]]:
    """Records of every journal of DIR (journal by journal, each in write order)."""
    for path in journal_files(out_dir):
        yield from read_journal(path)


def writer_of(path: Path) -> str:
    """The writer name of a journal file."""
    return path.name[: -len(JOURNAL_SUFFIX)]


@dataclass
class JournalState:
    """What the journals of DIR say, folded.

    ``done[(kind, id)]``: the latest "done" record not superseded by a later "invalid";
    ``failed[(kind, id)]``: the latest failure of something that is not done;
    ``images[id]``: the latest :class:`ImageRef` journaled for that image;
    ``invalid[(kind, id)]``: the latest "invalid" record (kept for reports);
    ``runs``: every "run" record.
    """

    done: dict[Key, dict[str, Any]] = field(default_factory=dict)
    failed: dict[Key, dict[str, Any]] = field(default_factory=dict)
    images: dict[int, ImageRef] = field(default_factory=dict)
    invalid: dict[Key, dict[str, Any]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, out_dir: Path) -> JournalState:
        """Fold every journal of DIR. Reads journals only: no artifact file is touched."""
        return cls.from_records(read_all(out_dir))

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> JournalState:
        """Fold records given in any order (ties in ``t`` resolve in favour of the later one)."""
        done: dict[Key, dict[str, Any]] = {}
        failed: dict[Key, dict[str, Any]] = {}
        invalid: dict[Key, dict[str, Any]] = {}
        image_raw: dict[int, tuple[float, dict[str, Any]]] = {}
        runs: list[dict[str, Any]] = []
        kinds: dict[Any, Any] = {}
        for rec in records:
            kind = rec.get("rec")
            try:
                if kind == "done":
                    # Share the few distinct strings of millions of records (memory).
                    rec["rec"] = "done"
                    rec["kind"] = kinds.setdefault(rec["kind"], rec["kind"])
                    rec["run"] = kinds.setdefault(rec.get("run"), rec.get("run"))
                    key = (rec["kind"], rec["id"])
                    prev = done.get(key)
                    if prev is None or rec["t"] >= prev["t"]:
                        done[key] = rec
                elif kind == "image":
                    ref = rec["ref"]
                    image_id = ref["image_id"]
                    t = rec.get("t", 0.0)
                    old = image_raw.get(image_id)
                    if old is None or t >= old[0]:
                        image_raw[image_id] = (t, ref)
                elif kind == "failed":
                    key = (rec["kind"], rec["id"])
                    prev = failed.get(key)
                    if prev is None or rec["t"] >= prev["t"]:
                        failed[key] = rec
                elif kind == "invalid":
                    key = (rec["kind"], rec["id"])
                    prev = invalid.get(key)
                    if prev is None or rec["t"] >= prev["t"]:
                        invalid[key] = rec
                elif kind == "run":
                    runs.append(dict(rec))
            except (KeyError, TypeError) as exc:
                logger.warning("skipping malformed journal record %r (%s)", rec, exc)
        for key, inv in invalid.items():
            rec_done = done.get(key)
            if rec_done is not None and rec_done["t"] <= inv["t"]:
                del done[key]
        for key in [k for k in failed if k in done]:
            del failed[key]
        images = {i: ImageRef.from_json(ref) for i, (_, ref) in image_raw.items()}
        return cls(done=done, failed=failed, images=images, invalid=invalid, runs=runs)

    def is_done(self, kind: str, object_id: int) -> bool:
        """True when ``(kind, object_id)`` is journaled done and not invalidated since."""
        return (kind, object_id) in self.done

    def apply(self, rec: Mapping[str, Any]) -> None:
        """Fold one record that is newer than everything seen (the live store's commits)."""
        kind = rec.get("rec")
        if kind == "done":
            key = (rec["kind"], rec["id"])
            self.done[key] = dict(rec)
            self.failed.pop(key, None)
        elif kind == "failed":
            key = (rec["kind"], rec["id"])
            if key not in self.done:
                self.failed[key] = dict(rec)
        elif kind == "image":
            ref = ImageRef.from_json(rec["ref"])
            self.images[ref.image_id] = ref
        elif kind == "invalid":
            key = (rec["kind"], rec["id"])
            self.invalid[key] = dict(rec)
            self.done.pop(key, None)
        elif kind == "run":
            self.runs.append(dict(rec))
