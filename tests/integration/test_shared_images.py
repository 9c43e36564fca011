"""An image in two datasets, a dataset in two projects (OMERO's links are many-to-many).

The emulator's ``links`` preset: project 2001, datasets 62001 (3 images) and 62002 (its 3
and image 4300001 of 62001, linked in: childCount 4); project 2002 holds 62002 as well. A
walk of project 2001 meets the image twice; it must be fetched and indexed once, and the
run must end complete (the datasets' counts add up to 7 while the project holds 6 images).
A dataset given alone, having two projects, gets no project id (the walk cannot tell which).
Whatever order the walk meets them in, the image is indexed under the lowest dataset id, and
the images of a dataset in two projects under the lowest project id (README: index.csv).
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harvest_helpers import run_cli

from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.catalogue_presets import (
    LINKS_DATASET_IDS,
    LINKS_PROJECT_ID,
    LINKS_SECOND_PROJECT_ID,
    LINKS_SHARED_IMAGE_ID,
)

PROJECT_IMAGES = 6
DATASET_IDS = [str(i) for i in LINKS_DATASET_IDS]


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
    assert rows[LINKS_SHARED_IMAGE_ID]["dataset_id"] == str(LINKS_DATASET_IDS[0])
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


def _one_walk_at_a_time(tmp_path: Path) -> Path:
    """A config file that walks one dataset at a time, in the order the targets are given."""
    config = tmp_path / "one-at-a-time.toml"
    config.write_text("walk_concurrency = 1\n", encoding="utf-8")
    return config


def _harvest(emu: EmulatorThread, out: Path, *targets: str) -> None:
    """Harvest ``targets`` into ``out`` (thumbnails), asserting exit 0 and no traceback."""
    done = run_cli(
        "harvest", *targets, "--base-url", emu.base_url, "--artifacts", "thumbnail",
        "--rate", "none", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr


def test_a_shared_image_is_indexed_alike_whichever_dataset_is_walked_first(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The image in datasets 62001 and 62002 is indexed under 62001 (the lowest id), its
    project and labels, its thumbnail fetched once, whether 62002 is walked first (one
    at a time), both at once, or by two shards; a rerun in the other order journals nothing."""
    emu = make_emulator(preset="links")
    config = str(_one_walk_at_a_time(tmp_path))
    forward = ["--dataset", DATASET_IDS[0], "--dataset", DATASET_IDS[1]]
    backward = ["--dataset", DATASET_IDS[1], "--dataset", DATASET_IDS[0]]
    first, second, sharded = tmp_path / "first", tmp_path / "second", tmp_path / "sharded"
    _harvest(emu, first, config, *backward)
    assert emu.stats()["by_route"]["image:thumbnail"] == {"200": PROJECT_IMAGES}
    _harvest(emu, second, *forward)
    for shard in ("0/2", "1/2"):
        _harvest(emu, sharded, config, *backward, "--shard", shard)
    index = run_cli("index", str(sharded))
    assert index.returncode == 0, index.stderr[-3000:]
    assert emu.stats()["by_route"]["image:thumbnail"] == {"200": 3 * PROJECT_IMAGES}

    rows = _index(first)
    shared = rows[LINKS_SHARED_IMAGE_ID]
    assert (shared["dataset_id"], shared["dataset_name"]) == (DATASET_IDS[0], "linked-A")
    assert shared["project_id"] == str(LINKS_PROJECT_ID)
    assert len(rows) == PROJECT_IMAGES
    assert _index(second) == rows
    assert _index(sharded) == rows
    _harvest(emu, first, *forward)
    assert _index(first) == rows
    assert len(list((first / "journals").glob("*.jsonl"))) == 1  # (the rerun recorded nothing)


def test_a_dataset_in_two_projects_is_indexed_alike_whichever_project_is_walked_first(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Dataset 62002 (in projects 2001 and 2002) walked from both projects: its images are
    indexed under project 2001 (the lowest id) whichever project is walked first, the
    shared image under dataset 62001; a rerun in the other order journals nothing."""
    emu = make_emulator(preset="links")
    config = str(_one_walk_at_a_time(tmp_path))
    low, high = str(LINKS_PROJECT_ID), str(LINKS_SECOND_PROJECT_ID)
    first, second = tmp_path / "first", tmp_path / "second"
    _harvest(emu, first, config, "--project", high, "--project", low)
    _harvest(emu, second, "--project", low, "--project", high)
    assert emu.stats()["by_route"]["image:thumbnail"] == {"200": 2 * PROJECT_IMAGES}

    rows = _index(first)
    assert len(rows) == PROJECT_IMAGES
    assert {row["project_id"] for row in rows.values()} == {low}
    assert rows[LINKS_SHARED_IMAGE_ID]["dataset_id"] == DATASET_IDS[0]
    assert _index(second) == rows
    _harvest(emu, first, config, "--project", low, "--project", high)
    assert _index(first) == rows
    assert len(list((first / "journals").glob("*.jsonl"))) == 1  # (the rerun recorded nothing)


def test_a_plan_places_a_shared_image_as_a_harvest_does(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A plan that walks 62002 first plans the shared image under 62001; its two shards
    harvest and index the rows a single harvest writes, each image fetched once."""
    emu = make_emulator(preset="links")
    config = str(_one_walk_at_a_time(tmp_path))
    planned, single = tmp_path / "planned", tmp_path / "single"
    made = run_cli(
        "plan", config, "--dataset", DATASET_IDS[1], "--dataset", DATASET_IDS[0],
        "--base-url", emu.base_url, "--artifacts", "thumbnail", "--rate", "none",
        "--out", str(planned),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    for shard in ("0/2", "1/2"):
        _harvest(emu, planned, "--from-plan", str(planned), "--shard", shard)
    index = run_cli("index", str(planned))
    assert index.returncode == 0, index.stderr[-3000:]
    _harvest(emu, single, "--dataset", DATASET_IDS[0], "--dataset", DATASET_IDS[1])
    assert emu.stats()["by_route"]["image:thumbnail"] == {"200": 2 * PROJECT_IMAGES}
    rows = _index(single)
    assert rows[LINKS_SHARED_IMAGE_ID]["dataset_id"] == DATASET_IDS[0]
    assert _index(planned) == rows


class GoneApp:
    """The ``links`` preset; once ``gone``, every request about the shared image but the
    listings answers 404 (deleted from the server, still listed by its datasets)."""

    def __init__(self) -> None:
        self.inner: Any = build_application("links")
        self.gone = False

    def handle(self, req: Any) -> Any:
        answer = self.inner.handle(req)
        about = f"/{LINKS_SHARED_IMAGE_ID}/" in f"{req.path}/"
        if self.gone and about and not req.path.startswith("/webclient/api/"):
            return dataclasses.replace(answer, status=404, body=b"not found")
        return answer

    def route_name(self, req: Any) -> str:
        return str(self.inner.route_name(req))


def test_an_image_gone_from_the_server_keeps_its_row_when_met_twice(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The shared image, indexed under dataset 62002 of project 2002, then gone (recorded
    by forget --gone-ids-from): a walk of project 2001 meeting it under 62001 first, then
    62002, keeps its row (no worker takes it); it was put under 62002 of 2001, a place
    the rule gives no harvest (62001 ranks first), from its second meeting alone."""
    app = GoneApp()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    second, first = str(LINKS_SECOND_PROJECT_ID), str(LINKS_PROJECT_ID)
    _harvest(emu, out, "--project", second)
    app.gone = True
    failed = run_cli(
        "harvest", "--project", second, "--base-url", emu.base_url, "--artifacts",
        "thumbnail,metadata", "--rate", "none", "--out", str(out),
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr[-3000:]
    listed = run_cli("status", str(out), "--failed-ids")
    assert listed.stdout == f"{LINKS_SHARED_IMAGE_ID}\n", listed.stderr
    forgot = run_cli("forget", str(out), "--gone-ids-from", "-", stdin=listed.stdout)
    assert forgot.returncode == 0, forgot.stderr
    kept = _index(out)[LINKS_SHARED_IMAGE_ID]
    assert (kept["project_id"], kept["dataset_id"]) == (second, DATASET_IDS[1])
    _harvest(emu, out, str(_one_walk_at_a_time(tmp_path)), "--project", first)
    rows = _index(out)
    assert rows[LINKS_SHARED_IMAGE_ID] == kept
    assert len(rows) == PROJECT_IMAGES
    assert run_cli("index", str(out)).returncode == 0
    assert _index(out) == rows
