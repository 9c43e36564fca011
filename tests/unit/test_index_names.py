"""What DIR's index.csv says a plate's or dataset's name stands for (the not-found hint)."""

from __future__ import annotations

from pathlib import Path

from harvester.index_names import ids_named

HEADER = "image_id,image_name,plate_id,plate_name,dataset_id,dataset_name\n"


def test_every_plate_of_the_name_is_given_once_in_the_order_found(tmp_path: Path) -> None:
    """Two plates named '1977' (and a plate and a dataset of other names): both ids, once each."""
    index = tmp_path / "index.csv"
    index.write_text(
        HEADER + "1,a,7361,1977,,\n2,b,7361,1977,,\n3,c,7400,1977,,\n4,d,7401,1978,51,1977\n"
    )
    assert ids_named(index, "plate", "1977") == [7361, 7400]
    assert ids_named(index, "dataset", "1977") == [51]
    assert ids_named(index, "plate", "1979") == []


def test_a_missing_or_columnless_index_names_nothing(tmp_path: Path) -> None:
    """No index.csv, or one cut without the name column: [] (the error says the rest)."""
    assert ids_named(tmp_path / "index.csv", "plate", "1977") == []
    cut = tmp_path / "cut.csv"
    cut.write_text("image_id,plate_id\n1,7361\n")
    assert ids_named(cut, "plate", "1977") == []


def test_a_damaged_index_answers_what_it_read_and_never_raises(tmp_path: Path) -> None:
    """A name cell with a quoted newline is read as one row; a unicode digit in the id
    column (``str.isdigit`` but not ``int``) is no id and no traceback; a row cut by a field
    too big for the csv module keeps the ids found before it."""
    index = tmp_path / "index.csv"
    too_big = "x" * 200_000  # (past csv.field_size_limit(): csv.Error on its row)
    rows = f'1,"two\nlines",7361,1977,,\n2,b,\u00b2,1977,,\n3,"{too_big}",7400,1977,,\n'
    index.write_text(HEADER + rows + "4,d,7401,1977,,\n", encoding="utf-8")
    assert ids_named(index, "plate", "1977") == [7361]
