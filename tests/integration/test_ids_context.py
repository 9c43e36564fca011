"""index.csv rows of images given by id (``--ids-from``, ``--image``) get the context their
imgData's ``meta`` tells: image_name, well_id, dataset_id + dataset_name, project_id.

Users who pick training images by id (``status --failed-ids``, a search-engine query, an
index filtered in pandas) otherwise got rows with ids and paths only. A walk's context
always wins, the completion is journaled once per image, and thumbnails alone (no imgData)
leave the context empty.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harvest_helpers import SMALL_PLATE, harvest

from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import DEMO_PROJECT_IMAGE_IDS, NAMES_PROJECT_ID, NAMES_SCREEN_ID
from harvester.journal import JournalState, encode_records
from harvester.models import ImageRef

CONTEXT = (
    "image_name",
    "screen_id",
    "plate_id",
    "plate_name",
    "well_id",
    "well_row",
    "well_column",
    "field",
    "run_id",
    "project_id",
    "dataset_id",
    "dataset_name",
)
#: Three images of demo screen 2302 (plate 1988, wells B2-B4) and three of project 51.
SCREEN_IDS = (9762962, 9762963, 9762964)
PROJECT_IDS = DEMO_PROJECT_IMAGE_IDS[:3]


def rows_of(out: Path) -> dict[int, dict[str, str]]:
    """index.csv read by the csv module, by image id."""
    with (out / "index.csv").open(encoding="utf-8", newline="") as handle:
        return {int(row["image_id"]): row for row in csv.DictReader(handle)}


def journal_records(out: Path) -> list[dict[str, Any]]:
    """The per-image journal lines (image, done, failed): what "no work twice" is about. A
    rerun still writes its run's own records ("run", and "walk" where it walks targets)."""
    records = (
        json.loads(line)
        for path in sorted((out / "journals").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    )
    return [rec for rec in records if rec["rec"] in ("image", "done", "failed")]


def image_records(out: Path) -> int:
    return sum(1 for rec in journal_records(out) if rec["rec"] == "image")


def ids_file(tmp_path: Path, ids: tuple[int, ...]) -> Path:
    path = tmp_path / "ids.txt"
    path.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    return path


def expected(emu: EmulatorThread, image_id: int) -> dict[str, str]:
    """The context the emulator's catalogue gives an image, as index.csv cells (from meta)."""
    loc = emu.app.site.catalogue.locate(image_id)  # type: ignore[attr-defined]
    one = {
        "image_name": loc.image.name,
        "well_id": "" if loc.image.well_id is None else str(loc.image.well_id),
        "project_id": "" if loc.project is None else str(loc.project.id),
        "dataset_id": "" if loc.dataset is None else str(loc.dataset.id),
        "dataset_name": "" if loc.dataset is None else loc.dataset.name,
    }
    return {name: one.get(name, "") for name in CONTEXT}


def context(row: dict[str, str]) -> dict[str, str]:
    return {name: row[name] for name in CONTEXT}


def test_ids_from_rows_get_the_context_of_imgdata_once(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """HCS images get their name and well id, project images their name, dataset and project,
    in one record each; a second run sends no image request and journals nothing, and the
    index is unchanged."""
    out = tmp_path / "out"
    ids = ids_file(tmp_path, SCREEN_IDS + PROJECT_IDS)
    summary = harvest(emulator.base_url, out, ids_from=ids, artifacts=("thumbnail", "imgdata"))
    assert summary.exit_code == 0
    rows = rows_of(out)
    assert sorted(rows) == sorted(SCREEN_IDS + PROJECT_IDS)
    for image_id, row in rows.items():
        assert context(row) == expected(emulator, image_id)
    assert rows[SCREEN_IDS[0]]["image_name"] == "1988 [Well B-2; Field #1]"
    assert rows[SCREEN_IDS[0]]["well_id"].isdigit()
    assert rows[PROJECT_IDS[0]]["dataset_name"] == "CDK5RAP2-C"
    assert rows[PROJECT_IDS[0]]["project_id"] == "51"
    # One record per image, already completed: a bare one and a completed one could be
    # committed in either order by the store's two commit loops (the later t wins).
    assert image_records(out) == 6
    index = (out / "index.csv").read_bytes()
    records = journal_records(out)

    requests = emulator.stats()["image_requests"]
    again = harvest(emulator.base_url, out, ids_from=ids, artifacts=("thumbnail", "imgdata"))
    assert again.exit_code == 0
    assert emulator.stats()["image_requests"] == requests
    assert journal_records(out) == records  # no line added
    assert (out / "index.csv").read_bytes() == index


def test_a_walked_screen_keeps_its_context(emulator: EmulatorThread, tmp_path: Path) -> None:
    """A plate's walk gives plate name, well row/column, field and run: imgData's meta adds
    nothing to it, and the same images harvested again by id (its own index.csv as the ids
    file) keep every column, with no image journaled again."""
    out = tmp_path / "out"
    first = harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert first.exit_code == 0
    walked = {image_id: context(row) for image_id, row in rows_of(out).items()}
    assert len(walked) == 8
    assert all(row["plate_name"] and row["well_row"] and row["field"] for row in walked.values())
    assert all(row["dataset_id"] == "" for row in walked.values())
    before = image_records(out)

    again = harvest(
        emulator.base_url, out, ids_from=out / "index.csv", artifacts=("imgdata", "metadata")
    )
    assert again.exit_code == 0
    rows = rows_of(out)
    assert {image_id: context(row) for image_id, row in rows.items()} == walked
    assert all(row["imgdata_path"] for row in rows.values())
    assert image_records(out) == before


def test_thumbnails_only_leave_the_context_empty(emulator: EmulatorThread, tmp_path: Path) -> None:
    """Without imgData (``--artifacts thumbnail``) nothing tells the context: the rows have the
    image id and paths only (as README says)."""
    out = tmp_path / "out"
    ids = ids_file(tmp_path, SCREEN_IDS + PROJECT_IDS)
    summary = harvest(emulator.base_url, out, ids_from=ids, artifacts=("thumbnail",))
    assert summary.exit_code == 0
    rows = rows_of(out)
    assert len(rows) == 6
    for row in rows.values():
        assert set(context(row).values()) == {""}
        assert row["thumbnail_path"]


def test_the_json_api_image_names_images_given_by_id_without_imgdata(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """``--artifacts thumbnail,metadata`` (what IDR in 2026 serves, imgData being refused):
    the JSON API image's ``Name`` fills ``image_name``, in one record per image; a rerun sends
    nothing and journals nothing; a folder whose metadata was stored without the name
    (older harvester) gets it from the stored file, with no request."""
    out = tmp_path / "out"
    ids = ids_file(tmp_path, SCREEN_IDS + PROJECT_IDS)
    kinds = ("thumbnail", "metadata")
    assert harvest(emulator.base_url, out, ids_from=ids, artifacts=kinds).exit_code == 0
    rows = rows_of(out)
    for image_id, row in rows.items():
        named = {
            **dict.fromkeys(CONTEXT, ""),
            "image_name": expected(emulator, image_id)["image_name"],
        }
        assert context(row) == named
    assert image_records(out) == 6
    records = journal_records(out)
    requests = emulator.stats()["image_requests"]
    assert harvest(emulator.base_url, out, ids_from=ids, artifacts=kinds).exit_code == 0
    assert emulator.stats()["image_requests"] == requests
    assert journal_records(out) == records

    # Its image records made bare again (as a harvester before 0.1.9 wrote them).
    for path in (out / "journals").glob("*.jsonl"):
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if rec["rec"] == "image":
                rec["ref"]["image_name"] = ""
            lines.append(json.dumps(rec))
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    (out / "index.csv").unlink()
    assert harvest(emulator.base_url, out, ids_from=ids, artifacts=kinds).exit_code == 0
    assert emulator.stats()["image_requests"] == requests
    assert (
        rows_of(out)[PROJECT_IDS[0]]["image_name"]
        == expected(emulator, PROJECT_IDS[0])["image_name"]
    )


def test_image_targets_and_idr_2026_exception_answers_give_context(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """IDR in 2026 answers imgData with its pixel-buffer Exception (a failure, no file) but
    still with ``meta``: ``--image`` targets get their well and dataset from it."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url,
        out,
        images=(SCREEN_IDS[0], PROJECT_IDS[0]),
        artifacts=("thumbnail", "imgdata"),
    )
    assert summary.exit_code == 1  # imgData failed for good
    rows = rows_of(out)
    for image_id in (SCREEN_IDS[0], PROJECT_IDS[0]):
        assert context(rows[image_id]) == expected(emu, image_id)
        assert rows[image_id]["imgdata_path"] == ""


def test_a_folder_whose_imgdata_is_stored_is_completed_from_disk(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A folder from before this change (imgData stored, images journaled without context):
    a rerun completes each image from its stored file, without a request, once."""
    out = tmp_path / "out"
    ids = ids_file(tmp_path, SCREEN_IDS + PROJECT_IDS)
    assert harvest(emulator.base_url, out, ids_from=ids, artifacts=("imgdata",)).exit_code == 0
    for path in (out / "journals").glob("*.jsonl"):  # the records an older harvester wrote
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for rec in records:
            if rec["rec"] == "image":
                rec["ref"] = dict(
                    ImageRef(rec["ref"]["image_id"]).to_json(), labels=rec["ref"]["labels"]
                )
        path.write_bytes(encode_records(records))
    (out / "index.csv").unlink()
    requests = emulator.stats()["image_requests"]

    again = harvest(emulator.base_url, out, ids_from=ids, artifacts=("imgdata",))
    assert again.exit_code == 0
    assert emulator.stats()["image_requests"] == requests
    rows = rows_of(out)
    for image_id, row in rows.items():
        assert context(row) == expected(emulator, image_id)
    records = journal_records(out)
    assert image_records(out) == 12
    assert harvest(emulator.base_url, out, ids_from=ids, artifacts=("imgdata",)).exit_code == 0
    assert journal_records(out) == records


def test_labels_not_asked_stay_not_asked(emulator: EmulatorThread, tmp_path: Path) -> None:
    """The completed record keeps the first record's "labels asked": a ``--no-labels`` run's
    images are still asked for their labels by a later run with labels, and then not again."""
    out = tmp_path / "out"
    ids = ids_file(tmp_path, SCREEN_IDS + PROJECT_IDS)
    plain = harvest(emulator.base_url, out, ids_from=ids, artifacts=("imgdata",), labels=False)
    assert plain.exit_code == 0
    state = JournalState.load(out, remember=False)
    assert state.labels_unasked == set(SCREEN_IDS + PROJECT_IDS)
    assert all(state.images[i].image_name for i in SCREEN_IDS + PROJECT_IDS)

    labelled = harvest(emulator.base_url, out, ids_from=ids, artifacts=("imgdata",))
    assert labelled.exit_code == 0
    state = JournalState.load(out, remember=False)
    assert state.labels_unasked == set()
    rows = rows_of(out)
    assert sorted(rows) == sorted(SCREEN_IDS + PROJECT_IDS)
    assert all(row["Gene Symbol"] for row in rows.values())
    for image_id, row in rows.items():
        assert context(row) == expected(emulator, image_id)
    records = journal_records(out)
    assert harvest(emulator.base_url, out, ids_from=ids, artifacts=("imgdata",)).exit_code == 0
    assert journal_records(out) == records


def test_hostile_names_round_trip_through_index_csv(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """Names from imgData with a comma, quotes, a line break and control characters come back
    from index.csv exactly (the csv module reads them); no name reaches a path."""
    emu = make_emulator(preset="names")
    catalogue = emu.app.site.catalogue  # type: ignore[attr-defined]
    every = tuple(catalogue.iter_image_ids())
    assert {catalogue.locate(i).screen.id for i in every if catalogue.locate(i).screen} == {
        NAMES_SCREEN_ID
    }
    ids = ids_file(tmp_path, every)
    out = tmp_path / "out"
    summary = harvest(emu.base_url, out, ids_from=ids, artifacts=("imgdata",))
    assert summary.exit_code == 0
    rows = rows_of(out)
    assert sorted(rows) == sorted(every)
    for image_id, row in rows.items():
        assert context(row) == expected(emu, image_id)
    names = [row["image_name"] for row in rows.values()]
    assert any(name.startswith('comma, "quoted" name') for name in names)
    assert any("\n" in name and "\x1b" in name for name in names)
    assert any(row["dataset_name"] == 'comma, "quoted" name' for row in rows.values())
    assert {row["project_id"] for row in rows.values()} == {"", str(NAMES_PROJECT_ID)}
    for path in out.rglob("*"):
        assert "," not in path.name and '"' not in path.name


def test_a_plan_of_ids_harvested_in_shards_indexes_their_context(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """``harvester plan --ids-from``, two shard tasks, then ``harvester index`` (the HPC
    recipe): each task completes its own images, and the index job shows every context."""
    from harvester.cli import main

    out = tmp_path / "study"
    ids = ids_file(tmp_path, SCREEN_IDS + PROJECT_IDS)
    planned = ["--base-url", emulator.base_url, "--out", str(out), "--quiet"]
    plan = ["plan", *planned, "--ids-from", str(ids), "--artifacts", "thumbnail,imgdata"]
    assert main(plan) == 0
    task = ["harvest", *planned, "--from-plan", str(out), "--rate", "none"]
    assert main([*task, "--shard", "0/2"]) == 0
    assert main([*task, "--shard", "1/2"]) == 0
    assert main(["index", str(out)]) == 0
    rows = rows_of(out)
    assert sorted(rows) == sorted(SCREEN_IDS + PROJECT_IDS)
    for image_id, row in rows.items():
        assert context(row) == expected(emulator, image_id)
    records = journal_records(out)
    assert main([*task, "--shard", "1/2"]) == 0
    assert journal_records(out) == records


def test_a_later_walk_replaces_the_context_of_imgdata(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Images harvested by id first, then their plate walked: the walk's record wins (plate,
    well position, field), and the ids harvested again change nothing."""
    out = tmp_path / "out"
    first = harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert first.exit_code == 0
    walked = {image_id: context(row) for image_id, row in rows_of(out).items()}
    ids = ids_file(tmp_path, tuple(walked))
    by_id = tmp_path / "by-id"
    assert harvest(emulator.base_url, by_id, ids_from=ids, artifacts=("imgdata",)).exit_code == 0
    for image_id, row in rows_of(by_id).items():
        assert context(row) == expected(emulator, image_id)
        assert row["well_id"] == walked[image_id]["well_id"]
        assert row["plate_name"] == ""

    again = harvest(emulator.base_url, by_id, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert again.exit_code == 0
    assert {image_id: context(row) for image_id, row in rows_of(by_id).items()} == walked
    records = journal_records(by_id)
    assert harvest(emulator.base_url, by_id, ids_from=ids, artifacts=("imgdata",)).exit_code == 0
    assert journal_records(by_id) == records
    assert {image_id: context(row) for image_id, row in rows_of(by_id).items()} == walked
