"""``--seed`` is the sample's seed, ``--split-seed`` the split's: a ``--seed`` given with a
``--split`` and no ``--split-seed`` gets one ``note:`` saying which seed the split used.

A first-time user gave ``--seed 4`` to a ``--split`` run expecting the split to use it, and
``status`` said ``seed 0``. Nothing else changes: the split is drawn as before.
Everything runs the real command line against the emulator over loopback sockets.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from harvest_helpers import run_cli

from harvester.emulator import EmulatorThread

PLATE = 7361  # the demo's first plate: 8 images, a quick harvest
SPLIT = "train=0.5,test=0.5"
#: How status names the split by well, not knowing which images have a well.
BY_WELL = "by well (images without a well alone)"
NOTE = (
    "note: --seed 4 is the sample's seed, not the split's: the split is drawn with "
    "--split-seed, 0 here; give --split-seed 4 to draw it with 4"
)


def harvest(emulator: EmulatorThread, out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """A thumbnails harvest of the plate into ``out`` (exit 0 asserted)."""
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--rate", "none", "--plate", str(PLATE),
        "--artifacts", "thumbnail", "--out", str(out), *flags,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def notes(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines of stderr about the split's seed."""
    return [line for line in result.stderr.splitlines() if "--split-seed" in line]


def test_seed_with_a_split_says_the_split_seed_used(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """--seed 4 --split, no --split-seed: one note names --split-seed and its value, 0."""
    out = tmp_path / "d"
    result = harvest(emulator, out, "--sample", "4", "--seed", "4", "--split", SPLIT)
    assert notes(result) == [NOTE]
    status = run_cli("status", str(out))
    assert f"{SPLIT} {BY_WELL}, seed 0" in status.stdout  # drawn as before: nothing changed


def test_no_note_with_split_seed_or_without_split(tmp_path: Path, emulator: EmulatorThread) -> None:
    """--split-seed given, or no --split, or no --seed: no note."""
    given = harvest(emulator, tmp_path / "a", "--seed", "4", "--split", SPLIT, "--split-seed", "4")
    assert notes(given) == []
    assert notes(harvest(emulator, tmp_path / "b", "--sample", "4", "--seed", "4")) == []
    assert notes(harvest(emulator, tmp_path / "c", "--split", SPLIT)) == []


def test_note_names_the_split_seed_of_a_config_file(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A config file's split with --seed gets the note; its split_seed counts as given."""
    plain = tmp_path / "split.toml"
    plain.write_text(f'split = "{SPLIT}"\n', encoding="utf-8")
    seeded = tmp_path / "seeded.toml"
    seeded.write_text(f'split = "{SPLIT}"\nsplit_seed = 2\n', encoding="utf-8")
    out = tmp_path / "a"
    result = run_cli(
        "harvest", str(plain), "--base-url", emulator.base_url, "--rate", "none",
        "--plate", str(PLATE), "--artifacts", "thumbnail", "--out", str(out), "--seed", "4",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert notes(result) == [NOTE]
    again = run_cli(
        "harvest", str(seeded), "--base-url", emulator.base_url, "--rate", "none",
        "--plate", str(PLATE), "--artifacts", "thumbnail", "--out", str(tmp_path / "b"),
        "--seed", "4",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert notes(again) == []


def test_no_note_when_the_seed_is_the_split_seed(tmp_path: Path, emulator: EmulatorThread) -> None:
    """--seed 0 with a split (the README's first example): the split is drawn with 0 already,
    so no note tells the user to give --split-seed 0."""
    result = harvest(emulator, tmp_path / "a", "--sample", "4", "--seed", "0", "--split", SPLIT)
    assert notes(result) == []
    assert "note:" not in result.stderr, result.stderr
    status = run_cli("status", str(tmp_path / "a"))
    assert f"{SPLIT} {BY_WELL}, seed 0" in status.stdout


def kept_note(out: Path, seed: int) -> str:
    """The note of a --seed given to a run that keeps ``out``'s split (seed 0)."""
    return (
        f"note: --seed {seed} is the sample's seed, not the split's: {out} keeps its split"
        f" ({out / 'split.json'}), drawn with --split-seed 0; to draw it with {seed}, add"
        f" --split {SPLIT} --split-seed {seed} (images already in {out} may move to another"
        " split), or harvest into a new folder with them"
    )


def test_a_resume_given_another_seed_is_told_the_split_keeps_its_own(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`harvester harvest --out DIR --seed 4` in a folder split with seed 0: one note, under
    the resume's line, naming the seed kept and the flags that draw the split with 4; the
    split is unchanged. Not said with --quiet, for --seed 0, nor by the next plain resume."""
    out = tmp_path / "d"
    harvest(emulator, out, "--sample", "4", "--split", SPLIT, "-q")
    result = run_cli("harvest", "--out", str(out), "--seed", "4")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"resuming {out} with the settings of its newest run")
    assert lines[1] == kept_note(out, 4)
    assert sum(line.startswith("note: --seed") for line in lines) == 1
    assert "(by well, seed 0), counted in" in result.stdout  # the summary: the split kept
    status = run_cli("status", str(out))
    assert f"{SPLIT} {BY_WELL}, seed 0" in status.stdout  # kept, as the note says
    for flags in (("--seed", "4", "-q"), ("--seed", "0"), ()):
        again = run_cli("harvest", "--out", str(out), *flags)
        assert again.returncode == 0, again.stderr
        assert "note:" not in again.stderr, (flags, again.stderr)
    drawn = run_cli(
        "harvest", "--out", str(out), "--seed", "4", "--split", SPLIT, "--split-seed", "4"
    )
    assert drawn.returncode == 0, drawn.stderr
    assert "note:" not in drawn.stderr
    assert f"{SPLIT} {BY_WELL}, seed 4" in run_cli("status", str(out)).stdout


def test_targets_typed_with_another_seed_into_a_split_folder_get_the_note(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The same targets typed with --seed 5 (no --split) into a folder split with seed 0
    keep its split: the note says so once; with --no-split, none."""
    out = tmp_path / "d"
    harvest(emulator, out, "--sample", "4", "--split", SPLIT, "-q")
    result = harvest(emulator, out, "--sample", "4", "--seed", "5")
    assert [line for line in result.stderr.splitlines() if line.startswith("note:")] == [
        kept_note(out, 5)
    ]
    dropped = harvest(emulator, out, "--sample", "4", "--seed", "5", "--no-split")
    assert "note:" not in dropped.stderr
