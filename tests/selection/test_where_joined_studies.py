"""The "values joined" warning of a ``--where`` value holding ``;`` is said only where the
run's own images lack the value, and says nothing that may be untrue.

A study may hold ``increased DNA area;mitotic delay`` as one value, where another holds the
two values on their own. A list of terms run over both studies is no slip where it reads
both (the value is there: no line), and where it reads only the other one, the line said
"it is 2 values of the key joined", which was untrue. Over the demo emulator, whose project
51 here carries the value as one, beside screen 2302's two values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from selection_helpers import DEMO_SCREEN, run_cli

from harvester.emulator import EmulatorThread
from harvester.emulator.app import build_app
from harvester.emulator.catalogue import MapAnn
from harvester.models import ImageRef
from harvester.select import KeyCensus, ValueCensus
from harvester.selection import parse_where

JOINED = "increased DNA area;mitotic delay"
PROJECT = 51
#: A list of terms meant for two studies: the second is one value of the project's images.
WHERE = ("--where", "Phenotype=mitotic arrest", "--where", f"Phenotype={JOINED}")


@pytest.fixture
def two_studies() -> Iterator[EmulatorThread]:
    """The demo emulator whose project images hold ``Phenotype`` = :data:`JOINED`, one value."""
    app = build_app("demo")
    catalogue = app.site.catalogue
    annotations = catalogue.image_annotations

    def project_value(image_id: int) -> list[MapAnn]:
        found = annotations(image_id)
        located = catalogue.locate(image_id)
        if not found or located is None or located.project is None:
            return found
        return [replace(found[0], values=(("Phenotype", JOINED),))]

    catalogue.image_annotations = project_value  # type: ignore[method-assign]
    with EmulatorThread(app=app) as emu:
        yield emu


def dry_run(emu: EmulatorThread, out: Path, *targets: str) -> tuple[str, list[str]]:
    """``harvester harvest --dry-run`` of ``targets`` with :data:`WHERE`: stdout, warnings."""
    result = run_cli(
        "harvest", "--base-url", emu.base_url, "--out", str(out), "--rate", "none",
        "--dry-run", *targets, *WHERE,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout, [line for line in result.stderr.splitlines() if "WARNING" in line]


def test_a_value_of_one_study_is_no_slip_where_the_run_reads_it(
    two_studies: EmulatorThread, tmp_path: Path
) -> None:
    """Both studies walked: the project's 8 images match the value, no line; the screen
    alone: the line says the value reads as two values joined, not that it is."""
    project = ("--project", str(PROJECT))
    stdout, lines = dry_run(two_studies, tmp_path / "both", "--screen", str(DEMO_SCREEN), *project)
    assert "selected 21 of 88 walked images" in stdout  # (13 of the screen, 8 of the project)
    assert lines == []
    stdout, lines = dry_run(two_studies, tmp_path / "screen", "--screen", str(DEMO_SCREEN))
    assert "selected 13 of 80 walked images" in stdout
    (line,) = lines
    assert (
        f"no value of key 'Phenotype' on the 80 walked images is '{JOINED}', so this term"
        " matches no image; it reads as 2 values of the key joined, each a value on some of"
        " these images" in line
    )
    assert "it is 2 values" not in line


def test_a_joined_value_there_but_for_case_is_named() -> None:
    """A value with ';' that an image holds but for case is that value misspelt: its
    "did you mean" names it, rather than the two values it would read as."""
    where = parse_where(["Phenotype=mitotic arrest", f"Phenotype={JOINED}"])
    keys, values = KeyCensus(c.key for c in where), ValueCensus(where)
    held = ("mitotic arrest", "increased DNA area", "mitotic delay", JOINED.capitalize())
    for n, value in enumerate(held):
        ref = ImageRef(n, labels=(("Phenotype", value),))
        keys.see(ref)
        values.see(ref.labels)
    (line,) = values.lines(keys, ("image", "images"), matched=1)
    assert line.endswith(f"did you mean 'Phenotype={JOINED.capitalize()}'?")


def test_a_label_of_two_keys_copied_into_a_term_gets_a_term_per_key(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Found by an ML-engineer walkthrough: `mitotic arrest|CDC20`, a class of labels.csv
    of an index labelled by Phenotype and Gene Symbol, copied into `--where 'Phenotype=...'`
    was told "did you mean 'Phenotype=mitotic arrest'", a term that takes every gene's
    images of that phenotype. The line gives a term per key; those select the class."""

    def dry_run_of(out: Path, *where: str) -> tuple[str, list[str]]:
        result = run_cli(
            "harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none",
            "--screen", str(DEMO_SCREEN), "--dry-run", "-q",
            *(arg for term in where for arg in ("--where", term)),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout, [line for line in result.stderr.splitlines() if "WARNING" in line]

    stdout, lines = dry_run_of(tmp_path / "label", "Phenotype=mitotic arrest|CDC20")
    assert "selected 0 of 80 walked images" in stdout
    (line,) = lines
    assert line.endswith(
        "it reads as a label of 2 keys joined by '|', as index.csv's label column writes one of"
        " several --label-key keys ('mitotic arrest' of 'Phenotype', 'CDC20' of 'Gene Symbol'"
        " on an image walked), and a term compares the values of its own key: --where"
        " 'Phenotype=mitotic arrest' --where 'Gene Symbol=CDC20' takes the images with all of"
        " them (terms on different keys must all hold)"
    )
    stdout, lines = dry_run_of(tmp_path / "terms", "Phenotype=mitotic arrest", "Gene Symbol=CDC20")
    # (the class's images: labels.csv of the screen labelled by both keys counts 4)
    assert lines == [] and "selected 4 of 80 walked images" in stdout


def test_a_label_of_two_keys_no_image_holds_together_is_not_read_so() -> None:
    """The parts must be one image's values of two keys: where no image holds both, the
    term is no label of the walk, and its line is the usual one (no terms per key)."""
    where = parse_where(["Phenotype=mitotic arrest|ECT2"])
    keys, values = KeyCensus(c.key for c in where), ValueCensus(where)
    held = (
        (("Phenotype", "mitotic arrest"), ("Gene Symbol", "CDC20")),
        (("Phenotype", "mitotic delay"), ("Gene Symbol", "ECT2")),
    )
    for n, labels in enumerate(held):
        keys.see(ImageRef(n, labels=labels))
        values.see(labels)
    (line,) = values.lines(keys, ("image", "images"), matched=0)
    assert "label of 2 keys" not in line and "did you mean" in line


def test_a_label_of_a_key_of_several_values_gets_a_term_per_key(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Found in review: a class whose phenotype part holds two values
    (`increased DNA area;mitotic delay|KIF18A`, 4 of the demo's 24 classes by Phenotype and
    Gene Symbol) was told "did you mean 'Phenotype=increased DNA area'", every gene's
    images of it. Now each part is read as the values of one key: a term per key for `=`
    (the first value of the key: its others' terms would take either), every value's for
    `!=`; the `=` terms take the class's 3 images (labels.csv counts 3)."""

    def dry_run_of(*where: str) -> tuple[str, list[str]]:
        result = run_cli(
            "harvest", "--base-url", emulator.base_url, "--out", str(tmp_path / "d"),
            "--rate", "none", "--screen", str(DEMO_SCREEN), "--dry-run", "-q",
            *(arg for term in where for arg in ("--where", term)),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout, [line for line in result.stderr.splitlines() if "WARNING" in line]

    label = "increased DNA area;mitotic delay|KIF18A"
    _stdout, (line,) = dry_run_of(f"Phenotype={label}")
    assert "did you mean" not in line
    assert line.endswith(
        "it reads as a label of 2 keys joined by '|', as index.csv's label column writes one of"
        " several --label-key keys ('increased DNA area' of 'Phenotype', 'mitotic delay' of"
        " 'Phenotype', 'KIF18A' of 'Gene Symbol' on an image walked), and a term compares the"
        " values of its own key: --where 'Phenotype=increased DNA area' --where 'Gene"
        " Symbol=KIF18A' takes every image with those values, whatever others it has; to keep"
        " only images with all of them, filter index.csv's label column when loading"
    )
    stdout, lines = dry_run_of("Phenotype=increased DNA area", "Gene Symbol=KIF18A")
    assert lines == [] and "selected 3 of 80 walked images" in stdout
    _stdout, (line,) = dry_run_of(f"Phenotype!={label}")
    assert (
        ": --where 'Phenotype!=increased DNA area' --where 'Phenotype!=mitotic delay' --where"
        " 'Gene Symbol!=KIF18A' excludes every image with any of them" in line
    )


def values_lines(where: list[str], *images: tuple[tuple[str, str], ...]) -> list[str]:
    """The value warnings of ``where`` over images of these labels, none matched."""
    conds = parse_where(where)
    keys, values = KeyCensus(c.key for c in conds), ValueCensus(conds)
    for n, labels in enumerate(images):
        keys.see(ImageRef(n, labels=labels))
        values.see(labels)
    return values.lines(keys, ("image", "images"), matched=0)


def test_no_term_is_suggested_on_a_key_a_term_cannot_name() -> None:
    """Found in review: a part held by a key with '=' (or '~', or ending in '!') was
    suggested as `--where 'Hit=yes=CDC20'`, which compares key 'Hit' with 'yes=CDC20'."""
    (line,) = values_lines(
        ["Phenotype=mitotic arrest|CDC20"],
        (("Phenotype", "mitotic arrest"), ("Hit=yes", "CDC20")),
    )
    assert "label of 2 keys" not in line and "Hit=yes" not in line
    (line,) = values_lines(
        ["Phenotype=mitotic arrest|CDC20"],
        (("Phenotype", "mitotic arrest"), ("Hit=yes", "CDC20"), ("Gene Symbol", "CDC20")),
    )
    assert "--where 'Phenotype=mitotic arrest' --where 'Gene Symbol=CDC20'" in line


def test_a_blank_part_is_no_term() -> None:
    """Found in review: where an image held a blank value, `Phenotype!=mitotic arrest;`
    read as two values joined, and its terms held `--where 'Phenotype!='`, which the command
    line refuses (as the label part of an image without a key, `mitotic arrest|`)."""
    blank = (("Phenotype", "mitotic arrest"), ("Phenotype", ""), ("Gene Symbol", ""))
    for term in ("Phenotype!=mitotic arrest;", "Phenotype=mitotic arrest|"):
        lines = values_lines([term], blank)
        assert not any("'Phenotype!='" in line or "=''" in line for line in lines), lines
        assert not any("joined" in line for line in lines), lines


def test_two_labels_of_two_keys_are_told_their_terms_mix() -> None:
    """Found in review: two classes copied from labels.csv were each told their terms;
    given together, those terms (each key's ORed) also take an image of one class's
    phenotype and the other's gene, a class neither named. The line says so."""
    where = ["Phenotype=mitotic arrest|CDC20", "Phenotype=mitotic delay|BUB1B"]
    images = (
        (("Phenotype", "mitotic arrest"), ("Gene Symbol", "CDC20")),
        (("Phenotype", "mitotic delay"), ("Gene Symbol", "BUB1B")),
    )
    lines = values_lines(where, *images)
    assert len(lines) == 2
    assert all(
        line.endswith(
            "(terms on different keys must all hold); beside another such label's terms they"
            " would also take images mixing the labels (terms on one key take any of its"
            " values): a run per class into DIR keeps the classes apart"
        )
        for line in lines
    ), lines
    (line,) = values_lines(where[:1], *images)
    assert line.endswith("(terms on different keys must all hold)")
