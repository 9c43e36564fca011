"""Selection end to end against the emulator over loopback sockets: exactly the selected
images are requested and indexed, samples are stable across runs, concurrency and shards."""

from __future__ import annotations

import csv
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from selection_helpers import (
    DEMO_IMAGES_IN_SCREEN,
    DEMO_SCREEN,
    RecordingApp,
    harvest,
    index_ids,
    index_rows,
    run_cli,
)

from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.models import ImageRef
from harvester.pipeline import run_harvest
from harvester.plan import plan_targets, read_plan
from harvester.retry import zero_waits
from harvester.select import select_refs, write_labelled_index
from harvester.selection import Selection, parse_condition

Recording = tuple[EmulatorThread, RecordingApp]


def expected(refs: dict[int, ImageRef], **selection: Any) -> set[int]:
    """The image ids ``select_refs`` picks from the demo screen's images."""
    return {r.image_id for r in select_refs(list(refs.values()), Selection(**selection))}


def test_where_fetches_and_indexes_exactly_the_matching_images(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """--where Phenotype~mitotic: only matching images are requested and listed in index.csv."""
    emu, app = recording
    where = (parse_condition("Phenotype~MITOTIC"),)
    want = expected(demo_refs, where=where)
    assert want == {  # the README's `~`: a case-insensitive "contains", worked out here
        r.image_id
        for r in demo_refs.values()
        if any(k == "Phenotype" and "mitotic" in v.lower() for k, v in r.labels)
    }
    assert 0 < len(want) < DEMO_IMAGES_IN_SCREEN
    out = tmp_path / "sel"
    summary = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), where=["Phenotype~MITOTIC"])
    assert summary.exit_code == 0
    assert app.take() == want
    assert summary.images == len(want)
    assert f"selected {len(want)} of {DEMO_IMAGES_IN_SCREEN} walked images" in summary.selection
    rows = index_rows(out)
    assert {int(r["image_id"]) for r in rows} == want
    assert all("mitotic" in r["Phenotype"].lower() for r in rows)


def test_or_within_a_key_and_across_keys(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """Two values of one key widen the selection; a second key's != narrows it."""
    emu, app = recording
    genes = sorted({v for r in demo_refs.values() for k, v in r.labels if k == "Gene Symbol"})
    # The first gene of each: one whose phenotype the `!=` below excludes, one it keeps (the
    # first two in name order both kept theirs, and the narrowing narrowed nothing).
    arrest = {d["Gene Symbol"] for d in map(dict, (r.labels for r in demo_refs.values()))
              if d.get("Phenotype") == "mitotic arrest"}  # fmt: skip
    pair = [min(arrest), min(set(genes) - arrest)]
    terms = [f"Gene Symbol={gene}" for gene in pair]
    conds = tuple(parse_condition(t) for t in terms)
    want = expected(demo_refs, where=conds)
    assert want == {
        r.image_id for r in demo_refs.values() if dict(r.labels).get("Gene Symbol") in pair
    }
    harvest(emu.base_url, tmp_path / "a", screens=(DEMO_SCREEN,), where=terms)
    assert app.take() == want == index_ids(tmp_path / "a")
    narrower = [*terms, "Phenotype!=mitotic arrest"]
    want2 = expected(demo_refs, where=tuple(parse_condition(t) for t in narrower))
    assert want2 == {  # `!=` drops the images with that value
        i for i in want if ("Phenotype", "mitotic arrest") not in demo_refs[i].labels
    }
    harvest(emu.base_url, tmp_path / "b", screens=(DEMO_SCREEN,), where=narrower)
    assert app.take() == want2 == index_ids(tmp_path / "b")
    assert set() < want2 < want


def test_sample_is_deterministic_and_independent_of_concurrency(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """--sample 12: the same images for concurrency 1 and 16, walk concurrency 1 and 4."""
    emu, app = recording
    want = expected(demo_refs, sample=12, seed=5)
    harvest(
        emu.base_url,
        tmp_path / "a",
        screens=(DEMO_SCREEN,),
        sample=12,
        seed=5,
        concurrency=1,
        walk_concurrency=1,
    )
    assert app.take() == want == index_ids(tmp_path / "a")
    harvest(
        emu.base_url,
        tmp_path / "b",
        screens=(DEMO_SCREEN,),
        sample=12,
        seed=5,
        concurrency=16,
        walk_concurrency=4,
    )
    assert app.take() == want == index_ids(tmp_path / "b")
    assert expected(demo_refs, sample=12, seed=6) != want


def test_rerun_with_same_flags_sends_no_image_request(recording: Recording, tmp_path: Path) -> None:
    """A rerun of a sampled, filtered harvest selects the same, done images: no image request."""
    emu, app = recording
    values = {"screens": (DEMO_SCREEN,), "where": ["Phenotype~a"], "sample": 9}
    first = harvest(emu.base_url, tmp_path, **values)
    assert first.done == 9
    app.take()
    emu.reset_stats()
    again = harvest(emu.base_url, tmp_path, **values)
    assert again.exit_code == 0 and again.done == 0 and again.skipped == 9
    assert app.take() == set()
    assert emu.stats()["image_requests"] == 0


def test_shards_union_equals_single_process_sample(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """--sample 15 with --shard 0/2 and 1/2: disjoint requests whose union is the sample."""
    emu, app = recording
    want = expected(demo_refs, sample=15)
    out = tmp_path / "sharded"
    fetched = []
    for k in range(2):
        harvest(emu.base_url, out, screens=(DEMO_SCREEN,), sample=15, shard=f"{k}/2")
        fetched.append(app.take())
    assert fetched[0] | fetched[1] == want
    assert not fetched[0] & fetched[1]
    write_labelled_index(out)  # `harvester index` (a shard leaves it to the index step)
    assert index_ids(out) == want


def test_fraction_streams_the_hash_selection(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """--sample-fraction 0.25 fetches exactly the images whose hash falls below a quarter."""
    emu, app = recording
    want = expected(demo_refs, fraction=0.25, seed=2)
    assert 0 < len(want) < DEMO_IMAGES_IN_SCREEN
    harvest(emu.base_url, tmp_path, screens=(DEMO_SCREEN,), sample_fraction=0.25, seed=2)
    assert app.take() == want == index_ids(tmp_path)


def test_label_keys_make_label_columns_and_labels_csv(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """--label-key Phenotype: label/label_id columns, labels.csv counts; `index` keeps them."""
    emu, _app = recording
    harvest(
        emu.base_url,
        tmp_path,
        screens=(DEMO_SCREEN,),
        where=["Phenotype~e"],
        label_keys=["Phenotype"],
    )
    rows = index_rows(tmp_path)
    assert rows and all(
        r["label"]
        == ";".join(  # distinct values, sorted: the server's order is not part of the label
            sorted({v for k, v in demo_refs[int(r["image_id"])].labels if k == "Phenotype"})
        )
        for r in rows
    )
    with (tmp_path / "labels.csv").open(encoding="utf-8", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [t["label"] for t in table] == sorted(t["label"] for t in table)
    assert sum(int(t["images"]) for t in table) == len(rows)
    ids = {t["label"]: t["label_id"] for t in table}
    assert all(r["label_id"] == ids[r["label"]] for r in rows)
    (tmp_path / "index.csv").unlink()
    result = run_cli("index", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert [r["label"] for r in index_rows(tmp_path)] == [r["label"] for r in rows]


async def test_plan_holds_only_the_selection(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """`plan --sample` writes the sampled images only; plan-driven shards fetch exactly them."""
    emu, app = recording
    want = expected(demo_refs, sample=10, seed=1)
    cfg = HarvestConfig(
        base_url=emu.base_url, out=tmp_path, screens=(DEMO_SCREEN,), rate=None, sample=10, seed=1
    )
    with anyio.fail_after(60):
        info = await plan_targets(cfg, tmp_path)
    assert info.images == 10 and info.extra["walked"] == DEMO_IMAGES_IN_SCREEN
    assert {r.image_id for r in read_plan(tmp_path)} == want
    app.take()
    for shard in ("0/2", "1/2"):
        await anyio.to_thread.run_sync(
            partial(harvest, emu.base_url, tmp_path, from_plan=tmp_path, shard=shard)
        )
    write_labelled_index(tmp_path)  # `harvester index`, as the SLURM script's index job
    assert app.take() == want == index_ids(tmp_path)


def test_sample_of_an_incomplete_walk_is_not_fetched(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """A plate listing failing for good: no sampled image is fetched (exit 1); a rerun is exact."""
    emu, app = recording
    app.fail = "plates/7375/wells"
    summary = harvest(emu.base_url, tmp_path, screens=(DEMO_SCREEN,), sample=10)
    assert summary.exit_code == 1 and summary.walk_failures
    assert "sample of 10 NOT fetched" in summary.selection
    assert app.take() == set()
    app.fail = ""
    again = harvest(emu.base_url, tmp_path, screens=(DEMO_SCREEN,), sample=10)
    assert again.exit_code == 0
    assert app.take() == expected(demo_refs, sample=10) == index_ids(tmp_path)


def test_an_incomplete_walk_that_matched_nothing_says_so(
    recording: Recording, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A plate listing failing, and no image listed matching --where: exit 1, nothing fetched,
    and the warning says none matched (it said "the sample of 0 images is not fetched")."""
    emu, app = recording
    app.fail = "plates/7375/wells"
    summary = harvest(
        emu.base_url, tmp_path, screens=(DEMO_SCREEN,), sample=10, where=["Phenotype=nothing"]
    )
    assert summary.exit_code == 1 and summary.walk_failures
    assert app.take() == set()
    assert (
        "the walk was incomplete, and none of the images it listed matched: no sample is fetched"
        in caplog.text
    )
    assert "0 images" not in caplog.text and "NOT fetched" not in summary.selection


def test_sample_is_fetched_when_only_a_plates_study_files_failed(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """A plate's grid (a study file, asked once its wells listed every image) failing for good
    lost no image: the walk found all there are, so the sample is the sample. It was withheld
    as for a failed image listing (nothing fetched)."""
    emu, app = recording
    app.fail = "webgateway/plate/7375/"
    summary = harvest(emu.base_url, tmp_path, screens=(DEMO_SCREEN,), sample=10)
    assert summary.exit_code == 1  # the grid is still missing: a rerun fetches it
    assert [f.split(":")[0] for f in summary.walk_failures] == ["plate 7375 (study files only)"]
    assert "NOT fetched" not in summary.selection
    assert app.take() == expected(demo_refs, sample=10) == index_ids(tmp_path)


async def test_where_leaving_most_images_out_of_a_small_queue_ends(
    recording: Recording, demo_refs: dict[int, ImageRef], tmp_path: Path
) -> None:
    """A --where run whose walk fills the selection's queue ends, every matching image
    fetched: the images the selection leaves out are taken by no worker, and a walk told
    of the workers' queue (it waits there for half of it: walk.QueueRoom) waited for them
    for ever. A queue of 4 fills here at once, as 1,000 does on a big study."""
    emu, app = recording
    want = expected(demo_refs, where=(parse_condition("Phenotype~MITOTIC"),))
    assert len(want) < DEMO_IMAGES_IN_SCREEN - 4 * 2  # (far more left out than the queue holds)
    cfg = HarvestConfig(
        base_url=emu.base_url, out=tmp_path, rate=None, quiet=True, artifacts=("thumbnail",),
        screens=(DEMO_SCREEN,), where=("Phenotype~MITOTIC",), queue_size=4,
    )  # fmt: skip
    with zero_waits(), anyio.fail_after(60):  # (a hang guard, not a timing: it takes ~1 s)
        summary = await run_harvest(cfg)
    assert summary.exit_code == 0
    assert app.take() == want == index_ids(tmp_path)
    assert summary.images == len(want)
