"""A split by dataset or plate says how many images it split image by image instead.

An image without the grouping id is a group of its own (documented): ``--ids-from`` images
harvested with thumbnails alone have no dataset id, so ``--split-by dataset`` split them
image by image without a word, and near-duplicates of one dataset could land in train and
test alike. The index write now says so in one warning, with what gives them the id, once
per state of the folder (every index write said it again, unchanged). Each command runs as
``harvester ARGS`` (in the test process, tests/cli_in_process.py) against the emulator over
real sockets.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import DEMO_PROJECT, SMALL_PLATE, harvest, run_cli

from harvester.emulator import EmulatorThread
from harvester.models import Artifact

SPLIT = ("--split", "train=0.5,test=0.5")


def _index(out: Path) -> list[dict[str, str]]:
    with (out / "index.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _project_ids(base_url: str, tmp_path: Path) -> Path:
    """A file of the ids of the demo project's 8 images (found by a walk elsewhere)."""
    walked = tmp_path / "walked"
    harvest(base_url, walked, projects=(DEMO_PROJECT,), artifacts=(Artifact.THUMBNAIL,))
    ids = [row["image_id"] for row in _index(walked)]
    assert len(ids) == 8
    listing = tmp_path / "ids.txt"
    listing.write_text("\n".join(ids) + "\n")
    return listing


def test_ids_from_images_without_imgdata_split_by_dataset_are_named(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Thumbnails alone: a warning counts the 8 images split image by image and names
    imgdata; the harvest that adds imgdata gives them their dataset, and no warning."""
    emu = make_emulator(preset="demo")
    ids = _project_ids(emu.base_url, tmp_path)
    out = tmp_path / "byid"
    first = run_cli("harvest", "--base-url", emu.base_url, "--ids-from", str(ids), "--out",
                    str(out), "--artifacts", "thumbnail", "--rate", "none", "-q", *SPLIT,
                    "--split-by", "dataset")  # fmt: skip
    assert first.returncode == 0, first.stderr
    warned = [x for x in first.stderr.splitlines() if "--split-by dataset:" in x]
    assert len(warned) == 1, first.stderr
    assert "8 images without a dataset id were split image by image" in warned[0]
    assert "add imgdata to the --artifacts of the harvest of the 8 images" in warned[0]
    assert all(not row["dataset_id"] for row in _index(out))
    # Said once per state of the folder: the next index writes of it say it no more.
    for _ in range(2):
        indexed = run_cli("index", str(out))
        assert indexed.returncode == 0, indexed.stderr
        assert "image by image" not in indexed.stderr + indexed.stdout, indexed.stderr

    again = run_cli("harvest", "--out", str(out), "--artifacts", "thumbnail,imgdata", "-q")
    assert again.returncode == 0, again.stderr
    assert "--split-by" not in again.stderr, again.stderr
    assert all(row["dataset_id"] for row in _index(out))


def test_a_split_by_plate_names_a_projects_images_and_not_a_plates(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Of a plate and a project split by plate, the project's 8 images are counted as split
    image by image; the plate's are not, and a split by well (the default) says nothing."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "mixed"
    shown = run_cli("harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE),
                    "--project", str(DEMO_PROJECT), "--out", str(out), "--artifacts",
                    "thumbnail", "--rate", "none", "-q", *SPLIT, "--split-by", "plate")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    warned = [x for x in shown.stderr.splitlines() if "--split-by plate:" in x]
    assert len(warned) == 1 and "8 images without a plate id were split" in warned[0], warned

    by_well = run_cli("index", str(out), *SPLIT)
    assert by_well.returncode == 0, by_well.stderr
    assert "image by image" not in by_well.stderr + by_well.stdout

    # The split by plate given again: said again (the folder's split changed since), once.
    outs = [run_cli("index", str(out), *SPLIT, "--split-by", "plate") for _ in range(2)]
    assert [o.returncode for o in outs] == [0, 0], [o.stderr for o in outs]
    assert [o.stderr.count("--split-by plate: 8 images") for o in outs] == [1, 0], outs[1].stderr


def test_a_split_by_dataset_does_not_send_a_screens_images_to_imgdata(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Of a plate and a project split by dataset, the plate's images are counted as split
    image by image and named a screen's: imgData gives them no dataset, so the warning does
    not tell to add it (it did, for every one of them)."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "mixed"
    shown = run_cli(
        "harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE), "--project",
        str(DEMO_PROJECT), "--out", str(out), "--artifacts", "thumbnail", "--rate", "none",
        "-q", *SPLIT, "--split-by", "dataset",
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    plate_images = sum(bool(row["plate_id"]) for row in _index(out))
    assert plate_images > 0
    (warned,) = [x for x in shown.stderr.splitlines() if "--split-by dataset:" in x]
    assert f"{plate_images} images without a dataset id were split image by image" in warned
    assert warned.endswith(
        "; they are a screen's, in no dataset: split a folder of screens by well (the default)"
        " or plate"
    ), warned
    assert "add imgdata" not in warned


def _split_line(stdout: str) -> str:
    """The one ``split: ...`` line of a harvest's summary or of ``harvester index``."""
    (line,) = [x for x in stdout.splitlines() if x.startswith("split: ")]
    return line


def _splits_csv(out: Path) -> str:
    """``train N, test N``: the images per split as ``DIR/splits.csv`` counts them."""
    with (out / "splits.csv").open(encoding="utf-8", newline="") as handle:
        return ", ".join(f"{row['split']} {row['images']}" for row in csv.DictReader(handle))


def test_the_split_line_says_what_grouping_was_done(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The split line names the grouping done, not the one asked: a project's folder (no
    well) was split by image, a project and a plate by well where images have one, and an
    asked --split-by image is said plainly; harvest summary and `harvester index` alike."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "mixed"
    args = ("--base-url", emu.base_url, "--out", str(out), "--artifacts", "thumbnail",
            "--rate", "none", *SPLIT)  # fmt: skip
    project = run_cli("harvest", *args, "--project", str(DEMO_PROJECT))
    assert project.returncode == 0, project.stderr
    counted = f", counted in {out / 'splits.csv'}"
    alone = f"split: {_splits_csv(out)} (by image, as no image has a well; seed 0){counted}"
    assert _split_line(project.stdout) == alone, project.stdout
    indexed = run_cli("index", str(out))
    assert indexed.returncode == 0, indexed.stderr
    assert _split_line(indexed.stdout) == alone, indexed.stdout

    both = run_cli("harvest", *args, "--plate", str(SMALL_PLATE))
    assert both.returncode == 0, both.stderr
    assert len(_index(out)) == 16
    mixed = f"split: {_splits_csv(out)} (by well where images have one, else by image; seed 0)"
    assert _split_line(both.stdout) == mixed + counted, both.stdout

    by_image = run_cli("index", str(out), *SPLIT, "--split-by", "image")
    assert by_image.returncode == 0, by_image.stderr
    assert _split_line(by_image.stdout).startswith(f"split: {_splits_csv(out)} (by image, seed 0)")


def test_status_and_the_split_changed_warning_imply_no_wells(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A project's folder: `status` says the split asked without implying wells, and a new
    split's "split changed" warning says both splits went by image, as no image has a well
    (both said `by well`, as if the folder had wells)."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "project"
    first = run_cli("harvest", "--base-url", emu.base_url, "--out", str(out), "--artifacts",
                    "thumbnail", "--rate", "none", "--project", str(DEMO_PROJECT), "-q",
                    "--split", "train=0.5,test=0.5", "--split-seed", "1")  # fmt: skip
    assert first.returncode == 0, first.stderr
    status = run_cli("status", str(out))
    assert (
        "split (index.csv's split column, split.json): train=0.5,test=0.5 by well (images"
        " without a well alone), seed 1"
    ) in status.stdout, status.stdout
    for seed in range(2, 12):  # (a seed that moves some of the 8 images)
        changed = run_cli("index", str(out), "--split", "train=0.5,test=0.5",
                          "--split-seed", str(seed))  # fmt: skip
        assert changed.returncode == 0, changed.stderr
        warned = [x for x in changed.stderr.splitlines() if "the split changed" in x]
        if warned:
            break
    assert len(warned) == 1, changed.stderr
    assert (
        f"split train=0.5,test=0.5 by image, as no image has a well; seed {seed} replaces"
        " split train=0.5,test=0.5 by image, as no image has a well; seed 1"
    ) in warned[0]


def test_a_new_split_over_a_damaged_record_implies_no_wells(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A project's folder whose split.json is junk and whose index lost its split column: the
    new split's warning (its images may have moved) says the grouping asked, not `by well`
    (which implied wells the folder has none of), as status does."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "project"
    first = run_cli("harvest", "--base-url", emu.base_url, "--out", str(out), "--artifacts",
                    "thumbnail", "--rate", "none", "--project", str(DEMO_PROJECT), "-q",
                    *SPLIT)  # fmt: skip
    assert first.returncode == 0, first.stderr
    (out / "split.json").write_text("junk")
    dropped = run_cli("index", str(out))  # (a damaged record: no split column written)
    assert dropped.returncode == 0 and "split" not in _index(out)[0], dropped.stderr
    again = run_cli("index", str(out), *SPLIT, "--split-seed", "3")
    assert again.returncode == 0, again.stderr
    (warned,) = [x for x in again.stderr.splitlines() if "may be in another split" in x]
    assert (
        "may be in another split now that split train=0.5,test=0.5 by well (images without"
        " a well alone), seed 3 replaces it"
    ) in warned, warned
    assert "by well," not in warned, warned
