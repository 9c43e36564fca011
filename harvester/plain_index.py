"""The index write of a folder without label keys or a split: ``index.csv`` alone.

Why a module of its own: the labelled index (``label``/``label_id``, ``labels.csv``) and the
split (``split``, ``splits.csv``) live in :mod:`harvester.select` and :mod:`harvester.splits`,
some 3,700 lines whose import (with the modules they load) took ~10 ms of CPU at the end of
every plain harvest (the benchmark's "last answer -> exit"), for a folder that has neither.
:func:`write_plain_index` writes such a folder's index without them, and steps aside where
the folder has, or had, anything of theirs: then :func:`harvester.select.write_labelled_index`
(the caller's ``otherwise``, under the same hold of DIR's index lock) writes it, as it always
did. The tables are
the same bytes either way: both make the rows with :class:`harvester.index.IndexRows`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harvester.folder_settings import label_keys_path, remembered_label_keys
from harvester.formula_cells import warn_formula_cells
from harvester.index import (
    SAID_KEY,
    UNPLACED_KEY,
    IndexRows,
    current_state,
    index_lock,
    write_index_of,
    written_record,
)
from harvester.journal import JournalState
from harvester.layout import (
    LABELS_NAME,
    ORIGINALS_NAME,
    SPLIT_RECORD_NAME,
    SPLITS_NAME,
    index_path,
)
from harvester.store import storage_error

if TYPE_CHECKING:
    from harvester.originals import OriginalsSummary


def write_plain_index(
    out_dir: Path,
    label_keys: Sequence[str] | None,
    state: JournalState | None,
    *,
    written: list[Path] | None = None,
    originals: list[OriginalsSummary] | None = None,
    stop: threading.Event | None = None,
    otherwise: Callable[[], int] | None = None,
) -> int | None:
    """Rebuild ``DIR/index.csv`` when DIR has no label keys (none given now, none
    recorded) and no split; return its rows. Where the labelled writer is needed (label
    keys, a split record, a ``labels.csv`` or ``splits.csv`` to remove, or a warning
    recorded as said in ``written.json``, which that writer drops once its cause is gone):
    ``otherwise()``, that writer's call, made under the same hold of DIR's index lock and
    its rows returned; without it None, nothing written. Arguments as
    :func:`harvester.select.write_labelled_index`'s (``stop``: the wait for DIR's index
    lock given up, :class:`~harvester.runlock.LockWaitStopped`).

    Under DIR's index lock from the first look to the last table, as that writer works:
    a folder labelled or split meanwhile by another process is seen as such. Why
    ``otherwise`` inside: that writer, called after this one let the lock go, waited for
    it again; with another process holding it past :data:`~harvester.index.INDEX_LOCK_WAIT`
    (2 minutes), a labelled folder's harvest waited twice that long to end.
    """
    out_dir = Path(out_dir)
    if label_keys:
        return None if otherwise is None else otherwise()
    with index_lock(out_dir, stop=stop):
        if not _without_labels_or_split(out_dir):
            return None if otherwise is None else otherwise()
        state = current_state(out_dir, state)
        if remembered_label_keys(out_dir, state):  # (keys of a run: no record to warn of)
            return None if otherwise is None else otherwise()
        rows = IndexRows(state)
        if rows.paths:
            write_originals_of(out_dir, state, originals)
        count = write_index_of(out_dir, state, rows)
        warn_formula_cells(out_dir, rows, state.images.values(), index_path(out_dir))
        if written is not None:
            written.append(index_path(out_dir))
        return count


def _without_labels_or_split(out_dir: Path) -> bool:
    """Whether DIR has nothing the labelled writer would write, remove or forget: no split
    record, no ``labels.csv`` nor ``splits.csv``, no recorded label keys
    (``label_keys.json``: ``harvester index --label-key``, whose damage that writer says),
    and no warning or split draw recorded in ``written.json`` (which it drops when there is
    no split or no label now)."""
    tables = (out_dir / SPLIT_RECORD_NAME, out_dir / LABELS_NAME, out_dir / SPLITS_NAME)
    if any(path.exists() for path in (*tables, label_keys_path(out_dir))):
        return False
    record = written_record(out_dir)
    return SAID_KEY not in record and UNPLACED_KEY not in record


def write_originals_of(
    out_dir: Path, state: JournalState, summaries: list[OriginalsSummary] | None
) -> None:
    """``originals.tsv`` and ``raw-urls.txt`` from the folder's ``paths`` files (the caller
    knows it has some: :attr:`harvester.index.IndexRows.paths`); what was written is added
    to ``summaries``."""
    from harvester.originals import folder_maps, write_originals  # (paths files only)

    try:
        summary = write_originals(out_dir, state.done, folder_maps(out_dir))
    except OSError as exc:
        raise storage_error(exc, str(out_dir / ORIGINALS_NAME)) from exc
    if summary is not None and summaries is not None:
        summaries.append(summary)
