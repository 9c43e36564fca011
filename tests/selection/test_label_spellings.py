"""Labels and ``--where`` values spelt several ways (case, spacing), over the ``spellings``
emulator preset and the command line (README "Collecting training data").

The preset's screen 2401 has 12 wells of 4 genes, each gene on 3 wells spelt three ways
(``ECT2``, ``ect2 ``, ``Ect2``; ``increased cell size``, ``increased  cell  size ``,
``Increased Cell Size``): the case and spacing variants of IDR's hand-typed sheets.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from selection_helpers import index_ids, run_cli

from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import SPELLINGS_FIRST_IMAGE_ID, SPELLINGS_SCREEN_ID
from harvester.label_spellings import spelling_groups, warn_spellings
from harvester.select import OtherSpellings, label_of
from harvester.selection import parse_condition

GENE = "Gene Symbol"
SAID = "WARNING harvester.problems: "


@pytest.fixture
def spellings(make_emulator: Callable[..., EmulatorThread]) -> EmulatorThread:
    """The emulator of the ``spellings`` preset."""
    return make_emulator(preset="spellings")


def harvest(emulator: EmulatorThread, out: Path, *flags: str) -> tuple[int, str, list[str]]:
    """A thumbnails harvest of screen 2401: (exit code, stdout, warning lines)."""
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none",
        "--artifacts", "thumbnail", "--screen", str(SPELLINGS_SCREEN_ID), *flags,
    )  # fmt: skip
    return result.returncode, result.stdout, warnings(result.stderr)


def index(out: Path, *flags: str) -> tuple[int, str, list[str]]:
    """``harvester index DIR FLAGS``: (exit code, stdout, warning lines)."""
    result = run_cli("index", str(out), *flags)
    return result.returncode, result.stdout, warnings(result.stderr)


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("WARNING")]


def spelt_lines(lines: list[str]) -> list[str]:
    """The warnings about labels spelt several ways."""
    return [line for line in lines if "spelt several ways" in line]


def labels_table(out: Path) -> list[list[str]]:
    with (out / "labels.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_labels_spelt_several_ways_are_warned_once_per_state(
    spellings: EmulatorThread, tmp_path: Path
) -> None:
    """One warning names the groups at the harvest's index write; a rewrite of the same
    folder says it no more, other label keys (other groups) say it again."""
    out = tmp_path / "out"
    code, _stdout, lines = harvest(spellings, out, "--label-key", GENE)
    assert code == 0, lines
    # Each spelling is a class of its own: 12 labels of 1 image (what the warning is about).
    table = labels_table(out)
    assert table[0] == ["label", "label_id", "images"]
    assert sorted(row[0] for row in table[1:])[:3] == ["BUB1B", "Bub1B", "ECT2"]
    assert len(table) == 13 and {row[2] for row in table[1:]} == {"1"}
    assert spelt_lines(lines) == [
        f"{SAID}4 labels of {out / 'labels.csv'} are spelt several ways (12 spellings that"
        " differ only in case or spacing), each spelling a class of its own with its own"
        " label_id: 'BUB1B' 1 image, 'Bub1B' 1, 'bub1b' 1; 'ECT2' 1 image, 'Ect2' 1, 'ect2' 1;"
        " 'NEAT1' 1 image, 'Neat1' 1, 'neat1' 1; and 1 more label spelt so; harvester does not"
        " merge them (case can be meaning: human CDK5RAP2, mouse Cdk5rap2): to train one as a"
        " single class, map its spellings' label_ids to one in the training code (README:"
        " Collecting training data)"
    ]
    said = json.loads((out / "written.json").read_text())["said"]
    assert "label_spellings" in said

    before = (out / "labels.csv").read_bytes()
    code, _stdout, lines = index(out)
    assert code == 0, lines
    assert spelt_lines(lines) == []  # (said by the harvest's write: the folder is the same)
    assert (out / "labels.csv").read_bytes() == before

    code, _stdout, lines = index(out, "--label-key", "Phenotype")
    assert code == 0, lines
    assert spelt_lines(lines) == [
        f"{SAID}2 labels of {out / 'labels.csv'} are spelt several ways (6 spellings that"
        " differ only in case or spacing), each spelling a class of its own with its own"
        " label_id: 'Increased Cell Size' 1 image, 'increased  cell  size' 1, 'increased cell"
        " size' 1; 'Mitotic Delay' 1 image, 'mitotic  delay' 1, 'mitotic delay' 1; harvester"
        " does not merge them (case can be meaning: human CDK5RAP2, mouse Cdk5rap2): to train"
        " one as a single class, map its spellings' label_ids to one in the training code"
        " (README: Collecting training data)"
    ]


def test_warning_comes_back_after_the_labels_were_dropped(
    spellings: EmulatorThread, tmp_path: Path
) -> None:
    """``--no-label-key`` drops the record with the labels: labelling again warns again."""
    out = tmp_path / "out"
    code, _stdout, lines = harvest(spellings, out, "--label-key", GENE)
    assert code == 0 and len(spelt_lines(lines)) == 1
    code, _stdout, lines = index(out, "--no-label-key")
    assert code == 0 and spelt_lines(lines) == []
    assert not (out / "labels.csv").exists()
    assert "label_spellings" not in json.loads((out / "written.json").read_text()).get("said", {})
    code, _stdout, lines = index(out, "--label-key", GENE)
    assert code == 0 and len(spelt_lines(lines)) == 1


def test_sample_per_a_key_spelt_several_ways_is_warned_once_per_run(
    spellings: EmulatorThread, tmp_path: Path
) -> None:
    """``--sample 2 --sample-per 'Gene Symbol'``: each gene's three spellings are sampled as
    three classes; one line says so where the sample is drawn, in the index warning's
    words, even where the index is labelled by another key; a resume (its replay) says it
    no more; a key whose classes are spelt one way each says nothing."""
    out = tmp_path / "out"
    code, _stdout, lines = harvest(
        spellings, out, "--sample", "2", "--sample-per", GENE, "--label-key", "Phenotype"
    )
    assert code == 0, lines
    assert len(index_ids(out)) == 12  # (12 classes of 1 image: each spelling its own)
    sampled = [line for line in lines if line.startswith(f"{SAID}--sample 2 --sample-per")]
    assert sampled[1:] == [
        f"{SAID}--sample 2 --sample-per 'Gene Symbol': 4 classes are spelt several ways (12"
        " spellings that differ only in case or spacing), each spelling sampled as a class of"
        " its own: 'BUB1B' 1 image, 'Bub1B' 1, 'bub1b' 1; 'ECT2' 1 image, 'Ect2' 1, 'ect2' 1;"
        " 'NEAT1' 1 image, 'Neat1' 1, 'neat1' 1; and 1 more class spelt so; harvester does not"
        " merge them (case can be meaning: human CDK5RAP2, mouse Cdk5rap2): one that is a"
        " single class gets up to 2 images per spelling (README: Collecting training data)"
    ]
    assert "fewer than 2 images" in sampled[0]  # (the short classes' line, said before it)
    # The index is labelled by Phenotype: its own warning names those groups, not genes.
    (index_line,) = [line for line in spelt_lines(lines) if "labels.csv" in line]
    assert "'Increased Cell Size' 1 image" in index_line
    result = run_cli("harvest", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert spelt_lines(warnings(result.stderr)) == []
    code, _stdout, lines = harvest(
        spellings, tmp_path / "wells", "--sample", "1", "--sample-per", "well_id"
    )
    assert code == 0 and spelt_lines(lines) == []


def test_one_spelling_each_is_no_warning(emulator: EmulatorThread, tmp_path: Path) -> None:
    """The demo screen spells each gene one way: its labelled index warns of no spelling."""
    out = tmp_path / "demo"
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none",
        "--artifacts", "thumbnail", "--plate", "7375", "--label-key", GENE,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert spelt_lines(warnings(result.stderr)) == []
    assert len(labels_table(out)) > 2


def test_where_equals_names_the_spellings_it_left_out(
    spellings: EmulatorThread, tmp_path: Path
) -> None:
    """``Gene Symbol=ECT2`` selects its one exact well and names the two others' spellings;
    the terms it suggests select all three, with no warning."""
    code, _stdout, lines = harvest(spellings, tmp_path / "a", "--where", f"{GENE}=ECT2")
    assert code == 0, lines
    assert index_ids(tmp_path / "a") == {SPELLINGS_FIRST_IMAGE_ID}
    assert lines == [
        f"{SAID}--where 'Gene Symbol=ECT2': '=' is exact and case-sensitive, so images whose"
        " 'Gene Symbol' is 'ect2' or 'Ect2' (the same but for case or spacing; 2 walked images"
        " hold them) are left out; to select them too, add --where 'Gene Symbol=ect2' --where"
        " 'Gene Symbol=Ect2'"
    ]
    terms = ["--where", f"{GENE}=ECT2", "--where", f"{GENE}=ect2", "--where", f"{GENE}=Ect2"]
    code, _stdout, lines = harvest(spellings, tmp_path / "b", *terms)
    assert code == 0 and lines == []
    assert index_ids(tmp_path / "b") == {SPELLINGS_FIRST_IMAGE_ID + n for n in range(3)}


def test_where_not_equals_names_the_spellings_it_kept(
    spellings: EmulatorThread, tmp_path: Path
) -> None:
    """``Phenotype!=mitotic delay`` excludes its one exact well and names the spellings of
    the two it kept; with ``Gene Symbol=ECT2`` beside it (those wells left out by the gene)
    there is nothing to say."""
    out = tmp_path / "a"
    code, _stdout, lines = harvest(spellings, out, "--where", "Phenotype!=mitotic delay")
    assert code == 0, lines
    assert len(index_ids(out)) == 11
    assert lines == [
        f"{SAID}--where 'Phenotype!=mitotic delay': '!=' is exact and case-sensitive, so images"
        " whose 'Phenotype' is 'Mitotic Delay' or 'mitotic  delay' (the same but for case or"
        " spacing; 2 walked images hold them) are kept; to exclude them too, add --where"
        " 'Phenotype!=Mitotic Delay' --where 'Phenotype!=mitotic  delay'"
    ]
    code, _stdout, lines = harvest(
        spellings, tmp_path / "b", "--where", f"{GENE}=BUB1B", "--where", f"{GENE}=Bub1B",
        "--where", f"{GENE}=bub1b", "--where", "Phenotype!=mitotic delay",
    )  # fmt: skip
    assert code == 0, lines
    assert len(index_ids(tmp_path / "b")) == 2  # (the exact 'mitotic delay' well excluded)
    assert len(lines) == 1 and "'Phenotype!=mitotic delay'" in lines[0]
    code, _stdout, lines = harvest(
        spellings, tmp_path / "c", "--where", f"{GENE}=ECT2", "--where", "Phenotype!=mitotic delay"
    )
    assert code == 0 and index_ids(tmp_path / "c") == {SPELLINGS_FIRST_IMAGE_ID}
    assert [line for line in lines if "Phenotype!=" in line] == []


def test_a_change_past_the_groups_named_says_the_warning_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The line names three groups; a fourth group's images changing leaves its words as
    they were, yet the folder's state changed: said again (then not again)."""
    counts = {"A": 9, "a": 9, "B": 8, "b": 8, "C": 7, "c": 7, "D": 1, "d": 1}
    labels = tmp_path / "labels.csv"

    def said(counts: dict[str, int]) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="harvester.problems"):
            warn_spellings(tmp_path, counts, labels)
        return [r.getMessage() for r in caplog.records if r.name == "harvester.problems"]

    (first,) = said(counts)
    assert "and 1 more label spelt so" in first and "'D'" not in first
    assert said(counts) == []  # (the same state: said by the write before)
    assert said({**counts, "D": 2}) == [first]  # (the fourth group's counts changed)
    assert said({**counts, "D": 2}) == []


def test_spelling_groups_order() -> None:
    """Groups of two or more spellings, most images first; lone labels are no group."""
    counts = {"ECT2": 5, "ect2": 1, "PLK1": 9, "Mitotic  arrest": 3, "mitotic arrest": 4}
    assert spelling_groups(counts) == [
        [("mitotic arrest", 4), ("Mitotic  arrest", 3)],
        [("ECT2", 5), ("ect2", 1)],
    ]


def test_spelling_groups_of_several_values_sorted_once_folded() -> None:
    """One image's values of a key are sorted by code point in its label, capitals first:
    ``Big;alpha`` and ``Alpha;big`` are one label spelt two ways (and so across keys)."""
    big = label_of((("Phenotype", "Big"), ("Phenotype", "alpha")), ["Phenotype"])
    small = label_of((("Phenotype", "big"), ("Phenotype", "Alpha")), ["Phenotype"])
    assert (big, small) == ("Big;alpha", "Alpha;big")
    counts = {big: 1, small: 2, "ECT2|Big;alpha": 1, "ect2|Alpha;Big": 1, "a;b": 1, "a;c": 1}
    assert spelling_groups(counts) == [
        [("Alpha;big", 2), ("Big;alpha", 1)],
        [("ECT2|Big;alpha", 1), ("ect2|Alpha;Big", 1)],
    ]
    # A no-break space or a tab (pasted from a sheet) is spacing too; ß folds to ss.
    spaced = {"mitotic\u00a0arrest": 1, "Mitotic\tarrest": 1, "STRASSE": 1, "straße": 1}
    assert sorted(map(len, spelling_groups(spaced))) == [2, 2]


def test_where_line_says_when_there_are_more_spellings_than_named() -> None:
    """Past the spellings named, the line says others exist (its suggested terms are then
    not all it takes); each spelling is named once, however many images have it."""
    spellings = OtherSpellings([parse_condition(f"{GENE}=ECT2")])
    for value in ("ECT2", "ect2", "ect2", "Ect2", "eCT2", "ECt2", "ect2 "):
        spellings.see(((GENE, value),))
    assert spellings.lines(lambda _cond: True) == [
        "--where 'Gene Symbol=ECT2': '=' is exact and case-sensitive, so images whose"
        " 'Gene Symbol' is 'ect2', 'Ect2', 'eCT2' or another spelling (the same but for case"
        " or spacing; 6 walked images hold them) are left out; to select them too, add"
        " --where 'Gene Symbol=ect2' --where 'Gene Symbol=Ect2' --where 'Gene Symbol=eCT2'"
        " and one such term for each other spelling"
    ]
    few = OtherSpellings([parse_condition(f"{GENE}=ECT2")])
    for value in ("ect2", "Ect2", "ect2"):
        few.see(((GENE, value),))
    assert few.lines(lambda _cond: True)[0].endswith(
        "is 'ect2' or 'Ect2' (the same but for case or spacing; 3 walked images hold them) are"
        " left out; to select them too, add --where 'Gene Symbol=ect2' --where 'Gene Symbol=Ect2'"
    )
