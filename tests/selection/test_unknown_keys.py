"""A misspelt --where or --label-key key warns, naming the key and the nearest known one.

Found by a new-user walkthrough: ``--where Phenotyp~mitotic`` selected nothing and
``--label-key Phenotyp`` gave an index without labels, both with exit 0 and no word on
stderr. These tests run the command line against the demo emulator over loopback sockets
and check the warning text, the exit code (still 0: a warning, not a failure) and what
index.csv / labels.csv hold.
"""

from __future__ import annotations

import csv
from pathlib import Path

from selection_helpers import DEMO_IMAGES_IN_SCREEN, DEMO_SCREEN, index_rows, run_cli

from harvester.emulator import EmulatorThread
from harvester.models import ImageRef
from harvester.select import KeyCensus, unknown_label_keys, unknown_where_keys
from harvester.selection import parse_condition

#: Two images of the demo screen (screen images carry their well's labels here too).
SOME_IMAGES = ("9762885", "9762886")


def harvest_cli(emulator: EmulatorThread, out: Path, *args: str) -> tuple[int, str, str]:
    """``harvester harvest`` of thumbnails into ``out``; (exit code, stdout, stderr)."""
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none",
        "--artifacts", "thumbnail", *args,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("WARNING")]


def labels_table(out: Path) -> list[list[str]]:
    with (out / "labels.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_misspelt_where_key_warns_and_suggests(emulator: EmulatorThread, tmp_path: Path) -> None:
    """--where Phenotyp~mitotic: one warning naming the key, 'did you mean', exit 0, 0 rows."""
    out = tmp_path / "typo"
    code, stdout, stderr = harvest_cli(
        emulator, out, "--screen", str(DEMO_SCREEN), "--where", "Phenotyp~mitotic"
    )
    assert code == 0, stderr
    assert warnings(stderr) == [
        "WARNING harvester.problems: --where key 'Phenotyp' (Phenotyp~mitotic) is on none of the"
        " 80 walked images, so no image matches it; did you mean 'Phenotype'?"
    ]
    assert "selected 0 of 80 walked images" in stdout
    assert index_rows(out) == []
    assert emulator.stats()["image_requests"] == 0


def test_misspelt_exclusion_key_warns_that_it_excludes_nothing(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--where 'Gene Symbl!=PLK1' keeps every image: the warning says so (case kept as typed)."""
    out = tmp_path / "keep-all"
    code, _stdout, stderr = harvest_cli(
        emulator, out, "--screen", str(DEMO_SCREEN), "--where", "gene symbl!=PLK1"
    )
    assert code == 0, stderr
    assert warnings(stderr) == [
        "WARNING harvester.problems: --where key 'gene symbl' (gene symbl!=PLK1) is on none of"
        " the 80 walked images, so it excludes no image; did you mean 'Gene Symbol'?"
    ]
    assert len(index_rows(out)) == DEMO_IMAGES_IN_SCREEN


def test_correct_keys_in_any_case_give_no_warning(emulator: EmulatorThread, tmp_path: Path) -> None:
    """Keys compare as the selection compares them (case-insensitive, trimmed): no warning."""
    out = tmp_path / "right"
    code, stdout, stderr = harvest_cli(
        emulator, out, "--screen", str(DEMO_SCREEN),
        "--where", " PHENOTYPE ~mitotic", "--where", "Gene Symbol!=PLK1",
        "--label-key", "phenotype", "--label-key", "Gene Symbol",
    )  # fmt: skip
    assert code == 0, stderr
    assert warnings(stderr) == []
    rows = index_rows(out)
    assert rows and all("mitotic" in row["label"] for row in rows)
    assert "selected 20 of 80 walked images" in stdout


def test_unknown_key_with_nothing_close_lists_known_keys(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """No close key: the warning lists a few known keys instead of guessing."""
    code, _stdout, stderr = harvest_cli(
        emulator, tmp_path / "far", "--screen", str(DEMO_SCREEN), "--where", "Xyzzy=1",
        "--dry-run",
    )  # fmt: skip
    assert code == 0, stderr
    (line,) = warnings(stderr)
    assert line.endswith(
        "so no image matches it; known keys: 'Gene Identifier', 'Gene Identifier URL', "
        "'Gene Symbol', 'Phenotype', 'Phenotype Term Accession' and 2 more"
    )
    assert emulator.stats()["image_requests"] == 0  # a dry run warns too, and fetches nothing


def test_misspelt_label_key_warns_on_harvest_and_on_index(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--label-key Phenotyp: a warning, exit 0, empty labels.csv, and the key not kept for
    later index writes (as `harvester index` keeps none): `harvester index` then writes no
    label columns, and the right key (no warning) fills the labels."""
    out = tmp_path / "labels"
    code, _stdout, stderr = harvest_cli(
        emulator, out, "--screen", str(DEMO_SCREEN), "--label-key", "Phenotyp"
    )
    assert code == 0, stderr
    expected = (
        f"WARNING harvester.problems: label key 'Phenotyp' is on none of the 80 images in "
        f"{out / 'index.csv'}, so every label is empty; did you mean 'Phenotype'?"
    )
    assert warnings(stderr) == [
        expected,
        f"WARNING harvester.problems: label key 'Phenotyp' not recorded in "
        f"{out / 'label_keys.json'}, as no image has them: later index writes keep no label "
        "columns",
    ]
    assert labels_table(out) == [["label", "label_id", "images"]]
    assert {row["label"] for row in index_rows(out)} == {""}

    again = run_cli("index", str(out))  # no key kept: the typo is not the folder's key
    assert again.returncode == 0, again.stderr
    assert "Phenotyp'" not in again.stderr
    assert "label" not in index_rows(out)[0] and not (out / "labels.csv").exists()

    fixed = run_cli("index", str(out), "--label-key", "Phenotype")
    assert fixed.returncode == 0, fixed.stderr
    assert warnings(fixed.stderr) == []
    assert len(labels_table(out)) > 2
    assert any(row["label"] for row in index_rows(out))  # (some demo wells have no phenotype)


def test_dry_run_warns_of_a_misspelt_label_key_and_not_without_labels(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A dry run is where a selection is tried out: a misspelt --label-key is named there
    too, before anything is fetched; a --no-labels dry run fetches no labels, so it says
    nothing about keys."""
    out = tmp_path / "dry"
    args = ("--screen", str(DEMO_SCREEN), "--label-key", "Phenotyp", "--dry-run")
    code, _stdout, stderr = harvest_cli(emulator, out, *args)
    assert code == 0, stderr
    (line,) = warnings(stderr)
    assert "label key 'Phenotyp'" in line and "did you mean 'Phenotype'?" in line
    assert emulator.stats()["image_requests"] == 0 and not out.exists()
    code, _stdout, stderr = harvest_cli(emulator, out, *args, "--no-labels")
    assert code == 0, stderr
    assert warnings(stderr) == []


def test_labels_never_fetched_are_not_called_a_missing_key(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--no-labels: the key is not claimed missing (one line says the labels were not
    fetched); the next run with labels fetches them and the same key gives no warning."""
    out = tmp_path / "unasked"
    images = [arg for image in SOME_IMAGES for arg in ("--image", image)]
    code, _stdout, stderr = harvest_cli(
        emulator, out, *images, "--no-labels", "--label-key", "Gene Symbol"
    )
    assert code == 0, stderr
    assert "is on none" not in stderr
    assert warnings(stderr) == [
        "WARNING harvester.problems: label key 'Gene Symbol': the labels of the 2 images in "
        f"{out / 'index.csv'} were never fetched (--no-labels), so the label column is empty "
        "until a run with labels fetches them"
    ]

    code, _stdout, stderr = harvest_cli(emulator, out, *images, "--label-key", "Gene Symbol")
    assert code == 0, stderr
    assert warnings(stderr) == []
    assert [row["label"] for row in index_rows(out)] == ["ECT2", "NEAT1"]


def test_shards_warn_of_where_keys_and_index_of_label_keys(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Under a selection every shard walks everything, so each names the misspelt --where key;
    the label column is made by `harvester index`, which names the misspelt label key."""
    out = tmp_path / "shards"
    for shard in ("0/2", "1/2"):
        code, stdout, stderr = harvest_cli(
            emulator, out, "--screen", str(DEMO_SCREEN), "--shard", shard,
            "--where", "Gene Symbol!=PLK1", "--where", "Phenotyp~mitotic",
            "--label-key", "Gene Symbl",
        )  # fmt: skip
        assert code == 0, stderr
        assert [line.split(": ", 1)[1][:30] for line in warnings(stderr)] == [
            "--where key 'Phenotyp' (Phenot"
        ]
    result = run_cli("index", str(out), "--label-key", "Gene Symbl")
    assert result.returncode == 0, result.stderr
    # Nothing was selected, so no image is in the index and no key can be judged.
    assert warnings(result.stderr) == []

    for shard in ("0/2", "1/2"):
        code, _stdout, stderr = harvest_cli(
            emulator, out, "--screen", str(DEMO_SCREEN), "--shard", shard,
            "--where", "Phenotype~mitotic", "--label-key", "Gene Symbl",
        )  # fmt: skip
        assert code == 0, stderr
        assert warnings(stderr) == []  # the label column is not made by a shard
    result = run_cli("index", str(out))
    assert result.returncode == 0, result.stderr
    assert [line.split("; ", 1)[1] for line in warnings(result.stderr)] == [
        "did you mean 'Gene Symbol'?"
    ]
    assert len(index_rows(out)) == 23


def test_plan_warns_and_quiet_still_names_the_key(emulator: EmulatorThread, tmp_path: Path) -> None:
    """`harvester plan --where` warns as a harvest does; --quiet ("problems only") still
    names a misspelt key (an empty training set is the user's problem to fix) while it hides
    the run's other warnings; the exit code is 0 either way."""
    plan = run_cli(
        "plan", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN),
        "--out", str(tmp_path / "plan"), "--where", "Phenotyp~mitotic",
        "--rate", "none",  # (its walk took 5 s at the default 10/s)
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    assert [line.split("; ")[-1] for line in warnings(plan.stderr)] == ["did you mean 'Phenotype'?"]
    assert "selected 0 of 80 walked images" in plan.stdout

    code, _stdout, stderr = harvest_cli(
        emulator, tmp_path / "quiet", "--screen", str(DEMO_SCREEN), "--quiet",
        "--where", "Phenotyp~mitotic",
    )  # fmt: skip
    assert code == 0
    assert [line.split("; ")[-1] for line in stderr.splitlines()] == ["did you mean 'Phenotype'?"]


def _ref(image_id: int, labels: tuple[tuple[str, str], ...]) -> ImageRef:
    return ImageRef(image_id, labels=labels)


def test_census_counts_shared_labels_once_and_skips_unasked() -> None:
    """Refs sharing one labels tuple are counted, not re-read; unasked images do not count."""
    well = (("Gene Symbol", "CDK1"), ("Phenotype", "mitotic"))
    census = KeyCensus(["phenotyp", "gene symbol"], unasked={3})
    for ref in (_ref(1, well), _ref(2, well), _ref(3, ()), _ref(4, ())):
        census.see(ref)
    assert (census.images, census.unasked) == (3, 1)
    assert census.missing() == ["phenotyp"]
    assert census.hint("phenotyp") == "did you mean 'Phenotype'?"
    (line,) = unknown_label_keys(census, ("image", "images"))
    assert "its part of every label is empty" in line
    assert "(the labels of 1 more were never fetched)" in line


def test_where_key_with_both_kinds_of_terms_is_one_line() -> None:
    """Two terms on one misspelt key: one line naming both; a positive term decides the effect."""
    where = [parse_condition("Phenotyp~mitotic"), parse_condition("phenotyp!=x")]
    census = KeyCensus(c.key for c in where)
    census.see(_ref(1, ()))
    walked = ("walked image", "walked images")
    assert unknown_where_keys(where, census, walked) == [
        "--where key 'Phenotyp' (Phenotyp~mitotic, phenotyp!=x) is not on the only"
        " walked image, so no image matches it; these images have no annotations at all"
    ]
    assert unknown_where_keys(where, KeyCensus(c.key for c in where), walked) == []


def test_misspelt_keys_on_a_single_image_read_as_a_sentence(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """With one image walked the warnings say 'is not on the only walked image', not 'is on
    none of the 1 walked image'; the exit code is still 0."""
    code, _out, err = harvest_cli(
        emulator, tmp_path / "one", "--image", SOME_IMAGES[0], "--where", "Phenotyp~mitotic"
    )
    assert code == 0, err
    assert warnings(err)[0] == (
        "WARNING harvester.problems: --where key 'Phenotyp' (Phenotyp~mitotic) is not on the"
        " only walked image, so no image matches it; did you mean 'Phenotype'?"
    )
    assert "none of the 1" not in err


def test_a_key_naming_a_column_harvester_writes_says_so(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Found by an ML-engineer walkthrough: `--where 'label=mitotic arrest'` (index.csv's
    `label` column) or `--sample-per label` selected nothing with only "known keys: ...", as
    for a typo. The warning says the column is harvester's, written after the selection, and
    what to give instead; exit 0, no image fetched."""
    known = (
        "(known keys: 'Gene Identifier', 'Gene Identifier URL', 'Gene Symbol', 'Phenotype',"
        " 'Phenotype Term Accession' and 2 more)"
    )
    out = tmp_path / "label"
    code, stdout, stderr = harvest_cli(
        emulator, out, "--screen", str(DEMO_SCREEN), "--label-key", "Phenotype",
        "--where", "label=mitotic arrest",
    )  # fmt: skip
    assert code == 0, stderr
    assert warnings(stderr)[0] == (
        "WARNING harvester.problems: --where key 'label' (label=mitotic arrest) is on none of"
        " the 80 walked images, so no image matches it; 'label' is a column harvester writes"
        " into index.csv (the values of the --label-key keys) after the selection, no"
        f" annotation of the images: give the annotation key it is made of {known}"
    )
    assert "selected 0 of 80 walked images" in stdout and index_rows(out) == []
    assert emulator.stats()["image_requests"] == 0
    code, _stdout, stderr = harvest_cli(
        emulator, tmp_path / "per", "--screen", str(DEMO_SCREEN), "--sample", "2",
        "--sample-per", "label",
    )  # fmt: skip
    assert code == 0
    assert (
        "WARNING harvester.problems: --sample-per key 'label' is on none of the 80 walked"
        " images, so no image has a class and none is sampled; 'label' is a column harvester"
        " writes into index.csv (the values of the --label-key keys) after the selection, no"
        f" annotation of the images: give the annotation key it is made of {known}"
    ) in warnings(stderr)
    code, _stdout, stderr = harvest_cli(
        emulator, tmp_path / "split", "--screen", str(DEMO_SCREEN), "--where", "Split=train"
    )
    assert code == 0
    assert warnings(stderr) == [
        "WARNING harvester.problems: --where key 'Split' (Split=train) is on none of the 80"
        " walked images, so no image matches it; 'Split' is a column harvester writes into"
        " index.csv (the --split drawn) after the selection, no annotation of the images: keep"
        f" a split by its rows of index.csv when loading {known}"
    ]
