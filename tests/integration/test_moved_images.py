"""An image moved on the server, between two harvests into one folder (README: index.csv).

The emulator's ``links`` preset puts image 4300001 in datasets 62001 and 62002 of project
2001, so a first harvest indexes it under 62001 (the lowest id). Then it leaves 62001 (the
listing of 62001 drops it: it moved to 62002, a higher id). A run that lists 62001 whole
and no longer finds it there moves its row to 62002: a rerun, shards, a plan's harvest.
One that does not list 62001 (a narrower target, a plan of 62002 alone) keeps the row.
Its files are named by id, not by dataset: none is fetched again or moved.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harvest_helpers import harvest, run_cli

from harvester import pipeline, walk
from harvester import verify as verify_module
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.catalogue_presets import (
    LINKS_DATASET_IDS,
    LINKS_FIRST_IMAGE_ID,
    LINKS_PROJECT_ID,
    LINKS_SECOND_PROJECT_ID,
    LINKS_SHARED_IMAGE_ID,
)
from harvester.models import Artifact
from harvester.placing import Placing

OLD, NEW = (str(i) for i in LINKS_DATASET_IDS)
MOVED = LINKS_SHARED_IMAGE_ID
PROJECT = str(LINKS_PROJECT_ID)
IMAGES = 6


class MovingApp:
    """The ``links`` preset; once ``moved``, dataset 62001's listing leaves image MOVED out
    and its project's listing counts an image fewer in it (``childCount``), as OMERO's."""

    def __init__(self) -> None:
        self.inner: Any = build_application("links")
        self.moved = False

    def handle(self, req: Any) -> Any:
        answer = self.inner.handle(req)
        if not self.moved:
            return answer
        if req.path == "/webclient/api/images/" and ("id", OLD) in req.query:
            body = json.loads(answer.body)
            body["images"] = [i for i in body["images"] if i.get("id") != MOVED]
            answer = dataclasses.replace(answer, body=json.dumps(body).encode())
        elif req.path == "/webclient/api/datasets/":
            body = json.loads(answer.body)
            for dataset in body["datasets"]:
                dataset["childCount"] -= dataset["id"] == int(OLD)
            answer = dataclasses.replace(answer, body=json.dumps(body).encode())
        return answer

    def route_name(self, req: Any) -> str:
        return str(self.inner.route_name(req))


def _cli(*args: str) -> None:
    """Run ``harvester ARGS``, asserting exit 0 and no traceback."""
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr


def _harvest(emu: EmulatorThread, out: Path, *targets: str) -> None:
    """Harvest ``targets`` into ``out`` (thumbnails)."""
    _cli(
        "harvest", *targets, "--base-url", emu.base_url, "--artifacts", "thumbnail",
        "--rate", "none", "--out", str(out),
    )  # fmt: skip


def _place(out: Path, *, by_harvest: bool = True) -> tuple[str, str]:
    """The moved image's dataset id and name in index.csv, written again from the journals
    by ``harvester index``, which must agree with the harvest's own write (``by_harvest``;
    shards write none)."""
    with (out / "index.csv").open(newline="", encoding="utf-8") as f:
        written = {row["image_id"]: row for row in csv.DictReader(f)}
    _cli("index", str(out))
    with (out / "index.csv").open(newline="", encoding="utf-8") as f:
        rows = {row["image_id"]: row for row in csv.DictReader(f)}
    assert rows == written or not by_harvest
    assert len(rows) == IMAGES
    row = rows[str(MOVED)]
    return row["dataset_id"], row["dataset_name"]


def _first_harvest(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> tuple[MovingApp, EmulatorThread, Path]:
    """The project harvested before the move: the image indexed under 62001."""
    app = MovingApp()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    _harvest(emu, out, "--project", PROJECT)
    assert _place(out) == (OLD, "linked-A")
    app.moved = True
    return app, emu, out


def test_a_rerun_that_lists_the_old_dataset_moves_the_row(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """After the move, a run of dataset 62002 alone keeps the row under 62001 (it did not
    list 62001); a rerun of the project moves it to 62002, fetching nothing again (the
    thumbnail stays, named by id); a further rerun journals nothing."""
    _app, emu, out = _first_harvest(tmp_path, make_emulator)
    thumbnail = next((out / "images").rglob(f"{MOVED}.thumbnail.jpg"))
    before = thumbnail.read_bytes()
    _harvest(emu, out, "--dataset", NEW)
    assert _place(out) == (OLD, "linked-A")
    _harvest(emu, out, "--project", PROJECT)
    assert _place(out) == (NEW, "linked-B")
    assert thumbnail.read_bytes() == before
    assert emu.stats()["by_route"]["image:thumbnail"] == {"200": IMAGES}
    journals = sorted((out / "journals").glob("*.jsonl"))
    _harvest(emu, out, "--project", PROJECT)
    assert sorted((out / "journals").glob("*.jsonl")) == journals  # (it recorded nothing)
    assert _place(out) == (NEW, "linked-B")


def test_shards_and_a_plan_that_list_the_old_dataset_move_the_row(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """After the move, both shards of a rerun move the row to 62002; so does a harvest
    from a plan of the project, while one from a plan of 62002 alone keeps it."""
    app, emu, out = _first_harvest(tmp_path, make_emulator)
    sharded = tmp_path / "sharded"
    app.moved = False  # (this folder harvested before the move too)
    _harvest(emu, sharded, "--project", PROJECT)
    app.moved = True
    for shard in ("0/2", "1/2"):
        _harvest(emu, sharded, "--project", PROJECT, "--shard", shard)
    assert _place(sharded, by_harvest=False) == (NEW, "linked-B")

    _cli("plan", "--base-url", emu.base_url, "--dataset", NEW, "--out", str(out))
    _cli("harvest", "--from-plan", str(out), "--out", str(out), "--rate", "none")
    assert _place(out) == (OLD, "linked-A")
    _cli("plan", "--base-url", emu.base_url, "--project", PROJECT, "--out", str(out), "--force")
    _cli("harvest", "--from-plan", str(out), "--out", str(out), "--rate", "none")
    assert _place(out) == (NEW, "linked-B")


def test_the_row_moves_whichever_dataset_is_walked_first(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """One dataset walked at a time: 62002 first (its worker keeps the row back until
    62001 is listed) or 62001 first (listed before the worker comes): the row moves to
    62002 either way (in a copy of the folder made before the move was seen)."""
    _app, emu, out = _first_harvest(tmp_path, make_emulator)
    config = tmp_path / "one-at-a-time.toml"
    config.write_text("walk_concurrency = 1\n", encoding="utf-8")
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for folder, order in ((out, (NEW, OLD)), (copy, (OLD, NEW))):
        _harvest(emu, folder, str(config), "--dataset", order[0], "--dataset", order[1])
        assert _place(folder) == (NEW, "linked-B")


class SlowImageApp:
    """The ``links`` preset; once ``slow``, each request naming image ``image_id`` waits."""

    def __init__(self, image_id: int) -> None:
        self.inner: Any = build_application("links")
        self.image_id = str(image_id)
        self.slow = False

    def handle(self, req: Any) -> Any:
        if self.slow and self.image_id in req.path:
            time.sleep(1.5)
        return self.inner.handle(req)

    def route_name(self, req: Any) -> str:
        return str(self.inner.route_name(req))


def _places(out: Path) -> dict[str, tuple[str, str]]:
    """index.csv's (project_id, dataset_id) of each image."""
    with (out / "index.csv").open(newline="", encoding="utf-8") as f:
        return {r["image_id"]: (r["project_id"], r["dataset_id"]) for r in csv.DictReader(f)}


def test_a_sample_keeps_the_place_of_images_its_batches_decided_first(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A --sample run whose batch of held images is journaled before the workers reach
    some of them (a batch of 1; the third image slow) keeps dataset 62002's images under
    project 2001, the lower of the two that link it: the sample's early records no longer
    make them decided and forgotten before their workers, which then took 2002."""
    app = SlowImageApp(LINKS_FIRST_IMAGE_ID + 2)  # (the third in the sample's order)
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    thumbnail = (Artifact("thumbnail"),)
    harvest(emu.base_url, out, projects=(LINKS_PROJECT_ID,), artifacts=thumbnail)
    before = _places(out)
    assert before[str(LINKS_FIRST_IMAGE_ID + 3)] == (PROJECT, NEW)
    app.slow = True
    monkeypatch.setattr(pipeline, "Placing", functools.partial(Placing, batch=1))
    summary = harvest(
        emu.base_url,
        out,
        projects=(LINKS_SECOND_PROJECT_ID, LINKS_PROJECT_ID),  # 2002's datasets met first
        sample=IMAGES,
        concurrency=1,
        walk_concurrency=1,
        artifacts=(*thumbnail, Artifact("imgdata")),
    )
    assert summary.done_by_kind.get("imgdata") == IMAGES  # (the workers fetched)
    assert _places(out) == before


def _listing(out: Path, kind: str, object_id: object, key: str) -> list[int]:
    """The ids a saved study listing (``study/<kind>-<id>/<key>.json``) holds, in order."""
    path = out / "study" / f"{kind}-{object_id}" / f"{key}.json"
    return [item["id"] for item in json.loads(path.read_bytes())[key]]


def _study(out: Path) -> dict[str, bytes]:
    """Every study file of ``out`` by its path under ``study/``."""
    root = out / "study"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.json")}


def _annotated(out: Path, dataset: str) -> set[int]:
    """The images whose annotations dataset ``dataset``'s saved image-annotations.json holds."""
    path = out / "study" / f"dataset-{dataset}" / "image-annotations.json"
    return {a["link"]["parent"]["id"] for a in json.loads(path.read_bytes())["annotations"]}


def test_the_old_datasets_study_files_no_longer_list_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """After the move, a run of 62002 alone leaves 62001's saved listing as it was (it did
    not list 62001); a rerun of the project saves 62001's images.json and its images'
    annotations again without the image, and keeps 62002's files; verify finds every
    file as journaled, and a further rerun saves nothing."""
    _app, emu, out = _first_harvest(tmp_path, make_emulator)
    first = [MOVED, MOVED + 1, MOVED + 2]
    assert _listing(out, "dataset", OLD, "images") == first
    assert MOVED in _annotated(out, OLD)
    new_files = {p.name: p.read_bytes() for p in (out / "study" / f"dataset-{NEW}").iterdir()}
    _harvest(emu, out, "--dataset", NEW)
    assert _listing(out, "dataset", OLD, "images") == first
    _harvest(emu, out, "--project", PROJECT)
    assert _listing(out, "dataset", OLD, "images") == first[1:]
    assert _annotated(out, OLD) == set(first[1:])
    assert {p.name: p.read_bytes() for p in (out / "study" / f"dataset-{NEW}").iterdir()} == (
        new_files
    )
    _cli("verify", str(out))
    journals = sorted((out / "journals").glob("*.jsonl"))
    _harvest(emu, out, "--project", PROJECT)
    assert sorted((out / "journals").glob("*.jsonl")) == journals  # (it recorded nothing)


def test_the_projects_listing_counts_the_images_its_datasets_list_now(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """After the move, the rerun of the project saves its datasets.json again, where
    62001's ``childCount`` says 2 images as its images.json lists (it kept 3): every
    study file is a fresh harvest's byte for byte, and a further rerun saves nothing."""
    _app, emu, out = _first_harvest(tmp_path, make_emulator)
    fresh = tmp_path / "fresh"
    _harvest(emu, out, "--project", PROJECT)
    _harvest(emu, fresh, "--project", PROJECT)
    path = out / "study" / f"project-{PROJECT}" / "datasets.json"
    counts = {d["id"]: d["childCount"] for d in json.loads(path.read_bytes())["datasets"]}
    assert counts[int(OLD)] == len(_listing(out, "dataset", OLD, "images")) == 2
    assert _study(out) == _study(fresh)
    _cli("verify", str(out))
    journals = sorted((out / "journals").glob("*.jsonl"))
    _harvest(emu, out, "--project", PROJECT)
    assert sorted((out / "journals").glob("*.jsonl")) == journals  # (it recorded nothing)


class RelistingApp:
    """The ``links`` preset; once ``changed``, each webclient listing item's ``permsCss``
    says ``canEdit`` (a session with other rights) and project 2002 lists no dataset."""

    def __init__(self) -> None:
        self.inner: Any = build_application("links")
        self.changed = False

    def handle(self, req: Any) -> Any:
        answer = self.inner.handle(req)
        if not (self.changed and req.path.startswith("/webclient/api/")):
            return answer
        body = json.loads(answer.body)
        for key in ("images", "datasets"):
            for item in body.get(key, []):
                item["permsCss"] = "canEdit"
        if req.path == "/webclient/api/datasets/" and ("id", SECOND) in req.query:
            body["datasets"] = []
        return dataclasses.replace(answer, body=json.dumps(body).encode())

    def route_name(self, req: Any) -> str:
        return str(self.inner.route_name(req))


SECOND = str(LINKS_SECOND_PROJECT_ID)


def test_a_project_listing_is_saved_again_for_its_ids_only(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Listings whose items differ only in the rights the server shows (``permsCss``)
    save nothing again (project 2001: the rerun journals nothing); project 2002, which
    no longer lists dataset 62002, has its datasets.json saved again listing none."""
    app = RelistingApp()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    for project in (PROJECT, SECOND):
        _harvest(emu, out, "--project", project)
    assert _listing(out, "project", SECOND, "datasets") == [int(NEW)]
    study = {p: p.read_bytes() for p in (out / "study").rglob("*.json")}
    app.changed = True
    journals = sorted((out / "journals").glob("*.jsonl"))
    _harvest(emu, out, "--project", PROJECT)
    assert sorted((out / "journals").glob("*.jsonl")) == journals  # (it recorded nothing)
    _harvest(emu, out, "--project", SECOND)
    assert _listing(out, "project", SECOND, "datasets") == []
    changed = {p for p in (out / "study").rglob("*.json") if study.get(p) != p.read_bytes()}
    assert {p.relative_to(out).as_posix() for p in changed} == {
        f"study/project-{SECOND}/datasets.json"
    }
    _cli("verify", str(out))


def test_ids_given_with_the_walk_still_move_the_row(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """After the move, a rerun of the project with the image's id in ``--ids-from`` too
    moves the row to 62002 (the walk lists its targets before the ids: the id comes as
    a duplicate of the walk's image, in its new place), fetching nothing again."""
    _app, emu, out = _first_harvest(tmp_path, make_emulator)
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{MOVED}\n", encoding="utf-8")
    _harvest(emu, out, "--ids-from", str(ids), "--project", PROJECT)
    assert _place(out) == (NEW, "linked-B")
    assert emu.stats()["by_route"]["image:thumbnail"] == {"200": IMAGES}


class LeavingApp:
    """The ``links`` preset, its requests counted by path and id; once ``left``, dataset
    62002 (linked from both projects) no longer lists image LEFT."""

    def __init__(self) -> None:
        self.inner: Any = build_application("links")
        self.left = False
        self.asked: list[tuple[str, tuple[tuple[str, str], ...]]] = []

    def handle(self, req: Any) -> Any:
        self.asked.append((req.path, tuple(req.query)))
        answer = self.inner.handle(req)
        if self.left and req.path == "/webclient/api/images/" and ("id", NEW) in req.query:
            body = json.loads(answer.body)
            body["images"] = [i for i in body["images"] if i.get("id") != LEFT]
            answer = dataclasses.replace(answer, body=json.dumps(body).encode())
        return answer

    def route_name(self, req: Any) -> str:
        return str(self.inner.route_name(req))

    def count(self, path: str, query: tuple[str, str] | None = None) -> int:
        """Requests of ``path`` (with ``query`` among their parameters) in ``asked``."""
        return sum(1 for p, q in self.asked if p == path and (query is None or query in q))

    def annotations_of(self, image_ids: set[int]) -> int:
        """Map-annotation requests naming one of ``image_ids``."""
        named = {("image", str(i)) for i in image_ids}
        return sum(
            1 for p, q in self.asked if p == "/webclient/api/annotations/" and named & set(q)
        )


LEFT = LINKS_FIRST_IMAGE_ID + 3  # (62002's own first image)


def test_a_dataset_of_two_projects_is_saved_again_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Dataset 62002, walked under both projects of one run, lists an image fewer: the
    rerun saves its files again without it once, asking its JSON and its images'
    annotations once for that (its two walks each did) and its listing not again (the
    pages a walk listed are saved); verify finds every file as journaled."""
    app = LeavingApp()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    both = ("--project", PROJECT, "--project", str(LINKS_SECOND_PROJECT_ID))
    _harvest(emu, out, *both)
    app.left, app.asked = True, []
    _harvest(emu, out, *both)
    assert LEFT not in _listing(out, "dataset", NEW, "images")
    assert app.count(f"/api/v0/m/datasets/{NEW}/") == 1
    assert app.count("/webclient/api/images/", ("id", NEW)) == 2  # (its two walks)
    assert app.annotations_of(set(_listing(out, "dataset", NEW, "images"))) == 1
    _cli("verify", str(out))


def test_a_dataset_target_saved_again_asks_its_json_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A rerun of ``--dataset 62002`` that finds it lists an image fewer saves its files
    again with the dataset's JSON its preflight check asked (one request, not two)."""
    app = LeavingApp()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    _harvest(emu, out, "--dataset", NEW)
    app.left, app.asked = True, []
    _harvest(emu, out, "--dataset", NEW)
    assert LEFT not in _listing(out, "dataset", NEW, "images")
    assert app.count(f"/api/v0/m/datasets/{NEW}/") == 1
    _cli("verify", str(out))


def test_verify_while_a_rerun_saves_a_listing_again_finds_nothing_damaged(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun that saves 62001's study files again (the image moved) between verify's
    read of the journals and its check of the files: verify reports no file damaged and
    marks none for refetch (it checked the new images.json against its old record), so a
    further rerun journals nothing."""
    _app, emu, out = _first_harvest(tmp_path, make_emulator)
    checks = verify_module._check_strays

    def rerun_first(*args: Any, **kwargs: Any) -> None:
        _harvest(emu, out, "--project", PROJECT)
        checks(*args, **kwargs)

    monkeypatch.setattr(verify_module, "_check_strays", rerun_first)
    report = verify_module.verify(out)
    assert _listing(out, "dataset", OLD, "images") == [MOVED + 1, MOVED + 2]  # (saved again)
    assert (report.problems, report.journal) == ([], None)
    assert report.ok == report.checked
    journals = sorted((out / "journals").glob("*.jsonl"))
    _harvest(emu, out, "--project", PROJECT)
    assert sorted((out / "journals").glob("*.jsonl")) == journals


def test_a_listing_written_again_but_not_journaled_is_saved_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """62001's images.json as a re-save after the move writes it, its record not journaled
    (a run killed between the rename and the journal): the rerun saves the dataset's files
    again under a new record, so verify finds every file as journaled (the saved listing's
    ids being the fresh one's, nothing was saved and verify said it damaged)."""
    _app, emu, out = _first_harvest(tmp_path, make_emulator)
    fresh = tmp_path / "fresh"
    _harvest(emu, fresh, "--project", PROJECT)
    listing = Path("study", f"dataset-{OLD}", "images.json")
    shutil.copyfile(fresh / listing, out / listing)
    _harvest(emu, out, "--project", PROJECT)
    assert _listing(out, "dataset", OLD, "images") == [MOVED + 1, MOVED + 2]
    assert _annotated(out, OLD) == {MOVED + 1, MOVED + 2}
    _cli("verify", str(out))


@pytest.mark.parametrize(("shard", "digests"), [("0/2", True), ("1/2", False)])
def test_only_the_shard_saving_study_files_digests_its_listings(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
    shard: str,
    digests: bool,
) -> None:
    """A sharded rerun's shard 0, which saves the study files, digests each dataset's
    listing to compare it with the saved one; shard 1 saves none and digests none (every
    shard hashed every listing it walked, for nothing)."""
    _app, emu, out = _first_harvest(tmp_path, make_emulator)
    pages: list[int] = []
    add = walk.ListingDigest.add

    def counted(digest: walk.ListingDigest, items: list[dict[str, Any]]) -> None:
        pages.append(len(items))
        add(digest, items)

    monkeypatch.setattr(walk.ListingDigest, "add", counted)
    thumbnail = (Artifact("thumbnail"),)
    summary = harvest(
        emu.base_url, out, projects=(LINKS_PROJECT_ID,), artifacts=thumbnail, shard=shard
    )
    assert summary.failed == 0
    assert bool(pages) is digests, pages


HUGE_DATASET = 40001  # (the huge preset's first dataset: 1,000 images, two listing pages)
HUGE_LEFT = 10_000_700  # (an image of its second page: the first stays a full page)


class PagedMovingApp:
    """The ``huge`` preset, its requests counted by path and id; once ``moved``, dataset
    HUGE_DATASET no longer lists image HUGE_LEFT."""

    def __init__(self) -> None:
        self.inner: Any = build_application("huge")
        self.moved = False
        self.asked: list[tuple[str, tuple[tuple[str, str], ...]]] = []

    def handle(self, req: Any) -> Any:
        self.asked.append((req.path, tuple(req.query)))
        answer = self.inner.handle(req)
        dataset = ("id", str(HUGE_DATASET))
        if self.moved and req.path == "/webclient/api/images/" and dataset in req.query:
            body = json.loads(answer.body)
            body["images"] = [i for i in body["images"] if i.get("id") != HUGE_LEFT]
            answer = dataclasses.replace(answer, body=json.dumps(body).encode())
        return answer

    def route_name(self, req: Any) -> str:
        return str(self.inner.route_name(req))

    def count(self, path: str, query: tuple[str, str] | None = None) -> int:
        """Requests of ``path`` (with ``query`` among their parameters) in ``asked``."""
        return sum(1 for p, q in self.asked if p == path and (query is None or query in q))


@pytest.mark.parametrize(("held", "listings"), [(walk.HELD_LISTING_BYTES, 2), (1_000, 4)])
def test_a_listing_saved_again_is_the_walks_pages_as_a_fresh_harvest_saves_them(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
    held: int,
    listings: int,
) -> None:
    """A dataset of 1,000 images (two listing pages) that lists an image fewer: the rerun
    saves its files again from the pages its walk listed (two listing requests; with
    ``held`` bytes too few to keep a page, they are asked again: four), its images'
    annotations asked page by page as a first harvest asks them, so every study file
    is a fresh harvest's byte for byte; verify finds them as journaled."""
    monkeypatch.setattr(walk, "HELD_LISTING_BYTES", held)
    app = PagedMovingApp()
    emu = make_emulator(app=app)
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    target: dict[str, Any] = {
        "datasets": (HUGE_DATASET,),
        "sample": 2,
        "artifacts": (Artifact("thumbnail"),),
    }
    assert harvest(emu.base_url, out, **target).failed == 0
    assert HUGE_LEFT in _listing(out, "dataset", HUGE_DATASET, "images")
    app.moved, app.asked = True, []
    assert harvest(emu.base_url, out, **target).failed == 0
    assert app.count("/webclient/api/images/", ("id", str(HUGE_DATASET))) == listings
    assert harvest(emu.base_url, fresh, **target).failed == 0
    assert HUGE_LEFT not in _listing(out, "dataset", HUGE_DATASET, "images")
    assert _study(out) == _study(fresh)
    _cli("verify", str(out))
