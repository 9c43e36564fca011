"""``DIR/index.csv``: one row per harvested image, rebuilt from the journals alone.

Columns: the fixed :data:`COLUMNS` (ids, names, well position, field, run id (PlateAcquisition;
``field`` counts from that run's first WellSample, as OMERO's plate grids do), the relative path
of every artifact kind, empty where not fetched), in a folder with ROIs the :data:`ROIS_COLUMNS`
(``rois_path``, ``roi_count``; a folder without keeps its columns as they were), in one with
``paths`` files the :data:`PATHS_COLUMNS` (``paths_path``, ``fileset_id``), then one column
per map-annotation key found on any image, sorted; an image with a key twice gets its values
joined with ``" | "``. A key that equals a fixed column name is prefixed ``label:`` (again, while
that name is taken too) so it cannot overwrite it.

The file is written to a temp name beside it and renamed, so readers see the old index or the new
one, never a half. Journals are read line by line taking complete lines only, which makes it safe
to rebuild the index while shards are still appending.

Rows are made while the file is written, a piece at a time (:class:`IndexRows`,
:func:`csv_pieces`): no list of every row is held, only the state they come from.

At the end of a harvest the rows come from the state the run's store kept (see
:func:`current_state`): only the lines other writers appended meanwhile are read, so writing the
index of 10,000 images takes about 15-20 ms instead of re-reading every journal (about 140 ms).
A folder without label keys or a split has it written by :mod:`harvester.plain_index`, which
loads neither :mod:`harvester.select` nor :mod:`harvester.splits`.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal

from harvester.errors import PROBLEMS_LOGGER, UsageError
from harvester.formula_cells import FORMULA_STARTS, runs_as_formula
from harvester.journal import JournalState, paused_gc
from harvester.layout import (
    ARTIFACT_FILES,
    ORIGINALS_NAME,
    RAW_URLS_NAME,
    image_dir,
    index_path,
)
from harvester.models import ImageRef
from harvester.runlock import folder_lock
from harvester.store import atomic_write_bytes, read_marker, sha256_of, storage_error

#: ``DIR/written.json``: the size, modification time and SHA-256 of ``index.csv`` (and
#: ``labels.csv``, ``splits.csv``, ``originals.tsv``, ``raw-urls.txt``) as harvester last
#: wrote them, by file name: how a rewrite tells a copy changed by hand, which it keeps
#: instead of overwriting (:func:`write_table`).
WRITTEN_NAME = "written.json"
#: The key of ``index.csv``'s entry in ``written.json`` that holds the position of its
#: ``split`` column (null: none): see :func:`own_split_column`.
SPLIT_COLUMN_KEY = "split_column"
#: ``DIR/locks/index.lock``: held while ``index.csv`` or ``labels.csv`` is written and
#: recorded in ``written.json`` (:func:`write_table`).
INDEX_LOCK = "index.lock"
#: The longest an index write waits for another process's (then it writes unlocked, as
#: before the lock): a writer of a huge index takes seconds, a stuck one must not hang us.
INDEX_LOCK_WAIT = 120.0
#: The first version whose every table write is recorded in ``written.json``: in a folder
#: whose ``harvest.json`` it or a later one made, a table without a record is not ours.
RECORDS_TABLES_SINCE = (0, 1, 11)
#: The tables recorded only since a later version (by file name): in a folder an older
#: harvester made, such a table without a record is that harvester's, overwritten without
#: a warning (the lists of originals, written unrecorded by 0.1.20).
TABLES_RECORDED_SINCE: dict[str, tuple[int, int, int]] = {
    ORIGINALS_NAME: (0, 1, 21),
    RAW_URLS_NAME: (0, 1, 21),
}

logger = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = (
    "image_id",
    "image_name",
    "screen_id",
    "plate_id",
    "plate_name",
    "well_id",
    "well_row",
    "well_column",
    "field",
    "run_id",
    "project_id",
    "dataset_id",
    "dataset_name",
    "thumbnail_path",
    "imgdata_path",
    "metadata_path",
    "render_path",
    "stack_path",
)
LABEL_JOIN = " | "


# The artifact kinds with a path column, in column order.
PATH_KINDS: tuple[str, ...] = ("thumbnail", "imgdata", "metadata", "render", "stack")

#: Columns after :data:`COLUMNS` in a folder with ROIs (and only there: the index of a
#: folder without them keeps exactly the columns it always had): the rois file and how
#: many ROIs it holds (from its done record; empty when the record does not say).
ROIS_COLUMNS: tuple[str, ...] = ("rois_path", "roi_count")

#: Columns after those in a folder with ``paths`` files (and only there): the file and the
#: fileset it names (its done record's; empty for an image without a fileset), the key to
#: ``originals.tsv`` (:mod:`harvester.originals`).
PATHS_COLUMNS: tuple[str, ...] = ("paths_path", "fileset_id")

# The key of a (key, value) label pair.
_KEY = itemgetter(0)

# At most this many labels tuples have their cells kept while rows are made: a bound on
# memory, not a tuning (refs loaded from journals share one tuple per distinct labels, the
# fields of a well, the wells of a gene, so a study's rows mostly find theirs).
_LABEL_CACHE = 4096


def _columns_of(keys: set[str], fixed: Sequence[str] = COLUMNS) -> dict[str, str]:
    """Map each annotation key to its column name (sorted keys, collisions prefixed)."""
    return unique_columns(sorted(keys), fixed)


def unique_columns(names: Sequence[str], taken: Iterable[str]) -> dict[str, str]:
    """The column of each of ``names`` (distinct; kept in order): its own name where that is
    not ``taken`` (nor another name's own), else prefixed ``label:`` until it is free.

    Annotation keys are server-supplied: an ``image_id`` key next to a ``label:image_id`` key
    must not give two columns one name (a CSV reader would keep one and drop the other).
    """
    used = set(taken)
    own = {name for name in names if name not in used}
    used |= own
    columns: dict[str, str] = {}
    for name in names:
        column = name
        if name not in own:
            while column in used:
                column = f"label:{column}"
            used.add(column)
        columns[name] = column
    return columns


def _label_cells(keys: tuple[str, ...], order: list[str]) -> Callable[[tuple[str, ...]], Any]:
    """For images whose labels have these ``keys`` (in this order): values -> label cells.

    Images of one study mostly share one key sequence, so this is made once per distinct
    sequence and applied to each image's values in one C call (an itemgetter).
    """
    if len(set(keys)) < len(keys):  # a repeated key (rare): its values joined in order

        def joined(values: tuple[str, ...]) -> list[str]:
            parts: dict[str, list[str]] = {}
            for key, value in zip(keys, values, strict=True):
                parts.setdefault(key, []).append(value)
            return [LABEL_JOIN.join(parts.get(column, ())) for column in order]

        return joined
    at = {key: n for n, key in enumerate(keys)}
    missing = len(keys)  # the "" appended to each image's values
    positions = [at.get(column, missing) for column in order]
    if len(positions) == 1:  # itemgetter of one index returns the item, not a tuple
        (only,) = positions
        return lambda values: ((*values, "")[only],)
    pick = itemgetter(*positions)
    return lambda values: pick((*values, ""))


def build_rows(state: JournalState) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the index, every row in one list (tests, small states).

    :func:`write_index_of` does not call this: it streams :class:`IndexRows` instead.
    """
    rows = IndexRows(state)
    with paused_gc():
        return rows.header, list(rows)


class IndexRows:
    """The rows of index.csv for one journal state, built only as they are iterated.

    Why: holding every row of a folder before writing it was the biggest cost of
    ``harvester index`` beside the state itself (~45 MB per 100,000 labelled images, as
    much again as the rows' text). Making an ``IndexRows`` is the first pass over the state:
    which images get a row (those with at least one done artifact, by id, but those no
    longer matching the ``--where`` that selected them: ``JournalState.unlisted``) and which label
    columns there are (one per annotation key of any image: the header depends on every
    row, so it is known before the first row is made). Iterating is the second pass: each
    row is built from the state when it is asked for and can be dropped once written.
    Iterating again builds the rows again, and :meth:`refs` gives the image of each row in
    the same order (for cells computed from an image's labels, such as the ``label`` column
    of :mod:`harvester.select`). The state must not change in between: a row follows the
    header found when this was made.
    """

    def __init__(self, state: JournalState) -> None:
        self._state = state
        with paused_gc():
            # (two comprehensions: no method call per record, as a loop adding to both had)
            kinds = set(map(_KEY, state.done)) & ARTIFACT_FILES.keys()
            ids = {object_id for kind, object_id in state.done if kind in ARTIFACT_FILES}
            # (images that no longer match the --where that selected them: files kept)
            ids -= state.unlisted
            self._ids = sorted(ids)
            del ids
            # Only the path kinds some image has are looked up per row (thumbnails only:
            # one lookup instead of five).
            self._kinds = tuple((n, kind) for n, kind in enumerate(PATH_KINDS) if kind in kinds)
            sequences = self._key_sequences()
        #: Whether the rows have the :data:`ROIS_COLUMNS` (some image's ROIs are done).
        self.rois = "rois" in kinds
        #: Whether the rows have the :data:`PATHS_COLUMNS` (some image's paths are done).
        self.paths = "paths" in kinds
        fixed = COLUMNS + ROIS_COLUMNS if self.rois else COLUMNS
        if self.paths:
            fixed += PATHS_COLUMNS
        #: How many columns come before the label columns.
        self.fixed = len(fixed)
        labels = _columns_of({key for keys in sequences for key in keys}, fixed)
        self.header: list[str] = list(fixed) + list(labels.values())
        order = list(labels)
        self._cells_of = {keys: _label_cells(keys, order) for keys in sequences}
        self._empty = [""] * len(order)

    def _key_sequences(self) -> dict[tuple[str, ...], None]:
        """The distinct sequences of label keys of the images with a row, in first-seen order."""
        images = self._state.images
        sequences: dict[tuple[str, ...], None] = {}
        last: object = None
        formula = False
        for image_id in self._ids:
            ref = images.get(image_id)
            if ref is None:
                continue
            pairs = ref.labels
            if not pairs or pairs is last:  # refs loaded from journals share equal tuples
                continue
            last = pairs
            sequences[tuple(map(_KEY, pairs))] = None
            if not formula:  # (once per distinct labels, in this pass: no pass of its own)
                formula = any(
                    value[:1] in FORMULA_STARTS and runs_as_formula(value) for _, value in pairs
                )
        #: Whether some row's annotation value is one a spreadsheet may run as a formula
        #: (:func:`harvester.formula_cells.maybe_formula_cells`).
        self.formula_values = formula
        return sequences

    def __len__(self) -> int:
        return len(self._ids)

    def refs(self) -> Iterator[ImageRef]:
        """The image of each row, in row order (a bare ``ImageRef(id)`` if none was journaled)."""
        images = self._state.images
        for image_id in self._ids:
            yield images.get(image_id) or ImageRef(image_id)

    def __iter__(self) -> Iterator[list[str]]:
        # Written for speed (it runs at the end of every harvest, over every image of DIR): no
        # call per cell, and no generator between the ids and the rows (refs() inlined); the
        # file cells of a folder of one kind (thumbnails) in one lookup and one list; the
        # label cells of one labels tuple are made once and reused while it is in a small
        # cache (images of a well or a gene share one tuple), by one itemgetter per distinct
        # key sequence (see _label_cells).
        done_get = self._state.done.get
        image_of = self._state.images.get
        kinds = self._kinds
        cells_of = self._cells_of
        empty = self._empty
        blank = [""] * len(PATH_KINDS)
        # One kind only: its cell's place among the path columns, and the blanks around it.
        (at, one), *more = kinds or ((0, ""),)
        before, after = blank[:at], blank[at + 1 :]
        several = bool(more)
        # A file where the layout puts it (nearly all; a non-negative int id then): its path
        # from the image's folder, made once per 1,000 ids (rows go by id), its id's cell
        # and the kind's ending, as layout.image_path makes it. Why: its done record keeps
        # no path (DoneRecord.at_layout) and rec["path"] made it anew, two calls and two
        # f-strings a row: ~1 us, the biggest cost of a thumbnails index's row.
        ending = {kind: f".{kind}.{ARTIFACT_FILES[kind]}" for kind in PATH_KINDS}
        one_ending = ending.get(one, "")
        folder_of = -1
        folder = ""
        rois = self.rois
        paths_kind = self.paths
        cache: dict[int, tuple[tuple[tuple[str, str], ...], list[str]]] = {}
        for image_id in self._ids:
            ref = image_of(image_id) or ImageRef(image_id)
            screen_id, plate_id, well_id = ref.screen_id, ref.plate_id, ref.well_id
            well_row, well_column, field = ref.well_row, ref.well_column, ref.field
            run_id, project_id, dataset_id = ref.run_id, ref.project_id, ref.dataset_id
            id_cell = str(image_id)
            row = [
                id_cell,
                ref.image_name,
                "" if screen_id is None else str(screen_id),
                "" if plate_id is None else str(plate_id),
                ref.plate_name,
                "" if well_id is None else str(well_id),
                "" if well_row is None else str(well_row),
                "" if well_column is None else str(well_column),
                "" if field is None else str(field),
                "" if run_id is None else str(run_id),
                "" if project_id is None else str(project_id),
                "" if dataset_id is None else str(dataset_id),
                ref.dataset_name,
            ]
            if several:
                paths = blank.copy()
                for n, kind in kinds:
                    rec = done_get((kind, image_id))
                    if rec is None:
                        continue
                    if getattr(rec, "at_layout", False):  # (then a valid id: see above)
                        if image_id // 1000 != folder_of:
                            folder_of, folder = image_id // 1000, image_dir(image_id) + "/"
                        paths[n] = folder + id_cell + ending[kind]
                    else:
                        paths[n] = rec["path"]
                row += paths
            else:
                rec = done_get((one, image_id))
                row += before
                if rec is None:
                    row.append("")
                elif getattr(rec, "at_layout", False):
                    if image_id // 1000 != folder_of:
                        folder_of, folder = image_id // 1000, image_dir(image_id) + "/"
                    row.append(folder + id_cell + one_ending)
                else:
                    row.append(rec["path"])
                row += after
            if rois:
                rec = done_get(("rois", image_id))
                if rec is None:
                    row += ("", "")
                else:
                    count = rec.get("roi_count")
                    row += (rec["path"], "" if count is None else str(count))
            if paths_kind:
                rec = done_get(("paths", image_id))
                if rec is None:
                    row += ("", "")
                else:
                    fileset = rec.get("fileset_id")
                    row += (rec["path"], "" if fileset is None else str(fileset))
            pairs = ref.labels
            if pairs:
                hit = cache.get(id(pairs))
                if hit is None or hit[0] is not pairs:
                    if len(cache) >= _LABEL_CACHE:
                        cache.clear()
                    keys, values = zip(*pairs, strict=True)
                    hit = cache[id(pairs)] = (pairs, cells_of[keys](values))
                row += hit[1]
            else:
                row += empty
            yield row


#: Rows made and rendered at a time by :func:`csv_pieces`: about 1 MB of text for a labelled
#: index, ~5 MB at the peak with the rows (20,000 rows took ~22 MB and were no faster).
CSV_PIECE_ROWS = 5_000


def render_csv(header: list[str], rows: Sequence[list[str]]) -> bytes:
    """CSV bytes (UTF-8, ``\\n`` line ends, minimal quoting)."""
    return b"".join(csv_pieces(header, rows, len(rows) or 1))


def csv_pieces(
    header: list[str], rows: Iterable[list[str]], piece_rows: int | None = None
) -> Iterator[bytes]:
    """The CSV bytes of :func:`render_csv`, ``piece_rows`` (:data:`CSV_PIECE_ROWS`) rows at a time.

    Written piece by piece, a million-row index never exists whole as one text and one
    bytes object (for 100,000 labelled images that was ~40 MB more at the peak of
    ``harvester index``); with ``rows`` an :class:`IndexRows` (or any iterator), not as rows
    either: each piece's rows are made, rendered and dropped before the next. The bytes are
    the same: each piece takes the fast join when none of its cells needs quoting, the csv
    module otherwise.
    """
    size = piece_rows or CSV_PIECE_ROWS
    remaining = iter(rows)
    first = True
    while True:
        with paused_gc():  # the rows are lists made by the thousand (see paused_gc)
            piece = list(islice(remaining, size))
        if not piece and not first:
            return
        yield _render_piece(header if first else None, piece)
        first = False
        del piece


def _render_piece(header: list[str] | None, rows: list[list[str]]) -> bytes:
    with paused_gc():
        plain = _plain_csv(header, rows)
        if plain is not None:
            return _utf8(plain)
        # "\r\n" for the writer, each row's then cut to "\n": Python 3.11's writer quotes a
        # cell holding a line break only when the break is in its lineterminator, so with
        # "\n" a lone "\r" (in a server's label or name) went out unquoted and split the row
        # for every reader (csv, pandas, --label-ids-from).
        lines = _RowTexts()
        writer = csv.writer(lines, lineterminator="\r\n")
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
        return _utf8("".join(line[:-2] + "\n" for line in lines.texts))


class _RowTexts:
    """A file for :func:`csv.writer` that keeps the text of each row (one write per row)."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def write(self, text: str) -> int:
        self.texts.append(text)
        return len(text)


#: A UTF-16 surrogate on its own: JSON may carry one (``"\\ud800"``), UTF-8 cannot.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _utf8(text: str) -> bytes:
    """UTF-8 of ``text``; a lone surrogate (from a server's JSON) becomes U+FFFD.

    Server-supplied names and labels reach index.csv as they came; one broken escape in an
    image name must not fail the whole index at the end of a harvest.
    """
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


def as_written(text: str) -> str:
    """``text`` as index.csv and labels.csv hold it once written: a lone surrogate as U+FFFD.

    Why: a label is compared with the ``labels.csv`` read back (the previous ids, a
    ``--label-ids-from`` pin); kept with its surrogate, it matched no label of the file,
    and every index write warned that it was on no image any more and kept a copy.
    """
    return _LONE_SURROGATE.sub("\ufffd", text)


def _plain_csv(header: list[str] | None, rows: list[list[str]]) -> str | None:
    """The CSV text when no cell needs quoting (then it is the cells joined), else None.

    Minimal quoting quotes only a cell holding the delimiter, a quote or a line break, which
    the joined text shows at once: more commas or newlines than the joins put in, or any
    quote or carriage return. Joining is several times faster than the csv module.
    ``header`` None: rows only (a later piece of :func:`csv_pieces`).
    """
    every = rows if header is None else [header, *rows]
    if not every:
        return ""
    try:
        text = "\n".join(map(",".join, every)) + "\n"
    except TypeError:  # a cell that is not a string: leave it to the csv module
        return None
    widths = list(map(len, every))
    commas = sum(widths) - len(every)
    if '"' in text or "\r" in text or text.count("\n") != len(every):
        return None
    if text.count(",") != commas or min(widths) < 2:
        return None  # (a row of one empty cell is written as "" by the csv module)
    return text


def current_state(out_dir: Path, state: JournalState | None = None) -> JournalState:
    """What every journal of DIR says now, for the index.

    ``state``: what this process already knows, typically a running harvest's
    ``Store.state`` (loaded when the store opened, kept current with its own commits). Only what
    other writers (shards) appended since it was loaded is then read, instead of every journal
    again (see :meth:`JournalState.catch_up`); the rows still include every writer's images.
    A state not loaded from DIR (``JournalState.from_records``) is taken as it is; one loaded
    for a shard's images only (``JournalState.partial``) is not enough: DIR is read in full.
    """
    if state is None or state.partial:
        # Not remembered: the fold kept for a later load of DIR would stay beside the state
        # and the rows (~30 MB per 100,000 images), and nothing here loads DIR again.
        return JournalState.load(Path(out_dir), remember=False)
    return state.catch_up()


def write_index(out_dir: Path, state: JournalState | None = None) -> int:
    """Rebuild ``DIR/index.csv`` atomically from every journal; return the number of rows.

    ``state`` (see :func:`current_state`) saves re-reading what this process already folded.
    """
    out_dir = Path(out_dir)
    return write_index_of(out_dir, current_state(out_dir, state))


def write_index_of(out_dir: Path, state: JournalState, rows: IndexRows | None = None) -> int:
    """Write ``DIR/index.csv`` of exactly ``state`` (already current: nothing is read again).

    ``rows``: the caller's :class:`IndexRows` of ``state`` (its first pass already made)."""
    if rows is None:
        rows = IndexRows(state)
    target = index_path(out_dir)
    try:
        # One pause for the whole write: between pieces the collector would otherwise move
        # each piece's rows into older generations and soon walk the whole state again
        # (~20% more time for 100,000 images).
        with paused_gc():
            write_table(
                out_dir, target, csv_pieces(rows.header, rows), split_column=None, images=len(rows)
            )
    except OSError as exc:
        raise storage_error(exc, str(target)) from exc
    logger.info("wrote %s (%d images)", target, len(rows))
    return len(rows)


@contextlib.contextmanager
def index_lock(out_dir: Path, *, stop: threading.Event | None = None) -> Iterator[bool]:
    """Hold DIR's index lock (:data:`INDEX_LOCK`) for a block that reads DIR's records and
    writes the tables from them; yields whether it is held (see
    :func:`~harvester.runlock.folder_lock`: waited for at most :data:`INDEX_LOCK_WAIT`).
    The table writes inside take it again, which a thread holding it does at once.
    A lock file that cannot be made is a :class:`~harvester.errors.StorageError` naming
    ``index.csv``, whose write takes it. ``stop``: the wait is given up once it is set
    (:class:`~harvester.runlock.LockWaitStopped`, the block not run): a harvest stopping.
    Held, the block reads ``written.json`` once and saves it once (:func:`_one_record`).
    """
    with contextlib.ExitStack() as stack:
        try:
            held = stack.enter_context(
                folder_lock(out_dir, INDEX_LOCK, wait=INDEX_LOCK_WAIT, denied_ok=True, stop=stop)
            )
        except OSError as exc:
            raise storage_error(exc, str(index_path(out_dir))) from exc
        with _one_record(out_dir, held):
            yield held


# --------------------------------------------------------------------------- hand edits


def write_table(
    out_dir: Path,
    target: Path,
    data: bytes | Iterable[bytes],
    *,
    partial: bool = False,
    split_column: int | None | Literal[False] = False,
    images: int | None = None,
) -> Path | None:
    """Write a table of DIR (``index.csv``, ``labels.csv``, ``splits.csv``, the lists of
    originals) atomically, keeping a copy changed by hand.

    Why: every harvest and ``harvester index`` rebuild these files from the journals, and a
    person's notes added to ``index.csv`` in a spreadsheet (a column of their own, corrected
    cells) were overwritten without a word by the next resume (an hourly cron job's). When
    ``target`` differs from what harvester last wrote there (:func:`changed_by_hand`), it is
    kept as ``<name>.edited-<UTC time>.csv`` beside it (a hard link: readers of ``target``
    never find it missing), with one warning; then ``target`` is written as always and its
    fingerprint recorded in ``DIR/written.json`` before the rename (:func:`_record_written`:
    one save per table). Returns the kept copy (None: none).
    Raises OSError as :func:`~harvester.store.atomic_write_bytes`.

    All of it under DIR's index lock (:data:`INDEX_LOCK`): two writers at once (``harvester
    index`` while a harvest or the SLURM index job ends) each took the other's new file,
    not yet recorded, for a hand edit, kept it with a false warning, and could record an
    older fingerprint over the newer one (a false warning at the next write too).
    ``partial``: written by an interrupted run, and so recorded (:func:`written_partial`).
    ``split_column``: for ``index.csv``, the position of harvester's own ``split`` column
    (None: it has none), recorded for :func:`own_split_column`; False: not an index.
    ``images``: for ``index.csv``, its rows (one per image), recorded for
    :func:`images_not_indexed`.
    """
    with (
        folder_lock(out_dir, INDEX_LOCK, wait=INDEX_LOCK_WAIT, denied_ok=True) as held,
        _one_record(out_dir, held),
    ):
        foreign = target.name not in _written(out_dir)
        kept = keep_changed(out_dir, target)
        digest = hashlib.sha256()
        pieces = (data,) if isinstance(data, bytes) else data

        def hashed() -> Iterator[bytes]:
            for piece in pieces:
                digest.update(piece)
                yield piece

        def record(tmp: Path) -> None:  # every byte written, not yet renamed into place
            _record_written(
                out_dir,
                target,
                tmp.stat(),
                digest.hexdigest(),
                partial=partial,
                split_column=split_column,
                images=images,
            )

        atomic_write_bytes(out_dir, target, hashed(), before_rename=record)
        _renamed(out_dir, target)
    if kept is not None:
        _say_kept(target, kept, foreign=foreign)
    return kept


def file_identity(path: Path) -> tuple[int, int, int] | None:
    """``path``'s device, inode and change time (None: none there, or it cannot be read):
    another when :func:`write_table` has replaced it (a new file renamed into place). Why:
    an interrupted ``harvester index`` says whether ``index.csv`` is as it was."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino, info.st_ctime_ns


def keep_before_removal(target: Path) -> Path | None:
    """Keep ``target``, a table about to be removed as stale (``labels.csv`` without label
    keys, ``splits.csv`` without a split), as :func:`write_table` keeps one it replaces:
    ``<name>.edited-<UTC time>.csv`` when harvester did not write it as it is
    (:func:`changed_by_hand`), with the same warning. The copy (None: none). Raises OSError.

    Why: the removal deleted whatever had the name, the user's own ``labels.csv`` in the
    folder given as ``--out`` too, at its first harvest.
    """
    out_dir = target.parent
    foreign = target.name not in _written(out_dir)
    kept = keep_changed(out_dir, target)
    if kept is not None:
        _say_kept(target, kept, foreign=foreign)
    return kept


def _say_kept(target: Path, kept: Path, *, foreign: bool) -> None:
    """The one warning for a table kept as ``kept``: ``foreign``, one harvester never wrote."""
    if foreign:
        logging.getLogger(PROBLEMS_LOGGER).warning(
            "%s was not written by harvester: kept it as %s; %s is rebuilt from the journals "
            "at every harvest (keep your own files under other names)",
            target,
            kept,
            target.name,
        )
        return
    logging.getLogger(PROBLEMS_LOGGER).warning(
        "%s had been changed since harvester wrote it: kept that copy as %s; %s is "
        "rebuilt from the journals at every harvest (keep your own columns in a copy)",
        target,
        kept,
        target.name,
    )


def changed_by_hand(out_dir: Path, target: Path) -> bool:
    """Whether ``target`` differs from what harvester last wrote there (``written.json``).

    Without a record: True for a file in a folder made by a harvester that records every
    table it writes (:func:`_records_tables`), as that file is not ours (the user's own
    ``index.csv`` in the folder given as ``--out``, which the first harvest overwrote
    without a word); else False (a folder of an older harvester, or no file). The size and
    modification time settle it without reading the file; only when they differ (``cp -r``
    sets a new time) is the content hashed, so an untouched copy is not taken for an edit.
    """
    record = _written(out_dir).get(target.name)
    if not isinstance(record, dict):
        return target.is_file() and _records_tables(out_dir, target.name)
    try:
        st = target.stat()
    except OSError:
        return False
    try:
        if st.st_size != record.get("size"):
            return not _as_expected(record, target, st.st_size)
        if st.st_mtime_ns == record.get("mtime_ns"):
            return False
        digest = sha256_of(target)
        return digest != record.get("sha256") and not _as_expected(
            record, target, st.st_size, digest
        )
    except OSError:
        return False


#: The key of a ``written.json`` entry that lists the size and SHA-256 of the tables it
#: replaces, recorded with it before its rename (:func:`_record_written`): the table still
#: there when the write was killed before the rename (and the tables writes killed so
#: before it, or a 0.1.21 write's :data:`NEXT_KEY`, may have left there).
PREVIOUS_KEY = "previous"
#: At most how many replaced tables an entry lists (:data:`PREVIOUS_KEY`): writes killed
#: before their renames, one after the other.
PREVIOUS_KEPT = 4
#: The key of an entry that holds the size and SHA-256 of a table about to be renamed into
#: place, as harvester up to 0.1.21 recorded it before its rename (the entry itself being
#: of the table it replaced): read in such a folder, no longer written.
NEXT_KEY = "next"


def _as_expected(
    record: Mapping[str, Any], target: Path, size: int, digest: str | None = None
) -> bool:
    """Whether ``target`` (of ``size`` bytes) is harvester's though its record is of another
    table: one a write killed before its rename left (:data:`PREVIOUS_KEY`), or one an
    older write killed after its rename made (:data:`NEXT_KEY`). Hashed (once) only where
    such a table is recorded and the size is its; ``digest``: its SHA-256, where the caller
    has it already. Raises OSError."""
    for other in _other_tables(record):
        if other.get("size") == size:
            digest = digest or sha256_of(target)
            if digest == other.get("sha256"):
                return True
    return False


def _other_tables(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The fingerprints besides its own that ``entry`` (of ``written.json``) holds of tables
    that may be in place: :data:`PREVIOUS_KEY`'s (a list; one dict as 0.1.22 development
    builds wrote it) and :data:`NEXT_KEY`'s."""
    previous = entry.get(PREVIOUS_KEY)
    listed = previous if isinstance(previous, list) else [previous]
    return [one for one in (*listed, entry.get(NEXT_KEY)) if isinstance(one, dict)]


def _replaced_tables(old: object) -> list[dict[str, Any]]:
    """What a table recorded over ``old`` (its entry, None: none) keeps as replaced
    (:data:`PREVIOUS_KEY`): ``old``'s own fingerprint and those it kept itself, at most
    :data:`PREVIOUS_KEPT`.

    Why those too: a write killed before its rename leaves its entry over a table it does
    not describe (the older one, or a 0.1.21 write's :data:`NEXT_KEY`, put in place by a
    write killed after its rename); a second write killed so, keeping only that entry's
    own, left harvester's table taken for a hand edit."""
    if not isinstance(old, dict):
        return []
    found: list[dict[str, Any]] = []
    for one in (old, *_other_tables(old)):
        size, sha256 = one.get("size"), one.get("sha256")
        table = {"size": size, "sha256": sha256}
        if isinstance(size, int) and isinstance(sha256, str) and table not in found:
            found.append(table)
    return found[:PREVIOUS_KEPT]


def since_written(out_dir: Path, target: Path) -> Literal["gone", "edited"] | None:
    """How ``target``, a table ``written.json`` records, differs from what harvester wrote:
    ``"gone"`` (removed), ``"edited"`` (:func:`changed_by_hand`); None: as written, or not
    recorded (never written by harvester: nothing to tell). Cheap as :func:`changed_by_hand`.

    Why: ``status`` and ``verify`` said nothing of a list of originals edited by hand (which
    the next index write keeps as ``originals.edited-...``) or removed."""
    if not isinstance(_written(out_dir).get(target.name), dict):
        return None
    if not target.exists():
        return "gone"
    return "edited" if changed_by_hand(out_dir, target) else None


def mark_written_partial(out_dir: Path, target: Path) -> None:
    """Record ``target``, as harvester last wrote it, as partial (see :func:`written_partial`).

    For a table found short only once written: ``harvester index`` after a job array with
    tasks still to run (the plan has more images than the index). The complete index that
    follows the resubmitted array then compares its label ids with no such file, rather than
    warning that most of them changed and keeping a ``labels.before-...`` copy of a table
    nobody trained on. Nothing is recorded for a table harvester did not write last.
    """
    with folder_lock(out_dir, INDEX_LOCK, wait=INDEX_LOCK_WAIT, denied_ok=True):
        record = _written(out_dir)
        entry = record.get(target.name)
        if not isinstance(entry, dict) or entry.get("partial") is True:
            return
        entry["partial"] = True
        try:
            _save_written(out_dir, record)
        except OSError as exc:  # only the next write's comparison is affected
            logger.debug("could not record %s as partial in %s: %s", target, WRITTEN_NAME, exc)


#: The key of ``written.json``'s ``index.csv`` entry that holds its rows (images).
IMAGES_KEY = "images"


def images_not_indexed(out_dir: Path, state: JournalState) -> int:
    """How many more images have a file in ``state`` (every journal of DIR) than the
    ``index.csv`` harvester last wrote has rows; 0 when none, or when no count was recorded
    (an index of an older harvester). Cheap: ``written.json`` and the state, no table read.

    Why: ``harvester index`` run while shards still wrote (the README's "any time"), or
    before the last shard of a split run by hand, left an index short of their images, and
    ``status`` and ``verify``, which note a missing index, said nothing of it."""
    entry = _written(out_dir).get(index_path(out_dir).name)
    recorded = entry.get(IMAGES_KEY) if isinstance(entry, dict) else None
    if not isinstance(recorded, int) or isinstance(recorded, bool):
        return 0
    now = len(
        {object_id for kind, object_id in state.done if kind in ARTIFACT_FILES} - state.unlisted
    )
    return max(0, now - recorded)


def written_partial(out_dir: Path, target: Path) -> bool:
    """Whether ``target`` is as an interrupted run wrote it (``"partial"`` in
    ``written.json``, and not changed by hand since): its rows are those recorded before
    the interruption, a provisional table that the resume replaces."""
    record = _written(out_dir).get(target.name)
    if not isinstance(record, dict) or record.get("partial") is not True:
        return False
    return not changed_by_hand(out_dir, target)


def keep_changed(out_dir: Path, target: Path) -> Path | None:
    """Keep ``target`` as ``<stem>.edited-<UTC time><suffix>`` if changed by hand; the copy."""
    if not changed_by_hand(out_dir, target):
        return None
    return keep_beside(target, "edited")


def keep_beside(target: Path, tag: str) -> Path | None:
    """Keep ``target`` as ``<stem>.<tag>-<UTC time><suffix>`` beside it; the copy.

    A hard link (readers of ``target`` never find it missing; the rewrite's rename leaves the
    link with the old bytes), else a copy. None when ``target`` is gone.
    """
    if not target.exists():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for n in range(1, 100):
        extra = "" if n == 1 else f"-{n}"
        kept = target.with_name(f"{target.stem}.{tag}-{stamp}{extra}{target.suffix}")
        try:
            os.link(target, kept)
        except FileExistsError:
            continue
        except OSError:  # no hard links here (some network filesystems): a copy
            if kept.exists():
                continue
            shutil.copy2(target, kept)
        return kept
    return None


def _records_tables(out_dir: Path, name: str) -> bool:
    """Whether DIR's ``harvest.json`` was made by a harvester that records the table ``name``
    in ``written.json`` when it writes it (:data:`RECORDS_TABLES_SINCE`,
    :data:`TABLES_RECORDED_SINCE`); False without one."""
    try:
        marker = read_marker(out_dir)
    except (OSError, UsageError):
        return False
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", str((marker or {}).get("version", "")))
    since = TABLES_RECORDED_SINCE.get(name, RECORDS_TABLES_SINCE)
    return found is not None and tuple(map(int, found.groups())) >= since


def own_split_column(out_dir: Path, header: Sequence[str]) -> int | None:
    """The position in ``header`` (of DIR's ``index.csv``) of harvester's own ``split``
    column; None when it has none.

    Why not the first column named ``split``: annotation keys are the study's, and a map
    annotation keyed ``split`` is a column of that name in an index written without a split
    (with one, it is ``label:split``). Counted as the split replaced, its values made every
    image "move" at the first ``--split``. So the position the index write recorded in
    ``written.json`` decides (None recorded: no split column of ours); only an index
    without that record (an older harvester's, or a record lost) is read by the name.
    """
    entry = _written(out_dir).get(index_path(out_dir).name)
    if isinstance(entry, dict) and SPLIT_COLUMN_KEY in entry:
        at = entry[SPLIT_COLUMN_KEY]
        if at is None:
            return None
        if isinstance(at, int) and 0 <= at < len(header) and header[at] == "split":
            return at
    return header.index("split") if "split" in header else None


def written_record(out_dir: Path) -> Mapping[str, Any]:
    """``DIR/written.json`` as an index write sees it (:func:`_written`), not to be changed."""
    return _written(out_dir)


def _written(out_dir: Path) -> dict[str, Any]:
    """``DIR/written.json`` (empty when missing or unreadable: nothing is taken as edited):
    the record of the index write this thread holds open (:func:`_one_record`), else read.
    A caller that changes it saves it (:func:`_save_written`)."""
    open_record = _open_records().get(_record_key(out_dir))
    return open_record.data if open_record is not None else _read_written(out_dir)


def _read_written(out_dir: Path) -> dict[str, Any]:
    """``DIR/written.json`` as the file holds it (see :func:`_written`)."""
    try:
        data = json.loads((out_dir / WRITTEN_NAME).read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


#: The key of ``written.json`` that holds, by name, the SHA-256 of each warning an index
#: write said about the folder as it was (:func:`said_before`).
SAID_KEY = "said"
#: The key of ``written.json`` that holds the images the last index write with a split drew
#: each on its own and that may join their group later (given by id, placed in no screen,
#: plate, well, project or dataset): :func:`unplaced_split_before`.
UNPLACED_KEY = "split_unplaced"
#: At most how many items (ids, or ``FIRST-LAST`` runs of them) ``written.json`` lists
#: under :data:`UNPLACED_KEY`; past it only their number is recorded, and the next write
#: reads the old ``index.csv`` for their splits.
UNPLACED_LISTED = 10_000


def unplaced_split_before(out_dir: Path, split: str) -> frozenset[int] | None:
    """The ids of the images the previous index write's split drew on their own that may
    join their group later (given by id, :func:`harvester.models.has_context` false), as it
    recorded them in ``written.json`` (:func:`record_unplaced_split`); empty where it drew
    none. None where that is not known: no record (a folder written before the record
    existed, or with no split), a record damaged, of another split than ``split``
    (:meth:`harvester.splits.SplitSpec.describe`: the one written now), of another
    ``index.csv`` than the one recorded as written (the record was not saved after a later
    write), or of more images than it lists.

    Why: such an image gets its well, plate or dataset later (its imgData harvested, its
    screen walked) and then goes with its group's split, which may be another. Its old
    split is that of ``image:<id>`` under the same split, so with its id listed the write
    counts the moves without reading the ``index.csv`` it replaces (a pass over all of it,
    ~1 M rows, on every write while the images stay unplaced); None: it reads it. The same
    holds after a split replaced another (``split.json`` keeps saying so): once an index of
    the new split is written, the next writes need not read it again."""
    from harvester.target_text import TargetTextError, id_range, positive_id

    record = _written(out_dir)
    before = record.get(UNPLACED_KEY)
    table = record.get(index_path(out_dir).name)
    if not isinstance(before, dict) or not isinstance(table, dict):
        return None
    listed = before.get("ids")
    if before.get("index") != table.get("sha256") or before.get("split") != split:
        return None
    if NEXT_KEY in table:  # a write since, whose record was lost: this may be older
        return None
    if not isinstance(listed, list):
        return None
    ids: set[int] = set()
    for item in listed:
        if not isinstance(item, str):
            return None
        try:
            span = id_range(item, None)
        except TargetTextError:
            return None
        if span is not None:
            ids.update(span)
        elif (one := positive_id(item)) is not None:
            ids.add(one)
        else:
            return None
    return frozenset(ids)


def record_unplaced_split(out_dir: Path, split: str, ids: Sequence[int] | None) -> None:
    """Record ``ids`` (ascending) for :func:`unplaced_split_before`, with the SHA-256 of the
    ``index.csv`` just written that they are of and its ``split`` (described): listed as
    ranges, or only their number past :data:`UNPLACED_LISTED` items. None (no split
    written): the record dropped. The caller holds DIR's index lock, after its write of
    ``index.csv``. A record that cannot be written is logged: the next write, finding it of
    another index, reads the index."""
    from harvester.target_text import compact_ids

    record = _written(out_dir)
    table = record.get(index_path(out_dir).name)
    now: dict[str, Any] | None = None
    if ids is not None:
        items = compact_ids(ids)
        sha = table.get("sha256") if isinstance(table, dict) else None
        listed = len(items) <= UNPLACED_LISTED
        now = {"index": sha, "split": split}
        now.update({"ids": items} if listed else {"count": len(ids)})
    if record.get(UNPLACED_KEY) == now:
        return
    if now is None:
        record.pop(UNPLACED_KEY)
    else:
        record[UNPLACED_KEY] = now
    try:
        _save_written(out_dir, record)
    except OSError as exc:
        logger.debug("could not record %s in %s: %s", UNPLACED_KEY, WRITTEN_NAME, exc)


def said_before(out_dir: Path, name: str, text: str | None) -> bool:
    """Whether DIR's index writes said warning ``name`` last in these very words, ``text``
    (recorded in ``written.json``): then it is not said again. Else ``text`` is recorded as
    said now (None: nothing to say now, the record dropped, so that the warning is said
    again when it comes back). The caller holds DIR's index lock, as every writer of
    ``written.json`` does.

    Why: a warning about the folder's state (a split's images without their grouping id)
    was said by every index write, each task's and each ``harvester index``'s, unchanged.
    A record that cannot be read or written says it again (never silent by mistake)."""
    record = _written(out_dir)
    said = record.get(SAID_KEY)
    said = dict(said) if isinstance(said, dict) else {}
    digest = hashlib.sha256(text.encode()).hexdigest() if text is not None else None
    if said.get(name) == digest:
        return digest is not None
    if digest is None:
        said.pop(name, None)
    else:
        said[name] = digest
    if said:
        record[SAID_KEY] = said
    else:
        record.pop(SAID_KEY, None)
    try:
        _save_written(out_dir, record)
    except OSError as exc:
        logger.debug("could not record the warning %s in %s: %s", name, WRITTEN_NAME, exc)
    return False


def say_once(out_dir: Path, name: str, text: str | None, *, recorded: str | None = None) -> None:
    """Warn ``text``, a warning about DIR's state, unless the last index write that had it
    to say said it (:func:`said_before`, by ``name``): then it is logged at info level.
    ``recorded``: what the record compares, where more than the words can change (default
    ``text``). None: nothing to say now, the record dropped. The caller holds DIR's index
    lock."""
    if said_before(out_dir, name, text if recorded is None else recorded):
        logger.info("%s (said by an earlier index write)", text)
    elif text is not None:
        logging.getLogger(PROBLEMS_LOGGER).warning("%s", text)


def _record_written(
    out_dir: Path,
    target: Path,
    st: os.stat_result,
    sha256: str,
    *,
    partial: bool = False,
    split_column: int | None | Literal[False] = False,
    images: int | None = None,
) -> None:
    """Record ``target`` as written, from ``st``, the stat of its complete temp file about
    to be renamed into place (a rename keeps the size and modification time), and save
    ``written.json`` at once; the fingerprints of the tables it replaces are kept beside
    (:data:`PREVIOUS_KEY`, :func:`_replaced_tables`) until the rename is done
    (:func:`_renamed`). Under an open record (:func:`_one_record`), what another writer
    saved meanwhile is read first (:meth:`_Record.refresh`).

    Why before the rename: a run killed (or a disk full for ``written.json``) between the
    rename and a record made after it left the new table beside the old record, and the
    next write took harvester's own table for one changed by hand: a false warning and an
    ``.edited-`` copy (status and verify noted it too). Killed between this save and the
    rename, the old table stays, which the previous fingerprint tells as harvester's.
    Why one save: it was two per table (an announcement before the rename, the record
    after), each a read and a rewrite of ``written.json``. A save that fails is logged:
    only such a kill is then taken for an edit, and the index write's last save
    (:func:`_one_record`) tries again.
    """
    if (open_record := _open_records().get(_record_key(out_dir))) is not None:
        open_record.refresh()
    record = _written(out_dir)
    entry: dict[str, Any] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}
    if replaced := _replaced_tables(record.get(target.name)):
        entry[PREVIOUS_KEY] = replaced
    if partial:
        entry["partial"] = True
    if split_column is not False:
        entry[SPLIT_COLUMN_KEY] = split_column
    if images is not None:
        entry[IMAGES_KEY] = images
    record[target.name] = entry
    try:
        _save_written(out_dir, record)
        _save_now(out_dir)
    except OSError as exc:
        logger.debug("could not record %s in %s: %s", target, WRITTEN_NAME, exc)


def _renamed(out_dir: Path, target: Path) -> None:
    """``target``, recorded by :func:`_record_written`, is in place: the fingerprints of the
    tables it replaced are dropped from the record the index write holds, to go with its
    next save (made for each further table, and at its end). Why dropped: a copy of an
    older table put back by hand is not the table harvester wrote last. (Without an open
    record, no index lock held, they stay till the table's next write: a save of its own
    here would be one more chance to save over another writer's record.)"""
    open_record = _open_records().get(_record_key(out_dir))
    entry = open_record.data.get(target.name) if open_record is not None else None
    if isinstance(entry, dict):
        entry.pop(PREVIOUS_KEY, None)


#: Not in a record (:meth:`_Record.refresh`).
_ABSENT = object()


class _Record:
    """``written.json`` as one index write holds it (:func:`_one_record`): read once,
    changed in memory, saved before each table's rename and at the end (:meth:`save`).
    ``base``: the file as this write last read or saved it, which tells this write's
    changes (``data``) from another writer's (:meth:`refresh`); ``seen``: its identity then."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.seen = file_identity(out_dir / WRITTEN_NAME)
        self.data = _read_written(out_dir)
        self.base = copy.deepcopy(self.data)

    def refresh(self) -> None:
        """Take in what another writer saved since this write last read or saved the file:
        its changes stay, this write's are laid over them, key by key (where both changed
        one, the other's, saved later, stays). A stat when no one did.

        Why: a writer holds the index lock while another goes on without it (it waited past
        :data:`INDEX_LOCK_WAIT`, or could not open another user's lock file). Saving what
        it had read at its start, the holder dropped the other's record of the table it
        had just put in place, and the next write kept harvester's own table as a hand
        edit, with a false warning."""
        now = file_identity(self.out_dir / WRITTEN_NAME)
        if now == self.seen:
            return
        self.seen = now
        fresh = _read_written(self.out_dir)
        merged = copy.deepcopy(fresh)
        for key in self.data.keys() | self.base.keys():
            mine, was = self.data.get(key, _ABSENT), self.base.get(key, _ABSENT)
            if mine == was or fresh.get(key, _ABSENT) != was:
                continue  # (not changed here, or changed by the other writer too)
            if mine is _ABSENT:
                merged.pop(key, None)
            else:
                merged[key] = mine
        self.data, self.base = merged, fresh

    def save(self) -> None:
        """Save ``data`` where this write changed it (:meth:`refresh` first). Raises OSError."""
        self.refresh()
        if self.data == self.base:
            return
        _store_written(self.out_dir, self.data)
        self.base = copy.deepcopy(self.data)
        self.seen = file_identity(self.out_dir / WRITTEN_NAME)


_RECORDS = threading.local()


def _open_records() -> dict[str, _Record]:
    """This thread's open records (:func:`_one_record`), by :func:`_record_key`."""
    records: dict[str, _Record] = _RECORDS.__dict__.setdefault("open", {})
    return records


def _record_key(out_dir: Path) -> str:
    return os.path.abspath(out_dir / WRITTEN_NAME)


@contextlib.contextmanager
def _one_record(out_dir: Path, held: bool) -> Iterator[None]:
    """For the block (an index write: :func:`index_lock`, :func:`write_table`), this
    thread reads ``written.json`` once and saves it once at the end, besides the save made
    before each table's rename (:func:`_record_written`); nested, the outer block's.

    Why: an index write read ``written.json`` a dozen to twenty times and rewrote it up to
    seven (each table twice, each warning said, the split's record), each save a temp file
    and a pending file. Only with DIR's index lock ``held``: without it (no flock, another
    user's lock file, a writer holding it past :data:`INDEX_LOCK_WAIT`) every read and save
    goes to the file, as each did, so that a record another writer made meanwhile is kept;
    with it, each save first takes in what such a writer saved (:meth:`_Record.refresh`).
    A save at the end that fails is logged (what it holds tells edits apart and which
    warnings were said: the next write, finding it missing, says them again)."""
    key = _record_key(out_dir)
    records = _open_records()
    if not held or key in records:
        yield
        return
    records[key] = record = _Record(out_dir)
    try:
        yield
    finally:
        del records[key]
        try:
            record.save()
        except OSError as exc:
            logger.debug("could not save %s: %s", WRITTEN_NAME, exc)


def _save_written(out_dir: Path, record: dict[str, Any]) -> None:
    """Replace ``written.json`` with ``record``: kept for the next save of the index write
    this thread holds open (:func:`_one_record`), else saved now. Raises OSError."""
    open_record = _open_records().get(_record_key(out_dir))
    if open_record is None:
        _store_written(out_dir, record)
        return
    open_record.data = record


def _save_now(out_dir: Path) -> None:
    """Save the record of the index write this thread holds open, where changed since its
    last save (:func:`_record_written`); without one, :func:`_save_written` has. Raises
    OSError."""
    open_record = _open_records().get(_record_key(out_dir))
    if open_record is not None:
        open_record.save()


def _store_written(out_dir: Path, record: dict[str, Any]) -> None:
    """Write ``written.json`` (its one writer, so every record keeps one format).
    Raises OSError."""
    data = (json.dumps(record, indent=1, sort_keys=True) + "\n").encode()
    atomic_write_bytes(out_dir, out_dir / WRITTEN_NAME, data, durable=False)
