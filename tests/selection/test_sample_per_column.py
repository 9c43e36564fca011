"""``--sample-per`` on index.csv's context columns: one random field per well.

Why: ``--plate P --sample-per well_id --sample 1`` (what ML users want, the fields of a
well being near-duplicates) warned that no image has the key 'well_id' and sampled nothing:
``--sample-per`` read annotation keys only, while ``--where`` reads the columns too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from selection_helpers import harvest_thumbnails as harvest
from selection_helpers import index_rows as rows
from selection_helpers import thumbnail_ids as thumbnails
from selection_helpers import thumbnail_requests

from harvester.emulator import EmulatorThread
from harvester.models import ImageRef
from harvester.select import BottomNPerClass, sample_key, select_refs
from harvester.selection import Selection, image_hash

#: The ``fields`` preset: plates 3001/3002 of screen 1101, 12 imaged wells x 3 fields each.
PLATE = "3001"


def one_per_well(every: list[dict[str, str]], seed: int) -> set[int]:
    """The expected pick, from the documented hash: each well's smallest (hash, id)."""
    best: dict[str, tuple[int, int]] = {}
    for row in every:
        image = int(row["image_id"])
        rank = (image_hash(seed, image), image)
        best[row["well_id"]] = min(best.get(row["well_id"], rank), rank)
    return {image for _hash, image in best.values()}


def test_one_random_field_per_well_deterministic_and_resumed_unchanged(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """--plate 3001 --sample-per well_id --sample 1 --seed S keeps one field of each of the
    12 wells (the documented hash's pick), the same in a second folder, another set for
    another seed, and a resume fetches nothing more."""
    emu = make_emulator(preset="fields")
    code, _out, err = harvest(emu, tmp_path / "all", "--plate", PLATE, "-q")
    assert code == 0, err
    every = rows(tmp_path / "all")
    assert len(every) == 36
    emu.reset_stats()

    picks = {}
    for seed in ("3", "4"):
        out = tmp_path / f"seed{seed}"
        code, stdout, err = harvest(
            emu, out, "--plate", PLATE, "--sample-per", "well_id", "--sample", "1",
            "--seed", seed,
        )  # fmt: skip
        assert code == 0, err
        assert f"selected 12 of 36 walked images (sample 1 per well_id, seed {seed})" in stdout
        assert not [line for line in err.splitlines() if line.startswith("WARNING")]
        index = rows(out)
        assert len(index) == 12
        assert len({r["well_id"] for r in index}) == 12
        picks[seed] = {int(r["image_id"]) for r in index}
        assert picks[seed] == one_per_well(every, int(seed))
        assert thumbnails(out) == picks[seed]
    assert picks["3"] != picks["4"]
    assert thumbnail_requests(emu) == 24

    again = tmp_path / "again"
    code, _out, err = harvest(
        emu, again, "--plate", PLATE, "--sample-per", "WELL_ID", "--sample", "1", "--seed", "3",
        "-q",
    )  # fmt: skip
    assert code == 0, err
    assert thumbnails(again) == picks["3"]

    code, _out, err = harvest(emu, tmp_path / "seed3", "-q")  # the resume: saved selection
    assert code == 0, err
    assert thumbnail_requests(emu) == 36
    assert {int(r["image_id"]) for r in rows(tmp_path / "seed3")} == picks["3"]


def test_a_column_sample_needs_no_labels_and_adds_no_label_column(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """--no-labels is allowed with --sample-per field (it was refused: 'needs labels'), and the
    index is not labelled by an annotation called 'field' (no such key: an empty column)."""
    emu = make_emulator(preset="fields")
    out = tmp_path / "f"
    code, _out, err = harvest(
        emu, out, "--plate", PLATE, "--sample-per", "field", "--sample", "2", "--no-labels", "-q"
    )
    assert code == 0, err
    index = rows(out)
    assert sorted(r["field"] for r in index) == ["0", "0", "1", "1", "2", "2"]
    assert "label" not in index[0]
    assert not (out / "labels.csv").exists()
    code, _out, err = harvest(
        emu, tmp_path / "m", "--plate", PLATE, "--sample-per", "Phenotype", "--sample", "2",
        "--no-labels",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines()[0] == "error: --sample-per: sampling per class needs labels"


def test_a_column_sample_of_images_given_by_id_is_refused(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """--ids-from with --sample-per well_id: one error line and a hint, exit 2, no folder and
    no request (as --where on a column); beside a plate, the ids' images are said classless."""
    emu = make_emulator(preset="fields")
    code, _out, err = harvest(emu, tmp_path / "all", "--plate", PLATE, "-q")
    assert code == 0, err
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{r['image_id']}\n" for r in rows(tmp_path / "all")[:6]))
    emu.reset_stats()

    out = tmp_path / "by-id"
    code, _out, err = harvest(
        emu, out, "--ids-from", str(ids), "--sample-per", "well_id", "--sample", "1"
    )
    assert code == 2
    lines = err.splitlines()
    assert lines[0].startswith(
        "error: --sample-per: 'well_id' is a column of the walk's context, which images given by id"
    )
    assert lines[1].startswith("hint: give their plate, screen or dataset instead")
    assert len(lines) == 2
    assert not out.exists()
    assert emu.stats()["by_route"] == {}

    code, stdout, err = harvest(
        emu, tmp_path / "mixed", "--plate", "3002", "--ids-from", str(ids),
        "--sample-per", "well_id", "--sample", "1", "--dry-run",
    )  # fmt: skip
    assert code == 0, err
    assert "selected 12 of 42 walked images" in stdout
    warnings = [line for line in err.splitlines() if line.startswith("WARNING")]
    assert warnings == [
        "WARNING harvester.problems: --sample-per: 6 images given by id (--image, --ids-from)"
        " had no 'well_id' when selected (no walk placed them), so they are in no class and"
        " not sampled; give their plate, screen or dataset instead"
    ]


def test_label_prefix_names_the_annotation_and_the_record_key_tells_them_apart() -> None:
    """'label:field' samples per the annotation called field, 'field' per the column; their
    sample records differ; images without a column value (a project's) are in no class."""
    refs = [
        ImageRef(1, field=0, labels=(("field", "x"),)),
        ImageRef(2, field=1, labels=(("field", "x"),)),
        ImageRef(3, field=1, labels=(("field", "y"),)),
        ImageRef(4, dataset_id=9, labels=(("field", "y"),)),
    ]
    by_column = Selection(sample=5, sample_per="Field")
    by_label = Selection(sample=5, sample_per="label:field")
    column = BottomNPerClass(5, 0, "Field")
    for ref in refs:
        column.offer(ref)
    assert {k: len(v) for k, v in column.classes.items()} == {"0": 1, "1": 2}
    assert column.unclassed == 1
    assert [r.image_id for r in select_refs(refs, by_column)] == [1, 2, 3]
    assert [r.image_id for r in select_refs(refs, by_label)] == [1, 2, 3, 4]
    targets = {"plates": [1]}
    assert sample_key(by_column, targets)["sample_per"] == "column:field"
    assert sample_key(by_label, targets)["sample_per"] == "field"
    assert sample_key(Selection(sample=5, sample_per="Phenotype"), targets)["sample_per"] == (
        "phenotype"
    )


def test_a_column_no_project_image_has_is_said(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """--project 51 --sample-per well_id: a project's images have no well, so one warning
    (under --quiet too) says none has a class and none is sampled, exit 0, nothing fetched."""
    emu = make_emulator()
    out = tmp_path / "p"
    code, _out, err = harvest(
        emu, out, "--project", "51", "--sample-per", "well_id", "--sample", "1", "-q"
    )
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("WARNING")]
    assert warnings == [
        "WARNING harvester.problems: --sample-per 'well_id': the column is empty on the 8"
        " walked images (a project's images have no plate, well or field), so no image has a"
        " class and none is sampled"
    ]
    assert thumbnail_requests(emu) == 0
