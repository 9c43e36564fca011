"""``DIR/index.csv``: one row per harvested image, rebuilt from the journals alone.

Columns: the fixed :data:`COLUMNS` (ids, names, well position, field, run id (PlateAcquisition;
``field`` counts from that run's first WellSample, as OMERO's plate grids do), the relative path
of every artifact kind, empty where not fetched), then one column per map-annotation key found on
any image, sorted; an image with a key twice gets its values joined with ``" | "``. A key that
equals a fixed column name is prefixed ``label:`` so it cannot overwrite it.

The file is written to a temp name beside it and renamed, so readers see the old index or the new
one, never a half. Journals are read line by line taking complete lines only, which makes it safe
to rebuild the index while shards are still appending.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from harvester.journal import JournalState
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


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def label_columns(refs: list[ImageRef]) -> dict[str, str]:
    """Map each annotation key to its column name (sorted keys, collisions prefixed)."""
    keys = sorted({key for ref in refs for key, _ in ref.labels})
    fixed = set(COLUMNS)
    return {key: (f"label:{key}" if key in fixed else key) for key in keys}


def build_rows(state: JournalState) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the index: images with at least one done artifact, by id."""
    paths: dict[int, dict[str, str]] = {}
    for (kind, object_id), rec in state.done.items():
        if kind in ARTIFACT_FILES:
            paths.setdefault(object_id, {})[kind] = rec["path"]
    refs = [state.images.get(image_id) or ImageRef(image_id) for image_id in sorted(paths)]
    labels = label_columns(refs)
    header = list(COLUMNS) + list(labels.values())
    rows = []
    for ref in refs:
        done = paths[ref.image_id]
        values: dict[str, list[str]] = {}
        for key, value in ref.labels:
            values.setdefault(key, []).append(value)
        rows.append(
            [
                str(ref.image_id),
                ref.image_name,
                _cell(ref.screen_id),
                _cell(ref.plate_id),
                ref.plate_name,
                _cell(ref.well_id),
                _cell(ref.well_row),
                _cell(ref.well_column),
                _cell(ref.field),
                _cell(ref.run_id),
                _cell(ref.project_id),
                _cell(ref.dataset_id),
                ref.dataset_name,
                done.get("thumbnail", ""),
                done.get("imgdata", ""),
                done.get("metadata", ""),
                done.get("render", ""),
                done.get("stack", ""),
            ]
            + [LABEL_JOIN.join(values.get(key, ())) for key in labels]
        )
    return header, rows


def render_csv(header: list[str], rows: list[list[str]]) -> bytes:
    """CSV bytes (UTF-8, ``\\n`` line ends, minimal quoting)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def current_state(out_dir: Path, state: JournalState | None = None) -> JournalState:
    """What every journal of DIR says now, for the index.

    ``state``: what this process already knows, typically a running harvest's
    ``Store.state`` (loaded when the store opened, kept current with its own commits). Only what
    other writers (shards) appended since it was loaded is then read, instead of every journal
    again (see :meth:`JournalState.catch_up`); the rows still include every writer's images.
    A state not loaded from DIR (``JournalState.from_records``) is taken as it is.
    """
    if state is None:
        return JournalState.load(Path(out_dir))
    return state.catch_up()


def write_index(out_dir: Path, state: JournalState | None = None) -> int:
    """Rebuild ``DIR/index.csv`` atomically from every journal; return the number of rows.

    ``state`` (see :func:`current_state`) saves re-reading what this process already folded.
    """
    out_dir = Path(out_dir)
    state = current_state(out_dir, state)
    header, rows = build_rows(state)
    target = index_path(out_dir)
    try:
        atomic_write_bytes(out_dir, target, render_csv(header, rows))
    except OSError as exc:
        raise storage_error(exc, str(target)) from exc
    logger.info("wrote %s (%d images)", target, len(rows))
    return len(rows)
