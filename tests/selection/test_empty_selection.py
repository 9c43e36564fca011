"""A selection that matches no image says why, under ``--quiet`` too.

Found by a fresh walk through the README's training-data section: the misspelt-key and
misspelt-value warnings see only keys and ``=`` values that no image has, so a ``~`` text
misspelt (``Phenotype~mitotik``), two terms that no image holds together, or a
``--sample-per`` key that none of the matching images has selected nothing with exit 0 and,
under ``--quiet``, not a word: an empty training set the user learnt of when training.

Everything runs the real command line against the demo emulator over loopback sockets.
"""

from __future__ import annotations

from pathlib import Path

from selection_helpers import DEMO_SCREEN, index_rows, run_cli

from harvester.emulator import EmulatorThread
from harvester.select import _near_parts


def quiet_harvest(emulator: EmulatorThread, out: Path, *args: str) -> list[str]:
    """``harvester harvest -q`` of the demo screen's thumbnails (exit 0 asserted); its
    warning lines."""
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none",
        "--artifacts", "thumbnail", "--screen", str(DEMO_SCREEN), "-q", *args,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("WARNING")]


def test_a_misspelt_contains_text_is_named_with_the_text_meant(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--where 'Phenotype~mitotik' selects nothing: one warning names the term and suggests
    'Phenotype~mitotic'; with the text fixed the same run selects images and says nothing."""
    out = tmp_path / "typo"
    assert quiet_harvest(emulator, out, "--where", "Phenotype~mitotik") == [
        "WARNING harvester.problems: --where 'Phenotype~mitotik' matches none of the 80"
        " walked images, so no image is selected; did you mean 'Phenotype~mitotic'?"
    ]
    assert index_rows(out) == []
    fixed = tmp_path / "fixed"
    assert quiet_harvest(emulator, fixed, "--where", "Phenotype~mitotic") == []
    assert len(index_rows(fixed)) == 23


def test_one_image_walked_is_said_as_one(emulator: EmulatorThread, tmp_path: Path) -> None:
    """One image walked, the term on none: "does not match the only walked image" (it said
    "matches none of the only walked image")."""
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--out", str(tmp_path / "one"), "--rate",
        "none", "--artifacts", "thumbnail", "--image", "9762957", "-q", "--where", "Phenotype~zzz",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("WARNING")] == [
        "WARNING harvester.problems: --where 'Phenotype~zzz' does not match the only walked"
        " image, so no image is selected; '~' matches a part of a value in any case, '=' a"
        " whole value exactly"
    ]


def test_terms_no_image_holds_together_are_counted(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """NEAT1 wells have no phenotype: 'Gene Symbol=NEAT1' with 'Phenotype~mito' selects
    nothing, and the warning counts what each key's terms match on their own."""
    out = tmp_path / "both"
    found = quiet_harvest(
        emulator, out, "--where", "Gene Symbol=NEAT1", "--where", "Phenotype~mito"
    )
    assert found == [
        "WARNING harvester.problems: --where 'Gene Symbol=NEAT1 and Phenotype~mito' matches"
        " none of the 80 walked images, so no image is selected: the terms of each key match"
        " some on their own ('Gene Symbol=NEAT1' 4 images, 'Phenotype~mito' 23 images), but"
        " no image matches them all (terms on different keys must all hold)"
    ]
    assert index_rows(out) == []


def test_a_sample_per_key_none_of_the_matching_images_has_is_said(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--sample-per Phenotype of the 4 NEAT1 images (none has a phenotype): nothing is
    sampled, and one warning says the key is on none of the images that match."""
    out = tmp_path / "per"
    found = quiet_harvest(
        emulator, out, "--where", "Gene Symbol=NEAT1", "--sample", "2", "--sample-per", "Phenotype"
    )
    assert found == [
        "WARNING harvester.problems: --sample-per key 'Phenotype' is on none of the 4 images"
        " that match --where 'Gene Symbol=NEAT1', so no image has a class and none is sampled"
    ]
    assert index_rows(out) == []


def test_near_parts_compares_the_text_with_parts_of_values() -> None:
    """A ``~`` typo is compared with parts of values as long as it (give or take a letter),
    one suggestion per value, and nothing far from it is suggested."""
    values = ["mitotic arrest", "mitotic delay", "centrosome defect", "ECT2"]
    assert _near_parts("mitotik", values) == ["mitotic"]
    assert _near_parts("centrosom defect", values) == ["centrosome defect"]
    assert _near_parts("ectt2", values) == ["ECT2"]
    assert _near_parts("zzzz", values) == []
