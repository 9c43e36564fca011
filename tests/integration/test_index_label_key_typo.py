"""`harvester index --label-key` with a key no image has (a typo) records nothing wrong.

It warned, yet recorded the key in DIR/label_keys.json, so every later index write (a
resumed harvest, `harvester index DIR`, the SLURM index job) kept the typo and its empty
labels. Now only the given keys some image has are recorded; the warning says which were
not, and what later index writes keep.
"""

from __future__ import annotations

from pathlib import Path

from harvest_helpers import run_cli as cli
from label_keys_helpers import GENE, harvest, index, labels, problem_lines, rows

from harvester.emulator import EmulatorThread
from harvester.folder_settings import read_label_keys_record


def test_a_key_no_image_has_is_not_recorded(emulator: EmulatorThread, tmp_path: Path) -> None:
    """A label key no image has is warned of, with a suggestion, and never recorded for later."""
    out = tmp_path / "typo"
    harvest(emulator, out)
    record = out / "label_keys.json"

    # Nothing recorded before: the typo is not recorded, later writes have no labels.
    done = index(out, "--label-key", "Gene Symbl")
    assert problem_lines(done.stderr) == [
        f"WARNING harvester.problems: label key 'Gene Symbl' is on none of the 8 images in "
        f"{out / 'index.csv'}, so every label is empty; did you mean 'Gene Symbol'?",
        f"WARNING harvester.problems: label key(s) 'Gene Symbl' not recorded in {record}, as "
        "no image has them: later index writes keep no label columns",
    ]
    assert "recorded in" not in done.stdout
    assert not record.exists()

    index(out, "--label-key", GENE)
    genes = labels(out)
    assert any(genes.values())
    before = record.read_bytes()

    # A typo after a good key: the good key stays recorded, and the next index uses it.
    done = index(out, "--label-key", "Gene Symbl")
    assert problem_lines(done.stderr)[-1] == (
        f"WARNING harvester.problems: label key(s) 'Gene Symbl' not recorded in {record}, as "
        f"no image has them: later index writes keep the keys recorded before, '{GENE}'"
    )
    assert record.read_bytes() == before
    index(out)
    assert labels(out) == genes

    # With a valid key beside it: only the valid one is recorded, the other said dropped.
    done = index(out, "--label-key", "Nope", "--label-key", GENE)
    assert problem_lines(done.stderr)[-1] == (
        f"WARNING harvester.problems: label key(s) 'Nope' dropped, not recorded in {record}, "
        "as no image has them"
    )
    assert f"label keys '{GENE}' recorded in {record}" in done.stdout
    found = read_label_keys_record(out)
    assert found is not None and found.keys == (GENE,)
    index(out)
    assert labels(out) == genes


def test_a_harvest_given_a_key_no_image_has_leaves_later_indexes_alone(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A harvest's --label-key typo is not what later index writes take from its config."""
    out = tmp_path / "harvest-typo"
    record = out / "label_keys.json"
    harvest(emulator, out, "--label-key", GENE)
    genes = labels(out)
    assert any(genes.values())

    # The typo alone: this run's index has it (as asked, warned), later ones do not.
    done = harvest(emulator, out, "--label-key", "Gene Symbl")
    assert problem_lines(done.stderr)[-1] == (
        f"WARNING harvester.problems: label key(s) 'Gene Symbl' not recorded in {record}, as "
        f"no image has them: later index writes keep the keys recorded before, '{GENE}'"
    )
    assert not any(labels(out).values())
    index(out)
    assert labels(out) == genes
    assert "'Gene Symbl'" not in cli("status", str(out)).stdout
    done = harvest(emulator, out)  # a rerun given no key
    assert labels(out) == genes and "Gene Symbl" not in done.stderr

    # Beside a valid key: that one alone counts from then on.
    done = harvest(emulator, out, "--label-key", "Gene Symbl", "--label-key", "Phenotype")
    assert problem_lines(done.stderr)[-1] == (
        f"WARNING harvester.problems: label key(s) 'Gene Symbl' dropped, not recorded in "
        f"{record}, as no image has them"
    )
    found = read_label_keys_record(out)
    assert found is not None and found.keys == ("Phenotype",)
    index(out)
    assert labels(out) == {row["image_id"]: row["Phenotype"] for row in rows(out)}


def test_a_harvest_whose_keys_all_exist_writes_no_record(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Valid harvest keys are left to the run's config, as before: no label_keys.json."""
    out = tmp_path / "harvest-good"
    done = harvest(emulator, out, "--label-key", GENE)
    assert "not recorded" not in done.stderr and "dropped" not in done.stderr
    assert not (out / "label_keys.json").exists()
