"""``--max-bytes``: only the first thing a run stores is saved whatever its size.

An object's study files are saved whole or not at all, checked against the budget before
they are written. Two plates' sets saved at once as a run starts each saw nothing stored
yet (the first waiting for room in the store's full queue), so each took the first set's
exemption: both were saved whole past the budget. The saves are driven here as the walk
drives them (two tasks, one real store in a folder on disk, its queue filled by journal
records first, the run's own budget callbacks): exactly one set is let through, the other
is work left that stops the run.
"""

from __future__ import annotations

from pathlib import Path

import anyio

from harvester.config import HarvestConfig
from harvester.layout import make_writer, new_run_id
from harvester.models import ImageRef
from harvester.pipeline import Harvest, StoreStudy
from harvester.store import Store

PLATES = (7375, 7376)
#: Journal records queued before the saves: more than the store's queue (batch_size=1:
#: 2 places) and its commit loops waiting for an item take.
QUEUED = 24


def _files(plate: int) -> dict[str, bytes]:
    """A plate's study files, 2,000 bytes in all."""
    return {"plate.json": b"{" + b" " * 998 + b"}", f"wells-{plate}.json": b"[" + b" " * 998 + b"]"}


SET_BYTES = sum(len(data) for data in _files(PLATES[0]).values())


async def _save_both(tmp_path: Path, max_bytes: int) -> tuple[Harvest, list[str]]:
    """Both plates' study files saved concurrently as the run's first stores, under a
    budget of ``max_bytes``: the run, and the study folders on disk."""
    out = tmp_path / "out"
    cfg = HarvestConfig(base_url="http://127.0.0.1:9", out=out, images=(1,), max_bytes=max_bytes)
    harvest = Harvest(cfg)
    run = new_run_id()
    with anyio.fail_after(30):
        opened = Store.open(out, run_id=run, writer=make_writer(run), sync="none", batch_size=1)
        async with opened as store:
            study = StoreStudy(
                store, harvest._stored, harvest._study_past_budget, harvest._study_unsaved
            )
            async with anyio.create_task_group() as saves:
                # The images the workers journal first fill the store's queue (a small one:
                # a busy disk), so the first save waits for room, its bytes not yet stored,
                # as the second is checked: the moment both took the exemption.
                for image in range(1, QUEUED + 1):
                    saves.start_soon(store.record_image, ImageRef(image_id=image))
                for plate in PLATES:
                    saves.start_soon(study.save, "plate", plate, _files(plate))
            await store.flush()
    top = out / "study"
    return harvest, sorted(p.name for p in top.iterdir()) if top.is_dir() else []


async def test_two_sets_larger_than_the_budget_saved_at_once_only_one_is_first(
    tmp_path: Path,
) -> None:
    """Two plates' sets, each larger than the budget, saved at once as the run starts: one
    is saved (the run's first), the other not, and the budget is reached (the run stops)."""
    harvest, saved = await _save_both(tmp_path, SET_BYTES // 2)
    assert len(saved) == 1, saved
    assert saved[0] in {f"plate-{plate}" for plate in PLATES}
    assert harvest.summary.budget_reached
    assert harvest.summary.interrupted


async def test_a_set_saved_beside_another_counts_its_bytes(tmp_path: Path) -> None:
    """Each set fits in the budget, not both: the set saved beside the first counts the
    first's bytes, so only one is saved."""
    harvest, saved = await _save_both(tmp_path, 2 * SET_BYTES - 1)
    assert len(saved) == 1, saved
    assert harvest.summary.budget_reached


async def test_sets_that_fit_together_are_both_saved(tmp_path: Path) -> None:
    """Both sets fit in the budget: both are saved, and it is not reached."""
    harvest, saved = await _save_both(tmp_path, 2 * SET_BYTES + 1)
    assert saved == [f"plate-{plate}" for plate in PLATES]
    assert not harvest.summary.budget_reached
    assert not harvest.summary.interrupted
