"""A split that leaves a split empty, or a label out of a split, says so in one warning.

A split draws whole wells (no leakage), so a small folder, or a label held by one well, puts
every image of that label in one split: ``splits.csv`` showed it, nothing said it, and a
model trained on one split never saw labels it was scored on (or ``val`` was empty). The
index write now warns, once per state of the folder. Each command runs as ``harvester
ARGS`` (in the test process, tests/cli_in_process.py) against the emulator over real sockets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import DEMO_PROJECT, SMALL_PLATE, run_cli
from label_keys_helpers import index, rows

from harvester.emulator import EmulatorThread

RUNS_SCREEN = 1151  # 8 genes, one well each, 6 images a well
GAPS = "leaves gaps"


def _harvest(emu: EmulatorThread, out: Path, *flags: str) -> str:
    """A thumbnails harvest into ``out`` (exit 0 asserted); its stderr."""
    result = run_cli("harvest", "--base-url", emu.base_url, "--artifacts", "thumbnail",
                     "--rate", "none", "--out", str(out), "-q", *flags)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stderr


def _gap_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if GAPS in line]


def _labels_per_split(out: Path) -> dict[str, set[str]]:
    """split -> the labels of its images, read from index.csv."""
    found: defaultdict[str, set[str]] = defaultdict(set)
    for row in rows(out):
        found[row["split"]].add(row["label"])
    return found


def test_labels_on_one_well_each_are_named_as_missing_from_a_split(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """8 genes of one well each, split by well: each split lacks the 4 genes of the other,
    which the warning counts and names (as index.csv has them), once per folder state."""
    emu = make_emulator(preset="runs")
    out = tmp_path / "genes"
    stderr = _harvest(emu, out, "--screen", str(RUNS_SCREEN), "--label-key", "Gene Symbol",
                      "--split", "a=0.5,b=0.5")  # fmt: skip
    per = _labels_per_split(out)
    assert set(per) == {"a", "b"} and len(per["a"] | per["b"]) == 8
    not_in_a = sorted(per["b"] - per["a"])
    not_in_b = sorted(per["a"] - per["b"])
    assert len(not_in_a) == len(not_in_b) == 4  # every gene in one split: one well each
    (line,) = _gap_lines(stderr)
    assert line.startswith(
        "WARNING harvester.problems: split a=0.5,b=0.5 by well, seed 0 leaves gaps: "
        f"'a' lacks 4 of the 8 labels ('{not_in_a[0]}', '{not_in_a[1]}', '{not_in_a[2]}' and "
        f"1 more); 'b' lacks 4 ('{not_in_b[0]}', '{not_in_b[1]}', '{not_in_b[2]}' and 1 more)"
        ": a model trained or scored on a split never sees the labels it lacks."
    ), line
    assert "harvest more wells of each label" in line
    assert line.endswith(f"(counts per split and label: {out / 'splits.csv'})"), line

    # Said once per state of the folder: the next index write says it no more.
    assert _gap_lines(index(out).stderr) == []
    # Split image by image, every gene has images in both splits: nothing to say.
    by_image = index(out, "--split", "a=0.5,b=0.5", "--split-by", "image")
    per = _labels_per_split(out)
    assert per["a"] == per["b"] and len(per["a"]) == 8
    assert _gap_lines(by_image.stderr) == [], by_image.stderr
    # Back to wells: the gaps are back, and said again.
    again = index(out, "--split", "a=0.5,b=0.5")
    assert len(_gap_lines(again.stderr)) == 1, again.stderr


def test_a_split_with_no_image_is_named_with_or_without_wells(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A split too small to get one of 8 wells (or 8 project images) is named as empty, with
    the grouping the folder had, and its splits.csv row says 0."""
    emu = make_emulator(preset="demo")
    plate = tmp_path / "plate"
    stderr = _harvest(emu, plate, "--plate", str(SMALL_PLATE), "--split", "a=0.999,b=0.001")
    assert {row["split"] for row in rows(plate)} == {"a"}
    assert (plate / "splits.csv").read_text().splitlines()[-1] == "b,0"
    (line,) = _gap_lines(stderr)
    assert line == (
        "WARNING harvester.problems: split a=0.999,b=0.001 by well, seed 0 leaves gaps: 'b' "
        "has no image. A split takes whole wells (no leakage), so the wells of these 8 images"
        " are too few to fill every split: harvest more wells (a larger --sample, more plates)"
        f" or give fewer splits (counts per split: {plate / 'splits.csv'})"
    )

    project = tmp_path / "project"
    stderr = _harvest(emu, project, "--project", str(DEMO_PROJECT), "--split", "a=0.999,b=0.001")
    (line,) = _gap_lines(stderr)
    assert (
        "by image, as no image has a well; seed 0 leaves gaps: 'b' has no image. 8 images are"
        " too few to fill every split: harvest more images (a larger --sample) or" in line
    ), line


def test_a_split_without_gaps_says_nothing(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The demo screen's 80 wells split in halves, no labels: both halves have images, and
    no warning is said."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "halves"
    stderr = _harvest(emu, out, "--screen", "2302", "--split", "a=0.5,b=0.5")
    assert {row["split"] for row in rows(out)} == {"a", "b"}
    assert _gap_lines(stderr) == [], stderr
