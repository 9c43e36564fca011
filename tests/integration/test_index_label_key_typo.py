"""`harvester index --label-key` with a key no image has (a typo) records nothing wrong.

It warned, yet recorded the key in DIR/label_keys.json, so every later index write (a
resumed harvest, `harvester index DIR`, the SLURM index job) kept the typo and its empty
labels; then it rewrote index.csv with empty labels all the same. Now `harvester index`
refuses such a key before writing anything; a harvest given one records only the keys
some image has, the warning saying which were not and what later index writes keep.
"""

from __future__ import annotations

from pathlib import Path

from harvest_helpers import run_cli as cli
from label_keys_helpers import GENE, harvest, index, labels, problem_lines, rows

from harvester.emulator import EmulatorThread
from harvester.folder_settings import read_label_keys_record


def test_a_key_no_image_has_is_refused(emulator: EmulatorThread, tmp_path: Path) -> None:
    """A label key no image has is refused, naming the keys there are and the nearest."""
    out = tmp_path / "typo"
    harvest(emulator, out)
    record = out / "label_keys.json"

    # Nothing recorded before: refused, nothing written.
    before = (out / "index.csv").read_bytes()
    done = cli("index", str(out), "--label-key", "Phenotyp")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith(
        f"error: --label-key 'Phenotyp' is on none of the 8 images in {out / 'index.csv'}, "
        "so nothing was rewritten; their keys: "
    )
    assert f"'{GENE}'" in lines[0] and "'Phenotype'" in lines[0]
    assert lines[0].endswith("; did you mean 'Phenotype'?")
    assert (out / "index.csv").read_bytes() == before
    assert not record.exists() and not (out / "labels.csv").exists()

    index(out, "--label-key", GENE)
    genes = labels(out)
    assert any(genes.values())
    kept = {name: (out / name).read_bytes() for name in ("index.csv", "labels.csv")}
    before = record.read_bytes()

    # A typo after a good key, or beside one: refused, the labels and the record untouched.
    for flags in (["Gene Symbl"], ["Nope", GENE]):
        done = cli("index", str(out), *(w for key in flags for w in ("--label-key", key)))
        assert done.returncode == 2, done.stderr
        assert f"'{flags[0]}' is on none of the 8 images" in done.stderr
        assert {name: (out / name).read_bytes() for name in kept} == kept
        assert record.read_bytes() == before
        assert not list(out.glob("labels.before-*"))
    assert (
        "did you mean 'Gene Symbol'?" in cli("index", str(out), "--label-key", "Gene Symbl").stderr
    )
    index(out)
    assert labels(out) == genes


def test_a_key_some_images_have_is_taken(emulator: EmulatorThread, tmp_path: Path) -> None:
    """A key on some of DIR's images only is no typo: the index is labelled by it."""
    out = tmp_path / "some"
    harvest(emulator, out)
    some = "Phenotype"  # on 5 of the plate's 8 images
    assert 0 < sum(1 for row in rows(out) if row[some]) < len(rows(out))
    done = index(out, "--label-key", some)
    assert "recorded in" in done.stdout
    assert any(labels(out).values()) and not all(labels(out).values())


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
        f"WARNING harvester.problems: label key 'Gene Symbl' not recorded in {record}, as "
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
        f"WARNING harvester.problems: label key 'Gene Symbl' dropped, not recorded in "
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


def test_a_resume_given_a_key_no_image_has_is_refused(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """`harvester harvest --out DIR --label-key TYPO` over a folder whose walks listed
    everything is refused as `harvester index` refuses it: nothing run, nothing rewritten."""
    out = tmp_path / "resume-typo"
    harvest(emulator, out)
    before = {name: (out / name).read_bytes() for name in ("index.csv",)}
    runs = sorted(p.name for p in (out / "runs").iterdir())
    done = cli("harvest", "--out", str(out), "--label-key", "Phenotyp")
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(
        f"error: --label-key 'Phenotyp' is on none of the 8 images in {out / 'index.csv'}, "
        "so the resume did not start; their keys: "
    )
    assert line.endswith("; did you mean 'Phenotype'?")
    assert {name: (out / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in (out / "runs").iterdir()) == runs

    done = cli("harvest", "--out", str(out), "--label-key", "Phenotype")
    assert done.returncode == 0, done.stderr
