"""Review of c47805f: index.csv written a slice of rows at a time.

The pieces must join to exactly what Python's csv module writes for the whole table
(``\\n`` line ends, minimal quoting), whatever the cells hold and however the rows fall
into pieces; and a write that fails while a later piece is rendered must leave neither
its temporary file nor its pending record behind (the old file stays as it was).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester import index
from harvester.store import atomic_write_bytes

# Cells that exercise every quoting rule: commas, quotes, \r, \n, empty, unicode.
_cells = st.text(
    alphabet=st.sampled_from(["a", "\u00e9", "\u4e2d", ",", '"', "\r", "\n", " "])
    | st.characters(exclude_categories=["Cs"]),  # (no lone surrogates: not UTF-8)
    max_size=6,
)


def _csv_module(header: list[str], rows: list[list[str]]) -> bytes:
    """The csv module's rows, each "\r\n" ending cut to "\n": with lineterminator "\n",
    Python 3.11's writer leaves a cell holding a lone "\r" unquoted (a row no reader reads)."""
    out = []
    for row in [header, *rows]:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(row)
        out.append(buffer.getvalue()[:-2] + "\n")
    return "".join(out).encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(min_value=1, max_value=4),
    data=st.data(),
    piece_rows=st.integers(min_value=1, max_value=5),
)
def test_pieces_join_to_the_csv_modules_bytes(
    width: int, data: st.DataObject, piece_rows: int
) -> None:
    """index.csv written in pieces is byte for byte what the csv module writes."""
    header = data.draw(st.lists(_cells, min_size=width, max_size=width))
    rows = data.draw(st.lists(st.lists(_cells, min_size=width, max_size=width), max_size=9))
    expected = _csv_module(header, rows)
    assert b"".join(index.csv_pieces(header, rows, piece_rows)) == expected
    assert list(csv.reader(io.StringIO(expected.decode(), newline=""))) == [header, *rows]
    assert index.render_csv(header, rows) == expected


@settings(max_examples=100, deadline=None)
@given(
    header=st.lists(_cells, min_size=1, max_size=3),
    rows=st.lists(st.lists(_cells | st.integers().map(str), max_size=4), max_size=8),
    piece_rows=st.integers(min_value=1, max_value=4),
)
def test_ragged_rows_too(header: list[str], rows: list[list[str]], piece_rows: int) -> None:
    """Rows of other lengths than the header (or none at all) are written as the csv module
    writes them, in any piece."""
    assert b"".join(index.csv_pieces(header, rows, piece_rows)) == _csv_module(header, rows)


def test_a_failing_later_piece_leaves_no_temp_and_no_pending_record(tmp_path: Path) -> None:
    """A later piece failing leaves the old file, no temp file and no pending record."""
    target = tmp_path / "index.csv"
    target.write_bytes(b"old\n")

    def pieces() -> Iterator[bytes]:
        yield b"image_id,name\n"
        yield b"1,a\n"
        raise ValueError("a cell that cannot be rendered")

    with pytest.raises(ValueError):
        atomic_write_bytes(tmp_path, target, pieces())
    assert target.read_bytes() == b"old\n"
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["index.csv"]


@pytest.mark.parametrize(
    "kind",
    [
        bytes,
        bytearray,
        memoryview,
    ],
)
def test_any_bytes_like_whole_is_written_as_is(tmp_path: Path, kind: type) -> None:
    """One bytes-like object is the whole file, not pieces (``write_all`` takes a view)."""
    target = tmp_path / "f.bin"
    atomic_write_bytes(tmp_path, target, kind(b"abc\n"))
    assert target.read_bytes() == b"abc\n"
