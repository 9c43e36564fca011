"""Review of the shard walk's labels: a page with none of the shard's images needs none.

A shard's store holds its own images only, so a resumed walk takes the labels of its own
images from the journal. With many shards (an array of 64 tasks), most plate pages and ids
batches hold none of a task's images: their labels are not needed either, on a resume or
on a first run, and asking for them costs every task one annotation request per page.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import harvest

from harvester.cli import main
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


def _ids(tmp_path: Path, count: int) -> Path:
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{HUGE_FIRST_IMAGE_ID + i}\n" for i in range(count)))
    return ids


def test_verify_then_shards_refetch_exactly_their_invalid_files(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """verify's invalid records are image records like any other: after one damaged
    thumbnail per shard, each shard refetches its own damaged file only, its dry run
    counts exactly that, and the index then has every image."""
    ids = _ids(tmp_path, 24)
    out = tmp_path / "out"
    emu = make_emulator(preset="huge")
    whole = harvest(emu.base_url, out, ids_from=ids, artifacts=("thumbnail",), labels=False)
    assert whole.exit_code == 0 and whole.done == 24
    by_shard: dict[int, Path] = {}
    for path in sorted((out / "images").rglob("*.jpg")):
        image_id = int(path.name.split(".")[0].split("_")[0])
        by_shard.setdefault(shard_of(image_id, 2), path)
    assert sorted(by_shard) == [0, 1]
    for path in by_shard.values():
        path.write_bytes(b"not a jpeg")
    assert main(["verify", str(out)]) != 0
    again = make_emulator(preset="huge")
    for k in (0, 1):
        dry = harvest(again.base_url, out, ids_from=ids, artifacts=("thumbnail",), labels=False,
                      shard=f"{k}/2", dry_run=True)  # fmt: skip
        assert dry.exit_code == 0 and dry.pending == 1
        run = harvest(again.base_url, out, ids_from=ids, artifacts=("thumbnail",), labels=False,
                      shard=f"{k}/2")  # fmt: skip
        assert run.exit_code == 0 and run.done == 1 and run.index_rows is None
    assert again.stats()["image_requests"] == 2
    assert all(p.read_bytes()[:2] == b"\xff\xd8" for p in by_shard.values())
    assert main(["verify", str(out)]) == 0
    assert main(["index", str(out)]) == 0
    assert len((out / "index.csv").read_text().splitlines()) == 25


def test_sampled_shards_split_the_sample_and_resume_with_nothing_to_do(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """With --sample the walker keeps every image and the selection applies the shard:
    two shards fetch the sample of a single run between them, once, and a rerun of
    each (stores holding their own images only) fetches nothing."""
    ids = _ids(tmp_path, 40)
    emu = make_emulator(preset="huge")
    single = harvest(emu.base_url, tmp_path / "single", ids_from=ids, artifacts=("thumbnail",),
                     labels=False, sample=10)  # fmt: skip
    assert single.exit_code == 0 and single.done == 10
    out = tmp_path / "out"
    done = [harvest(emu.base_url, out, ids_from=ids, artifacts=("thumbnail",), labels=False,
                    sample=10, shard=f"{k}/2").done for k in (0, 1)]  # fmt: skip
    assert sum(done) == 10
    assert sorted(p.name for p in (out / "images").rglob("*.jpg")) == sorted(
        p.name for p in (tmp_path / "single" / "images").rglob("*.jpg")
    )
    again = make_emulator(preset="huge")
    for k in (0, 1):
        rerun = harvest(again.base_url, out, ids_from=ids, artifacts=("thumbnail",),
                        labels=False, sample=10, shard=f"{k}/2")  # fmt: skip
        assert rerun.exit_code == 0 and rerun.done == 0
    assert again.stats()["image_requests"] == 0


def test_shard_zero_of_one_is_a_whole_run_and_writes_the_index(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--shard 0/1 owns every image: it loads the whole folder and writes index.csv itself
    (no 'run harvester index' line), like a run without --shard."""
    ids = _ids(tmp_path, 6)
    emu = make_emulator(preset="huge")
    out = tmp_path / "out"
    code = main(
        ["harvest", "--base-url", emu.base_url, "--out", str(out), "--ids-from", str(ids)]
        + ["--artifacts", "thumbnail", "--no-labels", "--rate", "none", "--shard", "0/1"]
    )
    printed = capsys.readouterr().out
    assert code == 0 and "(6 rows)" in printed and "harvester index" not in printed
    assert len((out / "index.csv").read_text().splitlines()) == 7
    code = main(
        ["harvest", "--base-url", emu.base_url, "--out", str(out), "--ids-from", str(ids)]
        + ["--artifacts", "thumbnail", "--no-labels", "--rate", "none", "--shard", "0/2"]
    )
    printed = capsys.readouterr().out
    assert code == 0 and f"harvester index {out}" in printed


def test_a_shard_asks_labels_for_batches_of_its_own_ids(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An ids file of 1,000 ids split 64 ways: each task's own ~16 ids fit in one
    annotations request, where batching the file's ids (200 a request) sent 5 per task,
    320 for the array instead of about 64."""
    ids = _ids(tmp_path, 1000)
    mine = [
        HUGE_FIRST_IMAGE_ID + i for i in range(1000) if shard_of(HUGE_FIRST_IMAGE_ID + i, N) == 0
    ]
    emu = make_emulator(preset="huge")
    summary = harvest(emu.base_url, tmp_path / "out", ids_from=ids, artifacts=("thumbnail",),
                      shard=f"0/{N}")  # fmt: skip
    assert summary.exit_code == 0 and summary.images == summary.done == len(mine)
    assert 0 < len(mine) <= 200 and _annotation_requests(emu) == 1
