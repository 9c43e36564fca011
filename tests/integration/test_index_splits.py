"""Leakage-free train/validation/test splits: ``--split`` adds a ``split`` column to index.csv.

The fields of one well are near-duplicates, so a split drawn image by image leaks between
train and test. Splits are drawn per well by default (``--split-by``), from a hash of the
well id and ``--split-seed`` alone: reproducible in another folder and stable as the folder
grows. The split given last is recorded in ``DIR/split.json`` for every later index write.

Everything runs the real command line against the emulator over loopback sockets.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harvest_helpers import cli_env
from harvest_helpers import run_cli as cli
from label_keys_helpers import index, rows

from harvester.emulator import EmulatorThread

FIELDS_SCREEN = 1101  # 2 plates x 12 wells x 3 fields = 72 images
FIELDS_PLATE = 3001  # its first plate: 36 images
PLATE384_SCREEN = 1201  # 384 wells of one field
SPLIT = "train=0.8,val=0.1,test=0.1"


@pytest.fixture(scope="module")
def fields_emulator() -> Iterator[EmulatorThread]:
    """The emulator with the ``fields`` preset (3 fields per well), for the whole module."""
    with EmulatorThread(preset="fields") as emu:
        yield emu


def harvest(emu: EmulatorThread, out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """A thumbnails harvest into ``out`` (exit 0 asserted)."""
    result = cli(
        "harvest", "--base-url", emu.base_url, "--artifacts", "thumbnail", "--rate", "none",
        "--out", str(out), *flags,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def splits_of(out: Path) -> dict[str, str]:
    """image id -> its split cell (asserts the column is there and never empty)."""
    found = rows(out)
    assert found and "split" in found[0], "no split column"
    assert all(row["split"] for row in found)
    return {row["image_id"]: row["split"] for row in found}


def groups_in_several(out: Path, column: str) -> dict[str, set[str]]:
    """The values of ``column`` (well_id, plate_id) whose images are in more than one split."""
    seen: defaultdict[str, set[str]] = defaultdict(set)
    for row in rows(out):
        seen[row[column]].add(row["split"])
    return {group: names for group, names in seen.items() if len(names) > 1}


@pytest.fixture(scope="module")
def screen(fields_emulator: EmulatorThread, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``fields`` screen harvested once with ``--split`` (not to be changed by tests)."""
    out = tmp_path_factory.mktemp("splits") / "screen"
    harvest(fields_emulator, out, "--screen", str(FIELDS_SCREEN), "--split", SPLIT)
    return out


@pytest.fixture
def copy_of(tmp_path: Path) -> Callable[[Path], Path]:
    """A copy of a harvested folder, for a test that changes it."""

    def copy(folder: Path) -> Path:
        target = tmp_path / folder.name
        shutil.copytree(folder, target)
        return target

    return copy


def test_no_well_is_in_two_splits(screen: Path) -> None:
    """Every field of a well gets the well's split (the default --split-by well), and all
    three splits are used."""
    assert groups_in_several(screen, "well_id") == {}
    counts = Counter(splits_of(screen).values())
    assert set(counts) == {"train", "val", "test"}
    assert sum(counts.values()) == 72
    assert all(n % 3 == 0 for n in counts.values())  # whole wells of 3 fields


def test_summary_and_splits_csv_count_the_splits(
    fields_emulator: EmulatorThread, tmp_path: Path
) -> None:
    """The harvest's summary names the images per split, as splits.csv and the index hold."""
    out = tmp_path / "plate"
    result = harvest(fields_emulator, out, "--plate", str(FIELDS_PLATE), "--split", SPLIT)
    counts = Counter(splits_of(out).values())
    line = (
        f"split: train {counts['train']}, val {counts['val']}, test {counts['test']} "
        f"(by well, seed 0), counted in {out / 'splits.csv'}"
    )
    assert line in result.stdout.splitlines(), result.stdout
    with (out / "splits.csv").open(encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle))
    assert table == [
        ["split", "images"],
        ["train", str(counts["train"])],
        ["val", str(counts["val"])],
        ["test", str(counts["test"])],
    ]
    assert json.loads((out / "split.json").read_text())["split"] == SPLIT


def test_the_same_split_in_another_folder(fields_emulator: EmulatorThread, tmp_path: Path) -> None:
    """The same command into a new folder gives every image the same split."""
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        harvest(fields_emulator, out, "--plate", str(FIELDS_PLATE), "--split", SPLIT)
    assert splits_of(first) == splits_of(second)
    assert len(splits_of(first)) == 36


def test_split_seed_changes_the_split(fields_emulator: EmulatorThread, tmp_path: Path) -> None:
    """Another --split-seed draws another split, still by well."""
    seeded = tmp_path / "seeded"
    harvest(fields_emulator, seeded, "--plate", str(FIELDS_PLATE), "--split", SPLIT)
    before = splits_of(seeded)
    index(seeded, "--split", SPLIT, "--split-seed", "7")
    assert splits_of(seeded) != before
    assert groups_in_several(seeded, "well_id") == {}


def test_growing_folder_keeps_every_split_and_a_resume_keeps_the_column(
    fields_emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A folder harvested with one plate and --split, then grown to the whole screen by a
    harvest given no split flags: the first plate's images keep their split, and the new
    images get theirs (the split recorded in split.json)."""
    out = tmp_path / "grows"
    harvest(fields_emulator, out, "--plate", str(FIELDS_PLATE), "--split", SPLIT)
    before = splits_of(out)
    harvest(fields_emulator, out, "--screen", str(FIELDS_SCREEN))
    after = splits_of(out)
    assert len(after) == 72
    assert {image: after[image] for image in before} == before
    assert groups_in_several(out, "well_id") == {}


def test_index_keeps_the_split_and_no_split_drops_it(
    screen: Path, copy_of: Callable[[Path], Path]
) -> None:
    """``harvester index DIR`` keeps the recorded split; ``--no-split`` drops the column and
    splits.csv and is recorded (the next index write has none); ``--split`` brings it back,
    and ``--split none`` drops it again."""
    out = copy_of(screen)
    before = splits_of(out)
    index(out)
    assert splits_of(out) == before
    result = index(out, "--no-split")
    assert "split" not in rows(out)[0]
    assert not (out / "splits.csv").exists()
    assert f"no split recorded in {out / 'split.json'}" in result.stdout
    index(out)
    assert "split" not in rows(out)[0]
    index(out, "--split", SPLIT)
    assert splits_of(out) == before
    index(out, "--split", "none")  # the config file's spelling of --no-split
    assert "split" not in rows(out)[0]


def test_split_by_plate_with_labels(screen: Path, copy_of: Callable[[Path], Path]) -> None:
    """``--split-by plate`` keeps each plate in one split; with label keys the split column
    follows label_id and splits.csv counts each label per split."""
    out = copy_of(screen)
    index(out, "--split", "train=0.5,test=0.5", "--split-by", "plate", "--label-key", "Gene Symbol")
    found = rows(out)
    header = list(found[0])
    assert header[header.index("label_id") + 1] == "split"
    assert groups_in_several(out, "plate_id") == {}
    with (out / "splits.csv").open(encoding="utf-8", newline="") as handle:
        table = list(csv.DictReader(handle))
    expected = Counter((row["split"], row["label"]) for row in found if row["label"])
    assert {(r["split"], r["label"]): int(r["images"]) for r in table} == expected


def test_fractions_hold_on_a_bigger_screen(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """384 wells split 80/10/10 give each split its share within a few percent."""
    emu = make_emulator(preset="plate384")
    out = tmp_path / "plate384"
    harvest(emu, out, "--screen", str(PLATE384_SCREEN), "--split", SPLIT)
    counts = Counter(splits_of(out).values())
    assert sum(counts.values()) == 384
    for name, share in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        assert abs(counts[name] - share * 384) <= 0.05 * 384, counts


BAD_SPLITS = [
    (["--split", "train=0.8,val=0.1"], "sum to 0.9, not 1"),
    (["--split", "train=0.8,val=0.3,test=-0.1"], "test=-0.1 must be a fraction above 0"),
    (["--split", "train=1,val=0"], "val=0 must be a fraction above 0"),
    (
        ["--split", "train=80%,test=20%"],
        "train=80% is a percentage: give it as a fraction, train=0.8",
    ),
    (["--split", "train=1/2,test=1/2"], "train=1/2 is not a number: a fraction is a decimal"),
    (["--split", "train=,test=1"], "train= has no fraction after '='"),
    (
        ["--split", "train=0.8 val=0.1 test=0.1"],
        "is several parts: separate them with commas, train=0.8,val=0.1,test=0.1",
    ),
    (["--split", "train=0.8;val=0.2"], "separate them with commas, train=0.8,val=0.2"),
    (["--split", "train = 0.8 val = 0.2"], "separate them with commas, train=0.8,val=0.2"),
    (["--split", "train:0.8,test:0.2"], "is not NAME=FRACTION"),
    (["--split", "train=inf,test=0.2"], "train=inf is not a number: a fraction is a decimal"),
    (["--split", "train=0.5,Train=0.5"], "'Train' is named twice"),
    (
        ["--split", SPLIT, "--split-by", "field"],
        "'field' is not one of image, well, plate, dataset",
    ),
    (["--split-by", "well"], "says how to split, but no split is given"),
    (["--split", SPLIT, "--split-seed", "9" * 20], "is out of range: a seed is a whole number"),
]


@pytest.mark.parametrize(("flags", "words"), BAD_SPLITS)
def test_bad_split_is_refused_before_anything_is_written(
    fields_emulator: EmulatorThread, tmp_path: Path, flags: list[str], words: str
) -> None:
    """A bad --split or --split-by: one error line and a hint, exit 2, no folder made."""
    out = tmp_path / "never"
    result = cli(
        "harvest", "--base-url", fields_emulator.base_url, "--plate", str(FIELDS_PLATE),
        "--rate", "none", "--out", str(out), *flags,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("error: ") and words in lines[0]
    assert lines[1].startswith("hint: ")
    assert not out.exists()


@pytest.mark.parametrize(("flags", "words"), BAD_SPLITS)
def test_bad_split_to_index_changes_nothing(
    screen: Path, copy_of: Callable[[Path], Path], flags: list[str], words: str
) -> None:
    """``harvester index`` refuses the same bad input the same way, leaving index.csv,
    splits.csv and split.json as they were."""
    out = copy_of(screen)
    files = ("index.csv", "splits.csv", "split.json")
    before = {name: (out / name).read_bytes() for name in files}
    result = cli("index", str(out), *flags)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("error: --split") and words in lines[0]
    assert lines[1].startswith("hint: ")
    assert {name: (out / name).read_bytes() for name in files} == before


def test_slurm_tasks_record_the_split_for_the_index_job(
    fields_emulator: EmulatorThread,
    tmp_path: Path,
    screen: Path,
    copy_of: Callable[[Path], Path],
) -> None:
    """``harvester slurm --split ... --split-by plate``: both tasks of the array carry the
    flags, and the index job's ``harvester index DIR`` keeps plates whole, with the split
    one process gives."""
    out = tmp_path / "array"
    made = cli(
        "slurm", "--out", str(out), "--base-url", fields_emulator.base_url,
        "--screen", str(FIELDS_SCREEN), "--artifacts", "thumbnail", "--rate", "none",
        "--tasks", "2", "--split", "train=0.5,test=0.5", "--split-by", "plate", "-q",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    for task in ("0", "1"):
        env = {
            **os.environ,
            **cli_env(),
            "SLURM_ARRAY_TASK_ID": task,
            "SLURM_ARRAY_TASK_COUNT": "2",
        }
        proc = subprocess.run(
            ["bash", str(out / "harvest.sbatch")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
    index(out)  # the index job's command
    assert len(splits_of(out)) == 72
    assert groups_in_several(out, "plate_id") == {}
    assert json.loads((out / "split.json").read_text())["split_by"] == "plate"
    single = copy_of(screen)
    index(single, "--split", "train=0.5,test=0.5", "--split-by", "plate")
    assert splits_of(out) == splits_of(single)


def test_a_resume_keeps_the_split(screen: Path, copy_of: Callable[[Path], Path]) -> None:
    """``harvester harvest --out DIR`` (a resume, no split flags) rewrites the index with
    the recorded split, every image in the split it had."""
    out = copy_of(screen)
    before = splits_of(out)
    result = cli("harvest", "--out", str(out), "-q")
    assert result.returncode == 0, result.stderr
    assert splits_of(out) == before


def test_config_file_keys(fields_emulator: EmulatorThread, tmp_path: Path) -> None:
    """``split``, ``split_by`` and ``split_seed`` in a config file do what the flags do."""
    config = tmp_path / "split.toml"
    config.write_text('split = "train=0.5,test=0.5"\nsplit_by = "plate"\nsplit_seed = 3\n')
    out = tmp_path / "from-file"
    harvest(fields_emulator, out, str(config), "--screen", str(FIELDS_SCREEN))
    record = json.loads((out / "split.json").read_text())
    assert (record["split"], record["split_by"], record["split_seed"]) == (
        "train=0.5,test=0.5",
        "plate",
        3,
    )
    assert groups_in_several(out, "plate_id") == {}


def test_status_names_the_split(screen: Path, copy_of: Callable[[Path], Path]) -> None:
    """``harvester status`` names the recorded split (``split`` in --json), and a damaged
    split.json is a note there, not a traceback."""
    out = copy_of(screen)
    result = cli("status", str(out))
    assert result.returncode == 0, result.stderr
    line = (
        f"split (index.csv's split column, split.json): {SPLIT} by well (images without a"
        " well alone), seed 0"
    )
    assert line in result.stdout.splitlines()
    data = json.loads(cli("status", str(out), "--json").stdout)
    assert data["split"] == {"split": SPLIT, "split_by": "well", "split_seed": 0}
    (out / "split.json").write_text("{")
    result = cli("status", str(out))
    assert result.returncode == 0, result.stderr
    assert f"note: {out / 'split.json'} is damaged" in result.stdout
    assert "split (index.csv" not in result.stdout


def moved_between(before: dict[str, str], after: dict[str, str]) -> int:
    """How many images of ``before`` have another split in ``after``."""
    return sum(after[image] != name for image, name in before.items())


def test_another_split_says_how_many_images_moved(
    screen: Path, copy_of: Callable[[Path], Path]
) -> None:
    """``harvester index DIR --split`` with other fractions warns once, naming how many
    images changed split and the split replaced, and keeps the replaced splits.csv; the
    next write, and the same split given again, say nothing."""
    out = copy_of(screen)
    before, old_table = splits_of(out), (out / "splits.csv").read_bytes()
    result = index(out, "--split", "train=0.5,test=0.5")
    moved = moved_between(before, splits_of(out))
    assert moved > 0
    kept = list(out.glob("splits.before-*.csv"))
    assert len(kept) == 1 and kept[0].read_bytes() == old_table
    warning = [line for line in result.stderr.splitlines() if "the split changed" in line]
    assert len(warning) == 1, result.stderr
    head = f"the split changed: {moved} of the 72 images already in {out / 'index.csv'}"
    assert head in warning[0]
    assert f"replaces split {SPLIT} by well, seed 0" in warning[0]
    assert f"the replaced splits.csv is kept as {kept[0]}" in warning[0]
    for flags in ((), ("--split", "train=0.5,test=0.5")):
        again = index(out, *flags)
        assert "the split changed" not in again.stderr, again.stderr
    assert len(list(out.glob("splits.before-*.csv"))) == 1


def test_writes_after_a_changed_split_do_not_read_the_old_index_again(
    screen: Path, copy_of: Callable[[Path], Path]
) -> None:
    """Once an index of the new split is written, the next writes know what it holds
    (``written.json``): split.json still names the split replaced, yet the old index.csv
    is not read again (a pass over every row, each write). Seen here: a split column
    changed by hand is kept aside as an edit and counts as no move of the split."""
    out = copy_of(screen)
    index(out, "--split", "train=0.5,test=0.5")
    drawn = splits_of(out)
    with (out / "index.csv").open(encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle))
    at = table[0].index("split")
    for row in table[1:]:  # every image in the other half, by hand
        row[at] = "test" if row[at] == "train" else "train"
    with (out / "index.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(table)
    again = index(out)
    assert "the split changed" not in again.stderr, again.stderr
    assert list(out.glob("index.edited-*.csv")), again.stderr  # the edit kept, as always
    assert splits_of(out) == drawn


def test_a_harvest_given_another_split_says_so(
    screen: Path, copy_of: Callable[[Path], Path]
) -> None:
    """A resume given another ``--split-seed`` (with labels: the labelled index) names the
    images moved, as ``harvester index`` does."""
    out = copy_of(screen)
    index(out, "--label-key", "Gene Symbol")
    before = splits_of(out)
    result = cli("harvest", "--out", str(out), "--split", SPLIT, "--split-seed", "5", "-q")
    assert result.returncode == 0, result.stderr
    moved = moved_between(before, splits_of(out))
    assert moved > 0
    assert f"the split changed: {moved} of the 72 images" in result.stderr, result.stderr
    assert "label" in rows(out)[0]
    assert len(list(out.glob("splits.before-*.csv"))) == 1


def test_a_new_split_over_a_damaged_record_counts_the_images_moved(
    screen: Path, copy_of: Callable[[Path], Path]
) -> None:
    """``harvester index DIR --split`` over a split.json edited into junk records the new
    split, names the copy of the junk kept beside, and counts the images moved against
    index.csv's split column as for a changed split; the next write says nothing."""
    out = copy_of(screen)
    before = splits_of(out)
    (out / "split.json").write_text('{"split": "train=2"')
    result = index(out, "--split", "train=0.5,test=0.5")
    damaged, moves = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert f"{out / 'split.json'} could not be read" in damaged
    (kept,) = out.glob("split.edited-*.json")
    assert damaged.endswith(f"so the split it recorded is unknown; the file is kept as {kept}")
    assert kept.read_text() == '{"split": "train=2"'
    moved = moved_between(before, splits_of(out))
    assert 0 < moved < 72
    assert f"the split changed: {moved} of the 72 images already in" in moves
    assert "split train=0.5,test=0.5 by well, seed 0 replaces the split in index.csv's" in moves
    (old_table,) = out.glob("splits.before-*.csv")
    assert "val" in old_table.read_text()
    again = index(out)
    assert "WARNING" not in again.stderr, again.stderr


def test_a_new_split_over_a_removed_record_counts_the_images_moved(
    screen: Path, copy_of: Callable[[Path], Path]
) -> None:
    """With split.json deleted, a new ``--split`` still says how many images of index.csv's
    split column it moves (they moved without a word)."""
    out = copy_of(screen)
    before = splits_of(out)
    (out / "split.json").unlink()
    result = index(out, "--split", "train=0.5,test=0.5")
    (warning,) = [line for line in result.stderr.splitlines() if "WARNING" in line]
    moved = moved_between(before, splits_of(out))
    assert f"the split changed: {moved} of the 72 images already in" in warning
    assert moved > 0


def test_a_damaged_record_with_no_split_column_left_says_images_may_have_moved(
    screen: Path, copy_of: Callable[[Path], Path]
) -> None:
    """Once a write over a damaged split.json dropped the split column, a new ``--split``
    cannot count the moves: its one warning says the images may be in another split."""
    out = copy_of(screen)
    (out / "split.json").write_text("junk")
    index(out)
    assert "split" not in rows(out)[0]
    result = index(out, "--split", "train=0.5,test=0.5")
    (warning,) = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert f"{out / 'split.json'} could not be read" in warning
    assert "may be in another split now that split train=0.5,test=0.5" in warning
    assert list(out.glob("splits.before-*.csv")) == []


def test_an_oversized_record_is_one_warning_not_a_traceback(
    screen: Path, copy_of: Callable[[Path], Path]
) -> None:
    """A split.json of many megabytes (or nested too deep to parse) is one warning line with
    what to do, and the index is written without a split column: exit 0, no traceback."""
    out = copy_of(screen)
    for damage in (b"[" * 200_000, b" " * (3 << 20) + b"{}"):
        (out / "split.json").write_bytes(damage)
        result = index(out)
        assert "Traceback" not in result.stderr
        warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
        assert len(warnings) == 1, result.stderr
        assert f"{out / 'split.json'} is damaged" in warnings[0]
        assert f"harvester index {out} --split NAME=FRACTION" in warnings[0]
        assert "split" not in rows(out)[0]


@pytest.mark.parametrize("flag", [["--split-by", "plate"], ["--split-seed", "3"]])
def test_index_how_to_split_with_no_split_says_the_split_is_dropped(
    tmp_path: Path, flag: list[str]
) -> None:
    """``harvester index DIR --split-by plate --no-split``: refused before DIR is read, saying
    the split is dropped rather than that none is given (with a hint to add one)."""
    result = cli("index", str(tmp_path), *flag, "--no-split")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {flag[0]}: says how to split, but the split is dropped (--no-split)",
        f"hint: leave out {flag[0]} with --no-split, or give --split NAME=FRACTION,... in its "
        "place",
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag", [["--split-by", "plate"], ["--split-seed", "3"]])
def test_how_to_split_without_a_split_is_said_alike_by_harvest_and_index(
    tmp_path: Path, flag: list[str]
) -> None:
    """``--split-by``/``--split-seed`` without ``--split``: ``harvester index`` and a harvest
    refuse it in the same words (exit 2, nothing written), the flag named as typed."""
    line = f"error: {flag[0]}: says how to split, but no split is given"
    by_index = cli("index", str(tmp_path), *flag)
    out = tmp_path / "never"
    by_harvest = cli(
        "harvest", "--base-url", "http://127.0.0.1:9", "--plate", str(FIELDS_PLATE),
        "--out", str(out), *flag,
    )  # fmt: skip
    for result in (by_index, by_harvest):
        assert result.returncode == 2
        assert result.stderr.splitlines()[0] == line, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_index_seed_without_a_split_names_the_folders_split_to_draw(
    screen: Path, copy_of: Callable[[Path], Path]
) -> None:
    """``harvester index DIR --split-seed 3`` in a folder with a split, or a resume given
    it: refused (exit 2, nothing changed) with the command that draws the folder's split
    with that seed, not an example's fractions (typed as shown, they replaced the split);
    that command works."""
    out = copy_of(screen)
    before = (out / "split.json").read_bytes()
    command = f"harvester index {out} --split {SPLIT} --split-seed 3"
    for words in (["index", str(out)], ["harvest", "--out", str(out)]):
        result = cli(*words, "--split-seed", "3")
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            "error: --split-seed: says how to split, but no split is given",
            f"hint: add the split to draw; {out / 'split.json'} records --split {SPLIT}: {command}",
        ]
    assert (out / "split.json").read_bytes() == before
    again = cli(*command.split()[1:])
    assert again.returncode == 0, again.stderr
    assert "(by well, seed 3)" in again.stdout
    recorded = json.loads((out / "split.json").read_text(encoding="utf-8"))
    assert (recorded["split"], recorded["split_seed"]) == (SPLIT, 3)


def test_index_how_to_split_with_split_none_names_the_flag_given(tmp_path: Path) -> None:
    """``harvester index DIR --split none --split-seed 3``: refused naming the flag given
    and the split dropped, in the words of ``--no-split``'s refusal (not both flags)."""
    result = cli("index", str(tmp_path), "--split", "none", "--split-seed", "3")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: --split-seed: says how to split, but the split is dropped (--split none)",
        "hint: leave out --split-seed with --split none, or give --split NAME=FRACTION,... "
        "in its place",
    ]
    assert list(tmp_path.iterdir()) == []
