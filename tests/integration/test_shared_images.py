"""An image in two datasets, a dataset in two projects (OMERO's links are many-to-many).

The emulator's ``links`` preset: project 2001, datasets 62001 (3 images) and 62002 (its 3
and image 4300001 of 62001, linked in: childCount 4); project 2002 holds 62002 as well. A
walk of project 2001 meets the image twice; it must be fetched and indexed once, and the
run must end complete (the datasets' counts add up to 7 while the project holds 6 images).
A dataset given alone, having two projects, gets no project id (the walk cannot tell which).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import run_cli

from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue_presets import (
    LINKS_DATASET_IDS,
    LINKS_PROJECT_ID,
    LINKS_SECOND_PROJECT_ID,
    LINKS_SHARED_IMAGE_ID,
)

PROJECT_IMAGES = 6


def _index(out: Path) -> dict[int, dict[str, str]]:
    """index.csv rows by image id (asserting each id appears once)."""
    with (out / "index.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_id = {int(row["image_id"]): row for row in rows}
    assert len(by_id) == len(rows), [row["image_id"] for row in rows]
    return by_id


def test_an_image_in_two_datasets_is_harvested_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The project: 6 images indexed and fetched once each (one thumbnail request per
    image), exit 0, and a rerun skips them all; the second dataset alone: its 4 images,
    the linked one under that dataset, no project id (it has two); the second project:
    the same 4, under it."""
    emu = make_emulator(preset="links")
    out = tmp_path / "project"
    args = ["--base-url", emu.base_url, "--artifacts", "thumbnail,imgdata", "--rate", "none"]
    first = run_cli("harvest", *args, "--project", str(LINKS_PROJECT_ID), "--out", str(out))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Traceback" not in first.stderr
    rows = _index(out)
    assert sorted(rows) == list(range(LINKS_SHARED_IMAGE_ID, LINKS_SHARED_IMAGE_ID + 6))
    assert int(rows[LINKS_SHARED_IMAGE_ID]["dataset_id"]) in LINKS_DATASET_IDS
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == PROJECT_IMAGES
    assert emu.stats()["by_route"]["image:thumbnail"] == {"200": PROJECT_IMAGES}
    again = run_cli("harvest", *args, "--project", str(LINKS_PROJECT_ID), "--out", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"skipped {2 * PROJECT_IMAGES} (already done), failed 0" in again.stdout

    second = tmp_path / "dataset"
    alone = run_cli("harvest", *args, "--dataset", str(LINKS_DATASET_IDS[1]), "--out", str(second))
    assert alone.returncode == 0, alone.stderr[-3000:]
    rows = _index(second)
    assert len(rows) == 4 and LINKS_SHARED_IMAGE_ID in rows
    assert rows[LINKS_SHARED_IMAGE_ID]["dataset_id"] == str(LINKS_DATASET_IDS[1])
    assert {row["project_id"] for row in rows.values()} == {""}

    third = tmp_path / "second-project"
    other = run_cli(
        "harvest", *args, "--project", str(LINKS_SECOND_PROJECT_ID), "--out", str(third)
    )
    assert other.returncode == 0, other.stderr[-3000:]
    rows = _index(third)
    assert sorted(rows) == sorted(_index(second))
    assert {row["project_id"] for row in rows.values()} == {str(LINKS_SECOND_PROJECT_ID)}
