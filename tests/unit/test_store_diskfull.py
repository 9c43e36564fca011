"""Disk full, file-size limits, read-only folders: a clear StorageError, nothing recorded lost."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from harvester.errors import StorageError
from harvester.journal import JournalState
from harvester.layout import image_path, make_writer, new_run_id
from harvester.store import Store, atomic_write_bytes, prepare_out_dir


def payload(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * 1000  # 32 KB


def _mount(args: list[str]) -> bool:
    try:
        return subprocess.run(args, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs mounted for the test (skipped where mounting is not permitted)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if sys.platform != "linux" or not _mount(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]
    ):
        pytest.skip("cannot mount a small tmpfs here (needs root); RLIMIT_FSIZE test covers it")
    try:
        yield mnt
    finally:
        _mount(["umount", "-l", str(mnt)])


def check_done(out: Path) -> int:
    state = JournalState.load(out)
    for (_, i), rec in state.done.items():
        assert (out / rec["path"]).read_bytes() == payload(i)
    return len(state.done)


async def fill(out: Path, n: int) -> None:
    run = new_run_id()
    async with Store.open(out, run_id=run, writer=make_writer(run), batch_size=4) as store:
        for i in range(n):
            if not store.state.is_done("thumbnail", i):
                await store.put_bytes("thumbnail", i, image_path(i, "thumbnail"), payload(i))


async def test_disk_full_is_a_clear_error_and_a_rerun_with_space_completes(small_fs: Path) -> None:
    """ENOSPC: one-line StorageError, journaled files intact, no temps; more space -> resume."""
    out = small_fs / "out"
    with anyio.fail_after(30), pytest.raises(StorageError) as info:
        await fill(out, 60)
    assert "disk full" in str(info.value) and "\n" not in str(info.value)
    assert info.value.hint and "re-run" in info.value.hint
    recorded = check_done(out)
    assert 0 < recorded < 60
    assert [p for p in out.rglob("*") if ".tmp-" in p.name] == []
    assert _mount(["mount", "-o", "remount,size=8m", str(small_fs)])
    with anyio.fail_after(30):
        await fill(out, 60)
    assert check_done(out) == 60
    assert [p for p in out.rglob("*") if ".tmp-" in p.name] == []


def test_read_only_folder_is_refused(small_fs: Path) -> None:
    """An output folder on a read-only filesystem gives a one-line StorageError."""
    prepare_out_dir(small_fs / "out")
    assert _mount(["mount", "-o", "remount,ro", str(small_fs)])
    with pytest.raises(StorageError, match="read-only"):
        anyio.run(fill, small_fs / "out", 1)
    with pytest.raises(StorageError, match="read-only"):
        prepare_out_dir(small_fs / "new")


FSIZE_SCRIPT = r"""
import hashlib, resource, signal, sys, anyio
from pathlib import Path
from harvester.errors import StorageError
from harvester.layout import image_path, make_writer, new_run_id
from harvester.store import Store

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed

async def main(out):
    run = new_run_id()
    async with Store.open(Path(out), run_id=run, writer=make_writer(run)) as store:
        await store.put_bytes("thumbnail", 1, image_path(1, "thumbnail"), b"small")
        await store.flush()
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        await store.put_bytes("thumbnail", 2, image_path(2, "thumbnail"), b"x" * 50_000)

try:
    anyio.run(main, sys.argv[1])
except StorageError as exc:
    print("StorageError:", exc)
    print("out_of_space:", exc.out_of_space)
    sys.exit(2)
"""


def test_file_size_limit_is_a_clear_error(tmp_path: Path) -> None:
    """RLIMIT_FSIZE (EFBIG) mid-run: StorageError, told as out of space (the CLI's exit 1),
    the earlier file stays recorded, no temp left."""
    script = tmp_path / "w.py"
    script.write_text(FSIZE_SCRIPT)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout.startswith("StorageError: file too large")
    # (raised again by the store from its committer's error: still a full disk's, exit 1)
    assert "out_of_space: True" in proc.stdout.splitlines()
    state = JournalState.load(out)
    assert set(state.done) == {("thumbnail", 1)}
    assert (out / image_path(1, "thumbnail")).read_bytes() == b"small"
    assert [p for p in out.rglob("*") if ".tmp-" in p.name] == []


async def test_folder_on_another_filesystem_is_still_committed(
    tmp_path: Path, small_fs: Path
) -> None:
    """DIR/images symlinked to another filesystem: files committed (fsynced, not only syncfs)."""
    out = tmp_path / "out"
    out.mkdir()
    (small_fs / "images").mkdir()
    (out / "images").symlink_to(small_fs / "images")
    run = new_run_id()
    async with Store.open(out, run_id=run, writer=make_writer(run), sync="syncfs") as store:
        for i in range(5):
            await store.put_bytes("thumbnail", i, image_path(i, "thumbnail"), b"t%d" % i)
    assert JournalState.load(out).is_done("thumbnail", 4)
    assert (small_fs / "images" / "000" / "000" / "4.thumbnail.jpg").read_bytes() == b"t4"


def _fill_up(folder: Path) -> None:
    """Take every free byte of ``folder``'s filesystem with one file."""
    with open(folder / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass


def test_a_run_refused_by_a_full_disk_leaves_no_empty_journal_or_pending_file(
    small_fs: Path,
) -> None:
    """A run (and an index write) that a full disk stops as it opens: StorageError, and
    journals/ holds only what the earlier run left, no empty journal or pending file."""
    out = small_fs / "out"
    anyio.run(fill, out, 2)
    before = sorted(p.name for p in (out / "journals").iterdir())
    _fill_up(small_fs)
    for _ in range(2):
        with pytest.raises(StorageError, match="disk full"):
            anyio.run(fill, out, 3)
    with pytest.raises(OSError):
        atomic_write_bytes(out, out / "index.csv", b"image_id\n")
    assert sorted(p.name for p in (out / "journals").iterdir()) == before
    assert check_done(out) == 2
