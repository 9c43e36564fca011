"""A walk step (a plate, a dataset, a batch of ids) that fails on busy or broken answers
through all its retries is walked once more at the end of the walk (``walk.WalkAgain``),
the queue still open: only a failure then is said.

Why: on a flaky server one listing now and then meets a fault on every try, and the run lost
a whole plate's images (``walk failed: plate 7372``, 72 of 80 found) until a rerun, which
listed it at once. The files had such a second chance; the walk had none.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from harvest_helpers import DEMO_PROJECT, DEMO_SCREEN, SMALL_PLATE, harvest

from harvester.cli import main
from harvester.client import Client, ClientSettings
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.catalogue import DEMO_DATASET_IDS, DEMO_PROJECT_IMAGE_IDS
from harvester.emulator.catalogue_presets import (
    HUGE_FIRST_DATASET_ID,
    HUGE_IMAGES_PER_DATASET,
)
from harvester.emulator.routes_common import django_404
from harvester.models import ImageRef
from harvester.plan import read_plan
from harvester.retry import zero_waits
from harvester.walk import Walker

WELLS = f"/api/v0/m/plates/{SMALL_PLATE}/wells/"
WALKED_AGAIN = "walked again at the end: 1 listing that failed on busy or broken answers"


def _asked(emu: EmulatorThread, route: str) -> int:
    """Requests of ``route`` the emulator answered, whatever it answered."""
    return sum(emu.stats()["by_route"].get(route, {}).values())


def _image_records(out: Path) -> list[dict[str, Any]]:
    """Every ``image`` record of every journal of ``out``."""
    return [
        record
        for journal in sorted((out / "journals").glob("*.jsonl"))
        for line in journal.read_text(encoding="utf-8").splitlines()
        if (record := json.loads(line)).get("rec") == "image"
    ]


def _harvest(emu: EmulatorThread, out: Path, *args: str) -> int:
    """``harvester harvest`` in this process (no retry sleeps), thumbnails only."""
    with zero_waits():
        return main(
            ["harvest", "--base-url", emu.base_url, "--out", str(out),
             "--artifacts", "thumbnail", "--rate", "none", *args]
        )  # fmt: skip


def test_a_plate_listing_busy_through_its_retries_is_walked_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], capsys: pytest.CaptureFixture[str]
) -> None:
    """The wells answered 503 six times (the default 5 retries spent): listed again at the end,
    every image fetched and journaled once, exit 0, no ``walk failed``; the summary says the
    walk's second chance in one line."""
    emu = make_emulator(preset="demo", faults=f"first:503*6,only:{WELLS}")
    out = tmp_path / "out"
    code = _harvest(emu, out, "--plate", str(SMALL_PLATE))
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert _asked(emu, "api_plate_wells") == 7
    assert "walk failed" not in printed.err
    assert printed.out.startswith(
        "done 8 (thumbnail 8), skipped 0 (already done), failed 0; 8 images found\n"
    ), printed.out
    assert f"\n{WALKED_AGAIN}, 1 done\n" in printed.out
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 8
    ids = [r["ref"]["image_id"] for r in _image_records(out)]
    assert len(ids) == len(set(ids)) == 8


def test_a_plate_listing_failing_both_times_is_said_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], capsys: pytest.CaptureFixture[str]
) -> None:
    """Answered 500 through both walks (twelve times): one ``walk failed`` line, exit 1, the
    second chance's line says none done; the rerun lists the plate and completes. (500, not
    503: twelve busy answers in a row make the outage rule wait five seconds.)"""
    emu = make_emulator(preset="demo", faults=f"first:500*12,only:{WELLS}")
    out = tmp_path / "out"
    assert _harvest(emu, out, "--plate", str(SMALL_PLATE)) == 1
    printed = capsys.readouterr()
    assert _asked(emu, "api_plate_wells") == 12
    said = [line for line in printed.err.splitlines() if line.startswith("walk failed")]
    assert said == [
        f"walk failed: plate {SMALL_PLATE}: HTTP 500 Internal Server Error <{emu.base_url}"
        f"{WELLS}?offset=0&limit=1000>"
    ], printed.err
    assert f"\n{WALKED_AGAIN}, 0 done\n" in printed.out
    assert _harvest(emu, out, "--plate", str(SMALL_PLATE)) == 0  # (its faults spent)
    printed = capsys.readouterr()
    assert "walk failed" not in printed.err and "walked again" not in printed.out
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 8


async def test_a_dataset_page_failing_midway_is_walked_again_without_duplicates(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Page 2 of a dataset's 3 (500 + 500 + an empty one) broke through its retries: the
    dataset is walked again, and the 500 images its first walk sent are neither sent nor
    counted again (found, duplicates), the other 500 sent once."""
    emu = make_emulator(preset="huge", faults="first:ok|500*6,only:/webclient/api/images/")
    settings = ClientSettings(base_url=emu.base_url, concurrency=2, rate=None)
    send, receive = anyio.create_memory_object_stream[ImageRef](2 * HUGE_IMAGES_PER_DATASET)
    with zero_waits(), anyio.fail_after(60):
        async with Client(settings) as client:
            walker = Walker(client, send, labels=False, second_chance=True)
            with send:
                await walker.walk(datasets=[HUGE_FIRST_DATASET_ID])
            async with receive:
                sent = [ref async for ref in receive]
    stats = walker.stats
    assert _asked(emu, "webclient_api_images") == 1 + 6 + 3  # (then pages 1, 2 and 3)
    assert len(sent) == len({ref.image_id for ref in sent}) == HUGE_IMAGES_PER_DATASET
    assert (stats.images, stats.duplicates, stats.failures) == (HUGE_IMAGES_PER_DATASET, 0, [])
    assert (stats.walked_again, stats.walked_again_done) == (1, 1)
    assert (stats.datasets, stats.datasets_listed) == (1, 1)
    assert stats.images_listed == {("dataset", HUGE_FIRST_DATASET_ID): HUGE_IMAGES_PER_DATASET}


def test_a_plates_study_files_are_fetched_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The plate's runs (plate acquisitions) broke through their retries once its images were
    listed and sent: walked again, the runs are saved with its other study files, once, and
    its images are neither counted nor journaled twice."""
    emu = make_emulator(preset="demo", faults="first:500*6,only:/webclient/api/plate_acquisitions/")
    out = tmp_path / "out"
    summary = harvest(emu.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert summary.exit_code == 0, summary.walk_failures
    assert (summary.walked_again, summary.walked_again_done) == (1, 1)
    assert _asked(emu, "webclient_api_plate_acquisitions") == 7
    assert _asked(emu, "api_plate_wells") == 2
    runs = json.loads((out / "study" / f"plate-{SMALL_PLATE}" / "runs.json").read_bytes())
    assert isinstance(runs.get("acquisitions"), list)
    assert (summary.images, summary.done) == (8, 8)
    ids = [r["ref"]["image_id"] for r in _image_records(out)]
    assert len(ids) == len(set(ids)) == 8


def test_a_screens_plates_listing_is_walked_again_with_its_plates(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A screen's plates listing broke through its retries: listed again at the end, its 10
    plates are walked then (a dry run: every image found, each plate listed once)."""
    emu = make_emulator(preset="demo", faults="first:500*6,only:/webclient/api/plates/")
    summary = harvest(emu.base_url, tmp_path / "out", screens=(DEMO_SCREEN,), dry_run=True)
    assert summary.exit_code == 0, summary.walk_failures
    assert (summary.walked_again, summary.walked_again_done) == (1, 1)
    assert summary.images == 80
    assert _asked(emu, "api_plate_wells") == 10


def test_a_projects_study_files_walked_again_walk_no_dataset_twice(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The project's own annotations broke through their retries once its datasets were
    listed: its datasets are walked at once, and only the project's listing and files are
    asked again at the end (its datasets not walked twice), then saved."""
    emu = make_emulator(preset="demo", faults="first:500*6,only:/webclient/api/annotations/")
    out = tmp_path / "out"
    summary = harvest(emu.base_url, out, projects=(DEMO_PROJECT,), artifacts=("thumbnail",))
    assert summary.exit_code == 0, summary.walk_failures
    assert (summary.walked_again, summary.walked_again_done) == (1, 1)
    assert _asked(emu, "webclient_api_datasets") == 2
    assert _asked(emu, "webclient_api_images") == 2  # (one page for each of its 2 datasets)
    saved = json.loads((out / "study" / f"project-{DEMO_PROJECT}" / "annotations.json").read_text())
    assert isinstance(saved.get("annotations"), list)
    assert (summary.images, summary.done) == (8, 8)


@pytest.mark.parametrize("given", ["image", "ids-from"])
def test_a_batch_of_ids_whose_labels_broke_is_walked_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], given: str
) -> None:
    """The labels of given ids (``--image``, an ``--ids-from`` batch) broke through their
    retries: the batch is walked again, its images sent then with their labels asked (not
    journaled as unasked, for the next run to ask again), each once."""
    emu = make_emulator(preset="demo", faults="first:500*6,only:/webclient/api/annotations/")
    ids = DEMO_PROJECT_IMAGE_IDS[:3]
    out = tmp_path / "out"
    if given == "image":
        targets: dict[str, Any] = {"images": ids}
    else:
        listed = tmp_path / "ids.txt"
        listed.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
        targets = {"ids_from": listed}
    summary = harvest(emu.base_url, out, artifacts=("thumbnail",), **targets)
    assert summary.exit_code == 0, summary.walk_failures
    assert (summary.walked_again, summary.walked_again_done) == (1, 1)
    assert _asked(emu, "webclient_api_annotations") == 7
    records = _image_records(out)
    assert sorted(r["ref"]["image_id"] for r in records) == list(ids)
    assert not [r for r in records if r.get("labels_asked") is False]
    assert summary.done == 3


def test_an_image_id_also_in_the_ids_file_keeps_its_name_when_walked_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``--image`` 1884801, in the ``--ids-from`` file too: its labels broke through their
    retries, so the ids file's batch sent it first; it keeps the name the check at start
    gave it (index.csv's image_name was empty), and is not counted as an id nothing checked."""
    emu = make_emulator(preset="demo", faults="first:500*6,only:/webclient/api/annotations/")
    ids = DEMO_PROJECT_IMAGE_IDS[:3]
    listed = tmp_path / "ids.txt"
    listed.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    out = tmp_path / "out"
    summary = harvest(emu.base_url, out, artifacts=("thumbnail",), images=ids[:1], ids_from=listed)
    assert summary.exit_code == 0, summary.walk_failures
    assert (summary.walked_again, summary.walked_again_done) == (1, 1)
    names = {r["ref"]["image_id"]: r["ref"]["image_name"] for r in _image_records(out)}
    assert sorted(names) == list(ids)
    assert names[ids[0]] == "CDK5RAP2-C_0001.tif"
    emu = make_emulator(preset="demo", faults="first:500*6,only:/webclient/api/annotations/")
    summary = harvest(emu.base_url, tmp_path / "dry", images=ids[:1], ids_from=listed, dry_run=True)
    assert (summary.images, summary.unchecked_ids) == (3, 2)  # (the dry run's note: 2 ids)


class _GoneWells:
    """The demo server, with the small plate's wells listing answered 404."""

    def __init__(self) -> None:
        self.inner: Any = build_application("demo")
        self.asked = 0

    def handle(self, req: Any) -> Any:
        if req.path == WELLS:
            self.asked += 1
            return django_404(req)
        return self.inner.handle(req)

    def route_name(self, req: Any) -> str:
        return str(self.inner.route_name(req))


def test_a_listing_not_found_is_not_asked_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], capsys: pytest.CaptureFixture[str]
) -> None:
    """A 404 is the server's answer, not a busy moment: said at once, asked once."""
    app = _GoneWells()
    emu = make_emulator(app=app)
    assert _harvest(emu, tmp_path / "out", "--plate", str(SMALL_PLATE)) == 1
    printed = capsys.readouterr()
    assert app.asked == 1
    assert f"walk failed: plate {SMALL_PLATE}: HTTP 404" in printed.err
    assert "walked again" not in printed.out + printed.err


def test_no_second_chance_without_retries(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--max-retries 0`` fails fast: the listing asked once, said at once, exit 1."""
    emu = make_emulator(preset="demo", faults=f"first:500,only:{WELLS}")
    code = _harvest(emu, tmp_path / "out", "--plate", str(SMALL_PLATE), "--max-retries", "0")
    printed = capsys.readouterr()
    assert code == 1
    assert _asked(emu, "api_plate_wells") == 1
    assert f"walk failed: plate {SMALL_PLATE}: HTTP 500" in printed.err
    assert "walked again" not in printed.out + printed.err


def test_a_plans_walk_has_the_second_chance_too(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``harvester plan`` walks as a harvest does: the plate listed again holds its 8 images in
    the plan, each once, and the plan is made (exit 0)."""
    emu = make_emulator(preset="demo", faults=f"first:500*6,only:{WELLS}")
    out = tmp_path / "out"
    with zero_waits():
        code = main(
            ["plan", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE), "--out", str(out),
             "--artifacts", "thumbnail", "--quiet", "--rate", "none"]
        )  # fmt: skip
    assert code == 0
    assert _asked(emu, "api_plate_wells") == 7
    planned = [ref.image_id for ref in read_plan(out)]
    assert len(planned) == len(set(planned)) == 8


async def test_a_walk_stopped_before_its_second_chance_ends_says_no_failure(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Stopped (cancelled, as Ctrl-C or the budget stops it) while the plate is walked again:
    the step kept aside is neither said failed nor counted walked again (the summary said
    "walked again ..., 0 done", as if it had failed again), and the walk does not end
    (the pipeline then journals it unfinished, for the resume to list the plate)."""
    emu = make_emulator(preset="demo", faults=f"first:500*6|hold,hold:again,only:{WELLS}")
    settings = ClientSettings(base_url=emu.base_url, concurrency=2, rate=None)
    send, receive = anyio.create_memory_object_stream[ImageRef](100)
    ended: list[bool] = []
    with zero_waits(), anyio.fail_after(60), send, receive:
        async with Client(settings) as client:
            walker = Walker(client, send, labels=False, second_chance=True)

            async def walk() -> None:
                await walker.walk(plates=[SMALL_PLATE])
                ended.append(True)

            async with anyio.create_task_group() as tg:
                tg.start_soon(walk)
                await anyio.to_thread.run_sync(emu.wait_held, "again", 1, 30.0)
                # (read while the 7th is held: it is counted once answered, or once its
                # connection is closed, which the stop races with: read later, 6 or 7)
                asked = _asked(emu, "api_plate_wells")
                tg.cancel_scope.cancel()
        emu.release("again")
    assert asked == 6
    assert ended == []
    stats = walker.stats
    assert (stats.failures, stats.walked_again, stats.walked_again_done) == ([], 0, 0)
    assert stats.images == 0


#: A lone target's parent, asked for index.csv (kind: target, its parent's path, column, id).
PARENTS = {
    "plate": (SMALL_PLATE, f"/api/v0/m/plates/{SMALL_PLATE}/screens/", "screen_id", DEMO_SCREEN),
    "dataset": (
        DEMO_DATASET_IDS[0],
        f"/api/v0/m/datasets/{DEMO_DATASET_IDS[0]}/projects/",
        "project_id",
        DEMO_PROJECT,
    ),
}


def _index_rows(out: Path) -> list[dict[str, str]]:
    with (out / "index.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("kind", ["plate", "dataset"])
def test_a_lone_targets_parent_busy_through_its_retries_is_asked_again(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    """The screen of a ``--plate`` (the project of a ``--dataset``), asked for index.csv,
    answered 503 through its retries: the target is walked again at the end, its parent
    asked first, and every row has it (it was left empty in every row for good: the images
    were journaled without it). Each image once, exit 0."""
    target, path, column, parent = PARENTS[kind]
    emu = make_emulator(preset="demo", faults=f"first:503*6,only:{path}")
    out = tmp_path / "out"
    code = _harvest(emu, out, f"--{kind}", str(target))
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"\n{WALKED_AGAIN}, 1 done\n" in printed.out
    rows = _index_rows(out)
    assert rows and {row[column] for row in rows} == {str(parent)}
    ids = [r["ref"]["image_id"] for r in _image_records(out)]
    assert len(ids) == len(set(ids)) == len(rows)


def test_a_plates_screen_failing_both_times_leaves_it_empty_and_says_so(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The plate's screen answered 500 through both walks: the plate's images are harvested
    all the same (exit 0, no ``walk failed``), index.csv's screen_id left empty, and a
    warning says so; the second chance's line says none done."""
    emu = make_emulator(preset="demo", faults=f"first:500*12,only:{PARENTS['plate'][1]}")
    out = tmp_path / "out"
    assert _harvest(emu, out, "--plate", str(SMALL_PLATE)) == 0
    printed = capsys.readouterr()
    assert "walk failed" not in printed.err
    assert f"\n{WALKED_AGAIN}, 0 done\n" in printed.out
    assert f"the screen of plate {SMALL_PLATE} is left empty in index.csv" in caplog.text
    rows = _index_rows(out)
    assert len(rows) == 8 and {row["screen_id"] for row in rows} == {""}


async def test_sampled_images_labels_asked_after_the_walk_have_a_second_chance(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The labels of sampled images asked after the walk (``Walker.labels_of``: a sample
    past its recorded edge) broke through their retries: asked once more at once, the
    images get their labels, counted walked again; failing both times, no labels (the
    sample withheld), said as a failed listing once."""
    refs = [ImageRef(image_id=i, image_name="") for i in DEMO_PROJECT_IMAGE_IDS[:3]]
    for faults, done in (("first:500*6", True), ("first:500*12", False)):
        emu = make_emulator(preset="demo", faults=f"{faults},only:/webclient/api/annotations/")
        settings = ClientSettings(base_url=emu.base_url, concurrency=2, rate=None)
        send, receive = anyio.create_memory_object_stream[ImageRef](10)
        with zero_waits(), anyio.fail_after(60), send, receive:
            async with Client(settings) as client:
                walker = Walker(client, send, second_chance=True)
                got = await walker.labels_of(refs)
        stats = walker.stats
        assert (stats.walked_again, stats.walked_again_done) == (1, int(done))
        if done:
            assert got is not None and [r.image_id for r in got] == [r.image_id for r in refs]
            assert all(r.labels for r in got) and stats.failures == []
        else:
            assert got is None
            assert [f.what for f in stats.failures] == ["labels of 3 sampled images"]


@pytest.mark.parametrize("where", [WELLS, PARENTS["plate"][1]])
def test_a_dry_runs_walk_has_the_second_chance_and_counts_its_requests(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    """A dry run's walk (the plate's wells, or its screen) walked again: every image found,
    and its counts line's listing requests are every request the server answered, the
    second walk's and the retries included, the retries said as a run's summary says them."""
    emu = make_emulator(preset="demo", faults=f"first:503*6,only:{where}")
    code = _harvest(emu, tmp_path / "out", "--plate", str(SMALL_PLATE), "--dry-run")
    printed = capsys.readouterr()
    assert code == 0, printed.err
    asked = emu.stats()["requests"]
    assert printed.out.startswith(
        f"dry run: 8 images found, 8 artifacts to fetch ({asked} listing requests, 5 retries)\n"
        f"{WALKED_AGAIN}, 1 done\n"
    ), printed.out
    assert not (tmp_path / "out").exists()


def test_a_plans_walk_asks_a_lone_plates_screen_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``harvester plan``'s walk: the plate's screen, busy through its retries, asked again at
    the end; each of the plan's 8 images has it."""
    emu = make_emulator(preset="demo", faults=f"first:503*6,only:{PARENTS['plate'][1]}")
    out = tmp_path / "out"
    with zero_waits():
        code = main(
            ["plan", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE), "--out", str(out),
             "--artifacts", "thumbnail", "--quiet", "--rate", "none"]
        )  # fmt: skip
    assert code == 0
    assert _asked(emu, "api_plate_screens") == 7
    planned = list(read_plan(out))
    assert len(planned) == 8 and {ref.screen_id for ref in planned} == {DEMO_SCREEN}
