"""Pinned label ids: ``--label-ids-from FILE`` and ``DIR/label_ids.json``.

Without a pin, ``label_id`` is the 0-based rank of the label among the folder's distinct
labels, sorted: a class that comes in sorting first shifts every id after it, and a model
trained on the old index reads the new one wrong. ``--label-ids-from FILE`` (a
``labels.csv``: ``label,label_id[,images]``, of this folder or another) pins the ids:

* a label of FILE keeps FILE's id;
* a label not in FILE gets the next free id after FILE's largest, in sorted order;
* a label of FILE on no image keeps its id reserved (``labels.csv`` lists it with 0 images),
  so the id space stays whole and says what each id meant.

The mapping is recorded in ``DIR/label_ids.json`` (atomically, under the index lock), so
every later index write (a resumed harvest, ``harvester index DIR``, the SLURM index job)
keeps it without the flag, until ``--label-ids-from`` is given again or ``harvester index
DIR --no-label-ids-from`` removes it. The record holds labels, ids and FILE's path: nothing
from the server's requests (no URL, header or cookie), so it is safe to share with DIR.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harvester.errors import PROBLEMS_LOGGER, UsageError
from harvester.text import quoted

if TYPE_CHECKING:
    import threading

__all__ = [
    "LABEL_IDS_FILE",
    "DamagedPinError",
    "LabelIdsPin",
    "assign_ids",
    "drop_pin",
    "folder_pin",
    "label_ids_path",
    "labels_with_ids",
    "pin_line",
    "read_labels_file",
    "read_pin",
    "read_pin_quietly",
    "record_pin",
]

LABEL_IDS_FILE = "label_ids.json"
"""``DIR/label_ids.json``: the label ids pinned by ``--label-ids-from`` (see above)."""

#: A labels.csv of a million classes is ~30 MB; anything longer is not one.
_FILE_LIMIT = 64 << 20

_HINT = (
    "give a labels.csv written by harvester (columns label,label_id[,images]: each label "
    "and each label_id once, ids whole numbers from 0)"
)

_problems = logging.getLogger(PROBLEMS_LOGGER)


@dataclass(frozen=True)
class LabelIdsPin:
    """What ``DIR/label_ids.json`` says: ``ids`` (label -> pinned id), ``source`` (the FILE
    given, absolute), ``at`` (``time.time()`` when recorded) and ``by`` (the command)."""

    ids: Mapping[str, int]
    source: str
    at: float
    by: str


class DamagedPinError(Exception):
    """``DIR/label_ids.json`` is there but cannot be used; ``str()`` is one line naming it."""


def label_ids_path(out_dir: Path) -> Path:
    """``DIR/label_ids.json``."""
    return Path(out_dir) / LABEL_IDS_FILE


def read_labels_file(path: Path) -> dict[str, int]:
    """The label -> id mapping of the ``labels.csv`` at ``path``, checked whole.

    Raises :class:`UsageError` (exit 2, one line naming ``path`` and what is wrong, with a
    hint) for a file that is missing or unreadable, not a CSV with ``label`` and
    ``label_id`` columns, or with an empty or duplicate label, a duplicate id, or an id
    that is not a whole number from 0: a pin that half-applied would be worse than none.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(_FILE_LIMIT + 1)
    except FileNotFoundError:
        raise _bad(path, "no such file") from None
    except OSError as exc:
        raise _bad(path, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > _FILE_LIMIT:
        raise _bad(path, f"is over {_FILE_LIMIT >> 20} MB, not a labels.csv")
    try:
        text = data.decode("utf-8-sig")
        rows = _numbered_rows(text)
    except (UnicodeDecodeError, csv.Error):
        raise _bad(path, "is not a UTF-8 CSV file") from None
    if not rows:
        raise _bad(path, "is empty")
    header = [cell.strip() for cell in rows[0][1]]
    missing = [column for column in ("label", "label_id") if column not in header]
    if missing:
        raise _bad(path, f"has no {' or '.join(repr(c) for c in missing)} column")
    return _mapping(path, rows[1:], header.index("label"), header.index("label_id"))


def read_labels_file_for_run(
    path: Path, out_dir: Path, label_keys: Sequence[str]
) -> dict[str, int]:
    """:func:`read_labels_file`, refused too where no label key will label the run's index
    (``label_keys`` empty, none recorded in DIR): ids of labels that no index has would pin
    nothing, with no word. One check for a harvest and for ``harvester slurm``, which makes
    it for its tasks before they are queued."""
    from harvester.folder_settings import folder_has_label_keys

    ids = read_labels_file(path)
    if not label_keys and not folder_has_label_keys(out_dir):
        raise no_label_column(path, "the index of this run")
    return ids


def no_label_column(path: Path | str, index: str) -> UsageError:
    """The refusal of ``--label-ids-from`` where no label key labels ``index`` (none given,
    none recorded in DIR): one wording for a harvest, ``harvester slurm`` and ``harvester
    index`` (which checks the keys it read from the folder)."""
    from harvester.shell_words import shell_quote

    return UsageError(
        f"--label-ids-from {shell_quote(str(path))}: {index} has no label column to pin "
        "(no label key given, none recorded in the folder)",
        hint="add --label-key KEY (the key(s) that made the labels of that file)",
    )


def _numbered_rows(text: str) -> list[tuple[int, list[str]]]:
    """The CSV records of ``text``, each with the line it starts on (a label holding a line
    break spans two lines: the lines, not the records, are what an editor numbers)."""
    # newline="": a label may hold a line break (quoted by harvester's writer), which
    # splitlines() cut into two records (or, for U+2028 and U+0085, split unquoted).
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    for row in reader:
        rows.append((start, row))
        start = reader.line_num + 1
    return rows


def _mapping(
    path: Path, rows: Iterable[tuple[int, list[str]]], at_label: int, at_id: int
) -> dict[str, int]:
    """label -> id of the data ``rows`` (each with its line number, the header on line 1)."""
    ids: dict[str, int] = {}
    seen: dict[int, str] = {}
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue  # a blank line (an editor's trailing one)
        if len(row) <= max(at_label, at_id):
            raise _bad(path, f"line {line} has too few cells")
        # Stripped: harvester's labels never start or end with a space (each value is
        # stripped: select.label_of), so "ECT2 " typed by hand means ECT2, not a label
        # that no image has and that pinned nothing.
        label, cell = row[at_label].strip(), row[at_id].strip()
        if not label:
            raise _bad(path, f"line {line} has an empty label")
        number = _label_id(cell)
        if number is None:
            what = "negative" if cell.startswith("-") and cell[1:].isdigit() else "not an integer"
            raise _bad(path, f"line {line}: label_id {quoted(cell)} of {quoted(label)} is {what}")
        if label in ids:
            raise _bad(path, f"line {line}: label {quoted(label)} is there twice")
        if number in seen:
            raise _bad(
                path, f"line {line}: label_id {number} is also the id of {quoted(seen[number])}"
            )
        ids[label] = number
        seen[number] = label
    if not ids:
        raise _bad(path, "lists no label")
    return ids


def _label_id(cell: str) -> int | None:
    """A label_id cell as its whole number from 0 (None: not one).

    ``-0`` is 0, as a spreadsheet or a script's ``-0`` means: it was refused as "negative",
    which 0 is not, while ``0`` itself pins."""
    digits = cell[1:] if cell.startswith("-") else cell
    if not digits.isascii() or not digits.isdigit():
        return None
    number = int(digits)
    return None if number and digits != cell else number


def _bad(path: Path, what: str) -> UsageError:
    return UsageError(f"cannot pin label ids to {path}: {what}", hint=_HINT)


def assign_ids(labels: Iterable[str], pinned: Mapping[str, int] | None) -> dict[str, int]:
    """The ``label_id`` of each label (and of each pinned label), in id order.

    No pin: the 0-based rank of each label, sorted. A pin: its labels keep their ids (on
    an image or not: reserved), the others get the next ids after its largest, sorted.
    """
    if not pinned:
        return {label: n for n, label in enumerate(sorted(labels))}
    ids = dict(pinned)
    free = max(ids.values()) + 1
    for label in sorted(labels):
        if label not in ids:
            ids[label] = free
            free += 1
    return dict(sorted(ids.items(), key=lambda item: item[1]))


def record_pin(
    out_dir: Path,
    ids: Mapping[str, int],
    source: Path,
    *,
    by: str,
    unless_newer_than: float | None = None,
    stop: threading.Event | None = None,
) -> LabelIdsPin | None:
    """Record ``ids`` (read from ``source``) as DIR's pinned label ids, replacing any pin.

    Written atomically under DIR's index lock, as index.csv and labels.csv are: an index
    write running meanwhile reads the old pin or the new one, never half of one.
    ``unless_newer_than``: a task of a job array, whose script was written then
    (:func:`harvester.slurm.script_written`): a record made later (a pin given to
    ``harvester index``, or dropped by it) is kept, and None returned.
    ``stop``: set when the caller is stopping (a harvest's Ctrl-C): the wait for another
    writer's index lock is then given up, nothing written
    (:class:`~harvester.runlock.LockWaitStopped`).
    Raises :class:`~harvester.errors.StorageError` (one line) when DIR cannot be written.
    """
    from harvester.folder_settings import SCRIPT_KEY
    from harvester.index import INDEX_LOCK, INDEX_LOCK_WAIT
    from harvester.runlock import folder_lock
    from harvester.store import atomic_write_bytes, storage_error

    now = time.time()
    pin = LabelIdsPin(dict(ids), str(Path(source).absolute()), now, by)
    body = {
        "label_ids": dict(sorted(pin.ids.items(), key=lambda item: item[1])),
        "from": pin.source,
        "at": now,
        "at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "by": by,
    }
    if unless_newer_than is not None:
        body[SCRIPT_KEY] = unless_newer_than
    data = (json.dumps(body, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    path = label_ids_path(out_dir)
    try:
        with folder_lock(
            Path(out_dir), INDEX_LOCK, wait=INDEX_LOCK_WAIT, denied_ok=True, stop=stop
        ):
            if unless_newer_than is not None and _made_after(out_dir, unless_newer_than):
                return None
            _keep_if_unread(out_dir)
            atomic_write_bytes(Path(out_dir), path, data)
    except OSError as exc:
        raise storage_error(exc, str(path)) from exc
    return pin


def drop_pin(out_dir: Path, *, by: str = "harvester index") -> bool:
    """Drop DIR's pin (under the index lock); False when there was none.

    The record stays, saying ``"label_ids": null`` and when: a job array's script written
    before (:func:`record_pin`'s ``unless_newer_than``) then finds a newer record and does
    not pin again. A record that is damaged is a pin dropped too.
    """
    from harvester.index import INDEX_LOCK, INDEX_LOCK_WAIT
    from harvester.runlock import folder_lock
    from harvester.store import atomic_write_bytes, storage_error

    now = time.time()
    body = {
        "label_ids": None,
        "at": now,
        "at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "by": by,
    }
    path = label_ids_path(out_dir)
    try:
        with folder_lock(Path(out_dir), INDEX_LOCK, wait=INDEX_LOCK_WAIT, denied_ok=True):
            try:
                had = read_pin(out_dir) is not None
            except DamagedPinError:
                had = True
            if not had:
                return False
            _keep_if_unread(out_dir)
            atomic_write_bytes(Path(out_dir), path, (json.dumps(body, indent=1) + "\n").encode())
    except OSError as exc:
        raise storage_error(exc, str(path)) from exc
    return True


def _keep_if_unread(out_dir: Path) -> None:
    """Keep a ``label_ids.json`` that is no record (damaged, or the user's own) beside it
    before a pin is written there (:func:`harvester.folder_settings.keep_unread_record`).
    Raises OSError."""
    from harvester.folder_settings import keep_unread_record

    try:
        read_pin(out_dir)
    except DamagedPinError:
        keep_unread_record(label_ids_path(out_dir))


def _made_after(out_dir: Path, written: float) -> bool:
    """Whether DIR's pin (or its drop) was recorded after a script written at ``written``
    (:func:`~harvester.folder_settings.made_after_script`); no record, or a damaged one: no."""
    from harvester.folder_settings import made_after_script, read_json_record

    try:
        obj = read_json_record(label_ids_path(out_dir), _FILE_LIMIT, DamagedPinError)
    except DamagedPinError:
        return False
    return obj is not None and made_after_script(obj, written)


def read_pin(out_dir: Path) -> LabelIdsPin | None:
    """DIR's pinned label ids; None when there is no pin (no file, or a pin dropped).

    Raises :class:`DamagedPinError` for a file that cannot be read or is not a record.
    """
    from harvester.folder_settings import read_json_record, record_time

    path = label_ids_path(out_dir)
    obj = read_json_record(path, _FILE_LIMIT, DamagedPinError)
    if obj is None:
        return None
    ids, at = obj.get("label_ids"), record_time(obj)
    if ids is None and at is not None and "label_ids" in obj:
        return None  # dropped (drop_pin)
    if (
        not isinstance(ids, dict)
        or not ids
        or not all(isinstance(k, str) and k for k in ids)
        or not all(type(v) is int and v >= 0 for v in ids.values())
        or len(set(ids.values())) < len(ids)
        or at is None
    ):
        raise DamagedPinError(
            f"{path} is damaged (not an object with label_ids, each a distinct whole number, "
            "and a time 'at')"
        )
    source, by = obj.get("from"), obj.get("by")
    return LabelIdsPin(
        ids,
        source if isinstance(source, str) else "",
        at,
        by if isinstance(by, str) else "",
    )


def read_pin_quietly(out_dir: Path) -> LabelIdsPin | None:
    """:func:`read_pin`, a damaged record taken as no pin, with no word."""
    try:
        return read_pin(out_dir)
    except DamagedPinError:
        return None


def folder_pin(out_dir: Path) -> LabelIdsPin | None:
    """:func:`read_pin`, a damaged record said in one warning line (then: no pin)."""
    try:
        return read_pin(out_dir)
    except DamagedPinError as exc:
        _problems.warning(
            "%s: label_ids are ranks for this index write (not pinned); to pin them again: "
            "harvester index %s --label-ids-from FILE (or --no-label-ids-from)",
            exc,
            out_dir,
        )
        return None


def pin_line(
    pin: LabelIdsPin, out_dir: Path, ids: Mapping[str, int], counts: Mapping[str, int]
) -> str:
    """What a pin given now did to the index just written, in one line."""
    from harvester.text import plural

    kept = sum(1 for label in pin.ids if counts.get(label))
    reserved = len(pin.ids) - kept
    new = [label for label in ids if label not in pin.ids]
    keep = "keeps its label_id" if kept == 1 else "keep their label_id"
    parts = [f"{plural(kept, 'label')} on images here {keep}"]
    if not kept:  # the pin names no label of this index: most often other label keys
        parts[0] += " (other label keys than that file's?)"
    if reserved:
        theirs = "keeps its id" if reserved == 1 else "keep theirs"
        parts.append(f"{reserved} on no image {theirs} reserved (0 images in labels.csv)")
    if new:
        shown = labels_with_ids(new, ids)
        get = "gets the next one" if len(new) == 1 else "get the next ones"
        parts.append(f"{plural(len(new), 'new label')} {get} ({shown})")
    return (
        f"label_ids pinned to {pin.source}, recorded in {label_ids_path(out_dir)}: "
        f"{'; '.join(parts)}; later index writes keep them until --label-ids-from is given "
        "again or harvester index --no-label-ids-from"
    )


#: New labels named, with their ids, in a line about them (the rest are counted).
NEW_LABELS_SHOWN = 3


def labels_with_ids(labels: Sequence[str], ids: Mapping[str, int]) -> str:
    """``'a': 5, 'b': 6 and 2 more``: the first labels with the ids they got, the rest counted."""
    named = ", ".join(f"{quoted(label)}: {ids[label]}" for label in labels[:NEW_LABELS_SHOWN])
    more = len(labels) - NEW_LABELS_SHOWN
    return named + (f" and {more} more" if more > 0 else "")
