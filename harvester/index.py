"""``DIR/index.csv``: one row per harvested image, rebuilt from the journals alone.

Columns: the fixed :data:`COLUMNS` (ids, names, well position, field, run id (PlateAcquisition;
``field`` counts from that run's first WellSample, as OMERO's plate grids do), the relative path
of every artifact kind, empty where not fetched), then one column per map-annotation key found on
any image, sorted; an image with a key twice gets its values joined with ``" | "``. A key that
equals a fixed column name is prefixed ``label:`` so it cannot overwrite it.

The file is written to a temp name beside it and renamed, so readers see the old index or the new
one, never a half. Journals are read line by line taking complete lines only, which makes it safe
to rebuild the index while shards are still appending.

At the end of a harvest the rows come from the state the run's store kept (see
:func:`current_state`): only the lines other writers appended meanwhile are read, so writing the
index of 10,000 images takes about 20 ms instead of re-reading every journal (about 140 ms).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

from harvester.journal import JournalState, paused_gc
from harvester.layout import ARTIFACT_FILES, index_path
from harvester.models import ImageRef
from harvester.store import atomic_write_bytes, storage_error

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


def _columns_of(keys: set[str]) -> dict[str, str]:
    """Map each annotation key to its column name (sorted keys, collisions prefixed)."""
    fixed = set(COLUMNS)
    return {key: (f"label:{key}" if key in fixed else key) for key in sorted(keys)}


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
    """Header and rows of the index: images with at least one done artifact, by id."""
    with paused_gc():
        return _build_rows(state)


def _build_rows(state: JournalState) -> tuple[list[str], list[list[str]]]:
    # Written for speed (it runs at the end of every harvest, over every image of DIR): one
    # list of path cells per image, no call per cell, label cells by one itemgetter per
    # distinct key sequence (see _label_cells).
    slot = {kind: n for n, kind in enumerate(PATH_KINDS)}
    paths: dict[int, list[str]] = {}
    blank = [""] * len(PATH_KINDS)
    for (kind, object_id), rec in state.done.items():
        if kind in ARTIFACT_FILES:
            cells = paths.get(object_id)
            if cells is None:
                cells = paths[object_id] = blank.copy()
            n = slot.get(kind)
            if n is not None:
                cells[n] = rec["path"]
    images = state.images
    refs = [images.get(image_id) or ImageRef(image_id) for image_id in sorted(paths)]
    # Each image's label keys and values as two tuples, split once per labels tuple (refs
    # loaded from journals share equal ones; by id, as every tuple is alive until the end).
    by_id: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    split: list[tuple[tuple[str, ...], tuple[str, ...]] | None] = []
    for ref in refs:
        pairs = ref.labels
        if not pairs:
            split.append(None)
            continue
        got = by_id.get(id(pairs))
        if got is None:
            got = by_id[id(pairs)] = tuple(zip(*pairs, strict=True))  # type: ignore[assignment]
        split.append(got)
    sequences = {pair[0]: None for pair in split if pair is not None}
    labels = _columns_of({key for keys in sequences for key in keys})
    header = list(COLUMNS) + list(labels.values())
    order = list(labels)
    cells_of = {keys: _label_cells(keys, order) for keys in sequences}
    empty = [""] * len(order)
    rows = []
    for ref, found in zip(refs, split, strict=True):
        screen_id, plate_id, well_id = ref.screen_id, ref.plate_id, ref.well_id
        well_row, well_column, field = ref.well_row, ref.well_column, ref.field
        run_id, project_id, dataset_id = ref.run_id, ref.project_id, ref.dataset_id
        row = [
            str(ref.image_id),
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
        row += paths[ref.image_id]
        row += cells_of[found[0]](found[1]) if found is not None else empty
        rows.append(row)
    return header, rows


#: Rows rendered at a time by :func:`csv_pieces` (a few MB of text for a labelled index).
CSV_PIECE_ROWS = 20_000


def render_csv(header: list[str], rows: list[list[str]]) -> bytes:
    """CSV bytes (UTF-8, ``\\n`` line ends, minimal quoting)."""
    return b"".join(csv_pieces(header, rows, len(rows) or 1))


def csv_pieces(
    header: list[str], rows: list[list[str]], piece_rows: int | None = None
) -> Iterator[bytes]:
    """The CSV bytes of :func:`render_csv`, ``piece_rows`` (:data:`CSV_PIECE_ROWS`) rows at a time.

    Written piece by piece, a million-row index never exists whole as one text and one
    bytes object beside its rows (for 100,000 labelled images that was ~40 MB more at the
    peak of ``harvester index``). The bytes are the same: each piece takes the fast join
    when none of its cells needs quoting, the csv module otherwise.
    """
    size = piece_rows or CSV_PIECE_ROWS
    for start in range(0, max(len(rows), 1), size):
        piece = rows[start : start + size]
        yield _render_piece(header if start == 0 else None, piece)


def _render_piece(header: list[str] | None, rows: list[list[str]]) -> bytes:
    with paused_gc():
        plain = _plain_csv(header, rows)
        if plain is not None:
            return _utf8(plain)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
        return _utf8(buffer.getvalue())


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


def _plain_csv(header: list[str] | None, rows: list[list[str]]) -> str | None:
    """The CSV text when no cell needs quoting (then it is the cells joined), else None.

    Minimal quoting quotes only a cell holding the delimiter, a quote or a line break, which
    the joined text shows at once: more commas or newlines than the joins put in, or any
    quote or carriage return. Joining is several times faster than the csv module.
    ``header`` None: rows only (a later piece of :func:`csv_pieces`).
    """
    lines = [] if header is None else [header]
    if not lines and not rows:
        return ""
    try:
        text = "\n".join(map(",".join, lines + rows)) + "\n"
    except TypeError:  # a cell that is not a string: leave it to the csv module
        return None
    commas = sum(map(len, lines)) + sum(map(len, rows)) - len(lines) - len(rows)
    if '"' in text or "\r" in text or text.count("\n") != len(lines) + len(rows):
        return None
    if text.count(",") != commas or min(map(len, lines + rows)) < 2:
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


def write_index_of(out_dir: Path, state: JournalState) -> int:
    """Write ``DIR/index.csv`` of exactly ``state`` (already current: nothing is read again)."""
    header, rows = build_rows(state)
    target = index_path(out_dir)
    try:
        atomic_write_bytes(out_dir, target, csv_pieces(header, rows))
    except OSError as exc:
        raise storage_error(exc, str(target)) from exc
    logger.info("wrote %s (%d images)", target, len(rows))
    return len(rows)
