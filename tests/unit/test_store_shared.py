"""Store: shared files (``put_bytes(shared=True)``) with the same bytes are one file on disk."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import anyio
import pytest

from harvester import samefiles
from harvester import store as store_module
from harvester.journal import JournalState
from harvester.layout import image_path, make_writer, new_run_id
from harvester.store import Store

ANSWER = b'{"repo": ["a/b.lif"], "client": ["x/b.lif"], "fileset": {"id": 7}}'


def temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".tmp-" in p.name]


def paths_of(out: Path, image_id: int) -> Path:
    return out / image_path(image_id, "paths")


async def put(store: Store, image_id: int, data: bytes, *, flush: bool = True) -> None:
    await store.put_bytes("paths", image_id, image_path(image_id, "paths"), data, shared=True)
    if flush:
        await store.flush()


@pytest.mark.parametrize("sync", ["syncfs", "fsync", "none"])
async def test_same_bytes_are_links_within_and_across_batches(tmp_path: Path, sync: str) -> None:
    """Identical shared bytes, in one batch or in later ones, make one file with many names;
    other bytes and unshared puts get files of their own; every record is as if written."""
    run = new_run_id()
    with anyio.fail_after(20):
        async with Store.open(tmp_path, run_id=run, writer=make_writer(run), sync=sync) as store:  # type: ignore[arg-type]
            for i in range(1, 4):  # one batch
                await put(store, i, ANSWER, flush=False)
            await store.flush()
            await put(store, 4, ANSWER)  # a later batch
            await put(store, 5, b"{}")  # other bytes
            await store.put_bytes("imgdata", 6, image_path(6, "imgdata"), ANSWER)  # not shared
            await store.flush()
            assert store.stats.linked == 3
    inodes = {paths_of(tmp_path, i).stat().st_ino for i in range(1, 5)}
    assert len(inodes) == 1 and paths_of(tmp_path, 1).stat().st_nlink == 4
    assert paths_of(tmp_path, 5).stat().st_nlink == 1
    assert (tmp_path / image_path(6, "imgdata")).stat().st_nlink == 1
    state = JournalState.load(tmp_path)
    for i in range(1, 5):
        rec = state.done[("paths", i)]
        assert paths_of(tmp_path, i).read_bytes() == ANSWER
        assert rec["size"] == len(ANSWER)
        assert rec["sha256"] == hashlib.sha256(ANSWER).hexdigest()
    assert temp_files(tmp_path) == []


async def test_a_stored_file_changed_by_hand_is_not_linked_to(tmp_path: Path) -> None:
    """A stored file edited since (same size) is not spread: the next image gets the bytes
    it was given, in a file of its own, and later ones link to that one."""
    run = new_run_id()
    edited = ANSWER.replace(b"b.lif", b"c.lif")
    with anyio.fail_after(20):
        async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
            await put(store, 1, ANSWER)
            paths_of(tmp_path, 1).write_bytes(edited)  # in place, as an editor may
            await put(store, 2, ANSWER)
            await put(store, 3, ANSWER)
    assert paths_of(tmp_path, 1).read_bytes() == edited
    assert paths_of(tmp_path, 2).read_bytes() == ANSWER
    assert paths_of(tmp_path, 2).stat().st_ino != paths_of(tmp_path, 1).stat().st_ino
    assert paths_of(tmp_path, 3).stat().st_ino == paths_of(tmp_path, 2).stat().st_ino


async def test_deleted_first_copy_leaves_the_others_and_the_next_is_written(
    tmp_path: Path,
) -> None:
    """Removing the first stored name keeps the other names' bytes; the next image with
    those bytes is written anew (no link to a name that is gone)."""
    run = new_run_id()
    with anyio.fail_after(20):
        async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
            await put(store, 1, ANSWER)
            await put(store, 2, ANSWER)
            paths_of(tmp_path, 1).unlink()
            await put(store, 3, ANSWER)
            await put(store, 4, ANSWER)
    assert not paths_of(tmp_path, 1).exists()
    assert all(paths_of(tmp_path, i).read_bytes() == ANSWER for i in (2, 3, 4))
    assert paths_of(tmp_path, 3).stat().st_ino == paths_of(tmp_path, 4).stat().st_ino


async def test_refetching_a_linked_image_replaces_its_file(tmp_path: Path) -> None:
    """An image stored again with the bytes its own (linked) file holds ends up with one
    complete file and no temp file left (rename between two names of one file does
    nothing)."""
    run = new_run_id()
    with anyio.fail_after(20):
        async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
            await put(store, 1, ANSWER)
            await put(store, 2, ANSWER)
            await put(store, 2, ANSWER)
            await put(store, 1, ANSWER)
    assert all(paths_of(tmp_path, i).read_bytes() == ANSWER for i in (1, 2))
    assert temp_files(tmp_path) == []


async def test_without_hard_links_the_bytes_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a filesystem that refuses hard links every image gets a file of its own."""
    run = new_run_id()

    def refuse(src: object, dst: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    with anyio.fail_after(20):
        async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
            monkeypatch.setattr(samefiles.os, "link", refuse)
            for i in (1, 2, 3):
                await put(store, i, ANSWER, flush=i == 3)
            await put(store, 4, ANSWER)
            assert store.stats.linked == 0
    assert len({paths_of(tmp_path, i).stat().st_ino for i in (1, 2, 3, 4)}) == 4
    assert all(paths_of(tmp_path, i).read_bytes() == ANSWER for i in (1, 2, 3, 4))


def test_a_temp_left_as_a_link_is_removed_not_written_through(tmp_path: Path) -> None:
    """A temp name left behind that is a hard link to a stored file (a link whose rename
    never came) is removed before anything is written at that name: the caller's write
    (O_TRUNC) made a new file, and the stored file keeps its bytes under every name."""
    stored = tmp_path / "1.paths.json"
    stored.write_bytes(ANSWER)
    target = tmp_path / "2.paths.json"
    tmp = tmp_path / "2.paths.json.tmp-w"
    os.link(stored, tmp)
    other = tmp_path / "3.paths.json"
    other.write_bytes(ANSWER)
    assert not samefiles.link_same(other, tmp, target, ANSWER, check=True)
    assert not tmp.exists()
    assert stored.read_bytes() == ANSWER and stored.stat().st_nlink == 1


async def test_a_stored_file_replaced_by_a_symlink_is_not_linked_through(tmp_path: Path) -> None:
    """A stored name replaced by a symlink to a file outside DIR (same bytes) is not linked
    through: the next image gets a file of its own, not a name of the outside file (which
    would change the harvest whenever that file changes)."""
    run = new_run_id()
    out = tmp_path / "out"
    outside = tmp_path / "elsewhere.json"
    outside.write_bytes(ANSWER)
    with anyio.fail_after(20):
        async with Store.open(out, run_id=run, writer=make_writer(run)) as store:
            await put(store, 1, ANSWER)
            paths_of(out, 1).unlink()
            paths_of(out, 1).symlink_to(outside)
            await put(store, 2, ANSWER)
            await put(store, 3, ANSWER)
    second = paths_of(out, 2)
    assert not second.is_symlink() and second.read_bytes() == ANSWER
    assert second.stat().st_ino != outside.stat().st_ino
    assert outside.stat().st_nlink == 1
    assert paths_of(out, 3).stat().st_ino == second.stat().st_ino
    assert temp_files(out) == []


def test_recent_files_keep_the_latest_and_survive_a_forget_between_calls() -> None:
    """The latest stored name of each bytes is the one linked to, the oldest forgotten
    first; forgetting bytes the other thread is storing raises nothing."""
    recent = samefiles.RecentFiles(limit=2)
    recent.stored("a", "1.paths.json")
    recent.stored("b", "2.paths.json")
    recent.stored("a", "3.paths.json")  # a is now the latest
    recent.stored("c", "4.paths.json")  # b, the oldest, goes
    assert (recent.get("a"), recent.get("b"), recent.get("c")) == (
        "3.paths.json",
        None,
        "4.paths.json",
    )
    recent.forget("a")
    recent.forget("a")  # (twice: the other thread too)
    recent.stored("a", "5.paths.json")
    assert recent.get("a") == "5.paths.json" and recent.get("c") == "4.paths.json"


async def run_store(out: Path, puts: list[tuple[int, bytes]]) -> tuple[int, int]:
    """One run of a store over ``out`` putting each (image, bytes) as shared; the files it
    linked and their bytes."""
    run = new_run_id()
    with anyio.fail_after(20):
        async with Store.open(out, run_id=run, writer=make_writer(run)) as store:
            for image_id, data in puts:
                await put(store, image_id, data)
    return store.stats.linked, store.stats.linked_bytes


async def test_a_resume_links_to_the_file_an_earlier_run_stored(tmp_path: Path) -> None:
    """A run that goes on with a fileset another run began links its images to the file
    that run stored (it wrote one more copy); other bytes get their own file; the done
    records of the links say so, the first's does not."""
    other = ANSWER.replace(b"b.lif", b"c.lif")
    assert await run_store(tmp_path, [(1, ANSWER), (2, ANSWER), (9, b"{}")]) == (1, len(ANSWER))
    assert await run_store(tmp_path, [(3, ANSWER), (4, ANSWER), (5, other)]) == (
        2,
        2 * len(ANSWER),
    )
    assert len({paths_of(tmp_path, i).stat().st_ino for i in (1, 2, 3, 4)}) == 1
    assert paths_of(tmp_path, 1).stat().st_nlink == 4
    assert paths_of(tmp_path, 5).stat().st_nlink == 1
    assert paths_of(tmp_path, 5).read_bytes() == other
    state = JournalState.load(tmp_path)
    assert [state.done[("paths", i)].get("linked") for i in (1, 2, 3, 4, 5)] == [
        None,
        True,
        True,
        True,
        None,
    ]
    assert temp_files(tmp_path) == []


async def test_a_resume_never_links_to_an_earlier_file_changed_since(tmp_path: Path) -> None:
    """An earlier run's file edited by hand (same size) is not spread by the resume: the
    resume's image gets the bytes it was given, in a file of its own, and the next links to
    that; a file removed since is not linked to either."""
    await run_store(tmp_path, [(1, ANSWER)])
    edited = ANSWER.replace(b"b.lif", b"c.lif")
    paths_of(tmp_path, 1).write_bytes(edited)
    assert await run_store(tmp_path, [(2, ANSWER), (3, ANSWER)]) == (1, len(ANSWER))
    assert paths_of(tmp_path, 1).read_bytes() == edited
    assert paths_of(tmp_path, 2).read_bytes() == ANSWER
    assert paths_of(tmp_path, 2).stat().st_ino != paths_of(tmp_path, 1).stat().st_ino
    assert paths_of(tmp_path, 3).stat().st_ino == paths_of(tmp_path, 2).stat().st_ino

    for i in (1, 2, 3):
        paths_of(tmp_path, i).unlink()  # (their done records stay: verify's to find)
    assert await run_store(tmp_path, [(4, ANSWER)]) == (0, 0)
    assert paths_of(tmp_path, 4).read_bytes() == ANSWER


@pytest.mark.parametrize("refusal", [errno.EXDEV, errno.EPERM, errno.ENOTSUP])
async def test_a_resume_where_links_fail_writes_each_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: int
) -> None:
    """A resume whose folder cannot link to the earlier run's file (another filesystem
    mounted in DIR, one without hard links): every image's file is written with its own
    bytes, none is a link, no temp is left, and the earlier file is untouched."""
    await run_store(tmp_path, [(1, ANSWER)])
    first = paths_of(tmp_path, 1).stat()

    def refuse(src: object, dst: object, **kwargs: object) -> None:
        raise OSError(refusal, os.strerror(refusal))

    monkeypatch.setattr(samefiles.os, "link", refuse)
    assert await run_store(tmp_path, [(2, ANSWER), (3, ANSWER)]) == (0, 0)
    inodes = {paths_of(tmp_path, i).stat().st_ino for i in (1, 2, 3)}
    assert len(inodes) == 3
    assert all(paths_of(tmp_path, i).read_bytes() == ANSWER for i in (1, 2, 3))
    assert paths_of(tmp_path, 1).stat().st_mtime_ns == first.st_mtime_ns
    state = JournalState.load(tmp_path)
    assert all(state.done[("paths", i)].get("linked") is None for i in (2, 3))
    assert temp_files(tmp_path) == []


def test_earlier_files_find_one_image_per_content() -> None:
    """One entry per distinct content (the images of a fileset share it), found by its
    SHA-256; unknown bytes find none."""
    a, b = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    earlier = samefiles.EarlierFiles([(a, 7), (b, 3), (a, 5), (a, 9), (b"short", 1)])
    assert len(earlier) == 2
    assert earlier.image_of(a) == 5 and earlier.image_of(b) == 3
    assert earlier.image_of(hashlib.sha256(b"c").digest()) is None


def test_earlier_files_from_done_records_take_their_kind_only() -> None:
    """Built from the store's snapshot of done records: records of another kind, without a
    SHA-256 or of another key shape give no entry; the smallest id of a content is kept."""

    class Rec:
        def __init__(self, sha256: object) -> None:
            self.sha256 = sha256

    a, b = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    done = {
        ("paths", 9): Rec(a),
        ("paths", 4): Rec(a),
        ("thumbnail", 1): Rec(b),
        ("paths", 6): Rec(None),
        ("study", "screen-1"): Rec(b),
    }
    earlier = samefiles.EarlierFiles.from_done("paths", list(done), list(done.values()))
    assert len(earlier) == 1 and earlier.image_of(a) == 4 and earlier.image_of(b) is None


async def test_an_image_stored_again_keeps_its_file_and_adds_no_copy(tmp_path: Path) -> None:
    """The image an earlier run stored first (the file the others link to) stored again
    with the same bytes, by a later run and twice in one run: its name stays a name of
    that one file (no second copy on disk), its record says no link, the others' do."""
    assert await run_store(tmp_path, [(1, ANSWER), (2, ANSWER), (3, ANSWER)]) == (
        2,
        2 * len(ANSWER),
    )
    inode = paths_of(tmp_path, 1).stat().st_ino
    assert await run_store(tmp_path, [(1, ANSWER)]) == (0, 0)
    assert await run_store(tmp_path, [(2, ANSWER), (1, ANSWER), (1, ANSWER)]) == (
        1,
        len(ANSWER),
    )  # (image 2's file is still a link: counted as one)
    assert {paths_of(tmp_path, i).stat().st_ino for i in (1, 2, 3)} == {inode}
    assert paths_of(tmp_path, 1).stat().st_nlink == 3
    assert all(paths_of(tmp_path, i).read_bytes() == ANSWER for i in (1, 2, 3))
    state = JournalState.load(tmp_path)
    assert [state.done[("paths", i)].get("linked") for i in (1, 2, 3)] == [None, True, True]
    assert temp_files(tmp_path) == []


async def test_an_image_stored_again_over_a_file_changed_by_hand_gets_its_bytes(
    tmp_path: Path,
) -> None:
    """Its own file edited since (the others' too: one file): not kept, the bytes given are
    written as a file of their own; the other names keep the edited file."""
    await run_store(tmp_path, [(1, ANSWER), (2, ANSWER)])
    edited = ANSWER.replace(b"b.lif", b"c.lif")
    paths_of(tmp_path, 1).write_bytes(edited)  # (in place: every name sees it)
    assert await run_store(tmp_path, [(1, ANSWER)]) == (0, 0)
    assert paths_of(tmp_path, 1).read_bytes() == ANSWER
    assert paths_of(tmp_path, 2).read_bytes() == edited
    assert paths_of(tmp_path, 1).stat().st_nlink == 1


async def test_a_name_an_unjournaled_run_linked_is_kept_and_its_folder_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that linked image 2's name to image 1's file but stopped before its journal
    line (image 2 has no done record): the next run stores image 2 again and keeps that
    name (no copy), records it as a link, and fsyncs its folder first (the stopped run never
    did: the record must not say a name a power loss could take)."""
    await run_store(tmp_path, [(1, ANSWER), (2, ANSWER)])
    for journal in (tmp_path / "journals").glob("*.jsonl"):  # (image 2's line never written)
        lines = journal.read_text().splitlines(keepends=True)
        journal.write_text("".join(line for line in lines if '"id":2,' not in line))
    assert ("paths", 2) not in JournalState.load(tmp_path).done
    inode = paths_of(tmp_path, 1).stat().st_ino
    synced: list[Path] = []
    real = store_module._fsync_dir

    def fsync_dir(path: Path | str) -> None:
        synced.append(Path(path))
        real(path)

    monkeypatch.setattr(store_module, "_fsync_dir", fsync_dir)
    assert await run_store(tmp_path, [(2, ANSWER)]) == (1, len(ANSWER))
    assert paths_of(tmp_path, 2).stat().st_ino == inode
    assert paths_of(tmp_path, 1).stat().st_nlink == 2
    assert paths_of(tmp_path, 2).parent in synced
    assert JournalState.load(tmp_path).done[("paths", 2)].get("linked") is True
    assert temp_files(tmp_path) == []


async def test_a_fileset_stored_again_in_one_batch_leaves_no_temp_and_one_file(
    tmp_path: Path,
) -> None:
    """Every image of a fileset stored again in one batch (names of one file): each name is
    kept, none renamed over a name of the same file (which rename(2) does not do: the link
    made for it stayed in DIR as a temp), the records' marks as before."""
    await run_store(tmp_path, [(1, ANSWER), (2, ANSWER), (3, ANSWER)])
    inode = paths_of(tmp_path, 1).stat().st_ino
    run = new_run_id()
    with anyio.fail_after(20):
        async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
            for image_id in (1, 2, 3):
                await put(store, image_id, ANSWER, flush=False)
            await store.flush()
    assert temp_files(tmp_path) == []
    assert {paths_of(tmp_path, i).stat().st_ino for i in (1, 2, 3)} == {inode}
    assert paths_of(tmp_path, 1).stat().st_nlink == 3
    assert (store.stats.linked, store.stats.linked_bytes) == (2, 2 * len(ANSWER))
    state = JournalState.load(tmp_path)
    assert [state.done[("paths", i)].get("linked") for i in (1, 2, 3)] == [None, True, True]
