"""End-to-end harvests of the demo screen and project over loopback sockets."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from harvest_helpers import DEMO_IMAGES, Reference, content, harvest, temp_files
from PIL import Image

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import (
    DEMO_IMAGE_ID,
    DEMO_PLATE_ID,
    DEMO_PLATE_IDS,
    DEMO_PROJECT_IMAGE_IDS,
    DEMO_SCREEN_ID,
    DEMO_WELL_ID,
)

KINDS = ("thumbnail", "imgdata", "render", "metadata")


def read_index(out: Path) -> list[dict[str, str]]:
    with (out / "index.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_demo_harvest_complete(reference: Reference) -> None:
    """Every image of the screen and project gets its four artifacts; exit code 0."""
    summary = reference.summary
    assert summary.exit_code == 0
    assert summary.failed == 0 and not summary.walk_failures
    assert summary.images == DEMO_IMAGES
    assert summary.done == DEMO_IMAGES * len(KINDS)
    files = list((reference.out / "images").rglob("*.*"))
    assert len(files) == DEMO_IMAGES * len(KINDS)
    assert temp_files(reference.out) == []


def test_every_file_decodes(reference: Reference) -> None:
    """JPEGs decode to images of the expected size, JSON parses and names its image."""
    checked = 0
    for path in (reference.out / "images").rglob("*"):
        if not path.is_file():
            continue
        checked += 1
        image_id = int(path.name.split(".", 1)[0])
        if path.suffix == ".jpg":
            with Image.open(path) as img:
                img.load()
                assert img.format == "JPEG"
                if ".render." in path.name:
                    assert img.size == (659, 493) or image_id in DEMO_PROJECT_IMAGE_IDS
                else:
                    assert max(img.size) == 96
        else:
            body = json.loads(path.read_bytes())
            if ".imgdata." in path.name:
                assert body["id"] == image_id and "Exception" not in body
            else:
                assert body["data"]["@id"] == image_id
    assert checked == DEMO_IMAGES * len(KINDS)  # every artifact was looked at, none missing


def test_index_rows_ids_and_labels(reference: Reference, emulator: EmulatorThread) -> None:
    """index.csv has one row per image with the right context and the well's map labels."""
    rows = read_index(reference.out)
    assert len(rows) == DEMO_IMAGES
    assert len({row["image_id"] for row in rows}) == DEMO_IMAGES
    by_id = {int(row["image_id"]): row for row in rows}
    row = by_id[DEMO_IMAGE_ID]
    assert row["screen_id"] == str(DEMO_SCREEN_ID)
    assert row["plate_id"] == str(DEMO_PLATE_ID)
    assert row["plate_name"] == "1988"
    assert row["well_id"] == str(DEMO_WELL_ID)
    assert row["image_name"] == "1988 [Well A-1; Field #1]"
    assert row["field"] == "0"
    for kind in KINDS:
        assert (reference.out / row[f"{kind}_path"]).is_file()
    assert {int(r["plate_id"]) for r in rows if r["plate_id"]} == set(DEMO_PLATE_IDS)
    assert {i for i in by_id if by_id[i]["project_id"] == "51"} == set(DEMO_PROJECT_IMAGE_IDS)
    # Labels: the well's map annotations as the server gives them.
    body = httpx.get(
        f"{emulator.base_url}/webclient/api/annotations/?type=map&well={DEMO_WELL_ID}"
    ).json()
    pairs = [tuple(p) for ann in body["annotations"] for p in ann["values"]]
    assert pairs
    for key, value in pairs:
        assert value in row[key].split(" | ")


def test_study_metadata_saved(reference: Reference) -> None:
    """Screen, plate (grid, runs, wells, annotations) and project metadata are stored."""
    screen = reference.out / "study" / f"screen-{DEMO_SCREEN_ID}"
    assert json.loads((screen / "screen.json").read_bytes())["data"]["@id"] == DEMO_SCREEN_ID
    annotations = json.loads((screen / "annotations.json").read_bytes())["annotations"]
    assert any(["Study Type", "high content screen"] in a["values"] for a in annotations)
    plates = json.loads((screen / "plates.json").read_bytes())["plates"]
    assert {p["id"] for p in plates} == set(DEMO_PLATE_IDS)
    plate = reference.out / "study" / f"plate-{DEMO_PLATE_ID}"
    for name in ("plate.json", "runs.json", "wells.json", "well-annotations.json", "grid-0.json"):
        body = json.loads((plate / name).read_bytes())
        assert isinstance(body, dict) and body, name  # an object with content, not null
    assert (reference.out / "study" / "project-51" / "datasets.json").is_file()
    assert (reference.out / "study" / "dataset-51" / "images.json").is_file()
    configs = list((reference.out / "runs").glob("*/config.json"))
    assert len(configs) == 1
    assert json.loads(configs[0].read_bytes())["config"]["screens"] == [DEMO_SCREEN_ID]


def test_second_run_sends_no_image_request_and_changes_nothing(
    reference: Reference, tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A rerun of a complete harvest asks for no image or label and changes no file."""
    out = tmp_path / "copy"
    shutil.copytree(reference.out, out, copy_function=shutil.copy2)

    def snapshot() -> dict[str, tuple[bytes, int]]:
        return {
            str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns)
            for folder in ("images", "study")
            for p in (out / folder).rglob("*")
            if p.is_file()
        }

    def run_files() -> list[str]:
        return sorted(
            str(p.relative_to(out))
            for folder in ("journals", "runs")
            for p in (out / folder).rglob("*")
        )

    before = snapshot()
    index_before = (out / "index.csv").read_bytes()
    runs_before = run_files()
    emu = make_emulator(preset="demo")
    summary = harvest(emu.base_url, out, screens=(DEMO_SCREEN_ID,), projects=(51,))
    stats = emu.stats()
    assert summary.exit_code == 0
    assert summary.done == 0
    assert summary.skipped == DEMO_IMAGES * len(KINDS)
    assert stats["image_requests"] == 0
    # Labels come from the journal: only the listings needed to find the images are asked.
    assert "webclient_api_annotations" not in stats["by_route"]
    assert snapshot() == before
    assert (out / "index.csv").read_bytes() == index_before
    # A run that changed nothing leaves no journal or saved config (an hourly sync would
    # otherwise add two files an hour); the first run's are kept.
    assert run_files() == runs_before
    assert any(name.endswith(".jsonl") for name in runs_before)


def test_dry_run_writes_nothing(tmp_path: Path, emulator: EmulatorThread) -> None:
    """--dry-run walks and counts but fetches and writes nothing."""
    out = tmp_path / "dry"
    summary = harvest(emulator.base_url, out, plates=(DEMO_PLATE_ID,), dry_run=True)
    assert summary.images == 8
    assert summary.pending == 8 * len(KINDS)
    assert not out.exists()
    assert emulator.stats()["image_requests"] == 0


def test_give_up_on_identical_failures(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """When renders answer 403 every time, the harvester stops asking after 20 and says so."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "migr"
    summary = harvest(
        emu.base_url,
        out,
        screens=(DEMO_SCREEN_ID,),
        artifacts=("thumbnail", "render"),
        max_retries=0,
    )
    stats = emu.stats()
    assert summary.exit_code == 1
    assert "render" in summary.given_up
    assert summary.not_requested["render"] == 80 - 20
    assert summary.done_by_kind["thumbnail"] == 80
    render_requests = sum(
        n
        for route, counts in stats["by_route"].items()
        if "render_image" in route
        for n in counts.values()
    )
    assert render_requests <= 20 + 8  # the limit, plus those already in flight


def test_ids_file_and_images(tmp_path: Path, emulator: EmulatorThread) -> None:
    """--ids-from (comments, blanks) and --image targets harvest exactly those images."""
    ids = tmp_path / "ids.txt"
    ids.write_text("# two images\n1884801\n\n1884802  # second\n", encoding="utf-8")
    out = tmp_path / "ids"
    summary = harvest(
        emulator.base_url,
        out,
        ids_from=ids,
        images=(DEMO_IMAGE_ID, 1884801),
        artifacts=("metadata",),
    )
    assert summary.exit_code == 0
    assert summary.images == 3
    rows = read_index(out)
    assert sorted(int(r["image_id"]) for r in rows) == sorted([1884801, 1884802, DEMO_IMAGE_ID])
    assert content(out, "images").keys() == {
        f"images/{i // 1_000_000:03d}/{i // 1000 % 1000:03d}/{i}.metadata.json"
        for i in (1884801, 1884802, DEMO_IMAGE_ID)
    }


def test_image_target_metadata_is_asked_for_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An --image target's existence check is its metadata: stored from that answer, not
    asked for a second time, and byte-identical to a direct GET of the same URL."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "one"
    summary = harvest(emu.base_url, out, images=(DEMO_IMAGE_ID, 1884801))
    assert summary.exit_code == 0
    assert emu.stats()["by_route"]["api_image"] == {"200": 2}
    for image_id in (DEMO_IMAGE_ID, 1884801):
        stored = out / (
            f"images/{image_id // 1_000_000:03d}/{image_id // 1000 % 1000:03d}/"
            f"{image_id}.metadata.json"
        )
        direct = httpx.get(f"{emu.base_url}/api/v0/m/images/{image_id}/", timeout=10)
        assert stored.read_bytes() == direct.content


def test_stack_artifact_through_the_pipeline(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """--artifacts stack dispatches to the stack fetcher: one OME-TIFF per z-stack image."""
    import tifffile

    emu = make_emulator(preset="zstack")
    out = tmp_path / "stack"
    summary = harvest(emu.base_url, out, projects=(1301,), artifacts=("stack",))
    assert summary.exit_code == 0
    assert summary.done_by_kind == {"stack": 3}
    stacks = sorted((out / "images").rglob("*.stack.ome.tif"))
    assert len(stacks) == 3
    with tifffile.TiffFile(stacks[0]) as tif:
        assert tif.is_ome
        assert tif.series[0].asarray().size > 0
    assert all(row["stack_path"] for row in read_index(out))
    study = [p for p in (out / "study").rglob("*") if p.is_file()]  # the project's files
    assert summary.bytes == sum(p.stat().st_size for p in [*stacks, *study])


def test_hostile_names_and_secrets(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Names with '../', '/', NUL never make paths; header/cookie secrets reach no file or log."""
    from harvester.emulator.catalogue import NAMES_PROJECT_ID, NAMES_SCREEN_ID

    emu = make_emulator(preset="names")
    out = tmp_path / "names"
    caplog.set_level("DEBUG")
    summary = harvest(
        emu.base_url,
        out,
        screens=(NAMES_SCREEN_ID,),
        projects=(NAMES_PROJECT_ID,),
        headers={"X-Api-Key": "SEKRET-HEADER"},
        cookies={"sessionid": "SEKRET-COOKIE"},
        artifacts=("thumbnail", "metadata"),
    )
    assert summary.exit_code == 0
    id_named = re.compile(r"\d+(\.[a-z]+)+|\d{3}|(screen|plate|project|dataset)-\d+")
    for path in out.rglob("*"):
        assert path.resolve().is_relative_to(out.resolve())
        rel = path.relative_to(out).parts
        if (rel[0] == "images" and len(rel) > 1) or (rel[0] == "study" and len(rel) == 2):
            assert id_named.fullmatch(rel[-1]), rel  # ids only: no server name in a path
        if path.is_file():
            assert b"SEKRET" not in path.read_bytes()
    assert "SEKRET" not in caplog.text
    assert any("../" in row["image_name"] for row in read_index(out))


def test_every_field_of_every_well(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Several fields per well and empty wells: every field becomes a row; grids per field saved."""
    from harvester.emulator.catalogue import FIELDS_PLATE_IDS, FIELDS_SCREEN_ID

    emu = make_emulator(preset="fields")
    out = tmp_path / "fields"
    summary = harvest(emu.base_url, out, screens=(FIELDS_SCREEN_ID,), artifacts=("metadata",))
    assert summary.exit_code == 0
    rows = read_index(out)
    assert len(rows) == len(FIELDS_PLATE_IDS) * 12 * 3
    per_well: dict[str, set[str]] = {}
    for row in rows:
        per_well.setdefault(row["well_id"], set()).add(row["field"])
    assert all(fields == {"0", "1", "2"} for fields in per_well.values())
    for plate_id in FIELDS_PLATE_IDS:
        for field in range(3):
            grid = json.loads(
                (out / "study" / f"plate-{plate_id}" / f"grid-{field}.json").read_bytes()
            )
            ids = {cell["id"] for line in grid["grid"] for cell in line if cell}
            assert ids == {
                int(r["image_id"])
                for r in rows
                if r["plate_id"] == str(plate_id) and r["field"] == str(field)
            }


def test_every_image_of_every_run(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Plates with 2 runs: every image once, (run_id, field within run) as the catalogue says."""
    from harvester.emulator import catalogue as cat_mod

    emu = make_emulator(preset="runs")
    cat = emu.app.site.catalogue  # type: ignore[attr-defined]
    out = tmp_path / "runs"
    summary = harvest(emu.base_url, out, screens=(cat_mod.RUNS_SCREEN_ID,), artifacts=("metadata",))
    assert summary.exit_code == 0
    rows = read_index(out)
    ids = [int(r["image_id"]) for r in rows]
    assert sorted(ids) == list(
        range(cat_mod.RUNS_FIRST_IMAGE_ID, cat_mod.RUNS_FIRST_IMAGE_ID + cat_mod.RUNS_IMAGE_COUNT)
    )
    per_run = cat_mod.RUNS_FIELDS_PER_RUN
    for row in rows:
        info = cat.image(int(row["image_id"]))
        plate = cat.plate(int(row["plate_id"]))
        # Independent of the harvester: WellSample index k of run r is field k - r * per_run.
        run_number = plate.run_ids.index(info.run_id)
        assert (int(row["run_id"]), int(row["field"])) == (
            info.run_id,
            info.field - run_number * per_run,
        )
    for plate_id in cat_mod.RUNS_PLATE_IDS:
        folder = out / "study" / f"plate-{plate_id}"
        for run_id in cat.plate(plate_id).run_ids:
            for field in range(per_run):
                grid = json.loads((folder / f"grid-{run_id}-{field}.json").read_bytes())
                assert {cell["id"] for line in grid["grid"] for cell in line if cell} == {
                    int(r["image_id"])
                    for r in rows
                    if r["run_id"] == str(run_id) and r["field"] == str(field)
                }


def test_shards_split_the_work(tmp_path: Path, emulator: EmulatorThread) -> None:
    """Shards 0/2 and 1/2 fetch disjoint halves that add up; only shard 0 saves study files."""
    out = tmp_path / "sharded"
    first = harvest(emulator.base_url, out, plates=(DEMO_PLATE_ID,), artifacts=("metadata",),
                    shard="0/2")  # fmt: skip
    assert (out / "study" / f"plate-{DEMO_PLATE_ID}" / "plate.json").is_file()
    study_after_first = sorted(p.name for p in (out / "study").iterdir())
    second = harvest(emulator.base_url, out, plates=(DEMO_PLATE_ID,), artifacts=("metadata",),
                     shard="1/2")  # fmt: skip
    assert first.exit_code == second.exit_code == 0
    assert first.done + second.done == 8
    assert first.done > 0 and second.done > 0
    assert sorted(p.name for p in (out / "study").iterdir()) == study_after_first
    # A shard leaves index.csv to `harvester index`, which sees every shard's images.
    assert first.index_deferred and second.index_deferred
    assert not (out / "index.csv").exists()
    assert main(["index", str(out)]) == 0
    assert len(read_index(out)) == 8


def test_a_shard_resumes_from_its_own_records(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A shard's store loads its own images' records only, and that is all a rerun needs:
    rerunning each shard sends no image request, and a shard that failed some images
    fetches exactly those again."""
    emu = make_emulator(preset="demo", faults="500:100%,only:/webgateway/render_thumbnail/")
    out = tmp_path / "resharded"
    for shard in ("0/2", "1/2"):
        summary = harvest(emu.base_url, out, plates=(DEMO_PLATE_ID,), max_retries=0,
                          artifacts=("metadata", "thumbnail"), shard=shard)  # fmt: skip
        assert summary.exit_code == 1 and summary.failed == summary.done  # every thumbnail
    fixed = make_emulator(preset="demo")
    fixed_done = 0
    for shard in ("0/2", "1/2"):
        again = harvest(fixed.base_url, out, plates=(DEMO_PLATE_ID,),
                        artifacts=("metadata", "thumbnail"), shard=shard)  # fmt: skip
        assert again.exit_code == 0 and again.done == again.skipped  # its thumbnails only
        fixed_done += again.done
    assert fixed_done == 8
    by_route = fixed.stats()["by_route"]
    assert "api_image" not in by_route  # metadata was done: not asked again
    assert main(["index", str(out)]) == 0
    rows = read_index(out)
    assert len(rows) == 8 and all(r["thumbnail_path"] and r["metadata_path"] for r in rows)


def test_resumed_shard_walks_take_their_labels_from_the_journal(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Each shard's store holds only its own images, and that is enough: rerunning the
    shards of a screen asks for no annotations (labels of its own images come from the
    journal, other shards' images need none), and index.csv has the labels a single
    process gives."""
    single = tmp_path / "single"
    assert harvest(make_emulator(preset="demo").base_url, single, screens=(DEMO_SCREEN_ID,),
                   artifacts=("metadata",)).exit_code == 0  # fmt: skip
    out = tmp_path / "sharded"
    first = make_emulator(preset="demo")
    for shard in ("0/2", "1/2"):
        assert harvest(first.base_url, out, screens=(DEMO_SCREEN_ID,), artifacts=("metadata",),
                       shard=shard).exit_code == 0  # fmt: skip
    again = make_emulator(preset="demo")
    for shard in ("0/2", "1/2"):
        summary = harvest(again.base_url, out, screens=(DEMO_SCREEN_ID,), artifacts=("metadata",),
                          shard=shard)  # fmt: skip
        assert summary.exit_code == 0 and summary.done == 0 and summary.skipped > 0
    stats = again.stats()
    assert stats["image_requests"] == 0
    assert "webclient_api_annotations" not in stats["by_route"]
    assert main(["index", str(out)]) == 0
    assert (out / "index.csv").read_bytes() == (single / "index.csv").read_bytes()


def test_no_labels_skips_annotation_requests(tmp_path: Path, emulator: EmulatorThread) -> None:
    """--no-labels (labels = false) sends no annotation request for ids-from images."""
    ids = tmp_path / "ids.txt"
    ids.write_text("1884801\n1884802\n", encoding="utf-8")
    summary = harvest(
        emulator.base_url,
        tmp_path / "nolabels",
        ids_from=ids,
        artifacts=("metadata",),
        labels=False,
    )
    assert summary.exit_code == 0
    assert "webclient_api_annotations" not in emulator.stats()["by_route"]
    assert len(read_index(tmp_path / "nolabels")) == 2


def test_labels_turned_on_after_a_no_labels_run_are_fetched(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder first harvested with --no-labels, then with labels: the images journaled
    without labels were never asked, so the labelled run asks (and index.csv has the
    annotation columns a labelled first run gives); a further rerun asks nothing."""
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{i}\n" for i in sorted(DEMO_PROJECT_IMAGE_IDS)[:5]), encoding="utf-8")
    emu = make_emulator(preset="demo")
    reference = tmp_path / "labelled"
    harvest(emu.base_url, reference, ids_from=ids, artifacts=("metadata",))
    out = tmp_path / "later"
    harvest(emu.base_url, out, ids_from=ids, artifacts=("metadata",), labels=False)
    assert "Phenotype" not in read_index(out)[0]
    later = make_emulator(preset="demo")
    assert harvest(later.base_url, out, ids_from=ids, artifacts=("metadata",)).exit_code == 0
    assert "webclient_api_annotations" in later.stats()["by_route"]
    assert (out / "index.csv").read_bytes() == (reference / "index.csv").read_bytes()
    again = make_emulator(preset="demo")
    assert harvest(again.base_url, out, ids_from=ids, artifacts=("metadata",)).exit_code == 0
    assert "webclient_api_annotations" not in again.stats()["by_route"]  # labels journaled now


def _render_truth(emu: EmulatorThread, image_id: int, out: Path) -> tuple[Any, Any]:
    """(our stored render, the emulator's ground truth of imgData's default rendering)."""
    from urllib.parse import parse_qs, unquote, urlsplit

    from harvester.emulator.render import render_plane
    from harvester.fetch import render_path_from_imgdata

    imgdata = json.loads(next((out / "images").rglob(f"{image_id}.imgdata.json")).read_bytes())
    query = parse_qs(urlsplit(render_path_from_imgdata(image_id, imgdata, 0.9)).query)
    image = emu.app.site.catalogue.image(image_id)  # type: ignore[attr-defined]
    rdefs = imgdata["rdefs"]
    truth = render_plane(
        image, rdefs["defaultZ"], rdefs["defaultT"], unquote(query["c"][0]), query["m"][0]
    )
    with Image.open(next((out / "images").rglob(f"{image_id}.render.jpg"))) as stored:
        assert stored.format == "JPEG"
        got = np.asarray(stored.convert("RGB"), dtype=np.int16)
    return got, truth.astype(np.int16)


def test_render_of_a_plane_over_the_limit_is_stitched_from_regions(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Over max_plane, render is fetched as regions and stitched into one JPEG of the plane."""
    from harvester.emulator.catalogue import TILED_SMALL_IMAGE_ID
    from harvester.fetch import render_path_from_imgdata

    emu = make_emulator(preset="tiled", mode="microservice")
    out = tmp_path / "render"
    summary = harvest(
        emu.base_url,
        out,
        images=(TILED_SMALL_IMAGE_ID,),
        artifacts=("render", "imgdata"),
        max_plane=300,
    )
    assert summary.exit_code == 0, summary.failures
    got, truth = _render_truth(emu, TILED_SMALL_IMAGE_ID, out)
    assert got.shape == truth.shape == (512, 512, 3)
    # As close to the truth as the server's own whole-plane JPEG at the same quality.
    imgdata = json.loads(next((out / "images").rglob("*.imgdata.json")).read_bytes())
    whole = httpx.get(
        emu.base_url + "/" + render_path_from_imgdata(TILED_SMALL_IMAGE_ID, imgdata, 0.9)
    )
    with Image.open(io.BytesIO(whole.content)) as direct:
        server_error = np.abs(np.asarray(direct.convert("RGB"), dtype=np.int16) - truth).mean()
    assert float(np.abs(got - truth).mean()) <= float(server_error) + 0.5
    routes = emu.stats()["by_route"]
    assert sum(sum(v.values()) for k, v in routes.items() if "region" in k) == 4


@pytest.mark.slow
def test_render_of_a_plane_over_the_microservices_limit(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """IDR's microservice refuses planes over 3192 px: the render is still made (regions).

    3400 x 3100 is over the limit by side and by area (the emulator refuses the whole
    plane, as IDR does), with a ragged last region in both directions, at a fifth of the
    pixels of the tiled preset's 8000 x 6000: the same path, without 20 s of rendering.
    """
    from harvester.emulator.catalogue import TILED_OVER_IMAGE_ID, TILED_OVER_PROJECT_ID

    emu = make_emulator(preset="tiled", mode="microservice")
    out = tmp_path / "tiled"
    code = main(["harvest", "--base-url", emu.base_url, "--project", str(TILED_OVER_PROJECT_ID),
                 "--rate", "none", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    got, truth = _render_truth(emu, TILED_OVER_IMAGE_ID, out)
    assert got.shape == truth.shape == (3100, 3400, 3)
    assert float(np.abs(got - truth).mean()) < 8.0  # JPEG q=0.9 of a noisy colour image
    routes = emu.stats()["by_route"]
    assert sum(sum(v.values()) for k, v in routes.items() if "region" in k) == 2 * 2


def test_stack_ome_xml_carries_the_servers_image_name(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The OME-XML Image Name is the server's on one line (control characters: a space)."""
    import tifffile

    from harvester.emulator.catalogue import NAMES_PROJECT_ID

    emu = make_emulator(preset="names")
    out = tmp_path / "names"
    summary = harvest(emu.base_url, out, projects=(NAMES_PROJECT_ID,), artifacts=("stack",))
    assert summary.exit_code == 0
    stacks = sorted((out / "images").rglob("*.stack.ome.tif"))
    assert len(stacks) >= 7
    for path in stacks:
        image_id = int(path.name.split(".")[0])
        name = emu.app.site.catalogue.image(image_id).name  # type: ignore[attr-defined]
        expected = " ".join(re.sub("[\x00-\x1f\x7f-\x9f]", " ", name).split())
        with tifffile.TiffFile(path) as tif:
            ome = tifffile.xml2dict(tif.ome_metadata)["OME"]
        assert str(ome["Image"]["Name"]) == expected


def test_stored_counts_the_study_files_too(
    tmp_path: Path, emulator: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    """The summary's "N stored" is every file the run wrote into images/ and study/ (the
    plates' layouts and the study's annotations too): it counted the images' files alone,
    short of the folder's size that status gives for the same folder."""
    from harvester.progress import human_bytes

    out = tmp_path / "d"
    code = main(
        ["harvest", "--base-url", emulator.base_url, "--screen", "2302", "--artifacts",
         "thumbnail,metadata", "--out", str(out), "--rate", "none"]
    )  # fmt: skip
    assert code == 0
    summary = capsys.readouterr().out
    study = [p for p in (out / "study").rglob("*") if p.is_file()]
    assert study  # the plates' layouts and the screen's annotations were written
    written = sum(p.stat().st_size for p in [*study, *(out / "images").rglob("*")] if p.is_file())
    assert f"{human_bytes(written)} stored," in summary, summary


def test_a_region_served_damaged_is_asked_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A render region damaged on the way (its PNG header and trailer intact) is asked
    again at once, and the render is the clean run's: it failed the render after the
    last region (or was pasted with wrong pixels when it still decoded)."""
    from harvester.emulator.catalogue import TILED_OVER_IMAGE_ID

    renders = {}
    for name, faults in (("damaged", "first:corrupt,only:*region*"), ("clean", "")):
        emu = make_emulator(preset="tiled", mode="microservice", faults=faults)
        out = tmp_path / name
        code = main(["harvest", "--base-url", emu.base_url, "--image", str(TILED_OVER_IMAGE_ID),
                     "--artifacts", "render", "--rate", "none", "--out", str(out),
                     "--quiet"])  # fmt: skip
        assert code == 0, name
        routes = emu.stats()["by_route"]
        asked = sum(sum(v.values()) for k, v in routes.items() if "region" in k)
        assert asked == 2 * 2 + (name == "damaged"), routes
        renders[name] = next(out.rglob(f"{TILED_OVER_IMAGE_ID}.render.jpg")).read_bytes()
    assert renders["damaged"] == renders["clean"]
