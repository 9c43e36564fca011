"""The up-front check of an ``--ids-from`` file agrees with the walk's reading of it.

``check_ids_file`` takes a fast path (byte scans a block at a time) for plain files and
falls back to :func:`read_ids_file` for anything else; whatever the file, it must accept
exactly what the walk accepts and name the same first bad line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester import walk
from harvester.errors import UsageError
from harvester.walk import check_ids_file, first_ids, read_ids_file

#: Pieces of files the fast path may take (zeros among them), and of odd or bad ones.
PLAIN_PIECES = ["7", "12", "100", "0", "00", "05", "\r\n", "\n", "\n"]
#: "²" is a digit int() refuses; the long run of digits is more than int() reads (4300);
#: "Image:"/"plate:" make typed ids (OMERO.downloader's lines), of the right kind or not;
#: "-" ranges (or junk: "7-", "0-5"), and the link its lines (an iviewer's ?images=ID,ID).
OTHER_PIECES = [" ", "\t", "\r", "#", "x", "٣", "²", "\ufeff", "9" * 5000, "Image:", "plate:"]
OTHER_PIECES += ["-", ",", "http://h/iviewer/?images="]
#: Digits the flags refuse: other scripts' (int() reads them) and more than an id has.
OTHER_PIECES += ["\u0661\u0662\u0663", "\uff11\uff12\uff13", "1" * 31, "2" * 30]
FILES = st.one_of(
    st.lists(st.sampled_from(PLAIN_PIECES), max_size=30),
    st.lists(st.sampled_from(PLAIN_PIECES + OTHER_PIECES), max_size=30),
)


def _verdict(fn: object, path: Path) -> str:
    try:
        fn(path)  # type: ignore[operator]
    except UsageError as exc:
        return f"error: {exc}"
    return "ok"


def _walk_reading(path: Path) -> None:
    for _ in read_ids_file(path):
        pass


@settings(max_examples=300, deadline=None)
@given(pieces=FILES, block=st.sampled_from([3, 8, 1 << 20]))
def test_check_agrees_with_the_walk(
    tmp_path_factory: pytest.TempPathFactory, pieces: list[str], block: int
) -> None:
    """Same verdict and message as reading every line, at any block size (lines and CRLF
    pairs cut between blocks included)."""
    path = tmp_path_factory.mktemp("ids") / "ids.txt"
    path.write_bytes("".join(pieces).encode("utf-8"))
    saved = walk._CHECK_BLOCK
    walk._CHECK_BLOCK = block
    try:
        assert _verdict(check_ids_file, path) == _verdict(_walk_reading, path)
    finally:
        walk._CHECK_BLOCK = saved


@pytest.mark.parametrize(
    "text",
    [
        "1\n2\n0\n",  # zero is not an image id
        "1\n2\n3 4\n",  # two numbers on one line
        "1\r2\n",  # a lone CR ends a line in text mode: two ids
        "1\r0\n",  # ... so this second line is a zero
        "007\n",  # leading zeros: 7
        "1\n" + "1" * 5000 + "\n",  # more digits than int() reads: not an image id
        "1\n" + "1" * 5000,  # ... also as the last line, without its line end
    ],
)
def test_odd_plain_looking_files(tmp_path: Path, text: str) -> None:
    """Files made only of digits, blanks and line ends that the fast path leaves alone."""
    path = tmp_path / "ids.txt"
    path.write_bytes(text.encode())
    assert not walk._plain_ids_file(path)
    assert _verdict(check_ids_file, path) == _verdict(_walk_reading, path)


def test_a_junk_line_past_the_first_megabyte(tmp_path: Path) -> None:
    """The fast path reads block by block: a bad line deep in a big file is still named."""
    path = tmp_path / "ids.txt"
    good = "".join(f"{n}\n" for n in range(1, 300_001))  # ~2 MB
    path.write_text(good + "banana\n" + "5\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"line 300001: 'banana' is not an image id"):
        check_ids_file(path)


def test_first_ids_reads_only_what_it_needs(tmp_path: Path) -> None:
    """The head start's first ids: distinct, kept by the filter, and a junk line further
    down is not reached (the up-front check reports it)."""
    path = tmp_path / "ids.txt"
    path.write_text("# mine\n5\n5\n6\n7\n8\n9\nbanana\n", encoding="utf-8")
    assert first_ids(path, 3) == [5, 6, 7]
    assert first_ids(path, 2, keep=lambda i: i % 2 == 0) == [6, 8]
    assert first_ids(path, 0) == []


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("5\n\u00b2\n", "'\u00b2'"),  # a digit (str.isdigit) that int() refuses
        ("5\n" + "7" * 5000 + "\n", "'" + "7" * 37 + "...'"),  # more digits than int() reads
    ],
)
def test_ids_int_cannot_read_are_junk_lines(tmp_path: Path, text: str, shown: str) -> None:
    """A line of digits that is no integer Python reads is named like any junk line (a
    usage error before anything is sent), by the up-front check and by the walk alike,
    not an internal error."""
    path = tmp_path / "ids.txt"
    path.write_text(text, encoding="utf-8")
    message = f"line 2: {shown} is not an image id"
    with pytest.raises(UsageError) as checked:
        check_ids_file(path)
    assert message in str(checked.value)
    with pytest.raises(UsageError) as walked:
        _walk_reading(path)
    assert str(walked.value) == str(checked.value)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("\u0661\u0662\u0663", "digits other than 0-9"),  # Arabic-Indic 123
        ("\uff11\uff12\uff13", "digits other than 0-9"),  # fullwidth 123
        ("1" * 31, "more than 30 digits"),
        ("9" * 34, "more than 30 digits"),
        ("9223372036854775808", "over 9223372036854775807, the largest id OMERO has"),
        ("1" * 30, "over 9223372036854775807, the largest id OMERO has"),
    ],
)
def test_digits_the_flags_refuse_are_refused_by_line(tmp_path: Path, line: str, why: str) -> None:
    """A line in other digits than 0-9 (int() read '١٢٣' as 123), of more than 30 digits or
    over OMERO's largest id is refused, named by its line, by the up-front check and the
    walk alike, as --image refuses it; that largest id is still an id."""
    path = tmp_path / "ids.txt"
    path.write_text(f"5\n{line}\n7\n", encoding="utf-8")
    with pytest.raises(UsageError) as checked:
        check_ids_file(path)
    assert str(checked.value) == f"{path}: line 2: {line!r} is not an image id ({why})"
    with pytest.raises(UsageError) as walked:
        _walk_reading(path)
    assert str(walked.value) == str(checked.value)
    path.write_text("5\n9223372036854775807\n", encoding="utf-8")
    check_ids_file(path)
    assert list(read_ids_file(path)) == [5, 9223372036854775807]


def test_a_folder_or_a_missing_file_is_named(tmp_path: Path) -> None:
    """Not a readable file (a folder, nothing there): the check says so as the walk does."""
    for path in (tmp_path, tmp_path / "missing.txt"):
        assert not walk._plain_ids_file(path)
        verdict = _verdict(check_ids_file, path)
        assert verdict.startswith(f"error: cannot read ids file {str(path)!r}")
        assert verdict == _verdict(_walk_reading, path)


def test_a_file_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """Windows editors start UTF-8 files with a BOM: it is not part of the first id."""
    path = tmp_path / "ids.txt"
    path.write_bytes("\ufeff5\r\n6\r\n".encode())
    check_ids_file(path)
    assert list(read_ids_file(path)) == [5, 6]


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        # a harvester index.csv: names with commas and quotes, as the csv module writes them
        (
            'image_id,image_name,well\n11,"a, b",A1\n12,"say ""hi""",A2\n\n13,c,B1\n',
            [11, 12, 13],
        ),
        ("name\tImage ID\tplate\nx\t21\tp\ny\t22\tp\n", [21, 22]),  # TSV, a renamed header
        ("image_id\n31\n32\n", [31, 32]),  # one column
        ("# chosen by hand\nImageId;label\n41;mitotic\n", [41]),  # a comment before it
    ],
)
def test_a_csv_with_an_image_id_column_gives_that_column(
    tmp_path: Path, text: str, ids: list[int]
) -> None:
    """An index.csv (or a table filtered in pandas) is an ids file: its image_id column."""
    path = tmp_path / "chosen.csv"
    path.write_text(text, encoding="utf-8")
    assert list(read_ids_file(path)) == ids
    check_ids_file(path)  # the up-front check accepts what the walk reads


def test_a_bad_csv_row_is_named_by_its_line(tmp_path: Path) -> None:
    """A bad row of an ids CSV is named by its line in the file, multi-line cells counted."""
    path = tmp_path / "chosen.csv"
    path.write_text('image_id,name\n11,"two\nlines"\nx12,y\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"chosen.csv: line 4: 'x12' is not an image id"):
        check_ids_file(path)
    path.write_text("name,image_id\nonly-a-name\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"line 2: no image_id field"):
        list(read_ids_file(path))


@pytest.mark.parametrize("line", ["9762957 9762958", "9762957;9762958", "9762957,\t9762958"])
def test_a_line_of_several_ids_says_one_a_line(tmp_path: Path, line: str) -> None:
    """A line of several ids (a row pasted, a list typed) is named as several ids, with a
    hint of one id a line; the up-front check and the walk say the same."""
    path = tmp_path / "ids.txt"
    path.write_text(f"9762950\n{line}\n", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        check_ids_file(path)
    assert str(caught.value) == f"{path}: line 2: {line!r} is not one image id but several"
    assert (caught.value.hint or "").startswith("an ids file takes one image id a line")
    assert _verdict(check_ids_file, path) == _verdict(_walk_reading, path)


def test_a_header_without_an_id_column_is_still_a_junk_line(tmp_path: Path) -> None:
    """A header without an image_id column is a junk line, named as line 1."""
    path = tmp_path / "chosen.csv"
    path.write_text("id,name\n11,a\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"line 1: 'id,name' is not an image id"):
        check_ids_file(path)


@pytest.mark.parametrize("header", ["image_name,plate_id\n", "name\tplate\n", "Name;Plate\n"])
def test_a_header_without_an_id_column_says_which_column_is_needed(
    tmp_path: Path, header: str
) -> None:
    """An index.csv cut without its image_id column: the hint names the column, not "one
    positive integer a line", which reads as if CSVs were not accepted at all."""
    path = tmp_path / "chosen.csv"
    path.write_text(header + "a,1\n", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        check_ids_file(path)
    assert "is not an image id" in str(caught.value)
    assert "image_id column" in (caught.value.hint or "")


#: The first bytes of files a list of ids is often kept in instead of text: an .xlsx
#: (a zip archive), an .xls (OLE2), Excel's "Unicode Text" (UTF-16, a BOM then NULs).
NOT_TEXT = {
    "ids.xlsx": b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00b\xee\x9dh^\x01\n[Content",
    "ids.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00\x00\x00\n\x00",
    "ids.txt": "9762957\r\n9762958\r\n".encode("utf-16"),
}


@pytest.mark.parametrize("name", sorted(NOT_TEXT))
def test_a_workbook_or_utf16_file_is_named_as_no_text_file(tmp_path: Path, name: str) -> None:
    """A spreadsheet or UTF-16 file is refused as no text file, with a hint saying how to
    save the ids so they can be read; its first line's bytes are not shown as an id."""
    path = tmp_path / name
    path.write_bytes(NOT_TEXT[name])
    with pytest.raises(UsageError) as caught:
        check_ids_file(path)
    assert str(caught.value) == (
        f"{path} is not a text file (its first line holds NUL bytes: a spreadsheet workbook, "
        ".xlsx .xls or .ods, or UTF-16 text?)"
    )
    assert caught.value.hint == (
        "save the sheet as CSV UTF-8 with an image_id column (or 'Image ID'), or as plain "
        "text with one image id a line, and give that file"
    )
    assert _verdict(check_ids_file, path) == _verdict(_walk_reading, path)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_text_with_a_blank_first_row_is_named_as_no_text_file(
    tmp_path: Path, encoding: str
) -> None:
    """Excel's "Unicode Text" of a sheet whose first row is blank: its first line is the
    byte order mark alone (no NUL in it, little-endian), which read as a junk id '��'."""
    path = tmp_path / "ids.txt"
    path.write_bytes("\ufeff\r\n9762957\r\n".encode(encoding))
    with pytest.raises(UsageError) as caught:
        check_ids_file(path)
    assert str(caught.value).startswith(f"{path} is not a text file (")
    assert "is not an image id" not in str(caught.value)
    assert (caught.value.hint or "").startswith("save the sheet as CSV UTF-8")
    assert _verdict(check_ids_file, path) == _verdict(_walk_reading, path)


@pytest.mark.parametrize(
    ("line", "error", "hint"),
    [
        (
            "1..0",
            "'1..0' is not a range of ids (FIRST-LAST, from 1, FIRST not above LAST): it names "
            "no id (ids start at 1)",
            "a range line is FIRST-LAST",
        ),
        (
            "1,5..3",
            "'5..3' is not a range of ids (FIRST-LAST, from 1, FIRST not above LAST): it runs "
            "backwards: give it as 3-5",
            "a range line is FIRST-LAST",
        ),
        ("1..5", "'1..5' is not a range harvester reads: give it as FIRST-LAST, 1-5", "a range"),
        ("1,5..7", "'1,5..7' is not one image id but several", "an ids file takes one image id"),
    ],
)
def test_a_range_line_is_refused_in_the_flags_words(
    tmp_path: Path, line: str, error: str, hint: str
) -> None:
    """A line ``1..0`` or ``1,5..3`` is refused as ``--image`` refuses it (the range that
    names no id, the bad item of a list named alone), not "not an image id"; the up-front
    check and the walk say the same, and the file is left as it was."""
    path = tmp_path / "ids.txt"
    path.write_text(f"9762950\n{line}\n", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        check_ids_file(path)
    assert str(caught.value) == f"{path}: line 2: {error}"
    assert (caught.value.hint or "").startswith(hint)
    assert _verdict(check_ids_file, path) == _verdict(_walk_reading, path)
    assert path.read_text(encoding="utf-8") == f"9762950\n{line}\n"
