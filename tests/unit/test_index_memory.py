"""index.csv is written without holding every row: rows are made a piece at a time.

For 100,000 labelled images the list of rows was ~45 MB held until the file was written, the
biggest cost of ``harvester index`` beside the journals' state. The header still depends on
every image (one column per annotation key of any of them), so it is found in a first pass;
the rows are made in a second, while the file is written. These tests check the bytes stay
those of the whole-list rendering, that a key seen only on the last image still gets its
column, and (with tracemalloc, no timing) that the write holds a small fraction of the rows.
"""

from __future__ import annotations

import csv
import io
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from harvester import index
from harvester.journal import JournalState
from harvester.layout import image_path
from harvester.models import ImageRef

IMAGES = 20_000


def _state(images: int) -> JournalState:
    """A folder's state: wells of 4 fields sharing one labels tuple, a few kinds of artifact,
    names that need quoting, a key that only the last image has, one image never journaled."""
    records: list[dict[str, Any]] = []
    for n in range(images):
        image_id = 500_000 + n
        well = n // 4
        labels: tuple[tuple[str, str], ...] = (
            ("Gene Symbol", f"G{well % 97}"),
            ("Phenotype", "round" if well % 3 else "big, flat"),
            ("Phenotype", f"p{well % 5}"),
        )
        if n == images - 1:
            labels += (("zz only last", "yes"),)
        ref = ImageRef(
            image_id,
            image_name=f"plate 1 [Well {well}; Field #{n % 4 + 1}]",
            screen_id=2302,
            plate_id=7361,
            plate_name="1977",
            well_id=1_000_000 + well,
            well_row=well // 24,
            well_column=well % 24,
            field=n % 4,
            run_id=8101,
            labels=labels,
        )
        records.append({"rec": "image", "ref": ref.to_json(), "t": 1.0})
        for kind in ("thumbnail", "render", "stack")[: 1 + n % 3]:
            records.append(_done(kind, image_id))
    records.append(_done("metadata", 10))  # an artifact whose image record is missing
    return JournalState.from_records(records)


def _done(kind: str, image_id: int) -> dict[str, Any]:
    return {
        "rec": "done",
        "kind": kind,
        "id": image_id,
        "path": image_path(image_id, kind),
        "size": 1,
        "sha256": "0" * 64,
        "t": 1.0,
        "run": "r",
    }


@pytest.fixture(scope="module")
def state() -> JournalState:
    return _state(IMAGES)


def test_written_index_is_the_whole_list_rendered(state: JournalState, tmp_path: Path) -> None:
    """Several pieces of lazily made rows give the bytes of all rows rendered at once, which
    are the csv module's; a key only the last image has is a column from the header on."""
    header, rows = index.build_rows(state)
    assert index.write_index_of(tmp_path, state) == len(rows) == IMAGES + 1
    data = (tmp_path / "index.csv").read_bytes()
    assert data == index.render_csv(header, rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    assert data == buffer.getvalue().encode("utf-8")
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert header[-1] == "zz only last"
    assert table[0]["image_id"] == "10" and table[0]["metadata_path"]
    assert table[0]["Gene Symbol"] == "" and table[0]["image_name"] == ""
    assert table[1]["Phenotype"] == "big, flat | p0" and table[1]["zz only last"] == ""
    assert table[-1]["zz only last"] == "yes"
    assert [r["stack_path"] != "" for r in table[1:4]] == [False, False, True]


def test_rows_can_be_walked_twice_beside_their_images(state: JournalState) -> None:
    """The labelled index walks the images for their labels, then the rows: same order."""
    rows = index.IndexRows(state)
    assert len(rows) == IMAGES + 1
    first = list(rows)
    assert list(rows) == first
    assert [str(ref.image_id) for ref in rows.refs()] == [row[0] for row in first]
    assert (rows.header, first) == index.build_rows(state)


def test_writing_holds_a_small_fraction_of_the_rows(
    state: JournalState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory for the rows is that of one piece, not of the whole index (tracemalloc counts
    Python allocations: the figures do not depend on the machine or its load)."""
    monkeypatch.setattr(index, "CSV_PIECE_ROWS", 1_000)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        header, rows = index.build_rows(state)
        whole = tracemalloc.get_traced_memory()[0] - before
        del header, rows
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        assert index.write_index_of(tmp_path, state) == IMAGES + 1
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert whole > 5_000_000  # the list the write no longer holds (~700 bytes a row)
    assert peak < whole / 4
