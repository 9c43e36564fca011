"""``--where`` on index.csv's context columns: one field per well, one well of a plate.

Why: the fields of a well are near-duplicates, and users who want one image per well (or
the images of one well, IDR's originals coming only as whole plates) had no way to say so:
``--where field=0`` warned that no image has the key 'field' and selected nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from selection_helpers import harvest_thumbnails as harvest
from selection_helpers import index_rows as rows
from selection_helpers import run_cli, thumbnail_requests
from selection_helpers import thumbnail_ids as thumbnails

from harvester.emulator import EmulatorThread
from harvester.models import ImageRef
from harvester.select import KeyCensus, ValueCensus
from harvester.selection import Selection, parse_where

#: The ``fields`` preset: screen 1101, plates 3001/3002, 12 imaged wells x 3 fields each.
SCREEN = "1101"
PLATE = "3001"


def test_field_zero_keeps_one_image_per_well(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """--where field=0 fetches and indexes exactly the first field of each of the 24 wells,
    and the folder's resume replays the selection without fetching anything again."""
    emu = make_emulator(preset="fields")
    code, _out, err = harvest(emu, tmp_path / "all", "--screen", SCREEN, "-q")
    assert code == 0, err
    every = rows(tmp_path / "all")
    assert len(every) == 72
    firsts = {int(r["image_id"]) for r in every if r["field"] == "0"}
    emu.reset_stats()

    out = tmp_path / "firsts"
    code, stdout, err = harvest(emu, out, "--screen", SCREEN, "--where", "field=0")
    assert code == 0, err
    assert "selected 24 of 72 walked images (where field=0)" in stdout
    index = rows(out)
    assert {int(r["image_id"]) for r in index} == firsts
    assert {r["field"] for r in index} == {"0"}
    assert len({r["well_id"] for r in index}) == 24
    assert thumbnails(out) == firsts
    assert thumbnail_requests(emu) == 24

    code, _out, err = harvest(emu, out, "-q")  # the resume: no target, the saved --where
    assert code == 0, err
    assert thumbnail_requests(emu) == 24
    assert thumbnails(out) == firsts


def test_one_well_of_a_plate(make_emulator: Callable[..., EmulatorThread], tmp_path: Path) -> None:
    """Row and column (0-based, as index.csv has them) pick well A2's three fields alone."""
    emu = make_emulator(preset="fields")
    out = tmp_path / "a2"
    code, _out, err = harvest(
        emu, out, "--plate", PLATE, "--where", "well_row=0", "--where", "Well_Column=1", "-q"
    )
    assert code == 0, err
    index = rows(out)
    assert sorted(r["field"] for r in index) == ["0", "1", "2"]
    assert {(r["plate_id"], r["well_row"], r["well_column"]) for r in index} == {(PLATE, "0", "1")}
    assert all("[Well A-2;" in r["image_name"] for r in index)
    assert thumbnails(out) == {int(r["image_id"]) for r in index}


def test_a_value_no_image_has_lists_the_values_there(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """field=7 (only 3 fields a well) selects none, exit 0, and the warning names 0, 1, 2
    (it said that no image has a key 'field')."""
    emu = make_emulator(preset="fields")
    code, stdout, err = harvest(
        emu, tmp_path / "x", "--screen", SCREEN, "--where", "field=7", "--dry-run"
    )
    assert code == 0, err
    assert "selected 0 of 72 walked images" in stdout
    warnings = [line for line in err.splitlines() if line.startswith("WARNING")]
    assert warnings == [
        "WARNING harvester.problems: --where 'field=7': no value of key 'field' on the 72"
        " walked images is '7', so this term matches no image; the values of 'field' there:"
        " 0, 1, 2"
    ]


def test_a_misspelt_column_is_named_as_the_column_meant(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """--where well_colum=1 selects none, exit 0, and its warning names the column meant
    (it listed annotation keys); the column's term then selects column 1's fields."""
    emu = make_emulator(preset="fields")
    code, stdout, err = harvest(
        emu, tmp_path / "x", "--plate", PLATE, "--where", "well_colum=1", "--dry-run"
    )
    assert code == 0, err
    assert "selected 0 of 36 walked images" in stdout
    warnings = [line for line in err.splitlines() if line.startswith("WARNING")]
    assert warnings == [
        "WARNING harvester.problems: --where key 'well_colum' (well_colum=1) is on none of the"
        " 36 walked images, so no image matches it; did you mean 'well_column', a column of"
        " index.csv's context?"
    ]
    code, _out, err = harvest(emu, tmp_path / "y", "--plate", PLATE, "--where", "well_column=1")
    assert code == 0, err
    assert {r["well_column"] for r in rows(tmp_path / "y")} == {"1"}


def test_plain_words_for_columns_are_told_the_terms_meant(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """--where well=B3, row=B, column=3, plate=3001 and --sample-per well are each told the
    column terms they mean (they listed annotation keys); the terms told for well A2 are
    those test_one_well_of_a_plate selects its fields with."""
    emu = make_emulator(preset="fields")
    told = {}
    for term in ("well=A2", "row=B", "column=3", "plate=3001", "well!=B3"):
        flags = ("--plate", PLATE, "--where", term, "--dry-run")
        code, _out, err = harvest(emu, tmp_path / "x", *flags)
        assert code == 0, err
        told[term] = [line.split("; ", 1)[1] for line in err.splitlines() if "WARNING" in line]
    assert told == {
        "well=A2": [
            "did you mean 'well_row=0' and 'well_column=1' (well A2; index.csv's well_row and"
            " well_column count from 0)?"
        ],
        "row=B": ["did you mean 'well_row=1' (row B; index.csv's well_row counts from 0)?"],
        "column=3": [
            "did you mean 'well_column=2' (a plate's column 3; index.csv's well_column counts"
            " from 0)?"
        ],
        "plate=3001": ["did you mean 'plate_id=3001', a column of index.csv's context?"],
        "well!=B3": [
            "did you mean 'well_id!=ID' with well B3's id in index.csv ('well_row=1' and"
            " 'well_column=2' there: two '!=' terms on those would leave out its whole row and"
            " its whole column)?"
        ],
    }
    code, _out, err = harvest(
        emu, tmp_path / "x", "--plate", PLATE, "--sample-per", "well", "--sample", "1", "--dry-run"
    )
    assert code == 0, err
    assert err.splitlines()[-1].endswith(
        "none is sampled; did you mean 'well_id', a column of index.csv's context?"
    )


def test_context_terms_need_no_labels(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """--no-labels is refused beside an annotation term (exit 2) but not beside field=0."""
    emu = make_emulator(preset="fields")
    code, _out, err = harvest(
        emu, tmp_path / "n", "--screen", SCREEN, "--where", "field=0", "--no-labels", "-q"
    )
    assert code == 0, err
    assert len(rows(tmp_path / "n")) == 24
    code, _out, err = harvest(
        emu, tmp_path / "m", "--screen", SCREEN, "--where", "Phenotype~cell", "--no-labels"
    )
    assert code == 2
    assert err.splitlines()[0] == "error: --where: selecting by annotation needs labels"


def test_label_prefix_and_images_without_the_column() -> None:
    """'label:field' names an annotation called field (its index.csv column); an image
    without a field (a project's) fails field=0 and passes field!=0."""
    ref = ImageRef(7, field=2, labels=(("field", "x"), ("Gene Symbol", "ECT2")))
    project_image = ImageRef(8, dataset_id=51, labels=(("Gene Symbol", "ECT2"),))

    def admits(term: str, image: ImageRef) -> bool:
        return Selection(where=parse_where([term])).admits(image)

    assert admits("field=2", ref)
    assert not admits("field=x", ref)
    assert admits("label:field=x", ref)
    assert not admits("label:field=2", ref)
    assert not admits("field=0", project_image)
    assert admits("field!=0", project_image)
    assert admits("dataset_id=51", project_image)
    assert admits("Gene Symbol=ECT2", project_image)


def test_a_context_term_on_images_given_by_id_is_refused(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """--ids-from an index.csv's rows with --where field=0: one error line, exit 2, no folder
    and no image request (it selected none, exit 0); an image_id term still selects."""
    emu = make_emulator(preset="fields")
    code, _out, err = harvest(emu, tmp_path / "all", "--plate", PLATE, "-q")
    assert code == 0, err
    ids = tmp_path / "rows.csv"
    with (tmp_path / "all" / "index.csv").open(newline="") as f:
        ids.write_text("".join(f.readlines()[:7]))  # the header and the first 6 rows
    emu.reset_stats()

    out = tmp_path / "by-id"
    code, _out, err = harvest(emu, out, "--ids-from", str(ids), "--where", "field=0")
    assert code == 2
    assert err.splitlines()[0].startswith(
        "error: --where: 'field' is a column of the walk's context, which images given by id"
    )
    assert err.splitlines()[1].startswith("hint: give their plate, screen or dataset instead")
    assert len(err.splitlines()) == 2
    assert not out.exists()
    assert emu.stats()["by_route"] == {}

    first = rows(tmp_path / "all")[0]["image_id"]
    code, _out, err = harvest(emu, out, "--ids-from", str(ids), "--where", f"image_id={first}")
    assert code == 0, err
    assert thumbnails(out) == {int(first)}


def test_the_values_named_may_be_names_of_unicode_digits() -> None:
    """A name column's values listed for a term that matched none, when one of them is a
    superscript digit ('²', a digit to str.isdigit that int() refuses): a warning, not a
    ValueError out of the run."""
    where = parse_where(["image_name=x"])
    keys, values = KeyCensus(c.key for c in where), ValueCensus(where)
    selection = Selection(where=where)
    for n, name in enumerate(("10", "²", "9", "b")):
        ref = ImageRef(n + 1, image_name=name, dataset_id=5)
        labels = selection.where_labels(ref)
        keys.see(ref, labels)
        values.see(labels)
    assert values.lines(keys, ("image", "images"), matched=0) == [
        "--where 'image_name=x': no value of key 'image_name' on the 4 images is 'x', so this"
        " term matches no image; the values of 'image_name' there: 9, 10, b, ²"
    ]


def test_images_given_by_id_beside_a_walk_are_said_to_lack_the_column(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """--plate 3002 beside --ids-from of plate 3001's images, --where field=0: plate 3002's
    first fields are harvested, and one warning says the 6 images given by id were judged
    without a field (they were left out unsaid); with field!=0 it says they were kept."""
    emu = make_emulator(preset="fields")
    code, _out, err = harvest(emu, tmp_path / "all", "--plate", PLATE, "-q")
    assert code == 0, err
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{r['image_id']}\n" for r in rows(tmp_path / "all")[:6]))

    out = tmp_path / "mixed"
    code, stdout, err = harvest(
        emu, out, "--plate", "3002", "--ids-from", str(ids), "--where", "field=0"
    )
    assert code == 0, err
    assert "selected 12 of 42 walked images (where field=0)" in stdout
    assert {(r["plate_id"], r["field"]) for r in rows(out)} == {("3002", "0")}
    warnings = [line for line in err.splitlines() if line.startswith("WARNING")]
    assert warnings == [
        "WARNING harvester.problems: --where: 6 images given by id (--image, --ids-from) had"
        " no 'field' when selected (no walk placed them), judged as without it: 6 left out;"
        " give their plate, screen or dataset instead"
    ]
    code, _out, err = harvest(
        emu, tmp_path / "n", "--plate", "3002", "--ids-from", str(ids), "--where", "field!=0",
        "--dry-run",
    )  # fmt: skip
    assert code == 0, err
    assert "judged as without it: 6 kept;" in err


def test_a_term_on_a_column_of_one_value_an_image_keeps_few_values() -> None:
    """--where image_id=N on 20,000 walked images none of which is N: the census keeps a
    bounded number of ids for its warning (it kept all, some 150 MB per 1,000,000 images),
    and the warning lists the smallest kept, then 'and more'."""
    import tracemalloc

    where = parse_where(["image_id=1"])
    selection = Selection(where=where)
    keys, values = KeyCensus(c.key for c in where), ValueCensus(where)
    tracemalloc.start()
    try:
        for image_id in range(2, 20_002):
            ref = ImageRef(image_id, plate_id=5)
            labels = selection.where_labels(ref)
            keys.see(ref, labels)
            values.see(labels)
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 1_000_000  # (all 20,000 ids: about 3 MB)
    assert values.lines(keys, ("image", "images"), matched=0) == [
        "--where 'image_id=1': no value of key 'image_id' on the 20000 images is '1', so this"
        " term matches no image; the values of 'image_id' there: 2, 3, 4, 5, 6, 7, 8, 9, 10,"
        " 11 and more"
    ]


def test_a_plan_of_ids_selected_by_a_column_says_why_once(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """A plan made from an ids file, harvested with --where field=0: no image, exit 0, and
    the one --where warning says the images were given by id (it also said 'field' was on
    none of them, listing annotation keys, and the terms matched none)."""
    emu = make_emulator(preset="fields")
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{2100001 + n}\n" for n in range(6)))
    out = tmp_path / "P"
    result = run_cli(
        "plan", "--base-url", emu.base_url, "--out", str(out), "--ids-from", str(ids),
        "--artifacts", "thumbnail", "-q",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    code, stdout, err = harvest(emu, out, "--from-plan", str(out), "--where", "field=0")
    assert code == 0, err
    assert "selected 0 of 6 walked images (where field=0)" in stdout
    where_lines = [line for line in err.splitlines() if "--where" in line]
    assert where_lines == [
        "WARNING harvester.problems: --where: 6 images given by id (--image, --ids-from) had"
        " no 'field' when selected (no walk placed them), judged as without it: 6 left out;"
        " give their plate, screen or dataset instead"
    ]
    assert thumbnails(out) == set()
