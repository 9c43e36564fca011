"""Store: atomic durable writes, group commit, journaling, marker checks, stale temp clean-up."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from harvester.errors import StorageError, UsageError
from harvester.journal import JournalState, read_all
from harvester.layout import image_path, make_writer, new_run_id
from harvester.models import ImageRef
from harvester.store import (
    PendingFile,
    Store,
    atomic_write_bytes,
    clean_stale_temps,
    prepare_out_dir,
)


def temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".tmp-" in p.name]


def files_of(out: Path) -> list[Path]:
    return sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())


@pytest.mark.parametrize("sync", ["auto", "syncfs", "fsync", "none"])
async def test_put_bytes_writes_files_and_journals_them(tmp_path: Path, sync: str) -> None:
    """Every queued file lands complete under its final name and is journaled done with sha256."""
    run = new_run_id()
    with anyio.fail_after(20):
        async with Store.open(tmp_path, run_id=run, writer=make_writer(run), sync=sync) as store:  # type: ignore[arg-type]
            for i in range(200):
                await store.put_bytes("thumbnail", i, image_path(i, "thumbnail"), b"J%d" % i)
            await store.flush()
            assert store.state.is_done("thumbnail", 199)
            assert store.stats.files == 200
    state = JournalState.load(tmp_path)
    assert len(state.done) == 200
    rec = state.done[("thumbnail", 7)]
    assert (tmp_path / rec["path"]).read_bytes() == b"J7"
    assert rec["size"] == 2 and rec["sha256"] == hashlib.sha256(b"J7").hexdigest()
    assert rec["run"] == run
    assert temp_files(tmp_path) == []
    assert not list((tmp_path / "journals").glob("*.pending"))
    marker = json.loads((tmp_path / "harvest.json").read_text())
    assert marker["tool"] == "harvester" and marker["layout"] == 1


async def test_batches_group_many_files_per_journal_append(tmp_path: Path) -> None:
    """Queued files are committed in groups (fewer batches than files)."""
    run = new_run_id()
    with anyio.fail_after(20):
        async with Store.open(
            tmp_path, run_id=run, writer=make_writer(run), batch_size=50
        ) as store:
            async with anyio.create_task_group() as tg:
                for i in range(300):
                    tg.start_soon(store.put_bytes, "imgdata", i, image_path(i, "imgdata"), b"{}")
            await store.flush()
            assert store.stats.files == 300
            assert store.stats.batches < 300


async def test_records_failures_images_and_run(tmp_path: Path) -> None:
    """Failures (URL redacted), image refs and the run record reach the journal."""
    run = new_run_id()
    writer = make_writer(run, shard=(1, 4))
    ref = ImageRef(5, image_name="a", labels=(("Gene", "X"),))
    async with Store.open(
        tmp_path, run_id=run, writer=writer, shard="1/4", argv=["harvest"]
    ) as store:
        await store.record_image(ref)
        await store.record_failure("render", 5, "http://h/x?bsession=SECRET", 403, "forbidden")
    recs = list(read_all(tmp_path))
    assert recs[0] == {
        **recs[0],
        "rec": "run",
        "run": run,
        "writer": writer,
        "shard": "1/4",
        "argv": ["harvest"],
    }
    assert "SECRET" not in (tmp_path / "journals" / f"{writer}.jsonl").read_text()
    state = JournalState.load(tmp_path)
    assert state.images[5] == ref
    assert state.failed[("render", 5)]["status"] == 403


async def test_later_done_supersedes_failure_in_live_state(tmp_path: Path) -> None:
    """A failure followed by a successful retry counts as done, not failed."""
    run = new_run_id()
    async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
        await store.record_failure("render", 1, "http://h/r", 503, "busy")
        await store.flush()
        assert ("render", 1) in store.state.failed
        await store.put_bytes("render", 1, image_path(1, "render"), b"x")
        await store.flush()
        assert ("render", 1) not in store.state.failed
    assert not JournalState.load(tmp_path).failed


async def test_put_study_writes_one_record_for_several_files(tmp_path: Path) -> None:
    """A study object's files share one done record listing the extra files."""
    run = new_run_id()
    async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
        await store.put_study("plate", 7, {"plate.json": b"{}", "../grid-0.json": b"[]"})
    rec = JournalState.load(tmp_path).done[("plate", 7)]
    assert rec["path"] == "study/plate-7/plate.json"
    assert rec["files"] == [
        {
            "path": "study/plate-7/.._grid-0.json",
            "size": 2,
            "sha256": hashlib.sha256(b"[]").hexdigest(),
        }
    ]
    assert (tmp_path / "study" / "plate-7" / ".._grid-0.json").read_bytes() == b"[]"


async def test_put_file_adopts_a_finished_file(tmp_path: Path) -> None:
    """put_file moves a staged file into place and journals its size and hash."""
    out = tmp_path / "out"
    run = new_run_id()
    async with Store.open(out, run_id=run, writer=make_writer(run)) as store:
        staged = out / "staging" / "3" / "stack.tmp"
        staged.parent.mkdir(parents=True)
        staged.write_bytes(b"II*\x00" + b"\x01" * 1000)
        await store.put_file("stack", 3, image_path(3, "stack"), staged)
    rec = JournalState.load(out).done[("stack", 3)]
    assert rec["size"] == 1004
    assert (out / rec["path"]).read_bytes()[:4] == b"II*\x00"
    assert not staged.exists()


async def test_rejects_paths_outside_dir(tmp_path: Path) -> None:
    """A relative path that could escape DIR is refused before anything is written."""
    run = new_run_id()
    async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
        with pytest.raises(ValueError):
            await store.put_bytes("thumbnail", 1, "../escape.jpg", b"x")
    assert not (tmp_path.parent / "escape.jpg").exists()


async def test_save_run_config(tmp_path: Path) -> None:
    """The run's config is saved under runs/<run-id>/config.json."""
    run = new_run_id()
    async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
        path = await store.save_run_config({"artifacts": ["thumbnail"], "rate": 10.0})
        await store.put_bytes("thumbnail", 1, image_path(1, "thumbnail"), b"J")
    assert path == tmp_path / "runs" / run / "config.json"
    assert json.loads(path.read_text())["artifacts"] == ["thumbnail"]


async def test_a_run_that_journaled_nothing_can_forget_its_files(tmp_path: Path) -> None:
    """Only a run that recorded nothing in a journal of its own can remove its journal and
    config (forget_run): a no-op rerun removes its own and nobody else's; a run that
    recorded a failure, or that reused a journal holding records, keeps everything."""
    first = new_run_id()
    async with Store.open(tmp_path, run_id=first, writer=make_writer(first)) as store:
        await store.save_run_config({"run": first})
        await store.put_bytes("thumbnail", 1, image_path(1, "thumbnail"), b"J")
    assert not store.journaled_nothing and not store.forget_run()
    kept = files_of(tmp_path)
    for n in range(3):
        run = f"{first}-again-{n}"
        async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
            await store.save_run_config({"run": run})
            assert store.state.is_done("thumbnail", 1)
        assert store.journaled_nothing and store.forget_run()
        assert not (tmp_path / "runs" / run).exists()
    assert files_of(tmp_path) == kept
    # A rerun that records a failure has done something worth keeping.
    failing = f"{first}-failing"
    async with Store.open(tmp_path, run_id=failing, writer=make_writer(failing)) as store:
        await store.save_run_config({"run": failing})
        await store.record_failure("thumbnail", 2, "http://x/2", 500, "server error")
    assert not store.journaled_nothing and not store.forget_run()
    assert (tmp_path / "runs" / failing / "config.json").is_file()
    # The same writer again (library use): its journal holds the first run's done record.
    async with Store.open(tmp_path, run_id=first, writer=make_writer(first)) as store:
        pass
    assert not store.journaled_nothing and not store.forget_run()
    assert JournalState.load(tmp_path).is_done("thumbnail", 1)


async def test_a_flush_does_not_wait_out_the_flush_interval(tmp_path: Path) -> None:
    """A flush asked right after queueing returns once the item is committed, not after the
    collect window: a commit loop woken by that item used to wait the whole interval for a
    fuller batch (the walk's start record waited 50 ms in every run before any image)."""
    run = new_run_id()
    async with Store.open(
        tmp_path, run_id=run, writer=make_writer(run), flush_interval=60
    ) as store:
        for i in range(3):
            with anyio.fail_after(20):  # (60 s, the interval, before the fix)
                await store.put_bytes("thumbnail", i, image_path(i, "thumbnail"), b"x")
                await store.flush()
            assert store.state.is_done("thumbnail", i)
        with anyio.fail_after(20):
            await store.record_walk("ids", None, finished=False)
            await store.flush()
    assert JournalState.load(tmp_path).is_done("thumbnail", 2)


async def test_exit_commits_queued_items_when_body_raises(tmp_path: Path) -> None:
    """Files queued before an exception in the caller are still committed (Ctrl-C keeps work)."""
    run = new_run_id()
    with pytest.raises(RuntimeError):
        async with Store.open(
            tmp_path, run_id=run, writer=make_writer(run), flush_interval=1.0
        ) as store:
            await store.put_bytes("thumbnail", 1, image_path(1, "thumbnail"), b"x")
            raise RuntimeError("boom")
    assert JournalState.load(tmp_path).is_done("thumbnail", 1)


async def test_exit_commits_queued_items_on_cancellation(tmp_path: Path) -> None:
    """A cancelled caller still gets already-queued files committed before the store closes."""
    run = new_run_id()
    with anyio.fail_after(10), anyio.CancelScope() as scope:
        async with Store.open(
            tmp_path, run_id=run, writer=make_writer(run), flush_interval=1.0
        ) as store:
            await store.put_bytes("thumbnail", 1, image_path(1, "thumbnail"), b"x")
            scope.cancel()
            await anyio.sleep(5)
    assert JournalState.load(tmp_path).is_done("thumbnail", 1)
    assert temp_files(tmp_path) == []


async def test_state_at_open_reflects_previous_runs(tmp_path: Path) -> None:
    """A second store sees the first one's done artifacts without touching any artifact file."""
    for n in range(2):
        run = new_run_id()
        async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
            if n == 0:
                await store.put_bytes("metadata", 11, image_path(11, "metadata"), b"{}")
            else:
                assert store.state.is_done("metadata", 11)
                assert len(store.state.runs) == 2


def test_out_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    """--out pointing at a file is a clear StorageError."""
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(StorageError, match="is a file"):
        prepare_out_dir(target)


@pytest.mark.parametrize(
    ("marker", "match"),
    [
        ({"tool": "other", "layout": 1}, "not written by harvester"),
        ({"tool": "harvester", "layout": 99}, "layout version 99"),
        ("garbage", "not written by harvester"),
    ],
)
def test_foreign_or_newer_marker_is_refused(tmp_path: Path, marker: object, match: str) -> None:
    """A DIR marked by another tool or a newer layout is refused before anything is written."""
    raw = marker if isinstance(marker, str) else json.dumps(marker)
    (tmp_path / "harvest.json").write_text(raw)
    with pytest.raises(UsageError, match=match):
        prepare_out_dir(tmp_path)
    assert not (tmp_path / "journals").exists()


async def test_invalid_writer_name_is_refused(tmp_path: Path) -> None:
    """A writer name that is not a safe file name is a UsageError."""
    with pytest.raises(UsageError):
        async with Store.open(tmp_path, run_id="r", writer="../x"):
            pass


def test_stale_temps_of_a_dead_writer_are_removed(tmp_path: Path) -> None:
    """Temp files listed by a dead process's pending file are removed, others are kept."""
    prepare_out_dir(tmp_path)
    code = (
        "import sys, pathlib\n"
        "from harvester.store import PendingFile\n"
        "p = PendingFile(pathlib.Path(sys.argv[1]), 'deadwriter')\n"
        "p.begin(['images/000/000/1.thumbnail.jpg.tmp-deadwriter'])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=30)
    leaf = tmp_path / "images" / "000" / "000"
    leaf.mkdir(parents=True)
    stale = leaf / "1.thumbnail.jpg.tmp-deadwriter"
    stale.write_bytes(b"partial")
    live_pending = PendingFile(tmp_path, "livewriter")
    live_pending.begin(["images/000/000/2.thumbnail.jpg.tmp-livewriter"])
    live = leaf / "2.thumbnail.jpg.tmp-livewriter"
    live.write_bytes(b"in progress")
    try:
        assert clean_stale_temps(tmp_path, own_writer="me") == 1
        assert not stale.exists() and live.exists()
        assert not (tmp_path / "journals" / "deadwriter.pending").exists()
    finally:
        live_pending.close()


def test_other_hosts_pending_files_wait_an_hour(tmp_path: Path) -> None:
    """Another host's temp files are left alone while fresh and removed once abandoned."""
    import os
    import time

    prepare_out_dir(tmp_path)
    leaf = tmp_path / "images" / "000" / "000"
    leaf.mkdir(parents=True)
    for name, age in (("fresh", 60.0), ("old", 7200.0)):
        pending = tmp_path / "journals" / f"{name}.pending"
        rel = f"images/000/000/1.thumbnail.jpg.tmp-{name}"
        header = json.dumps({"writer": name, "host": "another-host", "pid": 1, "start": None})
        pending.write_text(f"{header}\n{rel}\n")
        (tmp_path / rel).write_bytes(b"x")
        past = time.time() - age
        os.utime(pending, (past, past))
    assert clean_stale_temps(tmp_path) == 1
    assert (leaf / "1.thumbnail.jpg.tmp-fresh").exists()
    assert not (leaf / "1.thumbnail.jpg.tmp-old").exists()


def test_sync_mode_environment_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """$HARVESTER_SYNC picks the durability method behind "auto"; bad values are ignored."""
    from harvester.store import resolve_sync_mode

    monkeypatch.setenv("HARVESTER_SYNC", "none")
    assert resolve_sync_mode("auto") == "none"
    monkeypatch.setenv("HARVESTER_SYNC", "fsync")
    assert resolve_sync_mode("auto") == "fsync"
    monkeypatch.setenv("HARVESTER_SYNC", "bogus")
    assert resolve_sync_mode("auto") in ("syncfs", "fsync")
    assert resolve_sync_mode("fsync") == "fsync"


async def test_same_target_queued_many_times_is_written_once_complete(tmp_path: Path) -> None:
    """Duplicates in one batch and across batches in flight end as one complete file, no temps."""
    run = new_run_id()
    rel = image_path(1, "thumbnail")
    with anyio.fail_after(20):
        async with (
            Store.open(tmp_path, run_id=run, writer=make_writer(run), batch_size=3) as store,
            anyio.create_task_group() as tg,
        ):
            for _ in range(40):
                tg.start_soon(store.put_bytes, "thumbnail", 1, rel, b"same bytes")
    assert (tmp_path / rel).read_bytes() == b"same bytes"
    rec = JournalState.load(tmp_path).done[("thumbnail", 1)]
    assert rec["sha256"] == hashlib.sha256(b"same bytes").hexdigest()
    assert temp_files(tmp_path) == []
    assert sum(1 for r in read_all(tmp_path) if r["rec"] == "done") == 40


async def test_a_flush_waits_for_its_own_batch_when_a_later_one_is_written_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two commit loops may finish out of order: a flush right after a stack's put_file
    returns only once that stack is in place (its staging is removed next), not as soon as as
    many later files are written. A loaded machine showed the stack's move fail with ENOENT."""
    run = new_run_id()
    staged = tmp_path / "staged.ome.tif"
    staged.write_bytes(b"II*\0stack")
    stack_path = image_path(1, "stack")
    with anyio.fail_after(20):
        async with Store.open(
            tmp_path / "d", run_id=run, writer=make_writer(run), batch_size=1
        ) as store:
            write_batch = store._commit_sync
            slowed: list[str] = []

            def slow_for_the_stack(batch: list[Any], pending: PendingFile) -> Any:
                if any(item.kind == "stack" for item in batch):
                    slowed.append("stack")
                    time.sleep(0.5)  # a big stack's copy and fsync
                return write_batch(batch, pending)

            monkeypatch.setattr(store, "_commit_sync", slow_for_the_stack)

            async def another_worker() -> None:
                await anyio.sleep(0.1)  # the stack's batch is being written
                await store.put_bytes("thumbnail", 2, image_path(2, "thumbnail"), b"J2")

            async with anyio.create_task_group() as tg:
                tg.start_soon(another_worker)
                await store.put_file("stack", 1, stack_path, staged)
                await store.flush()
                assert (tmp_path / "d" / stack_path).read_bytes() == b"II*\0stack"
                assert store.state.is_done("stack", 1)
    assert slowed == ["stack"], "the stack's batch was not the one slowed: no race was made"


def test_a_rewrite_whose_group_cannot_be_set_still_keeps_the_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file rewritten like one of a group this process is not in (chown refused, as for a
    user outside it): written all the same, its mode kept and its own group left."""
    target = tmp_path / "runs" / "r" / "config.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"old")
    mine = target.stat()
    fields = list(mine)
    fields[0], fields[5] = stat.S_IFREG | 0o664, mine.st_gid + 1  # st_mode, st_gid
    like = os.stat_result(fields)

    asked: list[int] = []

    def refused(path: object, uid: int, gid: int) -> None:
        asked.append(gid)
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chown", refused)
    atomic_write_bytes(tmp_path, target, b"new", like=like)
    assert asked == [like.st_gid]  # the group was asked for, and refused
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o664
    assert target.stat().st_gid == mine.st_gid
    assert temp_files(tmp_path) == []
