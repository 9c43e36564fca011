"""A shard asks the server about its own images only: labels, and --image checks.

A ``--shard K/N`` walk lists every plate and dataset, but keeps 1/N of the images. It asked
the annotations of every well (or image) of a page holding any of its images: a 64-task
array asked the server for every label 64 times, and the annotation endpoint is one of
IDR's slowest. Now a shard asks for the wells and images it keeps, except the one shard
that saves a plate's or dataset's study files, which needs all of them.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harvest_helpers import harvest

from harvester.cli import main
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.catalogue import DEMO_PROJECT_ID, DEMO_SCREEN_ID
from harvester.shard import in_shard

SHARDS = 4
_ASKED = re.compile(r"/webclient/api/annotations/\?type=map&(well|image)=")


class RecordingApp:
    """The demo application, noting every request target it answers."""

    def __init__(self) -> None:
        self.inner: Any = build_application("demo")
        self.targets: list[str] = []

    def handle(self, req: Any) -> Any:
        self.targets.append(req.raw_path)
        return self.inner.handle(req)

    def route_name(self, req: Any) -> str:
        return str(self.inner.route_name(req))

    def asked(self, kind: str) -> set[int]:
        """Ids of ``kind`` (well or image) named in the annotation requests so far."""
        ids: set[int] = set()
        for target in self.targets:
            match = _ASKED.match(target)
            if match and match.group(1) == kind:
                ids.update(int(v) for k, v in re.findall(r"(well|image)=(\d+)", target))
        return ids


def _rows(out: Path) -> list[dict[str, str]]:
    assert main(["index", str(out)]) == 0
    with (out / "index.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_each_shard_asks_the_labels_of_its_own_wells_and_images(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Each shard asks the labels of its own wells and images, together matching a whole run."""
    whole = tmp_path / "whole"
    plain = make_emulator(preset="demo")
    assert harvest(plain.base_url, whole, screens=(DEMO_SCREEN_ID,), projects=(DEMO_PROJECT_ID,),
                   artifacts=("metadata",)).exit_code == 0  # fmt: skip
    expected = {row["image_id"]: row for row in _rows(whole)}
    seen: dict[str, dict[str, str]] = {}
    savers = 0
    for k in range(SHARDS):
        app = RecordingApp()
        emu = make_emulator(app=app)
        out = tmp_path / f"shard-{k}"
        summary = harvest(emu.base_url, out, screens=(DEMO_SCREEN_ID,), projects=(DEMO_PROJECT_ID,),
                          artifacts=("metadata",), shard=f"{k}/{SHARDS}")  # fmt: skip
        assert summary.exit_code == 0
        rows = _rows(out)
        mine_wells = {int(r["well_id"]) for r in rows if r["well_id"]}
        mine_images = {int(r["image_id"]) for r in rows if r["dataset_id"]}
        # The shard saving a plate's or dataset's study files asks for all of it.
        saved_wells = {
            well["@id"]
            for wells in (out / "study").glob("plate-*/wells.json")
            for well in json.loads(wells.read_text())["data"]
        }
        saved_images = {
            image["id"]
            for images in (out / "study").glob("dataset-*/images.json")
            for image in json.loads(images.read_text())["images"]
        }
        assert app.asked("well") == mine_wells | saved_wells
        assert app.asked("image") == mine_images | saved_images
        savers += bool(saved_wells or saved_images)
        for row in rows:
            seen[row["image_id"]] = row
    assert savers < SHARDS  # some shards saved no study files: their asks are theirs alone
    # Every image's labels arrived all the same: the shards' rows are the whole run's.
    assert seen == expected


def _image_checks(emu: EmulatorThread) -> int:
    return sum(int(n) for n in emu.stats()["by_route"].get("api_image", {}).values())


def test_a_shard_checks_only_its_own_image_ids_and_a_rerun_none(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``--image`` ids are checked before the walk; a shard checks the ids it owns (the others
    are other shards' to check), so a rerun of a finished shard asks nothing at all (it used
    to check every other shard's ids again: its store holds its own images' records only)."""
    listing = make_emulator(preset="demo")
    found = tmp_path / "found"
    assert harvest(listing.base_url, found, projects=(DEMO_PROJECT_ID,),
                   artifacts=("thumbnail",)).exit_code == 0  # fmt: skip
    ids = tuple(int(row["image_id"]) for row in _rows(found))
    for k in range(2):
        own = [i for i in ids if in_shard(i, k, 2)]
        assert 0 < len(own) < len(ids)
        out = tmp_path / f"images-{k}"
        first = make_emulator(preset="demo")
        assert harvest(first.base_url, out, images=ids, artifacts=("thumbnail",),
                       shard=f"{k}/2").exit_code == 0  # fmt: skip
        assert _image_checks(first) == len(own)
        assert len(list(out.glob("images/**/*.jpg"))) == len(own)
        again = make_emulator(preset="demo")
        rerun = harvest(again.base_url, out, images=ids, artifacts=("thumbnail",), shard=f"{k}/2")
        assert rerun.exit_code == 0 and rerun.done == 0
        assert again.stats()["image_requests"] == 0


def test_a_run_from_a_plan_reads_no_other_runs_config(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: Any
) -> None:
    """Shards of a plan take images and labels from the plan: they need not know whether an
    earlier run skipped labels, so they do not read every run's config.json (a 1,000-task
    array on a shared filesystem: a million small reads). A walking run reads them only once it
    meets a journaled image without labels or mark (test_labels_first_run counts those reads):
    here every image has labels, so it reads none either."""
    import harvester.pipeline as pipeline

    emu = make_emulator(preset="demo")
    out = tmp_path / "out"
    plan = ["plan", "--base-url", emu.base_url, "--project", str(DEMO_PROJECT_ID), "--out"]
    assert main([*plan, str(out)]) == 0
    real = pipeline.saved_run_configs
    readers: list[Path] = []

    def counted(out_dir: Path, state: Any, **options: Any) -> Any:
        readers.append(out_dir)
        return real(out_dir, state, **options)

    monkeypatch.setattr(pipeline, "saved_run_configs", counted)
    for k in range(2):
        summary = harvest(emu.base_url, out, from_plan=out, shard=f"{k}/2",
                          artifacts=("thumbnail",))  # fmt: skip
        assert summary.exit_code == 0
    assert readers == []
    assert len(list(out.glob("images/**/*.jpg"))) == 8
    walked = harvest(emu.base_url, out, projects=(DEMO_PROJECT_ID,), artifacts=("thumbnail",))
    assert walked.exit_code == 0 and walked.done == 0
    assert readers == []
