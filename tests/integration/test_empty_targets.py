"""A target the server lists empty is said, not taken for a harvest that went well.

A dataset whose images are gone (or not shown to the public user), or a dataset's id meant as
its project's (IDR has a dataset and a project 51), ended in ``0 images found`` and exit 0: a
first-time user could not tell a wrong id from an empty one. Each such target now gets one
warning naming it, with the other kind of that id where the server has one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harvest_helpers import run_cli
from hiding_app import HidingApp

from harvester.emulator import EmulatorThread

DATASET_51 = set(range(1884801, 1884805))  # the demo's dataset 51; 52 holds 1884805-1884808
DATASET_52 = set(range(1884805, 1884809))
PLATE_7361 = set(range(9762885, 9762893))  # its 8 wells' one field each


def harvest(emu: EmulatorThread, out: Path, *targets: str) -> tuple[int, list[str]]:
    """``harvester harvest -q TARGETS`` of thumbnails into ``out``: exit code, warnings."""
    result = run_cli(
        "harvest", "--base-url", emu.base_url, "--rate", "none", "--artifacts", "thumbnail",
        "-q", "--out", str(out), *targets,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    return result.returncode, [
        line for line in result.stderr.splitlines() if line.startswith("WARNING")
    ]


def thumbnails(out: Path) -> set[int]:
    return {int(p.name.split(".")[0]) for p in (out / "images").rglob("*.thumbnail.jpg")}


def test_an_empty_dataset_beside_another_is_named_alone(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Of two datasets, the one listing no image is named, the other harvested; exit 0."""
    app = HidingApp()
    app.hidden = DATASET_52
    emu = make_emulator(app=app)
    code, warnings = harvest(emu, tmp_path / "D", "--dataset", "51,52")
    assert code == 0
    assert warnings == [
        f"WARNING harvester.problems: --dataset 52 lists no image on {emu.base_url}/: nothing "
        "to harvest from it (empty, or its images are not shown to this user); check that it "
        "is the dataset meant (datasets and projects have separate ids)"
    ]
    assert thumbnails(tmp_path / "D") == DATASET_51


def test_an_empty_project_names_the_dataset_of_its_id(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A project whose every dataset lists no image is named once (not each dataset), with
    the dataset of the same id that the server has; a run of it again says it again."""
    app = HidingApp()
    app.hidden = DATASET_51 | DATASET_52
    emu = make_emulator(app=app)
    for _ in range(2):
        code, warnings = harvest(emu, tmp_path / "D", "--project", "51")
        assert code == 0
        assert len(warnings) == 1, warnings
        assert warnings[0].startswith(
            "WARNING harvester.problems: --project 51 holds no image (its 2 datasets list "
            f"none) on {emu.base_url}/: nothing to harvest from it"
        ), warnings
        assert warnings[0].endswith(
            f"; {emu.base_url}/ has a dataset 51: --dataset 51 if that is the one meant"
        ), warnings
    assert not (tmp_path / "D" / "images").exists()


def test_an_empty_plate_is_named_and_a_full_one_is_not(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A plate whose wells list no field is named; a screen with other plates is not."""
    app = HidingApp()
    app.hidden = PLATE_7361
    emu = make_emulator(app=app)
    code, warnings = harvest(emu, tmp_path / "P", "--plate", "7361,7366")
    assert code == 0
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(
        f"WARNING harvester.problems: --plate 7361 lists no image on {emu.base_url}/:"
    ), warnings
    assert len(thumbnails(tmp_path / "P")) == 8  # plate 7366's
    code, warnings = harvest(emu, tmp_path / "S", "--screen", "2302", "--dry-run")
    assert (code, warnings) == (0, [])  # (its other 9 plates' 72 images: not empty)
