"""``--max-bytes``: an image a worker begins once the budget is reached stores nothing.

A worker checks the budget when it takes an image, then journals the image's context,
which may wait (a full store queue); another worker's file can reach the budget meanwhile.
Reaching it cancels the images being fetched then: one whose fetching begins after was not
among them and used to be fetched whole past the budget. The worker is driven here at that
point (the budget already reached as its fetching begins) with a real store and the
emulator over loopback: no request for its file, no file on disk, and it is reported cut
short (pending: the run stops with exit 8).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from harvester.client import Client, ClientSettings
from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.fetch import Fetcher
from harvester.layout import make_writer, new_run_id
from harvester.models import Artifact, ImageRef, with_meta
from harvester.pipeline import Harvest
from harvester.store import Store

IMAGE = 1884801


async def _fetch(tmp_path: Path, emulator: EmulatorThread, *, reached: bool) -> int | None:
    """One image's thumbnail fetched as a worker of a run with a 1-byte budget fetches it,
    the budget reached beforehand (``reached``) or not."""
    out = tmp_path / "out"
    cfg = HarvestConfig(
        base_url=emulator.base_url,
        out=out,
        images=(IMAGE,),
        artifacts=(Artifact.THUMBNAIL,),
        rate=None,
        max_bytes=1,
    )
    harvest = Harvest(cfg)
    if reached:
        harvest._spend(1)  # another worker's file reached the budget
    run = new_run_id()
    with anyio.fail_after(30):
        async with (
            Client(ClientSettings(emulator.base_url, rate=None)) as client,
            Store.open(out, run_id=run, writer=make_writer(run), sync="none") as store,
        ):
            fetcher = Fetcher(client, store, harvest._fetch_settings(), on_done=harvest._done)
            todo = await harvest._fetch_within_budget(fetcher, ImageRef(image_id=IMAGE), None)
            await store.flush()
    return todo


def _thumbnails(out: Path) -> list[Path]:
    images = out / "images"
    return sorted(images.rglob("*.thumbnail.jpg")) if images.is_dir() else []


async def test_an_image_begun_after_the_budget_was_reached_is_cut_before_any_request(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A worker whose image begins once the budget is reached asks nothing, stores nothing
    and reports the image cut short (pending)."""
    emulator.reset_stats()
    todo = await _fetch(tmp_path, emulator, reached=True)
    assert todo is None  # cut short: pending, the worker stops the run
    assert _thumbnails(tmp_path / "out") == []
    routes = emulator.stats()["by_route"]
    assert "image:thumbnail" not in routes, routes


async def test_an_image_begun_within_the_budget_is_fetched(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The same worker with budget left asks for and stores the image (its one file then
    reaches the budget, which cuts nothing more of it): the check above is of the budget,
    not of the set-up."""
    emulator.reset_stats()
    todo = await _fetch(tmp_path, emulator, reached=False)
    assert todo == 1
    assert [p.name for p in _thumbnails(tmp_path / "out")] == [f"{IMAGE}.thumbnail.jpg"]
    assert emulator.stats()["by_route"]["image:thumbnail"]


async def _journaled_as_the_budget_is_reached(
    tmp_path: Path, emulator: EmulatorThread
) -> int | None:
    """An image given by id whose one pending file (imgData) is stored, then journaled with
    the context that file tells; while its journaling waits (a full store queue: one
    checkpoint here), another worker's file reaches the budget. Returns what the worker
    reports (None: cut short) once the store has flushed."""
    out = tmp_path / "out"
    cfg = HarvestConfig(
        base_url=emulator.base_url,
        out=out,
        images=(IMAGE,),
        artifacts=(Artifact.IMGDATA,),
        rate=None,
        max_bytes=1 << 30,
    )
    harvest = Harvest(cfg)
    run = new_run_id()
    ref = ImageRef(image_id=IMAGE)
    with anyio.fail_after(30):
        async with (
            Client(ClientSettings(emulator.base_url, rate=None)) as client,
            Store.open(out, run_id=run, writer=make_writer(run), sync="none") as store,
        ):

            async def record(meta: Mapping[str, Any] | None) -> None:
                harvest._spend(1 << 30)  # another worker's file reaches the budget
                await anyio.lowlevel.checkpoint()  # (the wait for room in the store's queue)
                await store.record_image(with_meta(ref, meta) if meta else ref)

            fetcher = Fetcher(client, store, harvest._fetch_settings(), on_done=harvest._done)
            todo = await harvest._fetch_within_budget(fetcher, ref, record)
            await store.flush()
            journaled = store.state.images.get(IMAGE)
    assert journaled is not None and journaled.image_name, journaled  # its context was journaled
    return todo


async def test_an_image_complete_when_the_budget_is_reached_during_its_journaling_is_done(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The budget reached (by another worker) while an image given by id is journaled after
    its last file: the journaling ends and the image counts done (it counted cut short,
    so the run exited 8 with nothing of it left, and its context was never journaled)."""
    todo = await _journaled_as_the_budget_is_reached(tmp_path, emulator)
    assert todo == 1
    assert [p.name for p in (tmp_path / "out" / "images").rglob("*.imgdata.json")] == [
        f"{IMAGE}.imgdata.json"
    ]
