"""Review of the shard walk's labels: a page with none of the shard's images needs none.

A shard's store holds its own images only, so a resumed walk takes the labels of its own
images from the journal. With many shards (an array of 64 tasks), most plate pages and ids
batches hold none of a task's images: their labels are not needed either, on a resume or
on a first run, and asking for them costs every task one annotation request per page.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harvest_helpers import harvest

from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import DEMO_SCREEN_ID, HUGE_FIRST_IMAGE_ID
from harvester.shard import shard_of

N = 64


def _annotation_requests(emu: EmulatorThread) -> int:
    by_status = emu.stats()["by_route"].get("webclient_api_annotations", {})
    return sum(int(n) for n in by_status.values())


def test_a_resumed_shard_of_many_asks_no_annotations(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Shard K of 64 of the demo screen: most plates hold none of its images. Rerun with
    everything done, it sends no annotation request (the shard's own images' labels are in
    the journal; pages without them need none)."""
    out = tmp_path / "out"
    first = make_emulator(preset="demo")
    done = harvest(first.base_url, out, screens=(DEMO_SCREEN_ID,), artifacts=("metadata",),
                   shard=f"0/{N}")  # fmt: skip
    assert done.exit_code == 0 and done.done > 0
    again = make_emulator(preset="demo")
    rerun = harvest(again.base_url, out, screens=(DEMO_SCREEN_ID,), artifacts=("metadata",),
                    shard=f"0/{N}")  # fmt: skip
    assert rerun.exit_code == 0 and rerun.done == 0 and rerun.skipped == done.done
    assert _annotation_requests(again) == 0
    assert again.stats()["image_requests"] == 0


def test_ids_of_other_shards_only_ask_no_annotations(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A first run of shard K whose ids file holds only other shards' images: nothing to
    fetch and no labels needed, so no annotation request either."""
    others = [i for i in range(HUGE_FIRST_IMAGE_ID, HUGE_FIRST_IMAGE_ID + 400)
              if shard_of(i, N) != 0][:250]  # fmt: skip
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{i}\n" for i in others))
    emu = make_emulator(preset="huge")
    summary = harvest(emu.base_url, tmp_path / "out", ids_from=ids, artifacts=("thumbnail",),
                      shard=f"0/{N}")  # fmt: skip
    assert summary.exit_code == 0 and summary.images == 0 and summary.done == 0
    assert _annotation_requests(emu) == 0
