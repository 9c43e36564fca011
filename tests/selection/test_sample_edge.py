"""The edge of a complete sample, the labels a sample needs, and the record kept in DIR.

A ``--sample`` without ``--where`` does not depend on labels: only the images a run may
fetch need them. The edge of a complete sample (its largest (hash, id)) tells a resumed
walk which images cannot be in the sample of the same walk, so their labels are not asked
again; images kept beyond it (the catalogue lost sampled images) are asked after the walk.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import anyio
import pytest

from harvester.models import ImageRef
from harvester.select import (
    SampleEdge,
    SampleReuse,
    read_sample_edge,
    run_stage,
    sample_key,
    sample_record_path,
    select_refs,
    write_sample_edge,
)
from harvester.selection import Selection, SelectStats, image_hash, parse_condition
from harvester.shard import in_shard

KEY = sample_key(Selection(sample=5, seed=7), {"projects": [51], "screens": []})


def _refs(n: int, start: int = 1000) -> list[ImageRef]:
    return [ImageRef(image_id=start + i) for i in range(n)]


def test_edge_covers_exactly_the_sample_of_the_same_walk() -> None:
    """Every sampled image is at or below the edge, every other walked image above it."""
    walked = _refs(300)
    random.Random(1).shuffle(walked)
    selection = Selection(sample=20, seed=3)
    chosen = {r.image_id for r in select_refs(walked, selection)}
    edge = SampleEdge.of(3, [r for r in walked if r.image_id in chosen])
    assert edge is not None
    assert {r.image_id for r in walked if edge.covers(3, r.image_id)} == chosen
    assert SampleEdge.of(3, []) is None


def test_labels_needed_by_shard_fraction_and_edge() -> None:
    """Labels matter for images the run may fetch only; with --where for every image."""
    ids = range(5000, 5400)
    assert Selection(where=(parse_condition("Gene=A"),), sample=5).labels_needed() is None
    assert Selection().labels_needed() is None  # nothing selected: the walker's keep rules
    shard = Selection(sample=10, shard=(1, 4)).labels_needed()
    assert shard is not None
    assert [i for i in ids if shard(i)] == [i for i in ids if in_shard(i, 1, 4)]
    fraction = Selection(fraction=0.25, seed=2).labels_needed()
    assert fraction is not None
    assert [i for i in ids if fraction(i)] == [i for i in ids if image_hash(2, i) < 0.25 * 2**64]
    edge = SampleEdge.of(0, [ImageRef(i) for i in (5001, 5002)])
    assert edge is not None
    below = Selection(sample=2).labels_needed(edge)
    assert below is not None
    assert [i for i in ids if below(i)] == [i for i in ids if edge.covers(0, i)]


def test_record_round_trip_and_refusals(tmp_path: Path) -> None:
    """The edge is read back for its own key only; a damaged record is not used."""
    (tmp_path / "journals").mkdir()
    edge = SampleEdge(2**64 - 5, 1884806)
    path = write_sample_edge(tmp_path, KEY, edge, walked=88, run_id="r1")
    assert path == sample_record_path(tmp_path, KEY)
    assert read_sample_edge(tmp_path, KEY) == edge
    other = sample_key(Selection(sample=5, seed=8), {"projects": [51]})
    assert sample_record_path(tmp_path, other) != path
    assert read_sample_edge(tmp_path, other) is None
    # A record copied under another key's name (or edited) is not trusted.
    sample_record_path(tmp_path, other).write_bytes(path.read_bytes())
    assert read_sample_edge(tmp_path, other) is None
    path.write_text("{not json")
    assert read_sample_edge(tmp_path, KEY) is None
    path.write_text(json.dumps({"version": 1, "key": KEY, "edge": {"hash": "zz"}}))
    assert read_sample_edge(tmp_path, KEY) is None


async def _stage(selection: Selection, walked: list[ImageRef], reuse: SampleReuse) -> list[int]:
    send, receive = anyio.create_memory_object_stream[ImageRef](1000)
    out_send, out_receive = anyio.create_memory_object_stream[ImageRef](1000)
    stats = SelectStats()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_stage, selection, receive, out_send, stats, None, None, reuse)
        async with send:
            for ref in walked:
                await send.send(ref)
    async with out_receive:
        return [ref.image_id async for ref in out_receive]


async def test_images_beyond_the_edge_get_labels_and_the_new_edge_is_kept(
    tmp_path: Path,
) -> None:
    """A sample reaching past the recorded edge asks those images' labels, then records."""
    (tmp_path / "journals").mkdir()
    selection = Selection(sample=5, seed=7)
    walked = _refs(40)
    first = select_refs(walked, selection)
    edge = SampleEdge.of(7, first)
    assert edge is not None
    gone = first[0].image_id
    now = [r for r in walked if r.image_id != gone]
    asked: list[list[int]] = []

    async def ask(refs: list[ImageRef]) -> list[ImageRef]:
        asked.append([r.image_id for r in refs])
        return [ImageRef(r.image_id, labels=(("Gene", "X"),)) for r in refs]

    reuse = SampleReuse(selection, tmp_path, "r2", KEY)
    reuse.edge = edge
    reuse.needed = selection.labels_needed(edge)
    reuse.ask = ask
    got = await _stage(selection, now, reuse)
    assert got == [r.image_id for r in select_refs(now, selection)]
    beyond = [i for i in got if not edge.covers(7, i)]
    assert asked == [beyond] and len(beyond) == 1
    assert read_sample_edge(tmp_path, KEY) == SampleEdge.of(7, [ImageRef(i) for i in got])


async def test_labels_that_cannot_be_asked_withhold_the_sample(tmp_path: Path) -> None:
    """When the labels of sampled images fail, nothing is fetched and nothing recorded."""
    selection = Selection(sample=3, seed=0)
    walked = _refs(30)
    # The edge of a sample of 2: the third image lies beyond it, its labels not asked.
    edge = SampleEdge.of(0, select_refs(walked, Selection(sample=2, seed=0)))
    assert edge is not None

    async def ask(refs: list[ImageRef]) -> None:
        return None

    reuse = SampleReuse(selection, tmp_path, "r3", KEY)
    reuse.edge, reuse.needed, reuse.ask = edge, selection.labels_needed(edge), ask
    assert await _stage(selection, walked, reuse) == []
    assert not sample_record_path(tmp_path, KEY).exists()


@pytest.mark.parametrize("labels", [True, False])
async def test_reuse_applies_to_samples_without_where_with_labels(
    tmp_path: Path, labels: bool
) -> None:
    """--no-labels, --where and plan-driven runs keep the walk's own label rules."""
    from harvester.config import HarvestConfig

    cfg = HarvestConfig(projects=(51,), out=tmp_path, sample=5, labels=labels)
    made = await SampleReuse.for_run(cfg, Selection.from_config(cfg), tmp_path, "r4")
    assert (made is not None) is labels
    where = HarvestConfig(projects=(51,), out=tmp_path, sample=5, where=("Gene=A",))
    assert await SampleReuse.for_run(where, Selection.from_config(where), tmp_path, "r5") is None
