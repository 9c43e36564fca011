"""A store's open stats the files of runs that ended uncleanly, and no other file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from harvester.journal import JournalState
from harvester.layout import IMAGES_DIR, image_path, make_writer, new_run_id
from harvester.store import Store


async def harvest_files(out: Path, ids: range) -> tuple[str, str]:
    """A run that stores a thumbnail per id and ends cleanly; its run id and writer name."""
    run = new_run_id()
    writer = make_writer(run)
    with anyio.fail_after(20):
        async with Store.open(out, run_id=run, writer=writer, sync="none") as store:
            for i in ids:
                await store.put_bytes("thumbnail", i, image_path(i, "thumbnail"), b"J%d" % i)
    return run, writer


def leave_pending_file(out: Path, writer: str) -> None:
    """What a killed run leaves: its pending file, naming a process that is gone."""
    code = (
        "import sys, pathlib\n"
        "from harvester.store import PendingFile\n"
        "PendingFile(pathlib.Path(sys.argv[1]), sys.argv[2])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(out), writer], check=True, timeout=30)


@pytest.fixture
def image_stats(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths under ``images/`` that ``os.stat`` is asked about from now on."""
    seen: list[str] = []
    real: Callable[..., Any] = os.stat

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        if f"/{IMAGES_DIR}/" in os.fspath(path):
            seen.append(os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting)
    return seen


async def open_again(out: Path) -> Store:
    """Open DIR as the next run does and close it; the store (its ``lost`` and ``state``)."""
    run = new_run_id()
    with anyio.fail_after(20):
        async with Store.open(out, run_id=run, writer=make_writer(run), sync="none") as store:
            pass
    return store


async def test_a_folder_of_clean_runs_is_opened_without_a_stat_of_its_files(
    tmp_path: Path, image_stats: list[str]
) -> None:
    """Runs that ended cleanly are trusted: reopening their folder stats none of their
    500 files, even with one deleted by hand (it stays done; verify's to find)."""
    await harvest_files(tmp_path, range(500))
    (tmp_path / image_path(7, "thumbnail")).unlink()
    image_stats.clear()
    store = await open_again(tmp_path)
    assert image_stats == []
    assert store.lost == [] and len(store.state.done) == 500


async def test_only_the_interrupted_runs_files_are_stated_and_the_lost_ones_undone(
    tmp_path: Path, image_stats: list[str]
) -> None:
    """A clean run of 200 files, then one of 30 that left its pending file: the next open
    stats those 30 only, once each; the 2 deleted are counted as missing under that run's
    id, no longer done in its state nor in the journals (a later load agrees), and its
    pending file is gone, so the open after it stats nothing."""
    await harvest_files(tmp_path, range(200))
    interrupted, writer = await harvest_files(tmp_path, range(200, 230))
    leave_pending_file(tmp_path, writer)
    for i in (205, 219):
        (tmp_path / image_path(i, "thumbnail")).unlink()
    image_stats.clear()
    store = await open_again(tmp_path)
    assert len(image_stats) == 30 == len(set(image_stats))
    assert [(lost.run, lost.missing, lost.resized) for lost in store.lost] == [(interrupted, 2, 0)]
    for state in (store.state, JournalState.load(tmp_path)):
        assert ("thumbnail", 205) not in state.done and ("thumbnail", 219) not in state.done
        assert len(state.done) == 228
    image_stats.clear()
    assert (await open_again(tmp_path)).lost == []
    assert image_stats == []


async def test_a_file_of_another_size_than_recorded_is_lost_too(tmp_path: Path) -> None:
    """A recorded file cut short (a power loss, a copy in flight) counts as resized, not
    missing, and is no longer done."""
    _run, writer = await harvest_files(tmp_path, range(10))
    leave_pending_file(tmp_path, writer)
    (tmp_path / image_path(3, "thumbnail")).write_bytes(b"J")
    store = await open_again(tmp_path)
    assert [(lost.missing, lost.resized) for lost in store.lost] == [(0, 1)]
    assert ("thumbnail", 3) not in store.state.done


async def test_a_shard_marks_the_lost_files_of_other_shards_images_too(tmp_path: Path) -> None:
    """The first run to open DIR after the interrupted one removes its pending file, so it
    checks every file that run recorded: a shard's run (which holds its own images' records
    only) marks another shard's lost image too, for that shard's resume to fetch."""
    _run, writer = await harvest_files(tmp_path, range(10))
    leave_pending_file(tmp_path, writer)
    for i in (4, 5):
        (tmp_path / image_path(i, "thumbnail")).unlink()
    run = new_run_id()
    with anyio.fail_after(20):
        async with Store.open(
            tmp_path,
            run_id=run,
            writer=make_writer(run, shard=(0, 2)),
            sync="none",
            images=lambda image_id: image_id % 2 == 0,
        ) as store:
            pass
    assert [lost.missing for lost in store.lost] == [2]
    done = JournalState.load(tmp_path).done
    assert ("thumbnail", 4) not in done and ("thumbnail", 5) not in done
    assert len(done) == 8


def shift_times(out: Path, writer: str, seconds: float) -> None:
    """Rewrite ``writer``'s journal as a host whose clock ran ``seconds`` ahead wrote it."""
    path = out / "journals" / f"{writer}.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for rec in lines:
        for key in ("t", "started"):
            if isinstance(rec.get(key), float):
                rec[key] += seconds
    path.write_text("".join(json.dumps(rec) + "\n" for rec in lines))


async def test_a_lost_file_of_a_run_from_a_host_ahead_stays_lost_and_is_fetched_once(
    tmp_path: Path,
) -> None:
    """The interrupted run's host clock ran 10 minutes ahead: the open that finds its file
    missing still voids it for every later load (a shard that leaves it to its owner, a run
    stopped before it got there), and the file fetched again then stays done."""
    _run, writer = await harvest_files(tmp_path, range(6))
    shift_times(tmp_path, writer, 600.0)
    leave_pending_file(tmp_path, writer)
    (tmp_path / image_path(4, "thumbnail")).unlink()
    store = await open_again(tmp_path)
    assert [lost.missing for lost in store.lost] == [1]
    assert ("thumbnail", 4) not in JournalState.load(tmp_path).done
    await harvest_files(tmp_path, range(4, 5))
    done = JournalState.load(tmp_path).done
    assert ("thumbnail", 4) in done and len(done) == 6


async def test_a_malformed_done_line_of_the_interrupted_run_is_skipped_as_a_load_skips_it(
    tmp_path: Path,
) -> None:
    """The interrupted run's journal ends with done lines that lack their time or path (a
    hand edit, another version): the next open still opens, skips them as the journal's
    load does, and finds the other lost file."""
    _run, writer = await harvest_files(tmp_path, range(6))
    path = tmp_path / "journals" / f"{writer}.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    done = {rec["id"]: rec for rec in records if rec.get("rec") == "done"}
    no_time = {k: v for k, v in done[1].items() if k != "t"}
    no_path = {k: v for k, v in done[2].items() if k != "path"}
    with path.open("a") as fh:
        fh.write(json.dumps(no_time) + "\n" + json.dumps(no_path) + "\n")
    leave_pending_file(tmp_path, writer)
    (tmp_path / image_path(4, "thumbnail")).unlink()
    store = await open_again(tmp_path)
    assert [lost.missing for lost in store.lost] == [1]
    assert ("thumbnail", 4) not in store.state.done and len(store.state.done) == 5


async def test_an_idle_live_writer_keeps_its_pending_file_fresh_for_other_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that stores nothing for over an hour (a server outage, a long walk) is not
    taken for ended by a run of another host: its pending file is kept fresh while it is
    open, so that run neither stats its files nor removes the pending file its own
    unclean end would need."""
    import harvester.store as store_module

    monkeypatch.setattr(store_module, "PENDING_FRESH_EVERY", 0.05)
    run = new_run_id()
    writer = make_writer(run)
    pending = tmp_path / "journals" / f"{writer}.pending"
    with anyio.fail_after(20):
        async with Store.open(tmp_path, run_id=run, writer=writer, sync="none"):
            old = time.time() - 2 * store_module.STALE_AFTER
            os.utime(pending, (old, old))
            monkeypatch.setattr(store_module, "HOST", "another-host")  # as that run sees it
            while True:  # until the store touches it (bounded by fail_after)
                if pending.stat().st_mtime > time.time() - store_module.STALE_AFTER:
                    break
                await anyio.sleep(0.02)
            assert store_module.ended_writers(tmp_path) == []
            other = await open_again(tmp_path)
            assert other.lost == [] and pending.exists()


async def test_a_pending_file_is_not_made_again_in_a_folder_being_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live run's pending files removed with its journal (``rm -r`` of DIR, or the end of
    ``mv`` to another filesystem, under way) are not made again by its refresh, which makes
    again only those removed beside a journal still there: a file made then would leave
    ``journals/`` not empty, and the removal would fail."""
    import harvester.store as store_module

    monkeypatch.setattr(store_module, "PENDING_FRESH_EVERY", 0.02)
    run = new_run_id()
    writer = make_writer(run)
    journals = tmp_path / "journals"
    with anyio.fail_after(20):
        async with Store.open(tmp_path, run_id=run, writer=writer, sync="none"):
            for path in journals.glob(f"{writer}*"):
                path.unlink()
            await anyio.sleep(0.3)  # 15 refreshes
            assert list(journals.iterdir()) == []


async def test_shards_starting_together_check_an_interrupted_run_once_between_them(
    tmp_path: Path, image_stats: list[str]
) -> None:
    """While one task of an array checks an interrupted run's files (it holds the pending
    file's lock), a shard starting at the same moment stats its own images' files only and
    leaves the pending file to that task: not every task of a large array stats every
    file; its own lost image is still marked, for it to fetch."""
    import fcntl

    _run, writer = await harvest_files(tmp_path, range(20))
    leave_pending_file(tmp_path, writer)
    for i in (4, 5):
        (tmp_path / image_path(i, "thumbnail")).unlink()
    pending = tmp_path / "journals" / f"{writer}.pending"
    fd = os.open(pending, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the other task, checking
        image_stats.clear()
        run = new_run_id()
        with anyio.fail_after(20):
            async with Store.open(
                tmp_path,
                run_id=run,
                writer=make_writer(run, shard=(0, 2)),
                sync="none",
                images=lambda image_id: image_id % 2 == 0,
            ) as store:
                pass
        assert len(image_stats) == 10 == len(set(image_stats))
        assert [lost.missing for lost in store.lost] == [1]
        assert ("thumbnail", 4) not in JournalState.load(tmp_path).done
        assert pending.exists()
    finally:
        os.close(fd)
    image_stats.clear()
    # Then the next open checks the rest: image 5 (image 4 is marked already).
    assert [lost.missing for lost in (await open_again(tmp_path)).lost] == [1]
    assert len(image_stats) == 19 and not pending.exists()
    assert ("thumbnail", 5) not in JournalState.load(tmp_path).done
